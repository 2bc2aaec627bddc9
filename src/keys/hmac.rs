//! Shared secrets for HS256/384/512: permiso's own signing scheme.

use aws_lc_rs::hmac;

use crate::algorithm::Algorithm;
use crate::error::{ConfigError, ConfigErrorKind};

/// HMAC keys for the three hash sizes, made once from the secret. aws-lc keeps the secret;
/// nothing here prints it.
pub(crate) struct HmacKeys {
    secret_len: usize,
    hs256: hmac::Key,
    hs384: hmac::Key,
    hs512: hmac::Key,
}

impl HmacKeys {
    pub(crate) fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::new(ConfigErrorKind::Key, "the HMAC secret is empty"));
        }
        // RFC 7518 §3.2's minimum length is the verifier's to enforce, at build, where the
        // issuer's explicit opt-in for a short secret is known.
        Ok(Self {
            secret_len: secret.len(),
            hs256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            hs384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            hs512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        })
    }

    /// The secret's length in bytes (not the secret).
    pub(crate) fn secret_len(&self) -> usize {
        self.secret_len
    }

    /// Constant-time comparison of the tag.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], tag: &[u8]) -> bool {
        let key = match alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::HS384 => &self.hs384,
            Algorithm::HS512 => &self.hs512,
            _ => return false,
        };
        hmac::verify(key, message, tag).is_ok()
    }
}
