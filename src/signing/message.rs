//! The signed message, in both versions: what a signer signs and a verifier checks.

use aws_lc_rs::hmac;

use super::version::SignatureVersion;

/// The header carrying the Unix time of signing.
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-signature";
/// The header announcing the message format of the signature: absent or `1` for permiso's
/// `{METHOD}|{url}|{body}|{timestamp}`, `2` for the unambiguous one
/// ([`SignatureVersion::V2`]).
pub const VERSION_HEADER: &str = "x-signature-version";

/// permiso's Python `RequestSigner` message: `{METHOD}|{url}|{body}|{timestamp}` (the body's bytes as sent).
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

/// permiso's `X-Signature` for one request: lowercase hex HMAC-SHA256 of
/// `{METHOD}|{url}|{body}|{timestamp}` keyed with `secret`.
pub fn signature(secret: &[u8], method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &message(method, url, body, timestamp));
    hex(tag.as_ref())
}

/// The version 2 `X-Signature` (sent with `X-Signature-Version: 2`): lowercase hex
/// HMAC-SHA256, keyed with `secret`, of
/// `permiso-signature-v2\n{METHOD}\n{url}\n{hex SHA-256 of the body}\n{timestamp}`.
/// A method, URL or timestamp never holds a line break and the body's hash has a fixed
/// length, so no two requests share a message.
///
/// ```
/// let v2 = permiso::signing::signature_v2(b"secret", "POST", "https://a.example/x?note=rent|june", b"{}", "1764352800");
/// let v1 = permiso::signing::signature(b"secret", "POST", "https://a.example/x?note=rent|june", b"{}", "1764352800");
/// assert_eq!(v2.len(), 64);
/// assert_ne!(v1, v2);
/// ```
pub fn signature_v2(secret: &[u8], method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let message = message_v2(method, url, body, timestamp);
    hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &message).as_ref())
}

/// Version 2's message; see [`signature_v2`].
fn message_v2(method: &str, url: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let body_hash = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref());
    format!("permiso-signature-v2\n{method}\n{url}\n{body_hash}\n{timestamp}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` (hex, either case) is the signature of the request in `version`'s
/// message, compared in constant time.
pub(super) fn verify(
    key: &hmac::Key,
    version: SignatureVersion,
    (method, url, body, timestamp): (&str, &str, &[u8], &str),
    given: &str,
) -> bool {
    let Some(tag) = decode_hex(given) else { return false };
    let message = match version {
        SignatureVersion::V1 => message(method, url, body, timestamp),
        SignatureVersion::V2 => message_v2(method, url, body, timestamp),
    };
    hmac::verify(key, &message, &tag).is_ok()
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
    fn version_2_separates_what_version_1_cannot() {
        // The finding: in version 1 these two requests share one message.
        let a = ("POST", "https://p.example/t?note=rent|june&dry_run=true", &b""[..], "1764352800");
        let b = ("POST", "https://p.example/t?note=rent", &b"june&dry_run=true|"[..], "1764352800");
        assert_eq!(message(a.0, a.1, a.2, a.3), message(b.0, b.1, b.2, b.3));
        assert_ne!(message_v2(a.0, a.1, a.2, a.3), message_v2(b.0, b.1, b.2, b.3));
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let sig = signature_v2(b"secret", a.0, a.1, a.2, a.3);
        assert!(verify(&key, SignatureVersion::V2, a, &sig));
        assert!(!verify(&key, SignatureVersion::V2, b, &sig));
    }

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
            let request = (s("method"), s("url"), s("body").as_bytes(), s("timestamp"));
            assert!(verify(&key, SignatureVersion::V1, request, s("X-Signature")));
            assert!(verify(&key, SignatureVersion::V1, request, &s("X-Signature").to_uppercase()));
            assert!(!verify(&key, SignatureVersion::V2, request, s("X-Signature")));
            let other_body = (s("method"), s("url"), &b"x"[..], s("timestamp"));
            assert!(!verify(&key, SignatureVersion::V1, other_body, s("X-Signature")));
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(63), &"0".repeat(66)] {
            assert!(!verify(&key, SignatureVersion::V1, ("GET", "u", b"", "1"), bad));
        }
    }
}
