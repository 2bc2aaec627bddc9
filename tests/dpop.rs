//! DPoP (RFC 9449) on the receiving side, over real HTTP: the payment routes served on
//! loopback, DPoP-bound tokens from a `TestIssuer`, proofs made with `DpopKey` (and, for the
//! hostile ones, by hand). Every refusal is checked for status, both challenges and the JSON
//! error.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use permiso::dpop::{Dpop, DpopKey, DpopMode};
use permiso::testing::TestIssuer;
use permiso::{Algorithm, Verifier};
use serde_json::{Value, json};

struct Service {
    base: String,
    http: reqwest::Client,
    verifier: Verifier,
}

/// Serves the payment routes with the DPoP settings `dpop` makes from the service's own
/// loopback URL (its public base URL unless told otherwise).
async fn serve(idp: &TestIssuer, dpop: impl FnOnce(&str) -> Dpop) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier =
        Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).dpop(dpop(&base)).build().unwrap();
    let app = routes::router(verifier.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Service { base, http: reqwest::Client::new(), verifier }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    body: Value,
}

impl Answer {
    fn dpop_challenge(&self) -> &str {
        self.challenges.iter().find(|c| c.starts_with("DPoP ")).map_or("", String::as_str)
    }
    fn bearer_challenge(&self) -> &str {
        self.challenges.iter().find(|c| c.starts_with("Bearer ")).map_or("", String::as_str)
    }
}

impl Service {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, method: reqwest::Method, path: &str, auth: &str, proofs: &[&str]) -> Answer {
        let mut req = self.http.request(method, self.url(path)).header("authorization", auth);
        for p in proofs {
            req = req.header("dpop", *p);
        }
        let res = req.send().await.unwrap();
        let challenges = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let status = res.status().as_u16();
        Answer { status, challenges, body: res.json().await.unwrap_or(Value::Null) }
    }

    async fn get(&self, auth: &str, proofs: &[&str]) -> Answer {
        self.send(reqwest::Method::GET, "/api/v1/transactions", auth, proofs).await
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()))
}

/// A proof's claims as `DpopKey::proof` would make them, to change before signing.
fn claims(method: &str, url: &str, token: &str) -> Value {
    json!({ "jti": format!("jti-{}", rand_u64()), "htm": method, "htu": url, "iat": now(), "ath": ath(token) })
}

fn header(key: &DpopKey) -> Value {
    json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk() })
}

fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) ^ now().rotate_left(20)
}

/// Asserts a DPoP refusal (RFC 9449 §7.1): 401, the error in the `DPoP` challenge with the
/// accepted algorithms, a bare `Bearer` challenge beside it, and the JSON error.
fn refused(a: &Answer, error: &str, what: &str) {
    assert_eq!(a.status, 401, "{what}: {a:?}");
    let dpop = a.dpop_challenge();
    assert!(dpop.contains(&format!("error=\"{error}\"")), "{what}: {a:?}");
    assert!(dpop.contains("algs=\"ES256 ES384 EdDSA PS256"), "{what}: {a:?}");
    assert!(!a.bearer_challenge().contains("error="), "{what}: {a:?}");
    assert_eq!(a.body["error"], error, "{what}: {a:?}");
}

