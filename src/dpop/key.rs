//! The caller's side of DPoP (RFC 9449): its key, and the proofs it makes.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::policy::{thumbprint, token_hash};
use crate::error::{ConfigError, ConfigErrorKind};

/// A caller's DPoP key (ECDSA P-256, `ES256`): it makes the proofs. Its private half never
/// leaves it and never appears in `Debug`.
///
/// ```
/// use permiso::dpop::DpopKey;
///
/// let key = DpopKey::generate().unwrap();
/// let jwk = key.public_jwk();
/// assert_eq!(jwk["kty"], "EC");
/// assert!(jwk.get("d").is_none());
/// assert!(format!("{key:?}").contains(key.thumbprint()));
/// ```
#[derive(Clone)]
pub struct DpopKey {
    pair: Arc<EcdsaKeyPair>,
    jwk: Value,
    thumbprint: Arc<str>,
}

impl DpopKey {
    /// A new random key.
    ///
    /// # Errors
    ///
    /// The system's random source failed.
    pub fn generate() -> Result<Self, ConfigError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| {
            ConfigError::new(ConfigErrorKind::Key, "dpop: a P-256 key could not be generated")
        })?;
        Ok(Self::from_pair(pair))
    }

    /// A key from its PKCS#8 DER (a P-256 private key).
    ///
    /// # Errors
    ///
    /// The bytes are not a P-256 PKCS#8 private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, ConfigError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|_| {
            ConfigError::new(ConfigErrorKind::Key, "dpop: the key is not a P-256 PKCS#8 private key")
        })?;
        Ok(Self::from_pair(pair))
    }

    fn from_pair(pair: EcdsaKeyPair) -> Self {
        let point = pair.public_key().as_ref();
        let (x, y) = (&point[1..33], &point[33..65]);
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        let thumbprint = thumbprint(&jwk).unwrap_or_default().into();
        Self { pair: Arc::new(pair), jwk, thumbprint }
    }

    /// The private key as PKCS#8 DER, to keep it across restarts (store it as a secret; load
    /// it with [`from_pkcs8`](Self::from_pkcs8)). Tokens bound to a key stay usable only as
    /// long as the key does.
    ///
    /// # Errors
    ///
    /// The key could not be serialized (not expected for a key this type made).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, ConfigError> {
        self.pair
            .to_pkcs8v1()
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| ConfigError::new(ConfigErrorKind::Key, "dpop: the key could not be serialized"))
    }

    /// The RFC 7638 thumbprint: what a token bound to this key carries as `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// A fresh proof for one request: `htm` = `method`, `htu` = `url` without query and
    /// fragment, `iat` = now, a random `jti`, `ath` when an access token goes with it, and
    /// the server's `nonce` when it asked for one.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>, nonce: Option<&str>) -> String {
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = serde_json::json!({ "jti": random_id(), "htm": method, "htu": htu, "iat": iat });
        if let Some(token) = access_token {
            claims["ath"] = Value::String(token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce.to_owned());
        }
        let header = serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        self.sign_jws(&header, &claims)
    }

    /// Signs any header and claims with this key (ES256) as a compact JWS. For tests that
    /// need a proof with something wrong in it; [`proof`](Self::proof) makes the right ones.
    pub fn sign_jws(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // Signing with a valid key and the system's random source does not fail in practice;
        // an empty signature would only make the proof refused.
        let signature =
            self.pair.sign(&rng, input.as_bytes()).map(|s| s.as_ref().to_vec()).unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey").field("alg", &"ES256").field("thumbprint", &self.thumbprint).finish()
    }
}

/// 128 random bits, base64url.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
