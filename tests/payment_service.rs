//! The payment service's router served on a bound port and called over real HTTP with
//! tokens from a `TestIssuer`: every route against every kind of caller.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use permiso::Verifier;
use permiso::testing::TestIssuer;
use reqwest::Method;
use serde_json::{Value, json};

struct Service {
    base: String,
    http: reqwest::Client,
}

async fn serve(idp: &TestIssuer) -> Service {
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    Service { base, http: reqwest::Client::new() }
}

struct Answer {
    status: u16,
    www: Option<String>,
    body: Value,
}

impl Service {
    async fn call(&self, method: Method, path: &str, authorization: Option<&str>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let www = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        Answer { status, www, body: res.json().await.unwrap_or(Value::Null) }
    }
}

/// What a call must get: a status and, for rejections, the RFC 6750 error and `scope`.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Ok,
    NoToken,
    Error(u16, &'static str),
    Scope(&'static str),
}

fn check(what: &str, a: &Answer, expect: Expect) {
    match expect {
        Expect::Ok => {
            assert_eq!(a.status, 200, "{what}: {:?}", a.body);
            assert!(a.www.is_none(), "{what}");
        }
        Expect::NoToken => {
            assert_eq!(a.status, 401, "{what}");
            assert_eq!(a.www.as_deref(), Some("Bearer realm=\"keystone-auth\""), "{what}");
            assert_eq!(a.body["error"], "unauthorized", "{what}");
        }
        Expect::Error(status, error) => {
            assert_eq!(a.status, status, "{what}: {:?}", a.body);
            let www = a.www.as_deref().unwrap_or_default();
            assert!(www.starts_with("Bearer realm=\"keystone-auth\""), "{what}: {www}");
            assert!(www.contains(&format!("error=\"{error}\"")), "{what}: {www}");
            assert!(www.contains("error_description=\""), "{what}: {www}");
            assert_eq!(a.body["error"], error, "{what}");
            assert!(a.body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
        }
        Expect::Scope(scope) => {
            check(what, a, Expect::Error(403, "insufficient_scope"));
            let www = a.www.as_deref().unwrap_or_default();
            assert!(www.contains(&format!("scope=\"{scope}\"")), "{what}: {www}");
            assert_eq!(a.body["scope"], scope, "{what}");
        }
    }
}

#[tokio::test]
async fn every_route_against_every_caller() {
    let idp = TestIssuer::start().await;
    let svc = serve(&idp).await;

    let claims = |scopes: &[&str], trusted: bool| {
        let mut c = idp.claims_for("payment-service", scopes);
        c["is_trusted"] = json!(trusted);
        c
    };
    let rw = ["read:transactions", "write:transactions"];
    let expired = {
        let mut c = claims(&rw, true);
        c["exp"] = json!(c["iat"].as_u64().unwrap() - 120);
        idp.sign(&c)
    };
    let wrong_audience = {
        let mut c = claims(&rw, true);
        c["aud"] = json!(["billing-api"]);
        idp.sign(&c)
    };
    let missing_scope = idp.sign(&claims(&["read:users"], false));
    let implied = idp.sign(&claims(&["admin:transactions"], false));
    let untrusted = idp.sign(&claims(&rw, false));
    let trusted = idp.sign(&claims(&rw, true));
    let b = |t: &str| format!("Bearer {t}");

    let routes = [
        (Method::GET, "/api/v1/transactions", "read:transactions"),
        (Method::POST, "/api/v1/transactions", "write:transactions"),
        (Method::GET, "/api/v1/admin/billing", ""),
    ];
    for (method, path, scope) in routes {
        let admin = path.contains("admin");
        let cases: Vec<(&str, Option<String>, Expect)> = vec![
            ("no token", None, Expect::NoToken),
            ("malformed header", Some("Bearer not a token".into()), Expect::Error(400, "invalid_request")),
            ("expired", Some(b(&expired)), Expect::Error(401, "invalid_token")),
            ("wrong audience", Some(b(&wrong_audience)), Expect::Error(401, "invalid_token")),
            (
                "missing scope",
                Some(b(&missing_scope)),
                if admin { Expect::Error(403, "insufficient_scope") } else { Expect::Scope(scope) },
            ),
            (
                "implied by admin:transactions",
                Some(b(&implied)),
                if admin { Expect::Error(403, "insufficient_scope") } else { Expect::Ok },
            ),
            (
                "untrusted",
                Some(b(&untrusted)),
                if admin { Expect::Error(403, "insufficient_scope") } else { Expect::Ok },
            ),
            ("trusted", Some(b(&trusted)), Expect::Ok),
        ];
        for (what, auth, expect) in cases {
            let answer = svc.call(method.clone(), path, auth.as_deref()).await;
            check(&format!("{method} {path}, {what}"), &answer, expect);
        }
    }
    // The open route stays open, and nothing above cost more than one key fetch.
    let health = svc.call(Method::GET, "/health", None).await;
    assert_eq!((health.status, health.body["status"].as_str()), (200, Some("ok")));
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn handlers_see_who_is_calling() {
    let idp = TestIssuer::start().await;
    let svc = serve(&idp).await;
    let token = idp.token("ledger-service", &["read:transactions"]);
    let a = svc.call(Method::GET, "/api/v1/transactions", Some(&format!("Bearer {token}"))).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["caller"], "ledger-service");
}

#[tokio::test]
async fn a_user_token_is_not_a_service_token() {
    let idp = TestIssuer::start().await;
    let svc = serve(&idp).await;
    let mut c = idp.claims_for("alice", &["read:transactions"]);
    c["type"] = json!("user");
    let a = svc.call(Method::GET, "/api/v1/transactions", Some(&format!("Bearer {}", idp.sign(&c)))).await;
    // As the permiso server answers it: 401, the token is not one this route accepts.
    check("user token", &a, Expect::Error(401, "invalid_token"));
    assert_eq!(a.body["error_description"], "not a service token");
    // A refresh token or a token with no type, likewise; on the trusted-only route too.
    for (ty, path) in [
        (Some("refresh"), "/api/v1/admin/billing"),
        (None, "/api/v1/transactions"),
        (Some("Service"), "/api/v1/admin/billing"),
    ] {
        let mut c = idp.claims_for("payment-service", &["read:transactions"]);
        match ty {
            Some(t) => c["type"] = json!(t),
            None => {
                c.as_object_mut().unwrap().remove("type");
            }
        }
        let a = svc.call(Method::GET, path, Some(&format!("Bearer {}", idp.sign(&c)))).await;
        check(&format!("type {ty:?}"), &a, Expect::Error(401, "invalid_token"));
        // A refresh token is refused before anything else: it is no access token at all.
        let why = if ty == Some("refresh") {
            "a refresh token is not an access token"
        } else {
            "not a service token"
        };
        assert_eq!(a.body["error_description"], why);
    }
}

#[tokio::test]
async fn unreachable_keys_are_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    let token = idp.token("payment-service", &["read:transactions"]);
    idp.shutdown();
    let svc = serve(&idp).await;
    let res =
        svc.http.get(format!("{}/api/v1/transactions", svc.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let www = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.contains("error=\"temporarily_unavailable\""), "{www}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Nothing about the key server leaks to the caller.
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}
