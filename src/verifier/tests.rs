//! The verifier's own tests: every check on tokens made in memory.

use std::sync::OnceLock;

use serde_json::{Value, json};

use std::time::Duration;

use super::*;
use crate::algorithm::Algorithm;
use crate::clock::ManualClock;
use crate::error::{AuthError, AuthErrorKind, ConfigErrorKind};
use crate::keys::{Key, KeySet};
use crate::scope::ScopeRules;
use crate::testing::SigningKey;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "keystone-auth";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn rsa_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::RS256).with_kid("rsa-1"))
}

fn permiso_claims() -> Value {
    json!({
        "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": NOW + 3600,
        "iat": NOW, "nbf": NOW, "jti": "7d1c", "type": "service",
        "client_id": "payment-service",
        "scopes": ["write:transactions", "read:transactions"], "is_trusted": true,
    })
}

fn permiso_verifier() -> Verifier {
    Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap()
}

fn hs(claims: &Value) -> String {
    SigningKey::hmac(Algorithm::HS256, SECRET).sign(claims)
}

fn with(claims: &Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims.clone();
    f(c.as_object_mut().unwrap());
    c
}

fn reject(verifier: &Verifier, token: &str) -> AuthError {
    match block_on(verifier.verify(token)) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn permiso_token_is_accepted_and_normalized() {
    let claims = block_on(permiso_verifier().verify(&hs(&permiso_claims()))).unwrap();
    assert_eq!(claims.issuer(), ISS);
    assert_eq!(claims.client_id(), Some("payment-service"));
    assert!(claims.is_service_token());
    assert!(claims.is_trusted());
    assert!(claims.scopes().satisfies("read:transactions"));
    assert!(!claims.scopes().satisfies("read:users"));
}

#[test]
fn admin_implies_read_and_write_through_the_verifier() {
    let c = with(&permiso_claims(), |c| {
        c.insert("scopes".into(), json!(["admin:transactions"]));
    });
    let claims = block_on(permiso_verifier().verify(&hs(&c))).unwrap();
    assert!(claims.scopes().satisfies("write:transactions"));
    let exact = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET))
        .scope_rules(ScopeRules::none())
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let claims = block_on(exact.verify(&hs(&c))).unwrap();
    assert!(!claims.scopes().satisfies("write:transactions"));
}

#[test]
fn wrong_secret_is_an_invalid_signature() {
    let token =
        SigningKey::hmac(Algorithm::HS256, b"another-secret-another-secret-xx").sign(&permiso_claims());
    assert_eq!(reject(&permiso_verifier(), &token).kind(), AuthErrorKind::InvalidSignature);
    // A tampered payload under the right secret's signature.
    let good = hs(&permiso_claims());
    let forged = hs(&with(&permiso_claims(), |c| {
        c.insert("scopes".into(), json!(["admin:everything"]));
    }));
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, sig) = forged.rsplit_once('.').unwrap();
    assert_eq!(reject(&permiso_verifier(), &format!("{head}.{sig}")).kind(), AuthErrorKind::InvalidSignature);
}

#[test]
fn alg_none_is_refused_in_four_spellings() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let payload = URL_SAFE.encode(permiso_claims().to_string());
        let header = URL_SAFE.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        for sig in ["", "AA"] {
            let e = reject(&permiso_verifier(), &format!("{header}.{payload}.{sig}"));
            assert!(
                matches!(e.kind(), AuthErrorKind::UnsupportedAlgorithm | AuthErrorKind::MalformedToken),
                "{alg}: {e:?}"
            );
            assert_eq!(e.status(), 401);
        }
    }
}

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as URL_SAFE;

