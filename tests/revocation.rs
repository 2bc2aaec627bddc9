//! Revocation over real HTTP: the payment routes served on loopback, tokens revoked the way
//! the permiso server revokes them (`SET revoked_token:<jti> 1 EX …` in a real
//! `redis-server`), and the in-memory list of the `testing` kit.

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

#[cfg(feature = "redis")]
use std::time::{Duration, Instant};

use base64::Engine as _;
use permiso::testing::TestIssuer;
use permiso::{AuthErrorKind, Verifier};
use serde_json::Value;

async fn serve(verifier: Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    base
}

struct Answer {
    status: u16,
    www: String,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    retry_after: Option<String>,
    body: Value,
}

async fn get(base: &str, token: &str) -> Answer {
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/transactions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (www, retry_after) = (header("www-authenticate").unwrap_or_default(), header("retry-after"));
    Answer { status: res.status().as_u16(), www, retry_after, body: res.json().await.unwrap_or(Value::Null) }
}

fn assert_revoked(a: &Answer) {
    assert_eq!(a.status, 401, "{:?}", a.body);
    assert!(a.www.contains(r#"error="invalid_token""#), "{}", a.www);
    assert!(a.www.contains("revoked"), "{}", a.www);
    assert_eq!(a.body["error"], "invalid_token");
    assert_eq!(a.body["error_description"], "the token has been revoked");
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

#[cfg(feature = "redis")]
fn jti_of(token: &str) -> String {
    claims_of(token)["jti"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_testing_kit_revokes_without_redis() {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let base = serve(verifier.clone()).await;
    let (token, other) =
        (idp.token("payment-service", &["read:transactions"]), idp.token("svc", &["read:transactions"]));
    assert_eq!(get(&base, &token).await.status, 200);
    assert_eq!(get(&base, &token).await.status, 200);
    idp.revoke(&token);
    // At once, although the token itself is answered from the verified-token cache.
    assert_revoked(&get(&base, &token).await);
    assert_eq!(get(&base, &other).await.status, 200);
    assert!(verifier.cache_stats().unwrap().hits >= 2);
    let stats = verifier.revocation_stats().unwrap();
    assert_eq!((stats.checks, stats.revoked), (4, 1), "{stats:?}");
}

#[tokio::test]
async fn a_token_without_jti_is_refused_while_revocation_is_on() {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let base = serve(verifier).await;
    let mut claims = idp.claims_for("payment-service", &["read:transactions"]);
    claims.as_object_mut().unwrap().remove("jti");
    let a = get(&base, &idp.sign(&claims)).await;
    assert_eq!(a.status, 401);
    assert!(a.www.contains(r#"error="invalid_token""#), "{}", a.www);
    assert_eq!(a.body["error"], "invalid_token");
    assert_eq!(a.body["error_description"], "the token has no jti, so it cannot be checked for revocation");
}

#[cfg(feature = "redis")]
mod redis {
    use std::sync::Arc;

    use permiso::{OnRevocationError, RedisRevocations};

    use super::redis_server::{RedisCluster, RedisServer};
    use super::*;

    fn verifier(idp: &TestIssuer, url: &str, staleness: Duration, on_error: OnRevocationError) -> Verifier {
        let revocation =
            RedisRevocations::new(url).unwrap().revocation().max_staleness(staleness).on_error(on_error);
        Verifier::builder(["keystone-auth"])
            .issuer(idp.issuer_config())
            .revocation(revocation)
            .build()
            .unwrap()
    }

    /// Polls until `done` (up to `within`); returns how long it took.
    async fn until(within: Duration, mut done: impl AsyncFnMut() -> bool) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            if done().await {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    #[tokio::test]
    async fn a_token_revoked_as_permiso_does_is_refused_within_the_staleness_bound() {
        let redis = RedisServer::start();
        let idp = TestIssuer::start().await;
        let staleness = Duration::from_millis(300);
        let v = verifier(&idp, &redis.url(), staleness, OnRevocationError::Reject);
        let base = serve(v.clone()).await;
        let token = idp.token("payment-service", &["read:transactions"]);
        let other = idp.token("billing-service", &["read:transactions"]);
        for _ in 0..3 {
            assert_eq!(get(&base, &token).await.status, 200);
        }
        redis.revoke(&jti_of(&token));
        let took = until(Duration::from_secs(3), async || get(&base, &token).await.status == 401).await;
        let took = took.expect("the revoked token is refused");
        assert!(took <= staleness + Duration::from_millis(200), "refused after {took:?}");
        assert_revoked(&get(&base, &token).await);
        // On the verified-token cache's path, and for as long as the token lives.
        assert!(v.cache_stats().unwrap().hits >= 3);
        assert_eq!(get(&base, &other).await.status, 200);
        let stats = v.revocation_stats().unwrap();
        assert!(
            stats.local > 0 && stats.lookups >= 2 && stats.revoked >= 2 && stats.errors == 0,
            "{stats:?}"
        );

        // With zero staleness, the very next request is refused.
        let v = verifier(&idp, &redis.url(), Duration::ZERO, OnRevocationError::Reject);
        let base = serve(v).await;
        let token = idp.token("payment-service", &["read:transactions"]);
        assert_eq!(get(&base, &token).await.status, 200);
        redis.revoke(&jti_of(&token));
        assert_revoked(&get(&base, &token).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_of_one_jti_share_one_redis_request() {
        let redis = RedisServer::start();
        let idp = TestIssuer::start().await;
        let v = verifier(&idp, &redis.url(), Duration::from_secs(5), OnRevocationError::Reject);
        let token = Arc::new(idp.token("payment-service", &["read:transactions"]));
        v.warm_up().await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let (v, token) = (v.clone(), Arc::clone(&token));
            tasks.spawn(async move { v.verify(&token).await.map(|_| ()) });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
        let stats = v.revocation_stats().unwrap();
        assert_eq!((stats.checks, stats.lookups), (100, 1), "{stats:?}");
    }

    #[tokio::test]
    async fn redis_down_follows_on_error_and_recovery_needs_no_restart() {
        let mut redis = RedisServer::start();
        let idp = TestIssuer::start().await;
        let reject = verifier(&idp, &redis.url(), Duration::ZERO, OnRevocationError::Reject);
        let allow = verifier(&idp, &redis.url(), Duration::ZERO, OnRevocationError::Allow);
        let (reject_base, allow_base) = (serve(reject.clone()).await, serve(allow.clone()).await);
        let token = idp.token("payment-service", &["read:transactions"]);
        assert_eq!(get(&reject_base, &token).await.status, 200);
        assert_eq!(get(&allow_base, &token).await.status, 200);

        redis.kill();
        for _ in 0..5 {
            let started = Instant::now();
            let a = get(&reject_base, &token).await;
            assert!(started.elapsed() < Duration::from_millis(800), "{:?}", started.elapsed());
            assert_eq!(a.status, 503, "{:?}", a.body);
            assert_eq!(a.retry_after.as_deref(), Some("1"));
            assert!(a.www.contains(r#"error="temporarily_unavailable""#), "{}", a.www);
            assert_eq!(a.body["error"], "temporarily_unavailable");
            assert!(!a.body.to_string().contains("127.0.0.1"), "{}", a.body);
            assert_eq!(get(&allow_base, &token).await.status, 200);
        }
        assert!(reject.revocation_stats().unwrap().errors >= 5);
        assert!(allow.revocation_stats().unwrap().allowed_on_error >= 5);

        redis.restart();
        let back =
            until(Duration::from_secs(5), async || get(&reject_base, &token).await.status == 200).await;
        assert!(back.is_some(), "accepted again once Redis is back");
        // And revocations work again.
        redis.revoke(&jti_of(&token));
        assert_revoked(&get(&reject_base, &token).await);
    }

    #[tokio::test]
    async fn a_stalled_redis_never_holds_a_request_past_the_timeout() {
        let redis = RedisServer::start();
        let idp = TestIssuer::start().await;
        let revocation = RedisRevocations::new(&redis.url())
            .unwrap()
            .revocation()
            .max_staleness(Duration::ZERO)
            .timeout(Duration::from_millis(100));
        let v = Verifier::builder(["keystone-auth"])
            .issuer(idp.issuer_config())
            .revocation(revocation)
            .build()
            .unwrap();
        let base = serve(v).await;
        let token = idp.token("payment-service", &["read:transactions"]);
        assert_eq!(get(&base, &token).await.status, 200);
        let port = redis.port;
        let sleeper = std::thread::spawn(move || {
            std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "DEBUG", "SLEEP", "2"])
                .output()
        });
        // Once Redis is stalled, every answer comes within the timeout: 503, never a hang.
        let stalled = until(Duration::from_secs(1), async || get(&base, &token).await.status == 503).await;
        assert!(stalled.is_some(), "DEBUG SLEEP took effect");
        for _ in 0..5 {
            let started = Instant::now();
            let a = get(&base, &token).await;
            let took = started.elapsed();
            assert_eq!(a.status, 503, "{:?}", a.body);
            assert_eq!(a.retry_after.as_deref(), Some("1"));
            assert!(took < Duration::from_millis(500), "held for {took:?}");
        }
        sleeper.join().unwrap().unwrap();
        let back = until(Duration::from_secs(5), async || get(&base, &token).await.status == 200).await;
        assert!(back.is_some());
    }

    /// A Redis that completes the client's connection handshake (`CLIENT SETINFO`), then
    /// answers nothing (a stalled server); returns its URL and everything it has been sent.
    async fn stalled_redis() -> (String, Arc<std::sync::Mutex<Vec<u8>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                        let handshakes = String::from_utf8_lossy(&buf[..n]).matches("SETINFO").count();
                        if stream.write_all(&b"+OK\r\n".repeat(handshakes)).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    /// Issue 23 (one Redis policy): once a call finds Redis gone, every feature using that
    /// Redis answers its failure mode at once instead of each request waiting for the
    /// timeout: the stalled server is asked once, whatever the number of requests, and the
    /// replay store configured with the same URL is not asked at all while it is down.
    #[tokio::test]
    async fn while_redis_is_known_to_be_down_no_request_waits_for_it() {
        use permiso::signing::{RequestSigning, SignatureMode, signature};
        let (url, seen) = stalled_redis().await;
        let idp = TestIssuer::start().await;
        let revocation = RedisRevocations::new(&url)
            .unwrap()
            .revocation()
            .max_staleness(Duration::ZERO)
            .timeout(Duration::from_millis(200))
            .on_error(OnRevocationError::Allow);
        let verifier = Verifier::builder(["keystone-auth"])
            .issuer(idp.issuer_config())
            .revocation(revocation)
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let signing = RequestSigning::new(SignatureMode::Optional, base.clone())
            .client_secret("payment-service", "payment-service-secret")
            .shared_replay_store(url.clone())
            .build()
            .unwrap();
        let app = axum::Router::new()
            .route("/t", axum::routing::post(|| async { "ok" }))
            .layer(permiso::AuthLayer::builder(verifier).signatures(signing).build());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let token = idp.token("payment-service", &["read:transactions"]);
        let http = reqwest::Client::new();
        for i in 0..20u64 {
            let ts = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
                + i)
                .to_string();
            let url = format!("{base}/t");
            let sig = signature(b"payment-service-secret", "POST", &url, b"", &ts);
            let res = http
                .post(&url)
                .bearer_auth(&token)
                .header("x-timestamp", &ts)
                .header("x-signature", &sig)
                .send()
                .await
                .unwrap();
            // Revocation lets it through (allow); the replay store, on the same Redis,
            // answers its own failure mode (reject) at once.
            assert_eq!(res.status(), 503, "request {i}");
            assert_eq!(res.headers()["retry-after"], "1");
            let body: Value = res.json().await.unwrap();
            assert_eq!(
                body["error_description"],
                "whether this request was seen before cannot be checked right now"
            );
        }
        let sent = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        assert_eq!(sent.matches("EXISTS").count(), 1, "one request waited, the others did not: {sent:?}");
        assert!(!sent.contains("permiso_signature:"), "the replay store was not asked while down: {sent:?}");
    }

    #[tokio::test]
    async fn a_cluster_revokes_a_token_whose_key_lives_on_any_node() {
        let cluster = RedisCluster::start();
        let idp = TestIssuer::start().await;
        let v = verifier(&idp, &cluster.url(), Duration::ZERO, OnRevocationError::Reject);
        let base = serve(v).await;
        let tokens: Vec<String> =
            (0..30).map(|i| idp.token(&format!("svc-{i}"), &["read:transactions"])).collect();
        for t in &tokens {
            assert_eq!(get(&base, t).await.status, 200);
        }
        for t in &tokens {
            cluster.nodes[0].revoke(&jti_of(t));
        }
        // The keys are spread over every node of the Cluster.
        for node in &cluster.nodes {
            assert!(node.dbsize() > 0, "node {} holds none of the keys", node.port);
        }
        for t in &tokens {
            assert_revoked(&get(&base, t).await);
        }
        assert_eq!(get(&base, &idp.token("svc-x", &["read:transactions"])).await.status, 200);
    }

    #[test]
    fn the_environment_alone_turns_it_on() {
        let vars = |extra: &[(&str, &str)]| {
            let mut v = vec![
                ("PERMISO_ISSUER", "keystone-auth"),
                ("PERMISO_AUDIENCE", "keystone-auth"),
                ("PERMISO_HS256_SECRET", "0123456789abcdef0123456789abcdef"),
            ];
            v.extend_from_slice(extra);
            Verifier::from_env_vars(v.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
        };
        let v = vars(&[("PERMISO_REVOCATION_REDIS_URL", "redis://127.0.0.1:6379")]).unwrap();
        assert!(v.revocation_stats().is_some());
        assert!(vars(&[]).unwrap().revocation_stats().is_none());
        for (name, value, expect) in [
            ("PERMISO_REVOCATION_ON_ERROR", "maybe", "PERMISO_REVOCATION_ON_ERROR"),
            ("PERMISO_REVOCATION_TIMEOUT_MS", "0", "PERMISO_REVOCATION_TIMEOUT_MS"),
            ("PERMISO_REVOCATION_MAX_STALENESS_MS", "soon", "PERMISO_REVOCATION_MAX_STALENESS_MS"),
            ("PERMISO_REVOCATION_REDIS_URL", "http://:pa55word@127.0.0.1", "PERMISO_REVOCATION_REDIS_URL"),
        ] {
            let mut extra = vec![(name, value)];
            if name != "PERMISO_REVOCATION_REDIS_URL" {
                extra.push(("PERMISO_REVOCATION_REDIS_URL", "redis://127.0.0.1:6379"));
            }
            let err = vars(&extra).unwrap_err().to_string();
            assert!(err.contains(expect) && !err.contains("pa55word"), "{name}={value}: {err}");
        }
        let err = vars(&[("PERMISO_REVOCATION_TIMEOUT_MS", "50")]).unwrap_err().to_string();
        assert!(err.contains("PERMISO_REVOCATION_REDIS_URL"), "{err}");
        let toml = "audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n\
                    [revocation]\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"revoked:\"\n\
                    max_staleness_ms = 250\ntimeout_ms = 80\non_error = \"allow\"\n";
        let v = Verifier::from_toml_str(toml).unwrap();
        assert!(v.revocation_stats().is_some());
        let err =
            Verifier::from_toml_str(&toml.replace("\"allow\"", "\"sometimes\"")).unwrap_err().to_string();
        assert!(err.contains("on_error"), "{err}");
    }
}

#[tokio::test]
async fn the_errors_kind_is_revoked() {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let token = idp.token("svc", &[]);
    idp.revoke(&token);
    let e = verifier.verify(&token).await.unwrap_err();
    assert_eq!((e.kind(), e.status().as_u16()), (AuthErrorKind::Revoked, 401));
    assert!(claims_of(&token)["jti"].is_string());
}
