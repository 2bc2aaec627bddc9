//! Certificates made for each test run (rcgen; nothing checked in): a server certificate for
//! 127.0.0.1, self-signed client certificates, and a small CA that signs client certificates.

#![allow(dead_code)]

use permiso::mtls::ClientCertificate;

/// A certificate and its private key, PEM.
pub(crate) struct Pem {
    pub(crate) cert: String,
    pub(crate) key: String,
    pub(crate) der: Vec<u8>,
}

impl Pem {
    /// The SHA-256 thumbprint a bound token names (`cnf.x5t#S256`).
    pub(crate) fn thumbprint(&self) -> String {
        ClientCertificate::from_der(self.der.clone()).thumbprint()
    }

    /// Certificate and key in one PEM (what `reqwest::Identity::from_pem` reads).
    pub(crate) fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}\n{}", self.cert, self.key).as_bytes()).unwrap()
    }

    /// Writes `name.crt` and `name.key` into `dir`; returns their paths.
    pub(crate) fn write(&self, dir: &std::path::Path, name: &str) -> (String, String) {
        let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&crt, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (crt.display().to_string(), key.display().to_string())
    }
}

fn made(cert: rcgen::Certificate, key: &rcgen::KeyPair) -> Pem {
    Pem { cert: cert.pem(), key: key.serialize_pem(), der: cert.der().to_vec() }
}

/// A server certificate for `127.0.0.1` and `localhost`, self-signed.
pub(crate) fn server() -> Pem {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    made(params.self_signed(&key).unwrap(), &key)
}

/// A self-signed client certificate with subject `CN=name` (RFC 8705 §2.2's kind).
pub(crate) fn client(name: &str) -> Pem {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    made(params.self_signed(&key).unwrap(), &key)
}

/// A CA, and client certificates it signs.
pub(crate) struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    pub(crate) fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "permiso test CA");
        let issuer =
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A client certificate for `CN=name`, signed by this CA.
    pub(crate) fn client(&self, name: &str) -> Pem {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        made(params.signed_by(&key, &self.issuer).unwrap(), &key)
    }
}

/// A `reqwest` client trusting `server` and presenting `identity` (none: no certificate).
pub(crate) fn https_client(server: &Pem, identity: Option<&Pem>) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(server.cert.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([root]);
    if let Some(identity) = identity {
        builder = builder.identity(identity.identity());
    }
    builder.build().unwrap()
}