fn rsa_verifier(algs: Option<Vec<Algorithm>>) -> Verifier {
    let keys = KeySet::new([Key::from_pem(rsa_key().public_pem().unwrap()).unwrap().with_kid("rsa-1")]);
    let mut issuer = Issuer::keys(ISS, keys).service_tokens(ServiceTokenRule::permiso());
    if let Some(a) = algs {
        issuer = issuer.algorithms(a);
    }
    Verifier::builder([ISS]).issuer(issuer).clock(ManualClock::at_unix(NOW)).build().unwrap()
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // CVE-2015-9235: the attacker signs HS256 using the RSA public key (PEM bytes, DER,
    // or the modulus) as the HMAC secret.
    let pem = rsa_key().public_pem().unwrap();
    let jwk = rsa_key().public_jwk().unwrap();
    let modulus = jwk["n"].as_str().unwrap().to_owned();
    for secret in [pem.as_bytes().to_vec(), pem.trim_end().as_bytes().to_vec(), modulus.into_bytes()] {
        let attacker = SigningKey::hmac(Algorithm::HS256, &secret).with_kid("rsa-1");
        let e = reject(&rsa_verifier(None), &attacker.sign(&permiso_claims()));
        assert_eq!(e.kind(), AuthErrorKind::UnsupportedAlgorithm);
    }
    // And no configuration can make it work: HS256 on public keys does not build.
    let keys = KeySet::new([Key::from_pem(&pem).unwrap()]);
    let err = Verifier::builder([ISS])
        .issuer(Issuer::keys(ISS, keys).algorithms([Algorithm::RS256, Algorithm::HS256]))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict);
    assert!(err.to_string().contains("HS256"), "{err}");
}

#[test]
fn rs256_and_ps256_with_one_rsa_key() {
    let v = rsa_verifier(Some(vec![Algorithm::RS256, Algorithm::PS256]));
    block_on(v.verify(&rsa_key().sign(&permiso_claims()))).unwrap();
    let ps = rsa_key().clone().with_algorithm(Algorithm::PS256);
    block_on(v.verify(&ps.sign(&permiso_claims()))).unwrap();
    // PS256 is not allowed by default.
    assert_eq!(
        reject(&rsa_verifier(None), &ps.sign(&permiso_claims())).kind(),
        AuthErrorKind::UnsupportedAlgorithm
    );
    // A PS256 signature presented as RS256 does not verify.
    let ps_token = ps.sign(&permiso_claims());
    let rs_token = rsa_key().sign(&permiso_claims());
    let forged = format!("{}.{}", rs_token.rsplit_once('.').unwrap().0, ps_token.rsplit_once('.').unwrap().1);
    assert_eq!(reject(&v, &forged).kind(), AuthErrorKind::InvalidSignature);
}

#[test]
fn jwk_alg_binds_the_key() {
    let mut jwk = rsa_key().public_jwk().unwrap();
    jwk["alg"] = json!("RS256");
    let key = Key::from_jwk(&jwk.to_string()).unwrap();
    // The issuer allows PS256, but this key only RS256: the build says so.
    let err = Verifier::builder([ISS])
        .issuer(Issuer::keys(ISS, KeySet::new([key])).algorithms([Algorithm::PS256]))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict);
}

#[test]
fn every_asymmetric_algorithm_verifies_from_jwks() {
    let keys: Vec<SigningKey> = [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]
        .into_iter()
        .map(|a| SigningKey::generate(a).with_kid(a.as_str()))
        .chain([rsa_key().clone()])
        .collect();
    let jwks = json!({"keys": keys.iter().map(|k| k.public_jwk().unwrap()).collect::<Vec<_>>()});
    let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
    assert_eq!(set.len(), 4);
    let v = Verifier::builder([ISS])
        .issuer(Issuer::keys(ISS, set).service_tokens(ServiceTokenRule::permiso()))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    for key in &keys {
        let claims =
            block_on(v.verify(&key.sign(&permiso_claims()))).unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
        assert!(claims.is_service_token());
        // An ES256/ES384/EdDSA header naming the RSA key's kid: the algorithm does not fit.
        if key.algorithm() != Algorithm::RS256 {
            let mut header = key.header("JWT");
            header["kid"] = json!("rsa-1");
            let e = reject(&v, &key.sign_with_header(&header, &permiso_claims()));
            assert_eq!(e.kind(), AuthErrorKind::UnsupportedAlgorithm, "{key:?}");
        }
    }
}

#[test]
fn ecdsa_zero_and_der_signatures_are_refused() {
    // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
    let key = SigningKey::generate(Algorithm::ES256).with_kid("ec");
    let set = KeySet::new([Key::from_jwk(&key.public_jwk().unwrap().to_string()).unwrap()]);
    let v = Verifier::builder([ISS])
        .issuer(Issuer::keys(ISS, set))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let good = key.sign(&permiso_claims());
    let head = good.rsplit_once('.').unwrap().0;
    for sig in [vec![0u8; 64], vec![0u8; 1], vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]] {
        let token = format!("{head}.{}", URL_SAFE.encode(&sig));
        assert_eq!(reject(&v, &token).kind(), AuthErrorKind::InvalidSignature);
    }
}

