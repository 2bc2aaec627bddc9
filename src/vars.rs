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
