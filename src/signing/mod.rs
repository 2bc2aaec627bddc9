//! Request signing, the seed's scheme: a caller that must not have its requests altered or
//! replayed, even by someone holding a valid token, adds
//!
//! - `X-Timestamp`: the Unix time in whole seconds, as a decimal string;
//! - `X-Signature`: lowercase hex of HMAC-SHA256, keyed with the client secret (UTF-8), over
//!   the message `{METHOD}|{url}|{body}|{timestamp}`, where `url` is the full URL the caller
//!   requested and `body` the request body as sent (empty for none).
//!
//! The receiving side ([`SignatureLayer`], after [`AuthLayer`](crate::AuthLayer)) takes the
//! secret of the token's `client_id` from its table, rebuilds the URL from the **public base
//! URL** it is configured with (scheme, host, port and path prefix as callers see the service,
//! behind proxies) plus the request's path and query — a server cannot know what the caller
//! typed otherwise — checks the timestamp window (±300 s), the signature (in constant time),
//! and that the signature was not seen before within the window; it buffers the body (up to
//! 1 MiB; 413 beyond) and hands the same bytes on. The calling side is `SigningMiddleware`
//! and `SigningLayer` (feature `client`).
//!
//! ```
//! // The first vector made with Python's hmac (tests/vectors/request-signing.json).
//! let signature = permiso::signing::signature(
//!     b"payment-service-secret",
//!     "GET",
//!     "https://user-service.yourcompany.com/api/v1/users/123",
//!     b"",
//!     "1764352800",
//! );
//! assert_eq!(signature, "1e50127df595451ec462201310d7bfae243686b71274ebd35def494ff60a91c2");
//! ```

mod layer;
#[cfg(feature = "client")]
mod sign;

use aws_lc_rs::hmac;

pub use layer::{RequestSigning, SignatureLayer, SignatureMode, SignatureService};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use sign::{Signer, SigningError, SigningLayer, SigningMiddleware, SigningService};

/// The header carrying the Unix time of signing.
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// The seed's message: `{METHOD}|{url}|{body}|{timestamp}` (the body's bytes as sent).
fn message(method: &str, url: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(method.len() + url.len() + body.len() + timestamp.len() + 3);
    for (i, part) in [method.as_bytes(), url.as_bytes(), body, timestamp.as_bytes()].into_iter().enumerate() {
        if i > 0 {
            m.push(b'|');
        }
        m.extend_from_slice(part);
    }
    m
}

/// The seed's `X-Signature` for one request: lowercase hex HMAC-SHA256 of
/// `{METHOD}|{url}|{body}|{timestamp}` keyed with `secret`.
pub fn signature(secret: &[u8], method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &message(method, url, body, timestamp));
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` (hex, either case) is the signature of the request, compared in constant
/// time.
fn verify(key: &hmac::Key, method: &str, url: &str, body: &[u8], timestamp: &str, given: &str) -> bool {
    let Some(tag) = decode_hex(given) else { return false };
    hmac::verify(key, &message(method, url, body, timestamp), &tag).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythons_vectors_verify_and_are_produced_byte_for_byte() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/request-signing.json")).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let s = |k: &str| case[k].as_str().unwrap();
            let msg = message(s("method"), s("url"), s("body").as_bytes(), s("timestamp"));
            assert_eq!(msg, s("message").as_bytes());
            let sig = signature(
                s("client_secret").as_bytes(),
                s("method"),
                s("url"),
                s("body").as_bytes(),
                s("timestamp"),
            );
            assert_eq!(sig, s("X-Signature"));
            let key = hmac::Key::new(hmac::HMAC_SHA256, s("client_secret").as_bytes());
            assert!(verify(
                &key,
                s("method"),
                s("url"),
                s("body").as_bytes(),
                s("timestamp"),
                s("X-Signature")
            ));
            assert!(verify(
                &key,
                s("method"),
                s("url"),
                s("body").as_bytes(),
                s("timestamp"),
                &s("X-Signature").to_uppercase()
            ));
            assert!(!verify(&key, s("method"), s("url"), b"x", s("timestamp"), s("X-Signature")));
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(63), &"0".repeat(66)] {
            assert!(!verify(&key, "GET", "u", b"", "1", bad));
        }
    }
}
