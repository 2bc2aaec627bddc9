//! The front end: from a compact JWS string to a decoded header, payload bytes and signature,
//! strictly, before any key is looked at.
//!
//! Rules (RFC 7515 §7.1, RFC 8725): a size cap checked before anything else; exactly three
//! segments; base64url without padding and with canonical trailing bits; the header a UTF-8
//! JSON object without duplicate members; `alg` a known algorithm (never `none`); `crit` and
//! an unencoded payload (`b64: false`) rejected; `jku`, `x5u`, `jwk` and `x5c` ignored.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::algorithm::Algorithm;
use crate::error::{AuthError, AuthErrorKind};

/// A compact JWS taken apart, signature not yet checked.
pub(crate) struct Parts<'a> {
    /// `BASE64URL(header) . BASE64URL(payload)`, the bytes that were signed.
    pub(crate) signing_input: &'a [u8],
    pub(crate) header: Header,
    /// The decoded payload (JSON text, not yet parsed).
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// The protected header fields permiso acts on.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) alg: Option<Algorithm>,
    pub(crate) typ: Option<String>,
    pub(crate) kid: Option<String>,
}

fn malformed(why: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::MalformedToken).with_description(why)
}

/// Decodes one base64url segment strictly.
pub(crate) fn b64url(segment: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

/// Takes a compact JWS apart. `max_len` is checked before anything is decoded.
pub(crate) fn split(token: &str, max_len: usize) -> Result<Parts<'_>, AuthError> {
    if token.len() > max_len {
        return Err(AuthError::new(AuthErrorKind::TokenTooLarge));
    }
    let bytes = token.as_bytes();
    // The first dot, the last, and whether one lies between (`str::find` scans a word at a time).
    let (first, second) = match (token.find('.'), token.rfind('.')) {
        (Some(a), Some(b)) if a < b => match token[a + 1..b].find('.') {
            None => (a, b),
            Some(_) => {
                return Err(malformed("the token must have three dot-separated parts (JWE is not accepted)"));
            }
        },
        _ => return Err(malformed("the token must have three dot-separated parts")),
    };
    let (h64, p64, s64) = (&bytes[..first], &bytes[first + 1..second], &bytes[second + 1..]);
    if h64.is_empty() || p64.is_empty() || s64.is_empty() {
        return Err(malformed("a part of the token is empty"));
    }
    let header_json = b64url(h64).ok_or_else(|| malformed("the header is not base64url"))?;
    let header = parse_header(&header_json)?;
    let payload = b64url(p64).ok_or_else(|| malformed("the payload is not base64url"))?;
    let signature = b64url(s64).ok_or_else(|| malformed("the signature is not base64url"))?;
    Ok(Parts { signing_input: &bytes[..second], header, payload, signature })
}

/// Parses the JOSE header. Errors name the problem without echoing the input.
pub(crate) fn parse_header(json: &[u8]) -> Result<Header, AuthError> {
    let mut problem = None;
    let header = parse_object(json, HeaderSeed { problem: &mut problem })
        .map_err(|()| problem.take().unwrap_or_else(|| malformed("the header is not a JSON object")))?;
    if header.alg.is_none() {
        return Err(malformed("the header has no alg"));
    }
    Ok(header)
}

/// Runs `seed` over the whole of `json`: nothing but white space may follow the value.
/// The bytes must be UTF-8 as a whole, ignored members included (RFC 7515 §5.2).
pub(crate) fn parse_object<'de, S: DeserializeSeed<'de>>(json: &'de [u8], seed: S) -> Result<S::Value, ()> {
    let json = std::str::from_utf8(json).map_err(|_| ())?;
    let mut de = serde_json::Deserializer::from_str(json);
    let value = seed.deserialize(&mut de).map_err(|_| ())?;
    de.end().map_err(|_| ())?;
    Ok(value)
}

/// A JSON object (UTF-8, nothing after it) whose top-level members are all distinct.
pub(crate) fn parse_strict_object(json: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ()> {
    struct Strict;
    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = serde_json::Map<String, serde_json::Value>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Strict {
        type Value = serde_json::Map<String, serde_json::Value>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = serde_json::Map::new();
            let mut seen = DupCheck::default();
            while let Some(MemberName(name)) = map.next_key::<MemberName<'de>>()? {
                if !seen.insert(name.clone()) {
                    return Err(de::Error::custom("duplicate member"));
                }
                out.insert(name.into_owned(), map.next_value()?);
            }
            Ok(out)
        }
    }
    parse_object(json, Strict)
}