#[tokio::test]
async fn a_bound_token_with_its_proof_is_accepted_and_every_broken_proof_refused() {
    let idp = TestIssuer::start().await;
    let svc = serve(&idp, |base| Dpop::new(DpopMode::Allowed).public_base_url(base)).await;
    let key = DpopKey::generate().unwrap();
    let token = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    let auth = format!("DPoP {token}");
    let url = svc.url("/api/v1/transactions");
    let good = || key.proof("GET", &url, Some(&token), None);

    // Accepted, and the handler sees a DPoP-bound request. The token is cached; each proof is
    // checked anew.
    let ok = svc.get(&auth, &[&good()]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body["dpop_bound"], true);
    assert_eq!(svc.get(&auth, &[&good()]).await.status, 200);
    assert_eq!(svc.verifier.cache_stats().unwrap().hits, 1);
    // Scheme name and the URL are compared as RFC 9449 says: case-insensitive scheme, host
    // case, default port, no query.
    let port = svc.base.rsplit(':').next().unwrap();
    let loud = format!("HTTP://127.0.0.1:{port}/api/v1/transactions?page=2#top");
    let answer = svc
        .send(
            reqwest::Method::GET,
            "/api/v1/transactions?page=2",
            &format!("dpop {token}"),
            &[&key.proof("GET", &loud, Some(&token), None)],
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // The bound token as a plain bearer token: a stolen copy.
    let bearer = svc.get(&format!("Bearer {token}"), &[]).await;
    assert_eq!(bearer.status, 401);
    assert!(bearer.bearer_challenge().contains("error=\"invalid_token\""), "{bearer:?}");
    assert!(bearer.dpop_challenge().starts_with("DPoP realm=\"keystone-auth\", algs=\""), "{bearer:?}");
    assert!(!bearer.dpop_challenge().contains("error="), "{bearer:?}");
    assert_eq!(bearer.body["error"], "invalid_token");

    let sign = |h: &Value, c: &Value| key.sign_jws(h, c);
    let mut cases: Vec<(&str, Vec<String>)> = Vec::new();
    cases.push(("no proof", vec![]));
    cases.push(("two proofs", vec![good(), good()]));
    cases.push(("wrong method", vec![key.proof("POST", &url, Some(&token), None)]));
    cases.push(("wrong URL", vec![key.proof("GET", &svc.url("/api/v1/admin/billing"), Some(&token), None)]));
    cases.push((
        "another host",
        vec![key.proof("GET", &format!("http://10.0.0.1:{port}/api/v1/transactions"), Some(&token), None)],
    ));
    cases.push((
        "https for http",
        vec![key.proof("GET", &url.replace("http://", "https://"), Some(&token), None)],
    ));
    let mut stale = claims("GET", &url, &token);
    stale["iat"] = json!(now() - 600);
    cases.push(("stale iat", vec![sign(&header(&key), &stale)]));
    let mut future = claims("GET", &url, &token);
    future["iat"] = json!(now() + 600);
    cases.push(("future iat", vec![sign(&header(&key), &future)]));
    let mut no_ath = claims("GET", &url, &token);
    no_ath.as_object_mut().unwrap().remove("ath");
    cases.push(("no ath", vec![sign(&header(&key), &no_ath)]));
    let mut wrong_ath = claims("GET", &url, &token);
    wrong_ath["ath"] = json!(ath("another.access.token"));
    cases.push(("wrong ath", vec![sign(&header(&key), &wrong_ath)]));
    let mut no_jti = claims("GET", &url, &token);
    no_jti.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", vec![sign(&header(&key), &no_jti)]));
    let other = DpopKey::generate().unwrap();
    cases.push(("another key", vec![other.proof("GET", &url, Some(&token), None)]));
    // The same after that key's proofs passed for its own token (its header now known).
    let others = idp.dpop_token("payment-service", &["read:transactions"], other.thumbprint());
    let own = svc.get(&format!("DPoP {others}"), &[&other.proof("GET", &url, Some(&others), None)]).await;
    assert_eq!(own.status, 200, "{own:?}");
    cases.push(("another key, seen before", vec![other.proof("GET", &url, Some(&token), None)]));
    // Another key's jwk in the header of a proof signed by the bound key: the signature fails.
    cases.push(("jwk of another key", vec![sign(&header(&other), &claims("GET", &url, &token))]));
    let mut typ = header(&key);
    typ["typ"] = json!("JWT");
    cases.push(("typ JWT", vec![sign(&typ, &claims("GET", &url, &token))]));
    let mut no_jwk = header(&key);
    no_jwk.as_object_mut().unwrap().remove("jwk");
    cases.push(("no jwk", vec![sign(&no_jwk, &claims("GET", &url, &token))]));
    let mut private = header(&key);
    private["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    cases.push(("jwk with a private key", vec![sign(&private, &claims("GET", &url, &token))]));
    let mut crit = header(&key);
    crit["crit"] = json!(["exp"]);
    cases.push(("crit", vec![sign(&crit, &claims("GET", &url, &token))]));
    // alg none: unsigned, and with junk where the signature goes.
    let mut none = header(&key);
    none["alg"] = json!("none");
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!("{}.{}.", enc(&none), enc(&claims("GET", &url, &token)));
    cases.push(("alg none, no signature", vec![unsigned.clone()]));
    cases.push(("alg none", vec![format!("{unsigned}AAAA")]));
    // HS256 keyed with the public JWK's x coordinate: key confusion.
    let mut hs = header(&key);
    hs["alg"] = json!("HS256");
    let input = format!("{}.{}", enc(&hs), enc(&claims("GET", &url, &token)));
    let mac_key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        key.public_jwk()["x"].as_str().unwrap().as_bytes(),
    );
    let mac = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
    cases.push(("alg HS256", vec![format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))]));
    cases.push(("not a JWS", vec!["not-a-proof".into()]));
    cases.push((
        "JSON with duplicate members",
        vec![format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(br#"{"typ":"dpop+jwt","typ":"dpop+jwt"}"#),
            enc(&json!({}))
        )],
    ));
    cases.push(("huge", vec!["a".repeat(9000)]));

    for (what, proofs) in &cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let answer = svc.get(&auth, &proofs).await;
        refused(&answer, "invalid_dpop_proof", what);
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(
            !description.contains(&token) && !description.contains(&key.thumbprint()[..8]),
            "{what}: {description}"
        );
    }

    // A proof used once is refused the second time, and the reason says so.
    let once = good();
    assert_eq!(svc.get(&auth, &[&once]).await.status, 200);
    let replayed = svc.get(&auth, &[&once]).await;
    refused(&replayed, "invalid_dpop_proof", "replayed");
    assert!(replayed.body["error_description"].as_str().unwrap().contains("already used"));

    // The DPoP scheme with a token that is not bound.
    let plain = idp.token("payment-service", &["read:transactions"]);
    let unbound = svc.get(&format!("DPoP {plain}"), &[&key.proof("GET", &url, Some(&plain), None)]).await;
    refused(&unbound, "invalid_token", "unbound token");
    // And a plain token as Bearer still works in the default mode.
    let answer = svc.get(&format!("Bearer {plain}"), &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["dpop_bound"], false);

    // Behind the layer (a scope the token lacks), the 403 is in the DPoP challenge too.
    let no_scope = idp.dpop_token("payment-service", &[], key.thumbprint());
    let forbidden =
        svc.get(&format!("DPoP {no_scope}"), &[&key.proof("GET", &url, Some(&no_scope), None)]).await;
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.dpop_challenge().contains("error=\"insufficient_scope\""), "{forbidden:?}");
}

