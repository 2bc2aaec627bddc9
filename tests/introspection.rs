//! Introspection against `TestIssuer`'s two endpoints over real HTTP on loopback: RFC 7662
//! (form body, `client_secret_basic`) and the permiso server's `/api/v1/auth/introspect`
//! (JSON body, the resource server's own service token as bearer), in front of the
//! `payment_service` routes served on a bound port and called with a real client.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::time::Duration;

use permiso::client::{ServiceCredentials, TokenEndpoint, TokenSource};
use permiso::introspection::Introspection;
use permiso::testing::{Fault, TestIssuer};
use permiso::{Issuer, Verifier};
use serde_json::Value;

const API_SECRET: &str = "payments-api-secret";

async fn issuer() -> TestIssuer {
    TestIssuer::builder().client("payments-api", API_SECRET, &["introspect"]).start().await
}

async fn serve(verifier: Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    base
}

fn rfc7662(idp: &TestIssuer) -> Introspection {
    Introspection::rfc7662(idp.introspection_url()).client_secret_basic("payments-api", API_SECRET)
}

fn verifier_for(idp: &TestIssuer, introspection: Introspection) -> Verifier {
    Verifier::builder(["keystone-auth"])
        .issuer(Issuer::introspected(idp.issuer(), introspection))
        .build()
        .unwrap()
}

async fn get(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{base}/api/v1/transactions")).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn an_opaque_token_is_judged_by_rfc7662_and_its_answer_cached() {
    let idp = issuer().await;
    let verifier = verifier_for(&idp, rfc7662(&idp));
    let base = serve(verifier.clone()).await;
    let token = idp.opaque_token("payment-service", &["read:transactions"]);
    for _ in 0..5 {
        let res = get(&base, &token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["caller"], "payment-service");
    }
    assert_eq!(idp.introspection_calls(), 1, "one call per token per cache lifetime");
    let stats = verifier.introspection_stats(&idp.issuer()).unwrap();
    assert_eq!((stats.calls, stats.hits), (1, 4));

    // The scope is re-checked on every request: a write needs write:transactions.
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/transactions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));

    // Another audience's token: active at the issuer, refused here.
    let mut claims = idp.claims_for("payment-service", &["read:transactions"]);
    claims["aud"] = serde_json::json!(["another-api"]);
    let res = get(&base, &idp.opaque_token_with(claims)).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_token");

    // A token the issuer does not know: 401, and answered from the negative cache after.
    let unknown = "n0t-a-real-token-but-well-formed-43-charact";
    for _ in 0..3 {
        let res = get(&base, unknown).await;
        assert_eq!(res.status(), 401);
        let www = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(www.contains("error=\"invalid_token\""), "{www}");
        assert!(!res.text().await.unwrap().contains(unknown));
    }
    assert_eq!(idp.introspection_calls(), 3);
}

