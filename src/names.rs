//! How a setting is named to the operator: by its environment variable or its TOML key.
//! A builder tags the errors it finds with the setting's TOML path (`dpop.algorithms`); the
//! reader that fed it names the setting as the operator wrote it.

/// The environment variable of each setting a builder checks (its TOML path first): how an
/// error found in a builder names what the operator set. Every other variable is checked by
/// its reader, which names it.
const ENV_NAMES: &[(&str, &str)] = &[
    ("token_locations", "PERMISO_TOKEN_LOCATIONS"),
    ("public_base_url", "PERMISO_PUBLIC_BASE_URL"),
    ("dpop.algorithms", "PERMISO_DPOP_ALGORITHMS"),
    ("dpop.max_age_secs", "PERMISO_DPOP_MAX_AGE_SECS"),
    ("dpop.public_base_url", "PERMISO_PUBLIC_BASE_URL"),
    ("dpop.replay_redis_url", "PERMISO_DPOP_REPLAY_REDIS_URL"),
    ("dpop.nonce_secret", "PERMISO_DPOP_NONCE_SECRET"),
    ("dpop.nonce_window_secs", "PERMISO_DPOP_NONCE_WINDOW_SECS"),
    ("signing.public_base_url", "PERMISO_PUBLIC_BASE_URL"),
    ("signing.secrets", "PERMISO_SIGNING_SECRETS"),
    ("signing.window_secs", "PERMISO_SIGNING_WINDOW_SECS"),
    ("signing.max_body_bytes", "PERMISO_SIGNING_MAX_BODY_BYTES"),
    ("signing.replay_redis_url", "PERMISO_SIGNING_REPLAY_REDIS_URL"),
    ("rate_limits.clients", "PERMISO_RATE_LIMITS"),
    ("rate_limits.default", "PERMISO_RATE_LIMIT_DEFAULT"),
    ("rate_limits.burst", "PERMISO_RATE_LIMIT_BURST"),
    ("rate_limits.redis_url", "PERMISO_RATE_LIMIT_REDIS_URL"),
    ("rate_limits.redis_timeout_ms", "PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS"),
];

/// The environment variable of the setting at TOML path `path`: the table above, else the
/// rule `PERMISO_<TABLE>_<KEY>` (`[introspection]`, `[client_cert]` and every table added
/// since follow it without exception); `None` for a top-level key not in the table.
pub(crate) fn env_name(path: &str) -> Option<std::borrow::Cow<'static, str>> {
    if let Some((_, var)) = ENV_NAMES.iter().find(|(p, _)| *p == path) {
        return Some((*var).into());
    }
    let (table, key) = path.split_once('.')?;
    Some(format!("PERMISO_{}_{}", table.to_ascii_uppercase(), key.to_ascii_uppercase()).into())
}
