//! What a verified token says, normalized once.
//!
//! permiso's tokens carry `scopes` (a JSON list) and `is_trusted`; RFC 9068 tokens carry
//! `scope` (space-separated); Azure-style tokens carry `scp`. [`Claims`] gives one
//! [`ScopeSet`] whatever the spelling, typed registered claims, and every other claim by
//! name through [`Claims::get`].

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{AuthError, AuthErrorKind};
use crate::heap::{heap_block, heap_str, heap_vec};
use crate::scope::{ScopeRules, ScopeSet};
use crate::token::{DupCheck, MemberName, parse_object};

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z. Anything later is treated as
/// garbage, not as "never expires".
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// The claims of a verified token.
///
/// Handlers get them from the request extensions as `Arc<Claims>` (the extractors do that for
/// you). Only the verifier makes them, from a token that passed every check.
///
/// ```
/// use permiso::{Issuer, Verifier};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let secret = "a-shared-secret-of-at-least-32-bytes!!";
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", secret))
///     .build()
///     .unwrap();
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::default(),
///     &serde_json::json!({"iss": "keystone-auth", "aud": ["keystone-auth"],
///         "sub": "payment-service", "exp": 4102444800u64, "type": "service",
///         "client_id": "payment-service", "scopes": ["read:transactions"],
///         "is_trusted": true, "tenant": "acme"}),
///     &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
/// )
/// .unwrap();
///
/// let claims = verifier.verify(&token).await.unwrap();
/// assert_eq!(claims.issuer(), "keystone-auth");
/// assert_eq!(claims.client_id(), Some("payment-service"));
/// assert!(claims.scopes().contains("read:transactions"));
/// assert!(claims.is_trusted());
/// assert_eq!(claims.get::<String>("tenant").as_deref(), Some("acme"));
/// # });
/// ```
#[derive(Clone)]
pub struct Claims {
    iss: String,
    sub: Option<String>,
    aud: Vec<String>,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    client_id: Option<String>,
    token_type: Option<String>,
    scopes: ScopeSet,
    trusted_claim: bool,
    trusted: bool,
    service: bool,
    other: Map<String, Value>,
}

impl Claims {
    /// `iss`: the issuer, exactly as configured on the verifier.
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// `sub`: the subject (for permiso service tokens, the client id).
    pub fn subject(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// `aud`: the audiences, a list even when the token had a single string.
    pub fn audience(&self) -> &[String] {
        &self.aud
    }

    /// `exp`, seconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.exp
    }

    /// `nbf`, seconds since the epoch.
    pub fn not_before(&self) -> Option<i64> {
        self.nbf
    }

