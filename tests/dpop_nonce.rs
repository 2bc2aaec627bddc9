//! Server-issued DPoP nonces (RFC 9449 §9) over HTTP: two instances of the `payment_service`
//! routes sharing one nonce secret (and one clock, moved by the test), called with real
//! DPoP proofs; the answers' `DPoP-Nonce` headers and `use_dpop_nonce` challenges.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::time::Duration;

use permiso::dpop::{Dpop, DpopKey, DpopMode};
use permiso::testing::TestIssuer;
use permiso::{ManualClock, Verifier};

const SECRET: &str = "a-nonce-secret-every-replica-shares!!";

async fn instance(idp: &TestIssuer, clock: &ManualClock) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dpop = Dpop::new(DpopMode::Required)
        .public_base_url(base.clone())
        .require_nonces(SECRET)
        .nonce_window(Duration::from_secs(10));
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .clock(clock.clone())
        .dpop(dpop)
        .build()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    base
}

async fn call(base: &str, key: &DpopKey, token: &str, nonce: Option<&str>) -> reqwest::Response {
    let url = format!("{base}/api/v1/transactions");
    reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("GET", &url, Some(token), nonce))
        .send()
        .await
        .unwrap()
}

fn nonce_of(res: &reqwest::Response) -> Option<String> {
    res.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn nonces_rotate_and_every_instance_with_the_secret_accepts_them() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::now();
    let (a, b) = (instance(&idp, &clock).await, instance(&idp, &clock).await);
    let key = DpopKey::generate().unwrap();
    let token = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());

    // No nonce: 401 use_dpop_nonce, with one to retry with.
    let res = call(&a, &key, &token, None).await;
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.starts_with("DPoP ") && www.contains("error=\"use_dpop_nonce\""), "{www}");
    let first = nonce_of(&res).expect("a DPoP-Nonce to retry with");

    // The other instance accepts it: no shared state but the secret.
    let res = call(&b, &key, &token, Some(&first)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(nonce_of(&res), None, "the nonce is current: nothing new to say");

    // The window turns: the previous nonce still passes, and the answer brings the new one.
    clock.advance(Duration::from_secs(10));
    let res = call(&a, &key, &token, Some(&first)).await;
    assert_eq!(res.status(), 200);
    let second = nonce_of(&res).expect("a fresh DPoP-Nonce once the window turned");
    assert_ne!(second, first);
    assert_eq!(call(&b, &key, &token, Some(&second)).await.status(), 200);

    // Two windows on, the first is stale: 401 use_dpop_nonce with the current one.
    clock.advance(Duration::from_secs(10));
    let res = call(&b, &key, &token, Some(&first)).await;
    assert_eq!(res.status(), 401);
    let third = nonce_of(&res).unwrap();
    assert!(third != first && third != second);
    assert_eq!(call(&a, &key, &token, Some(&third)).await.status(), 200);

    // A nonce made up by the caller is not one of the servers'.
    let res = call(&a, &key, &token, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("use_dpop_nonce"));
}

#[test]
fn nonces_are_configured_by_the_settings_tree() {
    let base = [
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", "a-shared-secret-of-at-least-32-bytes!!"),
        ("PERMISO_DPOP", "required"),
        ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
        ("PERMISO_DPOP_NONCE", "required"),
    ];
    let err = Verifier::from_env_vars(base).unwrap_err().to_string();
    assert!(err.contains("PERMISO_DPOP_NONCE_SECRET"), "{err}");
    let mut vars = base.to_vec();
    vars.push(("PERMISO_DPOP_NONCE_SECRET", "short"));
    let err = Verifier::from_env_vars(vars.clone()).unwrap_err().to_string();
    assert!(err.contains("PERMISO_DPOP_NONCE_SECRET") && !err.contains("short"), "{err}");
    vars.pop();
    vars.push(("PERMISO_DPOP_NONCE_SECRET", SECRET));
    let verifier = Verifier::from_env_vars(vars).unwrap();
    assert!(format!("{verifier:?}").contains("window_secs: 60"), "{verifier:?}");
}
