//! Configuration without code: environment variables for one issuer, a TOML file for several.
//!
//! Every bad value is an error at start-up naming the variable or key and what was expected;
//! secrets are never echoed.
//!
//! ```
//! use permiso::Verifier;
//!
//! let verifier = Verifier::from_env_vars([
//!     ("PERMISO_ISSUER", "keystone-auth"),
//!     ("PERMISO_AUDIENCE", "keystone-auth"),
//!     ("PERMISO_HS256_SECRET", "a-shared-secret-of-at-least-32-bytes!!"),
//! ])
//! .unwrap();
//! # let _ = verifier;
//!
//! let err = Verifier::from_env_vars([("PERMISO_ISSUER", "keystone-auth")]).unwrap_err();
//! assert!(err.to_string().contains("PERMISO_AUDIENCE"));
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::builder::VerifierBuilder;
use super::engine::Verifier;
use super::issuer::Issuer;
use super::service_rule::ServiceTokenRule;
use crate::algorithm::Algorithm;
use crate::dpop::DpopMode;
use crate::dpop::settings::{DPOP_ENV_NAMES, DPOP_TOML_NAMES, DpopSettings};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::introspection::Introspection;
use crate::keys::RemoteKeys;
use crate::keys::{MAX_COOLDOWN, MAX_KEY_LIFETIME, MAX_TIMEOUT};
use crate::on_error::OnStoreError;
use crate::revocation::OnRevocationError;
use crate::revocation::settings::{ENV_NAMES, RevocationSettings, TOML_NAMES};
use crate::scope::ScopeRules;
use crate::vars::{OneOrMany, Secret};

fn invalid(msg: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, msg)
}

fn missing(msg: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Missing, msg)
}

/// Where an issuer's keys come from, as configured.
enum KeyChoice {
    Secret(String),
    JwksUrl(String),
    Discovery(String),
}

/// One issuer as read from the environment or a file, before it is built.
struct IssuerSpec {
    iss: String,
    /// `None`: judged by `introspection` alone.
    keys: Option<KeyChoice>,
    introspection: Option<Introspection>,
    algorithms: Option<Vec<Algorithm>>,
    service_token: Option<ServiceTokenRule>,
    require_at_jwt: bool,
    allow_http: bool,
    fetch_timeout: Option<Duration>,
    stale_window: Option<Duration>,
    refetch_cooldown: Option<Duration>,
    allow_short_secret: bool,
    trusted_clients: Vec<String>,
    /// `None`: the issuer kind's default (honoured for a permiso secret only).
    trust_is_trusted: Option<bool>,
}

impl IssuerSpec {
    fn into_issuer(self) -> Issuer {
        let remote = |keys: RemoteKeys| {
            let mut keys = keys;
            if self.allow_http {
                keys = keys.dangerous_allow_http();
            }
            if let Some(t) = self.fetch_timeout {
                keys = keys.timeout(t);
            }
            if let Some(w) = self.stale_window {
                keys = keys.stale_window(w);
            }
            if let Some(c) = self.refetch_cooldown {
                keys = keys.refetch_cooldown(c);
            }
            keys
        };
        let mut issuer = match (self.keys, self.introspection) {
            (Some(keys), introspection) => match keys {
                KeyChoice::Secret(secret) => Issuer::permiso(self.iss, secret),
                KeyChoice::JwksUrl(url) => Issuer::remote(self.iss, remote(RemoteKeys::jwks_url(url))),
                KeyChoice::Discovery(url) => Issuer::remote(self.iss, remote(RemoteKeys::discovery(url))),
            }
            .maybe_introspection(introspection),
            (None, Some(introspection)) => Issuer::by_introspection_style(self.iss, introspection),
            (None, None) => unreachable!("a key source or introspection was required before"),
        };
        if let Some(algs) = self.algorithms {
            issuer = issuer.algorithms(algs);
        }
        if let Some(rule) = self.service_token {
            issuer = issuer.service_tokens(rule);
        }
        if self.require_at_jwt {
            issuer = issuer.require_at_jwt();
        }
        if self.allow_short_secret {
            issuer = issuer.dangerous_allow_short_secret();
        }
        issuer = match self.trust_is_trusted {
            Some(true) => issuer.trust_is_trusted_claim(),
            Some(false) => issuer.ignore_is_trusted_claim(),
            None => issuer,
        };
        issuer.trusted_clients(self.trusted_clients)
    }
}

/// `any`, `permiso`, `client_credentials`, `CLAIM=VALUE` (a claim equals a string) or
/// `CLAIM==OTHER` (two claims are equal).
fn parse_service_rule(s: &str) -> Option<ServiceTokenRule> {
    let s = s.trim();
    match s {
        "any" => return Some(ServiceTokenRule::any()),
        "permiso" => return Some(ServiceTokenRule::permiso()),
        "client_credentials" => return Some(ServiceTokenRule::client_credentials()),
        _ => {}
    }
    if let Some((a, b)) = s.split_once("==") {
        let (a, b) = (a.trim(), b.trim());
        return (!a.is_empty() && !b.is_empty()).then(|| ServiceTokenRule::claims_match(a, b));
    }
    let (claim, value) = s.split_once('=')?;
    let (claim, value) = (claim.trim(), value.trim());
    (!claim.is_empty() && !value.is_empty()).then(|| ServiceTokenRule::claim_equals(claim, value))
}

