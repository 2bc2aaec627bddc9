//! A client certificate as the binding needs it (its SHA-256 thumbprint), and the three
//! header formats a TLS-terminating proxy writes it in.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// The largest header value read as a certificate (a URL-encoded PEM chain of a few
/// certificates fits many times over).
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The certificate a client presented in its TLS handshake, as the certificate binding of
/// RFC 8705 §3 needs it: the SHA-256 thumbprint of its DER encoding (the token's
/// `cnf.x5t#S256`), and the DER itself.
///
/// [`AuthLayer`](crate::AuthLayer) looks for one in the request's extensions: put there by
/// [`permiso::mtls::tls`](crate::mtls) when permiso serves TLS itself, by your own TLS
/// acceptor, or read by the layer from a trusted proxy's header (see
/// [`CertificateBinding`](super::CertificateBinding)).
///
/// ```
/// use permiso::mtls::ClientCertificate;
///
/// // Any DER bytes: the thumbprint is SHA-256 over them, base64url without padding.
/// let cert = ClientCertificate::from_der(b"0\x03\x02\x01\x01".to_vec());
/// assert_eq!(cert.thumbprint().len(), 43);
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(cert);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    sha256: [u8; 32],
    der: Arc<[u8]>,
}

impl ClientCertificate {
    /// The certificate with this DER encoding (the leaf certificate of the client's chain).
    pub fn from_der(der: impl Into<Arc<[u8]>>) -> Self {
        let der = der.into();
        let sha256 = sha256(&der);
        Self { sha256, der }
    }

    /// The SHA-256 thumbprint, base64url without padding: what a bound token's
    /// `cnf.x5t#S256` holds (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate").field("thumbprint", &self.thumbprint()).finish_non_exhaustive()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// How a TLS-terminating proxy writes the client's certificate into the header it forwards.
///
/// ```
/// use permiso::mtls::CertHeaderFormat;
///
/// assert_eq!("pem-urlencoded".parse::<CertHeaderFormat>(), Ok(CertHeaderFormat::PemUrlEncoded));
/// assert!("der".parse::<CertHeaderFormat>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertHeaderFormat {
    /// Envoy's `X-Forwarded-Client-Cert`: `Hash=<hex SHA-256>` and/or `Cert="<URL-encoded
    /// PEM>"` in the last element (the one the nearest proxy wrote). `xfcc`.
    Xfcc,
    /// RFC 9440 `Client-Cert`: the DER as a structured-field byte sequence,
    /// `:<base64 DER>:`. `rfc9440`.
    Rfc9440,
    /// A URL-encoded PEM certificate: nginx's `$ssl_client_escaped_cert`, HAProxy and
    /// Traefik's forms of the same. `pem-urlencoded`.
    PemUrlEncoded,
}

impl std::str::FromStr for CertHeaderFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xfcc" => Ok(Self::Xfcc),
            "rfc9440" => Ok(Self::Rfc9440),
            "pem-urlencoded" => Ok(Self::PemUrlEncoded),
            other => Err(format!("expected xfcc, rfc9440 or pem-urlencoded, got {other:?}")),
        }
    }
}

impl CertHeaderFormat {
    /// The SHA-256 thumbprint of the certificate `value` carries in this format;
    /// `Ok(None)` when it says there is none (empty, or an XFCC element with neither `Hash`
    /// nor `Cert`). The error says what is wrong, never quoting the value.
    pub(crate) fn parse(self, value: &[u8]) -> Result<Option<[u8; 32]>, &'static str> {
        let value = value.trim_ascii();
        if value.is_empty() {
            return Ok(None);
        }
        if value.len() > MAX_HEADER_BYTES {
            return Err("the client certificate header is too large");
        }
        match self {
            Self::Rfc9440 => rfc9440(value).map(Some),
            Self::PemUrlEncoded => pem_urlencoded(value).map(Some),
            Self::Xfcc => xfcc(value),
        }
    }
}

