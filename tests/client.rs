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
    AccessToken, BearerLayer, BearerMiddleware, ClientAuth, ServiceCredentials, TokenEndpoint,
    TokenErrorKind, TokenSource,
};
use permiso::testing::{Fault, TestIssuer};
use permiso::{ManualClock, Verifier};
use tower::{ServiceBuilder, ServiceExt};

const SECRET: &str = "payment-secret";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("payment-service", SECRET, &["read:transactions", "write:transactions"])
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
    /// The `WWW-Authenticate` sent with each 401, if any.
    challenge: Option<&'static str>,
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
                let mut res = axum::response::Response::new(axum::body::Body::empty());
                if reject {
                    *res.status_mut() = StatusCode::UNAUTHORIZED;
                    if let Some(c) = t.challenge {
                        res.headers_mut().insert("www-authenticate", c.parse().unwrap());
                    }
                }
                res
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

/// Waits (up to 5 s) for something a background task does.
async fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The token the source hands out once its background refresh has replaced `old`.
async fn next_token(source: &TokenSource, old: &AccessToken) -> AccessToken {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let t = source.token().await.unwrap();
        if &t != old || std::time::Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_token_inside_its_refresh_margin_is_used_and_refreshed_behind() {
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
    // Still valid: handed out at once, while a refresh runs behind.
    assert_eq!(source.token().await.unwrap(), t1);
    let t2 = next_token(&source, &t1).await;
    assert_ne!(t2, t1);
    assert_eq!(idp.token_requests(), 2);

    // A failed refresh while the cached token is still valid keeps using it.
    idp.set_token_fault(Some(Fault::Status(500)));
    clock.advance(Duration::from_secs(3600 - 30));
    let before = idp.token_requests();
    assert_eq!(source.token().await.unwrap(), t2);
    wait_for(|| idp.token_requests() > before).await;
    assert!(idp.token_requests() > before);
    // Once it has expired, the failure is the answer.
    clock.advance(Duration::from_secs(31));
    let err = source.token().await.unwrap_err();
    assert_eq!(err.kind(), &TokenErrorKind::Unavailable);
}

#[tokio::test]
async fn the_margin_is_never_more_than_half_the_lifetime() {
    let idp = TestIssuer::builder().client("short", SECRET, &["a"]).token_lifetime(60).start().await;
    let clock = ManualClock::now();
    let creds = ServiceCredentials::new("short", SECRET, TokenEndpoint::Url(idp.token_url()));
    let source = TokenSource::builder(creds).clock(clock.clone()).build().unwrap();
    let t1 = source.token().await.unwrap();
    clock.advance(Duration::from_secs(29));
    assert_eq!(source.token().await.unwrap(), t1, "a 60 s token is used for 30 s");
    assert_eq!(idp.token_requests(), 1);
    clock.advance(Duration::from_secs(1));
    assert_ne!(next_token(&source, &t1).await, t1);
    assert_eq!(idp.token_requests(), 2);
}

#[tokio::test]
async fn a_token_endpoint_outage_never_delays_a_call_while_the_token_is_valid() {
    let idp = issuer().await;
    let clock = ManualClock::now();
    let source = TokenSource::builder(permiso_creds(&idp, SECRET))
        .clock(clock.clone())
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let t1 = source.token().await.unwrap();
    // The endpoint hangs; every call inside the margin still gets the valid token at once.
    idp.set_token_fault(Some(Fault::Slow(Duration::from_secs(10))));
    clock.advance(Duration::from_secs(3600 - 30));
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(source.token().await.unwrap(), t1);
    }
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    // One background refresh at a time, however many calls.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(idp.token_requests(), 2);
    // Back up: the background refresh (after its backoff) replaces the token.
    idp.set_token_fault(None);
    wait_for(|| idp.token_requests() >= 3).await;
    clock.advance(Duration::from_secs(5));
    assert_ne!(next_token(&source, &t1).await, t1);
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

#[tokio::test]
async fn a_target_that_refuses_every_token_costs_one_refetch_per_interval() {
    let idp = issuer().await;
    let t = Target {
        always_401: true,
        challenge: Some(r#"Bearer realm="x", error="invalid_token", error_description="revoked""#),
        ..Target::default()
    };
    let base = target(t.clone()).await;
    let clock = ManualClock::now();
    let source = TokenSource::builder(permiso_creds(&idp, SECRET)).clock(clock.clone()).build().unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source))
        .build();
    for _ in 0..20 {
        assert_eq!(client.get(&base).send().await.unwrap().status(), 401);
    }
    // One fetch, one forced refetch; not 21.
    assert_eq!(idp.token_requests(), 2);
    assert_eq!(t.requests.load(Ordering::SeqCst), 21);
    // After the interval, a 401 may force one more.
    clock.advance(Duration::from_secs(31));
    assert_eq!(client.get(&base).send().await.unwrap().status(), 401);
    assert_eq!(idp.token_requests(), 3);
}