/// An object member name, borrowed from the input when it has no escapes.
pub(crate) struct MemberName<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Remembers member names to refuse duplicates (RFC 7515 §5.2, RFC 8725 §3.10): a short
/// list while objects are small, a hash set once they are not, so a hostile object with
/// thousands of members costs linear time.
#[derive(Default)]
pub(crate) struct DupCheck<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> DupCheck<'de> {
    const FEW: usize = 16;

    /// Records `name`; `false` if it was seen before.
    pub(crate) fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(name);
        }
        if self.few.contains(&name) {
            return false;
        }
        self.few.push(name);
        if self.few.len() > Self::FEW {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

struct HeaderSeed<'p> {
    problem: &'p mut Option<AuthError>,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Header;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header::default();
        let mut seen = DupCheck::default();
        let problem = self.problem;
        let mut fail = |err: AuthError| -> A::Error {
            *problem = Some(err);
            de::Error::custom("header rejected")
        };
        while let Some(MemberName(name)) = map.next_key::<MemberName<'de>>()? {
            if !seen.insert(name.clone()) {
                return Err(fail(malformed("the header has a duplicate member")));
            }
            match &*name {
                "alg" => {
                    let alg: Cow<'de, str> = map
                        .next_value::<MemberName<'de>>()
                        .map_err(|_| fail(malformed("the header's alg is not a string")))?
                        .0;
                    header.alg = Some(parse_alg(&alg).map_err(&mut fail)?);
                }
                "typ" => {
                    let typ = map
                        .next_value::<String>()
                        .map_err(|_| fail(malformed("the header's typ is not a string")))?;
                    header.typ = Some(typ);
                }
                "kid" => {
                    let kid = map
                        .next_value::<String>()
                        .map_err(|_| fail(malformed("the header's kid is not a string")))?;
                    header.kid = Some(kid);
                }
                "crit" => {
                    map.next_value::<IgnoredAny>()?;
                    return Err(fail(
                        AuthError::new(AuthErrorKind::UnsupportedHeader)
                            .with_description("the header's crit names extensions that are not supported"),
                    ));
                }
                "b64" => {
                    // RFC 7797: only the default (`true`) is accepted.
                    let b64 = map.next_value::<serde_json::Value>()?;
                    if b64 != serde_json::Value::Bool(true) {
                        return Err(fail(
                            AuthError::new(AuthErrorKind::UnsupportedHeader)
                                .with_description("unencoded payloads (b64) are not supported"),
                        ));
                    }
                }
                // `jku`, `x5u`, `jwk`, `x5c` and everything else: never used, never fetched.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(header)
    }
}

