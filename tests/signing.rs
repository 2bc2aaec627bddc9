//! Request signing over real HTTP: the `X-Timestamp`/`X-Signature` checked by the signature
//! stage of `AuthLayer`, made by `SigningMiddleware`, and by a Python caller.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use permiso::signing::{RequestSigning, SignatureMode, signature};
use permiso::testing::TestIssuer;
use permiso::{AuthLayer, Clock, ManualClock, Verifier};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAYMENT_SECRET: &str = "payment-service-secret";
const BILLING_SECRET: &str = "billing-service-secret";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Service {
    base: String,
    idp: TestIssuer,
    clock: ManualClock,
}

/// An echo route and a plain one behind an `AuthLayer` with signatures, on a bound port.
async fn service(mode: SignatureMode, max_body: usize) -> Service {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = ManualClock::at_unix(now());
    let signing = RequestSigning::new(mode, base.clone())
        .client_secret("payment-service", PAYMENT_SECRET)
        .client_secret("billing-service", BILLING_SECRET)
        .max_body_bytes(max_body)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/echo", post(|body: String| async move { body }))
        .route("/items", get(|| async { "items" }))
        .layer(AuthLayer::builder(verifier).signatures(signing).build());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Service { base, idp, clock }
}

struct Answer {
    status: u16,
    www: String,
    body: Value,
    text: String,
}

