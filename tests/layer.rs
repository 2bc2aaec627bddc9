//! The layer and the extractors over real HTTP: optional mode, custom rejections, a missing
//! layer, `Option<…>` extractors, any-of scopes, header abuse, and the tower guard on plain
//! hyper.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use permiso::extract::{RequireAnyScope, RequireScopes, ServiceClient, TrustedClient};
use permiso::testing::TestIssuer;
use permiso::{AuthError, AuthLayer, RequireLayer, Verifier, scopes};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt};

scopes! {
    ReadBilling = "read:billing";
    AdminBilling = "admin:billing";
    ReadUsers = "read:users";
}

async fn verifier(idp: &TestIssuer) -> Verifier {
    let v = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    v.warm_up().await.unwrap();
    v
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn get_json(url: &str, auth: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, www, res.json().await.unwrap_or(Value::Null))
}

async fn whoami(client: Option<ServiceClient>, admin: Option<TrustedClient>) -> axum::Json<Value> {
    axum::Json(json!({
        "client": client.as_ref().map(|c| c.client_id().to_owned()),
        "trusted": admin.is_some(),
    }))
}

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_through_but_not_bad_tokens() {
    let idp = TestIssuer::start().await;
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/billing", get(|_: RequireScopes<ReadBilling>| async { "ok" }))
        .layer(AuthLayer::new(verifier(&idp).await).optional());
    let base = serve(app).await;

    let (status, _, body) = get_json(&format!("{base}/whoami"), None).await;
    assert_eq!((status, body), (200, json!({"client": null, "trusted": false})));

    let token = idp.token("svc", &["read:billing"]);
    let (status, _, body) = get_json(&format!("{base}/whoami"), Some(&format!("Bearer {token}"))).await;
    assert_eq!((status, body), (200, json!({"client": "svc", "trusted": false})));

    let (status, www, body) = get_json(&format!("{base}/whoami"), Some("Bearer x.y.z")).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")));
    assert!(www.unwrap().contains("error=\"invalid_token\""));

    // A route that needs a scope still says 401 to an anonymous caller.
    let (status, www, body) = get_json(&format!("{base}/billing"), None).await;
    assert_eq!(status, 401);
    assert_eq!(www.as_deref(), Some("Bearer realm=\"keystone-auth\""));
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn any_of_scopes_and_implication() {
    let idp = TestIssuer::start().await;
    let app = Router::new()
        .route("/any", get(|_: RequireAnyScope<(ReadBilling, ReadUsers)>| async { "ok" }))
        .route("/all", get(|_: RequireScopes<(ReadBilling, ReadUsers)>| async { "ok" }))
        .route("/admin", get(|_: RequireScopes<AdminBilling>| async { "ok" }))
        .layer(AuthLayer::new(verifier(&idp).await));
    let base = serve(app).await;
    let call = |path: &'static str, scopes: &'static [&'static str]| {
        let token = idp.token("svc", scopes);
        let base = base.clone();
        async move { get_json(&format!("{base}{path}"), Some(&format!("Bearer {token}"))).await }
    };

    assert_eq!(call("/any", &["read:users"]).await.0, 200);
    assert_eq!(call("/any", &["admin:billing"]).await.0, 200, "admin:billing implies read:billing");
    let (status, www, body) = call("/any", &["write:users"]).await;
    assert_eq!(status, 403);
    assert!(www.unwrap().contains("scope=\"read:billing read:users\""));
    assert_eq!(body["error"], "insufficient_scope");

    assert_eq!(call("/all", &["read:users", "admin:billing"]).await.0, 200);
    let (status, _, body) = call("/all", &["read:users"]).await;
    assert_eq!((status, body["scope"].as_str()), (403, Some("read:billing read:users")));
    // Implication never runs upwards.
    assert_eq!(call("/admin", &["read:billing", "write:billing"]).await.0, 403);
}

#[tokio::test]
async fn extractors_without_the_layer_answer_500() {
    let app = Router::new()
        .route("/client", get(|c: ServiceClient| async move { c.client_id().to_owned() }))
        .route("/optional", get(|c: Option<ServiceClient>| async move { format!("{}", c.is_some()) }));
    let base = serve(app).await;
    for path in ["/client", "/optional"] {
        let (status, _, body) = get_json(&format!("{base}{path}"), Some("Bearer a.b.c")).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(body["error"], "server_error");
        assert!(body["error_description"].as_str().unwrap().contains("AuthLayer"), "{body}");
    }
}

#[tokio::test]
async fn a_custom_rejection_replaces_the_response() {
    let idp = TestIssuer::start().await;
    let layer = AuthLayer::new(verifier(&idp).await).realm("payments").on_rejection(
        |err: &AuthError, realm: &str| {
            let mut res = err.to_response(realm);
            res.headers_mut().insert("x-denied", err.status().as_str().parse().unwrap());
            res
        },
    );
    assert!(format!("{layer:?}").contains("<fn>"));
    let app = Router::new().route("/", get(|| async { "ok" })).layer(layer);
    let base = serve(app).await;
    let res = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["x-denied"], "401");
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"payments\"");
}

