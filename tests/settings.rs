//! Every environment variable and TOML key the README documents for the receiving side,
//! walked through `AuthLayer::from_env_vars` / `AuthLayer::from_file`, the one entry that
//! builds the whole pipeline: each documented name must be read (a bad value is an error
//! naming it, or a good one changes what is built), and each name walked here must be
//! documented. So the README's tables and the readers cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use permiso::AuthLayer;

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!!";

/// The README's sections, by `## ` heading.
fn sections() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in readme.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            out.push((title.to_owned(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// The receiving side's sections: the verifier's configuration and the stages'.
fn receiving_side() -> String {
    let wanted = [
        "Configuration",
        "Resource metadata",
        "Introspection",
        "Request signing",
        "DPoP",
        "Certificate-bound",
        "Rate limits",
    ];
    sections()
        .into_iter()
        .filter(|(title, _)| wanted.iter().any(|w| title.starts_with(w)))
        .map(|(_, text)| text)
        .collect()
}

/// The `PERMISO_*` variables named in the first column of those sections' tables.
fn documented_variables() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in receiving_side().lines().filter(|l| l.starts_with("| `PERMISO_")) {
        let first = line.split('|').nth(1).unwrap();
        for part in first.split('`').filter(|p| p.starts_with("PERMISO_")) {
            names.insert(part.to_owned());
        }
    }
    names
}

/// `(table, key)` for every key of the README's TOML example (commented ones included), with
/// the example's value: `""` is the top level, `"issuer"` an `[[issuer]]`.
fn documented_keys() -> BTreeMap<(String, String), String> {
    let text = receiving_side();
    let start = text.find("```toml\n").expect("the TOML example") + "```toml\n".len();
    let block = &text[start..start + text[start..].find("```").unwrap()];
    let mut table = String::new();
    let mut keys = BTreeMap::new();
    for line in block.lines() {
        let line = line.trim_start_matches('#').trim();
        let code = line.split(" #").next().unwrap().trim();
        if code.starts_with('[') {
            let name = code.trim_matches(|c| c == '[' || c == ']');
            if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                table = name.to_owned();
            }
            continue;
        }
        let Some((key, value)) = code.split_once('=') else { continue };
        let key = key.trim();
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            keys.entry((table.clone(), key.to_owned())).or_insert_with(|| value.trim().to_owned());
        }
    }
    keys
}