    /// `iat`, seconds since the epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.iat
    }

    /// `jti`: the token's unique id.
    pub fn jwt_id(&self) -> Option<&str> {
        self.jti.as_deref()
    }

    /// The calling client: the `client_id` claim (permiso, RFC 9068), or `azp` when there is
    /// no `client_id` (Auth0, Keycloak).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref().or_else(|| self.other.get("azp").and_then(Value::as_str))
    }

    /// The `type` claim as sent (permiso: `"service"`).
    pub fn token_type(&self) -> Option<&str> {
        self.token_type.as_deref()
    }

    /// Every scope granted, from `scopes`, `scope` and `scp` together, with the verifier's
    /// implication rules attached.
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// Whether the client is trusted, as its issuer decides: a service token whose
    /// `client_id` is on that issuer's trusted list, or whose `is_trusted` is the JSON value
    /// `true` (a string `"true"` or `1` is not) where the issuer honours that claim (by
    /// default only [`Issuer::permiso`](crate::Issuer::permiso)). `azp` never grants trust,
    /// and a token that is not a service token is never trusted.
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// Whether this is a service token under its issuer's rule.
    pub fn is_service_token(&self) -> bool {
        self.service
    }

    /// Whether the token says it is a refresh token: `type`, `token_type` or `token_use` is
    /// `"refresh"` or `"refresh_token"` (permiso's refresh tokens say `"type": "refresh"`).
    /// Such a token is never accepted as an access token.
    pub fn is_refresh_token(&self) -> bool {
        let refresh = |v: Option<&str>| {
            v.is_some_and(|v| v.eq_ignore_ascii_case("refresh") || v.eq_ignore_ascii_case("refresh_token"))
        };
        refresh(self.token_type.as_deref())
            || refresh(self.other.get("token_type").and_then(Value::as_str))
            || refresh(self.other.get("token_use").and_then(Value::as_str))
    }

    /// Any claim not covered by an accessor above (for example `azp`, `gty`, `tenant`),
    /// deserialized as `T`. `None` when absent or not a `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.other.get(name).and_then(|v| T::deserialize(v).ok())
    }

    /// A claim's value as a string, whichever claim it is; used by service-token rules.
    pub(crate) fn str_claim(&self, name: &str) -> Option<&str> {
        match name {
            "iss" => Some(&self.iss),
            "sub" => self.sub.as_deref(),
            "jti" => self.jti.as_deref(),
            "client_id" => self.client_id.as_deref(),
            "type" => self.token_type.as_deref(),
            _ => self.other.get(name).and_then(Value::as_str),
        }
    }

    /// What this value holds on the heap, in bytes, allocator overhead included: every
    /// string's buffer and every JSON node of the other claims (not the struct itself). An estimate from the
    /// shapes' real sizes (not from the JSON text, which a list of small values undercounts
    /// several times over); the verified-token cache bounds its bytes with it.
    pub(crate) fn heap_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, |s| heap_str(s.capacity()));
        heap_str(self.iss.capacity())
            + opt(&self.sub)
            + opt(&self.jti)
            + opt(&self.client_id)
            + opt(&self.token_type)
            + heap_vec::<String>(self.aud.capacity())
            + self.aud.iter().map(|a| heap_str(a.capacity())).sum::<usize>()
            + self.scopes.memory_bytes()
            + map_bytes(&self.other)
    }

    /// The thumbprint of the key this token is bound to (`cnf.jkt`, RFC 9449), if it is a
    /// DPoP-bound token. Behind `AuthLayer`, a request whose claims have one came with a valid
    /// proof of possession of that key.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.other.get("cnf")?.get("jkt")?.as_str()
    }

    /// The SHA-256 thumbprint of the client certificate this token is bound to
    /// (`cnf.x5t#S256`, RFC 8705 §3.1), if it is certificate-bound. Behind `AuthLayer`, a
    /// request whose claims have one came with that certificate.
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.other.get("cnf")?.get("x5t#S256")?.as_str()
    }

    /// The token carries a confirmation (`cnf`, RFC 7800): it is bound to something.
    pub(crate) fn has_confirmation(&self) -> bool {
        self.other.contains_key("cnf")
    }

    /// `cnf` names a confirmation method permiso cannot check (only `jkt` and `x5t#S256`
    /// can be), or is not an object.
    pub(crate) fn has_unknown_confirmation(&self) -> bool {
        match self.other.get("cnf") {
            None => false,
            Some(serde_json::Value::Object(cnf)) => {
                cnf.is_empty() || cnf.keys().any(|k| k != "jkt" && k != "x5t#S256")
            }
            Some(_) => true,
        }
    }

    pub(crate) fn trusted_claim(&self) -> bool {
        self.trusted_claim
    }

    /// Completes verified claims with what their issuer decided: the scope implication rules,
    /// whether this is a service token, whether its client is trusted. Called once, by the
    /// verifier's `finish_claims`.
    pub(crate) fn finish(&mut self, rules: Option<&Arc<ScopeRules>>, service: bool, trusted: bool) {
        self.scopes.set_rules(rules);
        self.service = service;
        self.trusted = trusted;
    }

    /// Parses a payload. Type errors name the claim; nothing of the value is echoed.
    pub(crate) fn parse(payload: &[u8]) -> Result<Claims, AuthError> {
        let mut problem = None;
        let (claims, seen) = parse_object(payload, ClaimsSeed { problem: &mut problem })
            .map_err(|()| problem.take().unwrap_or_else(|| malformed("the payload is not a JSON object")))?;
        if !seen.iss {
            return Err(invalid("the iss claim is missing"));
        }
        if !seen.exp {
            return Err(invalid("the exp claim is missing"));
        }
        Ok(claims)
    }
}

impl fmt::Debug for Claims {
    /// Everything but the free-form claims, which may hold personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes)
            .field("trusted", &self.trusted)
            .field("service", &self.service)
            .field("other_claims", &self.other.len())
            .finish_non_exhaustive()
    }
}

