//! What the targets share: a verifier with keys of every kind, and `now` to run its futures
//! (static keys never wait). Each target uses part of it.
#![allow(dead_code)]

use std::sync::OnceLock;

use permiso::testing::SigningKey;
use permiso::{Algorithm, Issuer, Key, KeySet, ManualClock, ServiceTokenRule, Verifier};

pub const SECRET: &[u8] = b"fuzz-shared-secret-0123456789abcdef";

pub use permiso::testing::immediately as now;

/// Signing keys of every algorithm family, made once per process.
pub fn signers() -> &'static [SigningKey] {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [Algorithm::RS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]
            .into_iter()
            .map(|a| SigningKey::generate(a).with_kid(a.as_str()))
            .collect()
    })
}

/// Two issuers: permiso (HS256) and one with public keys of every type.
pub fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let keys: KeySet = signers()
            .iter()
            .map(|s| Key::from_jwk(&s.public_jwk().unwrap().to_string()).unwrap())
            .collect();
        Verifier::builder(["keystone-auth"])
            .issuer(Issuer::permiso("keystone-auth", SECRET))
            .issuer(
                Issuer::keys("https://idp.example", keys)
                    .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA])
                    .service_tokens(ServiceTokenRule::claims_match("sub", "client_id")),
            )
            .clock(ManualClock::at_unix(1_700_000_000))
            .no_token_cache()
            .build()
            .unwrap()
    })
}
