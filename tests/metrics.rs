//! `/metrics` scraped over HTTP after a scripted mix of requests: the payment service with a
//! Prometheus recorder (`metrics-exporter-prometheus`) and a rate limit, called with tokens
//! from a `TestIssuer`. One test: the recorder is global to this test binary.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::collections::BTreeMap;

use permiso::Verifier;
use permiso::limit::RateLimits;
use permiso::testing::TestIssuer;

/// One sample: name, labels, value.
type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

/// Parses Prometheus text exposition (no escapes are needed for these label values).
fn parse(text: &str) -> Samples {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").unwrap();
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (n.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            (name, labels, value.parse().unwrap())
        })
        .collect()
}

/// The sum of `name` over samples whose labels include all of `want`.
fn value(samples: &Samples, name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name && want.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_each_outcome_and_reason() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    permiso::metrics::include_client_ids(true);
    let idp = TestIssuer::builder()
        .client("payment-service", "s1", &["read:transactions"])
        .client("report-service", "s2", &["read:transactions"])
        .start()
        .await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let limits = RateLimits::new().client("report-service", 2).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let auth = permiso::AuthLayer::builder(verifier)
        .signatures(None::<permiso::signing::SignatureLayer>)
        .rate_limits(limits)
        .build();
    let app = routes::router_with(auth, Some(handle));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let call = |path: &str, token: Option<&str>| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let payment = idp.token("payment-service", &["read:transactions"]);
    let report = idp.token("report-service", &["read:transactions"]);
    let mut expired = idp.claims_for("payment-service", &["read:transactions"]);
    expired["exp"] = serde_json::json!(1_000_000);
    let expired = idp.sign(&expired);
    let mut foreign = idp.claims_for("payment-service", &["read:transactions"]);
    foreign["iss"] = serde_json::json!("https://somebody-else.example");
    let foreign = idp.sign(&foreign);

    // The script: 4 accepted for payment-service (one of them denied behind the layer: not
    // trusted), 3 accepted for report-service (the third rate limited), and 5 rejected by the
    // layer for 4 reasons.
    for _ in 0..3 {
        assert_eq!(call("/api/v1/transactions", Some(&payment)).await, 200);
    }
    assert_eq!(call("/api/v1/admin/billing", Some(&payment)).await, 403);
    assert_eq!(call("/api/v1/transactions", Some(&report)).await, 200);
    assert_eq!(call("/api/v1/transactions", Some(&report)).await, 200);
    assert_eq!(call("/api/v1/transactions", Some(&report)).await, 429);
    assert_eq!(call("/api/v1/transactions", None).await, 401);
    assert_eq!(call("/api/v1/transactions", None).await, 401);
    assert_eq!(call("/api/v1/transactions", Some("not.a.token")).await, 401);
    assert_eq!(call("/api/v1/transactions", Some(&expired)).await, 401);
    assert_eq!(call("/api/v1/transactions", Some(&foreign)).await, 401);

    let res = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for secret in [&payment, &report, &expired, &foreign] {
        assert!(!text.contains(secret.as_str()), "a token in /metrics");
    }
    let s = parse(&text);
    let iss = idp.issuer();
    let requests = "permiso_requests_total";
    let accepted = [("outcome", "accepted"), ("reason", "none"), ("issuer", iss.as_str())];
    assert_eq!(value(&s, requests, &accepted), 7.0, "{text}");
    assert_eq!(value(&s, requests, &[("outcome", "accepted"), ("client_id", "payment-service")]), 4.0);
    assert_eq!(value(&s, requests, &[("outcome", "accepted"), ("client_id", "report-service")]), 3.0);
    let rejected = |reason: &str, issuer: &str| {
        value(&s, requests, &[("outcome", "rejected"), ("reason", reason), ("issuer", issuer)])
    };
    assert_eq!(rejected("missing_token", "unknown"), 2.0, "{text}");
    assert_eq!(rejected("malformed_token", "unknown"), 1.0);
    assert_eq!(rejected("expired", &iss), 1.0);
    assert_eq!(rejected("unknown_issuer", "unknown"), 1.0, "an unconfigured issuer is never a label");
    assert_eq!(value(&s, requests, &[("outcome", "rejected")]), 5.0);
    assert!(!text.contains("somebody-else"));

    let denials = "permiso_denials_total";
    let untrusted =
        [("reason", "untrusted_client"), ("issuer", iss.as_str()), ("client_id", "payment-service")];
    assert_eq!(value(&s, denials, &untrusted), 1.0, "{text}");
    assert_eq!(value(&s, denials, &[("reason", "rate_limited"), ("client_id", "report-service")]), 1.0);

    let limits = "permiso_rate_limit_decisions_total";
    assert_eq!(
        value(&s, limits, &[("result", "allowed"), ("store", "memory"), ("client_id", "report-service")]),
        2.0
    );
    assert_eq!(value(&s, limits, &[("result", "limited"), ("store", "memory")]), 1.0);
    // payment-service has no limit and there is no default: passed, unlimited.
    assert_eq!(value(&s, limits, &[("result", "exempt"), ("client_id", "payment-service")]), 4.0);

    // Two valid tokens verified cold (one fetch of the keys), every other valid request a
    // hit; the three bad tokens are misses too (refused, never stored).
    let lookups = "permiso_token_cache_lookups_total";
    assert_eq!(value(&s, lookups, &[("result", "hit")]), 5.0, "{text}");
    assert_eq!(value(&s, lookups, &[("result", "miss")]), 5.0);
    assert_eq!(value(&s, "permiso_token_cache_entries", &[]), 2.0);
    assert_eq!(value(&s, "permiso_key_fetches_total", &[("issuer", iss.as_str()), ("result", "ok")]), 1.0);
    assert!(s.iter().any(|(n, l, _)| n == "permiso_key_set_age_seconds" && l["issuer"] == iss));
    let timed = "permiso_verification_duration_seconds_count";
    assert_eq!(value(&s, timed, &[("path", "cached")]), 5.0, "{text}");
    assert_eq!(value(&s, timed, &[("path", "cold")]), 5.0);
}