/// A JSON value's heap: strings, arrays and objects below it (the value itself is counted by
/// whoever holds it).
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => heap_str(s.capacity()),
        Value::Array(items) => {
            heap_vec::<Value>(items.capacity()) + items.iter().map(value_bytes).sum::<usize>()
        }
        Value::Object(map) => map_bytes(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// A JSON object's heap. serde_json's map is a B-tree: about one node block per entry's
/// key and value slots, plus a node header per eleven entries.
fn map_bytes(map: &Map<String, Value>) -> usize {
    let slot = std::mem::size_of::<String>() + std::mem::size_of::<Value>();
    let nodes = map.len().div_ceil(11);
    nodes * heap_block(11 * slot + 64)
        + map.iter().map(|(k, v)| heap_str(k.capacity()) + value_bytes(v)).sum::<usize>()
}

fn malformed(why: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::MalformedToken).with_description(why)
}

fn invalid(why: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidClaim).with_description(why)
}

/// Which required claims the payload had.
#[derive(Default)]
struct Seen {
    iss: bool,
    exp: bool,
}

impl Claims {
    /// Nothing granted, nothing trusted: the parser's starting point.
    fn empty() -> Self {
        Claims {
            iss: String::new(),
            sub: None,
            aud: Vec::new(),
            exp: 0,
            nbf: None,
            iat: None,
            jti: None,
            client_id: None,
            token_type: None,
            scopes: ScopeSet::new(),
            trusted_claim: false,
            trusted: false,
            service: false,
            other: Map::new(),
        }
    }
}

struct ClaimsSeed<'p> {
    problem: &'p mut Option<AuthError>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = (Claims, Seen);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(Claims, Seen), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = (Claims, Seen);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(Claims, Seen), A::Error> {
        let mut raw = Claims::empty();
        let mut required = Seen::default();
        let mut seen = DupCheck::default();
        let problem = self.problem;
        let mut fail = |why: &'static str| -> A::Error {
            *problem = Some(invalid(why));
            de::Error::custom("claims rejected")
        };
        while let Some(MemberName(name)) = map.next_key::<MemberName<'de>>()? {
            if !seen.insert(name.clone()) {
                *problem = Some(malformed("the payload has a duplicate claim"));
                return Err(de::Error::custom("duplicate claim"));
            }
            match &*name {
                "iss" => {
                    raw.iss = map.next_value().map_err(|_| fail("the iss claim must be a string"))?;
                    required.iss = true;
                }
                "sub" => {
                    raw.sub = Some(map.next_value().map_err(|_| fail("the sub claim must be a string"))?);
                }
                "jti" => {
                    raw.jti = Some(map.next_value().map_err(|_| fail("the jti claim must be a string"))?);
                }
                "client_id" => {
                    raw.client_id =
                        Some(map.next_value().map_err(|_| fail("the client_id claim must be a string"))?);
                }
                "type" => {
                    raw.token_type =
                        Some(map.next_value().map_err(|_| fail("the type claim must be a string"))?);
                }
                "aud" => {
                    raw.aud = map
                        .next_value::<Audience>()
                        .map_err(|_| fail("the aud claim must be a string or a list of strings"))?
                        .0;
                }
                "exp" => {
                    raw.exp = map
                        .next_value::<NumericDate>()
                        .map_err(|_| fail("the exp claim must be a NumericDate"))?
                        .floor();
                    required.exp = true;
                }
                "nbf" => {
                    raw.nbf = Some(
                        map.next_value::<NumericDate>()
                            .map_err(|_| fail("the nbf claim must be a NumericDate"))?
                            .ceil(),
                    );
                }
                "iat" => {
                    raw.iat = Some(
                        map.next_value::<NumericDate>()
                            .map_err(|_| fail("the iat claim must be a NumericDate"))?
                            .ceil(),
                    );
                }
                "scopes" | "scope" | "scp" => {
                    let list = map
                        .next_value::<StrOrList>()
                        .map_err(|_| fail("the scope claims must be strings or lists of strings"))?;
                    for s in &list.0 {
                        raw.scopes.push(s);
                    }
                }
                "is_trusted" => {
                    raw.trusted_claim = matches!(map.next_value::<Value>()?, Value::Bool(true));
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    raw.other.insert(name.into_owned(), value);
                }
            }
        }
        raw.scopes.finish();
        Ok((raw, required))
    }
}