#[test]
fn embedded_keys_and_key_urls_are_never_used() {
    // The attacker signs with their own key and embeds it (CVE-2018-0114) or points at it.
    let attacker = SigningKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let mut header = attacker.header("JWT");
    header["jwk"] = attacker.public_jwk().unwrap();
    header["jku"] = json!("http://127.0.0.1:1/jwks.json");
    header["x5u"] = json!("http://127.0.0.1:1/cert.pem");
    header["x5c"] = json!(["MIIB"]);
    let e = reject(&rsa_verifier(None), &attacker.sign_with_header(&header, &permiso_claims()));
    assert_eq!(e.kind(), AuthErrorKind::InvalidSignature);
}

#[test]
fn kid_selects_the_key() {
    let a = SigningKey::generate(Algorithm::EdDSA).with_kid("a");
    let b = SigningKey::generate(Algorithm::EdDSA).with_kid("b");
    let jwks = json!({"keys": [a.public_jwk().unwrap(), b.public_jwk().unwrap()]});
    let v = Verifier::builder([ISS])
        .issuer(Issuer::keys(ISS, KeySet::from_jwks(&jwks.to_string()).unwrap()))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    block_on(v.verify(&a.sign(&permiso_claims()))).unwrap();
    block_on(v.verify(&b.sign(&permiso_claims()))).unwrap();
    let unknown = SigningKey::generate(Algorithm::EdDSA).with_kid("c");
    assert_eq!(reject(&v, &unknown.sign(&permiso_claims())).kind(), AuthErrorKind::UnknownKey);
    // b's signature under a's kid fails.
    let mut header = b.header("JWT");
    header["kid"] = json!("a");
    assert_eq!(
        reject(&v, &b.sign_with_header(&header, &permiso_claims())).kind(),
        AuthErrorKind::InvalidSignature
    );
    // Without a kid, each key is tried.
    let mut header = b.header("JWT");
    header.as_object_mut().unwrap().remove("kid");
    block_on(v.verify(&b.sign_with_header(&header, &permiso_claims()))).unwrap();
}

#[test]
fn exp_string_missing_float_huge() {
    let v = permiso_verifier();
    for exp in [json!("1700003600"), json!(null), json!(1e300), json!(u64::MAX), json!(-1), json!(true)] {
        let c = with(&permiso_claims(), |c| {
            c.insert("exp".into(), exp.clone());
        });
        let e = reject(&v, &hs(&c));
        assert_eq!(e.kind(), AuthErrorKind::InvalidClaim, "{exp}");
        assert!(e.description().contains("exp"));
    }
    let missing = with(&permiso_claims(), |c| {
        c.remove("exp");
    });
    assert_eq!(reject(&v, &hs(&missing)).kind(), AuthErrorKind::InvalidClaim);
    // A fraction is a valid NumericDate (RFC 7519 §2).
    let float = with(&permiso_claims(), |c| {
        c.insert("exp".into(), json!(NOW as f64 + 10.5));
    });
    block_on(v.verify(&hs(&float))).unwrap();
}

#[test]
fn expiry_and_not_before_use_the_clock_and_leeway() {
    let clock = ManualClock::at_unix(NOW);
    let v = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET))
        .leeway(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = hs(&permiso_claims());
    block_on(v.verify(&token)).unwrap();
    clock.set_unix(NOW + 3600 + 29);
    block_on(v.verify(&token)).unwrap();
    clock.set_unix(NOW + 3600 + 30);
    assert_eq!(reject(&v, &token).kind(), AuthErrorKind::Expired);

    clock.set_unix(NOW);
    let future = with(&permiso_claims(), |c| {
        c.insert("nbf".into(), json!(NOW + 31));
    });
    assert_eq!(reject(&v, &hs(&future)).kind(), AuthErrorKind::NotYetValid);
    let soon = with(&permiso_claims(), |c| {
        c.insert("nbf".into(), json!(NOW + 30));
    });
    block_on(v.verify(&hs(&soon))).unwrap();
    let issued_later = with(&permiso_claims(), |c| {
        c.insert("iat".into(), json!(NOW + 3000));
    });
    assert_eq!(reject(&v, &hs(&issued_later)).kind(), AuthErrorKind::NotYetValid);
    for claim in ["nbf", "iat"] {
        let bad = with(&permiso_claims(), |c| {
            c.insert(claim.into(), json!("soon"));
        });
        assert_eq!(reject(&v, &hs(&bad)).kind(), AuthErrorKind::InvalidClaim);
    }
}

