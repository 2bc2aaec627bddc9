//! The stage's settings ([`CertificateBinding`] and its builder) and its check: the
//! request's certificate found once, then compared with the token's `cnf.x5t#S256`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderName;

use super::cert::CertHeaderFormat;
use super::proxy::{Cidr, own_certificate, peer};
use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};

/// Where [`AuthLayer`](crate::AuthLayer) finds the client certificate that a token bound to
/// one (`cnf.x5t#S256`, RFC 8705 §3) must come with, and whether unbound tokens are refused.
///
/// A certificate in the request's extensions ([`ClientCertificate`](super::ClientCertificate), put there by permiso's
/// TLS helper, tonic's TLS or your acceptor) is always used; no configuration is needed for
/// that. Behind a TLS-terminating proxy, name the header the proxy writes the certificate
/// into, its format, and the proxies' addresses: the header is read only from a connection
/// whose peer is one of them, and refused (400) from anywhere else, so that a client cannot
/// claim a certificate it does not hold.
///
/// ```
/// use permiso::mtls::{CertHeaderFormat, CertificateBinding};
///
/// // nginx in front: `proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`
/// let binding = CertificateBinding::builder()
///     .header("x-client-cert", CertHeaderFormat::PemUrlEncoded)
///     .trusted_proxies(["10.0.0.0/8", "127.0.0.1"])
///     .required(true)
///     .build()?;
/// # let _ = binding;
/// # Ok::<(), permiso::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CertificateBinding {
    header: Option<(HeaderName, CertHeaderFormat)>,
    proxies: Arc<[Cidr]>,
    required: bool,
    /// Refused headers are logged at most once a second.
    warned: Arc<crate::log::Every>,
    /// Header values already read, and the thumbprint each gave: the same client's
    /// certificate comes on every request the proxy forwards for it, and decoding a PEM
    /// costs microseconds. Keyed by the whole value (no hash stands in for it); bounded in
    /// bytes.
    parsed: moka::sync::Cache<Box<[u8]>, Option<[u8; 32]>, foldhash::fast::RandomState>,
}

/// The bytes of header values the parsed-header cache keeps.
const PARSED_CACHE_BYTES: u64 = 4 << 20;

/// Logs a certificate header refused for its peer (at most once a second: the caller's gate).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables, clippy::single_match))]
fn warn_untrusted(peer: Option<std::net::IpAddr>, header: &HeaderName) {
    match peer {
        Some(ip) => crate::log::warn!(
            peer = %ip,
            header = %header,
            "permiso: a client certificate header came from an address that is not a trusted proxy; refused (400)"
        ),
        None => crate::log::warn!(
            header = %header,
            "permiso: a client certificate header came on a connection whose peer address is unknown; refused (400). Serve with axum's into_make_service_with_connect_info::<SocketAddr>() or put a permiso::mtls::PeerAddr in the request's extensions"
        ),
    }
}

/// A parsed header's weight in that cache: its length. (`&Box`: moka's weigher takes `&K`.)
#[allow(clippy::borrowed_box)]
fn weight(value: &Box<[u8]>, _: &Option<[u8; 32]>) -> u32 {
    u32::try_from(value.len()).unwrap_or(u32::MAX)
}

impl std::fmt::Debug for CertificateBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proxies: Vec<String> = self.proxies.iter().map(ToString::to_string).collect();
        f.debug_struct("CertificateBinding")
            .field("header", &self.header)
            .field("trusted_proxies", &proxies)
            .field("required", &self.required)
            .finish()
    }
}

/// Builds a [`CertificateBinding`]; see there.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct CertificateBindingBuilder {
    header: Option<(String, CertHeaderFormat)>,
    proxies: Vec<String>,
    required: bool,
}

impl CertificateBinding {
    /// A builder: no proxy header, no trusted proxies, unbound tokens accepted.
    pub fn builder() -> CertificateBindingBuilder {
        CertificateBindingBuilder::default()
    }

