//! The `[introspection]` table of the one settings tree, and its variables by the rule
//! `PERMISO_INTROSPECTION_<KEY>`: the environment is read into the same table, so a key and
//! its variable are one setting, checked once.

use std::time::Duration;

use serde::Deserialize;

use super::config::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, Introspection};
use crate::client::{ClientAuth, ServiceCredentials, TokenEndpoint, TokenSource};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::vars::{Secret, VarKind as Kind};

/// Every key of the table, with its kind: the variable is `PERMISO_INTROSPECTION_<KEY>`.
const KEYS: &[(&str, Kind)] = &[
    ("url", Kind::Text),
    ("style", Kind::Text),
    ("auth", Kind::Text),
    ("client_id", Kind::Text),
    ("client_secret", Kind::Text),
    ("client_secret_file", Kind::Text),
    ("token_url", Kind::Text),
    ("cache_max_secs", Kind::Number),
    ("negative_cache_secs", Kind::Number),
    ("grace_secs", Kind::Number),
    ("timeout_ms", Kind::Number),
    ("cache_max_entries", Kind::Number),
    ("cache_max_bytes", Kind::Number),
    ("max_concurrent_calls", Kind::Number),
    ("allow_http", Kind::Flag),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntrospectionSettings {
    url: Option<String>,
    style: Option<String>,
    auth: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    client_secret_file: Option<String>,
    token_url: Option<String>,
    cache_max_secs: Option<u64>,
    negative_cache_secs: Option<u64>,
    grace_secs: Option<u64>,
    timeout_ms: Option<u64>,
    cache_max_entries: Option<usize>,
    cache_max_bytes: Option<usize>,
    max_concurrent_calls: Option<usize>,
    allow_http: Option<bool>,
}

/// The introspection the variables configure (`PERMISO_INTROSPECTION_URL` turns it on), or
/// `None`.
pub(crate) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Introspection>, ConfigError> {
    let Some(settings) = crate::vars::env_settings::<IntrospectionSettings>("introspection", KEYS, get)?
    else {
        return Ok(None);
    };
    settings.into_introspection().map(Some).map_err(ConfigError::in_env)
}

/// The introspection the file's `[introspection]` table configures (`origin` names the file).
pub(crate) fn from_table(
    table: Option<toml::Value>,
    origin: &str,
) -> Result<Option<Introspection>, ConfigError> {
    let Some(table) = table else { return Ok(None) };
    let settings: IntrospectionSettings = crate::vars::read_table(table, origin, "introspection")?;
    settings.into_introspection().map(Some).map_err(|e| e.in_file(origin))
}

impl IntrospectionSettings {
    fn into_introspection(self) -> Result<Introspection, ConfigError> {
        let missing =
            |what: &str, at: &'static str| ConfigError::new(ConfigErrorKind::Missing, what.to_owned()).at(at);
        let invalid =
            |what: String, at: &'static str| ConfigError::new(ConfigErrorKind::Invalid, what).at(at);
        let url = self
            .url
            .ok_or_else(|| missing("the introspection endpoint's url is required", "introspection.url"))?;
        let client_id = self.client_id.ok_or_else(|| {
            missing("the resource server's client_id at the issuer is required", "introspection.client_id")
        })?;
        let secret = match (self.client_secret, self.client_secret_file) {
            (Some(Secret(s)), None) => s,
            (None, Some(path)) => {
                std::fs::read_to_string(&path).map(|s| s.trim_end_matches(['\r', '\n']).to_owned()).map_err(
                    |e| invalid(format!("{path:?} cannot be read: {e}"), "introspection.client_secret_file"),
                )?
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Conflict,
                    "set this or client_secret, not both",
                )
                .at("introspection.client_secret_file"));
            }
            (None, None) => {
                return Err(missing(
                    "client_secret or client_secret_file is required",
                    "introspection.client_secret",
                ));
            }
        };
        let allow_http = self.allow_http.unwrap_or(false);
        let own = |token_url: String, auth: ClientAuth| -> Result<TokenSource, ConfigError> {
            let creds =
                ServiceCredentials::new(client_id.clone(), secret.clone(), TokenEndpoint::Url(token_url));
            let mut builder = TokenSource::builder(creds).client_auth(auth);
            if allow_http {
                builder = builder.dangerous_allow_http();
            }
            builder.build().map_err(|e| invalid(format!("token_url: {e}"), "introspection.token_url"))
        };
        let style = self.style.as_deref().map(str::to_ascii_lowercase);
        let auth = self.auth.as_deref().map(str::to_ascii_lowercase);
        let mut introspection = match style.as_deref() {
            None | Some("rfc7662") => {
                let base = Introspection::rfc7662(url);
                match auth.as_deref() {
                    None | Some("client_secret_basic") => {
                        base.client_secret_basic(client_id.clone(), secret.clone())
                    }
                    Some("client_secret_post") => base.client_secret_post(client_id.clone(), secret.clone()),
                    Some("bearer") => {
                        let token_url = self.token_url.clone().ok_or_else(|| {
                            missing(
                                "auth = bearer needs the token_url of the resource server's own token",
                                "introspection.token_url",
                            )
                        })?;
                        base.bearer(own(token_url, ClientAuth::SecretBasic)?)
                    }
                    Some(other) => {
                        return Err(invalid(
                            format!(
                                "expected client_secret_basic, client_secret_post or bearer, got {other:?}"
                            ),
                            "introspection.auth",
                        ));
                    }
                }
            }
            Some("permiso") => {
                if auth.as_deref().is_some_and(|a| a != "bearer") {
                    return Err(invalid(
                        "permiso's introspection endpoint takes the resource server's own token (bearer)"
                            .into(),
                        "introspection.auth",
                    ));
                }
                let token_url = match self.token_url.clone() {
                    Some(u) => u,
                    None => permiso_token_url(&url).ok_or_else(|| {
                        missing(
                            "the url does not end in /introspect, so token_url (the service-token endpoint) is required",
                            "introspection.token_url",
                        )
                    })?,
                };
                // permiso's token endpoint takes client_secret_post, as its Python client sends it.
                Introspection::permiso(url, own(token_url, ClientAuth::SecretPost)?)
            }
            Some(other) => {
                return Err(invalid(
                    format!("expected rfc7662 or permiso, got {other:?}"),
                    "introspection.style",
                ));
            }
        };
        if let Some(s) = self.cache_max_secs {
            introspection = introspection.cache_max(Duration::from_secs(s));
        }
        if let Some(s) = self.negative_cache_secs {
            introspection = introspection.negative_cache(Duration::from_secs(s));
        }
        if let Some(s) = self.grace_secs {
            introspection = introspection.grace(Duration::from_secs(s));
        }
        if let Some(ms) = self.timeout_ms {
            introspection = introspection.timeout(Duration::from_millis(ms));
        }
        if self.cache_max_entries.is_some() || self.cache_max_bytes.is_some() {
            introspection = introspection.cache_limits(
                self.cache_max_entries.unwrap_or(DEFAULT_MAX_ENTRIES),
                self.cache_max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
            );
        }
        if let Some(n) = self.max_concurrent_calls {
            introspection = introspection.max_concurrent_calls(n);
        }
        if allow_http {
            introspection = introspection.dangerous_allow_http();
        }
        Ok(introspection)
    }
}

