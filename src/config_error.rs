//! [`ConfigError`]: a configuration that cannot work, found when it is built, naming the
//! setting as the operator wrote it (see `names`), never a secret.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// What kind of configuration problem a [`ConfigError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A required setting is missing (issuer, audience, key source…).
    Missing,
    /// A setting has a value that cannot be used.
    Invalid,
    /// A key could not be parsed or is not acceptable (too short, private, wrong type).
    Key,
    /// Settings contradict each other (an algorithm no key can verify…).
    Conflict,
}

/// A configuration that cannot work, found when it is built, never on a request.
///
/// Its message names the setting and what was expected; it never contains a secret.
///
/// ```
/// use permiso::{ConfigErrorKind, Verifier};
///
/// let err = Verifier::builder(Vec::<String>::new()).build().unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::Missing);
/// assert!(err.to_string().contains("audience"));
/// ```
#[derive(Clone)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: Cow<'static, str>,
    /// The setting a builder refused, as its TOML path (`dpop.algorithms`): see `names`.
    setting: Option<&'static str>,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self { kind, message: message.into(), setting: None }
    }

    /// The error is about `setting` (its TOML path: `table.key`).
    pub(crate) fn at(self, setting: &'static str) -> Self {
        Self { setting: Some(setting), ..self }
    }

    /// Names the tagged setting by its environment variable.
    pub(crate) fn in_env(mut self) -> Self {
        if let Some(var) = self.setting.take().and_then(crate::names::env_name) {
            self.message = format!("{var}: {}", self.message).into();
        }
        self
    }

    /// Names the tagged setting by its key in the file `origin`.
    pub(crate) fn in_file(mut self, origin: &str) -> Self {
        if let Some(path) = self.setting.take() {
            self.message = match path.split_once('.') {
                Some((table, key)) => format!("config file {origin}: [{table}] {key}: {}", self.message),
                None => format!("config file {origin}: {path}: {}", self.message),
            }
            .into();
        }
        self
    }

    /// The category.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigError").field("kind", &self.kind).field("message", &self.message).finish()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ConfigError {}
