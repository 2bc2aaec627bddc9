//! One `AuthLayer` running every stage in its fixed order (token → request signature → rate
//! limit → handlers), configured with `AuthLayer::builder`, served on loopback and called over
//! real HTTP with tokens from a `TestIssuer`.

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use permiso::extract::ServiceClient;
use permiso::limit::{RateLimitLayer, RateLimits};
use permiso::signing::{RequestSigning, SignatureLayer, SignatureMode, signature};
use permiso::testing::TestIssuer;
use permiso::{AuthBody, AuthError, AuthLayer, ManualClock, Verifier};
use serde_json::Value;
use tower::{Layer, ServiceExt};

const SECRET: &str = "payment-service-secret";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

fn verifier(idp: &TestIssuer) -> Verifier {
    Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap()
}

fn signing(base: &str) -> SignatureLayer {
    RequestSigning::new(SignatureMode::Required, base)
        .client_secret("payment-service", SECRET)
        .build()
        .unwrap()
}

fn limits(per_minute: u32, clock: &ManualClock) -> RateLimitLayer {
    RateLimits::new()
        .client("payment-service", per_minute)
        .burst(per_minute)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[derive(Debug)]
struct Answer {
    status: u16,
    www: Option<String>,
    ratelimit: Option<String>,
    retry_after: Option<String>,
    body: Value,
    text: String,
}

async fn answer(res: reqwest::Response) -> Answer {
    let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let (www, ratelimit, retry_after) =
        (header("www-authenticate"), header("ratelimit"), header("retry-after"));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    Answer {
        status,
        www,
        ratelimit,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// POSTs `body` to `url` with `token`, signed with `secret` (None: a made-up signature).
async fn send_signed(url: &str, token: &str, body: &str, secret: Option<&str>, ts: u64) -> Answer {
    let ts = ts.to_string();
    let sig = match secret {
        Some(secret) => signature(secret.as_bytes(), "POST", url, body.as_bytes(), &ts),
        None => "0".repeat(64),
    };
    let req = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("x-timestamp", ts)
        .header("x-signature", sig)
        .body(body.to_owned());
    answer(req.send().await.unwrap()).await
}

/// A thief holding the victim's token but not its signing secret is refused by the signature
/// stage before the rate-limit stage counts anything: the victim's whole minute is still there.
#[tokio::test]
async fn a_thief_without_the_signing_secret_cannot_spend_the_victims_limit() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let (listener, base) = bind().await;
    let auth =
        AuthLayer::builder(verifier(&idp)).signatures(signing(&base)).rate_limits(limits(3, &clock)).build();
    let app = Router::new().route("/t", post(|body: String| async move { body })).layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (url, token) = (format!("{base}/t"), idp.token("payment-service", &[]));

    for _ in 0..20 {
        let a = send_signed(&url, &token, "steal", None, now()).await;
        assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_signature")), "{a:?}");
        assert!(a.www.as_deref().unwrap().contains(r#"error="invalid_signature""#), "{a:?}");
        assert_eq!(a.ratelimit, None, "a refused signature is never counted: {a:?}");
    }
    // The victim's three requests a minute, counted down, each handler given the same bytes.
    for (i, remaining) in [2, 1, 0].into_iter().enumerate() {
        let body = format!("payment {i}");
        let a = send_signed(&url, &token, &body, Some(SECRET), now() + i as u64).await;
        assert_eq!((a.status, a.text.as_str()), (200, body.as_str()), "{a:?}");
        let state = a.ratelimit.unwrap_or_default();
        assert!(state.starts_with(&format!("\"per-client\";r={remaining};")), "{state}");
    }
    // The fourth signed request is over the limit: counted only now.
    let a = send_signed(&url, &token, "one more", Some(SECRET), now() + 3).await;
    assert_eq!((a.status, a.body["error"].as_str()), (429, Some("rate_limited")), "{a:?}");
    assert!(a.retry_after.is_some(), "{a:?}");
}

/// Every stage's refusal is shaped by the one `on_rejection`: the token's, the signature's
/// and the rate limit's.
#[tokio::test]
async fn one_on_rejection_shapes_every_stage() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let (listener, base) = bind().await;
    let auth = AuthLayer::builder(verifier(&idp))
        .signatures(signing(&base))
        .rate_limits(limits(1, &clock))
        .on_rejection(|err: &AuthError, realm: &str| {
            let mut res = err.to_response(realm);
            res.headers_mut().insert("x-refused-by", "payments".parse().unwrap());
            res
        })
        .build();
    let app = Router::new().route("/t", post(|| async { "ok" })).layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("{base}/t");
    let token = idp.token("payment-service", &[]);
    let refused_by = |res: &reqwest::Response| res.headers().get("x-refused-by").map(|v| v.to_owned());

    let no_token = reqwest::Client::new().post(&url).send().await.unwrap();
    assert_eq!((no_token.status().as_u16(), refused_by(&no_token).is_some()), (401, true));
    let unsigned = reqwest::Client::new().post(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!((unsigned.status().as_u16(), refused_by(&unsigned).is_some()), (401, true));
    for (i, expected) in [200, 429].into_iter().enumerate() {
        let ts = (now() + i as u64).to_string();
        let sig = signature(SECRET.as_bytes(), "POST", &url, b"", &ts);
        let res = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .header("x-timestamp", ts)
            .header("x-signature", sig)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), expected);
        assert_eq!(refused_by(&res).is_some(), expected != 200);
    }
}

/// `RequestSigning::from_env` gives `None` when signatures are off: the same builder call
/// takes it, and nothing is checked.
#[tokio::test]
async fn signatures_off_from_the_environment_check_nothing() {
    let idp = TestIssuer::start().await;
    let off = RequestSigning::from_env_vars([("PERMISO_SIGNATURES", "off")]).unwrap();
    assert!(off.is_none());
    let auth = AuthLayer::builder(verifier(&idp)).signatures(off).build();
    let (listener, base) = bind().await;
    let app =
        Router::new().route("/t", post(|client: ServiceClient| async move { client.client_id().to_owned() }));
    let app = app.layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token = idp.token("payment-service", &[]);
    let res = reqwest::Client::new().post(format!("{base}/t")).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "payment-service");
}

/// The response body is wrapped once, whatever the stages (`AuthBody<B>`, not one wrapper per
/// stage), and a plain tower service with a hyper-style body works as well as axum.
#[tokio::test]
async fn one_body_wrapper_for_every_stage() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let base = "https://payments.example.com";
    let auth =
        AuthLayer::builder(verifier(&idp)).signatures(signing(base)).rate_limits(limits(5, &clock)).build();
    let inner = tower::service_fn(|req: Request<Full<Bytes>>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    });
    let svc = auth.layer(inner);
    let ts = now().to_string();
    let url = format!("{base}/t");
    let sig = signature(SECRET.as_bytes(), "POST", &url, b"hello", &ts);
    let req = Request::post("/t")
        .header("authorization", format!("Bearer {}", idp.token("payment-service", &[])))
        .header("x-timestamp", &ts)
        .header("x-signature", sig)
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let res: Response<AuthBody<Full<Bytes>>> = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["ratelimit"], "\"per-client\";r=4;t=12");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");
}