fn parse_alg(alg: &str) -> Result<Algorithm, AuthError> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::new(AuthErrorKind::UnsupportedAlgorithm)
            .with_description("unsigned tokens (alg none) are never accepted"));
    }
    alg.parse().map_err(|_| AuthError::new(AuthErrorKind::UnsupportedAlgorithm))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn b64(data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(data)
    }

    fn token(header: &str, payload: &str, sig: &[u8]) -> String {
        format!("{}.{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()), b64(sig))
    }

    fn kind(token: &str) -> AuthErrorKind {
        kind_with(token, 8192)
    }

    fn kind_with(token: &str, max: usize) -> AuthErrorKind {
        match split(token, max) {
            Ok(_) => panic!("accepted {token}"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn well_formed_token_splits() {
        let t = token(r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#, "{}", b"sig");
        let parts = split(&t, 8192).unwrap();
        assert_eq!(parts.header.alg, Some(Algorithm::HS256));
        assert_eq!(parts.header.kid.as_deref(), Some("k1"));
        assert_eq!(parts.payload, b"{}");
        assert_eq!(parts.signature, b"sig");
        assert_eq!(parts.signing_input, t.rsplit_once('.').unwrap().0.as_bytes());
    }

    #[test]
    fn size_cap_comes_before_any_decoding() {
        // 100 KB of characters that are not even base64: still "too large", not "malformed".
        let huge = "!".repeat(100 * 1024);
        assert_eq!(kind(&huge), AuthErrorKind::TokenTooLarge);
        let t = token(r#"{"alg":"HS256"}"#, "{}", b"sig");
        assert!(split(&t, t.len()).is_ok());
        assert_eq!(kind_with(&t, t.len() - 1), AuthErrorKind::TokenTooLarge);
    }

    #[test]
    fn segment_count() {
        let h = b64(br#"{"alg":"HS256"}"#);
        for t in [
            h.clone(),
            format!("{h}.e30"),
            format!("{h}.e30.c2ln.eHg"),
            format!("{h}.e30.c2ln.eHg.eHg"),
            format!("{h}..c2ln"),
            format!("{h}.e30."),
            ".e30.c2ln".to_string(),
            String::new(),
        ] {
            assert_eq!(kind(&t), AuthErrorKind::MalformedToken, "{t}");
        }
    }

    #[test]
    fn strict_base64url() {
        let h = b64(br#"{"alg":"HS256"}"#);
        for sig in [
            "c2lnMQ==", // padding
            "c2lnMQ=", "c2ln+w", // standard alphabet
            "c2ln/w", "c2lnMR",  // non-canonical trailing bits ("MQ" is canonical)
            "c2l nMQ", // whitespace
            "c2lnM",   // impossible length
            "c2lnMé",  // non-ASCII
        ] {
            assert_eq!(kind(&format!("{h}.e30.{sig}")), AuthErrorKind::MalformedToken, "{sig}");
        }
        assert!(split(&format!("{h}.e30.c2lnMQ"), 100).is_ok());
    }

    #[test]
    fn header_must_be_a_json_object_without_duplicates() {
        for header in [
            "[]",
            "\"HS256\"",
            "{\"alg\":\"HS256\"",
            "{\"alg\":\"HS256\"} x",
            "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
            "{\"alg\":\"HS256\",\"a\\u006cg\":\"RS256\"}",
            "{\"typ\":\"JWT\"}",
            "{\"alg\":256}",
            "{\"alg\":\"HS256\",\"kid\":7}",
            "{\"alg\":\"HS256\",\"typ\":null}",
        ] {
            let t = token(header, "{}", b"s");
            assert_eq!(kind(&t), AuthErrorKind::MalformedToken, "{header}");
        }
        let bad_utf8 = format!("{}.e30.c2ln", b64(b"{\"alg\":\"HS256\",\"x\":\"\xff\"}"));
        assert_eq!(kind(&bad_utf8), AuthErrorKind::MalformedToken);
    }

    #[test]
    fn alg_none_in_any_spelling_and_unknown_algs() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}", b"s");
            assert_eq!(kind(&t), AuthErrorKind::UnsupportedAlgorithm, "{alg}");
        }
        for alg in ["hs256", "HS257", "RSA-OAEP", "ES512", ""] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}", b"s");
            assert_eq!(kind(&t), AuthErrorKind::UnsupportedAlgorithm, "{alg}");
        }
    }

    #[test]
    fn crit_and_unencoded_payload_are_refused() {
        for header in [
            r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
            r#"{"alg":"HS256","b64":false}"#,
            r#"{"alg":"HS256","b64":"true"}"#,
        ] {
            let t = token(header, "{}", b"s");
            assert_eq!(kind(&t), AuthErrorKind::UnsupportedHeader, "{header}");
        }
        assert!(split(&token(r#"{"alg":"HS256","b64":true}"#, "{}", b"s"), 8192).is_ok());
    }

    #[test]
    fn embedded_key_headers_are_ignored() {
        let t = token(
            r#"{"alg":"RS256","jku":"http://evil/jwks","x5u":"http://evil/c","jwk":{"kty":"RSA"},"x5c":["AA"]}"#,
            "{}",
            b"s",
        );
        let parts = split(&t, 8192).unwrap();
        assert_eq!(parts.header.alg, Some(Algorithm::RS256));
        assert_eq!(parts.header.kid, None);
    }

    #[test]
    fn dup_check_switches_to_a_set() {
        let mut d = DupCheck::default();
        for i in 0..100 {
            assert!(d.insert(Cow::Owned(i.to_string())));
        }
        assert!(!d.insert(Cow::Borrowed("5")));
        assert!(!d.insert(Cow::Borrowed("99")));
    }
}