    /// Whether tokens not bound to a certificate are refused.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The certificate `req` presents: on a trusted proxy's connection, the one its header
    /// names (none without the header: the certificate of that connection's own TLS would be
    /// the proxy's); on any other, the one in its extensions. The header from anywhere else,
    /// or one that does not parse, is a 400.
    pub(crate) fn presented(
        this: Option<&Self>,
        extensions: &http::Extensions,
        headers: &http::HeaderMap,
    ) -> Result<CertProof, AuthError> {
        let Some(this) = this else {
            return Ok(CertProof { sha256: own_certificate(extensions), required: false });
        };
        // The connection's own certificate is hashed only when it is the one that counts.
        let proof = |sha256| CertProof { sha256, required: this.required };
        let Some((name, format)) = &this.header else { return Ok(proof(own_certificate(extensions))) };
        let mut values = headers.get_all(name).iter();
        let first = values.next();
        let refuse =
            |why: &'static str| Err(AuthError::new(AuthErrorKind::InvalidRequest).with_description(why));
        let peer = peer(extensions);
        let trusted = peer.is_some_and(|ip| this.proxies.iter().any(|c| c.contains(ip)));
        let value = match first {
            // The proxy says its client presented no certificate.
            None if trusted => return Ok(proof(None)),
            None => return Ok(proof(own_certificate(extensions))),
            Some(_) if !trusted => {
                if this.warned.due() {
                    warn_untrusted(peer, name);
                }
                return refuse("the client certificate header is accepted only from a trusted proxy");
            }
            Some(value) => value,
        };
        if values.next().is_some() {
            return refuse("the client certificate header is repeated");
        }
        if let Some(sha256) = this.parsed.get(value.as_bytes()) {
            return Ok(proof(sha256));
        }
        match format.parse(value.as_bytes()) {
            Ok(sha256) => {
                this.parsed.insert(value.as_bytes().into(), sha256);
                Ok(proof(sha256))
            }
            Err(why) => refuse(why),
        }
    }
}

impl CertificateBindingBuilder {
    /// The header a TLS-terminating proxy writes the client's certificate into, and its
    /// format. Needs [`trusted_proxies`](Self::trusted_proxies).
    pub fn header(mut self, name: impl Into<String>, format: CertHeaderFormat) -> Self {
        self.header = Some((name.into(), format));
        self
    }

    /// The proxies' addresses (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`): the header is read
    /// only from a connection whose peer address is in one of them.
    pub fn trusted_proxies<I, S>(mut self, cidrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.proxies.extend(cidrs.into_iter().map(Into::into));
        self
    }

    /// `true`: refuse every token not bound to a certificate (401 `invalid_token`), DPoP-bound
    /// and plain bearer tokens alike. Default `false`.
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// The binding.
    ///
    /// # Errors
    ///
    /// A header name that is not one, a header without trusted proxies, trusted proxies
    /// without a header, or an entry that is not an address or CIDR; the message names the
    /// setting (`PERMISO_CLIENT_CERT_*` or `[client_cert]`'s key).
    pub fn build(self) -> Result<CertificateBinding, ConfigError> {
        let invalid = |m: String, at| ConfigError::new(ConfigErrorKind::Invalid, m).at(at);
        let proxies = self
            .proxies
            .iter()
            .map(|c| Cidr::parse(c).map_err(|m| invalid(m, "client_cert.trusted_proxies")))
            .collect::<Result<Vec<_>, _>>()?;
        let header = match self.header {
            Some((name, format)) => {
                let name = HeaderName::try_from(name.trim())
                    .map_err(|_| invalid(format!("{name:?} is not a header name"), "client_cert.header"))?;
                if proxies.is_empty() {
                    return Err(ConfigError::new(
                        ConfigErrorKind::Missing,
                        "the proxies the certificate header is accepted from are required with the header",
                    )
                    .at("client_cert.trusted_proxies"));
                }
                Some((name, format))
            }
            None if !proxies.is_empty() => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Missing,
                    "trusted proxies are given but no header to read the certificate from",
                )
                .at("client_cert.header"));
            }
            None => None,
        };
        Ok(CertificateBinding {
            header,
            proxies: proxies.into(),
            required: self.required,
            warned: Arc::new(crate::log::Every::second()),
            parsed: moka::sync::Cache::builder()
                .weigher(weight)
                .max_capacity(PARSED_CACHE_BYTES)
                // A kilobyte of key per lookup: foldhash, not SipHash. (The key is compared
                // whole on a hit, so a collision is only a slower lookup.)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        })
    }
}