#[test]
fn wrong_and_lookalike_issuers() {
    let v = permiso_verifier();
    for iss in [
        "other",
        "Keystone-auth",
        "keystone-auth/",
        " keystone-auth",
        "keystone-auth\u{0}",
        "keystone‐auth",
        "",
    ] {
        let c = with(&permiso_claims(), |c| {
            c.insert("iss".into(), json!(iss));
        });
        assert_eq!(reject(&v, &hs(&c)).kind(), AuthErrorKind::UnknownIssuer, "{iss:?}");
    }
    let missing = with(&permiso_claims(), |c| {
        c.remove("iss");
    });
    assert_eq!(reject(&v, &hs(&missing)).kind(), AuthErrorKind::InvalidClaim);
}

#[test]
fn audience_string_or_list() {
    let v = Verifier::builder(["orders", "keystone-auth"])
        .issuer(Issuer::permiso(ISS, SECRET))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    for (aud, ok) in [
        (json!("orders"), true),
        (json!(["x", "keystone-auth"]), true),
        (json!(["x", "y"]), false),
        (json!("Orders"), false),
        (json!([]), false),
        // RFC 7519 §4.1.3: a string aud is one value, never split on spaces.
        (json!("attacker-api keystone-auth"), false),
        (json!("keystone-auth orders"), false),
    ] {
        let c = with(&permiso_claims(), |c| {
            c.insert("aud".into(), aud.clone());
        });
        let r = block_on(v.verify(&hs(&c)));
        assert_eq!(r.is_ok(), ok, "{aud}");
        if !ok {
            assert_eq!(r.unwrap_err().kind(), AuthErrorKind::InvalidAudience);
        }
    }
    let missing = with(&permiso_claims(), |c| {
        c.remove("aud");
    });
    assert_eq!(reject(&v, &hs(&missing)).kind(), AuthErrorKind::InvalidAudience);
    let number = with(&permiso_claims(), |c| {
        c.insert("aud".into(), json!(5));
    });
    assert_eq!(reject(&v, &hs(&number)).kind(), AuthErrorKind::InvalidClaim);
}

#[test]
fn is_trusted_string_is_not_trusted_but_the_allow_list_is() {
    for v in [json!("true"), json!(1), json!("True"), json!(null)] {
        let c = with(&permiso_claims(), |c| {
            c.insert("is_trusted".into(), v.clone());
        });
        assert!(!block_on(permiso_verifier().verify(&hs(&c))).unwrap().is_trusted(), "{v}");
    }
    let untrusted = with(&permiso_claims(), |c| {
        c.insert("is_trusted".into(), json!(false));
    });
    let v = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET))
        .trusted_clients(["payment-service"])
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    assert!(block_on(v.verify(&hs(&untrusted))).unwrap().is_trusted());
}

#[test]
fn trust_belongs_to_the_issuer() {
    const OTHER: &str = "https://idp.example.com";
    let other_key = SigningKey::hmac(Algorithm::HS256, b"another-issuers-secret-0123456789");
    let user = |iss: &str, extra: Value| {
        let mut c = json!({
            "iss": iss, "aud": [ISS], "sub": "alice", "exp": NOW + 3600, "iat": NOW,
            "scopes": ["read:transactions"],
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let v = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET).trusted_clients(["billing-service"]))
        .issuer(Issuer::hmac(OTHER, b"another-issuers-secret-0123456789"))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    // `azp` never grants trust, not even with a client id that is trusted elsewhere.
    let azp = other_key.sign(&user(OTHER, json!({"azp": "billing-service", "is_trusted": true})));
    let c = block_on(v.verify(&azp)).unwrap();
    assert!(!c.is_trusted());
    // Another issuer's service token for the same client id: not trusted by permiso's list,
    // and its is_trusted claim is not honoured.
    let other = other_key.sign(&user(
        OTHER,
        json!({"sub": "billing-service", "client_id": "billing-service", "is_trusted": true}),
    ));
    let c = block_on(v.verify(&other)).unwrap();
    assert!(c.is_service_token() && !c.is_trusted());
    // permiso's own: the list and the claim both count, for service tokens only.
    let listed = with(&permiso_claims(), |c| {
        c.insert("client_id".into(), json!("billing-service"));
        c.insert("is_trusted".into(), json!(false));
    });
    assert!(block_on(v.verify(&hs(&listed))).unwrap().is_trusted());
    assert!(block_on(v.verify(&hs(&permiso_claims()))).unwrap().is_trusted());
    let not_service = with(&permiso_claims(), |c| {
        c.insert("type".into(), json!("user"));
    });
    let c = block_on(v.verify(&hs(&not_service))).unwrap();
    assert!(!c.is_service_token() && !c.is_trusted(), "trusted implies a service token");
    // An issuer may be told to honour the claim, or permiso to ignore it.
    let honour = Verifier::builder([ISS])
        .issuer(Issuer::hmac(OTHER, b"another-issuers-secret-0123456789").trust_is_trusted_claim())
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    assert!(block_on(honour.verify(&other)).unwrap().is_trusted());
    let ignore = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET).ignore_is_trusted_claim())
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    assert!(!block_on(ignore.verify(&hs(&permiso_claims()))).unwrap().is_trusted());
    // The top-level list is for one issuer; with two it does not build.
    let err = Verifier::builder([ISS])
        .issuer(Issuer::permiso(ISS, SECRET))
        .issuer(Issuer::hmac(OTHER, b"another-issuers-secret-0123456789"))
        .trusted_clients(["billing-service"])
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict);
    assert!(err.to_string().contains("trusted_clients"), "{err}");
}

