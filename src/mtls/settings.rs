//! The `[client_cert]` table of the one settings tree, and its variables by the rule
//! `PERMISO_CLIENT_CERT_<KEY>`: read into the same table, so a key and its variable are one
//! setting, checked once (by [`CertificateBindingBuilder::build`]).

use serde::Deserialize;

use super::binding::{CertificateBinding, CertificateBindingBuilder};
use super::cert::CertHeaderFormat;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::vars::VarKind;

/// Every key of the table: the variable is `PERMISO_CLIENT_CERT_<KEY>`.
const KEYS: &[(&str, VarKind)] = &[
    ("header", VarKind::Text),
    ("format", VarKind::Text),
    ("trusted_proxies", VarKind::List),
    ("required", VarKind::Flag),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClientCertSettings {
    header: Option<String>,
    format: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    required: Option<bool>,
}

/// The binding the variables configure, or `None` when none is set.
pub(crate) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<CertificateBinding>, ConfigError> {
    let Some(settings) = crate::vars::env_settings::<ClientCertSettings>("client_cert", KEYS, get)? else {
        return Ok(None);
    };
    settings.into_binding().map(Some).map_err(ConfigError::in_env)
}

/// The binding the file's `[client_cert]` table configures (`origin` names the file).
pub(crate) fn from_table(
    table: Option<toml::Value>,
    origin: &str,
) -> Result<Option<CertificateBinding>, ConfigError> {
    let Some(table) = table else { return Ok(None) };
    let settings: ClientCertSettings = crate::vars::read_table(table, origin, "client_cert")?;
    settings.into_binding().map(Some).map_err(|e| e.in_file(origin))
}

impl ClientCertSettings {
    fn into_binding(self) -> Result<CertificateBinding, ConfigError> {
        let mut builder = CertificateBinding::builder().required(self.required.unwrap_or(false));
        match (self.header, self.format) {
            (Some(header), Some(format)) => {
                let format: CertHeaderFormat = format.parse().map_err(|m: String| {
                    ConfigError::new(ConfigErrorKind::Invalid, m).at("client_cert.format")
                })?;
                builder = builder.header(header, format);
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Missing,
                    "the header's format is required with the header (xfcc, rfc9440 or pem-urlencoded)",
                )
                .at("client_cert.format"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(ConfigErrorKind::Missing, "a format is given but no header")
                    .at("client_cert.header"));
            }
            (None, None) => {}
        }
        let builder: CertificateBindingBuilder =
            builder.trusted_proxies(self.trusted_proxies.unwrap_or_default());
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Option<CertificateBinding>, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        from_lookup(&crate::vars::lookup(vars))
    }

    #[test]
    fn the_variables_make_the_binding() {
        assert!(env(&[]).unwrap().is_none());
        let b = env(&[
            ("PERMISO_CLIENT_CERT_HEADER", "X-Client-Cert"),
            ("PERMISO_CLIENT_CERT_FORMAT", "pem-urlencoded"),
            ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", "127.0.0.2, 10.0.0.0/8"),
            ("PERMISO_CLIENT_CERT_REQUIRED", "true"),
        ])
        .unwrap()
        .unwrap();
        assert!(b.is_required());
        assert!(format!("{b:?}").contains("10.0.0.0/8"));
        assert!(env(&[("PERMISO_CLIENT_CERT_REQUIRED", "true")]).unwrap().unwrap().is_required());
    }

    #[test]
    fn each_mistake_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("PERMISO_CLIENT_CERT_HEADER", "x-c")], "PERMISO_CLIENT_CERT_FORMAT"),
            (&[("PERMISO_CLIENT_CERT_FORMAT", "xfcc")], "PERMISO_CLIENT_CERT_HEADER"),
            (
                &[("PERMISO_CLIENT_CERT_HEADER", "x-c"), ("PERMISO_CLIENT_CERT_FORMAT", "xfcc")],
                "PERMISO_CLIENT_CERT_TRUSTED_PROXIES",
            ),
            (&[("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", "10.0.0.0/8")], "PERMISO_CLIENT_CERT_HEADER"),
            (
                &[
                    ("PERMISO_CLIENT_CERT_HEADER", "x-c"),
                    ("PERMISO_CLIENT_CERT_FORMAT", "der"),
                    ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", "10.0.0.0/8"),
                ],
                "PERMISO_CLIENT_CERT_FORMAT",
            ),
            (
                &[
                    ("PERMISO_CLIENT_CERT_HEADER", "x-c"),
                    ("PERMISO_CLIENT_CERT_FORMAT", "xfcc"),
                    ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", "10.0.0.1/8"),
                ],
                "PERMISO_CLIENT_CERT_TRUSTED_PROXIES",
            ),
            (
                &[
                    ("PERMISO_CLIENT_CERT_HEADER", "bad header"),
                    ("PERMISO_CLIENT_CERT_FORMAT", "xfcc"),
                    ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", "10.0.0.0/8"),
                ],
                "PERMISO_CLIENT_CERT_HEADER",
            ),
            (&[("PERMISO_CLIENT_CERT_REQUIRED", "maybe")], "PERMISO_CLIENT_CERT_REQUIRED"),
        ];
        for (vars, name) in cases {
            let err = env(vars).unwrap_err().to_string();
            assert!(err.contains(name), "{vars:?}: {err}");
        }
    }
}
