//! The TOML and environment configuration parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 12] = [
    "PERMISO_ISSUER",
    "PERMISO_AUDIENCE",
    "PERMISO_HS256_SECRET",
    "PERMISO_JWKS_URL",
    "PERMISO_DISCOVERY_URL",
    "PERMISO_ALGORITHMS",
    "PERMISO_LEEWAY_SECS",
    "PERMISO_TRUSTED_CLIENTS",
    "PERMISO_SERVICE_TOKEN",
    "PERMISO_REQUIRE_AT_JWT",
    "PERMISO_ALLOW_HTTP",
    "PERMISO_SCOPE_RULES",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = permiso::Verifier::from_toml_str(text) {
        assert!(!e.to_string().is_empty());
    }
    // Lines as values for the variables, in order.
    let vars = NAMES.iter().zip(text.lines()).map(|(k, v)| (*k, v));
    let _ = permiso::Verifier::from_env_vars(vars);
});