/// How a variable is shown to be read.
enum Probe {
    /// With these other variables, this value is refused, and the error names the variable
    /// (or says the given text).
    Refused(&'static str, &'static [(&'static str, &'static str)], Option<&'static str>),
    /// Without this variable (it is in the base set), the layer cannot be built, and the
    /// error names it.
    Required,
    /// With these other variables, this value builds a layer other than without it.
    Changes(&'static str, &'static [(&'static str, &'static str)]),
}

const REDIS: &str = "redis://127.0.0.1:1";

fn variable_probes() -> BTreeMap<&'static str, Probe> {
    use Probe::*;
    let signing: &[(&str, &str)] = &[
        ("PERMISO_SIGNATURES", "required"),
        ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
        ("PERMISO_SIGNING_SECRETS", "payment-service=PAYMENT_SIGNING_SECRET"),
        ("PAYMENT_SIGNING_SECRET", "payment-service-secret"),
    ];
    let dpop: &[(&str, &str)] =
        &[("PERMISO_DPOP", "allowed"), ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com")];
    let revocation: &[(&str, &str)] = &[("PERMISO_REVOCATION_REDIS_URL", REDIS)];
    let nonces: &[(&str, &str)] = &[
        ("PERMISO_DPOP", "allowed"),
        ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
        ("PERMISO_DPOP_NONCE", "required"),
        ("PERMISO_DPOP_NONCE_SECRET", "a-nonce-secret-every-replica-shares!!"),
    ];
    let limits: &[(&str, &str)] = &[("PERMISO_RATE_LIMIT_DEFAULT", "60")];
    let intro: &[(&str, &str)] = &[
        ("PERMISO_INTROSPECTION_URL", "https://auth.example.com/api/v1/auth/introspect"),
        ("PERMISO_INTROSPECTION_CLIENT_ID", "payments-api"),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET", "payments-api-secret"),
    ];
    let intro_permiso: &[(&str, &str)] = &[
        ("PERMISO_INTROSPECTION_URL", "https://auth.example.com/api/v1/auth/introspect"),
        ("PERMISO_INTROSPECTION_STYLE", "permiso"),
        ("PERMISO_INTROSPECTION_CLIENT_ID", "payments-api"),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET", "payments-api-secret"),
    ];
    let cert_header: &[(&str, &str)] = &[
        ("PERMISO_CLIENT_CERT_HEADER", "x-client-cert"),
        ("PERMISO_CLIENT_CERT_FORMAT", "pem-urlencoded"),
        ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", "10.0.0.0/8"),
    ];
    let limits_redis: &[(&str, &str)] =
        &[("PERMISO_RATE_LIMIT_DEFAULT", "60"), ("PERMISO_RATE_LIMIT_REDIS_URL", REDIS)];
    BTreeMap::from([
        ("PERMISO_ISSUER", Required),
        ("PERMISO_AUDIENCE", Required),
        ("PERMISO_HS256_SECRET", Required),
        (
            "PERMISO_JWKS_URL",
            Refused("https://auth.example.com/jwks", &[], Some("PERMISO_HS256_SECRET and PERMISO_JWKS_URL")),
        ),
        (
            "PERMISO_DISCOVERY_URL",
            Refused("https://auth.example.com", &[], Some("PERMISO_HS256_SECRET and PERMISO_DISCOVERY_URL")),
        ),
        ("PERMISO_ALGORITHMS", Refused("HS999", &[], None)),
        ("PERMISO_LEEWAY_SECS", Refused("601", &[], None)),
        ("PERMISO_TRUSTED_CLIENTS", Changes("billing-service", &[])),
        ("PERMISO_ALLOW_SHORT_SECRET", Refused("maybe", &[], None)),
        ("PERMISO_SERVICE_TOKEN", Refused("==", &[], None)),
        ("PERMISO_REQUIRE_AT_JWT", Refused("maybe", &[], None)),
        ("PERMISO_ALLOW_HTTP", Refused("maybe", &[], None)),
        ("PERMISO_MAX_TOKEN_BYTES", Refused("lots", &[], None)),
        ("PERMISO_SCOPE_RULES", Refused("some", &[], None)),
        ("PERMISO_TRUST_IS_TRUSTED_CLAIM", Refused("maybe", &[], None)),
        ("PERMISO_FETCH_TIMEOUT_SECS", Refused("301", &[], None)),
        ("PERMISO_STALE_WINDOW_SECS", Refused("604801", &[], None)),
        ("PERMISO_REFETCH_COOLDOWN_SECS", Refused("86401", &[], None)),
        ("PERMISO_REVOCATION_REDIS_URL", Refused("ftp://nowhere", &[], None)),
        ("PERMISO_REVOCATION_KEY_PREFIX", Refused("", revocation, None)),
        ("PERMISO_REVOCATION_MAX_STALENESS_MS", Refused("3600001", revocation, None)),
        ("PERMISO_REVOCATION_TIMEOUT_MS", Refused("0", revocation, None)),
        ("PERMISO_REVOCATION_ON_ERROR", Refused("shrug", revocation, None)),
        ("PERMISO_CONFIG", Refused("/nonexistent/permiso.toml", &[], Some("/nonexistent/permiso.toml"))),
        ("PERMISO_SIGNATURES", Refused("sometimes", &[], None)),
        ("PERMISO_SIGNING_SECRETS", Refused("payment-service", signing, None)),
        ("PERMISO_PUBLIC_BASE_URL", Refused("payments.example.com", signing, None)),
        ("PERMISO_SIGNING_WINDOW_SECS", Refused("3601", signing, None)),
        ("PERMISO_SIGNING_MAX_BODY_BYTES", Refused("lots", signing, None)),
        ("PERMISO_SIGNING_REPLAY_REDIS_URL", Refused("ftp://nowhere", signing, None)),
        ("PERMISO_SIGNING_REPLAY_ON_ERROR", Refused("shrug", signing, None)),
        ("PERMISO_SIGNING_MIN_VERSION", Refused("3", signing, None)),
        ("PERMISO_DPOP", Refused("sometimes", &[], None)),
        ("PERMISO_DPOP_ALGORITHMS", Refused("HS256", dpop, None)),
        ("PERMISO_DPOP_MAX_AGE_SECS", Refused("601", dpop, None)),
        ("PERMISO_DPOP_REPLAY_REDIS_URL", Refused("ftp://nowhere", dpop, None)),
        ("PERMISO_DPOP_REPLAY_ON_ERROR", Refused("shrug", dpop, None)),
        ("PERMISO_DPOP_NONCE", Refused("sometimes", dpop, None)),
        ("PERMISO_DPOP_NONCE_SECRET", Refused("short", nonces, None)),
        ("PERMISO_DPOP_NONCE_SECRET_FILE", Refused("/nonexistent/secret", nonces, None)),
        ("PERMISO_DPOP_NONCE_WINDOW_SECS", Refused("3601", dpop, None)),
        ("PERMISO_RATE_LIMITS", Refused("payment-service", &[], None)),
        ("PERMISO_RATE_LIMIT_DEFAULT", Refused("0", &[], None)),
        ("PERMISO_RATE_LIMIT_BURST", Refused("many", limits, None)),
        ("PERMISO_RATE_LIMIT_EXEMPT", Changes("billing-batch", limits)),
        ("PERMISO_RATE_LIMIT_REDIS_URL", Refused("ftp://nowhere", limits, None)),
        ("PERMISO_RATE_LIMIT_KEY_PREFIX", Changes("fleet:limits:", limits_redis)),
        ("PERMISO_RATE_LIMIT_ON_REDIS_ERROR", Refused("shrug", limits, None)),
        ("PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS", Refused("0", limits, None)),
        ("PERMISO_TOKEN_LOCATIONS", Refused("body:access_token", &[], None)),
        ("PERMISO_RESOURCE_METADATA", Refused("maybe", &[], None)),
        (
            "PERMISO_RESOURCE_METADATA_SCOPES",
            Changes(
                "read:transactions",
                &[
                    ("PERMISO_RESOURCE_METADATA", "true"),
                    ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
                ],
            ),
        ),
        ("PERMISO_INTROSPECTION_URL", Refused("ftp://nowhere", intro, None)),
        ("PERMISO_INTROSPECTION_STYLE", Refused("soap", intro, None)),
        ("PERMISO_INTROSPECTION_AUTH", Refused("magic", intro, None)),
        ("PERMISO_INTROSPECTION_CLIENT_ID", Refused("", intro, None)),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET", Refused("", intro, None)),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET_FILE", Refused("/nonexistent/secret", intro, None)),
        ("PERMISO_INTROSPECTION_TOKEN_URL", Refused("not a url", intro_permiso, None)),
        ("PERMISO_INTROSPECTION_CACHE_MAX_SECS", Refused("3601", intro, None)),
        ("PERMISO_INTROSPECTION_NEGATIVE_CACHE_SECS", Refused("301", intro, None)),
        ("PERMISO_INTROSPECTION_GRACE_SECS", Refused("3601", intro, None)),
        ("PERMISO_INTROSPECTION_TIMEOUT_MS", Refused("5", intro, None)),
        ("PERMISO_INTROSPECTION_CACHE_MAX_ENTRIES", Refused("0", intro, None)),
        ("PERMISO_INTROSPECTION_CACHE_MAX_BYTES", Refused("10", intro, None)),
        ("PERMISO_INTROSPECTION_MAX_CONCURRENT_CALLS", Refused("0", intro, None)),
        ("PERMISO_INTROSPECTION_ALLOW_HTTP", Refused("maybe", intro, None)),
        ("PERMISO_CLIENT_CERT_HEADER", Refused("not a header", cert_header, None)),
        ("PERMISO_CLIENT_CERT_FORMAT", Refused("der", cert_header, None)),
        ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", Refused("10.0.0.1/8", cert_header, None)),
        ("PERMISO_CLIENT_CERT_REQUIRED", Refused("maybe", &[], None)),
    ])
}

fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", SECRET),
    ]
}

fn build(vars: &[(&str, &str)]) -> Result<String, String> {
    AuthLayer::from_env_vars(vars.iter().copied())
        .map(|layer| format!("{layer:?}"))
        .map_err(|e| e.to_string())
}

#[test]
fn every_documented_variable_is_read_and_every_read_variable_is_documented() {
    let documented = documented_variables();
    let probes = variable_probes();
    let walked: BTreeSet<String> = probes.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        documented.difference(&walked).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented in README but not walked here"
    );
    assert_eq!(
        walked.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "walked here but not in README's tables"
    );
    build(&base()).expect("the base configuration is valid");
    let mut failures = Vec::new();
    for (name, probe) in &probes {
        let outcome = (|| -> Result<(), String> {
            match probe {
                Probe::Required => {
                    let vars: Vec<_> = base().into_iter().filter(|(n, _)| n != name).collect();
                    match build(&vars) {
                        Err(e) if e.contains(name) => Ok(()),
                        other => Err(format!("without it: {other:?}")),
                    }
                }
                Probe::Refused(value, others, says) => {
                    // The others are valid as they are (with this variable's good value, if
                    // they hold one); then this value replaces it.
                    let mut vars = base();
                    vars.extend_from_slice(others);
                    build(&vars).map_err(|e| format!("the other settings alone were refused: {e}"))?;
                    vars.retain(|(n, _)| n != name);
                    vars.push((name, value));
                    let expected = says.unwrap_or(name);
                    match build(&vars) {
                        Err(e) if e.contains(expected) => Ok(()),
                        other => Err(format!("{value:?} gave {other:?}, not an error saying {expected}")),
                    }
                }
                Probe::Changes(value, others) => {
                    let mut vars = base();
                    vars.extend_from_slice(others);
                    vars.retain(|(n, _)| n != name);
                    let without =
                        build(&vars).map_err(|e| format!("the other settings alone were refused: {e}"))?;
                    vars.push((name, value));
                    match build(&vars) {
                        Ok(with) if with != without => Ok(()),
                        other => Err(format!("{value:?} changed nothing: {other:?}")),
                    }
                }
            }
        })();
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The keys a table needs before another of its keys is read.
fn prerequisites(table: &str) -> &'static [(&'static str, &'static str)] {
    match table {
        "revocation" => &[("redis_url", r#""redis://127.0.0.1:1""#)],
        "dpop" => &[("mode", r#""allowed""#), ("public_base_url", r#""https://payments.example.com""#)],
        "signing" => &[
            ("mode", r#""required""#),
            ("public_base_url", r#""https://payments.example.com""#),
            ("secrets", r#"{ "payment-service" = "PAYMENT_SIGNING_SECRET" }"#),
        ],
        "rate_limits" => &[("default", "60")],
        "client_cert" => &[
            ("header", r#""x-client-cert""#),
            ("format", r#""pem-urlencoded""#),
            ("trusted_proxies", r#"["10.0.0.0/8"]"#),
        ],
        "introspection" => &[
            ("url", r#""https://auth.example.com/api/v1/auth/introspect""#),
            ("client_id", r#""payments-api""#),
            ("client_secret", r#""payments-api-secret""#),
        ],
        _ => &[],
    }
}

/// The file with `key = value` in `table` (with the table's prerequisites; `value` replaces
/// a prerequisite of the same key).
fn file_with(table: &str, key: &str, value: Option<&str>) -> String {
    let mut top = vec![("audience".to_owned(), r#"["keystone-auth"]"#.to_owned())];
    let mut issuer = vec![("iss", r#""keystone-auth""#.to_owned()), ("secret", format!("{SECRET:?}"))];
    let mut other: Vec<(&str, String)> =
        prerequisites(table).iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    if let Some(value) = value {
        let set = |lines: &mut Vec<(&str, String)>, key: &'static str| {
            lines.retain(|(k, _)| *k != key);
            lines.push((key, value.to_owned()));
        };
        let key: &'static str = Box::leak(key.to_owned().into_boxed_str());
        match table {
            "" => {
                top.retain(|(k, _)| k != key);
                top.push((key.to_owned(), value.to_owned()));
                if key == "resource_metadata" {
                    top.push(("public_base_url".into(), r#""https://payments.example.com""#.into()));
                }
            }
            "issuer" => {
                if ["secret_env", "jwks_url", "discovery_url"].contains(&key) {
                    issuer.retain(|(k, _)| *k != "secret");
                }
                set(&mut issuer, key);
            }
            _ => {
                if key == "client_secret_file" {
                    other.retain(|(k, _)| *k != "client_secret");
                }
                if table == "dpop" && key == "nonce" {
                    other.push(("nonce_secret", r#""a-nonce-secret-every-replica-shares!!""#.into()));
                }
                set(&mut other, key)
            }
        }
    }
    let mut text = String::new();
    for (k, v) in &top {
        text.push_str(&format!("{k} = {v}\n"));
    }
    text.push_str("[[issuer]]\n");
    for (k, v) in &issuer {
        text.push_str(&format!("{k} = {v}\n"));
    }
    if !table.is_empty() && table != "issuer" {
        text.push_str(&format!("[{table}]\n"));
        for (k, v) in &other {
            text.push_str(&format!("{k} = {v}\n"));
        }
    }
    text
}

fn build_file(dir: &std::path::Path, text: &str) -> Result<String, String> {
    let path = dir.join("permiso.toml");
    std::fs::write(&path, text).unwrap();
    let vars = [
        ("PERMISO_CONFIG", path.display().to_string()),
        ("PAYMENT_SIGNING_SECRET", "payment-service-secret".to_owned()),
        ("PARTNER_SIGNING_SECRET", "partner-service-secret".to_owned()),
        ("PERMISO_HS256_SECRET", SECRET.to_owned()),
    ];
    AuthLayer::from_env_vars(vars).map(|layer| format!("{layer:?}")).map_err(|e| e.to_string())
}

/// Every key of the README's TOML example is read by `AuthLayer::from_file`: a value of the
/// wrong type is refused, and the error names the key; the tables cover every stage.
#[test]
fn every_documented_toml_key_is_read_and_named_in_its_errors() {
    let keys = documented_keys();
    let tables: BTreeSet<&str> = keys.keys().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tables,
        BTreeSet::from([
            "",
            "issuer",
            "revocation",
            "introspection",
            "dpop",
            "client_cert",
            "signing",
            "rate_limits"
        ])
    );
    assert!(keys.len() >= 45, "{keys:?}");
    let dir = std::env::temp_dir().join(format!("permiso-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for ((table, key), example) in &keys {
        let base = file_with(table, key, None);
        if let Err(e) = build_file(&dir, &base) {
            failures.push(format!("[{table}] {key}: the table's other keys were refused: {e}\n{base}"));
            continue;
        }
        // The README's own value is accepted: the key exists and means what is shown (a file
        // the README names is one written here).
        let secret_file = dir.join("introspection-secret");
        std::fs::write(&secret_file, "payments-api-secret\n").unwrap();
        let example = if key.ends_with("_secret_file") {
            format!("{:?}", secret_file.display().to_string())
        } else {
            example.clone()
        };
        let good = file_with(table, key, Some(&example));
        if let Err(e) = build_file(&dir, &good) {
            failures.push(format!("[{table}] {key}: the README's value {example} was refused: {e}\n{good}"));
        }
        // A type no key takes: every one of them must refuse it, naming itself.
        let bad = file_with(table, key, Some("{ nope = true }"));
        match build_file(&dir, &bad) {
            Err(e) if e.contains(key.as_str()) => {}
            other => failures.push(format!("[{table}] {key}: {other:?}\n{bad}")),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The variable the rule `PERMISO_<TABLE>_<KEY>` gives a TOML key (`PERMISO_<KEY>` for the
/// top level and the `[[issuer]]`).
fn rule_name(table: &str, key: &str) -> String {
    match table {
        "" | "issuer" => format!("PERMISO_{}", key.to_ascii_uppercase()),
        t => format!("PERMISO_{}_{}", t.to_ascii_uppercase(), key.to_ascii_uppercase()),
    }
}

/// Rule names that differ from the documented variable they also set (README, Configuration).
const RULE_ALIASES: &[(&str, &str)] = &[
    ("PERMISO_ISS", "PERMISO_ISSUER"),
    ("PERMISO_SECRET", "PERMISO_HS256_SECRET"),
    ("PERMISO_DPOP_MODE", "PERMISO_DPOP"),
    ("PERMISO_DPOP_PUBLIC_BASE_URL", "PERMISO_PUBLIC_BASE_URL"),
    ("PERMISO_SIGNING_MODE", "PERMISO_SIGNATURES"),
    ("PERMISO_SIGNING_PUBLIC_BASE_URL", "PERMISO_PUBLIC_BASE_URL"),
    ("PERMISO_RATE_LIMITS_CLIENTS", "PERMISO_RATE_LIMITS"),
    ("PERMISO_RATE_LIMITS_DEFAULT", "PERMISO_RATE_LIMIT_DEFAULT"),
    ("PERMISO_RATE_LIMITS_BURST", "PERMISO_RATE_LIMIT_BURST"),
    ("PERMISO_RATE_LIMITS_EXEMPT", "PERMISO_RATE_LIMIT_EXEMPT"),
    ("PERMISO_RATE_LIMITS_REDIS_URL", "PERMISO_RATE_LIMIT_REDIS_URL"),
    ("PERMISO_RATE_LIMITS_KEY_PREFIX", "PERMISO_RATE_LIMIT_KEY_PREFIX"),
    ("PERMISO_RATE_LIMITS_ON_REDIS_ERROR", "PERMISO_RATE_LIMIT_ON_REDIS_ERROR"),
    ("PERMISO_RATE_LIMITS_REDIS_TIMEOUT_MS", "PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS"),
];

/// Keys with no variable: `secret_env` names one already; `issuer_secrets` holds other
/// issuers' clients, and the environment configures one issuer.
const NO_VARIABLE: &[&str] = &["secret_env", "issuer_secrets"];

/// Anything settable in the file is settable in the environment: every documented key's rule
/// name is read, as the documented variable it stands for.
#[test]
fn every_toml_key_has_its_variable_by_one_rule() {
    let documented = documented_variables();
    let probes = variable_probes();
    let mut failures = Vec::new();
    for (table, key) in documented_keys().into_keys() {
        if NO_VARIABLE.contains(&key.as_str()) {
            continue;
        }
        let rule = rule_name(&table, &key);
        if documented.contains(&rule) {
            continue; // walked by every_documented_variable_is_read_and_every_read_variable_is_documented
        }
        let Some((_, canonical)) = RULE_ALIASES.iter().find(|(r, _)| *r == rule) else {
            failures.push(format!("[{table}] {key}: {rule} is neither documented nor an alias"));
            continue;
        };
        let mut vars = base();
        let outcome = match &probes[canonical] {
            Probe::Required => {
                // The rule name alone stands in for the required variable.
                let value = vars.iter().find(|(n, _)| n == canonical).unwrap().1;
                vars.retain(|(n, _)| n != canonical);
                vars.push((rule.as_str(), value));
                build(&vars).map(|_| ()).map_err(|e| format!("{rule} did not stand in for {canonical}: {e}"))
            }
            Probe::Refused(value, others, says) => {
                vars.extend_from_slice(others);
                vars.push((rule.as_str(), value));
                let expected = says.unwrap_or(canonical);
                match build(&vars) {
                    Err(e) if e.contains(expected) || e.contains(&rule) => Ok(()),
                    other => Err(format!("{rule}={value:?} gave {other:?}")),
                }
            }
            Probe::Changes(value, others) => {
                vars.extend_from_slice(others);
                let without = build(&vars).unwrap();
                vars.push((rule.as_str(), value));
                match build(&vars) {
                    Ok(with) if with != without => Ok(()),
                    other => Err(format!("{rule}={value:?} changed nothing: {other:?}")),
                }
            }
        };
        if let Err(why) = outcome {
            failures.push(format!("[{table}] {key}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Both names set to different values: refused, naming both.
    let mut vars = base();
    vars.extend([("PERMISO_DPOP", "allowed"), ("PERMISO_DPOP_MODE", "required")]);
    vars.push(("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"));
    let err = build(&vars).unwrap_err();
    assert!(err.contains("PERMISO_DPOP and PERMISO_DPOP_MODE"), "{err}");
    // The same value twice is no conflict.
    vars.retain(|(n, _)| *n != "PERMISO_DPOP_MODE");
    vars.push(("PERMISO_DPOP_MODE", "allowed"));
    build(&vars).unwrap();
}
