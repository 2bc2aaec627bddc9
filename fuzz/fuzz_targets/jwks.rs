//! JWKS and JWK parsing: arbitrary documents, and fuzzed mutations of real keys.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use permiso::{Key, KeySet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(set) = KeySet::from_jwks(text) {
        assert!(!set.is_empty());
        let _ = format!("{set:?}");
    }
    let _ = Key::from_jwk(text);
    let _ = Key::from_pem(text);
    // A real key with one member replaced by the fuzz input.
    let signer = &common::signers()[data.len() % common::signers().len()];
    let mut jwk = signer.public_jwk().unwrap();
    let member = ["n", "e", "x", "y", "crv", "kty", "alg", "use", "key_ops", "kid"][data.len() % 10];
    jwk[member] = serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_owned()));
    let _ = Key::from_jwk(&jwk.to_string());
});
