//! Per-client rate limits over real HTTP: the payment routes served on loopback behind
//! `AuthLayer` + `RateLimitLayer`, callers with tokens from a `TestIssuer`; the fleet-wide
//! store in a real `redis-server` (and a real three-node Cluster) shared by two instances.

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::time::Duration;

use permiso::limit::{RateLimitLayer, RateLimits};
use permiso::signing::SignatureLayer;
use permiso::testing::TestIssuer;
use permiso::{AuthLayer, ManualClock, Verifier};
use serde_json::Value;

async fn serve(idp: &TestIssuer, limits: RateLimitLayer) -> String {
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let auth = AuthLayer::builder(verifier).signatures(None::<SignatureLayer>).rate_limits(limits).build();
    let app = routes::router_with(auth, None);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    policy: Option<String>,
    state: Option<String>,
    www: Option<String>,
    body: Value,
}

async fn get(http: &reqwest::Client, base: &str, token: &str) -> Answer {
    let res = http.get(format!("{base}/api/v1/transactions")).bearer_auth(token).send().await.unwrap();
    let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let (retry_after, policy, state, www) =
        (header("retry-after"), header("ratelimit-policy"), header("ratelimit"), header("www-authenticate"));
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    Answer { status, retry_after: retry_after.map(|v| v.parse().unwrap()), policy, state, www, body }
}

async fn idp() -> TestIssuer {
    TestIssuer::builder()
        .client("payment-service", "s1", &["read:transactions"])
        .client("report-service", "s2", &["read:transactions"])
        .client("billing-batch", "s3", &["read:transactions"])
        .start()
        .await
}

#[tokio::test]
async fn the_121st_request_in_a_minute_is_refused_and_says_when_to_come_back() {
    let idp = idp().await;
    let clock = ManualClock::now();
    let limits = RateLimits::new()
        .client("payment-service", 120)
        .default_per_minute(60)
        .exempt("billing-batch")
        .clock(clock.clone())
        .build()
        .unwrap();
    let base = serve(&idp, limits).await;
    let http = reqwest::Client::new();
    let payment = idp.token("payment-service", &["read:transactions"]);

    for i in 1..=120 {
        let a = get(&http, &base, &payment).await;
        assert_eq!(a.status, 200, "request {i}: {a:?}");
        assert_eq!(a.policy.as_deref(), Some("\"per-client\";q=120;w=60"));
        let remaining = 120 - i;
        assert!(
            a.state.as_deref().unwrap().starts_with(&format!("\"per-client\";r={remaining};t=")),
            "{a:?}"
        );
    }
    let refused = get(&http, &base, &payment).await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.body["error"], "rate_limited");
    assert!(refused.body["error_description"].as_str().unwrap().contains("rate limit"));
    // 120 a minute is one every 0.5 s: the wait, rounded up, is one second.
    assert_eq!(refused.retry_after, Some(1));
    assert_eq!(refused.state.as_deref(), Some("\"per-client\";r=0;t=1"));
    assert_eq!(refused.policy.as_deref(), Some("\"per-client\";q=120;w=60"));
    assert!(refused.www.unwrap().contains("error=\"rate_limited\""));

    // Another client has its own count (the default, 60 a minute); an exempt one has none.
    let report = idp.token("report-service", &["read:transactions"]);
    assert_eq!(get(&http, &base, &report).await.status, 200);
    let batch = idp.token("billing-batch", &["read:transactions"]);
    for _ in 0..200 {
        let a = get(&http, &base, &batch).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.policy, None, "an exempt client gets no RateLimit fields");
    }

    // Waiting what it was told is enough: one second buys two requests back, not three.
    clock.advance(Duration::from_secs(refused.retry_after.unwrap()));
    assert_eq!(get(&http, &base, &payment).await.status, 200);
    assert_eq!(get(&http, &base, &payment).await.status, 200);
    assert_eq!(get(&http, &base, &payment).await.status, 429);
    // A new token for the same client is the same client.
    let again = idp.token("payment-service", &["read:transactions"]);
    assert_eq!(get(&http, &base, &again).await.status, 429);
}

