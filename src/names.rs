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
    ("introspection.url", "PERMISO_INTROSPECTION_URL"),
    ("introspection.style", "PERMISO_INTROSPECTION_STYLE"),
    ("introspection.auth", "PERMISO_INTROSPECTION_AUTH"),
    ("introspection.client_id", "PERMISO_INTROSPECTION_CLIENT_ID"),
    ("introspection.client_secret", "PERMISO_INTROSPECTION_CLIENT_SECRET"),
    ("introspection.client_secret_file", "PERMISO_INTROSPECTION_CLIENT_SECRET_FILE"),
    ("introspection.token_url", "PERMISO_INTROSPECTION_TOKEN_URL"),
    ("introspection.cache_max_secs", "PERMISO_INTROSPECTION_CACHE_MAX_SECS"),
    ("introspection.negative_cache_secs", "PERMISO_INTROSPECTION_NEGATIVE_CACHE_SECS"),
    ("introspection.grace_secs", "PERMISO_INTROSPECTION_GRACE_SECS"),
    ("introspection.timeout_ms", "PERMISO_INTROSPECTION_TIMEOUT_MS"),
    ("introspection.cache_max_entries", "PERMISO_INTROSPECTION_CACHE_MAX_ENTRIES"),
    ("introspection.cache_max_bytes", "PERMISO_INTROSPECTION_CACHE_MAX_BYTES"),
    ("introspection.max_concurrent_calls", "PERMISO_INTROSPECTION_MAX_CONCURRENT_CALLS"),
];

/// The environment variable of the setting at TOML path `path`, if a builder checks it.
pub(crate) fn env_name(path: &str) -> Option<&'static str> {
    ENV_NAMES.iter().find(|(p, _)| *p == path).map(|(_, v)| *v)
}
