//! The checks of one token that do not need its key: time, audience, `typ`, RFC 9068 claims;
//! and the one place that completes verified claims with what their issuer decided.

use std::sync::Arc;

use super::issuer::{IssuerRules, TokenTyp};
use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};
use crate::scope::ScopeRules;

/// `exp`, `nbf` and `iat` against `now`, each with `leeway` seconds of skew.
pub(crate) fn check_times(claims: &Claims, now: i64, leeway: i64) -> Result<(), AuthError> {
    if claims.expires_at().saturating_add(leeway) <= now {
        return Err(AuthError::new(AuthErrorKind::Expired));
    }
    if claims.not_before().is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(AuthError::new(AuthErrorKind::NotYetValid));
    }
    if claims.issued_at().is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(
            AuthError::new(AuthErrorKind::NotYetValid).with_description("the token was issued in the future")
        );
    }
    Ok(())
}

/// Whatever an entry point admits: an access token (not a refresh token), bound, if at all,
/// in a way checked per request (DPoP's `cnf.jkt`, RFC 8705's `x5t#S256`; other RFC 7800
/// confirmation methods cannot be proven here, so such tokens are never accepted).
pub(crate) fn check_access_token(claims: &Claims) -> Result<(), AuthError> {
    if claims.is_refresh_token() {
        return Err(AuthError::new(AuthErrorKind::NotServiceToken)
            .with_description("a refresh token is not an access token"));
    }
    if claims.has_unknown_confirmation() {
        return Err(AuthError::new(AuthErrorKind::SenderConstrained));
    }
    Ok(())
}

/// `aud` names at least one of `audiences`.
pub(crate) fn check_audience(claims: &Claims, audiences: &[String]) -> Result<(), AuthError> {
    if claims.audience().is_empty() {
        return Err(
            AuthError::new(AuthErrorKind::InvalidAudience).with_description("the token has no aud claim")
        );
    }
    if claims.audience().iter().any(|a| audiences.iter().any(|want| want == a)) {
        Ok(())
    } else {
        Err(AuthError::new(AuthErrorKind::InvalidAudience))
    }
}

/// `typ` (RFC 8725 §3.11): absent or a plain JWT / access-token type, or, for RFC 9068
/// issuers, `at+jwt` only. Media types compare case-insensitively (RFC 7515 §4.1.9).
pub(crate) fn check_typ(typ: Option<&str>, want: TokenTyp) -> Result<(), AuthError> {
    let is = |t: &str| typ.is_some_and(|typ| typ.eq_ignore_ascii_case(t));
    let at_jwt = is("at+jwt") || is("application/at+jwt");
    match want {
        TokenTyp::AtJwt if at_jwt => Ok(()),
        TokenTyp::AtJwt => Err(AuthError::new(AuthErrorKind::InvalidTokenType)
            .with_description("the token's typ must be at+jwt")),
        TokenTyp::AnyAccessToken if typ.is_none() || at_jwt || is("JWT") || is("application/jwt") => Ok(()),
        TokenTyp::AnyAccessToken => Err(AuthError::new(AuthErrorKind::InvalidTokenType)),
    }
}

/// RFC 9068 §2.2: `sub`, `client_id`, `iat` and `jti` are required.
pub(crate) fn check_at_jwt_claims(claims: &Claims) -> Result<(), AuthError> {
    let missing =
        |what: &'static str| Err(AuthError::new(AuthErrorKind::InvalidClaim).with_description(what));
    if claims.subject().is_none() {
        return missing("the sub claim is required");
    }
    if claims.str_claim("client_id").is_none() {
        return missing("the client_id claim is required");
    }
    if claims.issued_at().is_none() {
        return missing("the iat claim is required");
    }
    if claims.jwt_id().is_none() {
        return missing("the jti claim is required");
    }
    Ok(())
}

/// Completes verified claims: the scope rules, whether this is a service token under its
/// issuer's rule, and trust. Trust belongs to the issuer: its own list (by `client_id`,
/// never `azp`) or its honoured `is_trusted`, and only ever for a service token.
pub(crate) fn finish_claims(
    claims: &mut Claims,
    issuer: &IssuerRules,
    scope_rules: Option<&Arc<ScopeRules>>,
) {
    let service = issuer.service_rule.matches(claims);
    let listed = claims.str_claim("client_id").is_some_and(|id| issuer.trusted_clients.contains(id));
    let trusted = service && (listed || (issuer.honour_is_trusted && claims.trusted_claim()));
    claims.finish(scope_rules, service, trusted);
}
