//! Real keys for tests: HMAC, RSA, P-256, P-384 and Ed25519, and tokens signed with them.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::algorithm::{Algorithm, Family};

/// A private key (or shared secret) that signs test tokens.
///
/// Cheap to clone. `Debug` shows the algorithm and `kid`, never the key.
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    inner: Arc<Inner>,
}

enum Inner {
    Hmac(Vec<u8>),
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl SigningKey {
    /// A fresh random key for `alg`: a 32-byte secret for HS*, RSA 2048 for RS*/PS*,
    /// P-256/P-384 for ES256/ES384, Ed25519 for EdDSA.
    ///
    /// # Panics
    ///
    /// If the system's random source fails (a broken machine, not a test outcome).
    pub fn generate(alg: Algorithm) -> Self {
        let inner = match alg.family() {
            Family::Hmac => {
                let mut secret = vec![0u8; 32];
                SystemRandom::new().fill(&mut secret).expect("system randomness");
                Inner::Hmac(secret)
            }
            Family::Rsa => {
                Inner::Rsa(RsaKeyPair::generate(rsa::KeySize::Rsa2048).expect("RSA key generation"))
            }
            Family::P256 => Inner::Ec(
                EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation"),
            ),
            Family::P384 => Inner::Ec(
                EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key generation"),
            ),
            Family::Ed25519 => Inner::Ed(Ed25519KeyPair::generate().expect("Ed25519 key generation")),
        };
        Self { alg, kid: None, inner: Arc::new(inner) }
    }

    /// An HMAC key with a given secret (HS256, HS384 or HS512).
    ///
    /// # Panics
    ///
    /// If `alg` is not an HMAC algorithm.
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Self {
        assert!(alg.is_symmetric(), "SigningKey::hmac needs HS256, HS384 or HS512");
        Self { alg, kid: None, inner: Arc::new(Inner::Hmac(secret.as_ref().to_vec())) }
    }

    /// The same key with a key id, put in the `kid` header and the public JWK.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The same key signing with another algorithm of its family (e.g. PS256 with an RSA key).
    ///
    /// # Panics
    ///
    /// If the key cannot do `alg`.
    #[must_use]
    pub fn with_algorithm(mut self, alg: Algorithm) -> Self {
        assert_eq!(alg.family(), self.alg.family(), "{alg} does not fit this key");
        self.alg = alg;
        self
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The HMAC secret, for configuring a verifier in tests. `None` for public-key algorithms.
    pub fn secret(&self) -> Option<&[u8]> {
        match &*self.inner {
            Inner::Hmac(s) => Some(s),
            _ => None,
        }
    }

    /// The public JWK (with `kid`, `alg` and `use: "sig"`), or `None` for HMAC.
    pub fn public_jwk(&self) -> Option<Value> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &*self.inner {
            Inner::Hmac(_) => return None,
            Inner::Rsa(pair) => {
                let public = pair.public_key();
                let components = sig::RsaPublicKeyComponents::<Vec<u8>>::from(public);
                json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)})
            }
            Inner::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let (crv, len) = if self.alg == Algorithm::ES384 { ("P-384", 48) } else { ("P-256", 32) };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=len]), "y": b64(&point[len + 1..])})
            }
            Inner::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        Some(jwk)
    }

    /// The public key as a `PUBLIC KEY` PEM, or `None` for HMAC.
    pub fn public_pem(&self) -> Option<String> {
        let der: Vec<u8> = match &*self.inner {
            Inner::Hmac(_) => return None,
            Inner::Rsa(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Inner::Ec(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
            Inner::Ed(pair) => pair.public_key().as_der().ok()?.as_ref().to_vec(),
        };
        let body = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Some(pem)
    }

    /// Signs `claims` with the header `{"alg": …, "typ": "JWT", "kid": …}`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&self.header("JWT"), claims)
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`).
    pub fn sign_at_jwt(&self, claims: &Value) -> String {
        self.sign_with_header(&self.header("at+jwt"), claims)
    }

    /// The default header for this key, to modify and pass to
    /// [`sign_with_header`](Self::sign_with_header).
    pub fn header(&self, typ: &str) -> Value {
        let mut header = json!({"alg": self.alg.as_str(), "typ": typ});
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        header
    }

    /// Signs with a header of your own (it may lie about `alg`: the key signs with its own).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Signs the exact header and payload texts given (for malformed JSON, duplicate
    /// members and the like).
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> String {
        let mut token =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
        let signature = self.signature(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }

    /// The raw signature over `message` with this key and algorithm.
    ///
    /// # Panics
    ///
    /// If the crypto library fails to sign (never with keys made here).
    pub fn signature(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &*self.inner {
            Inner::Hmac(secret) => {
                let alg = match self.alg {
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                hmac::sign(&hmac::Key::new(alg, secret), message).as_ref().to_vec()
            }
            Inner::Rsa(pair) => {
                let padding: &'static dyn sig::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut out).expect("RSA signing");
                out
            }
            Inner::Ec(pair) => pair.sign(&rng, message).expect("ECDSA signing").as_ref().to_vec(),
            Inner::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}
