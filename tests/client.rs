//! The calling side against a real `TestIssuer` token endpoint and real targets on loopback.

#![cfg(feature = "client")]

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use permiso::client::{
    BearerLayer, BearerMiddleware, ClientAuth, ServiceCredentials, TokenEndpoint, TokenErrorKind, TokenSource,
};
use permiso::testing::{Fault, TestIssuer};
use permiso::{ManualClock, Verifier};
use tower::{ServiceBuilder, ServiceExt};

const SECRET: &str = "payment-secret";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("payment-service", SECRET, &["read:transactions", "write:transactions"], false)
        .start()
        .await
}

fn permiso_creds(idp: &TestIssuer, secret: &str) -> ServiceCredentials {
    ServiceCredentials::from_env_vars(
        "payment",
        [
            ("AUTH_SERVICE_URL", format!("{}/api/v1", idp.url())),
            ("PAYMENT_CLIENT_ID", "payment-service".into()),
            ("PAYMENT_CLIENT_SECRET", secret.into()),
            ("PAYMENT_SCOPES", "read:transactions".into()),
        ],
    )
    .unwrap()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A target that answers 401 to the first token it sees (or to every token), 200 otherwise,
/// and counts requests.
#[derive(Clone, Default)]
struct Target {
    first: Arc<Mutex<Option<String>>>,
    always_401: bool,
    requests: Arc<AtomicU64>,
}

async fn target(target: Target) -> String {
    let t = target.clone();
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            let t = t.clone();
            async move {
                t.requests.fetch_add(1, Ordering::SeqCst);
                let auth =
                    headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let mut first = t.first.lock().unwrap();
                let reject = t.always_401 || first.get_or_insert_with(|| auth.clone()) == &auth;
                if reject { StatusCode::UNAUTHORIZED } else { StatusCode::OK }
            }
        }),
    );
    serve(app).await
}

#[tokio::test]
async fn the_first_call_fetches_once_and_later_calls_reuse_the_token() {
    let idp = issuer().await;
    let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
    let t1 = source.token().await.unwrap();
    assert_eq!(t1.scope(), Some("read:transactions"));
    for _ in 0..10 {
        assert_eq!(source.token().await.unwrap(), t1);
    }
    assert_eq!(idp.token_requests(), 1);
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_callers_cause_one_fetch() {
    let idp = issuer().await;
    let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let source = source.clone();
        tasks.spawn(async move { source.token().await.unwrap() });
    }
    let mut tokens = Vec::new();
    while let Some(t) = tasks.join_next().await {
        tokens.push(t.unwrap());
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(idp.token_requests(), 1);
}

#[tokio::test]
async fn a_token_inside_its_refresh_margin_is_refreshed_before_use() {
    let idp = issuer().await;
    let clock = ManualClock::now();
    let source = TokenSource::builder(permiso_creds(&idp, SECRET))
        .clock(clock.clone())
        .max_backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let t1 = source.token().await.unwrap();
    clock.advance(Duration::from_secs(3600 - 61));
    assert_eq!(source.token().await.unwrap(), t1);
    assert_eq!(idp.token_requests(), 1);
    clock.advance(Duration::from_secs(2)); // 59 s before expiry: inside the 60 s margin
    let t2 = source.token().await.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(idp.token_requests(), 2);

    // A failed refresh while the cached token is still valid keeps using it.
    idp.set_token_fault(Some(Fault::Status(500)));
    clock.advance(Duration::from_secs(3600 - 30));
    let before = idp.token_requests();
    assert_eq!(source.token().await.unwrap(), t2);
    assert!(idp.token_requests() > before);
    // Once it has expired, the failure is the answer.
    clock.advance(Duration::from_secs(31));
    let err = source.token().await.unwrap_err();
    assert_eq!(err.kind(), &TokenErrorKind::Unavailable);
}

#[tokio::test]
async fn the_margin_is_never_more_than_half_the_lifetime() {
    let idp = TestIssuer::builder().client("short", SECRET, &["a"], false).token_lifetime(60).start().await;
    let clock = ManualClock::now();
    let creds = ServiceCredentials::new("short", SECRET, TokenEndpoint::Url(idp.token_url()));
    let source = TokenSource::builder(creds).clock(clock.clone()).build().unwrap();
    let t1 = source.token().await.unwrap();
    clock.advance(Duration::from_secs(29));
    assert_eq!(source.token().await.unwrap(), t1, "a 60 s token is used for 30 s");
    clock.advance(Duration::from_secs(1));
    assert_ne!(source.token().await.unwrap(), t1);
    assert_eq!(idp.token_requests(), 2);
}

#[tokio::test]
async fn a_401_causes_one_refetch_and_one_retry_through_reqwest_middleware() {
    let idp = issuer().await;
    let t = Target::default();
    let base = target(t.clone()).await;
    let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source.clone()))
        .build();
    let res = client.get(&base).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!((t.requests.load(Ordering::SeqCst), idp.token_requests()), (2, 2));
    // The new token is cached: the next call goes straight through.
    assert_eq!(client.get(&base).send().await.unwrap().status(), 200);
    assert_eq!((t.requests.load(Ordering::SeqCst), idp.token_requests()), (3, 2));
}

