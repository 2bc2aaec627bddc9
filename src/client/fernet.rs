//! Fernet (the format of Python's `cryptography.fernet`): how operators of permiso's Python services keep a
//! client secret encrypted in the environment (`{NAME}_CLIENT_SECRET_ENCRYPTED`, decrypted
//! with `ENCRYPTION_KEY`).
//!
//! A token is base64url of `0x80 ‖ timestamp (8 bytes) ‖ IV (16) ‖ AES-128-CBC ciphertext ‖
//! HMAC-SHA256 (32)`; the key is base64url of 32 bytes: the HMAC key, then the AES key. The
//! HMAC is checked (in constant time) before anything is decrypted. The timestamp is not
//! checked, as Python's `decrypt` without `ttl` does not.

use aws_lc_rs::cipher::{AES_128, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

/// Why a Fernet token could not be opened. Never holds the key, the token or the plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FernetError {
    /// The key is not base64url of 32 bytes.
    Key,
    /// The token is not a Fernet token, or was made with another key, or was altered.
    Token,
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    URL_SAFE.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text)).ok()
}

/// Decrypts `token` with `key`, both as Python writes them.
pub(crate) fn decrypt(key: &str, token: &str) -> Result<Vec<u8>, FernetError> {
    let key = decode(key).filter(|k| k.len() == 32).ok_or(FernetError::Key)?;
    let (signing, encryption) = key.split_at(16);
    let data = decode(token).ok_or(FernetError::Token)?;
    // version (1) + timestamp (8) + IV (16) + at least one block (16) + HMAC (32)
    if data.len() < 1 + 8 + 16 + 16 + 32 || data[0] != 0x80 || (data.len() - 57) % 16 != 0 {
        return Err(FernetError::Token);
    }
    let (signed, tag) = data.split_at(data.len() - 32);
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, signing), signed, tag).map_err(|_| FernetError::Token)?;
    let iv: [u8; 16] = signed[9..25].try_into().map_err(|_| FernetError::Token)?;
    let mut buffer = signed[25..].to_vec();
    let aes = UnboundCipherKey::new(&AES_128, encryption).map_err(|_| FernetError::Key)?;
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(aes).map_err(|_| FernetError::Key)?;
    let plain = decrypting
        .decrypt(&mut buffer, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| FernetError::Token)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors made with Python's `cryptography.fernet` (tests/vectors/fernet.json).
    #[test]
    fn pythons_tokens_open_and_bad_ones_do_not() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/fernet.json")).unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        for case in cases {
            let (key, token) = (case["encryption_key"].as_str().unwrap(), case["token"].as_str().unwrap());
            match case["plaintext"].as_str() {
                Some(plain) => assert_eq!(decrypt(key, token).unwrap(), plain.as_bytes()),
                None => assert_eq!(decrypt(key, token), Err(FernetError::Token), "{}", case["note"]),
            }
        }
        let good = cases[0]["token"].as_str().unwrap();
        assert_eq!(decrypt("not-a-key", good), Err(FernetError::Key));
        assert_eq!(decrypt(cases[0]["encryption_key"].as_str().unwrap(), "gAAAA"), Err(FernetError::Token));
        assert_eq!(decrypt(cases[0]["encryption_key"].as_str().unwrap(), ""), Err(FernetError::Token));
    }
}
