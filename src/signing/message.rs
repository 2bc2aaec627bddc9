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

/// Hands `put` the signed message of a request in `version`'s format, piece by piece (the
/// URL as the public base URL and the path, which the message joins): what is MACed, without
/// building it.
///
/// Version 1 is permiso's Python `RequestSigner` message, `{METHOD}|{url}|{body}|{timestamp}`
/// (the body's bytes as sent); version 2 is
/// `permiso-signature-v2\n{METHOD}\n{url}\n{hex SHA-256 of the body}\n{timestamp}`.
fn feed(
    version: SignatureVersion,
    (method, base, path, body, timestamp): Parts<'_>,
    mut put: impl FnMut(&[u8]),
) {
    match version {
        SignatureVersion::V1 => {
            for (i, part) in [method.as_bytes(), base.as_bytes(), path.as_bytes(), body, timestamp.as_bytes()]
                .into_iter()
                .enumerate()
            {
                // The base and the path are one part: no separator between them.
                if i > 0 && i != 2 {
                    put(b"|");
                }
                put(part);
            }
        }
        SignatureVersion::V2 => {
            let mut body_hash = [0u8; 64];
            hex_into(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref(), &mut body_hash);
            for part in [
                b"permiso-signature-v2\n".as_slice(),
                method.as_bytes(),
                b"\n",
                base.as_bytes(),
                path.as_bytes(),
                b"\n",
                &body_hash,
                b"\n",
                timestamp.as_bytes(),
            ] {
                put(part);
            }
        }
    }
}

/// A request as the message sees it: method, public base URL, path and query, body, timestamp.
pub(super) type Parts<'a> = (&'a str, &'a str, &'a str, &'a [u8], &'a str);

fn mac(key: &hmac::Key, version: SignatureVersion, parts: Parts<'_>) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    feed(version, parts, |piece| ctx.update(piece));
    ctx.sign()
}

/// permiso's `X-Signature` for one request: lowercase hex HMAC-SHA256 of
/// `{METHOD}|{url}|{body}|{timestamp}` keyed with `secret`.
pub fn signature(secret: &[u8], method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hex(mac(&key, SignatureVersion::V1, (method, url, "", body, timestamp)).as_ref())
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
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hex(mac(&key, SignatureVersion::V2, (method, url, "", body, timestamp)).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut out);
    out.into_iter().map(char::from).collect()
}

/// Lowercase hex of `bytes` into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// Whether `given` (hex, either case) is the signature of the request in `version`'s
/// message, compared in constant time.
pub(super) fn verify(key: &hmac::Key, version: SignatureVersion, parts: Parts<'_>, given: &str) -> bool {
    let Some(tag) = decode_hex(given) else { return false };
    aws_lc_rs::constant_time::verify_slices_are_equal(mac(key, version, parts).as_ref(), &tag).is_ok()
}

/// A signature's 32 bytes from its 64 hex digits (either case).
fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let hex: &[u8; 64] = hex.as_bytes().try_into().ok()?;
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(version: SignatureVersion, (method, url, body, ts): (&str, &str, &[u8], &str)) -> Vec<u8> {
        let mut m = Vec::new();
        feed(version, (method, url, "", body, ts), |piece| m.extend_from_slice(piece));
        m
    }

    #[test]
    fn version_2_separates_what_version_1_cannot() {
        // The finding: in version 1 these two requests share one message.
        let a = ("POST", "https://p.example/t?note=rent|june&dry_run=true", &b""[..], "1764352800");
        let b = ("POST", "https://p.example/t?note=rent", &b"june&dry_run=true|"[..], "1764352800");
        assert_eq!(message(SignatureVersion::V1, a), message(SignatureVersion::V1, b));
        assert_ne!(message(SignatureVersion::V2, a), message(SignatureVersion::V2, b));
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let sig = signature_v2(b"secret", a.0, a.1, a.2, a.3);
        assert!(verify(&key, SignatureVersion::V2, (a.0, a.1, "", a.2, a.3), &sig));
        assert!(!verify(&key, SignatureVersion::V2, (b.0, b.1, "", b.2, b.3), &sig));
        // The URL split anywhere between base and path is the same message.
        assert!(verify(
            &key,
            SignatureVersion::V2,
            (a.0, "https://p.example", "/t?note=rent|june&dry_run=true", a.2, a.3),
            &sig
        ));
    }

    #[test]
    fn pythons_vectors_verify_and_are_produced_byte_for_byte() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/request-signing.json")).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let s = |k: &str| case[k].as_str().unwrap();
            let msg =
                message(SignatureVersion::V1, (s("method"), s("url"), s("body").as_bytes(), s("timestamp")));
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
            let request = (s("method"), s("url"), "", s("body").as_bytes(), s("timestamp"));
            assert!(verify(&key, SignatureVersion::V1, request, s("X-Signature")));
            assert!(verify(&key, SignatureVersion::V1, request, &s("X-Signature").to_uppercase()));
            assert!(!verify(&key, SignatureVersion::V2, request, s("X-Signature")));
            let other_body = (s("method"), s("url"), "", &b"x"[..], s("timestamp"));
            assert!(!verify(&key, SignatureVersion::V1, other_body, s("X-Signature")));
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(63), &"0".repeat(66)] {
            assert!(!verify(&key, SignatureVersion::V1, ("GET", "u", "", b"", "1"), bad));
        }
    }
}
