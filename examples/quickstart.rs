//! The main demo: a permiso verifier judging the tokens a service meets.
//!
//! Run: `cargo run --example quickstart`
//!
//! It signs permiso-shaped service tokens with a throwaway secret (the `testing` kit), verifies
//! each with the same `Verifier` a service would build, prints what was decided, and exits
//! non-zero if any outcome differs from the expected one.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use permiso::testing::SigningKey;
use permiso::{Algorithm, Issuer, Verifier};
use serde_json::{Value, json};

const ISS: &str = "keystone-auth";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let signer = SigningKey::generate(Algorithm::HS256);
    let secret = signer.secret().expect("an HMAC key has a secret");
    let verifier = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, secret))
        .build()
        .expect("valid configuration");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = json!({
            "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": now + 3600,
            "iat": now, "nbf": now, "jti": "5f0c", "type": "service",
            "client_id": "payment-service", "scopes": ["read:transactions"], "is_trusted": false,
        });
        f(c.as_object_mut().unwrap());
        c
    };
    let stranger = SigningKey::generate(Algorithm::HS256);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "valid service token",
            signer.sign(&claims(&|_| {})),
            "accepted",
        ),
        (
            "expired",
            signer.sign(&claims(&|c| {
                c.insert("exp".into(), json!(now - 3600));
            })),
            "401 invalid_token",
        ),
        (
            "signed with another secret",
            stranger.sign(&claims(&|_| {})),
            "401 invalid_token",
        ),
        (
            "for another audience",
            signer.sign(&claims(&|c| {
                c.insert("aud".into(), json!(["billing"]));
            })),
            "401 invalid_token",
        ),
        ("not a JWT", "hello".to_owned(), "401 invalid_token"),
    ];

    let mut failures = 0;
    println!("{:<28} {:<20} reason", "token", "outcome");
    for (name, token, expected) in cases {
        let (outcome, reason) = match verifier.verify(&token).await {
            Ok(c) => (
                "accepted".to_owned(),
                format!("client {}", c.client_id().unwrap_or("?")),
            ),
            Err(e) => (
                format!(
                    "{} {}",
                    e.status().as_u16(),
                    e.kind().error_code().unwrap_or("-")
                ),
                e.description().to_owned(),
            ),
        };
        let mark = if outcome == expected {
            ""
        } else {
            "  <-- unexpected"
        };
        failures += usize::from(outcome != expected);
        println!("{name:<28} {outcome:<20} {reason}{mark}");
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
