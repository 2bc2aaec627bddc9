//! The `payment_service` example binary, configured only by environment variables, accepts a
//! service token minted by a standard JWT library (jsonwebtoken) in permiso's exact shape.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

const SECRET: &str = "permiso-shared-secret-for-the-binary-test";

/// permiso's claims, in the order its server writes them.
#[derive(Serialize)]
struct PermisoClaims<'a> {
    iss: &'a str,
    aud: [&'a str; 1],
    sub: &'a str,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: &'a str,
    #[serde(rename = "type")]
    token_type: &'a str,
    client_id: &'a str,
    scopes: &'a [&'a str],
    is_trusted: bool,
}

fn mint(secret: &str, scopes: &[&str], trusted: bool) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let claims = PermisoClaims {
        iss: "keystone-auth",
        aud: ["keystone-auth"],
        sub: "payment-service",
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: "4f1c7a52-58c4-4d2b-9a0e-6c1b2a3d4e5f",
        token_type: "service",
        client_id: "payment-service",
        scopes,
        is_trusted: trusted,
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn example_binary() -> PathBuf {
    // target/debug/deps/<this test> -> target/debug/examples/payment_service
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("examples").join(format!("payment_service{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds the examples; with a filtered run, build it first \
         with `cargo build --example payment_service`",
        bin.display()
    );
    bin
}

async fn start(env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(example_binary());
    cmd.env_clear().envs(env.iter().copied()).env("PERMISO_BIND", "127.0.0.1:0");
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the service starts")
        .unwrap()
        .unwrap_or_default();
    let url = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected output {line:?}"));
    (child, url.to_owned())
}

#[tokio::test]
async fn the_binary_accepts_a_standard_hs256_service_token() {
    let (_child, base) = start(&[
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", SECRET),
    ])
    .await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: String| {
        http.request(method, format!("{base}{path}")).bearer_auth(token).send()
    };

    let rw = ["write:transactions", "read:transactions"];
    let res = call(reqwest::Method::GET, "/api/v1/transactions", mint(SECRET, &rw, true)).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["caller"], "payment-service");
    let res = call(reqwest::Method::POST, "/api/v1/transactions", mint(SECRET, &rw, false)).await.unwrap();
    assert_eq!(res.status(), 200);
    let res = call(reqwest::Method::GET, "/api/v1/admin/billing", mint(SECRET, &rw, true)).await.unwrap();
    assert_eq!(res.status(), 200);

    let res = call(reqwest::Method::GET, "/api/v1/admin/billing", mint(SECRET, &rw, false)).await.unwrap();
    assert_eq!(res.status(), 403);
    let res =
        call(reqwest::Method::GET, "/api/v1/transactions", mint("another-secret", &rw, true)).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_bad_environment_is_a_start_up_error_naming_the_variable() {
    let mut cmd = Command::new(example_binary());
    cmd.env_clear().env("PERMISO_ISSUER", "keystone-auth").env("PERMISO_HS256_SECRET", SECRET);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PERMISO_AUDIENCE"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn the_binary_checks_revocation_in_redis_from_the_environment_alone() {
    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let (_child, base) = start(&[
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", SECRET),
        ("PERMISO_REVOCATION_REDIS_URL", &url),
        ("PERMISO_REVOCATION_MAX_STALENESS_MS", "0"),
        ("PERMISO_REVOCATION_TIMEOUT_MS", "200"),
        ("PERMISO_REVOCATION_ON_ERROR", "reject"),
    ])
    .await;
    let http = reqwest::Client::new();
    let token = mint(SECRET, &["read:transactions"], false);
    let get = || http.get(format!("{base}/api/v1/transactions")).bearer_auth(&token).send();
    assert_eq!(get().await.unwrap().status(), 200);
    // The permiso server's own write: revoked_token:<jti> = "1" with a TTL.
    redis.revoke("4f1c7a52-58c4-4d2b-9a0e-6c1b2a3d4e5f");
    let res = get().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("revoked"));
}
