//! The full `AuthLayer` through `tower::ServiceExt::oneshot` on a trivial handler, against the
//! same handler without the layer, same run. The token is reused (a verified-token cache hit),
//! as service tokens are in practice; `layer_cold` turns the cache off.
//!
//! `auth_layer_cache_hit_token_locations` is the same hit with a header and a cookie also
//! configured as token locations and RFC 9728 metadata served.
//!
//! `layer_dpop` puts a DPoP request (the bound token cached, a fresh ES256 proof made outside
//! the timing for each iteration) next to the same token's bearer twin, same run, and the
//! floor of any DPoP check: aws-lc-rs verifying one such proof's ES256 signature with the
//! public key from its `jwk` (`es256_floor`). The DPoP stage's cost is
//! `dpop_cached_token_fresh_proof` minus `bearer_cache_hit`; its target is 1.15 × the floor.
//!
//! `layer_introspection` (feature `introspection`) puts an opaque token judged by RFC 7662
//! introspection, answered from the answer cache, next to a locally verified JWT's cache hit
//! and no layer, same run.
//!
//! `layer_mtls` puts a certificate-bound token (RFC 8705) whose certificate comes in a trusted
//! proxy's header (nginx's URL-encoded PEM, or Envoy's XFCC `Hash=`) next to an unbound
//! token's cache hit through the same layer, and no layer, same run.
//!
//! `layer_signed` puts a request carrying permiso's request signature (a GET, each iteration
//! signed outside the timing with a fresh query, as permiso's Python `RequestSigner` signs it)
//! next to the same token's bearer cache hit and no layer, same run; then every stage on one
//! layer (revocation answered locally, signatures, a rate limit that never triggers) and the
//! same with a Prometheus recorder installed. The signature memory holds about three seconds'
//! worth of requests, as under load: the signatures' clock moves one second every 20,000.
//!
//! Run: `cargo bench --bench layer` (add `--features introspection` for
//! `layer_introspection`)

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use permiso::testing::{SigningKey, immediately};
use permiso::{Algorithm, AuthLayer, Issuer, Key, KeySet, ServiceTokenRule, Verifier};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const ISS: &str = "keystone-auth";

async fn handler(_: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"[]"))))
}

fn request(token: &str) -> Request<Full<Bytes>> {
    Request::get("/api/v1/transactions")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The unix time now, an RS256 signing key, a permiso service token it signed valid for
/// `valid_for` seconds, and a verifier builder trusting that key.
fn rs256_service_token(valid_for: u64) -> (u64, SigningKey, String, impl Fn() -> permiso::VerifierBuilder) {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signer = SigningKey::generate(Algorithm::RS256).with_kid("k1");
    let token = signer.sign(&json!({
        "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": unix + valid_for, "iat": unix,
        "nbf": unix, "jti": "j", "type": "service", "client_id": "payment-service",
        "scopes": ["read:transactions"], "is_trusted": false,
    }));
    let keys = KeySet::new([Key::from_pem(signer.public_pem().unwrap()).unwrap().with_kid("k1")]);
    let builder = move || {
        Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, keys.clone()).service_tokens(ServiceTokenRule::permiso()))
    };
    (unix, signer, token, builder)
}

