//! Public keys given in PEM.

use jsonwebtoken::DecodingKey;

use super::key::Key;
use crate::error::{ConfigError, ConfigErrorKind};

pub(super) fn from_pem(pem: &[u8]) -> Result<Key, ConfigError> {
    let err = |why: &'static str| ConfigError::new(ConfigErrorKind::Key, why);
    let text = std::str::from_utf8(pem).map_err(|_| err("the PEM is not text"))?;
    if text.contains("PRIVATE KEY") {
        return Err(err("the PEM holds a private key; give the public key"));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        let der = key.try_get_as_bytes().map_err(|_| err("the RSA PEM is malformed"))?;
        return Key::rsa(None, None, der.to_vec()).map_err(err);
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        let point = key.try_get_as_bytes().map_err(|_| err("the EC PEM is malformed"))?;
        return Key::ec(None, None, point).map_err(err);
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        let x = key.try_get_as_bytes().map_err(|_| err("the Ed25519 PEM is malformed"))?;
        return Key::ed25519(None, None, x).map_err(err);
    }
    Err(err("the PEM is not an RSA, EC (P-256, P-384) or Ed25519 public key"))
}