/// A JSON number within [0, year 9999]. RFC 7519 allows fractions.
struct NumericDate(f64);

impl NumericDate {
    /// Rounded towards earlier: used for `exp`, so a fraction never extends a token's life.
    fn floor(&self) -> i64 {
        self.0.floor() as i64
    }

    /// Rounded towards later: used for `nbf` and `iat`.
    fn ceil(&self) -> i64 {
        self.0.ceil() as i64
    }
}

impl<'de> de::Deserialize<'de> for NumericDate {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                if v.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&v) {
                    Ok(NumericDate(v))
                } else {
                    Err(E::custom("out of range"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `aud` (RFC 7519 §4.1.3): a list of strings, or one string that is one value as a whole,
/// spaces and all. Never split: `"attacker-api keystone-auth"` names one audience.
struct Audience(Vec<String>);

impl<'de> de::Deserialize<'de> for Audience {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Audience, A::Error> {
                string_list(seq).map(Audience)
            }
        }
        d.deserialize_any(V)
    }
}

fn string_list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<String>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
    while let Some(s) = seq.next_element::<String>()? {
        out.push(s);
    }
    Ok(out)
}

/// A scope claim: a string (space-separated, RFC 6749 §3.3) or a list of strings.
struct StrOrList(Vec<String>);

impl<'de> de::Deserialize<'de> for StrOrList {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrList, E> {
                Ok(StrOrList(v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<StrOrList, A::Error> {
                string_list(seq).map(StrOrList)
            }
        }
        d.deserialize_any(V)
    }
}

impl crate::error::AuthError {
    /// Notes the issuer and client of verified `claims`, and whether they are DPoP-bound
    /// (logs and metrics only).
    pub(crate) fn about_verified(self, claims: &Claims) -> Self {
        let err = self.about_issuer(&Arc::from(claims.issuer())).about_client(claims.client_id());
        if claims.dpop_jkt().is_some() { err.about_dpop() } else { err }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Claims, AuthError> {
        Claims::parse(json.as_bytes())
    }

    const BASE: &str = r#""iss":"i","exp":2000000000"#;

    #[test]
    fn permiso_shape() {
        let c = parse(
            r#"{"iss":"keystone-auth","aud":["keystone-auth"],"sub":"payment-service","exp":1700003600,
            "iat":1700000000,"nbf":1700000000,"jti":"0c9b","type":"service","client_id":"payment-service",
            "scopes":["write:transactions","read:transactions"],"is_trusted":true}"#,
        )
        .unwrap();
        assert_eq!(c.issuer(), "keystone-auth");
        assert_eq!(c.audience(), ["keystone-auth"]);
        assert_eq!(c.expires_at(), 1_700_003_600);
        assert_eq!(c.issued_at(), Some(1_700_000_000));
        assert_eq!(c.jwt_id(), Some("0c9b"));
        assert_eq!(c.token_type(), Some("service"));
        assert!(c.trusted_claim());
        assert_eq!(c.scopes().to_string(), "read:transactions write:transactions");
    }

