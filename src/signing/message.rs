//! The signed message, in both versions: what a signer signs and a verifier checks.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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

/// A client's signing secret, keyed once: each request's HMAC-SHA256 starts from a copy of the
/// inner and outer hash states the key already went through (RFC 2104), not from the secret.
#[derive(Clone)]
pub(crate) struct MacKey(Hmac<Sha256>);

impl MacKey {
    pub(crate) fn new(secret: &[u8]) -> Self {
        // HMAC takes a key of any length (a long one is hashed first): this never fails.
        Self(Hmac::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC keys have any length")))
    }
}

fn mac(key: &MacKey, version: SignatureVersion, parts: Parts<'_>) -> Hmac<Sha256> {
    let mut ctx = key.0.clone();
    feed(version, parts, |piece| ctx.update(piece));
    ctx
}

/// permiso's `X-Signature` for one request: lowercase hex HMAC-SHA256 of
/// `{METHOD}|{url}|{body}|{timestamp}` keyed with `secret`.
pub fn signature(secret: &[u8], method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let key = MacKey::new(secret);
    hex(&mac(&key, SignatureVersion::V1, (method, url, "", body, timestamp)).finalize().into_bytes())
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
    let key = MacKey::new(secret);
    hex(&mac(&key, SignatureVersion::V2, (method, url, "", body, timestamp)).finalize().into_bytes())
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
/// message, compared in constant time: if so, its 32 bytes.
pub(super) fn verify(
    key: &MacKey,
    version: SignatureVersion,
    parts: Parts<'_>,
    given: &str,
) -> Option<[u8; 32]> {
    let tag = decode_hex(given)?;
    // In constant time.
    mac(key, version, parts).verify_slice(&tag).is_ok().then_some(tag)
}

/// Each byte's value as a hex digit (either case), or 0xff.
static HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// 64 hex digits (either case) as 32 bytes.
fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let hex: &[u8; 64] = hex.as_bytes().try_into().ok()?;
    let mut out = [0u8; 32];
    // A digit is below 16; the high bits of any other byte's entry are kept here.
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (high, low) = (HEX_DIGITS[usize::from(pair[0])], HEX_DIGITS[usize::from(pair[1])]);
        bad |= high | low;
        *o = high << 4 | low;
    }
    (bad < 16).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifies(key: &MacKey, version: SignatureVersion, parts: Parts<'_>, given: &str) -> bool {
        let tag = verify(key, version, parts, given);
        // The tag given back is the signature's bytes.
        if let Some(tag) = tag {
            assert_eq!(hex(&tag), given.to_ascii_lowercase());
        }
        tag.is_some()
    }

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
        let key = MacKey::new(b"secret");
        let sig = signature_v2(b"secret", a.0, a.1, a.2, a.3);
        assert!(verifies(&key, SignatureVersion::V2, (a.0, a.1, "", a.2, a.3), &sig));
        assert!(!verifies(&key, SignatureVersion::V2, (b.0, b.1, "", b.2, b.3), &sig));
        // The URL split anywhere between base and path is the same message.
        assert!(verifies(
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
            let key = MacKey::new(s("client_secret").as_bytes());
            let request = (s("method"), s("url"), "", s("body").as_bytes(), s("timestamp"));
            assert!(verifies(&key, SignatureVersion::V1, request, s("X-Signature")));
            assert!(verifies(&key, SignatureVersion::V1, request, &s("X-Signature").to_uppercase()));
            assert!(!verifies(&key, SignatureVersion::V2, request, s("X-Signature")));
            let other_body = (s("method"), s("url"), "", &b"x"[..], s("timestamp"));
            assert!(!verifies(&key, SignatureVersion::V1, other_body, s("X-Signature")));
        }
        let key = MacKey::new(b"k");
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(63), &"0".repeat(66)] {
            assert!(!verifies(&key, SignatureVersion::V1, ("GET", "u", "", b"", "1"), bad));
        }
    }

    #[test]
    fn the_mac_is_hmac_sha256_as_aws_lc_computes_it_for_every_key_and_message_length() {
        use aws_lc_rs::hmac as lc;
        for len in [0, 1, 31, 32, 63, 64, 65, 200] {
            let secret: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            // Messages that fit the MAC's buffer, end at its edge, cross it with a piece or
            // hold a piece longer than it.
            for body_len in [0, 1, len * 3, 200, 220, 221, 222, 256, 257, 600, 5000] {
                let body = vec![b'x'; body_len];
                let long_path = format!("/t?a={}", "b".repeat(body_len));
                for path in ["/t?a=b", long_path.as_str()] {
                    let parts = ("POST", "https://p.example", path, &body[..], "1764352800");
                    for version in [SignatureVersion::V1, SignatureVersion::V2] {
                        let ours = mac(&MacKey::new(&secret), version, parts).finalize().into_bytes();
                        let key = lc::Key::new(lc::HMAC_SHA256, &secret);
                        let theirs = lc::sign(&key, &message_of(version, parts));
                        assert_eq!(&ours[..], theirs.as_ref(), "key {len}, body {body_len}, {version:?}");
                    }
                }
            }
        }
    }

    fn message_of(version: SignatureVersion, parts: Parts<'_>) -> Vec<u8> {
        let mut m = Vec::new();
        feed(version, parts, |piece| m.extend_from_slice(piece));
        m
    }

    #[test]
    fn hex_digits_are_read_in_either_case_and_nothing_else_is() {
        let bytes: Vec<u8> = (0..32).map(|i| i * 8 + 1).collect();
        let lower = hex(&bytes);
        assert_eq!(decode_hex(&lower).unwrap().to_vec(), bytes);
        assert_eq!(decode_hex(&lower.to_uppercase()).unwrap().to_vec(), bytes);
        for c in (0u8..=255).filter(|c| !c.is_ascii_hexdigit()) {
            let mut bad = lower.clone().into_bytes();
            bad[17] = c;
            if let Ok(bad) = String::from_utf8(bad) {
                assert_eq!(decode_hex(&bad), None, "{c:#x}");
            }
        }
        // Two bytes of UTF-8 in place of one digit keep the length.
        assert_eq!(decode_hex(&format!("{}é", &lower[..62])), None);
    }
}
