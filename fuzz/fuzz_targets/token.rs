//! Token parsing and verification: raw bytes as a token, and fuzzed header/payload JSON signed
//! for real (so claim parsing is reached past the signature) with random keys.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use permiso::Algorithm;
use permiso::testing::SigningKey;

fuzz_target!(|data: &[u8]| {
    let v = common::verifier();
    // 1. The bytes as a token.
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = common::now(v.verify(token));
    }
    // 2. The bytes as header and payload JSON, signed with the HMAC secret or one of the keys.
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let (header, payload) = text.split_once('\u{0}').unwrap_or(("{\"alg\":\"HS256\"}", &text));
    let token = match selector % 5 {
        0 => SigningKey::hmac(Algorithm::HS256, common::SECRET).sign_raw(header, payload),
        n => common::signers()[usize::from(n - 1)].sign_raw(header, payload),
    };
    if let Ok(claims) = common::now(v.verify(&token)) {
        // Whatever was accepted is internally consistent.
        assert!(claims.audience().iter().any(|a| a == "keystone-auth"));
        let _ = claims.scopes().satisfies("read:transactions");
        let _ = format!("{claims:?}");
    }
});