fn rfc9440(value: &[u8]) -> Result<[u8; 32], &'static str> {
    const BAD: &str = "the Client-Cert header is not an RFC 9440 byte sequence";
    let inner = value.strip_prefix(b":").and_then(|v| v.strip_suffix(b":")).ok_or(BAD)?;
    // RFC 8941 §3.3.5: padded base64; parsers may accept it without padding.
    let der = STANDARD.decode(inner).or_else(|_| STANDARD_NO_PAD.decode(inner)).map_err(|_| BAD)?;
    certificate(&der)
}

/// A URL-encoded PEM certificate: decoded once into one buffer, its body's whitespace
/// squeezed out in place, the base64 decoded and hashed.
fn pem_urlencoded(value: &[u8]) -> Result<[u8; 32], &'static str> {
    let mut pem = percent_decode(value).ok_or("the client certificate header is not URL-encoded")?;
    let body = pem_body(&mut pem)?;
    certificate(&STANDARD.decode(body).map_err(|_| PEM_BAD)?)
}

const PEM_BAD: &str = "the client certificate is not a PEM certificate";

/// The base64 body of the first `CERTIFICATE` block of `pem`, whitespace removed (in place).
fn pem_body(pem: &mut [u8]) -> Result<&[u8], &'static str> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let start = find(pem, BEGIN).ok_or(PEM_BAD)? + BEGIN.len();
    let end = start + find(&pem[start..], END).ok_or(PEM_BAD)?;
    let mut kept = start;
    for i in start..end {
        let b = pem[i];
        if !b.is_ascii_whitespace() {
            pem[kept] = b;
            kept += 1;
        }
    }
    Ok(&pem[start..kept])
}

/// The DER of the first `CERTIFICATE` block of `pem` (the leaf of a chain).
#[cfg(feature = "client")]
pub(crate) fn pem_der(pem: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut pem = pem.to_vec();
    STANDARD.decode(pem_body(&mut pem)?).map_err(|_| PEM_BAD)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    haystack.windows(needle.len()).position(|w| w[0] == first && w == needle)
}

/// The thumbprint of a DER certificate: an ASN.1 SEQUENCE at least. (The TLS stack that
/// terminated the connection verified the certificate and the client's possession of its
/// key; the binding only compares thumbprints.)
fn certificate(der: &[u8]) -> Result<[u8; 32], &'static str> {
    if der.len() < 16 || der[0] != 0x30 {
        return Err("the client certificate is not a DER certificate");
    }
    Ok(sha256(der))
}

/// Strict percent-decoding (`+` stays `+`): `None` on a bad escape.
fn percent_decode(value: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' {
            let (hi, lo) = (hex(*value.get(i + 1)?)?, hex(*value.get(i + 2)?)?);
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Envoy's XFCC: elements separated by `,`, pairs by `;`, values optionally quoted (`\"`
/// escapes a quote). The last element is the one the nearest proxy added.
fn xfcc(value: &[u8]) -> Result<Option<[u8; 32]>, &'static str> {
    const BAD: &str = "the X-Forwarded-Client-Cert header is malformed";
    let text = std::str::from_utf8(value).map_err(|_| BAD)?;
    let last = split_unquoted(text, ',').ok_or(BAD)?.pop().ok_or(BAD)?;
    let (mut hash, mut cert) = (None, None);
    for pair in split_unquoted(last, ';').ok_or(BAD)? {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (key, raw) = pair.split_once('=').ok_or(BAD)?;
        let value = unquote(raw.trim()).ok_or(BAD)?;
        if key.trim().eq_ignore_ascii_case("hash") {
            let mut sha = [0u8; 32];
            if value.len() != 64 || hash.is_some() {
                return Err(BAD);
            }
            for (i, byte) in sha.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).map_err(|_| BAD)?;
            }
            hash = Some(sha);
        } else if key.trim().eq_ignore_ascii_case("cert") {
            if cert.is_some() {
                return Err(BAD);
            }
            cert = Some(pem_urlencoded(value.as_bytes())?);
        }
    }
    match (hash, cert) {
        (Some(h), Some(c)) if h != c => Err("the XFCC element's Hash and Cert disagree"),
        (_, Some(c)) => Ok(Some(c)),
        (hash, None) => Ok(hash),
    }
}