/// What a request proves about a certificate: the thumbprint of the one it presented, and
/// whether the layer requires tokens to be bound to one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CertProof {
    sha256: Option<[u8; 32]>,
    required: bool,
}

impl CertProof {
    /// No certificate, none required (`Verifier::verify`, the gRPC helpers).
    pub(crate) const NONE: Self = Self { sha256: None, required: false };

    /// RFC 8705 §3: a token with `cnf.x5t#S256` passes only with that certificate.
    pub(crate) fn check(self, claims: &Claims) -> Result<(), AuthError> {
        let mismatch = |why| Err(AuthError::new(AuthErrorKind::CertificateMismatch).with_description(why));
        match (claims.certificate_thumbprint(), self.sha256) {
            (Some(want), Some(have)) => {
                let mut decoded = [0u8; 32];
                match URL_SAFE_NO_PAD.decode_slice(want, &mut decoded) {
                    Ok(32) if decoded == have => Ok(()),
                    Ok(32) => mismatch("the token is bound to another client certificate"),
                    _ => Err(AuthError::new(AuthErrorKind::InvalidClaim)
                        .with_description("the token's cnf.x5t#S256 is not a SHA-256 thumbprint")),
                }
            }
            (Some(_), None) => {
                mismatch("the token is bound to a client certificate and the request presented none")
            }
            (None, _) => self.check_unbound(),
        }
    }

    /// A token bound to no certificate: refused only where binding is required.
    pub(crate) fn check_unbound(self) -> Result<(), AuthError> {
        if self.required { Err(AuthError::new(AuthErrorKind::CertificateRequired)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtls::{ClientCertificate, PeerAddr};

    fn binding() -> CertificateBinding {
        CertificateBinding::builder()
            .header("x-client-cert", CertHeaderFormat::Xfcc)
            .trusted_proxies(["10.0.0.0/8"])
            .build()
            .unwrap()
    }

    fn extensions(peer: &str, own: bool) -> http::Extensions {
        let mut ext = http::Extensions::new();
        ext.insert(PeerAddr(peer.parse().unwrap()));
        if own {
            ext.insert(ClientCertificate::from_der(vec![0x30; 32]));
        }
        ext
    }

    #[test]
    fn a_trusted_proxy_speaks_for_its_client_and_no_one_else_does() {
        let b = binding();
        let hash = "ab".repeat(32);
        let mut with_header = http::HeaderMap::new();
        with_header.insert("x-client-cert", format!("Hash={hash}").parse().unwrap());
        let none = http::HeaderMap::new();
        let own = *ClientCertificate::from_der(vec![0x30; 32]).sha256();
        let presented = |peer, own_cert, headers| {
            CertificateBinding::presented(Some(&b), &extensions(peer, own_cert), headers).map(|p| p.sha256)
        };
        // The proxy's header names the certificate; without it, the proxy's own TLS
        // certificate is not taken for its client's.
        assert_eq!(presented("10.1.2.3:1", true, &with_header).unwrap(), Some([0xab; 32]));
        assert_eq!(presented("10.1.2.3:1", true, &none).unwrap(), None);
        // A direct connection: its own TLS certificate; the header refused.
        assert_eq!(presented("192.0.2.7:1", true, &none).unwrap(), Some(own));
        let err = presented("192.0.2.7:1", true, &with_header).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::InvalidRequest);
        // Repeated or malformed from the proxy: refused too.
        let mut twice = with_header.clone();
        twice.append("x-client-cert", format!("Hash={hash}").parse().unwrap());
        assert!(presented("10.1.2.3:1", false, &twice).is_err());
        let mut bad = http::HeaderMap::new();
        bad.insert("x-client-cert", "Hash=zz".parse().unwrap());
        assert!(presented("10.1.2.3:1", false, &bad).is_err());
    }
}
