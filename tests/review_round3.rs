//! The findings of the third security review, each over real HTTP on loopback: a test that
//! failed before its fix and passes after (numbers are the review's).

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use permiso::extract::{RequireScopes, ServiceClient};
use permiso::limit::RateLimits;
use permiso::signing::{RequestSigning, SignatureMode, SignatureVersion, signature, signature_v2};
use permiso::testing::TestIssuer;
use permiso::{AuthLayer, Clock, Issuer, ManualClock, MemoryRevocations, Revocation, Verifier, scopes};
use serde_json::{Value, json};

scopes! {
    ReadTransactions = "read:transactions";
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[derive(Debug)]
struct Answer {
    status: u16,
    www: String,
    body: Value,
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let www = res.headers().get("www-authenticate").map_or("", |v| v.to_str().unwrap()).to_owned();
    let text = res.text().await.unwrap();
    Answer { status, www, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

async fn get_with(url: &str, token: &str) -> Answer {
    answer(reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap()).await
}

fn assert_not_service_token(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {a:?}");
    assert!(a.www.contains(r#"error="invalid_token""#), "{what}: {a:?}");
    assert_eq!(a.body["error"], "invalid_token", "{what}: {a:?}");
    let why = a.body["error_description"].as_str().unwrap_or_default();
    assert!(why.contains("not a service token") || why.contains("refresh token"), "{what}: {a:?}");
}

/// 0. A route guarded by `RequireScopes` alone, or by `AuthLayer` alone, refuses a permiso
/// user token and a refresh token carrying the scope; accepting other access tokens is an
/// opt-in on the layer, and a refresh token is refused even then.
#[tokio::test]
async fn only_service_tokens_pass_by_default_and_refresh_tokens_never() {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let routes = || {
        Router::new()
            .route("/scoped", get(|_: RequireScopes<ReadTransactions>| async { "scoped" }))
            .route("/open", get(|| async { "open" }))
            .route("/client", get(|c: ServiceClient| async move { c.client_id().to_owned() }))
    };
    let strict = serve(routes().layer(AuthLayer::new(verifier.clone()))).await;
    let optional = serve(routes().layer(AuthLayer::new(verifier.clone()).optional())).await;
    let lenient = serve(routes().layer(AuthLayer::new(verifier).accept_any_access_token())).await;

    let with_type = |kind: &str| {
        let mut claims = idp.claims_for("alice", &["read:transactions"]);
        claims["type"] = json!(kind);
        idp.sign(&claims)
    };
    let (service, user, refresh) =
        (idp.token("payment-service", &["read:transactions"]), with_type("user"), with_type("refresh"));

    for base in [&strict, &optional] {
        for path in ["/scoped", "/open"] {
            let url = format!("{base}{path}");
            assert_eq!(get_with(&url, &service).await.status, 200, "{url}");
            assert_not_service_token(&get_with(&url, &user).await, &format!("user token at {url}"));
            assert_not_service_token(&get_with(&url, &refresh).await, &format!("refresh token at {url}"));
        }
    }
    // Opted in: a user's token reaches routes that ask only for scopes; ServiceClient still
    // wants a service token; a refresh token never passes.
    assert_eq!(get_with(&format!("{lenient}/scoped"), &user).await.status, 200);
    assert_not_service_token(&get_with(&format!("{lenient}/client"), &user).await, "ServiceClient");
    for path in ["/scoped", "/open"] {
        assert_not_service_token(&get_with(&format!("{lenient}{path}"), &refresh).await, "refresh, opted in");
    }
}

/// 1. A revoked token stays refused between `exp` and `exp + leeway`; with revocation on, a
/// token past its `exp` is never valid (its revocation key may be gone).
#[tokio::test]
async fn a_revoked_token_stays_refused_through_the_leeway() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let revoked = MemoryRevocations::new();
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .clock(clock.clone())
        .revocation(Revocation::new(revoked.clone()).max_staleness(Duration::ZERO))
        .build()
        .unwrap();
    let without = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .clock(clock.clone())
        .build()
        .unwrap();
    let base =
        serve(Router::new().route("/open", get(|| async { "open" })).layer(AuthLayer::new(verifier))).await;
    let plain =
        serve(Router::new().route("/open", get(|| async { "open" })).layer(AuthLayer::new(without))).await;
    let url = format!("{base}/open");

    let mut claims = idp.claims_for("payment-service", &[]);
    let exp = clock.now_unix() + 10;
    claims["exp"] = json!(exp);
    let token = idp.sign(&claims);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(get_with(&url, &token).await.status, 200);
    // Revoked as the permiso server does it: the key lives until `exp`.
    revoked.revoke(jti, exp);
    let a = get_with(&url, &token).await;
    assert_eq!((a.status, a.body["error_description"].as_str()), (401, Some("the token has been revoked")));
    // 30 s past exp, inside the 60 s leeway: the revocation key is gone, the token is not back.
    clock.advance(Duration::from_secs(40));
    let a = get_with(&url, &token).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert!(a.www.contains(r#"error="invalid_token""#), "{a:?}");
    // A token never revoked is refused in the leeway too while revocation is on…
    let mut fresh = idp.claims_for("payment-service", &[]);
    fresh["exp"] = json!(clock.now_unix() - 5);
    let expired = idp.sign(&fresh);
    let a = get_with(&url, &expired).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert!(
        a.body["error_description"].as_str().unwrap().contains("revocation can no longer be checked"),
        "{a:?}"
    );
    // …and accepted within the leeway by a verifier without revocation, as before.
    assert_eq!(get_with(&format!("{plain}/open"), &expired).await.status, 200);
}

const SECRET: &str = "payment-service-secret";

async fn signed_service(idp: &TestIssuer, signing: impl FnOnce(&str) -> RequestSigning) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let app = Router::new()
        .route(
            "/t",
            axum::routing::post(|q: axum::extract::RawQuery, body: String| async move {
                format!("query={} body={body}", q.0.unwrap_or_default())
            }),
        )
        .layer(signing(&base).build().unwrap())
        .layer(AuthLayer::new(verifier));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn post_signed(
    url: &str,
    token: &str,
    body: &str,
    ts: &str,
    sig: &str,
    version: Option<&str>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("x-timestamp", ts)
        .header("x-signature", sig)
        .body(body.to_owned());
    if let Some(v) = version {
        req = req.header("x-signature-version", v);
    }
    answer(req.send().await.unwrap()).await
}

/// 3. `{METHOD}|{url}|{body}|{timestamp}` cannot say where the URL ends: a raw `|` in the
/// query is refused in version 1, permiso's signer sends it as `%7C`, and version 2 tells
/// the two requests apart.
#[tokio::test]
async fn a_raw_bar_cannot_move_bytes_between_url_and_body() {
    let idp = TestIssuer::start().await;
    let base = signed_service(&idp, |b| {
        RequestSigning::new(SignatureMode::Required, b).client_secret("payment-service", SECRET)
    })
    .await;
    let token = idp.token("payment-service", &[]);
    let ts = now().to_string();
    let (a_url, a_body) = (format!("{base}/t?note=rent|june&dry_run=true"), "");
    let (b_url, b_body) = (format!("{base}/t?note=rent"), "june&dry_run=true|");

    // The review's reproduction: one signature for both.
    let sig = signature(SECRET.as_bytes(), "POST", &a_url, a_body.as_bytes(), &ts);
    assert_eq!(sig, signature(SECRET.as_bytes(), "POST", &b_url, b_body.as_bytes(), &ts));
    let a = post_signed(&a_url, &token, a_body, &ts, &sig, None).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert!(a.www.contains(r#"error="invalid_signature""#), "{a:?}");
    assert!(a.body["error_description"].as_str().unwrap().contains("%7C"), "{a:?}");

    // What permiso's calling side signs: the bar encoded, so B's message differs.
    let encoded = a_url.replace('|', "%7C");
    let sig = signature(SECRET.as_bytes(), "POST", &encoded, a_body.as_bytes(), &ts);
    let a = post_signed(&encoded, &token, a_body, &ts, &sig, None).await;
    assert_eq!((a.status, a.body.as_str()), (200, Some("query=note=rent%7Cjune&dry_run=true body=")));
    let b = post_signed(&b_url, &token, b_body, &(now() + 1).to_string(), &sig, None).await;
    assert_eq!(b.status, 401, "{b:?}");

    // Version 2: a raw bar is fine, and the other request does not share its signature.
    let ts = (now() + 2).to_string();
    let v2 = signature_v2(SECRET.as_bytes(), "POST", &a_url, a_body.as_bytes(), &ts);
    let a = post_signed(&a_url, &token, a_body, &ts, &v2, Some("2")).await;
    assert_eq!(a.status, 200, "{a:?}");
    let b = post_signed(&b_url, &token, b_body, &ts, &v2, Some("2")).await;
    assert_eq!(b.body["error_description"], "the request's X-Signature does not match the request", "{b:?}");

    // A service that asks for version 2 refuses version 1.
    let strict = signed_service(&idp, |b| {
        RequestSigning::new(SignatureMode::Required, b)
            .client_secret("payment-service", SECRET)
            .min_version(SignatureVersion::V2)
    })
    .await;
    let url = format!("{strict}/t");
    let ts = now().to_string();
    let v1 = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
    assert_eq!(post_signed(&url, &token, "", &ts, &v1, None).await.status, 401);
    let v2 = signature_v2(SECRET.as_bytes(), "POST", &url, b"", &ts);
    assert_eq!(post_signed(&url, &token, "", &ts, &v2, Some("2")).await.status, 200);
}

/// 6. With two issuers, a partner issuer's token naming an exempt client or a limited one
/// gets neither the exemption nor that client's bucket; named limits belong to the first
/// issuer. Request signing secrets likewise.
#[tokio::test]
async fn limits_exemptions_and_signing_secrets_belong_to_their_issuer() {
    let home = TestIssuer::builder().issuer_name("keystone-auth").audience("keystone-auth").start().await;
    let partner = TestIssuer::builder().issuer_name("partner-auth").audience("keystone-auth").start().await;
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(home.issuer_config())
        .issuer(partner.issuer_config())
        .build()
        .unwrap();
    let clock = ManualClock::at_unix(now());
    let limits = RateLimits::new()
        .client("payment-service", 3)
        .default_per_minute(2)
        .exempt("billing-batch")
        .burst(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let base = serve(
        Router::new().route("/open", get(|| async { "open" })).layer(limits).layer(AuthLayer::new(verifier)),
    )
    .await;
    let url = format!("{base}/open");
    let statuses = async |token: &str, n: usize| {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(get_with(&url, token).await.status);
        }
        out
    };
    // The partner's "billing-batch" is not exempt: the default limit (burst 2) applies.
    assert_eq!(statuses(&partner.token("billing-batch", &[]), 3).await, [200, 200, 429]);
    assert_eq!(statuses(&home.token("billing-batch", &[]), 5).await, [200; 5]);
    // The partner's "payment-service" drains its own bucket, not the real client's.
    assert_eq!(statuses(&partner.token("payment-service", &[]), 3).await, [200, 200, 429]);
    assert_eq!(statuses(&home.token("payment-service", &[]), 2).await, [200, 200]);

    // Signing secrets: the first issuer's table is not the partner's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sbase = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(home.issuer_config())
        .issuer(partner.issuer_config())
        .build()
        .unwrap();
    let signing = RequestSigning::new(SignatureMode::Required, sbase.clone())
        .client_secret("payment-service", SECRET)
        .issuer_client_secret("partner-auth", "payment-service", "the-partner's-own-secret")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/t", axum::routing::post(|| async { "ok" }))
        .layer(signing)
        .layer(AuthLayer::new(verifier));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("{sbase}/t");
    let ts = now().to_string();
    let home_sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
    assert_eq!(
        post_signed(&url, &home.token("payment-service", &[]), "", &ts, &home_sig, None).await.status,
        200
    );
    let ts = (now() + 1).to_string();
    let home_sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
    let a = post_signed(&url, &partner.token("payment-service", &[]), "", &ts, &home_sig, None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_signature")), "{a:?}");
    let partner_sig = signature(b"the-partner's-own-secret", "POST", &url, b"", &ts);
    assert_eq!(
        post_signed(&url, &partner.token("payment-service", &[]), "", &ts, &partner_sig, None).await.status,
        200
    );
}

/// 7. A thief with the victim's token but not its signing secret cannot spend the victim's
/// rate limit: in the documented order the signature is checked before the limit counts; the
/// other order answers 500 instead of counting unsigned requests.
#[tokio::test]
async fn unsigned_requests_never_spend_a_clients_limit() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let stack = |base: &str, limits_outside: bool| {
        let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
        let limits =
            RateLimits::new().client("payment-service", 2).burst(2).clock(clock.clone()).build().unwrap();
        let signing = RequestSigning::new(SignatureMode::Required, base)
            .client_secret("payment-service", SECRET)
            .build()
            .unwrap();
        let routes = Router::new().route("/t", axum::routing::post(|| async { "ok" }));
        let routes = if limits_outside {
            routes.layer(signing).layer(limits)
        } else {
            routes.layer(limits).layer(signing)
        };
        routes.layer(AuthLayer::new(verifier))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = stack(&base, false);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token = idp.token("payment-service", &[]);
    let url = format!("{base}/t");
    for _ in 0..10 {
        let a = post_signed(&url, &token, "", &now().to_string(), &"0".repeat(64), None).await;
        assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_signature")));
    }
    // The victim's two requests a minute are all still there.
    for i in 0..2 {
        let ts = (now() + i).to_string();
        let sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
        assert_eq!(post_signed(&url, &token, "", &ts, &sig, None).await.status, 200);
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let wrong = format!("http://{}", listener.local_addr().unwrap());
    let app = stack(&wrong, true);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("{wrong}/t");
    let ts = now().to_string();
    let sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
    let a = post_signed(&url, &token, "", &ts, &sig, None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (500, Some("server_error")), "{a:?}");
}

/// The same wrong order with the rate limit given to the `AuthLayer` and a `SignatureLayer`
/// stacked inside it by hand: the limit has counted the request already, so the signature
/// layer answers 500 rather than check too late.
#[tokio::test]
async fn a_signature_layer_inside_an_auth_layer_with_rate_limits_refuses_to_run() {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let limits = RateLimits::new().client("payment-service", 100).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let signing = RequestSigning::new(SignatureMode::Required, &base)
        .client_secret("payment-service", SECRET)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/t", axum::routing::post(|| async { "ok" }))
        .layer(signing)
        .layer(AuthLayer::builder(verifier).rate_limits(limits).build());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("{base}/t");
    let ts = now().to_string();
    let sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
    let a = post_signed(&url, &idp.token("payment-service", &[]), "", &ts, &sig, None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (500, Some("server_error")), "{a:?}");
}

/// 4. The Redis replay store fails closed: a signature this replica saw is refused while
/// Redis is down, a new one is answered 503 `Retry-After: 1` (the default `reject`), and with
/// `allow` it passes on this replica's memory.
#[cfg(feature = "redis")]
#[tokio::test]
async fn the_replay_store_fails_closed_while_redis_is_down() {
    use permiso::OnStoreError;
    let mut redis = redis_server::RedisServer::start();
    let idp = TestIssuer::start().await;
    let url_of = redis.url();
    let strict = signed_service(&idp, |b| {
        RequestSigning::new(SignatureMode::Required, b)
            .client_secret("payment-service", SECRET)
            .shared_replay_store(url_of.clone())
    })
    .await;
    let lenient = signed_service(&idp, |b| {
        RequestSigning::new(SignatureMode::Required, b)
            .client_secret("payment-service", SECRET)
            .shared_replay_store(url_of.clone())
            .replay_on_error(OnStoreError::Allow)
    })
    .await;
    let token = idp.token("payment-service", &[]);
    let sign = |base: &str, ts: u64| {
        let url = format!("{base}/t");
        let sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts.to_string());
        (url, ts.to_string(), sig)
    };
    let (url, ts, sig) = sign(&strict, now());
    assert_eq!(post_signed(&url, &token, "", &ts, &sig, None).await.status, 200);
    let (lurl, lts, lsig) = sign(&lenient, now());
    assert_eq!(post_signed(&lurl, &token, "", &lts, &lsig, None).await.status, 200);

    redis.kill();
    // The captured signatures replay: refused from this replica's memory.
    let a = post_signed(&url, &token, "", &ts, &sig, None).await;
    assert_eq!(a.body["error_description"], "this request signature was already used", "{a:?}");
    let a = post_signed(&lurl, &token, "", &lts, &lsig, None).await;
    assert_eq!(a.body["error_description"], "this request signature was already used", "{a:?}");
    // A new signature: 503 in reject mode, 200 in allow mode.
    let (url, ts, sig) = sign(&strict, now() + 1);
    let res = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&token)
        .header("x-timestamp", &ts)
        .header("x-signature", &sig)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let a = answer(res).await;
    assert_eq!(a.body["error"], "temporarily_unavailable", "{a:?}");
    let (lurl, lts, lsig) = sign(&lenient, now() + 1);
    assert_eq!(post_signed(&lurl, &token, "", &lts, &lsig, None).await.status, 200);
}

/// Replicas sharing the Redis replay store refuse each other's signatures, sent in either
/// case, under the key permiso's Python services write: `permiso_signature:{lowercase hex}`.
#[cfg(feature = "redis")]
#[tokio::test]
async fn replicas_sharing_redis_refuse_each_others_signatures() {
    const PUBLIC: &str = "https://payments.example";
    let redis = redis_server::RedisServer::start();
    let idp = TestIssuer::start().await;
    let replica = || {
        signed_service(&idp, |_| {
            RequestSigning::new(SignatureMode::Required, PUBLIC)
                .client_secret("payment-service", SECRET)
                .shared_replay_store(redis.url())
        })
    };
    let (a, b) = (replica().await, replica().await);
    let token = idp.token("payment-service", &[]);
    let ts = now().to_string();
    let sig = signature(SECRET.as_bytes(), "POST", &format!("{PUBLIC}/t"), b"", &ts);
    assert_eq!(post_signed(&format!("{a}/t"), &token, "", &ts, &sig.to_uppercase(), None).await.status, 200);
    assert_eq!(redis.cli(&["EXISTS", &format!("permiso_signature:{sig}")]).unwrap().trim(), "1");
    let again = post_signed(&format!("{b}/t"), &token, "", &ts, &sig, None).await;
    assert_eq!(again.body["error_description"], "this request signature was already used", "{again:?}");
    // Another request is new on either replica.
    let ts = (now() + 1).to_string();
    let sig = signature(SECRET.as_bytes(), "POST", &format!("{PUBLIC}/t"), b"", &ts);
    assert_eq!(post_signed(&format!("{b}/t"), &token, "", &ts, &sig, None).await.status, 200);
}

/// `Debug` says which tokens a layer admits.
#[test]
fn the_layer_says_what_it_admits() {
    let verifier = Verifier::builder(["a"])
        .issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef"))
        .build()
        .unwrap();
    let layer = AuthLayer::new(verifier);
    assert!(format!("{layer:?}").contains("ServiceTokens"), "{layer:?}");
    assert!(format!("{:?}", layer.accept_any_access_token()).contains("AccessTokens"));
}