#[tokio::test]
async fn header_abuse_is_400_invalid_request() {
    let idp = TestIssuer::start().await;
    let app = Router::new().route("/", get(|| async { "ok" })).layer(AuthLayer::new(verifier(&idp).await));
    let base = serve(app).await;
    let token = idp.token("svc", &[]);
    let http = reqwest::Client::new();

    let twice = http
        .get(format!("{base}/"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let in_query = http
        .get(format!("{base}/?access_token={token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    for res in [twice, in_query] {
        assert_eq!(res.status(), 400);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_request\""));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    // Basic credentials are not a bearer token: 401 without an error code.
    let (status, www, _) = get_json(&format!("{base}/"), Some("Basic dXNlcjpwdw==")).await;
    assert_eq!((status, www.as_deref()), (401, Some("Bearer realm=\"keystone-auth\"")));
}

/// A service whose readiness is reported as an error: the layer must pass it through.
#[derive(Clone)]
struct NeverReady;

impl Service<Request<Full<Bytes>>> for NeverReady {
    type Response = Response<Full<Bytes>>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Err("overloaded"))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
    }
}

#[tokio::test]
async fn poll_ready_passes_through() {
    let idp = TestIssuer::start().await;
    let svc = ServiceBuilder::new().layer(AuthLayer::new(verifier(&idp).await)).service(NeverReady);
    let err = svc.oneshot(Request::new(Full::new(Bytes::new()))).await.unwrap_err();
    assert_eq!(err, "overloaded");
}

/// The guard on plain hyper: a tower stack per route, no axum.
#[tokio::test]
async fn the_tower_guard_protects_plain_hyper_routes() {
    let idp = TestIssuer::start().await;
    let v = verifier(&idp).await;
    let handler = tower::service_fn(|_: Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}"))))
    });
    let billing =
        ServiceBuilder::new().layer(AuthLayer::new(v)).layer(RequireLayer::trusted_client()).service(handler);
    let unguarded = ServiceBuilder::new().layer(RequireLayer::scopes(["read:x"])).service(handler);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (billing, unguarded) = (billing.clone(), unguarded.clone());
            let route = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (mut billing, mut unguarded) = (billing.clone(), unguarded.clone());
                async move {
                    if req.uri().path() == "/billing" {
                        billing.call(req).await.map(|r| r.map(http_body_util::Either::Left))
                    } else {
                        unguarded.call(req).await.map(|r| r.map(http_body_util::Either::Right))
                    }
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, route).await;
            });
        }
    });

    let untrusted = idp.token("svc", &[]);
    let mut c = idp.claims_for("admin-svc", &[]);
    c["is_trusted"] = json!(true);
    let trusted = idp.sign(&c);

    let (status, www, body) =
        get_json(&format!("{base}/billing"), Some(&format!("Bearer {untrusted}"))).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")));
    assert!(www.unwrap().contains("error=\"insufficient_scope\""));
    let (status, _, body) = get_json(&format!("{base}/billing"), Some(&format!("Bearer {trusted}"))).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    let (status, _, body) = get_json(&format!("{base}/billing"), None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));
    // A guard without AuthLayer in front of it is a server bug: 500, never a pass.
    let (status, _, body) = get_json(&format!("{base}/other"), Some(&format!("Bearer {trusted}"))).await;
    assert_eq!((status, body["error"].as_str()), (500, Some("server_error")));
}