/// A gRPC caller refused by the rate-limit stage gets the gRPC form (HTTP 200 with
/// `grpc-status`), not an HTTP JSON body.
#[tokio::test]
async fn a_grpc_caller_over_its_limit_gets_a_grpc_status() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let auth = AuthLayer::builder(verifier(&idp)).rate_limits(limits(1, &clock)).build();
    let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let svc = auth.layer(inner);
    let token = idp.token("payment-service", &[]);
    let call = || {
        Request::post("/payments.Payments/List")
            .header("content-type", "application/grpc")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    assert_eq!(svc.clone().oneshot(call()).await.unwrap().headers().get("grpc-status"), None);
    let res = svc.oneshot(call()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["grpc-status"], "8", "RESOURCE_EXHAUSTED");
}

/// The shared (Redis) store: the rate-limit stage waits for Redis inside the layer's own
/// future, after the signature stage read the body.
#[cfg(feature = "redis")]
#[tokio::test]
async fn signed_requests_counted_in_redis() {
    let redis = redis_server::RedisServer::start();
    let idp = TestIssuer::start().await;
    let (listener, base) = bind().await;
    let limits = RateLimits::new().client("payment-service", 2).redis(redis.url()).build().unwrap();
    let auth = AuthLayer::builder(verifier(&idp)).signatures(signing(&base)).rate_limits(limits).build();
    let app = Router::new().route("/t", post(|body: String| async move { body })).layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (url, token) = (format!("{base}/t"), idp.token("payment-service", &[]));
    for _ in 0..5 {
        assert_eq!(send_signed(&url, &token, "x", None, now()).await.status, 401);
    }
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for i in 0..3 {
            out.push(send_signed(&url, &token, "paid", Some(SECRET), now() + i).await.status);
        }
        out
    };
    assert_eq!(statuses, [200, 200, 429]);
    let keys = redis.cli(&["KEYS", "permiso:rate_limit:*"]).unwrap();
    assert!(keys.lines().any(|k| k.ends_with(":payment-service")), "{keys}");
}

/// An unverified request never reaches the handler or the limits: `GET` on the open route is
/// refused by the token stage first.
#[tokio::test]
async fn the_token_comes_first() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at_unix(now());
    let (listener, base) = bind().await;
    let auth =
        AuthLayer::builder(verifier(&idp)).signatures(signing(&base)).rate_limits(limits(1, &clock)).build();
    let app = Router::new().route("/t", get(|| async { "ok" })).layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    for _ in 0..3 {
        let a = answer(
            reqwest::Client::new().get(format!("{base}/t")).bearer_auth("not.a.jwt").send().await.unwrap(),
        )
        .await;
        assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_token")), "{a:?}");
    }
}