#[tokio::test]
async fn a_401_that_is_not_about_the_token_is_not_retried() {
    let idp = issuer().await;
    for challenge in [r#"Bearer realm="x", error="invalid_request""#, r#"Bearer error="insufficient_scope""#]
    {
        let t = Target { always_401: true, challenge: Some(challenge), ..Target::default() };
        let base = target(t.clone()).await;
        let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(BearerMiddleware::new(source.clone()))
            .build();
        let before = idp.token_requests();
        assert_eq!(client.get(&base).send().await.unwrap().status(), 401);
        assert_eq!(t.requests.load(Ordering::SeqCst), 1, "{challenge}");
        assert_eq!(idp.token_requests(), before + 1, "{challenge}");
    }
}

/// A token endpoint that redirects (307 keeps the method and the body) to a thief that
/// records what it gets.
async fn redirecting_endpoint() -> (String, Arc<AtomicU64>) {
    let stolen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&stolen);
    let thief = serve(Router::new().route(
        "/steal",
        axum::routing::any(move || {
            s.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(serde_json::json!({"access_token": "x", "token_type": "Bearer"})) }
        }),
    ))
    .await;
    let endpoint = serve(Router::new().route(
        "/token",
        axum::routing::post(move || {
            let to = format!("{thief}/steal");
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
        }),
    ))
    .await;
    (format!("{endpoint}/token"), stolen)
}

#[tokio::test]
async fn the_token_request_never_follows_a_redirect_even_with_the_users_client() {
    let (url, stolen) = redirecting_endpoint().await;
    for auth in [ClientAuth::SecretPost, ClientAuth::SecretBasic] {
        let creds = ServiceCredentials::new("payment-service", SECRET, TokenEndpoint::Url(url.clone()));
        // A builder that follows redirects, as reqwest's default does.
        let source = TokenSource::builder(creds)
            .client_auth(auth)
            .http_client_builder(reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(5)))
            .max_attempts(1)
            .build()
            .unwrap();
        let err = source.token().await.unwrap_err();
        assert_eq!(err.status(), Some(307));
        assert!(!err.to_string().contains(SECRET));
    }
    assert_eq!(stolen.load(Ordering::SeqCst), 0, "the secret went to the redirect target");
}

#[tokio::test]
async fn a_422_echoing_the_form_never_puts_the_secret_in_the_error() {
    // FastAPI-style validation error listing the submitted form, secret included.
    let endpoint = serve(Router::new().route(
        "/token",
        axum::routing::post(|body: String| async move {
            let fields: Vec<(String, String)> =
                url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({
                    "error": "validation_error",
                    "error_description": [{"loc": ["body"], "msg": "bad", "input": fields}],
                })),
            )
        }),
    ))
    .await;
    let creds =
        ServiceCredentials::new("payment-service", SECRET, TokenEndpoint::Url(format!("{endpoint}/token")));
    let err = TokenSource::new(creds).unwrap().token().await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (&TokenErrorKind::InvalidRequest, Some(422)));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "{shown}");
}

/// Review round 3, finding 9: a joined path cannot climb out of the base URL, in any
/// spelling, with the caller's token: such a request is never sent.
#[tokio::test]
async fn a_remote_service_path_never_leaves_its_base_url() {
    let idp = issuer().await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&seen);
    let gateway = serve(Router::new().fallback(move |uri: axum::http::Uri| {
        log.lock().unwrap().push(uri.to_string());
        async { "reached" }
    }))
    .await;
    let source = TokenSource::new(permiso_creds(&idp, SECRET)).unwrap();
    let users = permiso::client::RemoteService::new(&format!("{gateway}/user-service/"), source).unwrap();
    assert_eq!(users.get("/api/v1/users/1").send().await.unwrap().text().await.unwrap(), "reached");
    for path in [
        "/%2E%2E/billing-service/api/v1/invoices",
        "/api/%2e%2e/%2e%2e/billing-service/x",
        "../billing-service/x",
        "/api/./v1/users",
        "/api/.%2E/.%2e/billing-service/x",
    ] {
        assert!(users.url(path).is_err(), "{path}");
        let err = users.get(path).send().await.unwrap_err();
        assert!(err.to_string().contains("the path is refused"), "{path}: {err}");
    }
    assert_eq!(*seen.lock().unwrap(), ["/user-service/api/v1/users/1"], "only the allowed call was sent");
}