/// Sends `method path` with `body` and the given signature headers (None: omitted).
async fn send(
    s: &Service,
    client: &str,
    method: &str,
    path: &str,
    body: &str,
    ts: Option<&str>,
    sig: Option<&str>,
) -> Answer {
    let token = s.idp.token(client, &[]);
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", s.base))
        .bearer_auth(token)
        .body(body.to_owned());
    if let Some(ts) = ts {
        req = req.header("X-Timestamp", ts);
    }
    if let Some(sig) = sig {
        req = req.header("X-Signature", sig);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www =
        res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = res.text().await.unwrap();
    Answer { status, www, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

/// A correctly signed request by `client`, signed with `secret`, at `ts`.
async fn signed(
    s: &Service,
    client: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &str,
    ts: u64,
) -> Answer {
    let ts = ts.to_string();
    let sig = signature(secret.as_bytes(), method, &format!("{}{path}", s.base), body.as_bytes(), &ts);
    send(s, client, method, path, body, Some(&ts), Some(&sig)).await
}

fn refused(a: &Answer, why: &str) {
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(a.www.starts_with("Bearer realm="), "{}", a.www);
    assert!(a.www.contains(r#"error="invalid_signature""#), "{}", a.www);
    assert_eq!(a.body["error"], "invalid_signature", "{}", a.text);
    let description = a.body["error_description"].as_str().unwrap();
    assert!(description.contains(why), "{description} should say {why}");
}

#[tokio::test]
async fn signed_get_and_post_are_accepted_and_the_handler_gets_the_same_bytes() {
    let s = service(SignatureMode::Required, 1024 * 1024).await;
    let t = s.clock.now_unix();
    let a = signed(&s, "payment-service", PAYMENT_SECRET, "GET", "/items?page=2&sort=desc", "", t).await;
    assert_eq!((a.status, a.text.as_str()), (200, "items"));
    let body = r#"{"amount": 10, "currency": "EUR", "note": "é"}"#;
    let a = signed(&s, "payment-service", PAYMENT_SECRET, "POST", "/echo", body, t).await;
    assert_eq!((a.status, a.text.as_str()), (200, body));
}

#[tokio::test]
async fn every_alteration_is_refused() {
    let s = service(SignatureMode::Required, 1024 * 1024).await;
    let ts = s.clock.now_unix().to_string();
    let url = |p: &str| format!("{}{p}", s.base);
    let sig = |method: &str, path: &str, body: &str, ts: &str| {
        signature(PAYMENT_SECRET.as_bytes(), method, &url(path), body.as_bytes(), ts)
    };
    let good = sig("POST", "/echo?x=1", "{\"a\":1}", &ts);
    let later = (s.clock.now_unix() + 1).to_string();
    for (what, method, path, body, ts_sent, sig_sent) in [
        ("method", "PUT", "/echo?x=1", "{\"a\":1}", ts.as_str(), good.clone()),
        ("path", "POST", "/echo2?x=1", "{\"a\":1}", &ts, good.clone()),
        ("query", "POST", "/echo?x=2", "{\"a\":1}", &ts, good.clone()),
        ("body", "POST", "/echo?x=1", "{\"a\":2}", &ts, good.clone()),
        ("timestamp", "POST", "/echo?x=1", "{\"a\":1}", &later, good.clone()),
        // The last hex digit changed (to another digit: one signature in 16 ends in 0).
        (
            "signature",
            "POST",
            "/echo?x=1",
            "{\"a\":1}",
            &ts,
            format!("{}{}", &good[..63], if good.ends_with('0') { '1' } else { '0' }),
        ),
        ("not hex", "POST", "/echo?x=1", "{\"a\":1}", &ts, "z".repeat(64)),
    ] {
        let a = send(&s, "payment-service", method, path, body, Some(ts_sent), Some(&sig_sent)).await;
        // A route that does not exist would be 404/405 only after the signature passed.
        refused(&a, "does not match");
        assert!(!a.text.contains(&good) && !a.text.contains(PAYMENT_SECRET), "{what}: {}", a.text);
    }
    // Untouched, it passes.
    let a = send(&s, "payment-service", "POST", "/echo?x=1", "{\"a\":1}", Some(&ts), Some(&good)).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_replay_is_refused() {
    let s = service(SignatureMode::Required, 1024 * 1024).await;
    let t = s.clock.now_unix();
    assert_eq!(signed(&s, "payment-service", PAYMENT_SECRET, "POST", "/echo", "pay 10", t).await.status, 200);
    refused(
        &signed(&s, "payment-service", PAYMENT_SECRET, "POST", "/echo", "pay 10", t).await,
        "already used",
    );
    // The same body a second later is a new request.
    assert_eq!(
        signed(&s, "payment-service", PAYMENT_SECRET, "POST", "/echo", "pay 10", t + 1).await.status,
        200
    );
    // A request without a body is decided without reading one: the same memory refuses it.
    assert_eq!(signed(&s, "payment-service", PAYMENT_SECRET, "GET", "/items", "", t).await.status, 200);
    refused(&signed(&s, "payment-service", PAYMENT_SECRET, "GET", "/items", "", t).await, "already used");
    // The same signature in capitals is the same signature.
    let (ts, url) = (t.to_string(), format!("{}/items", s.base));
    let upper = signature(PAYMENT_SECRET.as_bytes(), "GET", &url, b"", &ts).to_uppercase();
    refused(&send(&s, "payment-service", "GET", "/items", "", Some(&ts), Some(&upper)).await, "already used");
}

#[tokio::test]
async fn the_window_edges() {
    let s = service(SignatureMode::Required, 1024 * 1024).await;
    let t = s.clock.now_unix();
    for (offset, ok) in [(-300i64, true), (300, true), (-301, false), (301, false)] {
        let ts = t.checked_add_signed(offset).unwrap();
        let a = signed(&s, "payment-service", PAYMENT_SECRET, "GET", "/items", "", ts).await;
        if ok {
            assert_eq!(a.status, 200, "{offset}: {}", a.text);
        } else {
            refused(&a, "outside the accepted window");
        }
    }
    for bad in ["", "-5", "1.5", "12e3", "99999999999999999999999"] {
        let sig = signature(PAYMENT_SECRET.as_bytes(), "GET", &format!("{}/items", s.base), b"", bad);
        refused(&send(&s, "payment-service", "GET", "/items", "", Some(bad), Some(&sig)).await, "not signed");
    }
}

#[tokio::test]
async fn a_client_signing_for_another_clients_token_is_refused() {
    let s = service(SignatureMode::Required, 1024 * 1024).await;
    let t = s.clock.now_unix();
    // billing-service's token, signed with payment-service's secret.
    refused(&signed(&s, "billing-service", PAYMENT_SECRET, "GET", "/items", "", t).await, "does not match");
    assert_eq!(signed(&s, "billing-service", BILLING_SECRET, "GET", "/items", "", t).await.status, 200);
    // A client with no signing secret at all.
    refused(&signed(&s, "stranger", PAYMENT_SECRET, "GET", "/items", "", t).await, "no signing secret");
}

#[tokio::test]
async fn missing_headers_and_a_body_over_the_cap() {
    let s = service(SignatureMode::Required, 64).await;
    let t = s.clock.now_unix().to_string();
    refused(&send(&s, "payment-service", "GET", "/items", "", None, None).await, "not signed");
    refused(&send(&s, "payment-service", "GET", "/items", "", Some(&t), None).await, "not signed");
    let big = "x".repeat(65);
    let a = signed(&s, "payment-service", PAYMENT_SECRET, "POST", "/echo", &big, s.clock.now_unix()).await;
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.body["error"], "invalid_request");
    assert!(a.www.contains(r#"error="invalid_request""#), "{}", a.www);
    // Chunked, with no Content-Length: cut off at the cap while reading.
    let token = s.idp.token("payment-service", &[]);
    let sig = signature(PAYMENT_SECRET.as_bytes(), "POST", &format!("{}/echo", s.base), big.as_bytes(), &t);
    let mut tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nX-Timestamp: {t}\r\nX-Signature: {sig}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.as_bytes().chunks(20) {
        tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.unwrap();
        tcp.write_all(chunk).await.unwrap();
        tcp.write_all(b"\r\n").await.unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// Header lines as sent: each name and the bytes of its value, repeats kept.
type Lines<'a> = Vec<(&'a str, &'a [u8])>;

/// Sends `GET /items` over a raw connection with `extra` header lines and answers the status
/// line and the rest.
async fn raw_get(s: &Service, extra: &[(&str, &[u8])]) -> String {
    let token = s.idp.token("payment-service", &[]);
    let mut head =
        format!("GET /items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n").into_bytes();
    for (name, value) in extra {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap();
    tcp.write_all(&head).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_signature_header_sent_twice_or_not_as_text_is_refused() {
    for mode in [SignatureMode::Required, SignatureMode::Optional] {
        let s = service(mode, 1024).await;
        let t = s.clock.now_unix().to_string();
        let sig = signature(PAYMENT_SECRET.as_bytes(), "GET", &format!("{}/items", s.base), b"", &t);
        let (t, sig) = (t.as_bytes(), sig.as_bytes());
        let refusals: [(&str, Lines); 6] = [
            ("signature twice", vec![("X-Timestamp", t), ("X-Signature", sig), ("X-Signature", sig)]),
            ("timestamp twice", vec![("X-Timestamp", t), ("x-timestamp", t), ("X-Signature", sig)]),
            (
                "version twice",
                vec![
                    ("X-Timestamp", t),
                    ("X-Signature", sig),
                    ("X-Signature-Version", b"1"),
                    ("X-Signature-Version", b"1"),
                ],
            ),
            ("signature not text", vec![("X-Timestamp", t), ("X-Signature", b"\xe9\xe9")]),
            ("timestamp not text", vec![("X-Timestamp", b"1\xe9"), ("X-Signature", sig)]),
            ("a lone signature twice", vec![("X-Signature", sig), ("X-Signature", sig)]),
        ];
        for (what, headers) in refusals {
            let answer = raw_get(&s, &headers).await;
            assert!(answer.starts_with("HTTP/1.1 401"), "{mode:?}, {what}: {answer}");
            assert!(answer.contains(r#"error="invalid_signature""#), "{mode:?}, {what}: {answer}");
        }
        // The same headers once each, in any case: accepted.
        let answer =
            raw_get(&s, &[("x-TIMESTAMP", t), ("X-Signature-Version", b"1"), ("x-signature", sig)]).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{mode:?}: {answer}");
    }
}

#[tokio::test]
async fn optional_mode_lets_unsigned_requests_through_but_checks_signed_ones() {
    let s = service(SignatureMode::Optional, 1024 * 1024).await;
    assert_eq!(send(&s, "payment-service", "GET", "/items", "", None, None).await.status, 200);
    let t = s.clock.now_unix();
    assert_eq!(signed(&s, "payment-service", PAYMENT_SECRET, "GET", "/items", "", t).await.status, 200);
    refused(&signed(&s, "payment-service", BILLING_SECRET, "GET", "/items", "", t).await, "does not match");
}

#[cfg(feature = "client")]
mod end_to_end {
    use std::path::PathBuf;
    use std::process::Stdio;

    use permiso::client::{BearerMiddleware, ServiceCredentials, TokenEndpoint, TokenSource};
    use permiso::signing::{Signer, SigningMiddleware};
    use tokio::io::AsyncBufReadExt;
    use tokio::process::{Child, Command};

    use super::*;

    fn example_binary() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(|d| d.parent()).unwrap();
        dir.join("examples").join(format!("payment_service{}", std::env::consts::EXE_SUFFIX))
    }

    /// payment_service with signatures required, trusting `idp`, from the environment alone.
    async fn payment_service(idp: &TestIssuer) -> (Child, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let bind = listener.local_addr().unwrap().to_string();
        drop(listener);
        let mut child = Command::new(example_binary())
            .env_clear()
            .envs([
                ("PERMISO_ISSUER", idp.issuer()),
                ("PERMISO_AUDIENCE", "keystone-auth".to_owned()),
                ("PERMISO_JWKS_URL", idp.jwks_url()),
                ("PERMISO_BIND", bind.clone()),
                ("PERMISO_SIGNATURES", "required".to_owned()),
                ("PERMISO_SIGNING_SECRETS", "payment-service=PAYMENT_SIGNING_SECRET".to_owned()),
                ("PAYMENT_SIGNING_SECRET", PAYMENT_SECRET.to_owned()),
                ("PERMISO_PUBLIC_BASE_URL", format!("http://{bind}")),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the payment_service example is built by cargo test");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_default();
        let url = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
        (child, url)
    }

    async fn issuer() -> TestIssuer {
        TestIssuer::builder()
            .client("payment-service", PAYMENT_SECRET, &["read:transactions", "write:transactions"])
            .start()
            .await
    }

    #[tokio::test]
    async fn signer_and_bearer_middleware_against_payment_service() {
        let idp = issuer().await;
        let (_child, base) = payment_service(&idp).await;
        let creds =
            ServiceCredentials::new("payment-service", PAYMENT_SECRET, TokenEndpoint::Url(idp.token_url()));
        let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(BearerMiddleware::new(TokenSource::new(creds.clone()).unwrap()))
            .with(SigningMiddleware::new(Signer::new(&creds)))
            .build();
        let res = http.get(format!("{base}/api/v1/transactions?limit=5")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res =
            http.post(format!("{base}/api/v1/transactions")).body(r#"{"amount":10}"#).send().await.unwrap();
        assert_eq!(res.status(), 200);
        // The same calls without the signer are refused.
        let unsigned = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(BearerMiddleware::new(TokenSource::new(creds).unwrap()))
            .build();
        let res = unsigned.get(format!("{base}/api/v1/transactions")).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }

    /// The README's "Python services calling permiso services": the Python client's fixed
    /// scopes narrow the token (a `read:transactions` route answers 403 by design), and its
    /// signed `json=` POST fails where `content=json.dumps(body)` passes.
    #[tokio::test]
    async fn permisos_python_client_as_the_readme_describes_it() {
        let python = std::process::Command::new("python3").arg("--version").output();
        if !python.is_ok_and(|o| o.status.success()) {
            eprintln!("python3 is not installed: the Python client is not run");
            return;
        }
        let idp = TestIssuer::builder()
            .client(
                "payment-service",
                PAYMENT_SECRET,
                &["read:transactions", "write:transactions", "read:users"],
            )
            .start()
            .await;
        let (_child, base) = payment_service(&idp).await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tutorial_client.py");
        let auth = format!("{}/api/v1", idp.url());
        let out = Command::new("python3")
            .args([script, &auth, "payment-service", PAYMENT_SECRET, &base])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "granted read:users write:transactions", "{stdout}");
        assert_eq!(lines[1], "get-transactions 403", "{stdout}");
        assert!(lines[2].starts_with("post-json-as-written 401 "), "{stdout}");
        assert_eq!(lines[3], "post-content-fixed 200", "{stdout}");
    }

    #[tokio::test]
    async fn a_python_caller_written_from_permisos_python_signer_is_accepted() {
        let python = std::process::Command::new("python3").arg("--version").output();
        if !python.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "python3 is not installed: the Python caller is not run (see README to run it by hand)"
            );
            return;
        }
        let idp = issuer().await;
        let (_child, base) = payment_service(&idp).await;
        let token = idp.token("payment-service", &["read:transactions", "write:transactions"]);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signed_caller.py");
        let out =
            Command::new("python3").args([script, &base, &token, PAYMENT_SECRET]).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["200", "200"]);
        // And with another secret it is refused.
        let out =
            Command::new("python3").args([script, &base, &token, "not-the-secret"]).output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["401", "401"]);
    }
}

#[test]
fn configuration_from_the_environment_and_toml() {
    let env = |vars: &[(&str, &str)]| {
        RequestSigning::from_env_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    };
    assert!(env(&[]).unwrap().is_none(), "off by default");
    assert!(env(&[("PERMISO_SIGNATURES", "off")]).unwrap().is_none());
    let on = [
        ("PERMISO_SIGNATURES", "required"),
        ("PERMISO_SIGNING_SECRETS", "payment-service=PAY_SECRET, billing-service=BILL_SECRET"),
        ("PAY_SECRET", "Sup3r-s3cret-pay"),
        ("BILL_SECRET", "Sup3r-s3cret-bill"),
        ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com/gw"),
        ("PERMISO_SIGNING_WINDOW_SECS", "120"),
        ("PERMISO_SIGNING_MAX_BODY_BYTES", "4096"),
    ];
    let layer = env(&on).unwrap().unwrap();
    assert!(!format!("{layer:?}").contains("Sup3r"));
    for (name, value, expect) in [
        ("PERMISO_SIGNATURES", "sometimes", "PERMISO_SIGNATURES"),
        ("PERMISO_SIGNING_SECRETS", "payment-service", "PERMISO_SIGNING_SECRETS"),
        ("PERMISO_SIGNING_SECRETS", "payment-service=NOT_SET", "NOT_SET"),
        ("PERMISO_PUBLIC_BASE_URL", "payments", "public base URL"),
        ("PERMISO_SIGNING_WINDOW_SECS", "0", "PERMISO_SIGNING_WINDOW_SECS"),
        ("PERMISO_SIGNING_MAX_BODY_BYTES", "lots", "PERMISO_SIGNING_MAX_BODY_BYTES"),
    ] {
        let vars: Vec<(&str, &str)> =
            on.iter().copied().filter(|(n, _)| *n != name).chain([(name, value)]).collect();
        let err = env(&vars).unwrap_err().to_string();
        assert!(err.contains(expect) && !err.contains("Sup3r"), "{name}={value}: {err}");
    }
    let missing: Vec<(&str, &str)> =
        on.iter().copied().filter(|(n, _)| *n != "PERMISO_PUBLIC_BASE_URL").collect();
    assert!(env(&missing).unwrap_err().to_string().contains("PERMISO_PUBLIC_BASE_URL"));

    // The same in the TOML file named by PERMISO_CONFIG, next to the verifier's settings.
    let dir = std::env::temp_dir().join(format!("permiso-signing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("permiso.toml");
    std::fs::write(
        &path,
        "audience = \"keystone-auth\"\n[[issuer]]\niss = \"keystone-auth\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n\
         [signing]\nmode = \"optional\"\npublic_base_url = \"https://payments.example.com\"\nwindow_secs = 60\n\
         secrets = { \"payment-service\" = \"PAY_SECRET\" }\n",
    )
    .unwrap();
    let file = [("PERMISO_CONFIG", path.to_str().unwrap()), ("PAY_SECRET", "Sup3r-s3cret-pay")];
    assert!(env(&file).unwrap().is_some());
    Verifier::from_file(&path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
