//! Where verification keys come from, and the keys themselves.
//!
//! A [`Key`] is parsed once, when it is loaded: an RSA, EC or Ed25519 public key becomes an
//! `aws-lc-rs` parsed key (per algorithm, on first use), an HMAC secret becomes ready-made
//! HMAC keys. A [`KeySet`] is what an issuer verifies with; a key source hands the verifier
//! the current set.
//!
//! Keys are only ever looked up: `kid` is a lookup key, the algorithm must be allowed for the
//! issuer *and* fit the key (and the JWK's own `alg`), and keys embedded in or pointed to by a
//! token (`jwk`, `jku`, `x5u`, `x5c`) are never used.

mod hmac;
mod jwk;
mod key;
mod pem;
mod remote;
mod source;

use crate::error::{ConfigError, ConfigErrorKind};

pub(crate) use jwk::parse as parse_jwk;
pub use key::{Key, KeySet};
pub(crate) use remote::{KeyError, MAX_COOLDOWN, MAX_KEY_LIFETIME, MAX_TIMEOUT};
pub use remote::{KeyFetchError, KeyStats, RemoteKeys};
pub(crate) use source::KeySource;

/// The constructors that parse a format (PEM, JWK): here, beside the parsers.
impl Key {
    /// A public key from PEM: RSA (`PUBLIC KEY` or `RSA PUBLIC KEY`), EC P-256/P-384 or
    /// Ed25519 (`PUBLIC KEY`). The kind is detected.
    ///
    /// # Errors
    ///
    /// Not PEM, a private key, an unsupported curve, or RSA under 2048 bits.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        pem::from_pem(pem.as_ref())
    }

    /// A public key from one JWK (RFC 7517). Its `alg`, `use` and `key_ops` are honoured.
    ///
    /// # Errors
    ///
    /// Not a JSON object, a private or symmetric key, `use` other than `sig`, `key_ops`
    /// without `verify`, an unknown `kty`/`crv`/`alg`, or RSA under 2048 bits.
    pub fn from_jwk(json: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|_| ConfigError::new(ConfigErrorKind::Key, "the JWK is not valid JSON"))?;
        jwk::parse(&value).map_err(|why| ConfigError::new(ConfigErrorKind::Key, why))
    }
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`). Keys are taken one by one: a malformed or
    /// unusable key is skipped (and logged), the others are kept.
    ///
    /// # Errors
    ///
    /// The document is not a JSON object with a `keys` list, or no key in it is usable.
    pub fn from_jwks(json: &str) -> Result<Self, ConfigError> {
        let set =
            jwk::parse_set(json.as_bytes()).map_err(|why| ConfigError::new(ConfigErrorKind::Key, why))?;
        if set.is_empty() {
            return Err(ConfigError::new(ConfigErrorKind::Key, "the JWKS has no usable key"));
        }
        Ok(set)
    }
}
