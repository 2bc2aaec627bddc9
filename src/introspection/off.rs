//! Introspection without the `introspection` feature: types that cannot be made, so the
//! verifier's code is the same with and without it, and settings that ask for it are an
//! error saying which feature they need.

use std::sync::Arc;

use crate::claims::Claims;
use crate::error::{AuthError, ConfigError, ConfigErrorKind};

/// Never made: the feature is off.
#[derive(Clone, Debug)]
pub(crate) enum Introspection {}

/// Never made: the feature is off.
pub(crate) enum Introspector {}

pub(crate) type Finish<'a> = &'a (dyn Fn(Claims) -> Result<Arc<Claims>, AuthError> + Send + Sync);

impl Introspector {
    pub(crate) fn new(introspection: Introspection, _: &str) -> Result<Self, ConfigError> {
        match introspection {}
    }

    pub(crate) fn cached(&self, _: &str, _: i64) -> Option<Result<Arc<Claims>, AuthError>> {
        match *self {}
    }

    pub(crate) async fn judge(
        &self,
        _: &str,
        _: &(dyn Fn() -> i64 + Send + Sync),
        _: Finish<'_>,
    ) -> Result<Arc<Claims>, AuthError> {
        match *self {}
    }

    pub(crate) fn describe(&self) -> (&str, &'static str) {
        match *self {}
    }
}

fn needs_feature(what: &str) -> ConfigError {
    ConfigError::new(
        ConfigErrorKind::Invalid,
        format!("{what} configures introspection, which needs permiso built with its introspection feature"),
    )
}

pub(crate) mod settings {
    use super::{ConfigError, Introspection, needs_feature};

    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Introspection>, ConfigError> {
        match get("PERMISO_INTROSPECTION_URL").filter(|v| !v.trim().is_empty()) {
            Some(_) => Err(needs_feature("PERMISO_INTROSPECTION_URL")),
            None => Ok(None),
        }
    }

    pub(crate) fn from_table(
        table: Option<toml::Value>,
        origin: &str,
    ) -> Result<Option<Introspection>, ConfigError> {
        match table {
            Some(_) => Err(needs_feature(&format!("config file {origin}: [introspection]"))),
            None => Ok(None),
        }
    }
}
