//! Settings read from named variables: the process environment, or a given list (the
//! `from_env_vars` constructors, for tests and for settings kept elsewhere).

use std::collections::HashMap;

use serde::Deserialize;

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

/// A secret read from the configuration. Its errors never show the value it was given, and
/// its `Debug` never shows the secret.
pub(crate) struct Secret(pub(crate) String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'v> serde::de::Visitor<'v> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            // Every other type: an error naming what was expected, and nothing of the value.
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("the secret must be a string"))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom("the secret must be a string"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom("the secret must be a string"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom("the secret must be a string"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'v>>(self, _: A) -> Result<Secret, A::Error> {
                Err(serde::de::Error::custom("the secret must be a string"))
            }
            fn visit_map<A: serde::de::MapAccess<'v>>(self, _: A) -> Result<Secret, A::Error> {
                Err(serde::de::Error::custom("the secret must be a string"))
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One value or several: TOML a string or a list; the environment a comma-separated list.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}