fn parse_algorithms(what: &str, list: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    let algs = list
        .iter()
        .map(|a| {
            Algorithm::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(a))
                .map_err(|e| invalid(format!("{what}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_algorithms(what, algs)
}

fn check_algorithms(what: &str, algs: Vec<Algorithm>) -> Result<Vec<Algorithm>, ConfigError> {
    if algs.is_empty() {
        return Err(invalid(format!("{what}: at least one algorithm is required")));
    }
    Ok(algs)
}

/// `scope_rules` / `PERMISO_SCOPE_RULES`.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ScopeRulesName {
    /// `admin:X` grants `read:X` and `write:X`.
    Permiso,
    /// Exact matches only.
    None,
}

impl ScopeRulesName {
    fn rules(self) -> ScopeRules {
        match self {
            Self::Permiso => ScopeRules::permiso(),
            Self::None => ScopeRules::none(),
        }
    }
}

fn parse_scope_rules(what: &str, value: &str) -> Result<ScopeRules, ConfigError> {
    ScopeRulesName::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(
        value.trim(),
    ))
    .map(ScopeRulesName::rules)
    .map_err(|_| invalid(format!("{what}: expected \"permiso\" or \"none\", got {:?}", value.trim())))
}

/// An environment variable's name as operators write them: `[A-Za-z_][A-Za-z0-9_]*`, short.
fn looks_like_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn comma_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

use crate::vars::parse_bool;

fn parse_u64(name: &str, value: &str, max: u64, unit: &str) -> Result<u64, ConfigError> {
    value.trim().parse::<u64>().ok().filter(|v| *v <= max).ok_or_else(|| {
        invalid(format!("{name}: expected a whole number of {unit} from 0 to {max}, got {value:?}"))
    })
}

/// The verifier the variables configure (see [`Verifier::from_env`]), its builder's errors
/// naming the variable or the file's key.
pub(crate) fn verifier_from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Verifier, ConfigError> {
    builder_from_vars(get)?.build().map_err(crate::vars::naming(get))
}

/// Reads the single-issuer configuration from variables (see [`Verifier::from_env`]).
pub(crate) fn builder_from_vars(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<VerifierBuilder, ConfigError> {
    if let Some(path) = get("PERMISO_CONFIG").filter(|p| !p.trim().is_empty()) {
        return builder_from_file(Path::new(path.trim()), get);
    }
    let get = &crate::vars::by_rule(get)?;
    let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let iss = var("PERMISO_ISSUER")
        .ok_or_else(|| missing("PERMISO_ISSUER is required (the exact iss of accepted tokens)".into()))?;
    let audiences = var("PERMISO_AUDIENCE")
        .map(|v| comma_list(&v))
        .filter(|l| !l.is_empty())
        .ok_or_else(|| missing("PERMISO_AUDIENCE is required (comma-separated audiences)".into()))?;
    let sources = [
        ("PERMISO_HS256_SECRET", var("PERMISO_HS256_SECRET").map(KeyChoice::Secret)),
        ("PERMISO_JWKS_URL", var("PERMISO_JWKS_URL").map(KeyChoice::JwksUrl)),
        ("PERMISO_DISCOVERY_URL", var("PERMISO_DISCOVERY_URL").map(KeyChoice::Discovery)),
    ];
    let set: Vec<&str> = sources.iter().filter(|(_, v)| v.is_some()).map(|(n, _)| *n).collect();
    if set.len() > 1 {
        return Err(ConfigError::new(
            ConfigErrorKind::Conflict,
            format!("only one key source may be set, but {} are", set.join(" and ")),
        ));
    }
    let introspection = crate::introspection::settings::from_lookup(get)?;
    let keys = sources.into_iter().find_map(|(_, v)| v);
    if keys.is_none() && introspection.is_none() {
        return Err(missing(
            "one key source is required: PERMISO_HS256_SECRET, PERMISO_JWKS_URL or PERMISO_DISCOVERY_URL \
             (or PERMISO_INTROSPECTION_URL to judge tokens by introspection)"
                .into(),
        ));
    }
    let algorithms = var("PERMISO_ALGORITHMS")
        .map(|v| parse_algorithms("PERMISO_ALGORITHMS", &comma_list(&v)))
        .transpose()?;
    let service_token = var("PERMISO_SERVICE_TOKEN")
        .map(|v| {
            parse_service_rule(&v).ok_or_else(|| {
                invalid(format!(
                    "PERMISO_SERVICE_TOKEN: expected any, permiso, client_credentials, CLAIM=VALUE or CLAIM==CLAIM, got {v:?}"
                ))
            })
        })
        .transpose()?;
    // The remote keys' timings, as the TOML issuer's `*_secs` keys, each bounded here.
    let secs_var = |name: &str, max: Duration| -> Result<Option<Duration>, ConfigError> {
        var(name).map(|v| parse_u64(name, &v, max.as_secs(), "seconds").map(Duration::from_secs)).transpose()
    };
    let spec = IssuerSpec {
        iss,
        keys,
        introspection,
        algorithms,
        service_token,
        require_at_jwt: var("PERMISO_REQUIRE_AT_JWT")
            .map(|v| parse_bool("PERMISO_REQUIRE_AT_JWT", &v))
            .transpose()?
            .unwrap_or(false),
        allow_http: var("PERMISO_ALLOW_HTTP")
            .map(|v| parse_bool("PERMISO_ALLOW_HTTP", &v))
            .transpose()?
            .unwrap_or(false),
        fetch_timeout: secs_var("PERMISO_FETCH_TIMEOUT_SECS", MAX_TIMEOUT)?,
        stale_window: secs_var("PERMISO_STALE_WINDOW_SECS", MAX_KEY_LIFETIME)?,
        refetch_cooldown: secs_var("PERMISO_REFETCH_COOLDOWN_SECS", MAX_COOLDOWN)?,
        allow_short_secret: var("PERMISO_ALLOW_SHORT_SECRET")
            .map(|v| parse_bool("PERMISO_ALLOW_SHORT_SECRET", &v))
            .transpose()?
            .unwrap_or(false),
        trusted_clients: Vec::new(),
        trust_is_trusted: var("PERMISO_TRUST_IS_TRUSTED_CLAIM")
            .map(|v| parse_bool("PERMISO_TRUST_IS_TRUSTED_CLAIM", &v))
            .transpose()?,
    };
    let mut builder = Verifier::builder(audiences).issuer(spec.into_issuer());
    if let Some(v) = var("PERMISO_LEEWAY_SECS") {
        builder = builder.leeway(Duration::from_secs(parse_u64("PERMISO_LEEWAY_SECS", &v, 600, "seconds")?));
    }
    if let Some(v) = var("PERMISO_MAX_TOKEN_BYTES") {
        let n = parse_u64("PERMISO_MAX_TOKEN_BYTES", &v, 1024 * 1024, "bytes")?;
        builder = builder.max_token_bytes(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(v) = var("PERMISO_TRUSTED_CLIENTS") {
        builder = builder.trusted_clients(comma_list(&v));
    }
    if let Some(v) = var("PERMISO_SCOPE_RULES") {
        builder = builder.scope_rules(parse_scope_rules("PERMISO_SCOPE_RULES", &v)?);
    }
    let ms = |name: &str| var(name).map(|v| parse_u64(name, &v, u64::MAX, "milliseconds")).transpose();
    let settings = RevocationSettings {
        redis_url: var("PERMISO_REVOCATION_REDIS_URL").map(Secret),
        key_prefix: get("PERMISO_REVOCATION_KEY_PREFIX"),
        max_staleness_ms: ms("PERMISO_REVOCATION_MAX_STALENESS_MS")?,
        timeout_ms: ms("PERMISO_REVOCATION_TIMEOUT_MS")?,
        on_error: var("PERMISO_REVOCATION_ON_ERROR")
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "reject" => Ok(OnRevocationError::Reject),
                "allow" => Ok(OnRevocationError::Allow),
                other => Err(invalid(format!(
                    "PERMISO_REVOCATION_ON_ERROR: expected reject or allow, got {other:?}"
                ))),
            })
            .transpose()?,
    };
    if let Some(revocation) = settings.into_revocation(&ENV_NAMES)? {
        builder = builder.revocation(revocation);
    }
    let dpop = DpopSettings {
        mode: var("PERMISO_DPOP")
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "allowed" => Ok(DpopMode::Allowed),
                "required" => Ok(DpopMode::Required),
                "off" => Ok(DpopMode::Off),
                other => {
                    Err(invalid(format!("PERMISO_DPOP: expected allowed, required or off, got {other:?}")))
                }
            })
            .transpose()?,
        algorithms: var("PERMISO_DPOP_ALGORITHMS").map(|v| comma_list(&v)),
        max_age_secs: var("PERMISO_DPOP_MAX_AGE_SECS")
            .map(|v| parse_u64("PERMISO_DPOP_MAX_AGE_SECS", &v, 600, "seconds"))
            .transpose()?,
        public_base_url: var("PERMISO_DPOP_PUBLIC_BASE_URL")
            .or_else(|| var("PERMISO_PUBLIC_BASE_URL"))
            .map(|v| OneOrMany::Many(comma_list(&v))),
        replay_redis_url: var("PERMISO_DPOP_REPLAY_REDIS_URL").map(Secret),
        replay_on_error: var("PERMISO_DPOP_REPLAY_ON_ERROR")
            .map(|v| {
                OnStoreError::parse(&v.trim().to_ascii_lowercase()).ok_or_else(|| {
                    invalid(format!("PERMISO_DPOP_REPLAY_ON_ERROR: expected reject or allow, got {v:?}"))
                })
            })
            .transpose()?,
        ..DpopSettings::nonce_from_vars(&var)?
    };
    Ok(builder.dpop(dpop.into_dpop(&DPOP_ENV_NAMES)?))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RuleSpec {
    Text(String),
    Table(RuleTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    claim: String,
    equals: Option<String>,
    equals_claim: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    audience: OneOrMany,
    leeway_secs: Option<u64>,
    max_token_bytes: Option<usize>,
    scope_rules: Option<ScopeRulesName>,
    trusted_clients: Option<Vec<String>>,
    #[serde(rename = "issuer", default)]
    issuers: Vec<FileIssuer>,
    revocation: Option<RevocationSettings>,
    dpop: Option<DpopSettings>,
    /// The request-signature stage's table, handed to it as it is.
    signing: Option<toml::Value>,
    /// The rate-limit stage's table (feature `rate-limit`), handed to it as it is.
    rate_limits: Option<toml::Value>,
    /// Certificate-bound tokens' certificates (RFC 8705; read by `permiso::mtls`).
    client_cert: Option<toml::Value>,
    /// The introspecting issuer's endpoint (feature `introspection`).
    introspection: Option<toml::Value>,
    /// Where the layer looks for the token besides `Authorization`.
    token_locations: Option<OneOrMany>,
    /// The service's public base URL: RFC 9728's `resource`.
    public_base_url: Option<String>,
    /// Serve RFC 9728 metadata.
    resource_metadata: Option<bool>,
    resource_metadata_scopes: Option<Vec<String>>,
}

/// The tables of the stages behind the token, as the one reading of the file found them.
#[derive(Default)]
pub(crate) struct StageTables {
    pub(crate) signing: Option<toml::Value>,
    pub(crate) rate_limits: Option<toml::Value>,
    pub(crate) client_cert: Option<toml::Value>,
    /// `token_locations`, as `header:NAME` entries.
    pub(crate) token_locations: Option<Vec<String>>,
    /// `resource_metadata`, `public_base_url` and `resource_metadata_scopes`.
    pub(crate) resource_metadata: (bool, Option<String>, Option<Vec<String>>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIssuer {
    iss: String,
    algorithms: Option<Vec<Algorithm>>,
    secret: Option<Secret>,
    secret_env: Option<String>,
    jwks_url: Option<String>,
    discovery_url: Option<String>,
    service_token: Option<RuleSpec>,
    require_at_jwt: Option<bool>,
    allow_http: Option<bool>,
    fetch_timeout_secs: Option<u64>,
    stale_window_secs: Option<u64>,
    refetch_cooldown_secs: Option<u64>,
    allow_short_secret: Option<bool>,
    trusted_clients: Option<Vec<String>>,
    trust_is_trusted_claim: Option<bool>,
}

fn builder_from_file(
    path: &Path,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<VerifierBuilder, ConfigError> {
    let text = crate::vars::read_config_file(&path.display().to_string())?;
    builder_from_toml(&text, &path.display().to_string(), get)
}

/// Parses the TOML configuration. `origin` names the file in messages.
pub(crate) fn builder_from_toml(
    text: &str,
    origin: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<VerifierBuilder, ConfigError> {
    config_from_toml(text, origin, get).map(|(builder, _)| builder)
}

/// Parses the whole TOML configuration once: the verifier's part, checked, and the tables of
/// the stages behind it, for them to check.
pub(crate) fn config_from_toml(
    text: &str,
    origin: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(VerifierBuilder, StageTables), ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let line_no = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let line = line_no.and_then(|l| text.lines().nth(l - 1)).unwrap_or("");
        // The key on the offending line, to name it even when toml's message does not.
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        let at = match (line_no, key) {
            (Some(l), Some(k)) => format!(" line {l} ({k}):"),
            (Some(l), None) => format!(" line {l}:"),
            _ => String::new(),
        };
        // Secrets are read as `Secret`, whose errors never quote the value.
        invalid(format!("config file {origin}:{at} {}", e.message()))
    })?;
    let audiences = file.audience.into_vec();
    if file.issuers.is_empty() {
        return Err(missing(format!("config file {origin}: at least one [[issuer]] is required")));
    }
    let mut introspection = crate::introspection::settings::from_table(file.introspection, origin)?;
    // `[introspection]` belongs to the one issuer without a key source, else to the only one.
    let keyless = |fi: &FileIssuer| {
        fi.secret.is_none() && fi.secret_env.is_none() && fi.jwks_url.is_none() && fi.discovery_url.is_none()
    };
    let introspected = match file.issuers.iter().filter(|fi| keyless(fi)).count() {
        0 if file.issuers.len() == 1 => Some(0),
        0 => None,
        1 => file.issuers.iter().position(keyless),
        _ => None,
    };
    if introspection.is_some() && introspected.is_none() {
        return Err(ConfigError::new(
            ConfigErrorKind::Conflict,
            format!(
                "config file {origin}: [introspection] belongs to one issuer: the only [[issuer]], or the one \
                 [[issuer]] without a key source"
            ),
        ));
    }
    let mut builder = Verifier::builder(audiences);
    for (i, fi) in file.issuers.into_iter().enumerate() {
        let own_introspection = if introspected == Some(i) { introspection.take() } else { None };
        let what = format!("config file {origin}: issuer[{i}]");
        let mut sources = Vec::new();
        if let Some(Secret(s)) = fi.secret {
            sources.push(("secret", KeyChoice::Secret(s)));
        }
        if let Some(name) = fi.secret_env {
            let value = get(&name).filter(|v| !v.is_empty()).ok_or_else(|| {
                // A secret typed here by mistake must not be echoed: name it only when it
                // looks like a variable name.
                if looks_like_var_name(&name) {
                    missing(format!("{what}: secret_env names {name}, which is not set"))
                } else {
                    invalid(format!(
                        "{what}: secret_env must name an environment variable (letters, digits and _), \
                         not hold the secret itself"
                    ))
                }
            })?;
            sources.push(("secret_env", KeyChoice::Secret(value)));
        }
        if let Some(u) = fi.jwks_url {
            sources.push(("jwks_url", KeyChoice::JwksUrl(u)));
        }
        if let Some(u) = fi.discovery_url {
            sources.push(("discovery_url", KeyChoice::Discovery(u)));
        }
        if sources.len() > 1 {
            let names: Vec<_> = sources.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError::new(
                ConfigErrorKind::Conflict,
                format!("{what}: only one key source may be set, but {} are", names.join(" and ")),
            ));
        }
        let keys = sources.pop().map(|(_, k)| k);
        if keys.is_none() && own_introspection.is_none() {
            return Err(missing(format!(
                "{what}: one key source is required: secret, secret_env, jwks_url or discovery_url \
                 (or an [introspection] table to judge its tokens by introspection)"
            )));
        }
        let service_token = match fi.service_token {
            None => None,
            Some(RuleSpec::Text(t)) => Some(parse_service_rule(&t).ok_or_else(|| {
                invalid(format!(
                    "{what}: service_token: expected any, permiso, client_credentials, CLAIM=VALUE or CLAIM==CLAIM, got {t:?}"
                ))
            })?),
            Some(RuleSpec::Table(t)) => Some(match (t.equals, t.equals_claim) {
                (Some(v), None) => ServiceTokenRule::claim_equals(t.claim, v),
                (None, Some(other)) => ServiceTokenRule::claims_match(t.claim, other),
                _ => {
                    return Err(invalid(format!(
                        "{what}: service_token needs exactly one of equals or equals_claim"
                    )));
                }
            }),
        };
        let algorithms =
            fi.algorithms.map(|a| check_algorithms(&format!("{what}: algorithms"), a)).transpose()?;
        // Each duration is bounded here, naming its key, before it reaches any arithmetic.
        let secs = |key: &str, v: Option<u64>, max: Duration| -> Result<Option<Duration>, ConfigError> {
            match v {
                Some(v) if v > max.as_secs() => {
                    Err(invalid(format!("{what}: {key} must be at most {} seconds, got {v}", max.as_secs())))
                }
                v => Ok(v.map(Duration::from_secs)),
            }
        };
        builder = builder.issuer(
            IssuerSpec {
                iss: fi.iss,
                keys,
                introspection: own_introspection,
                algorithms,
                service_token,
                require_at_jwt: fi.require_at_jwt.unwrap_or(false),
                allow_http: fi.allow_http.unwrap_or(false),
                fetch_timeout: secs("fetch_timeout_secs", fi.fetch_timeout_secs, MAX_TIMEOUT)?,
                stale_window: secs("stale_window_secs", fi.stale_window_secs, MAX_KEY_LIFETIME)?,
                refetch_cooldown: secs("refetch_cooldown_secs", fi.refetch_cooldown_secs, MAX_COOLDOWN)?,
                allow_short_secret: fi.allow_short_secret.unwrap_or(false),
                trusted_clients: fi.trusted_clients.unwrap_or_default(),
                trust_is_trusted: fi.trust_is_trusted_claim,
            }
            .into_issuer(),
        );
    }
    if let Some(l) = file.leeway_secs {
        builder = builder.leeway(Duration::from_secs(l));
    }
    if let Some(m) = file.max_token_bytes {
        builder = builder.max_token_bytes(m);
    }
    if let Some(r) = file.scope_rules {
        builder = builder.scope_rules(r.rules());
    }
    if let Some(t) = file.trusted_clients {
        builder = builder.trusted_clients(t);
    }
    if let Some(revocation) = file.revocation.unwrap_or_default().into_revocation(&TOML_NAMES)? {
        builder = builder.revocation(revocation);
    }
    let builder = builder.dpop(file.dpop.unwrap_or_default().into_dpop(&DPOP_TOML_NAMES)?);
    let token_locations = file.token_locations.map(OneOrMany::into_vec);
    let resource_metadata =
        (file.resource_metadata.unwrap_or(false), file.public_base_url, file.resource_metadata_scopes);
    let tables = StageTables {
        signing: file.signing,
        rate_limits: file.rate_limits,
        client_cert: file.client_cert,
        token_locations,
        resource_metadata,
    };
    Ok((builder, tables))
}

impl Verifier {
    /// Builds a verifier from the process environment.
    ///
    /// `PERMISO_CONFIG=path` reads that TOML file (see [`Verifier::from_file`]). Otherwise one
    /// issuer from: `PERMISO_ISSUER` and `PERMISO_AUDIENCE` (comma-separated), required; one
    /// of `PERMISO_HS256_SECRET`, `PERMISO_JWKS_URL`, `PERMISO_DISCOVERY_URL`; and optionally
    /// `PERMISO_ALGORITHMS` (comma-separated), `PERMISO_LEEWAY_SECS`,
    /// `PERMISO_TRUSTED_CLIENTS` (comma-separated), `PERMISO_SERVICE_TOKEN` (`any`,
    /// `permiso`, `CLAIM=VALUE` or `CLAIM==CLAIM`), `PERMISO_REQUIRE_AT_JWT`,
    /// `PERMISO_ALLOW_HTTP` (plain-HTTP key URLs beyond loopback; development only),
    /// `PERMISO_MAX_TOKEN_BYTES`, `PERMISO_SCOPE_RULES` (`permiso` or `none`),
    /// `PERMISO_ALLOW_SHORT_SECRET` (accept an HMAC secret under 32 bytes; unsafe),
    /// `PERMISO_TRUST_IS_TRUSTED_CLAIM` (`true`/`false`: whether the token's `is_trusted`
    /// claim makes a trusted client; default `true` for a permiso secret, `false` otherwise),
    /// `PERMISO_FETCH_TIMEOUT_SECS`, `PERMISO_STALE_WINDOW_SECS`,
    /// `PERMISO_REFETCH_COOLDOWN_SECS` (remote keys' timings); and
    /// revocation (feature `redis`): `PERMISO_REVOCATION_REDIS_URL` (turns it on),
    /// `PERMISO_REVOCATION_KEY_PREFIX`, `PERMISO_REVOCATION_MAX_STALENESS_MS`,
    /// `PERMISO_REVOCATION_TIMEOUT_MS`, `PERMISO_REVOCATION_ON_ERROR` (`reject`|`allow`);
    /// DPoP: `PERMISO_DPOP` (`off`, the default, `allowed` or `required`),
    /// `PERMISO_DPOP_ALGORITHMS` (comma-separated, asymmetric), `PERMISO_DPOP_MAX_AGE_SECS`,
    /// `PERMISO_PUBLIC_BASE_URL` (shared with request signing),
    /// `PERMISO_DPOP_REPLAY_REDIS_URL` (feature `redis`).
    ///
    /// # Errors
    ///
    /// A missing or bad variable, named in the message.
    pub fn from_env() -> Result<Verifier, ConfigError> {
        verifier_from_lookup(&|name| std::env::var(name).ok())
    }

    /// [`Verifier::from_env`] over the given variables instead of the process environment.
    ///
    /// # Errors
    ///
    /// As [`Verifier::from_env`].
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Verifier, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        verifier_from_lookup(&crate::vars::lookup(vars))
    }

    /// Builds a verifier from a TOML file (the format is in the README). `secret_env` keys
    /// read the process environment.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not valid TOML, has an unknown key, or a bad value; the
    /// message names the key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Verifier, ConfigError> {
        let origin = path.as_ref().display().to_string();
        builder_from_file(path.as_ref(), &|name| std::env::var(name).ok())?
            .build()
            .map_err(|e| e.in_file(&origin))
    }

    /// Builds a verifier from TOML text.
    ///
    /// ```
    /// let verifier = permiso::Verifier::from_toml_str(r#"
    ///     audience = ["keystone-auth"]
    ///     [[issuer]]
    ///     iss = "keystone-auth"
    ///     secret = "a-shared-secret-of-at-least-32-bytes!!"
    /// "#).unwrap();
    /// # let _ = verifier;
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Verifier::from_file`].
    pub fn from_toml_str(toml: &str) -> Result<Verifier, ConfigError> {
        builder_from_toml(toml, "<string>", &|name| std::env::var(name).ok())?
            .build()
            .map_err(|e| e.in_file("<string>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Verifier, ConfigError> {
        Verifier::from_env_vars(vars.iter().copied())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minimal_env_configuration() {
        let v = env(&[
            ("PERMISO_ISSUER", "keystone-auth"),
            ("PERMISO_AUDIENCE", "keystone-auth, billing"),
            ("PERMISO_HS256_SECRET", SECRET),
        ])
        .unwrap();
        let text = format!("{v:?}");
        assert!(text.contains("billing") && !text.contains(SECRET), "{text}");
    }

    #[test]
    fn every_bad_env_value_names_its_variable() {
        let base = [
            ("PERMISO_ISSUER", "keystone-auth"),
            ("PERMISO_AUDIENCE", "keystone-auth"),
            ("PERMISO_HS256_SECRET", SECRET),
        ];
        let cases: &[(&str, &str, &str)] = &[
            ("PERMISO_LEEWAY_SECS", "soon", "PERMISO_LEEWAY_SECS"),
            ("PERMISO_LEEWAY_SECS", "601", "PERMISO_LEEWAY_SECS"),
            ("PERMISO_ALGORITHMS", "HS256,none", "PERMISO_ALGORITHMS"),
            ("PERMISO_ALGORITHMS", "RS256", "RS256"),
            ("PERMISO_SERVICE_TOKEN", "whatever", "PERMISO_SERVICE_TOKEN"),
            ("PERMISO_REQUIRE_AT_JWT", "maybe", "PERMISO_REQUIRE_AT_JWT"),
            ("PERMISO_ALLOW_HTTP", "2", "PERMISO_ALLOW_HTTP"),
            ("PERMISO_JWKS_URL", "https://a/jwks", "PERMISO_HS256_SECRET and PERMISO_JWKS_URL"),
            ("PERMISO_MAX_TOKEN_BYTES", "-1", "PERMISO_MAX_TOKEN_BYTES"),
            ("PERMISO_SCOPE_RULES", "all", "PERMISO_SCOPE_RULES"),
        ];
        for (name, value, expect) in cases {
            let mut vars = base.to_vec();
            vars.push((name, value));
            let err = env(&vars).unwrap_err();
            assert!(err.to_string().contains(expect), "{name}={value}: {err}");
            assert!(!err.to_string().contains(SECRET));
        }
        for (drop, expect) in [
            ("PERMISO_ISSUER", "PERMISO_ISSUER"),
            ("PERMISO_AUDIENCE", "PERMISO_AUDIENCE"),
            ("PERMISO_HS256_SECRET", "PERMISO_HS256_SECRET"),
        ] {
            let vars: Vec<_> = base.iter().copied().filter(|(n, _)| *n != drop).collect();
            let err = env(&vars).unwrap_err();
            assert_eq!(err.kind(), ConfigErrorKind::Missing);
            assert!(err.to_string().contains(expect), "{err}");
        }
    }

    #[test]
    fn short_secrets_need_the_explicit_opt_in() {
        let vars = [
            ("PERMISO_ISSUER", "keystone-auth"),
            ("PERMISO_AUDIENCE", "keystone-auth"),
            ("PERMISO_HS256_SECRET", "short-secret"),
        ];
        let err = env(&vars).unwrap_err();
        assert!(err.to_string().contains("32 bytes") && !err.to_string().contains("short-secret"), "{err}");
        // A user configuring by environment is told the variable, not only the TOML key.
        assert!(err.to_string().contains("PERMISO_ALLOW_SHORT_SECRET=true"), "{err}");
        let mut allowed = vars.to_vec();
        allowed.push(("PERMISO_ALLOW_SHORT_SECRET", "true"));
        env(&allowed).unwrap();
        let toml = "audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = \"short\"\n";
        assert!(Verifier::from_toml_str(toml).is_err());
        Verifier::from_toml_str(&format!("{toml}allow_short_secret = true\n")).unwrap();
    }

    #[test]
    fn a_secret_typed_into_secret_env_is_not_echoed() {
        let get = |_: &str| None;
        for (value, shown) in [("Sup3r-s3cret value!", false), ("MY_SECRET_VAR", true)] {
            let text = format!("audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret_env = \"{value}\"");
            let err = builder_from_toml(&text, "t.toml", &get).map(|_| ()).unwrap_err();
            assert_eq!(err.to_string().contains(value), shown, "{err}");
            assert!(err.to_string().contains("secret_env"), "{err}");
        }
    }

    #[test]
    fn huge_durations_are_errors_not_panics() {
        let get = |_: &str| None;
        for (key, value) in [
            ("refetch_cooldown_secs", "100000000000"),
            ("stale_window_secs", "18446744073709551615"),
            ("fetch_timeout_secs", "100000"),
        ] {
            let text = format!(
                "audience = \"a\"\n[[issuer]]\niss = \"https://a.example\"\njwks_url = \"https://a.example/jwks\"\n{key} = {value}"
            );
            let err = builder_from_toml(&text, "t.toml", &get).map(|_| ()).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        // In code, the same bounds hold at build().
        for keys in [
            RemoteKeys::jwks_url("https://a.example/jwks")
                .refetch_cooldown(Duration::from_secs(100_000_000_000)),
            RemoteKeys::jwks_url("https://a.example/jwks").stale_window(Duration::MAX),
            RemoteKeys::jwks_url("https://a.example/jwks").ttl_bounds(Duration::from_secs(1), Duration::MAX),
            RemoteKeys::jwks_url("https://a.example/jwks").failure_backoff(Duration::MAX),
        ] {
            let err = Verifier::builder(["a"])
                .issuer(Issuer::remote("https://a.example", keys))
                .build()
                .unwrap_err();
            assert!(err.to_string().contains("at most"), "{err}");
        }
    }

    #[test]
    fn trust_is_configured_per_issuer_in_toml() {
        let get = |_: &str| None;
        let two = "audience = \"a\"\ntrusted_clients = [\"billing\"]\n\
                   [[issuer]]\niss = \"a\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n\
                   [[issuer]]\niss = \"b\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n";
        let err = builder_from_toml(two, "t.toml", &get).unwrap().build().unwrap_err();
        assert!(err.to_string().contains("trusted_clients"), "{err}");
        let per_issuer = "audience = \"a\"\n\
                   [[issuer]]\niss = \"a\"\nsecret = \"0123456789abcdef0123456789abcdef\"\ntrusted_clients = [\"billing\"]\ntrust_is_trusted_claim = false\n\
                   [[issuer]]\niss = \"b\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n";
        let text = format!("{:?}", builder_from_toml(per_issuer, "t.toml", &get).unwrap().build().unwrap());
        assert!(text.contains("honour_is_trusted: false"), "{text}");
    }

    #[test]
    fn service_token_rule_syntax() {
        assert_eq!(parse_service_rule("any"), Some(ServiceTokenRule::any()));
        assert_eq!(parse_service_rule("permiso"), Some(ServiceTokenRule::permiso()));
        assert_eq!(
            parse_service_rule("gty=client-credentials"),
            Some(ServiceTokenRule::claim_equals("gty", "client-credentials"))
        );
        assert_eq!(
            parse_service_rule(" sub == client_id "),
            Some(ServiceTokenRule::claims_match("sub", "client_id"))
        );
        for bad in ["", "=x", "x=", "==", "a==", "nonsense"] {
            assert_eq!(parse_service_rule(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_readme_toml_example_builds() {
        let get = |name: &str| (name == "PERMISO_HS256_SECRET").then(|| SECRET.to_owned());
        let text = include_str!("../../README.md");
        let start = text.find("```toml\n").expect("README has a TOML example") + 8;
        let end = start + text[start..].find("```").unwrap();
        builder_from_toml(&text[start..end], "README.md", &get).unwrap().build().unwrap();
    }

    #[test]
    fn toml_errors_name_the_key_and_never_the_secret() {
        let get = |_: &str| None;
        let cases = [
            ("audience = 5\n[[issuer]]\niss = \"a\"\nsecret = \"x\"", "audience"),
            ("audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecrett = \"x\"", "secrett"),
            ("audience = \"a\"\n[[issuer]]\niss = \"a\"", "key source"),
            ("audience = \"a\"", "[[issuer]]"),
            ("audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret_env = \"NOPE\"", "NOPE"),
            (
                "audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = \"x\"\njwks_url = \"https://a/j\"",
                "only one",
            ),
            ("audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = \"x\"\nalgorithms = [\"HS999\"]", "HS999"),
            (
                "audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = \"x\"\nservice_token = { claim = \"sub\" }",
                "equals",
            ),
            (
                "audience = \"a\"\nscope_rules = \"all\"\n[[issuer]]\niss = \"a\"\nsecret = \"x\"",
                "scope_rules",
            ),
        ];
        for (text, expect) in cases {
            let err = builder_from_toml(text, "t.toml", &get).map(|_| ()).unwrap_err();
            assert!(err.to_string().contains(expect), "{text}: {err}");
        }
        let err = builder_from_toml(
            "audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = 1234567890987654321",
            "t.toml",
            &get,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(!err.to_string().contains("1234567890987654321"), "{err}");
        assert!(err.to_string().contains("line 4"), "{err}");
        for value in ["[\"Sup3r-s3cret\"]", "{ v = \"Sup3r-s3cret\" }", "true"] {
            let text = format!("audience = \"a\"\n[[issuer]]\niss = \"a\"\nsecret = {value}");
            let err = builder_from_toml(&text, "t.toml", &get).map(|_| ()).unwrap_err();
            assert!(
                !err.to_string().contains("Sup3r") && err.to_string().contains("must be a string"),
                "{err}"
            );
        }
    }
}
