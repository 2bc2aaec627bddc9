//! Who the calling service is and where it gets tokens: read from the environment in the
//! naming of permiso's Python client, or given in code.

use std::fmt;

use crate::error::{ConfigError, ConfigErrorKind};

/// A client secret. Never printed: `Debug` shows `"***"`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, to send to the token endpoint.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Where the token endpoint is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// The token endpoint's URL.
    Url(String),
    /// Found by discovery from this issuer URL (`token_endpoint` of the OpenID Connect or
    /// RFC 8414 metadata).
    Discovery(String),
    /// permiso's: `{AUTH_SERVICE_URL}/auth/service-token`.
    Permiso(String),
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form fields: permiso's way, the default.
    #[default]
    SecretPost,
    /// HTTP Basic with the form-urlencoded id and secret.
    SecretBasic,
    /// The client's TLS certificate authenticates it (RFC 8705 §2: `tls_client_auth` or
    /// `self_signed_tls_client_auth`): only `client_id` is sent, no secret. Needs
    /// [`TokenSourceBuilder::client_certificate`](super::TokenSourceBuilder::client_certificate).
    TlsClientAuth,
}

/// A service's client-credentials: its id, secret, the scopes it asks for, and the token
/// endpoint.
///
/// ```
/// use permiso::client::{ServiceCredentials, TokenEndpoint};
///
/// let creds = ServiceCredentials::from_env_vars("payment", [
///     ("AUTH_SERVICE_URL", "http://127.0.0.1:8000/api/v1"),
///     ("PAYMENT_CLIENT_ID", "payment-service"),
///     ("PAYMENT_CLIENT_SECRET", "s3cr3t"),
///     ("PAYMENT_SCOPES", "read:transactions write:transactions"),
/// ])
/// .unwrap();
/// assert_eq!(creds.client_id(), "payment-service");
/// assert_eq!(creds.scopes(), ["read:transactions", "write:transactions"]);
/// assert!(!format!("{creds:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Debug)]
pub struct ServiceCredentials {
    client_id: String,
    client_secret: ClientSecret,
    scopes: Vec<String>,
    endpoint: TokenEndpoint,
}