#[tokio::test]
async fn required_mode_refuses_bearer_and_off_mode_refuses_the_scheme() {
    let idp = TestIssuer::start().await;
    let key = DpopKey::generate().unwrap();
    let bound = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    let plain = idp.token("payment-service", &["read:transactions"]);

    let svc = serve(&idp, |base| {
        Dpop::new(DpopMode::Required).algorithms([Algorithm::ES256]).public_base_url(base)
    })
    .await;
    let url = svc.url("/api/v1/transactions");
    let answer = svc.get(&format!("DPoP {bound}"), &[&key.proof("GET", &url, Some(&bound), None)]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let bearer = svc.get(&format!("Bearer {plain}"), &[]).await;
    assert_eq!(bearer.status, 401);
    assert_eq!(bearer.challenges.len(), 1, "only DPoP is accepted: {bearer:?}");
    assert!(bearer.dpop_challenge().contains("algs=\"ES256\", error=\"invalid_token\""), "{bearer:?}");
    let none = svc.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP realm="));
    // An unbound token with the DPoP scheme is still not bound.
    let unbound = svc.get(&format!("DPoP {plain}"), &[&key.proof("GET", &url, Some(&plain), None)]).await;
    assert_eq!((unbound.status, unbound.body["error"].as_str()), (401, Some("invalid_token")));

    let off = serve(&idp, |_| Dpop::new(DpopMode::Off)).await;
    let url = off.url("/api/v1/transactions");
    let answer = off.get(&format!("DPoP {bound}"), &[&key.proof("GET", &url, Some(&bound), None)]).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body["error_description"].as_str().unwrap().contains("DPoP"));
    assert!(answer.challenges.iter().all(|c| c.starts_with("Bearer")), "{answer:?}");
    // With DPoP off a bound token can never be used.
    assert_eq!(off.get(&format!("Bearer {bound}"), &[]).await.status, 401);
}

