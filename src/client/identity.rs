//! The caller's TLS client certificate (RFC 8705): presented to the token endpoint, which
//! binds the tokens it issues to it (`cnf.x5t#S256`), and to the services the tokens are
//! sent to, which check the binding.

use std::fmt;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::mtls::ClientCertificate;

/// A client certificate chain and its private key, for mutual TLS: give it to
/// [`TokenSourceBuilder::client_certificate`](super::TokenSourceBuilder::client_certificate)
/// and the token requests present it (with [`ClientAuth::TlsClientAuth`](super::ClientAuth),
/// it also authenticates the client: RFC 8705 §2's `tls_client_auth` and
/// `self_signed_tls_client_auth`); [`RemoteService`](super::RemoteService) presents the
/// source's certificate on every call, so that certificate-bound tokens travel over the TLS
/// identity they are bound to. For your own `reqwest` client, [`apply`](Self::apply) it.
///
/// `Debug` shows the certificate's thumbprint, never the key.
///
/// ```no_run
/// use permiso::client::ClientIdentity;
///
/// let identity = ClientIdentity::from_pem(
///     &std::fs::read("/etc/payments/tls/client.crt")?,
///     &std::fs::read("/etc/payments/tls/client.key")?,
/// )?;
/// println!("tokens will be bound to {}", identity.thumbprint());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientIdentity {
    identity: reqwest::Identity,
    leaf: ClientCertificate,
}

impl ClientIdentity {
    /// The certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1).
    ///
    /// # Errors
    ///
    /// No certificate in `cert_chain`, or no usable key in `key`. Never quotes the key.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, ConfigError> {
        let invalid = |m: &str| ConfigError::new(ConfigErrorKind::Invalid, m.to_owned());
        let leaf = crate::mtls::pem_der(cert_chain)
            .map_err(|_| invalid("the client certificate PEM holds no certificate"))?;
        let mut pem = cert_chain.to_vec();
        pem.push(b'\n');
        pem.extend_from_slice(key);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
            invalid("the client certificate and key cannot be used for TLS (is the key PEM?)")
        })?;
        Ok(Self { identity, leaf: ClientCertificate::from_der(leaf) })
    }

    /// The leaf certificate's SHA-256 thumbprint: the `cnf.x5t#S256` of the tokens bound to
    /// it.
    pub fn thumbprint(&self) -> String {
        self.leaf.thumbprint()
    }

    /// `builder` presenting this certificate in its TLS handshakes.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.identity(self.identity.clone())
    }
}

impl ClientIdentity {
    /// The identity `{PREFIX}_CLIENT_CERT_FILE` and `{PREFIX}_CLIENT_KEY_FILE` name, or
    /// `None` when neither is set.
    pub(super) fn from_lookup(
        prefix: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let (cert_var, key_var) = (format!("{prefix}_CLIENT_CERT_FILE"), format!("{prefix}_CLIENT_KEY_FILE"));
        let var = |n: &str| get(n).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (cert, key) = match (var(&cert_var), var(&key_var)) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Missing,
                    format!("{key_var} is required with {cert_var}"),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Missing,
                    format!("{cert_var} is required with {key_var}"),
                ));
            }
        };
        let read = |var: &str, path: &str| {
            std::fs::read(path).map_err(|e| {
                ConfigError::new(
                    ConfigErrorKind::Invalid,
                    format!("{var}: the file cannot be read ({})", e.kind()),
                )
            })
        };
        let identity = Self::from_pem(&read(&cert_var, &cert)?, &read(&key_var, &key)?)
            .map_err(|e| ConfigError::new(e.kind(), format!("{cert_var}, {key_var}: {e}")))?;
        Ok(Some(identity))
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("thumbprint", &self.thumbprint()).finish_non_exhaustive()
    }
}