#[test]
fn short_hmac_secrets_are_refused_unless_explicitly_allowed() {
    for short in [&b"0123456789abcdef0123456789abcde"[..], b"secret"] {
        let err = Verifier::builder([ISS]).issuer(Issuer::permiso(ISS, short)).build().unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Key);
        assert!(err.to_string().contains("32 bytes"), "{err}");
        // Through a KeySet as well.
        let set = KeySet::new([Key::hmac(short).unwrap()]);
        assert!(Verifier::builder([ISS]).issuer(Issuer::keys(ISS, set)).build().is_err());
        let v = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, short).dangerous_allow_short_secret())
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        let token = SigningKey::hmac(Algorithm::HS256, short).sign(&permiso_claims());
        block_on(v.verify(&token)).unwrap();
    }
}

#[test]
fn a_key_bound_token_without_its_proof_is_refused() {
    let x5t = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";
    for (cnf, kind) in [
        (json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}), AuthErrorKind::SenderConstrained),
        // RFC 8705: no certificate goes with `Verifier::verify`.
        (json!({"x5t#S256": x5t}), AuthErrorKind::CertificateMismatch),
        (
            json!({"x5t#S256": x5t, "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            AuthErrorKind::CertificateMismatch,
        ),
        // Confirmation methods nobody here can prove.
        (json!({}), AuthErrorKind::SenderConstrained),
        (json!({"jwk": {"kty": "OKP"}}), AuthErrorKind::SenderConstrained),
        (json!({"x5t#S256": x5t, "kid": "k"}), AuthErrorKind::SenderConstrained),
        (json!("x5t"), AuthErrorKind::SenderConstrained),
    ] {
        let c = with(&permiso_claims(), |c| {
            c.insert("cnf".into(), cnf.clone());
        });
        let e = reject(&permiso_verifier(), &hs(&c));
        assert_eq!(e.kind(), kind, "{cnf}");
        assert_eq!(e.status(), 401);
    }
}

#[test]
fn service_token_rules() {
    let not_service = with(&permiso_claims(), |c| {
        c.insert("type".into(), json!("user"));
    });
    assert!(!block_on(permiso_verifier().verify(&hs(&not_service))).unwrap().is_service_token());
    let no_type = with(&permiso_claims(), |c| {
        c.remove("type");
    });
    assert!(!block_on(permiso_verifier().verify(&hs(&no_type))).unwrap().is_service_token());

    let rfc = Verifier::builder([ISS])
        .issuer(Issuer::hmac(ISS, SECRET))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    assert!(block_on(rfc.verify(&hs(&no_type))).unwrap().is_service_token());
    let user = with(&no_type, |c| {
        c.insert("sub".into(), json!("alice"));
    });
    assert!(!block_on(rfc.verify(&hs(&user))).unwrap().is_service_token());

    let gty = Verifier::builder([ISS])
        .issuer(
            Issuer::hmac(ISS, SECRET)
                .service_tokens(ServiceTokenRule::claim_equals("gty", "client-credentials")),
        )
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let cc = with(&user, |c| {
        c.insert("gty".into(), json!("client-credentials"));
    });
    assert!(block_on(gty.verify(&hs(&cc))).unwrap().is_service_token());
    assert!(!block_on(gty.verify(&hs(&user))).unwrap().is_service_token());
}