#[tokio::test]
async fn htu_is_rebuilt_from_the_public_base_url() {
    let idp = TestIssuer::start().await;
    let key = DpopKey::generate().unwrap();
    let token = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    let svc =
        serve(&idp, |_| Dpop::new(DpopMode::Allowed).public_base_url("https://payments.example.com/edge"))
            .await;
    let public = "https://payments.example.com/edge/api/v1/transactions";
    let answer = svc.get(&format!("DPoP {token}"), &[&key.proof("GET", public, Some(&token), None)]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // The address the server sees is not the one callers use.
    let local = svc.url("/api/v1/transactions");
    let answer = svc.get(&format!("DPoP {token}"), &[&key.proof("GET", &local, Some(&token), None)]).await;
    refused(&answer, "invalid_dpop_proof", "local URL");
    assert!(answer.body["error_description"].as_str().unwrap().contains("htu"));
}

#[test]
fn settings_that_cannot_work_are_refused_at_build() {
    let build = |dpop: Dpop| {
        Verifier::builder(["a"])
            .issuer(permiso::Issuer::permiso("a", "0123456789abcdef0123456789abcdef"))
            .dpop(dpop)
            .build()
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let on = || Dpop::new(DpopMode::Allowed).public_base_url("https://payments.example.com");
    assert!(build(on().algorithms([Algorithm::HS256])).unwrap_err().contains("symmetric"));
    assert!(build(on().algorithms([])).unwrap_err().contains("empty"));
    assert!(build(on().max_age(std::time::Duration::ZERO)).unwrap_err().contains("max_age"));
    assert!(build(on().public_base_url("payments.example.com")).unwrap_err().contains("base URL"));
    assert!(build(on().public_base_url("https://p.example/a/../b")).unwrap_err().contains("base URL"));
    assert!(build(on()).is_ok());
    // DPoP is off unless asked for; on, it needs the service's public origin.
    assert!(build(Dpop::default()).is_ok());
    let err = build(Dpop::new(DpopMode::Allowed)).unwrap_err();
    assert!(err.contains("PERMISO_PUBLIC_BASE_URL") && err.contains("Host"), "{err}");
    // Off, what is given is still checked: a bad value is found at start-up, not the day DPoP
    // is turned on.
    let off = || Dpop::new(DpopMode::Off);
    assert!(build(off().algorithms([Algorithm::HS256])).unwrap_err().contains("symmetric"));
    assert!(build(off().max_age(std::time::Duration::ZERO)).unwrap_err().contains("max_age"));
    assert!(build(off().public_base_url("payments.example.com")).unwrap_err().contains("base URL"));
}

#[test]
fn dpop_is_configured_from_the_environment_and_toml() {
    let base = [
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", "0123456789abcdef0123456789abcdef"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        Verifier::from_env_vars(base.iter().chain(extra).copied())
            .map(|v| format!("{v:?}"))
            .map_err(|e| e.to_string())
    };
    // Off by default: no DPoP challenge, no public origin needed.
    let shown = with(&[]).unwrap();
    assert!(shown.contains("dpop: None"), "{shown}");
    let err = with(&[("PERMISO_DPOP", "allowed")]).unwrap_err();
    assert!(err.contains("PERMISO_PUBLIC_BASE_URL"), "{err}");
    let shown = with(&[
        ("PERMISO_DPOP", "allowed"),
        ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com, https://payments.internal:8443"),
        ("PERMISO_DPOP_REPLAY_ON_ERROR", "allow"),
    ])
    .unwrap();
    assert!(shown.contains("mode: Allowed") && shown.contains("payments.internal:8443"), "{shown}");
    assert!(
        with(&[("PERMISO_DPOP_REPLAY_ON_ERROR", "maybe")])
            .unwrap_err()
            .contains("PERMISO_DPOP_REPLAY_ON_ERROR")
    );
    let shown = with(&[
        ("PERMISO_DPOP", "required"),
        ("PERMISO_DPOP_ALGORITHMS", "ES256, EdDSA"),
        ("PERMISO_DPOP_MAX_AGE_SECS", "30"),
        ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
    ])
    .unwrap();
    assert!(shown.contains("mode: Required") && shown.contains("\"ES256 EdDSA\""), "{shown}");
    assert!(shown.contains("https://payments.example.com"), "{shown}");
    assert!(with(&[("PERMISO_DPOP", "off")]).unwrap().contains("dpop: None"));
    assert!(with(&[("PERMISO_DPOP", "sometimes")]).unwrap_err().contains("PERMISO_DPOP"));
    let on = [("PERMISO_DPOP", "allowed"), ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com")];
    let on_with = |extra: (&'static str, &'static str)| with(&[on[0], on[1], extra]);
    assert!(on_with(("PERMISO_DPOP_ALGORITHMS", "HS256")).unwrap_err().contains("symmetric"));
    assert!(on_with(("PERMISO_DPOP_ALGORITHMS", "ES999")).unwrap_err().contains("PERMISO_DPOP_ALGORITHMS"));
    assert!(on_with(("PERMISO_DPOP_MAX_AGE_SECS", "0")).unwrap_err().contains("PERMISO_DPOP_MAX_AGE_SECS"));

    let toml = r#"
        audience = "keystone-auth"
        [[issuer]]
        iss = "keystone-auth"
        secret = "0123456789abcdef0123456789abcdef"
        [dpop]
        mode = "required"
        algorithms = ["ES256"]
        max_age_secs = 20
        public_base_url = "https://payments.example.com/edge"
    "#;
    let shown = format!("{:?}", Verifier::from_toml_str(toml).unwrap());
    assert!(shown.contains("mode: Required") && shown.contains("window_secs: 80"), "{shown}");
    let err = Verifier::from_toml_str(&toml.replace("max_age_secs = 20", "max_age = 20")).unwrap_err();
    assert!(err.to_string().contains("max_age"), "{err}");
}

/// Review round 3, finding 2: the expected `htu` never comes from the request. A proof made
/// for service A is refused at service B (same audience) whatever `Host` says, and an
/// `https://` proof is refused for a request that came over plain HTTP in absolute form.
#[tokio::test]
async fn htu_comes_from_the_public_origin_never_from_the_request() {
    let idp = TestIssuer::start().await;
    let key = DpopKey::generate().unwrap();
    let token = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    let b = serve(&idp, |_| Dpop::new(DpopMode::Allowed).public_base_url("http://service-b.internal")).await;
    let auth = format!("DPoP {token}");

    // A proof captured at service A, replayed to B with A's Host.
    let for_a = key.proof("GET", "http://service-a.internal/api/v1/transactions", Some(&token), None);
    let res = b
        .http
        .get(b.url("/api/v1/transactions"))
        .header("host", "service-a.internal")
        .header("authorization", &auth)
        .header("dpop", &for_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.contains("error=\"invalid_dpop_proof\""), "{www}");
    let body: Value = res.json().await.unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("htu"), "{body}");

    // B's own origin passes.
    let for_b = key.proof("GET", "http://service-b.internal/api/v1/transactions", Some(&token), None);
    assert_eq!(b.get(&auth, &[&for_b]).await.status, 200);

    // An absolute-form request line claiming https over a plain TCP connection.
    let https = key.proof("GET", "https://service-b.internal/api/v1/transactions", Some(&token), None);
    let raw = raw_request(
        &b.base,
        &format!(
            "GET https://service-b.internal/api/v1/transactions HTTP/1.1\r\nhost: service-b.internal\r\n\
             authorization: {auth}\r\ndpop: {https}\r\nconnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(raw.contains("invalid_dpop_proof"), "{raw}");
}

/// Review round 3, finding 8: a proof for `/api/v1/admin/billing` is not accepted on
/// `/api/v1/public/%2e%2e/admin/billing` (nor with `..` in the proof); dot segments are refused.
#[tokio::test]
async fn dot_segments_never_match_a_proof() {
    let idp = TestIssuer::start().await;
    let key = DpopKey::generate().unwrap();
    let token = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    let svc = serve(&idp, |base| Dpop::new(DpopMode::Allowed).public_base_url(base)).await;
    let auth = format!("DPoP {token}");
    let admin = key.proof("GET", &svc.url("/api/v1/admin/billing"), Some(&token), None);
    let host = svc.base.trim_start_matches("http://").to_owned();
    for path in [
        "/api/v1/public/%2e%2e/admin/billing",
        "/api/v1/public/%2E%2E/admin/billing",
        "/api/v1/public/.%2e/admin/billing",
    ] {
        // Sent as written (an HTTP client library would resolve the dot segments first).
        let raw = raw_request(
            &svc.base,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\ndpop: {admin}\r\n\
                 connection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(raw.starts_with("HTTP/1.1 401"), "{path}: {raw}");
        assert!(raw.contains("invalid_dpop_proof") && raw.contains("dot segment"), "{path}: {raw}");
    }
    // A proof whose htu holds `..` is not resolved into the request's path.
    let dotted = key.proof("GET", &svc.url("/api/v1/public/../transactions"), Some(&token), None);
    refused(&svc.get(&auth, &[&dotted]).await, "invalid_dpop_proof", "dotted htu");
}

/// Sends `request` as written over a fresh TCP connection; the raw answer.
async fn raw_request(base: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