#[tokio::test]
async fn a_second_401_is_returned_not_looped() {
    let idp = issuer().await;
    let t = Target { always_401: true, ..Target::default() };
    let base = target(t.clone()).await;
    let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source))
        .build();
    let res = client.get(&base).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!((t.requests.load(Ordering::SeqCst), idp.token_requests()), (2, 2));
}

#[tokio::test]
async fn the_tower_layer_retries_once_too() {
    let idp = issuer().await;
    for (always_401, status, requests) in [(false, 200, 2), (true, 401, 2)] {
        let t = Target { always_401, ..Target::default() };
        let base = target(t.clone()).await;
        let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
        // The inner service sends the http::Request with reqwest.
        let http = reqwest::Client::new();
        let send = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
            let http = http.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let req = http::Request::from_parts(parts, body);
                let res = http.execute(reqwest::Request::try_from(req)?).await?;
                let mut out = http::Response::new(());
                *out.status_mut() = res.status();
                Ok::<_, reqwest::Error>(out)
            }
        });
        let svc = ServiceBuilder::new().layer(BearerLayer::new(source)).service(send);
        let req = http::Request::get(&base).body(Full::new(Bytes::new())).unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(t.requests.load(Ordering::SeqCst), requests, "always_401={always_401}");
    }
}

#[tokio::test]
async fn calls_a_protected_permiso_route_end_to_end() {
    let idp = issuer().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let base = serve(routes::router(verifier)).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(TokenSource::new(permiso_creds(&idp, SECRET)).unwrap()))
        .build();
    let res = client.get(format!("{base}/api/v1/transactions")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // write:transactions was not asked for: 403 from the service, and no retry loop.
    let res = client.post(format!("{base}/api/v1/transactions")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(idp.token_requests(), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_a_typed_invalid_client_error() {
    let idp = issuer().await;
    let source = TokenSource::new(permiso_creds(&idp, "wrong")).unwrap();
    let err = source.token().await.unwrap_err();
    assert_eq!(err.kind(), &TokenErrorKind::InvalidClient);
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.description(), Some("Invalid client credentials"));
    assert_eq!(idp.token_requests(), 1, "a refusal is not retried");

    let unknown = ServiceCredentials::new("nobody", "x", TokenEndpoint::Url(idp.token_url()));
    let err = TokenSource::new(unknown).unwrap().token().await.unwrap_err();
    assert_eq!(err.kind(), &TokenErrorKind::InvalidClient);
    let scoped = permiso_creds(&idp, SECRET).with_scopes(["delete:everything"]);
    let err = TokenSource::new(scoped).unwrap().token().await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (&TokenErrorKind::InvalidScope, Some(400)));
}

#[tokio::test]
async fn a_503_then_200_succeeds_after_backoff() {
    let idp = issuer().await;
    idp.fail_next_token_requests([Fault::Status(503), Fault::Status(503)]);
    let source = TokenSource::builder(permiso_creds(&idp, SECRET))
        .max_backoff(Duration::from_millis(50))
        .build()
        .unwrap();
    source.token().await.unwrap();
    assert_eq!(idp.token_requests(), 3);

    // With the endpoint down for longer than the attempts, the error says so.
    idp.set_token_fault(Some(Fault::Status(503)));
    let source = TokenSource::builder(permiso_creds(&idp, SECRET))
        .max_backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let err = source.token().await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (&TokenErrorKind::Unavailable, Some(503)));
    assert_eq!(source.fetches(), 3);
}

#[tokio::test]
async fn basic_auth_and_discovery() {
    let idp = issuer().await;
    let creds =
        ServiceCredentials::new("payment-service", SECRET, TokenEndpoint::Discovery(idp.url().into()));
    let source = TokenSource::builder(creds).client_auth(ClientAuth::SecretBasic).build().unwrap();
    source.token().await.unwrap();
    assert_eq!((idp.discovery_fetches(), idp.token_requests()), (1, 1));
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let creds = ServiceCredentials::new("a", "b", TokenEndpoint::Url("http://auth.example.com/token".into()));
    let err = TokenSource::new(creds).unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
}

#[tokio::test]
async fn no_public_type_shows_the_secret_or_the_token() {
    let idp = issuer().await;
    let creds = permiso_creds(&idp, SECRET);
    let source = TokenSource::new(creds.clone()).unwrap();
    let token = source.token().await.unwrap();
    let wrong = TokenSource::new(permiso_creds(&idp, "wrong")).unwrap().token().await.unwrap_err();
    let texts = [
        format!("{creds:?}"),
        format!("{:?}", creds.client_secret()),
        format!("{source:?}"),
        format!("{token:?}"),
        format!("{:?}", BearerLayer::new(source.clone())),
        format!("{:?}", BearerMiddleware::new(source.clone())),
        format!("{:?}", TokenSource::builder(creds.clone())),
        format!("{wrong:?} {wrong}"),
    ];
    for text in texts {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(token.secret()), "{text}");
    }
}
