//! Tracing output captured while the payment service refuses one request of each kind over
//! real HTTP: every rejection is one `info` event naming its reason (and the issuer, `kid`
//! and client when known), key-fetch failures are `warn`, and no token or secret is ever
//! written. One test: the subscriber is global to this test binary.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::io::Write;
use std::sync::{Arc, Mutex};

use permiso::limit::RateLimits;
use permiso::signing::{RequestSigning, SignatureMode};
use permiso::testing::{Fault, TestIssuer};
use permiso::{Issuer, Verifier};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// What was written since the last call.
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

/// (what, path, Authorization value, extra header, reason, status)
type Case<'a> = (&'a str, &'a str, Option<String>, Option<(&'a str, &'a str)>, &'a str, u16);

#[tokio::test]
async fn each_rejection_is_one_event_with_its_reason_and_no_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let idp = TestIssuer::builder()
        .client("payment-service", "payment-secret", &["read:transactions"])
        .client("report-service", "report-secret", &["read:transactions"])
        .start()
        .await;
    let down = TestIssuer::builder()
        .issuer_name("https://down.example")
        .client("x", "y", &["read:transactions"])
        .start()
        .await;
    down.set_jwks_fault(Some(Fault::Status(503)));
    let secret = "a-shared-secret-of-at-least-32-bytes!!";
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .issuer(down.issuer_config())
        .issuer(Issuer::permiso("hs-issuer", secret))
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let limits = RateLimits::new().client("report-service", 1).build().unwrap();
    let signing = RequestSigning::new(SignatureMode::Optional, "http://payments.example")
        .client_secret("payment-service", "payment-secret")
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let auth = permiso::AuthLayer::builder(verifier).signatures(Some(signing)).rate_limits(limits).build();
    let app = routes::router_with(auth, None);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();

    let good = idp.token("payment-service", &["read:transactions"]);
    let signed = |mut claims: serde_json::Value, edit: &dyn Fn(&mut serde_json::Value)| {
        edit(&mut claims);
        idp.sign(&claims)
    };
    let base_claims = idp.claims_for("payment-service", &["read:transactions"]);
    let expired = signed(base_claims.clone(), &|c| c["exp"] = json!(1_000_000));
    let future = signed(base_claims.clone(), &|c| c["nbf"] = json!(4_000_000_000_u64));
    let other_aud = signed(base_claims.clone(), &|c| c["aud"] = json!(["another-service"]));
    let foreign = signed(base_claims.clone(), &|c| c["iss"] = json!("https://somebody-else.example"));
    let bound = signed(base_claims.clone(), &|c| {
        c["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    });
    let no_scope = idp.token("payment-service", &[]);
    let mut tampered = good.clone();
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    let revoked = idp.token("payment-service", &["read:transactions"]);
    idp.revoke(&revoked);
    let unknown_kid = {
        let (header, rest) = good.split_once('.').unwrap();
        let _ = header;
        use base64::Engine as _;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "typ": "JWT", "kid": "no-such-key"}).to_string());
        format!("{h}.{rest}")
    };
    let from_down = down.token("x", &["read:transactions"]);
    let report = idp.token("report-service", &["read:transactions"]);
    let user = {
        let mut c = base_claims.clone();
        c["type"] = json!("user");
        idp.sign(&c)
    };

    let bearer = |t: &str| format!("Bearer {t}");
    let cases: Vec<Case> = vec![
        ("no token", "/api/v1/transactions", None, None, "missing_token", 401),
        (
            "two-word bearer",
            "/api/v1/transactions",
            Some("Bearer two words".into()),
            None,
            "invalid_request",
            400,
        ),
        ("not a JWT", "/api/v1/transactions", Some(bearer("not.a.token")), None, "malformed_token", 401),
        ("expired", "/api/v1/transactions", Some(bearer(&expired)), None, "expired", 401),
        ("not yet valid", "/api/v1/transactions", Some(bearer(&future)), None, "not_yet_valid", 401),
        ("another audience", "/api/v1/transactions", Some(bearer(&other_aud)), None, "invalid_audience", 401),
        ("unknown issuer", "/api/v1/transactions", Some(bearer(&foreign)), None, "unknown_issuer", 401),
        ("bound to a key", "/api/v1/transactions", Some(bearer(&bound)), None, "sender_constrained", 401),
        (
            "bad signature",
            "/api/v1/transactions",
            Some(bearer(&tampered)),
            None,
            "invalid_token_signature",
            401,
        ),
        ("unknown kid", "/api/v1/transactions", Some(bearer(&unknown_kid)), None, "unknown_key", 401),
        ("keys down", "/api/v1/transactions", Some(bearer(&from_down)), None, "keys_unavailable", 503),
        ("revoked", "/api/v1/transactions", Some(bearer(&revoked)), None, "revoked", 401),
        ("no scope", "/api/v1/transactions?page=2", Some(bearer(&no_scope)), None, "insufficient_scope", 403),
        ("not trusted", "/api/v1/admin/billing", Some(bearer(&good)), None, "untrusted_client", 403),
        ("user token", "/api/v1/transactions", Some(bearer(&user)), None, "not_service_token", 401),
        (
            "bad signature header",
            "/api/v1/transactions",
            Some(bearer(&good)),
            Some(("x-timestamp", "1")),
            "signature_missing",
            401,
        ),
        ("first of report", "/api/v1/transactions", Some(bearer(&report)), None, "", 200),
        ("rate limited", "/api/v1/transactions", Some(bearer(&report)), None, "rate_limited", 429),
    ];
    let secrets = [
        &good,
        &expired,
        &future,
        &other_aud,
        &foreign,
        &bound,
        &no_scope,
        &tampered,
        &revoked,
        &unknown_kid,
        &from_down,
        &report,
        &user,
    ];
    for (what, path, auth, extra, reason, status) in cases {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{what}");
        let out = captured.take();
        for token in secrets {
            let signature = token.rsplit('.').next().unwrap();
            assert!(!out.contains(signature), "{what}: a token's signature was logged:\n{out}");
            let payload = token.split('.').nth(1).unwrap();
            assert!(!out.contains(payload), "{what}: a token's payload was logged:\n{out}");
        }
        for secret in ["payment-secret", "report-secret", secret] {
            assert!(!out.contains(secret), "{what}: a secret was logged");
        }
        if status == 200 {
            assert!(!out.contains("permiso refused"), "{what}: {out}");
            continue;
        }
        let events: Vec<&str> = out.lines().filter(|l| l.contains("permiso refused a request")).collect();
        assert_eq!(events.len(), 1, "{what}: one event per rejection:\n{out}");
        let event = events[0];
        assert!(event.contains(" INFO "), "{what}: {event}");
        assert!(event.contains(&format!("reason=\"{reason}\"")), "{what}: {event}");
        assert!(event.contains(&format!("status={status}")), "{what}: {event}");
        // Which request: method and path, never the query.
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        assert!(event.contains(&format!("method=\"GET\" path=\"{path}\"")), "{what}: {event}");
        assert!(query.is_empty() || !event.contains(query), "{what}: the query is not logged: {event}");
        match reason {
            "expired" | "not_yet_valid" | "invalid_audience" | "invalid_token_signature" | "unknown_key" => {
                assert!(event.contains(&format!("issuer=\"{}\"", idp.issuer())), "{what}: {event}");
            }
            "revoked" | "insufficient_scope" | "untrusted_client" | "signature_missing" => {
                assert!(event.contains("client_id=\"payment-service\""), "{what}: {event}");
                assert!(event.contains(&format!("issuer=\"{}\"", idp.issuer())), "{what}: {event}");
            }
            "rate_limited" => {
                assert!(event.contains("client_id=\"report-service\""), "{what}: {event}");
                assert!(event.contains(&format!("issuer=\"{}\"", idp.issuer())), "{what}: {event}");
            }
            "unknown_issuer" => {
                assert!(event.contains("issuer=\"unknown\""), "{what}: {event}");
                assert!(!out.contains("somebody-else"), "{what}: an unconfigured issuer is not echoed");
            }
            "keys_unavailable" => {
                assert!(event.contains("issuer=\"https://down.example\""), "{what}: {event}");
                let warn =
                    out.lines().find(|l| l.contains(" WARN ")).unwrap_or_else(|| panic!("{what}: {out}"));
                assert!(warn.contains("refreshing the issuer's keys failed"), "{warn}");
            }
            _ => {}
        }
        if reason == "unknown_key" {
            assert!(event.contains("kid=\"no-such-key\""), "{what}: {event}");
        }
    }
}