fn layer(c: &mut Criterion) {
    let (unix, signer, token, builder) = rs256_service_token(3600);

    let bare = ServiceBuilder::new().service(service_fn(handler));
    let warm =
        ServiceBuilder::new().layer(AuthLayer::new(builder().build().unwrap())).service(service_fn(handler));
    let cold = ServiceBuilder::new()
        .layer(AuthLayer::new(builder().no_token_cache().build().unwrap()))
        .service(service_fn(handler));
    // The same, with a gateway header and a cookie also configured as token locations, and
    // RFC 9728 metadata served.
    let locations = permiso::layer::TokenLocations::authorization()
        .header("x-access-token")
        .unwrap()
        .cookie("access_token")
        .unwrap();
    let located = ServiceBuilder::new()
        .layer(
            AuthLayer::builder(builder().build().unwrap())
                .token_locations(locations)
                .resource_metadata(
                    permiso::layer::ResourceMetadata::new("https://payments.example.com").unwrap(),
                )
                .build(),
        )
        .service(service_fn(handler));
    assert_eq!(immediately(warm.clone().oneshot(request(&token))).unwrap().status(), 200);
    assert_eq!(immediately(cold.clone().oneshot(request(&token))).unwrap().status(), 200);
    assert_eq!(immediately(located.clone().oneshot(request(&token))).unwrap().status(), 200);

    let mut group = c.benchmark_group("layer_rs256");
    group.bench_function("no_layer", |b| b.iter(|| immediately(bare.oneshot(request(black_box(&token))))));
    group.bench_function("auth_layer_cache_hit", |b| {
        b.iter(|| immediately(warm.clone().oneshot(request(black_box(&token)))))
    });
    group.bench_function("auth_layer_cache_hit_token_locations", |b| {
        b.iter(|| immediately(located.clone().oneshot(request(black_box(&token)))))
    });
    group.bench_function("auth_layer_cold", |b| {
        b.iter(|| immediately(cold.clone().oneshot(request(black_box(&token)))))
    });
    group.finish();

    // DPoP: the same claims bound to a key; each iteration brings its own proof.
    let key = permiso::dpop::DpopKey::generate().unwrap();
    let bound = signer.sign(&json!({
        "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": unix + 3600, "iat": unix,
        "nbf": unix, "jti": "j", "type": "service", "client_id": "payment-service",
        "scopes": ["read:transactions"], "is_trusted": false, "cnf": {"jkt": key.thumbprint()},
    }));
    let dpop_request = |proof: String| {
        Request::get("/api/v1/transactions")
            .header("host", "payments.internal")
            .header("authorization", format!("DPoP {bound}"))
            .header("dpop", proof)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let url = "http://payments.internal/api/v1/transactions";
    let proof = || key.proof("GET", url, Some(&bound), None);
    // DPoP is off unless asked for, and checked against the service's public origin.
    let dpop = permiso::dpop::Dpop::new(permiso::dpop::DpopMode::Allowed)
        .public_base_url("http://payments.internal");
    let warm = ServiceBuilder::new()
        .layer(AuthLayer::new(builder().dpop(dpop).build().unwrap()))
        .service(service_fn(handler));
    assert_eq!(immediately(warm.clone().oneshot(dpop_request(proof()))).unwrap().status(), 200);
    let mut group = c.benchmark_group("layer_dpop");
    group.bench_function("bearer_cache_hit", |b| {
        b.iter(|| immediately(warm.clone().oneshot(request(black_box(&token)))))
    });
    group.bench_function("dpop_cached_token_fresh_proof", |b| {
        b.iter_batched(
            || dpop_request(proof()),
            |req| immediately(warm.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    // The floor: the proof's signature, the key parsed from its x and y (as every proof
    // brings its key), nothing else.
    let jwk = key.public_jwk();
    let coordinate = |name: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwk[name].as_str().unwrap())
            .unwrap()
    };
    let point = [vec![4u8], coordinate("x"), coordinate("y")].concat();
    let split = |proof: String| {
        let (input, signature) = proof.rsplit_once('.').unwrap();
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).unwrap();
        (input.to_owned(), signature)
    };
    group.bench_function("es256_floor", |b| {
        b.iter_batched(
            || split(proof()),
            |(input, signature)| {
                aws_lc_rs::signature::UnparsedPublicKey::new(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                    &point,
                )
                .verify(input.as_bytes(), &signature)
                .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// An opaque token answered from the introspection cache (the `TestIssuer`'s RFC 7662 endpoint
/// on loopback was called once, before the timing).
#[cfg(feature = "introspection")]
fn introspection(c: &mut Criterion) {
    use permiso::introspection::Introspection;
    use permiso::testing::TestIssuer;

    let rt = tokio::runtime::Runtime::new().unwrap();
    let idp = rt.block_on(TestIssuer::builder().client("payments-api", "payments-api-secret", &[]).start());
    let introspection = Introspection::rfc7662(idp.introspection_url())
        .client_secret_basic("payments-api", "payments-api-secret");
    let verifier =
        Verifier::builder([ISS]).issuer(Issuer::introspected(idp.issuer(), introspection)).build().unwrap();
    let opaque = idp.opaque_token("payment-service", &["read:transactions"]);
    let jwt = idp.token("payment-service", &["read:transactions"]);
    let introspected = ServiceBuilder::new().layer(AuthLayer::new(verifier)).service(service_fn(handler));
    let local = ServiceBuilder::new()
        .layer(AuthLayer::new(Verifier::builder([ISS]).issuer(idp.issuer_config()).build().unwrap()))
        .service(service_fn(handler));
    assert_eq!(rt.block_on(introspected.clone().oneshot(request(&opaque))).unwrap().status(), 200);
    assert_eq!(rt.block_on(local.clone().oneshot(request(&jwt))).unwrap().status(), 200);
    assert_eq!(idp.introspection_calls(), 1);

    let bare = ServiceBuilder::new().service(service_fn(handler));
    let mut group = c.benchmark_group("layer_introspection");
    group.bench_function("no_layer", |b| b.iter(|| immediately(bare.oneshot(request(black_box(&opaque))))));
    group.bench_function("local_jwt_cache_hit", |b| {
        b.iter(|| immediately(local.clone().oneshot(request(black_box(&jwt)))))
    });
    group.bench_function("introspection_cache_hit", |b| {
        b.iter(|| immediately(introspected.clone().oneshot(request(black_box(&opaque)))))
    });
    group.finish();
    assert_eq!(idp.introspection_calls(), 1, "every timed request was a cache hit");
}

/// A certificate-bound token whose certificate a trusted proxy forwards in a header, each
/// request parsed and hashed (nothing of the header is cached).
fn mtls(c: &mut Criterion) {
    use permiso::mtls::{CertHeaderFormat, CertificateBinding, ClientCertificate, PeerAddr};

    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signer = SigningKey::generate(Algorithm::RS256).with_kid("k1");
    let cert = rcgen::generate_simple_self_signed(Vec::<String>::new()).unwrap().cert;
    let x5t = ClientCertificate::from_der(cert.der().to_vec()).thumbprint();
    let claims = |cnf: Option<&str>| {
        let mut c = json!({
            "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": unix + 3600, "iat": unix,
            "nbf": unix, "jti": "j", "type": "service", "client_id": "payment-service",
            "scopes": ["read:transactions"], "is_trusted": false,
        });
        if let Some(x5t) = cnf {
            c["cnf"] = json!({ "x5t#S256": x5t });
        }
        c
    };
    let (plain, bound) = (signer.sign(&claims(None)), signer.sign(&claims(Some(&x5t))));
    let keys = KeySet::new([Key::from_pem(signer.public_pem().unwrap()).unwrap().with_kid("k1")]);
    let layered = |format: CertHeaderFormat| {
        let verifier = Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, keys.clone()).service_tokens(ServiceTokenRule::permiso()))
            .build()
            .unwrap();
        let binding = CertificateBinding::builder()
            .header("x-client-cert", format)
            .trusted_proxies(["127.0.0.1"])
            .build()
            .unwrap();
        ServiceBuilder::new()
            .layer(AuthLayer::builder(verifier).client_certificates(binding).build())
            .service(service_fn(handler))
    };
    let (pem_layer, xfcc_layer) = (layered(CertHeaderFormat::PemUrlEncoded), layered(CertHeaderFormat::Xfcc));
    let escaped: String = cert
        .pem()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    let hex: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.der())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let xfcc = format!(
        "By=spiffe://cluster.local/ns/payments/sa/api;Hash={hex};Subject=\"\";URI=spiffe://cluster.local/ns/billing/sa/caller"
    );
    let proxied = |token: &str, header: &str| {
        let mut req = request(token);
        req.headers_mut().insert("x-client-cert", header.parse().unwrap());
        req.extensions_mut().insert(PeerAddr("127.0.0.1:40000".parse().unwrap()));
        req
    };
    assert_eq!(immediately(pem_layer.clone().oneshot(proxied(&bound, &escaped))).unwrap().status(), 200);
    assert_eq!(immediately(xfcc_layer.clone().oneshot(proxied(&bound, &xfcc))).unwrap().status(), 200);
    assert_eq!(immediately(pem_layer.clone().oneshot(request(&bound))).unwrap().status(), 401);

    let bare = ServiceBuilder::new().service(service_fn(handler));
    let mut group = c.benchmark_group("layer_mtls");
    group.bench_function("no_layer", |b| b.iter(|| immediately(bare.oneshot(request(black_box(&plain))))));
    group.bench_function("unbound_cache_hit", |b| {
        b.iter(|| immediately(pem_layer.clone().oneshot(request(black_box(&plain)))))
    });
    group.bench_function("bound_pem_urlencoded_header", |b| {
        b.iter(|| immediately(pem_layer.clone().oneshot(proxied(black_box(&bound), &escaped))))
    });
    group.bench_function("bound_xfcc_hash_header", |b| {
        b.iter(|| immediately(xfcc_layer.clone().oneshot(proxied(black_box(&bound), &xfcc))))
    });
    group.finish();
}

/// Request signatures, then every stage, through one layer (runs last: it installs a recorder).
fn signed(c: &mut Criterion) {
    use permiso::limit::RateLimits;
    use permiso::signing::{RequestSigning, SignatureMode};
    use permiso::{Clock as _, ManualClock, MemoryRevocations, Revocation};

    // Valid long enough for the signatures' clock, which runs ahead of the verifier's.
    let (unix, _, token, builder) = rs256_service_token(1_000_000);
    const SECRET: &str = "payment-service-signing-secret";
    const BASE: &str = "http://payments.internal";
    let clock = ManualClock::at_unix(unix);
    let signing = || {
        RequestSigning::new(SignatureMode::Required, BASE)
            .client_secret("payment-service", SECRET)
            .window(std::time::Duration::from_secs(2))
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let limits = || {
        RateLimits::new()
            .client("payment-service", 1_000_000_000)
            .default_per_minute(1_000_000_000)
            .build()
            .unwrap()
    };
    let plain =
        ServiceBuilder::new().layer(AuthLayer::new(builder().build().unwrap())).service(service_fn(handler));
    let signed = ServiceBuilder::new()
        .layer(AuthLayer::builder(builder().build().unwrap()).signatures(signing()).build())
        .service(service_fn(handler));
    let revocation =
        Revocation::new(MemoryRevocations::new()).max_staleness(std::time::Duration::from_secs(3600));
    let everything = ServiceBuilder::new()
        .layer(
            AuthLayer::builder(builder().revocation(revocation).build().unwrap())
                .signatures(signing())
                .rate_limits(limits())
                .build(),
        )
        .service(service_fn(handler));
    // A fresh query each time (a signature is refused the second time), the clock moved one
    // second every 20,000 requests.
    let mut n = 0u64;
    let bearer = format!("Bearer {token}");
    let mut signed_request = move || {
        n += 1;
        if n.is_multiple_of(20_000) {
            clock.advance(std::time::Duration::from_secs(1));
        }
        let path = format!("/api/v1/transactions?n={n}");
        let ts = clock.now_unix().to_string();
        let sig = permiso::signing::signature(SECRET.as_bytes(), "GET", &format!("{BASE}{path}"), b"", &ts);
        Request::get(path)
            .header("authorization", bearer.as_str())
            .header("x-timestamp", ts)
            .header("x-signature", sig)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for service in [&signed, &everything] {
        assert_eq!(immediately(service.clone().oneshot(signed_request())).unwrap().status(), 200);
        assert_eq!(immediately(service.clone().oneshot(request(&token))).unwrap().status(), 401);
    }

    let bare = ServiceBuilder::new().service(service_fn(handler));
    let mut group = c.benchmark_group("layer_signed");
    group.bench_function("no_layer", |b| b.iter(|| immediately(bare.oneshot(request(black_box(&token))))));
    group.bench_function("bearer_cache_hit", |b| {
        b.iter(|| immediately(plain.clone().oneshot(request(black_box(&token)))))
    });
    group.bench_function("signed_get", |b| {
        b.iter_batched(
            &mut signed_request,
            |req| immediately(signed.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("everything", |b| {
        b.iter_batched(
            &mut signed_request,
            |req| immediately(everything.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    // The recorder permiso's users would install; the recorder's upkeep is not run here.
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
        .unwrap()
        .install_recorder()
        .unwrap();
    group.bench_function("bearer_cache_hit_recorded", |b| {
        b.iter(|| immediately(plain.clone().oneshot(request(black_box(&token)))))
    });
    group.bench_function("everything_recorded", |b| {
        b.iter_batched(
            &mut signed_request,
            |req| immediately(everything.clone().oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

#[cfg(feature = "introspection")]
criterion_group!(benches, layer, mtls, introspection, signed);
#[cfg(not(feature = "introspection"))]
criterion_group!(benches, layer, mtls, signed);
criterion_main!(benches);
