//! What a route asks of a verified token, decided in one place for the extractors and the
//! tower guard alike. Nothing here verifies: it reads what the layer proved.

use std::fmt;
use std::sync::Arc;

use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};

/// Scope names: from [`scopes!`](crate::scopes) markers (static) or given at run time.
#[derive(Clone)]
pub(crate) enum ScopeList {
    Static(&'static [&'static str]),
    Owned(Arc<[Box<str>]>),
}

impl ScopeList {
    fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        let (a, b) = match self {
            Self::Static(list) => (list.iter().copied(), [].iter()),
            Self::Owned(list) => ([].iter().copied(), list.iter()),
        };
        a.chain(b.map(|s| &**s))
    }
}

impl fmt::Debug for ScopeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One route's requirement.
#[derive(Clone, Debug)]
pub(crate) enum Requirement {
    /// Every scope (implication rules applied).
    AllScopes(ScopeList),
    /// At least one scope.
    AnyScope(ScopeList),
    /// A service token naming its client.
    ServiceClient,
    /// A service token of a trusted client.
    TrustedClient,
}

impl Requirement {
    /// Whether the request whose extensions these are meets the requirement: the claims
    /// `AuthLayer` left there, or 401 when it let the request through without a token.
    pub(crate) fn check_request(&self, extensions: &http::Extensions) -> Result<(), AuthError> {
        match extensions.get::<crate::context::Authenticated>() {
            Some(auth) => self.check(auth.claims()),
            None => Err(AuthError::new(AuthErrorKind::MissingToken)),
        }
    }

    /// Whether `claims` meet the requirement; the 401/403 saying why not.
    pub(crate) fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        self.decide(claims).map_err(|e| e.about_verified(claims))
    }

    fn decide(&self, claims: &Claims) -> Result<(), AuthError> {
        match self {
            Self::AllScopes(list) => {
                if claims.scopes().satisfies_all(list.iter()) {
                    Ok(())
                } else {
                    Err(AuthError::insufficient_scope(list.iter()))
                }
            }
            Self::AnyScope(list) => {
                if claims.scopes().satisfies_any(list.iter()) {
                    Ok(())
                } else {
                    Err(AuthError::insufficient_scope(list.iter())
                        .with_description("the token has none of the accepted scopes"))
                }
            }
            Self::ServiceClient => service(claims),
            Self::TrustedClient => {
                service(claims)?;
                if claims.is_trusted() { Ok(()) } else { Err(AuthError::new(AuthErrorKind::UntrustedClient)) }
            }
        }
    }
}

fn service(claims: &Claims) -> Result<(), AuthError> {
    if !claims.is_service_token() {
        return Err(AuthError::new(AuthErrorKind::NotServiceToken));
    }
    if claims.client_id().is_none() {
        return Err(AuthError::new(AuthErrorKind::NotServiceToken)
            .with_description("not a service token: it names no client"));
    }
    Ok(())
}
