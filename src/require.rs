//! What a route asks of a verified token, decided in one place for the extractors and the
//! tower guard alike. Nothing here verifies: it reads what the layer proved.

use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};

/// Every scope in `required` is satisfied (implication rules applied).
pub(crate) fn all_scopes(claims: &Claims, required: &[&str]) -> Result<(), AuthError> {
    if claims.scopes().satisfies_all(required.iter().copied()) {
        Ok(())
    } else {
        Err(AuthError::insufficient_scope(required.iter().copied()))
    }
}

/// At least one scope in `required` is satisfied.
pub(crate) fn any_scope(claims: &Claims, required: &[&str]) -> Result<(), AuthError> {
    if claims.scopes().satisfies_any(required.iter().copied()) {
        Ok(())
    } else {
        Err(AuthError::insufficient_scope(required.iter().copied())
            .with_description("the token has none of the accepted scopes"))
    }
}

/// A service token naming its client.
pub(crate) fn service(claims: &Claims) -> Result<(), AuthError> {
    if !claims.is_service_token() {
        return Err(AuthError::new(AuthErrorKind::NotServiceToken));
    }
    if claims.client_id().is_none() {
        return Err(AuthError::new(AuthErrorKind::NotServiceToken)
            .with_description("not a service token: it names no client"));
    }
    Ok(())
}

/// A service token of a trusted client.
pub(crate) fn trusted(claims: &Claims) -> Result<(), AuthError> {
    service(claims)?;
    if claims.is_trusted() { Ok(()) } else { Err(AuthError::new(AuthErrorKind::UntrustedClient)) }
}