#[test]
#[should_panic(expected = "needs at least one scope")]
fn an_empty_scope_requirement_is_refused_when_the_layer_is_built() {
    let _ = permiso::RequireLayer::scopes(Vec::<String>::new());
}

#[test]
#[should_panic(expected = "needs at least one scope")]
fn an_empty_any_scope_requirement_is_refused_too() {
    let _ = permiso::RequireLayer::any_scope([""]);
}

/// A rejection shaped by the service: its own header, and the reason in its own JSON.
fn shaped(err: &AuthError, realm: &str) -> http::Response<Bytes> {
    let mut res = err.to_response(realm);
    res.headers_mut().insert("x-shaped", "yes".parse().unwrap());
    *res.body_mut() =
        Bytes::from(json!({"denied": err.status().as_u16(), "why": err.description()}).to_string());
    res
}

/// Serves one tower service (plain hyper) on a loopback port.
async fn serve_tower<S, B>(svc: S) -> String
where
    S: tower::Service<Request<hyper::body::Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    });
    base
}

async fn ok(_: Request<hyper::body::Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    Ok(http::Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}"))))
}

#[tokio::test]
async fn on_rejection_shapes_the_extractors_403() {
    let idp = TestIssuer::start().await;
    let app = Router::new()
        .route("/users", get(|_: RequireScopes<ReadUsers>| async { "users" }))
        .layer(AuthLayer::new(verifier(&idp).await).on_rejection(shaped));
    let base = serve(app).await;
    let token = idp.token("svc", &["read:billing"]);
    let res = reqwest::Client::new().get(format!("{base}/users")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["x-shaped"], "yes");
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"denied": 403, "why": "the token lacks a required scope"}));
}

#[tokio::test]
async fn on_rejection_shapes_the_guards_403_and_typed_scopes_work_there() {
    let idp = TestIssuer::start().await;
    let guarded = ServiceBuilder::new()
        .layer(AuthLayer::new(verifier(&idp).await).on_rejection(shaped))
        .layer(RequireLayer::require_scopes::<(ReadBilling, ReadUsers)>())
        .service_fn(ok);
    let base = serve_tower(guarded).await;
    let http = reqwest::Client::new();
    let partial = idp.token("svc", &["read:billing"]);
    let res = http.get(&base).bearer_auth(&partial).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["x-shaped"], "yes");
    let www = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.contains(r#"scope="read:billing read:users""#), "{www}");
    assert_eq!(res.json::<Value>().await.unwrap()["denied"], 403);
    // admin:billing implies read:billing; with read:users both are met.
    let both = idp.token("svc", &["admin:billing", "read:users"]);
    let res = http.get(&base).bearer_auth(&both).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn on_rejection_shapes_the_missing_layer_500() {
    let idp = TestIssuer::start().await;
    // The guard with no AuthLayer before it: a server bug, answered 500 as it says.
    let orphan =
        ServiceBuilder::new().layer(RequireLayer::trusted_client().on_rejection(shaped)).service_fn(ok);
    let base = serve_tower(orphan).await;
    let res = reqwest::Client::new().get(&base).bearer_auth(idp.token("svc", &[])).send().await.unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["x-shaped"], "yes");
    assert!(res.headers().get("www-authenticate").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["denied"], 500);
    assert!(body["why"].as_str().unwrap().contains("AuthLayer"));
}