#[tokio::test]
async fn concurrent_requests_with_one_new_token_share_one_call() {
    let idp = issuer().await;
    let verifier = verifier_for(&idp, rfc7662(&idp));
    let base = serve(verifier).await;
    // Slow answers, so the requests are all waiting for the same call.
    idp.set_introspection_fault(Some(Fault::Slow(Duration::from_millis(300))));
    let token = idp.opaque_token("payment-service", &["read:transactions"]);
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (client, url, token) = (client.clone(), format!("{base}/api/v1/transactions"), token.clone());
        tasks.spawn(async move { client.get(url).bearer_auth(token).send().await.unwrap().status() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(idp.introspection_calls(), 1);
}

#[tokio::test]
async fn a_flood_of_random_tokens_costs_one_call_per_distinct_token() {
    let idp = issuer().await;
    // The longest negative cache: 10,000 requests can outlast the default 10 s on a loaded
    // machine, and each token would then be asked twice, as it should be.
    let introspection = rfc7662(&idp).negative_cache(std::time::Duration::from_secs(300));
    let verifier = verifier_for(&idp, introspection);
    let base = serve(verifier).await;
    let garbage: Vec<String> = (0..100).map(|i| format!("random-token-{i:04}-{}", "x".repeat(24))).collect();
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000 {
        let (client, url, token) =
            (client.clone(), format!("{base}/api/v1/transactions"), garbage[i % garbage.len()].clone());
        tasks.spawn(async move { client.get(url).bearer_auth(token).send().await.unwrap().status() });
        if tasks.len() >= 200 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap(), 401);
        }
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    let calls = idp.introspection_calls();
    assert!(calls <= 100, "{calls} calls for 100 distinct tokens");
}

#[tokio::test]
async fn an_endpoint_that_cannot_answer_gets_503_never_401_and_a_grace_is_bounded() {
    let idp = issuer().await;
    let introspection = rfc7662(&idp)
        .cache_max(Duration::from_secs(1))
        .grace(Duration::from_secs(30))
        .timeout(Duration::from_millis(300));
    let verifier = verifier_for(&idp, introspection);
    let base = serve(verifier.clone()).await;
    let known = idp.opaque_token("payment-service", &["read:transactions"]);
    assert_eq!(get(&base, &known).await.status(), 200);

    for fault in [
        Fault::Status(500),
        Fault::Garbage,
        Fault::Html,
        Fault::Empty,
        Fault::Redirect,
        Fault::Slow(Duration::from_secs(2)),
    ] {
        idp.set_introspection_fault(Some(fault.clone()));
        let fresh = idp.opaque_token("payment-service", &["read:transactions"]);
        let res = get(&base, &fresh).await;
        assert_eq!(res.status(), 503, "{fault:?}");
        assert_eq!(res.headers()["retry-after"], "1");
        let www = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(www.contains("temporarily_unavailable"), "{www}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    }
    // The known token, past its cache lifetime, within the grace: still accepted.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    idp.set_introspection_fault(Some(Fault::Status(503)));
    assert_eq!(get(&base, &known).await.status(), 200);
    assert!(verifier.introspection_stats(&idp.issuer()).unwrap().grace_uses >= 1);

    // Without a grace, the same is a 503.
    let strict = verifier_for(&idp, rfc7662(&idp).cache_max(Duration::from_secs(1)));
    let strict_base = serve(strict).await;
    idp.set_introspection_fault(None);
    assert_eq!(get(&strict_base, &known).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    idp.set_introspection_fault(Some(Fault::Status(503)));
    assert_eq!(get(&strict_base, &known).await.status(), 503);
}

#[tokio::test]
async fn a_token_revoked_at_the_issuer_is_refused_within_the_cache_maximum() {
    let idp = issuer().await;
    let verifier = verifier_for(&idp, rfc7662(&idp).cache_max(Duration::from_secs(1)));
    let base = serve(verifier).await;
    let token = idp.opaque_token("payment-service", &["read:transactions"]);
    assert_eq!(get(&base, &token).await.status(), 200);
    idp.revoke(&token);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = get(&base, &token).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error_description"], "the token is not active");
}

/// The permiso server's endpoint: the resource server holds no signing secret, only its own
/// client credentials; the service's JWTs are judged by the server.
#[tokio::test]
async fn permiso_style_with_the_resource_servers_own_token_refreshed_on_401() {
    let idp = issuer().await;
    let own = TokenSource::new(ServiceCredentials::new(
        "payments-api",
        API_SECRET,
        TokenEndpoint::Url(format!("{}/api/v1/auth/service-token", idp.url())),
    ))
    .unwrap();
    let introspection = Introspection::permiso(idp.permiso_introspection_url(), own.clone());
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(Issuer::permiso_introspected(idp.issuer(), introspection))
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let base = serve(verifier).await;

    let trusted = idp.token("payment-service", &["read:transactions"]);
    for _ in 0..3 {
        assert_eq!(get(&base, &trusted).await.status(), 200);
    }
    assert_eq!((idp.introspection_calls(), idp.token_requests()), (1, 1), "own token fetched once");

    // Our own token revoked early: the endpoint answers 401, one fresh token, one retry.
    idp.revoke(own.token().await.unwrap().secret());
    let second = idp.token("billing-service", &["read:transactions"]);
    let res = get(&base, &second).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["caller"], "billing-service");
    assert_eq!(idp.token_requests(), 2);

    // permiso's introspection ignores revocation, as the real server does; the revocation
    // list still applies here, cached answer or not.
    idp.revoke(&trusted);
    let res = get(&base, &trusted).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error_description"], "the token has been revoked");

    // A user's token (not type "service") is active at the server and still not let in.
    let mut user = idp.claims_for("alice", &["read:transactions"]);
    user["type"] = "user".into();
    assert_eq!(get(&base, &idp.sign(&user)).await.status(), 401);
}

#[tokio::test]
async fn introspection_is_configured_by_environment_alone() {
    let idp = issuer().await;
    let iss = idp.issuer();
    let url = idp.permiso_introspection_url();
    let verifier = Verifier::from_env_vars([
        ("PERMISO_ISSUER", iss.as_str()),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_INTROSPECTION_URL", url.as_str()),
        ("PERMISO_INTROSPECTION_STYLE", "permiso"),
        ("PERMISO_INTROSPECTION_CLIENT_ID", "payments-api"),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET", API_SECRET),
        ("PERMISO_INTROSPECTION_CACHE_MAX_SECS", "30"),
        ("PERMISO_INTROSPECTION_TIMEOUT_MS", "500"),
    ])
    .unwrap();
    let base = serve(verifier).await;
    let res = get(&base, &idp.token("payment-service", &["read:transactions"])).await;
    assert_eq!(res.status(), 200);
    // The token endpoint was derived from the introspection URL (the server's layout).
    assert_eq!(idp.token_requests(), 1);

    let err = Verifier::from_env_vars([
        ("PERMISO_ISSUER", iss.as_str()),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_INTROSPECTION_URL", url.as_str()),
        ("PERMISO_INTROSPECTION_CLIENT_ID", "payments-api"),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET", API_SECRET),
        ("PERMISO_INTROSPECTION_CACHE_MAX_SECS", "99999"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("PERMISO_INTROSPECTION_CACHE_MAX_SECS"), "{err}");
    assert!(!err.contains(API_SECRET));
}

/// The same from a TOML file: `[introspection]` belongs to the `[[issuer]]` without a key
/// source, beside one verified locally.
#[tokio::test]
async fn introspection_is_configured_by_a_toml_file_beside_a_local_issuer() {
    let idp = issuer().await;
    let dir = std::env::temp_dir().join(format!("permiso-introspection-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, format!("{API_SECRET}\n")).unwrap();
    let toml = format!(
        r#"
audience = ["keystone-auth"]

[[issuer]]
iss = "local-issuer"
secret = "a-shared-secret-of-at-least-32-bytes!!"

[[issuer]]
iss = "{iss}"

[introspection]
url = "{url}"
client_id = "payments-api"
client_secret_file = "{file}"
"#,
        iss = idp.issuer(),
        url = idp.introspection_url(),
        file = secret_file.display(),
    );
    let path = dir.join("permiso.toml");
    std::fs::write(&path, toml).unwrap();
    let verifier = Verifier::from_file(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let base = serve(verifier.clone()).await;
    assert_eq!(get(&base, &idp.opaque_token("payment-service", &["read:transactions"])).await.status(), 200);
    assert_eq!(verifier.introspection_stats(&idp.issuer()).unwrap().calls, 1);
    // The local issuer's tokens never go to the endpoint.
    assert!(verifier.introspection_stats("local-issuer").is_none());
}

/// `permiso_introspection_total{result}` counts what the answer cache and the endpoint did
/// (the recorder is global to this binary: only this test reads it).
#[tokio::test]
async fn introspection_is_counted_in_metrics() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let idp = issuer().await;
    let base = serve(verifier_for(&idp, rfc7662(&idp))).await;
    let token = idp.opaque_token("payment-service", &["read:transactions"]);
    for _ in 0..3 {
        assert_eq!(get(&base, &token).await.status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(get(&base, "not-known-to-the-issuer-0123456789abcdefgh").await.status(), 401);
    }
    idp.set_introspection_fault(Some(Fault::Status(500)));
    assert_eq!(get(&base, &idp.opaque_token("payment-service", &[])).await.status(), 503);
    let text = handle.render();
    let count = |result: &str| -> u64 {
        let prefix = format!("permiso_introspection_total{{result=\"{result}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
    };
    assert!(count("active") >= 1 && count("hit") >= 2, "{text}");
    assert!(count("inactive") >= 1 && count("negative_hit") >= 1, "{text}");
    assert!(count("error") >= 1, "{text}");
    assert!(!text.contains(&token));
}

/// An introspected token bound to a DPoP key (`cnf.jkt` in the answer) is only good with a
/// proof by that key; `is_trusted` from the permiso server's token opens trusted routes.
#[tokio::test]
async fn binding_and_trust_work_unchanged_for_introspected_tokens() {
    let idp = TestIssuer::builder().trusted_client("payments-api", API_SECRET, &["introspect"]).start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(Issuer::introspected(idp.issuer(), rfc7662(&idp)))
        .dpop(permiso::dpop::Dpop::new(permiso::dpop::DpopMode::Allowed).public_base_url(base.clone()))
        .build()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    let key = permiso::dpop::DpopKey::generate().unwrap();
    let mut claims = idp.claims_for("payment-service", &["read:transactions"]);
    claims["cnf"] = serde_json::json!({ "jkt": key.thumbprint() });
    let bound = idp.opaque_token_with(claims);
    let url = format!("{base}/api/v1/transactions");
    let http = reqwest::Client::new();
    let stolen = http.get(&url).bearer_auth(&bound).send().await.unwrap();
    assert_eq!(stolen.status(), 401);
    let proof = key.proof("GET", &url, Some(&bound), None);
    let res = http
        .get(&url)
        .header("authorization", format!("DPoP {bound}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["dpop_bound"], true);

    // permiso style: the trusted client's token (is_trusted in its payload) reaches the admin
    // route; an untrusted one gets 403.
    let own = TokenSource::new(ServiceCredentials::new(
        "payments-api",
        API_SECRET,
        TokenEndpoint::Url(format!("{}/api/v1/auth/service-token", idp.url())),
    ))
    .unwrap();
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(Issuer::permiso_introspected(
            idp.issuer(),
            Introspection::permiso(idp.permiso_introspection_url(), own),
        ))
        .build()
        .unwrap();
    let base = serve(verifier).await;
    let mut trusted = idp.claims_for("billing-service", &["read:transactions"]);
    trusted["is_trusted"] = true.into();
    let admin = format!("{base}/api/v1/admin/billing");
    assert_eq!(http.get(&admin).bearer_auth(idp.sign(&trusted)).send().await.unwrap().status(), 200);
    let untrusted = idp.token("payment-service", &["read:transactions"]);
    assert_eq!(http.get(&admin).bearer_auth(untrusted).send().await.unwrap().status(), 403);
}