#[test]
fn typ_checks_and_rfc9068_mode() {
    let key = SigningKey::hmac(Algorithm::HS256, SECRET);
    let v = permiso_verifier();
    for typ in ["JWT", "jwt", "at+jwt", "application/at+JWT"] {
        block_on(v.verify(&key.sign_with_header(&key.header(typ), &permiso_claims()))).unwrap();
    }
    for typ in ["id_token+jwt", "secevent+jwt", "logout+jwt", "JWE", ""] {
        let e = reject(&v, &key.sign_with_header(&key.header(typ), &permiso_claims()));
        assert_eq!(e.kind(), AuthErrorKind::InvalidTokenType, "{typ}");
    }
    let at = Verifier::builder([ISS])
        .issuer(Issuer::hmac(ISS, SECRET).require_at_jwt())
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    block_on(at.verify(&key.sign_at_jwt(&permiso_claims()))).unwrap();
    let e = reject(&at, &key.sign(&permiso_claims()));
    assert_eq!(e.kind(), AuthErrorKind::InvalidTokenType);
    let no_typ = key.sign_with_header(&json!({"alg": "HS256"}), &permiso_claims());
    assert_eq!(reject(&at, &no_typ).kind(), AuthErrorKind::InvalidTokenType);
    for claim in ["sub", "client_id", "iat", "jti"] {
        let c = with(&permiso_claims(), |c| {
            c.remove(claim);
        });
        let e = reject(&at, &key.sign_at_jwt(&c));
        assert_eq!(e.kind(), AuthErrorKind::InvalidClaim, "{claim}");
        assert!(e.description().contains(claim));
    }
}

#[test]
fn a_100_kb_token_is_rejected_unread() {
    let v = permiso_verifier();
    let big = with(&permiso_claims(), |c| {
        c.insert("pad".into(), json!("x".repeat(100 * 1024)));
    });
    let e = reject(&v, &hs(&big));
    assert_eq!(e.kind(), AuthErrorKind::TokenTooLarge);
    assert_eq!(e.status(), 401);
    // Not even base64: the size is all that is looked at.
    assert_eq!(reject(&v, &"\u{0}".repeat(100 * 1024)).kind(), AuthErrorKind::TokenTooLarge);
}

#[test]
fn build_checks_the_whole_policy() {
    let ok = || Issuer::permiso(ISS, SECRET);
    let cases: Vec<(VerifierBuilder, ConfigErrorKind, &str)> = vec![
        (Verifier::builder(Vec::<String>::new()).issuer(ok()), ConfigErrorKind::Missing, "audience"),
        (Verifier::builder([""]).issuer(ok()), ConfigErrorKind::Invalid, "audience"),
        (Verifier::builder([ISS]), ConfigErrorKind::Missing, "issuer"),
        (Verifier::builder([ISS]).issuer(ok()).issuer(ok()), ConfigErrorKind::Conflict, "twice"),
        (Verifier::builder([ISS]).issuer(Issuer::permiso("", SECRET)), ConfigErrorKind::Invalid, "iss"),
        (Verifier::builder([ISS]).issuer(Issuer::permiso(ISS, "")), ConfigErrorKind::Key, "empty"),
        (Verifier::builder([ISS]).issuer(ok().algorithms([])), ConfigErrorKind::Missing, "algorithm"),
        (
            Verifier::builder([ISS]).issuer(ok().algorithms([Algorithm::RS256])),
            ConfigErrorKind::Conflict,
            "RS256",
        ),
        (
            Verifier::builder([ISS]).issuer(ok()).leeway(Duration::from_secs(601)),
            ConfigErrorKind::Invalid,
            "leeway",
        ),
        (
            Verifier::builder([ISS]).issuer(ok()).max_token_bytes(10),
            ConfigErrorKind::Invalid,
            "max_token_bytes",
        ),
    ];
    for (builder, kind, word) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(word), "{err} should mention {word}");
    }
}

#[test]
fn debug_never_shows_the_secret() {
    let v = permiso_verifier();
    let text = format!("{v:?} {:?}", Issuer::permiso(ISS, SECRET));
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert!(text.contains(ISS));
}

#[test]
fn verifier_is_cheap_to_share() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Verifier>();
}
