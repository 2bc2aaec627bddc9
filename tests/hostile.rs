//! The hostile-input suite: every way a caller can abuse the `Authorization` header or the
//! token, sent over real HTTP to an axum router behind `AuthLayer`, keys from a `TestIssuer`.
//! Each case asserts the status, the `WWW-Authenticate` error and the JSON error; the cases
//! with embedded keys or key URLs also assert that nothing was fetched.

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use permiso::testing::{SigningKey, TestIssuer};
use permiso::{Algorithm, Verifier};
use serde_json::{Value, json};

const READ: &str = "/api/v1/transactions";
const ADMIN: &str = "/api/v1/admin/billing";

/// How the credentials are sent.
enum Send {
    Nothing,
    Header(String),
    RawHeader(Vec<u8>),
    TwoHeaders(String, String),
    Query(String),
    HeaderAndQuery(String),
}

/// (status, `error` in WWW-Authenticate, `error` in the JSON body)
type Expect = (u16, Option<&'static str>, &'static str);

const OK: Expect = (200, None, "");
const NO_TOKEN: Expect = (401, None, "unauthorized");
const BAD_REQUEST: Expect = (400, Some("invalid_request"), "invalid_request");
const INVALID: Expect = (401, Some("invalid_token"), "invalid_token");
const FORBIDDEN: Expect = (403, Some("insufficient_scope"), "insufficient_scope");

struct Case {
    name: &'static str,
    path: &'static str,
    send: Send,
    expect: Expect,
}

fn b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// A listener that only counts connections: where embedded key URLs point.
async fn tripwire() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, hits)
}

fn with(mut claims: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(claims.as_object_mut().unwrap());
    claims
}

