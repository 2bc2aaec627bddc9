//! Where callers put the token: `Authorization`, a gateway's header, a cookie, the
//! `access_token` query parameter (only when named), configured by `PERMISO_TOKEN_LOCATIONS`
//! on the `payment_service` routes, served on a bound port and called with a real client.

#[path = "../examples/payment_service/routes.rs"]
mod routes;
#[path = "support/served.rs"]
mod served;

use permiso::AuthLayer;
use permiso::testing::TestIssuer;
use serde_json::Value;
use served::serve_from_env;

async fn status_and_error(res: reqwest::Response) -> (u16, Option<String>) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or_default();
    (status, body["error"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn each_configured_location_carries_the_token_and_only_one_may() {
    let idp = TestIssuer::start().await;
    let token = idp.token("payment-service", &["read:transactions"]);
    let all = "header:authorization,header:x-access-token,cookie:access_token,query:access_token";
    let base = serve_from_env(&idp, &[("PERMISO_TOKEN_LOCATIONS", all)]).await;
    let url = format!("{base}/api/v1/transactions");
    let http = reqwest::Client::new();

    let by_header = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(by_header.status(), 200);
    let by_gateway = http.get(&url).header("x-access-token", &token).send().await.unwrap();
    assert_eq!(by_gateway.status(), 200);
    let by_cookie =
        http.get(&url).header("cookie", format!("theme=dark; access_token={token}")).send().await.unwrap();
    assert_eq!(by_cookie.status(), 200);
    let by_query = http.get(format!("{url}?access_token={token}")).send().await.unwrap();
    assert_eq!(by_query.status(), 200);
    assert_eq!(by_query.json::<Value>().await.unwrap()["caller"], "payment-service");

    // Two places at once: 400 invalid_request, whichever two.
    let two = http
        .get(&url)
        .bearer_auth(&token)
        .header("cookie", format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_error(two).await, (400, Some("invalid_request".into())));
    let two = http
        .get(format!("{url}?access_token={token}"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_error(two).await, (400, Some("invalid_request".into())));

    // A bad token in a cookie is still a bad token; none anywhere is a 401 without error.
    let bad = http.get(&url).header("cookie", "access_token=not.a.token").send().await.unwrap();
    assert_eq!(status_and_error(bad).await, (401, Some("invalid_token".into())));
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], r#"Bearer realm="keystone-auth""#);
}

#[tokio::test]
async fn the_query_parameter_is_refused_unless_named() {
    let idp = TestIssuer::start().await;
    let token = idp.token("payment-service", &["read:transactions"]);
    let http = reqwest::Client::new();
    for locations in [None, Some("header:x-access-token,cookie:access_token")] {
        let extra: Vec<_> = locations.map(|l| ("PERMISO_TOKEN_LOCATIONS", l)).into_iter().collect();
        let base = serve_from_env(&idp, &extra).await;
        let res = http.get(format!("{base}/api/v1/transactions?access_token={token}")).send().await.unwrap();
        assert_eq!(status_and_error(res).await, (400, Some("invalid_request".into())), "{locations:?}");
        // …and the other places are not read unless named.
        let res = http
            .get(format!("{base}/api/v1/transactions"))
            .header("x-forwarded-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let err = AuthLayer::from_env_vars([
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", "a-shared-secret-of-at-least-32-bytes!!"),
        ("PERMISO_TOKEN_LOCATIONS", "body:access_token"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("PERMISO_TOKEN_LOCATIONS"), "{err}");
}