impl ServiceCredentials {
    /// Credentials given in code.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        endpoint: TokenEndpoint,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: ClientSecret::new(client_secret),
            scopes: Vec::new(),
            endpoint,
        }
    }

    /// The scopes to ask for (none: the client's default grant).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Reads `AUTH_SERVICE_URL`, `{NAME}_CLIENT_ID`, the secret and the optional
    /// `{NAME}_SCOPES` (space- or comma-separated) from the process environment; `NAME` is
    /// `name` upper-cased (`"payment"` → `PAYMENT_CLIENT_ID`). The token endpoint is permiso's
    /// `{AUTH_SERVICE_URL}/auth/service-token`, unless `{NAME}_TOKEN_URL` gives one.
    ///
    /// The secret comes from exactly one of: `{NAME}_CLIENT_SECRET` (the value);
    /// `{NAME}_CLIENT_SECRET_FILE` (a file's contents, a trailing newline trimmed: Docker and
    /// Kubernetes secrets); `{NAME}_CLIENT_SECRET_ENCRYPTED` decrypted with `ENCRYPTION_KEY`
    /// (Fernet, as Python's `cryptography.fernet` and permiso's Python `SecretManager` write it).
    ///
    /// # Errors
    ///
    /// A missing variable, none or several secret sources, an unreadable file, or a secret
    /// that does not decrypt; each names the variables, never a secret.
    pub fn from_env(name: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(name, &|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over the given variables.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_vars<I, K, V>(name: &str, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_lookup(name, &crate::vars::lookup(vars))
    }

    pub(crate) fn from_lookup(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let prefix = env_prefix(name);
        let var = |n: &str| get(n).filter(|v| !v.trim().is_empty());
        let required = |n: String| {
            var(&n).ok_or_else(|| ConfigError::new(ConfigErrorKind::Missing, format!("{n} is required")))
        };
        let client_id = required(format!("{prefix}_CLIENT_ID"))?;
        let client_secret = secret_from(&prefix, get)?;
        let endpoint = match var(&format!("{prefix}_TOKEN_URL")) {
            Some(url) => TokenEndpoint::Url(url.trim().to_owned()),
            None => TokenEndpoint::Permiso(required("AUTH_SERVICE_URL".into())?.trim().to_owned()),
        };
        let scopes = var(&format!("{prefix}_SCOPES"))
            .map(|s| s.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Self { client_id, client_secret: ClientSecret::new(client_secret), scopes, endpoint })
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The secret.
    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }

    /// The scopes asked for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Where tokens come from.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }
}

/// A service's name as its variables spell it: `"order-svc"` → `ORDER_SVC`.
pub(crate) fn env_prefix(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The client secret from exactly one of its three variables.
fn secret_from(prefix: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let plain = format!("{prefix}_CLIENT_SECRET");
    let file = format!("{prefix}_CLIENT_SECRET_FILE");
    let encrypted = format!("{prefix}_CLIENT_SECRET_ENCRYPTED");
    let set: Vec<&String> = [&plain, &file, &encrypted]
        .into_iter()
        .filter(|n| get(n).is_some_and(|v| !v.trim().is_empty()))
        .collect();
    let err = |kind, msg: String| ConfigError::new(kind, msg);
    match set.as_slice() {
        // RFC 8705 §2: the client's certificate authenticates it (see `TokenSource::from_env`).
        [] if get(&format!("{prefix}_CLIENT_CERT_FILE")).is_some_and(|v| !v.trim().is_empty()) => {
            Ok(String::new())
        }
        [] => Err(err(
            ConfigErrorKind::Missing,
            format!("{plain} (or {file}, or {encrypted} with ENCRYPTION_KEY) is required"),
        )),
        [one] if *one == &plain => Ok(get(&plain).unwrap_or_default()),
        [one] if *one == &file => {
            let path = get(&file).unwrap_or_default();
            let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                err(ConfigErrorKind::Invalid, format!("{file}: the file cannot be read ({})", e.kind()))
            })?;
            let secret = text.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&text);
            if secret.is_empty() {
                return Err(err(ConfigErrorKind::Invalid, format!("{file}: the file is empty")));
            }
            Ok(secret.to_owned())
        }
        [_] => {
            let key = get("ENCRYPTION_KEY").filter(|k| !k.trim().is_empty()).ok_or_else(|| {
                err(ConfigErrorKind::Missing, format!("{encrypted} needs ENCRYPTION_KEY to decrypt it"))
            })?;
            let plain = super::fernet::decrypt(&key, &get(&encrypted).unwrap_or_default()).map_err(|e| match e {
                super::fernet::FernetError::Key => {
                    err(ConfigErrorKind::Invalid, "ENCRYPTION_KEY is not a Fernet key (base64url of 32 bytes)".into())
                }
                super::fernet::FernetError::Token => err(
                    ConfigErrorKind::Invalid,
                    format!("{encrypted} does not decrypt with ENCRYPTION_KEY (another key, or an altered value)"),
                ),
            })?;
            String::from_utf8(plain).map_err(|_| {
                err(ConfigErrorKind::Invalid, format!("{encrypted}: the decrypted secret is not UTF-8"))
            })
        }
        several => Err(err(
            ConfigErrorKind::Conflict,
            format!(
                "only one secret source may be set, but {} are",
                several.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" and ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_of(vars: &[(&str, &str)]) -> Result<String, ConfigError> {
        let mut all = vec![
            ("AUTH_SERVICE_URL", "http://127.0.0.1:8000/api/v1"),
            ("PAYMENT_CLIENT_ID", "payment-service"),
        ];
        all.extend_from_slice(vars);
        ServiceCredentials::from_env_vars("payment", all).map(|c| c.client_secret().expose().to_owned())
    }

    #[test]
    fn a_secret_from_a_file_loses_its_trailing_newline_only() {
        let dir = std::env::temp_dir().join(format!("permiso-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (content, want) in [
            ("s3cr3t\n", "s3cr3t"),
            ("s3cr3t\r\n", "s3cr3t"),
            ("s3cr3t", "s3cr3t"),
            (" sp ace \n\n", " sp ace \n"),
        ] {
            let path = dir.join("secret");
            std::fs::write(&path, content).unwrap();
            assert_eq!(secret_of(&[("PAYMENT_CLIENT_SECRET_FILE", path.to_str().unwrap())]).unwrap(), want);
        }
        let err = secret_of(&[("PAYMENT_CLIENT_SECRET_FILE", "/nonexistent/permiso")]).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_CLIENT_SECRET_FILE"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_encrypted_secret_is_decrypted_with_the_encryption_key() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/fernet.json")).unwrap();
        let case = &vectors["cases"][0];
        let (key, token) = (case["encryption_key"].as_str().unwrap(), case["token"].as_str().unwrap());
        let plain = case["plaintext"].as_str().unwrap();
        let got = secret_of(&[("PAYMENT_CLIENT_SECRET_ENCRYPTED", token), ("ENCRYPTION_KEY", key)]).unwrap();
        assert_eq!(got, plain);
        // Without the key, with another key, or altered: errors naming the variables, no secret.
        let other_key = vectors["cases"][3]["encryption_key"].as_str().unwrap();
        let tampered = vectors["cases"][4]["token"].as_str().unwrap();
        for (vars, names) in [
            (vec![("PAYMENT_CLIENT_SECRET_ENCRYPTED", token)], "ENCRYPTION_KEY"),
            (
                vec![("PAYMENT_CLIENT_SECRET_ENCRYPTED", token), ("ENCRYPTION_KEY", other_key)],
                "PAYMENT_CLIENT_SECRET_ENCRYPTED",
            ),
            (
                vec![("PAYMENT_CLIENT_SECRET_ENCRYPTED", tampered), ("ENCRYPTION_KEY", key)],
                "PAYMENT_CLIENT_SECRET_ENCRYPTED",
            ),
            (vec![("PAYMENT_CLIENT_SECRET_ENCRYPTED", token), ("ENCRYPTION_KEY", "short")], "ENCRYPTION_KEY"),
        ] {
            let err = secret_of(&vars).unwrap_err().to_string();
            assert!(err.contains(names), "{err}");
            assert!(!err.contains(plain) && !err.contains(key) && !err.contains(token), "{err}");
        }
    }

    #[test]
    fn exactly_one_secret_source() {
        let err = secret_of(&[]).unwrap_err().to_string();
        assert!(err.contains("PAYMENT_CLIENT_SECRET") && err.contains("ENCRYPTION_KEY"), "{err}");
        let err = secret_of(&[("PAYMENT_CLIENT_SECRET", "s3cr3t"), ("PAYMENT_CLIENT_SECRET_FILE", "/x")])
            .unwrap_err();
        assert!(err.to_string().contains("PAYMENT_CLIENT_SECRET and PAYMENT_CLIENT_SECRET_FILE"), "{err}");
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn missing_variables_are_named() {
        let err =
            ServiceCredentials::from_env_vars("payment", [("AUTH_SERVICE_URL", "http://x")]).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_CLIENT_ID"), "{err}");
        let err = ServiceCredentials::from_env_vars("payment", [("PAYMENT_CLIENT_ID", "p")]).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_CLIENT_SECRET"), "{err}");
        let err = ServiceCredentials::from_env_vars(
            "order-svc",
            [("ORDER_SVC_CLIENT_ID", "o"), ("ORDER_SVC_CLIENT_SECRET", "s")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("AUTH_SERVICE_URL"), "{err}");
    }

    #[test]
    fn a_token_url_replaces_the_permiso_default() {
        let creds = ServiceCredentials::from_env_vars(
            "billing",
            [
                ("BILLING_CLIENT_ID", "b"),
                ("BILLING_CLIENT_SECRET", "s"),
                ("BILLING_TOKEN_URL", "https://idp.example/oauth/token"),
                ("BILLING_SCOPES", "a,b c"),
            ],
        )
        .unwrap();
        assert_eq!(creds.endpoint(), &TokenEndpoint::Url("https://idp.example/oauth/token".into()));
        assert_eq!(creds.scopes(), ["a", "b", "c"]);
    }
}
