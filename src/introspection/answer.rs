//! An active answer made into the [`Claims`] the extractors read.

use serde_json::{Map, Value};

use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};

/// The claims of an active answer about `token`, for the issuer `iss`.
///
/// - `iss`: the answer's must be `iss` when it has one; otherwise it is `iss`.
/// - `exp`: RFC 7662 makes it optional; without one the answer stands for `now + cache_max`.
/// - A token of JWT shape keeps its own payload's claims where the answer is silent (the
///   permiso server's answer has no `aud`, `jti`, `type` or `is_trusted`): the endpoint said
///   this exact token is active, so it vouches for what its issuer put in it. The answer's
///   `scope`, when it has one, replaces the payload's `scope`, `scopes` and `scp`.
pub(super) fn claims_of(
    mut answer: Map<String, Value>,
    token: &str,
    iss: &str,
    now: i64,
    cache_max_secs: i64,
) -> Result<Claims, AuthError> {
    match answer.get("iss") {
        None => {
            answer.insert("iss".into(), Value::String(iss.to_owned()));
        }
        Some(Value::String(said)) if said == iss => {}
        Some(_) => {
            return Err(AuthError::new(AuthErrorKind::UnknownIssuer)
                .with_description("the introspection answer names another issuer"));
        }
    }
    if let Some(payload) = jwt_payload(token) {
        let answer_scoped = answer.contains_key("scope");
        for (name, value) in payload {
            let replaced = answer_scoped && matches!(name.as_str(), "scope" | "scopes" | "scp");
            if !replaced && !answer.contains_key(&name) {
                answer.insert(name, value);
            }
        }
    }
    if !answer.contains_key("exp") {
        answer.insert("exp".into(), Value::from(now.saturating_add(cache_max_secs)));
    }
    let bytes = serde_json::to_vec(&Value::Object(answer))
        .map_err(|_| AuthError::new(AuthErrorKind::InvalidClaim))?;
    Claims::parse(&bytes)
}

/// The payload object of a token of compact JWS shape, if it is one.
fn jwt_payload(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    match serde_json::from_slice(&crate::token::b64url(payload.as_bytes())?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn an_opaque_tokens_answer_is_its_claims() {
        let answer =
            map(json!({"client_id": "svc", "scope": "a b", "exp": 2_000_000_000, "aud": "payments"}));
        let claims = claims_of(answer, "opaque-token", "https://idp", 1_000, 60).unwrap();
        assert_eq!(claims.issuer(), "https://idp");
        assert_eq!(claims.client_id(), Some("svc"));
        assert_eq!(claims.audience(), ["payments"]);
        assert!(claims.scopes().contains("a") && claims.scopes().contains("b"));
        assert_eq!(claims.expires_at(), 2_000_000_000);
    }

    #[test]
    fn without_exp_the_answer_stands_for_the_cache_lifetime() {
        let claims = claims_of(map(json!({"client_id": "svc"})), "t", "i", 1_000, 60).unwrap();
        assert_eq!(claims.expires_at(), 1_060);
    }

    #[test]
    fn another_issuer_in_the_answer_is_refused() {
        let err = claims_of(map(json!({"iss": "other"})), "t", "i", 0, 60).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::UnknownIssuer);
        let err = claims_of(map(json!({"iss": 7})), "t", "i", 0, 60).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::UnknownIssuer);
    }

    #[test]
    fn a_jwts_payload_fills_what_the_answer_leaves_out_and_the_answers_scope_wins() {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = json!({"iss": "keystone-auth", "aud": ["keystone-auth"], "jti": "j1",
            "type": "service", "scopes": ["a", "b", "admin"], "is_trusted": true, "exp": 5});
        let token = format!("{}.{}.sig", b64(json!({"alg": "HS256"})), b64(payload));
        let answer = map(json!({"sub": "svc", "client_id": "svc", "scope": "a b", "exp": 9_999_999_999i64,
            "token_type": "service_token"}));
        let claims = claims_of(answer, &token, "keystone-auth", 0, 60).unwrap();
        assert_eq!(claims.jwt_id(), Some("j1"));
        assert_eq!(claims.audience(), ["keystone-auth"]);
        assert_eq!(claims.expires_at(), 9_999_999_999);
        assert!(claims.scopes().contains("a") && !claims.scopes().contains("admin"));
        assert_eq!(claims.token_type(), Some("service"));
    }
}