/// Issue 22: a caller's error says which endpoint it asked (never the secret), what status
/// came back and, when nothing answered, the transport error. A wrong `AUTH_SERVICE_URL`
/// reads as such, not as "not a token response".
#[tokio::test]
async fn token_errors_name_the_endpoint_the_status_and_the_cause() {
    let idp = issuer().await;
    let creds = |base: String| {
        ServiceCredentials::from_env_vars(
            "payment",
            [
                ("AUTH_SERVICE_URL", base),
                ("PAYMENT_CLIENT_ID", "payment-service".into()),
                ("PAYMENT_CLIENT_SECRET", SECRET.into()),
            ],
        )
        .unwrap()
    };
    // The issuer's root instead of its /api/v1: a 404.
    let wrong = TokenSource::new(creds(idp.url().to_owned())).unwrap();
    let err = wrong.token().await.unwrap_err();
    let shown = err.to_string();
    let endpoint = format!("{}/auth/service-token", idp.url());
    assert_eq!((err.status(), err.endpoint()), (Some(404), Some(endpoint.as_str())), "{shown}");
    assert!(shown.contains(&endpoint) && shown.contains("HTTP 404"), "{shown}");
    assert!(shown.contains("AUTH_SERVICE_URL"), "{shown}");
    assert!(!shown.contains(SECRET) && !format!("{err:?}").contains(SECRET), "{shown}");

    // Nothing listens there: the transport error, not just "unavailable".
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let source = TokenSource::builder(creds(format!("{closed}/api/v1"))).max_attempts(1).build().unwrap();
    let err = source.token().await.unwrap_err();
    let shown = err.to_string();
    assert_eq!(err.kind(), &TokenErrorKind::Unavailable, "{shown}");
    assert!(shown.contains(&format!("{closed}/api/v1/auth/service-token")), "{shown}");
    let cause = err.cause().unwrap_or_default().to_lowercase();
    assert!(cause.contains("connect") || cause.contains("refused"), "{shown}");
}

/// Issue 22: `RemoteService` signs its requests when told to (`{NAME}_SERVICE_SIGNED=true`),
/// with the caller's own client secret, for a service that requires signatures; the body a
/// handler reads is the one signed.
#[tokio::test]
async fn a_remote_service_signs_when_configured() {
    use permiso::signing::{RequestSigning, SignatureMode};
    let idp = issuer().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let signing = RequestSigning::new(SignatureMode::Required, base.clone())
        .client_secret("payment-service", SECRET)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/api/v1/users", axum::routing::post(|body: String| async move { format!("got {body}") }))
        .layer(permiso::AuthLayer::builder(verifier).signatures(signing).build());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let vars = |signed: &str| {
        [
            ("AUTH_SERVICE_URL", format!("{}/api/v1", idp.url())),
            ("PAYMENT_CLIENT_ID", "payment-service".into()),
            ("PAYMENT_CLIENT_SECRET", SECRET.into()),
            ("USER_SERVICE_URL", base.clone()),
            ("USER_SERVICE_SIGNED", signed.into()),
        ]
    };
    let service = |signed: &str| {
        let source = TokenSource::from_env_vars("payment", vars(signed)).unwrap();
        permiso::client::RemoteService::from_env_vars("user", source, vars(signed)).unwrap()
    };
    let body = r#"{"name": "Ada"}"#;
    let res = service("true").post("/api/v1/users").body(body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), format!("got {body}"));
    let res = service("false").post("/api/v1/users").body(body).send().await.unwrap();
    assert_eq!(res.status(), 401, "unsigned: refused");
    assert!(res.text().await.unwrap().contains("invalid_signature"));
    let source = TokenSource::from_env_vars("payment", vars("maybe")).unwrap();
    let err = permiso::client::RemoteService::from_env_vars("user", source, vars("maybe")).unwrap_err();
    assert!(err.to_string().contains("USER_SERVICE_SIGNED"), "{err}");
}