#[tokio::test]
async fn a_burst_smaller_than_the_minute_spreads_the_requests() {
    let idp = idp().await;
    let clock = ManualClock::now();
    let limits = RateLimits::new().default_per_minute(60).burst(5).clock(clock.clone()).build().unwrap();
    let base = serve(&idp, limits).await;
    let http = reqwest::Client::new();
    let token = idp.token("report-service", &["read:transactions"]);
    for _ in 0..5 {
        assert_eq!(get(&http, &base, &token).await.status, 200);
    }
    let refused = get(&http, &base, &token).await;
    assert_eq!((refused.status, refused.retry_after), (429, Some(1)));
    assert_eq!(refused.policy.as_deref(), Some("\"per-client\";q=60;w=60"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(get(&http, &base, &token).await.status, 200);
    assert_eq!(get(&http, &base, &token).await.status, 429);
}

#[tokio::test]
async fn rejections_before_the_limit_are_the_layers_and_not_counted() {
    let idp = idp().await;
    let limits = RateLimits::new().default_per_minute(1).build().unwrap();
    let base = serve(&idp, limits).await;
    let http = reqwest::Client::new();
    // No token and bad tokens are refused by AuthLayer, before any count.
    for _ in 0..3 {
        let res = http.get(format!("{base}/api/v1/transactions")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(get(&http, &base, "not-a-token").await.status, 401);
    }
    let token = idp.token("report-service", &["read:transactions"]);
    assert_eq!(get(&http, &base, &token).await.status, 200);
    assert_eq!(get(&http, &base, &token).await.status, 429);
}

#[test]
fn settings_are_checked_and_named() {
    let err =
        |vars: &[(&str, &str)]| RateLimits::from_env_vars(vars.iter().copied()).unwrap_err().to_string();
    assert!(err(&[("PERMISO_RATE_LIMITS", "payment-service")]).contains("PERMISO_RATE_LIMITS"));
    assert!(err(&[("PERMISO_RATE_LIMITS", "payment-service=many")]).contains("\"payment-service\""));
    assert!(err(&[("PERMISO_RATE_LIMIT_DEFAULT", "-1")]).contains("PERMISO_RATE_LIMIT_DEFAULT"));
    assert!(err(&[("PERMISO_RATE_LIMIT_DEFAULT", "0")]).contains("0 requests"));
    assert!(
        err(&[("PERMISO_RATE_LIMIT_DEFAULT", "10"), ("PERMISO_RATE_LIMIT_BURST", "0")]).contains("burst")
    );
    assert!(
        err(&[("PERMISO_RATE_LIMIT_DEFAULT", "10"), ("PERMISO_RATE_LIMIT_ON_REDIS_ERROR", "maybe")])
            .contains("PERMISO_RATE_LIMIT_ON_REDIS_ERROR")
    );
    assert!(RateLimits::from_env_vars([("PERMISO_RATE_LIMIT_BURST", "10")]).unwrap().is_none());
    assert!(RateLimits::new().build().is_err());

    let dir = std::env::temp_dir().join(format!("permiso-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("permiso.toml");
    std::fs::write(
        &path,
        "[rate_limits]\ndefault = 60\nburst = 10\nexempt = [\"billing-batch\"]\n\
         [rate_limits.clients]\n\"payment-service\" = 120\n",
    )
    .unwrap();
    let layer = RateLimits::from_env_vars([("PERMISO_CONFIG", path.to_str().unwrap())]).unwrap().unwrap();
    let shown = format!("{layer:?}");
    assert!(shown.contains("clients: 1") && shown.contains("default: Some(60)"), "{shown}");
    std::fs::write(&path, "[rate_limits]\ndefault = 60\nsurprise = 1\n").unwrap();
    let e = RateLimits::from_env_vars([("PERMISO_CONFIG", path.to_str().unwrap())]).unwrap_err();
    assert!(e.to_string().contains("[rate_limits]") && e.to_string().contains("surprise"), "{e}");
}

#[cfg(feature = "redis")]
mod redis {
    use std::time::Instant;

    use super::redis_server::{RedisCluster, RedisServer};
    use super::*;
    use permiso::limit::OnLimitStoreError;

    /// Two instances of the service counting in one Redis: the limit is the fleet's.
    async fn shared_limit_between_two_instances(url: &str) {
        let idp = idp().await;
        // 6 a minute: one every 10 s, so the test never runs long enough to earn one back.
        let limits = || {
            RateLimits::new().client("payment-service", 6).default_per_minute(600).redis(url).build().unwrap()
        };
        let (a, b) = (serve(&idp, limits()).await, serve(&idp, limits()).await);
        let http = reqwest::Client::new();
        let token = idp.token("payment-service", &["read:transactions"]);
        for i in 0..6 {
            let base = if i % 2 == 0 { &a } else { &b };
            let answer = get(&http, base, &token).await;
            assert_eq!(answer.status, 200, "request {i}: {answer:?}");
            assert_eq!(answer.policy.as_deref(), Some("\"per-client\";q=6;w=60"));
        }
        for base in [&a, &b] {
            let refused = get(&http, base, &token).await;
            assert_eq!(refused.status, 429, "{refused:?}");
            let wait = refused.retry_after.unwrap();
            assert!((1..=10).contains(&wait), "told to wait {wait} s");
            assert_eq!(refused.state, Some(format!("\"per-client\";r=0;t={wait}")));
        }
        // Another client is not touched by payment-service's count.
        let other = idp.token("report-service", &["read:transactions"]);
        assert_eq!(get(&http, &a, &other).await.status, 200);
        assert_eq!(get(&http, &b, &other).await.status, 200);
    }

    #[tokio::test]
    async fn two_instances_share_one_limit_in_redis() {
        let redis = RedisServer::start();
        shared_limit_between_two_instances(&redis.url()).await;
        let keys = redis.cli(&["KEYS", "permiso:rate_limit:*"]).unwrap();
        // Keyed by issuer and client: `<prefix><iss, `:` and `%` percent-encoded>:<client_id>`.
        let key = keys.lines().find(|k| k.ends_with(":payment-service")).unwrap_or_else(|| panic!("{keys}"));
        assert!(key.starts_with("permiso:rate_limit:http%3A//127.0.0.1%3A"), "{keys}");
        let ttl: i64 = redis.cli(&["PTTL", key]).unwrap().trim().parse().unwrap();
        assert!(ttl > 0 && ttl <= 70_000, "the key expires once it no longer matters: {ttl} ms");
    }

    #[tokio::test]
    async fn two_instances_share_one_limit_in_a_redis_cluster() {
        let cluster = RedisCluster::start();
        shared_limit_between_two_instances(&cluster.url()).await;
    }

    #[tokio::test]
    async fn redis_down_follows_the_configured_choice_without_hanging() {
        let mut redis = RedisServer::start();
        let idp = idp().await;
        let http = reqwest::Client::new();
        let token = idp.token("payment-service", &["read:transactions"]);
        let build = |choice| {
            RateLimits::new()
                .client("payment-service", 600)
                .redis(redis.url())
                .on_store_error(choice)
                .build()
                .unwrap()
        };
        let allow = serve(&idp, build(OnLimitStoreError::Allow)).await;
        let reject = serve(&idp, build(OnLimitStoreError::Reject)).await;
        assert_eq!(get(&http, &allow, &token).await.status, 200);
        assert_eq!(get(&http, &reject, &token).await.status, 200);

        redis.kill();
        let started = Instant::now();
        for _ in 0..10 {
            let a = get(&http, &allow, &token).await;
            assert_eq!(a.status, 200, "{a:?}");
            assert_eq!(a.policy, None, "no count, no RateLimit fields");
            let r = get(&http, &reject, &token).await;
            assert_eq!(r.status, 503, "{r:?}");
            assert_eq!(r.body["error"], "temporarily_unavailable");
            assert_eq!(r.retry_after, Some(1));
        }
        // Bounded by the 50 ms timeout, then by the one-second pause: never a hang.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

        redis.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = get(&http, &reject, &token).await;
            if r.status == 200 {
                assert!(r.policy.is_some());
                break;
            }
            assert!(Instant::now() < deadline, "the limiter did not come back with Redis: {r:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
