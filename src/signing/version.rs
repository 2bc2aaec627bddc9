//! Which message a request signature is made over.

use std::fmt;

/// The message format of a request signature, announced by `X-Signature-Version`.
///
/// - **V1** (no header, or `1`): permiso's own `{METHOD}|{url}|{body}|{timestamp}`, byte for
///   byte what permiso's Python `RequestSigner` makes. It cannot say where the URL ends: a
///   raw `|` in the path or query could move bytes between URL and body under one
///   signature, so a receiving permiso refuses a V1-signed request whose method, path or
///   query holds a raw `|`, and permiso's calling side sends `|` as `%7C`. Requests from
///   callers that never put a raw `|` in a URL are safe; V1 stays the default so Python
///   callers keep working.
/// - **V2** (`X-Signature-Version: 2`, opt-in on both sides): the body's SHA-256 in place of
///   the body and line breaks between fields
///   ([`signature_v2`](crate::signing::signature_v2)); no two requests share a message.
///
/// ```
/// use permiso::signing::SignatureVersion;
///
/// assert_eq!("2".parse::<SignatureVersion>().unwrap(), SignatureVersion::V2);
/// assert_eq!(SignatureVersion::default(), SignatureVersion::V1);
/// assert!("3".parse::<SignatureVersion>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignatureVersion {
    /// `{METHOD}|{url}|{body}|{timestamp}` (permiso's Python `RequestSigner`).
    #[default]
    V1,
    /// `permiso-signature-v2\n{METHOD}\n{url}\n{hex SHA-256 of body}\n{timestamp}`.
    V2,
}

impl SignatureVersion {
    /// The `X-Signature-Version` value: `1` or `2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1",
            Self::V2 => "2",
        }
    }
}

impl std::str::FromStr for SignatureVersion {
    type Err = UnknownSignatureVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1" => Ok(Self::V1),
            "2" => Ok(Self::V2),
            _ => Err(UnknownSignatureVersion),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SignatureVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            other => Err(serde::de::Error::custom(format_args!("expected 1 or 2, got {other}"))),
        }
    }
}

/// A signature version other than `1` or `2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSignatureVersion;

impl fmt::Display for UnknownSignatureVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown signature version (expected 1 or 2)")
    }
}

impl std::error::Error for UnknownSignatureVersion {}
