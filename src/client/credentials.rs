//! Who the calling service is and where it gets tokens: read from the environment in the
//! seed tutorial's naming, or given in code.

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

    /// Reads `AUTH_SERVICE_URL`, `{NAME}_CLIENT_ID`, `{NAME}_CLIENT_SECRET` and the optional
    /// `{NAME}_SCOPES` (space- or comma-separated) from the process environment; `NAME` is
    /// `name` upper-cased (`"payment"` → `PAYMENT_CLIENT_ID`). The token endpoint is permiso's
    /// `{AUTH_SERVICE_URL}/auth/service-token`, unless `{NAME}_TOKEN_URL` gives one.
    ///
    /// # Errors
    ///
    /// A missing variable, named in the message.
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
        let vars: std::collections::HashMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Self::from_lookup(name, &|k| vars.get(k).cloned())
    }

    fn from_lookup(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let prefix: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .collect();
        let var = |n: &str| get(n).filter(|v| !v.trim().is_empty());
        let required = |n: String| {
            var(&n).ok_or_else(|| ConfigError::new(ConfigErrorKind::Missing, format!("{n} is required")))
        };
        let client_id = required(format!("{prefix}_CLIENT_ID"))?;
        let client_secret = required(format!("{prefix}_CLIENT_SECRET"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
