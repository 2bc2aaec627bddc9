//! Settings read from named variables: the process environment, or a given list (the
//! `from_env_vars` constructors, for tests and for settings kept elsewhere).

use std::collections::HashMap;

/// A lookup over the given `(name, value)` pairs.
pub(crate) fn lookup<I, K, V>(vars: I) -> impl Fn(&str) -> Option<String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let vars: HashMap<String, String> = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    move |name| vars.get(name).cloned()
}

/// The one reading of a boolean setting: `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`/empty,
/// in any case; anything else is an error naming `name`.
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<bool, crate::error::ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(crate::error::ConfigError::new(
            crate::error::ConfigErrorKind::Invalid,
            format!("{name}: expected true or false, got {other:?}"),
        )),
    }
}
