//! The calling side at fleet scale, against a real `redis-server` and a real token endpoint:
//! one token shared by all replicas in the format of permiso's Python `TokenCache`.

#![cfg(all(feature = "client", feature = "redis"))]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use permiso::Verifier;
use permiso::client::{RedisTokenStore, RemoteService, ServiceCredentials, TokenEndpoint, TokenSource};
use permiso::testing::TestIssuer;
use redis_server::RedisServer;
use serde_json::Value;

const SECRET: &str = "payment-secret";
const KEY: &str = "service_token:payment-service";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("payment-service", SECRET, &["read:transactions", "write:transactions"])
        .start()
        .await
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// One replica's source: the client's default scopes (no `{NAME}_SCOPES`).
fn replica(idp: &TestIssuer, redis: &RedisServer) -> TokenSource {
    let creds = ServiceCredentials::new(
        "payment-service",
        SECRET,
        TokenEndpoint::Permiso(format!("{}/api/v1", idp.url())),
    );
    TokenSource::builder(creds).shared_store(RedisTokenStore::new(&redis.url()).unwrap()).build().unwrap()
}

async fn serve(verifier: Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    base
}

fn stored(redis: &RedisServer, key: &str) -> Option<Value> {
    let raw = redis.cli(&["GET", key]).unwrap();
    serde_json::from_str(raw.trim()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_replicas_waking_together_fetch_once() {
    let redis = RedisServer::start();
    let idp = issuer().await;
    let replicas: Vec<TokenSource> = (0..20).map(|_| replica(&idp, &redis)).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for source in &replicas {
        let source = source.clone();
        tasks.spawn(async move { source.token().await.unwrap() });
    }
    let mut tokens = Vec::new();
    while let Some(t) = tasks.join_next().await {
        tokens.push(t.unwrap().secret().to_owned());
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "every replica has the one token");
    assert_eq!(idp.token_requests(), 1);
    assert_eq!(replicas.iter().map(TokenSource::fetches).sum::<u64>(), 1);
}

#[tokio::test]
async fn a_token_cached_by_permisos_python_token_cache_is_used_as_it_is() {
    let redis = RedisServer::start();
    let idp = issuer().await;
    let token = idp.token("payment-service", &["read:transactions"]);
    // What Python's json.dumps writes, with SETEX for expires_in - 60 seconds.
    let value = format!(r#"{{"access_token": "{token}", "expires_at": {}}}"#, now() + 3540);
    assert_eq!(redis.cli(&["SETEX", KEY, "3540", &value]).unwrap().trim(), "OK");

    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let base = serve(verifier).await;
    let source = replica(&idp, &redis);
    let vars = [("PAYMENT_SERVICE_URL", base.as_str())];
    let payments = RemoteService::from_env_vars("payment", source.clone(), vars).unwrap();
    let res = payments.get("/api/v1/transactions").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(source.token().await.unwrap().secret(), token);
    assert_eq!(idp.token_requests(), 0, "no token request: the shared token was used");
}

/// Review round 3, finding 10: permiso's Python `TokenCache.set_token` writes
/// `"expires_at": time.time() + expires_in - 60`, a float; that value is used, not ignored.
#[tokio::test]
async fn a_token_cached_by_python_with_a_float_expires_at_is_used() {
    let redis = RedisServer::start();
    let idp = issuer().await;
    let token = idp.token("payment-service", &["read:transactions"]);
    // Written by Python itself when it is there (json.dumps of time.time() arithmetic), else
    // the same shape by hand.
    let script = "import json, sys, time; \
                  print(json.dumps({'access_token': sys.argv[1], 'expires_at': time.time() + 3600 - 60}))";
    let value = std::process::Command::new("python3")
        .args(["-c", script, &token])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned())
        .unwrap_or_else(|| format!(r#"{{"access_token": "{token}", "expires_at": {}.51}}"#, now() + 3540));
    assert!(
        value.contains("\"expires_at\": ") && value.contains('.'),
        "a float, as Python writes it: {value}"
    );
    assert_eq!(redis.cli(&["SETEX", KEY, "3540", &value]).unwrap().trim(), "OK");

    let source = replica(&idp, &redis);
    assert_eq!(source.token().await.unwrap().secret(), token);
    assert_eq!(idp.token_requests(), 0, "no token request: the token Python shared was used");
}

#[tokio::test]
async fn a_token_written_by_rust_is_in_the_python_clients_format() {
    let redis = RedisServer::start();
    let idp = issuer().await;
    let token = replica(&idp, &redis).token().await.unwrap();
    let value = stored(&redis, KEY).expect("a JSON value at the Python client's key");
    let fields: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["access_token", "expires_at"]);
    assert_eq!(value["access_token"], token.secret());
    let expires_at = value["expires_at"].as_u64().expect("unix seconds as an integer");
    let want = now() + 3600 - 60;
    assert!(expires_at.abs_diff(want) <= 5, "{expires_at} vs {want}");
    let ttl: u64 = redis.cli(&["TTL", KEY]).unwrap().trim().parse().unwrap();
    assert!(ttl.abs_diff(3540) <= 5, "TTL {ttl}");

    // A source asking for particular scopes never touches the Python client's key.
    redis.cli(&["DEL", KEY]).unwrap();
    let creds = ServiceCredentials::new(
        "payment-service",
        SECRET,
        TokenEndpoint::Permiso(format!("{}/api/v1", idp.url())),
    )
    .with_scopes(["read:transactions"]);
    let scoped = TokenSource::builder(creds)
        .shared_store(RedisTokenStore::new(&redis.url()).unwrap())
        .build()
        .unwrap();
    scoped.token().await.unwrap();
    assert!(stored(&redis, KEY).is_none());
    let keys = redis.cli(&["KEYS", "service_token_scoped:payment-service:*"]).unwrap();
    assert_eq!(keys.lines().count(), 1, "{keys}");
}

#[tokio::test]
async fn a_garbage_or_expired_value_is_ignored() {
    let redis = RedisServer::start();
    let idp = issuer().await;
    for garbage in [
        "not json",
        r#"{"access_token": "x"}"#,
        r#"{"access_token": "", "expires_at": 99999999999}"#,
        r#"{"access_token": "old", "expires_at": 1000}"#,
    ] {
        redis.cli(&["SET", KEY, garbage]).unwrap();
        let before = idp.token_requests();
        let token = replica(&idp, &redis).token().await.unwrap();
        assert_eq!(idp.token_requests(), before + 1, "{garbage}");
        assert_ne!(token.secret(), "old");
        // And the value is replaced with a good one.
        assert_eq!(stored(&redis, KEY).unwrap()["access_token"], token.secret());
    }
}

#[tokio::test]
async fn redis_killed_mid_run_costs_no_call() {
    let mut redis = RedisServer::start();
    let idp = issuer().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let base = serve(verifier).await;
    let vars = [("PAYMENT_SERVICE_URL", base.as_str())];
    let first = RemoteService::from_env_vars("payment", replica(&idp, &redis), vars).unwrap();
    assert_eq!(first.get("/api/v1/transactions").send().await.unwrap().status(), 200);

    redis.kill();
    // The running replica keeps its token; a replica starting now fetches its own.
    let started = Instant::now();
    assert_eq!(first.get("/api/v1/transactions").send().await.unwrap().status(), 200);
    let second = RemoteService::from_env_vars("payment", replica(&idp, &redis), vars).unwrap();
    for _ in 0..3 {
        assert_eq!(second.get("/api/v1/transactions").send().await.unwrap().status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(idp.token_requests(), 2);

    // Back: the next fetch is shared again.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stored(&redis, KEY).is_none() && Instant::now() < deadline {
        replica(&idp, &redis).token().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored(&redis, KEY).is_some());
}

#[tokio::test]
async fn a_401_for_the_shared_token_evicts_it_from_redis() {
    let redis = RedisServer::start();
    let idp = issuer().await;
    // The target refuses revoked tokens (the testing kit's in-memory list).
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let base = serve(verifier).await;
    let vars = [("PAYMENT_SERVICE_URL", base.as_str())];
    let a = RemoteService::from_env_vars("payment", replica(&idp, &redis), vars).unwrap();
    assert_eq!(a.get("/api/v1/transactions").send().await.unwrap().status(), 200);
    let shared = stored(&redis, KEY).unwrap()["access_token"].as_str().unwrap().to_owned();

    idp.revoke(&shared);
    // Another replica picks the shared token up, is refused, evicts it, refetches, retries.
    let b_source = replica(&idp, &redis);
    let b = RemoteService::from_env_vars("payment", b_source.clone(), vars).unwrap();
    assert_eq!(b.get("/api/v1/transactions").send().await.unwrap().status(), 200);
    assert_eq!(b_source.fetches(), 1);
    let deadline = Instant::now() + Duration::from_secs(2);
    while stored(&redis, KEY).is_some_and(|v| v["access_token"] == shared.as_str())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let now_stored = stored(&redis, KEY).map(|v| v["access_token"].as_str().unwrap_or_default().to_owned());
    assert_ne!(now_stored.as_deref(), Some(shared.as_str()), "the revoked token is no longer shared");
}

#[test]
fn the_environment_alone_turns_the_shared_store_on() {
    let base = [
        ("AUTH_SERVICE_URL", "http://127.0.0.1:8000/api/v1"),
        ("PAYMENT_CLIENT_ID", "payment-service"),
        ("PAYMENT_CLIENT_SECRET", "s3cr3t"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut vars = base.to_vec();
        vars.extend_from_slice(extra);
        TokenSource::from_env_vars("payment", vars)
    };
    with(&[]).unwrap();
    with(&[
        ("PERMISO_TOKEN_CACHE_REDIS_URL", "redis://127.0.0.1:6379"),
        ("PERMISO_TOKEN_CACHE_TIMEOUT_MS", "150"),
    ])
    .unwrap();
    for (extra, name) in [
        (vec![("PERMISO_TOKEN_CACHE_REDIS_URL", "http://:pa55@127.0.0.1")], "PERMISO_TOKEN_CACHE_REDIS_URL"),
        (
            vec![
                ("PERMISO_TOKEN_CACHE_REDIS_URL", "redis://127.0.0.1"),
                ("PERMISO_TOKEN_CACHE_TIMEOUT_MS", "0"),
            ],
            "PERMISO_TOKEN_CACHE_TIMEOUT_MS",
        ),
        (vec![("PERMISO_TOKEN_CACHE_TIMEOUT_MS", "100")], "PERMISO_TOKEN_CACHE_REDIS_URL"),
    ] {
        let err = with(&extra).unwrap_err().to_string();
        assert!(err.contains(name) && !err.contains("pa55") && !err.contains("s3cr3t"), "{err}");
    }
    let missing = RemoteService::from_env_vars("user", with(&[]).unwrap(), base).unwrap_err();
    assert!(missing.to_string().contains("USER_SERVICE_URL"), "{missing}");
    let remote = RemoteService::from_env_vars(
        "user",
        with(&[]).unwrap(),
        [("USER_SERVICE_URL", "http://user.example.com")],
    );
    assert!(remote.unwrap_err().to_string().contains("USER_SERVICE_URL"));
}