/// `text` split at each `sep` outside double quotes; `None` when a quote is left open.
fn split_unquoted(text: &str, sep: char) -> Option<Vec<&str>> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// A value as written, or its quoted form's content with `\"` and `\\` unescaped.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else { return Some(raw.to_owned()) };
    let inner = inner.strip_suffix('"')?;
    let (mut out, mut escaped) = (String::with_capacity(inner.len()), false);
    for c in inner.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            c => {
                out.push(c);
                escaped = false;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER-looking blob (a SEQUENCE) and its PEM.
    fn der() -> Vec<u8> {
        let mut d = vec![0x30, 0x82, 0x01, 0x00];
        d.extend((0..=255u8).cycle().take(256));
        d
    }

    fn pem(der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
    }

    fn escape(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn each_format_gives_the_same_thumbprint() {
        let want = ClientCertificate::from_der(der()).thumbprint();
        let hex: String = sha256(&der()).iter().map(|b| format!("{b:02x}")).collect();
        let cases = [
            (CertHeaderFormat::Rfc9440, format!(":{}:", STANDARD.encode(der()))),
            (CertHeaderFormat::PemUrlEncoded, escape(&pem(&der()))),
            (CertHeaderFormat::Xfcc, format!("By=spiffe://a/b;Hash={hex};Subject=\"CN=x,O=y\"")),
            (CertHeaderFormat::Xfcc, format!("Cert=\"{}\";URI=spiffe://c", escape(&pem(&der())))),
            (
                CertHeaderFormat::Xfcc,
                format!("Hash={};By=x,Hash={hex};Cert={}", "0".repeat(64), escape(&pem(&der()))),
            ),
        ];
        for (format, value) in cases {
            let got = format.parse(value.as_bytes()).unwrap().unwrap();
            assert_eq!(URL_SAFE_NO_PAD.encode(got), want, "{format:?} {value}");
        }
    }

    #[test]
    fn malformed_values_are_refused_and_empty_is_none() {
        use CertHeaderFormat::*;
        assert_eq!(Rfc9440.parse(b"  ").unwrap(), None);
        assert_eq!(Xfcc.parse(b"By=spiffe://a").unwrap(), None);
        let bad: [(CertHeaderFormat, &[u8]); 9] = [
            (Rfc9440, b"MIIB"),
            (Rfc9440, b":not base64!:"),
            (Rfc9440, b":AAAA:"),
            (PemUrlEncoded, b"%ZZ"),
            (PemUrlEncoded, b"-----BEGIN%20CERTIFICATE-----"),
            (Xfcc, b"Hash=abc"),
            (Xfcc, b"Cert=\"open"),
            (Xfcc, b"Hash"),
            (Xfcc, b"\xff\xfe"),
        ];
        for (format, value) in bad {
            assert!(format.parse(value).is_err(), "{format:?} {value:?}");
        }
        let hash = "1".repeat(64);
        let both = format!("Hash={hash};Cert=\"{}\"", escape(&pem(&der())));
        assert!(Xfcc.parse(both.as_bytes()).is_err(), "Hash and Cert disagree");
        assert!(Rfc9440.parse(&vec![b':'; MAX_HEADER_BYTES + 1]).is_err());
    }

    #[test]
    fn debug_shows_the_thumbprint_only() {
        let cert = ClientCertificate::from_der(der());
        let shown = format!("{cert:?}");
        assert!(shown.contains(&cert.thumbprint()) && !shown.contains("der"), "{shown}");
    }
}