    #[test]
    fn scope_spelled_three_ways() {
        let list = parse(&format!(r#"{{{BASE},"scopes":["b","a"]}}"#)).unwrap();
        let string = parse(&format!(r#"{{{BASE},"scope":"a b"}}"#)).unwrap();
        let scp_list = parse(&format!(r#"{{{BASE},"scp":["a","b"]}}"#)).unwrap();
        let scp_string = parse(&format!(r#"{{{BASE},"scp":"b a"}}"#)).unwrap();
        for c in [&list, &string, &scp_list, &scp_string] {
            assert_eq!(c.scopes().to_string(), "a b");
        }
        let union = parse(&format!(r#"{{{BASE},"scope":"a","scopes":["b"],"scp":"c"}}"#)).unwrap();
        assert_eq!(union.scopes().to_string(), "a b c");
        assert!(parse(&format!(r#"{{{BASE},"scopes":["a",1]}}"#)).is_err());
        assert!(parse(&format!(r#"{{{BASE},"scope":{{}}}}"#)).is_err());
    }

    #[test]
    fn is_trusted_only_for_json_true() {
        for (v, want) in [
            ("true", true),
            ("\"true\"", false),
            ("1", false),
            ("false", false),
            ("null", false),
            ("[true]", false),
            ("{\"a\":true}", false),
        ] {
            let c = parse(&format!(r#"{{{BASE},"is_trusted":{v}}}"#)).unwrap();
            assert_eq!(c.trusted_claim(), want, "{v}");
        }
        assert!(!parse(&format!("{{{BASE}}}")).unwrap().trusted_claim());
    }

    #[test]
    fn exp_must_be_a_numeric_date() {
        for exp in [
            "\"2000000000\"",
            "null",
            "true",
            "-1",
            "1e300",
            "99999999999999999999999",
            "253402300800",
            "[1]",
        ] {
            let e = parse(&format!(r#"{{"iss":"i","exp":{exp}}}"#)).unwrap_err();
            assert_eq!(e.kind(), AuthErrorKind::InvalidClaim, "{exp}");
            assert!(e.description().contains("exp"), "{exp}: {e}");
        }
        let e = parse(r#"{"iss":"i"}"#).unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::InvalidClaim);
        assert!(e.description().contains("exp"));
        // RFC 7519 allows fractions: exp rounds down, nbf/iat round up.
        let c = parse(r#"{"iss":"i","exp":2000000000.9,"nbf":1000.1,"iat":1000.1}"#).unwrap();
        assert_eq!(c.expires_at(), 2_000_000_000);
        assert_eq!(c.not_before(), Some(1001));
        assert_eq!(c.issued_at(), Some(1001));
    }

    #[test]
    fn nbf_and_iat_must_be_numeric_when_present() {
        for claim in ["nbf", "iat"] {
            for v in ["\"1\"", "null", "false", "-5"] {
                let e = parse(&format!(r#"{{{BASE},"{claim}":{v}}}"#)).unwrap_err();
                assert_eq!(e.kind(), AuthErrorKind::InvalidClaim);
                assert!(e.description().contains(claim));
            }
        }
    }

    #[test]
    fn aud_string_or_list() {
        assert_eq!(parse(&format!(r#"{{{BASE},"aud":"a"}}"#)).unwrap().audience(), ["a"]);
        assert_eq!(parse(&format!(r#"{{{BASE},"aud":["a","b"]}}"#)).unwrap().audience(), ["a", "b"]);
        for v in ["1", "[1]", "null", "{}"] {
            assert_eq!(
                parse(&format!(r#"{{{BASE},"aud":{v}}}"#)).unwrap_err().kind(),
                AuthErrorKind::InvalidClaim
            );
        }
    }

    #[test]
    fn iss_required_and_string() {
        assert_eq!(parse(r#"{"exp":1}"#).unwrap_err().kind(), AuthErrorKind::InvalidClaim);
        assert_eq!(parse(r#"{"iss":1,"exp":1}"#).unwrap_err().kind(), AuthErrorKind::InvalidClaim);
    }

    #[test]
    fn duplicate_claims_are_refused() {
        for json in [
            r#"{"iss":"i","exp":1,"exp":2}"#,
            r#"{"iss":"i","exp":1,"scopes":["a"],"scopes":["admin:a"]}"#,
            r#"{"iss":"i","exp":1,"is_trusted":false,"is_trusted":true}"#,
            r#"{"iss":"i","exp":1,"x":1,"\u0078":2}"#,
        ] {
            assert_eq!(parse(json).unwrap_err().kind(), AuthErrorKind::MalformedToken, "{json}");
        }
    }

    #[test]
    fn payload_must_be_one_json_object() {
        for json in ["[]", "1", "\"x\"", "", "{\"iss\":\"i\",\"exp\":1} {}", "{\"iss\":\"i\",\"exp\":1"] {
            assert_eq!(parse(json).unwrap_err().kind(), AuthErrorKind::MalformedToken, "{json}");
        }
        let deep = format!("{{{BASE},\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse(&deep).unwrap_err().kind(), AuthErrorKind::MalformedToken);
    }

    #[test]
    fn other_claims_are_kept() {
        let c = parse(&format!(r#"{{{BASE},"gty":"client-credentials","n":5,"azp":"cli"}}"#)).unwrap();
        assert_eq!(c.get::<String>("gty").as_deref(), Some("client-credentials"));
        assert_eq!(c.get::<u32>("n"), Some(5));
        assert_eq!(c.get::<u32>("gty"), None);
        assert_eq!(c.client_id(), Some("cli"));
        assert_eq!(c.str_claim("gty"), Some("client-credentials"));
    }
}