#[tokio::test]
async fn hostile_inputs_get_a_clear_answer() {
    let idp = TestIssuer::start().await;
    let es_kid = idp.add_key(Algorithm::ES256);
    let es = idp.key(&es_kid).unwrap();
    let rsa = idp.active_key();
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });
    let (trap, trap_hits) = tripwire().await;

    let good = idp.claims_for("payment-service", &["read:transactions"]);
    let valid = rsa.sign(&good);
    let payload_b64 = b64(good.to_string());
    let header = |h: Value| b64(h.to_string());
    let rs_header = |extra: Value| {
        let mut h = rsa.header("JWT");
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let claims_token = |c: Value| rsa.sign(&c);
    let raw_payload = |p: &str| rsa.sign_raw(&rsa.header("JWT").to_string(), p);
    let bearer = |t: &str| Send::Header(format!("Bearer {t}"));
    let (head, sig) = valid.rsplit_once('.').unwrap();
    let (h64, _) = head.split_once('.').unwrap();
    let pem = rsa.public_pem().unwrap();
    let jwk = rsa.public_jwk().unwrap();
    let hs_with = |secret: &[u8]| SigningKey::hmac(Algorithm::HS256, secret).with_kid("key-1").sign(&good);
    let ps = rsa.clone().with_algorithm(Algorithm::PS256).sign(&good);
    let es_head = {
        let t = es.sign(&good);
        t.rsplit_once('.').unwrap().0.to_owned()
    };
    let nested = format!(
        r#"{{"iss":{},"aud":["keystone-auth"],"exp":4102444800,"x":{}{}}}"#,
        json!(idp.issuer()),
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let dup = |name: &str, a: &str, b: &str| {
        let mut text = good.to_string();
        text.pop();
        raw_payload(&format!(r#"{text},"{name}":{a},"{name}":{b}}}"#))
    };

    let mut cases = vec![
        // Header syntax
        Case { name: "no Authorization header", path: READ, send: Send::Nothing, expect: NO_TOKEN },
        Case {
            name: "Basic credentials",
            path: READ,
            send: Send::Header("Basic dXNlcjpwdw==".into()),
            expect: NO_TOKEN,
        },
        Case {
            name: "Digest scheme",
            path: READ,
            send: Send::Header("Digest username=x".into()),
            expect: NO_TOKEN,
        },
        Case { name: "empty Bearer", path: READ, send: Send::Header("Bearer".into()), expect: BAD_REQUEST },
        Case {
            name: "Bearer and spaces",
            path: READ,
            send: Send::Header("Bearer    ".into()),
            expect: BAD_REQUEST,
        },
        Case {
            name: "two Authorization headers",
            path: READ,
            send: Send::TwoHeaders(format!("Bearer {valid}"), format!("Bearer {valid}")),
            expect: BAD_REQUEST,
        },
        Case {
            name: "Bearer and Basic headers",
            path: READ,
            send: Send::TwoHeaders(format!("Bearer {valid}"), "Basic eA==".into()),
            expect: BAD_REQUEST,
        },
        Case {
            name: "token in header and query",
            path: READ,
            send: Send::HeaderAndQuery(valid.clone()),
            expect: BAD_REQUEST,
        },
        Case {
            name: "token only in query",
            path: READ,
            send: Send::Query(valid.clone()),
            expect: BAD_REQUEST,
        },
        Case {
            name: "lowercase bearer scheme",
            path: READ,
            send: Send::Header(format!("bearer {valid}")),
            expect: OK,
        },
        Case {
            name: "several spaces after Bearer",
            path: READ,
            send: Send::Header(format!("Bearer   {valid}")),
            expect: OK,
        },
        Case {
            name: "token with a comma",
            path: READ,
            send: Send::Header(format!("Bearer {valid},x")),
            expect: BAD_REQUEST,
        },
        Case {
            name: "token in quotes",
            path: READ,
            send: Send::Header(format!("Bearer \"{valid}\"")),
            expect: BAD_REQUEST,
        },
        Case {
            name: "obs-text bytes in header",
            path: READ,
            send: Send::RawHeader([b"Bearer ".as_slice(), valid.as_bytes(), b"\xff\xfe"].concat()),
            expect: BAD_REQUEST,
        },
        Case { name: "not a JWT at all", path: READ, send: bearer("hello"), expect: INVALID },
        // Size
        Case { name: "100 KB token", path: READ, send: bearer(&"a".repeat(100 * 1024)), expect: INVALID },
        Case { name: "100k dots", path: READ, send: bearer(&".".repeat(100_000)), expect: INVALID },
        Case {
            name: "huge scope array",
            path: READ,
            send: bearer(&claims_token(with(good.clone(), |c| {
                c.insert("scopes".into(), json!(vec!["read:transactions"; 5000]));
            }))),
            expect: INVALID,
        },
        Case {
            name: "many scopes within the limit",
            path: READ,
            send: bearer(&claims_token(with(good.clone(), |c| {
                let mut s = vec!["x"; 500];
                s.push("read:transactions");
                c.insert("scopes".into(), json!(s));
            }))),
            expect: OK,
        },
        Case { name: "deeply nested JSON", path: READ, send: bearer(&raw_payload(&nested)), expect: INVALID },
        // Structure
        Case { name: "two segments", path: READ, send: bearer(head), expect: INVALID },
        Case { name: "four segments", path: READ, send: bearer(&format!("{valid}.{sig}")), expect: INVALID },
        Case {
            name: "five segments (JWE)",
            path: READ,
            send: bearer(&format!("{valid}.a.b")),
            expect: INVALID,
        },
        Case {
            name: "JWS JSON serialization",
            path: READ,
            send: Send::Header(format!(r#"Bearer {{"payload":"{payload_b64}","signatures":[]}}"#)),
            expect: BAD_REQUEST,
        },
        Case {
            name: "padding inside a segment",
            path: READ,
            send: bearer(&format!("{h64}=.{payload_b64}.{sig}")),
            expect: BAD_REQUEST,
        },
        Case {
            name: "padded signature",
            path: READ,
            send: bearer(&format!("{head}.{sig}==")),
            expect: INVALID,
        },
        Case {
            name: "standard base64 alphabet",
            path: READ,
            send: bearer(&format!("{head}.{}", sig.replace('-', "+").replace('_', "/") + "+/")),
            expect: INVALID,
        },
        Case {
            name: "non-canonical trailing bits",
            path: READ,
            send: bearer(&format!("{head}.{}", tweak_last(sig))),
            expect: INVALID,
        },
        Case {
            name: "whitespace inside the token",
            path: READ,
            send: bearer(&format!("{head}. {sig}")),
            expect: BAD_REQUEST,
        },
        Case { name: "empty segments", path: READ, send: bearer(".."), expect: INVALID },
        Case {
            name: "header not JSON",
            path: READ,
            send: bearer(&format!("{}.{payload_b64}.{sig}", b64("alg=RS256"))),
            expect: INVALID,
        },
        Case {
            name: "payload not UTF-8",
            path: READ,
            send: bearer(&format!("{h64}.{}.{sig}", b64(b"{\"iss\":\"\xff\"}"))),
            expect: INVALID,
        },
        Case {
            name: "non-ASCII claims are fine",
            path: READ,
            send: bearer(&claims_token(with(good.clone(), |c| {
                c.insert("note".into(), json!("ünïcödé ✓"));
            }))),
            expect: OK,
        },
        // Algorithm
        Case {
            name: "alg none",
            path: READ,
            send: bearer(&format!("{}.{payload_b64}.", header(json!({"alg": "none"})))),
            expect: INVALID,
        },
        Case {
            name: "alg None",
            path: READ,
            send: bearer(&format!("{}.{payload_b64}.{sig}", header(json!({"alg": "None"})))),
            expect: INVALID,
        },
        Case {
            name: "alg NONE",
            path: READ,
            send: bearer(&format!("{}.{payload_b64}.{sig}", header(json!({"alg": "NONE"})))),
            expect: INVALID,
        },
        Case {
            name: "alg nOnE",
            path: READ,
            send: bearer(&format!("{}.{payload_b64}.{sig}", header(json!({"alg": "nOnE", "typ": "JWT"})))),
            expect: INVALID,
        },
        Case {
            name: "HS256 keyed with the RSA PEM",
            path: READ,
            send: bearer(&hs_with(pem.as_bytes())),
            expect: INVALID,
        },
        Case {
            name: "HS256 keyed with the RSA JWK",
            path: READ,
            send: bearer(&hs_with(jwk.to_string().as_bytes())),
            expect: INVALID,
        },
        Case {
            name: "HS256 keyed with the RSA modulus",
            path: READ,
            send: bearer(&hs_with(jwk["n"].as_str().unwrap().as_bytes())),
            expect: INVALID,
        },
        Case {
            name: "ES256 header on the RSA key",
            path: READ,
            send: bearer(&es.sign_with_header(&json!({"alg": "ES256", "kid": "key-1"}), &good)),
            expect: INVALID,
        },
        Case { name: "PS256 with an RS256-bound key", path: READ, send: bearer(&ps), expect: INVALID },
        Case {
            name: "RS256 header, PS256 signature",
            path: READ,
            send: bearer(&format!("{head}.{}", ps.rsplit_once('.').unwrap().1)),
            expect: INVALID,
        },
        Case {
            name: "all-zero ECDSA signature",
            path: READ,
            send: bearer(&format!("{es_head}.{}", b64([0u8; 64]))),
            expect: INVALID,
        },
        Case {
            name: "DER ECDSA signature",
            path: READ,
            send: bearer(&format!("{es_head}.{}", b64([0x30, 6, 2, 1, 1, 2, 1, 1]))),
            expect: INVALID,
        },
        Case {
            name: "crit header",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"crit": ["exp"], "exp": 1})), &good)),
            expect: INVALID,
        },
        Case {
            name: "b64 false",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"b64": false, "crit": ["b64"]})), &good)),
            expect: INVALID,
        },
        // Keys
        Case {
            name: "embedded jwk",
            path: READ,
            send: bearer(&attacker_with(
                json!({"jwk": SigningKey::generate(Algorithm::RS256).public_jwk()}),
                &good,
            )),
            expect: INVALID,
        },
        Case {
            name: "jku",
            path: READ,
            send: bearer(&attacker_with(json!({"jku": format!("{trap}/jwks.json")}), &good)),
            expect: INVALID,
        },
        Case {
            name: "x5u",
            path: READ,
            send: bearer(&attacker_with(json!({"x5u": format!("{trap}/cert.pem")}), &good)),
            expect: INVALID,
        },
        Case {
            name: "x5c",
            path: READ,
            send: bearer(&attacker_with(
                json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
                &good,
            )),
            expect: INVALID,
        },
        Case {
            name: "unknown kid",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"kid": "nope"})), &good)),
            expect: INVALID,
        },
        Case {
            name: "path traversal kid",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"kid": "../../../../etc/passwd"})), &good)),
            expect: INVALID,
        },
        Case {
            name: "10 KB kid",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"kid": "k".repeat(10_000)})), &good)),
            expect: INVALID,
        },
        Case {
            name: "numeric kid",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"kid": 1})), &good)),
            expect: INVALID,
        },
        Case {
            name: "null kid",
            path: READ,
            send: bearer(&rsa.sign_with_header(&rs_header(json!({"kid": null})), &good)),
            expect: INVALID,
        },
        Case {
            name: "signature from another key",
            path: READ,
            send: bearer(&SigningKey::generate(Algorithm::RS256).with_kid("key-1").sign(&good)),
            expect: INVALID,
        },
    ];
    let time_cases: [(&str, &str, Value); 13] = [
        ("exp as string", "exp", json!("4102444800")),
        ("exp null", "exp", json!(null)),
        ("exp bool", "exp", json!(true)),
        ("exp negative", "exp", json!(-1)),
        ("exp in the past", "exp", json!(1_000_000_000)),
        ("exp overflow", "exp", json!(u64::MAX)),
        ("exp as list", "exp", json!([4102444800u64])),
        ("nbf as string", "nbf", json!("0")),
        ("nbf in the future", "nbf", json!(4_000_000_000u64)),
        ("nbf float overflow", "nbf", json!(1e300)),
        ("iat as string", "iat", json!("0")),
        ("iat null", "iat", json!(null)),
        ("iat in the future", "iat", json!(4_000_000_000u64)),
    ];
    for (name, claim, value) in time_cases {
        let token = claims_token(with(good.clone(), |c| {
            c.insert(claim.into(), value);
        }));
        cases.push(Case { name, path: READ, send: bearer(&token), expect: INVALID });
    }
    let iss = idp.issuer();
    let claim_cases: Vec<(&'static str, &'static str, Option<Value>, &'static str, Expect)> = vec![
        ("exp as a float", "exp", Some(json!(4102444800.5)), READ, OK),
        ("exp missing", "exp", None, READ, INVALID),
        ("iss upper case", "iss", Some(json!(iss.to_uppercase())), READ, INVALID),
        ("iss trailing slash", "iss", Some(json!(format!("{iss}/"))), READ, INVALID),
        ("iss missing", "iss", None, READ, INVALID),
        ("iss as list", "iss", Some(json!([iss])), READ, INVALID),
        ("aud missing", "aud", None, READ, INVALID),
        ("aud empty list", "aud", Some(json!([])), READ, INVALID),
        ("aud number", "aud", Some(json!(1)), READ, INVALID),
        ("aud lookalike", "aud", Some(json!(["keystone-auth "])), READ, INVALID),
        ("aud as a string", "aud", Some(json!("keystone-auth")), READ, OK),
        // permiso answers a token that is not a service token with 401.
        ("type Service (case)", "type", Some(json!("Service")), READ, INVALID),
        ("type missing", "type", None, READ, INVALID),
        ("type user", "type", Some(json!("user")), READ, INVALID),
        ("aud as a string with a space", "aud", Some(json!("attacker-api keystone-auth")), READ, INVALID),
        (
            "cnf jkt without a proof",
            "cnf",
            Some(json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})),
            READ,
            INVALID,
        ),
        ("type as list", "type", Some(json!(["service"])), READ, INVALID),
        ("scope lookalike", "scopes", Some(json!(["read:transaction"])), READ, FORBIDDEN),
        ("scope case", "scopes", Some(json!(["Read:transactions"])), READ, FORBIDDEN),
        ("scope prefix", "scopes", Some(json!(["read"])), READ, FORBIDDEN),
        ("scope wildcard", "scopes", Some(json!(["*"])), READ, FORBIDDEN),
        ("scope resource wildcard", "scopes", Some(json!(["read:*"])), READ, FORBIDDEN),
        (
            "scopes joined in one element",
            "scopes",
            Some(json!(["read:transactions write:x"])),
            READ,
            FORBIDDEN,
        ),
        ("scope as number", "scopes", Some(json!([1])), READ, INVALID),
        ("admin implies read", "scopes", Some(json!(["admin:transactions"])), READ, OK),
        ("is_trusted \"true\"", "is_trusted", Some(json!("true")), ADMIN, FORBIDDEN),
        ("is_trusted 1", "is_trusted", Some(json!(1)), ADMIN, FORBIDDEN),
        ("is_trusted missing", "is_trusted", None, ADMIN, FORBIDDEN),
        ("is_trusted true", "is_trusted", Some(json!(true)), ADMIN, OK),
    ];
    for (name, claim, value, path, expect) in claim_cases {
        let token = claims_token(with(good.clone(), |c| match value {
            Some(v) => {
                c.insert(claim.into(), v);
            }
            None => {
                c.remove(claim);
            }
        }));
        cases.push(Case { name, path, send: bearer(&token), expect });
    }
    let iss_json = json!(iss).to_string();
    for (name, claim, a, b) in [
        ("two scopes claims", "scopes", r#"["x"]"#, r#"["read:transactions"]"#),
        ("two is_trusted claims", "is_trusted", "false", "true"),
        ("two exp claims", "exp", "1", "4102444800"),
        ("two iss claims", "iss", r#""evil""#, iss_json.as_str()),
    ] {
        cases.push(Case { name, path: ADMIN, send: bearer(&dup(claim, a, b)), expect: INVALID });
    }

    assert!(cases.len() >= 60, "{} cases", cases.len());
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in &cases {
        let url = format!("{base}{}", case.path);
        let req = match &case.send {
            Send::Nothing => http.get(&url),
            Send::Header(h) => http.get(&url).header("authorization", h),
            Send::RawHeader(bytes) => http
                .get(&url)
                .header("authorization", reqwest::header::HeaderValue::from_bytes(bytes).unwrap()),
            Send::TwoHeaders(a, b) => http.get(&url).header("authorization", a).header("authorization", b),
            Send::Query(t) => http.get(format!("{url}?access_token={t}")),
            Send::HeaderAndQuery(t) => {
                http.get(format!("{url}?access_token={t}")).header("authorization", format!("Bearer {t}"))
            }
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let www = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let (want_status, want_www, want_json) = case.expect;
        let www_error =
            www.as_deref().and_then(|w| w.split("error=\"").nth(1)).and_then(|r| r.split('"').next());
        let ok = status == want_status
            && if want_status == 200 {
                www.is_none()
            } else {
                www.as_deref().is_some_and(|w| w.starts_with("Bearer realm="))
                    && www_error == want_www
                    && body["error"] == want_json
                    && body["error_description"].as_str().is_some_and(|d| !d.is_empty())
            };
        if !ok {
            failures.push(format!("{}: got {status} {www:?} {body}", case.name));
        }
        // No answer ever carries the token back.
        assert!(!body.to_string().contains(&valid[20..60]), "{}", case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(trap_hits.load(Ordering::SeqCst), 0, "an embedded key URL was fetched");
    assert_eq!(idp.jwks_fetches(), 2, "the warm-up and one refetch for the unknown kids");
}

#[tokio::test]
async fn a_megabyte_token_is_refused_unread() {
    // hyper refuses headers this large before any layer runs, so this goes through the
    // router in-process to show what the layer itself answers.
    use tower::ServiceExt;
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let req = axum::http::Request::get(READ)
        .header("authorization", format!("Bearer {}", "A".repeat(1024 * 1024)))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = routes::router(verifier).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(idp.jwks_fetches(), 0, "a token too large is refused before any key lookup");
}

/// A token signed by an attacker's key with extra header members.
fn attacker_with(extra: Value, claims: &Value) -> String {
    let attacker = SigningKey::generate(Algorithm::RS256).with_kid("key-1");
    let mut h = attacker.header("JWT");
    for (k, v) in extra.as_object().unwrap() {
        h[k] = v.clone();
    }
    attacker.sign_with_header(&h, claims)
}

/// The same signature with its last character changed so the unused trailing bits are set.
fn tweak_last(sig: &str) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (rest, last) = sig.split_at(sig.len() - 1);
    let index = ALPHABET.find(last).unwrap();
    format!("{rest}{}", &ALPHABET[(index ^ 1)..=(index ^ 1)])
}
