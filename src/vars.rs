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

/// Names the setting of a builder's error as the configuration `get` reads gave it: the key
/// of the file `PERMISO_CONFIG` names, else the environment variable.
pub(crate) fn naming(
    get: &dyn Fn(&str) -> Option<String>,
) -> impl Fn(crate::error::ConfigError) -> crate::error::ConfigError {
    let file = get("PERMISO_CONFIG").map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    move |err| match &file {
        Some(path) => err.in_file(path),
        None => err.in_env(),
    }
}

/// The table `[name]` of the file `origin`, read into `T`; an error names the key it is
/// about (the first key that `T` refuses on its own), as the file's other errors do.
pub(crate) fn read_table<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    origin: &str,
    name: &str,
) -> Result<T, crate::error::ConfigError> {
    T::deserialize(value.clone()).map_err(|e| {
        let alone = |key: &String, v: &toml::Value| {
            let one = toml::Table::from_iter([(key.clone(), v.clone())]);
            T::deserialize(toml::Value::Table(one)).is_err()
        };
        let at = match value.as_table().and_then(|t| t.iter().find(|(k, v)| alone(k, v))) {
            Some((key, _)) => format!("[{name}] {key}"),
            None => format!("[{name}]"),
        };
        crate::error::ConfigError::new(
            crate::error::ConfigErrorKind::Invalid,
            format!("config file {origin}: {at}: {}", e.message()),
        )
    })
}

/// The text of the configuration file at `path` (`PERMISO_CONFIG`), or an error naming it.
pub(crate) fn read_config_file(path: &str) -> Result<String, crate::error::ConfigError> {
    std::fs::read_to_string(std::path::Path::new(path)).map_err(|e| {
        crate::error::ConfigError::new(
            crate::error::ConfigErrorKind::Invalid,
            format!("config file {path}: cannot be read: {e}"),
        )
    })
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

/// How a table key's variable is read into the table (see [`env_table`]).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "introspection"), allow(dead_code))]
pub(crate) enum VarKind {
    Text,
    Number,
    Flag,
    /// Comma-separated: a TOML list.
    List,
}

/// The settings of table `[table]` as the variables `PERMISO_<TABLE>_<KEY>` give them, one
/// per key of `keys`: the environment is read into the same table as the file's and
/// deserialized by the same type, so that a key and its variable are one setting, checked
/// once. `None` when no variable is set; an error names the variable it is about.
pub(crate) fn env_settings<T: serde::de::DeserializeOwned>(
    table: &str,
    keys: &[(&str, VarKind)],
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<T>, crate::error::ConfigError> {
    let var = |key: &str| format!("PERMISO_{}_{}", table.to_ascii_uppercase(), key.to_ascii_uppercase());
    let mut out = toml::Table::new();
    for &(key, kind) in keys {
        let name = var(key);
        let Some(value) = get(&name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = match kind {
            VarKind::Text => toml::Value::String(value),
            VarKind::Flag => toml::Value::Boolean(parse_bool(&name, &value)?),
            VarKind::List => toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| toml::Value::String(v.to_owned()))
                    .collect(),
            ),
            VarKind::Number => toml::Value::Integer(value.parse().map_err(|_| {
                crate::error::ConfigError::new(
                    crate::error::ConfigErrorKind::Invalid,
                    format!("{name}: expected a whole number, got {value:?}"),
                )
            })?),
        };
        out.insert(key.to_owned(), value);
    }
    if out.is_empty() {
        return Ok(None);
    }
    T::deserialize(toml::Value::Table(out.clone())).map(Some).map_err(|e| {
        // The first variable its type refuses on its own.
        let alone = |key: &String, v: &toml::Value| {
            T::deserialize(toml::Value::Table(toml::Table::from_iter([(key.clone(), v.clone())]))).is_err()
        };
        let name = out.iter().find(|(k, v)| alone(k, v)).map_or_else(|| var("*"), |(k, _)| var(k));
        crate::error::ConfigError::new(
            crate::error::ConfigErrorKind::Invalid,
            format!("{name}: {}", e.message()),
        )
    })
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

impl OneOrMany {
    /// The values, as a list.
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// The names permiso has always read (first) whose TOML key gives another name by the rule
/// `PERMISO_<TABLE>_<KEY>` (second; top-level and issuer keys: `PERMISO_<KEY>`). Both are
/// read; every other variable already is its key's rule name. (`PERMISO_PUBLIC_BASE_URL` is
/// shared by `[dpop]` and `[signing]`; their rule names override it for one table.)
pub(crate) const RULE_NAMES: &[(&str, &str)] = &[
    ("PERMISO_ISSUER", "PERMISO_ISS"),
    ("PERMISO_HS256_SECRET", "PERMISO_SECRET"),
    ("PERMISO_DPOP", "PERMISO_DPOP_MODE"),
    ("PERMISO_SIGNATURES", "PERMISO_SIGNING_MODE"),
    ("PERMISO_RATE_LIMITS", "PERMISO_RATE_LIMITS_CLIENTS"),
    ("PERMISO_RATE_LIMIT_DEFAULT", "PERMISO_RATE_LIMITS_DEFAULT"),
    ("PERMISO_RATE_LIMIT_BURST", "PERMISO_RATE_LIMITS_BURST"),
    ("PERMISO_RATE_LIMIT_EXEMPT", "PERMISO_RATE_LIMITS_EXEMPT"),
    ("PERMISO_RATE_LIMIT_REDIS_URL", "PERMISO_RATE_LIMITS_REDIS_URL"),
    ("PERMISO_RATE_LIMIT_KEY_PREFIX", "PERMISO_RATE_LIMITS_KEY_PREFIX"),
    ("PERMISO_RATE_LIMIT_ON_REDIS_ERROR", "PERMISO_RATE_LIMITS_ON_REDIS_ERROR"),
    ("PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS", "PERMISO_RATE_LIMITS_REDIS_TIMEOUT_MS"),
];

/// `get`, where each name of [`RULE_NAMES`] also answers for its rule name; the two set to
/// different values is an error naming both (never the values).
pub(crate) fn by_rule<'a>(
    get: &'a dyn Fn(&str) -> Option<String>,
) -> Result<impl Fn(&str) -> Option<String> + 'a, crate::error::ConfigError> {
    let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    for (name, rule) in RULE_NAMES {
        if let (Some(a), Some(b)) = (set(name), set(rule))
            && a.trim() != b.trim()
        {
            return Err(crate::error::ConfigError::new(
                crate::error::ConfigErrorKind::Conflict,
                format!("{name} and {rule} name the same setting but are set to different values"),
            ));
        }
    }
    // A set name first, then its rule name; a name set empty is still read as it always was.
    Ok(move |name: &str| {
        set(name)
            .or_else(|| RULE_NAMES.iter().find(|(n, _)| *n == name).and_then(|(_, rule)| set(rule)))
            .or_else(|| get(name))
    })
}