/// The permiso server's layout: `…/auth/introspect` → `…/auth/service-token`.
fn permiso_token_url(url: &str) -> Option<String> {
    let (path, query) = url.split_once('?').map_or((url, None), |(p, q)| (p, Some(q)));
    let base = path.trim_end_matches('/').strip_suffix("/introspect")?;
    Some(match query {
        Some(q) => format!("{base}/service-token?{q}"),
        None => format!("{base}/service-token"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permisos_token_url_sits_beside_its_introspection() {
        assert_eq!(
            permiso_token_url("http://127.0.0.1:8000/api/v1/auth/introspect").as_deref(),
            Some("http://127.0.0.1:8000/api/v1/auth/service-token")
        );
        assert_eq!(permiso_token_url("https://a/introspect/").as_deref(), Some("https://a/service-token"));
        assert_eq!(permiso_token_url("https://a/token/introspection"), None);
    }

    #[test]
    fn every_key_is_read_from_its_variable() {
        for &(key, kind) in KEYS {
            let name = format!("PERMISO_INTROSPECTION_{}", key.to_ascii_uppercase());
            let value = match kind {
                Kind::Number => "not-a-number",
                Kind::Flag => "maybe",
                Kind::Text | Kind::List => continue,
            };
            let err = from_lookup(&|n| (n == name).then(|| value.to_owned())).err().unwrap();
            assert!(err.to_string().contains(&name), "{name}: {err}");
        }
    }
}
