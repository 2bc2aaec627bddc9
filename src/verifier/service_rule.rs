//! Which of an issuer's tokens count as service tokens.

use std::fmt;

use crate::claims::Claims;

/// Which tokens of an issuer count as *service tokens* (as opposed to, say, a user's).
///
/// ```
/// use permiso::ServiceTokenRule;
///
/// let permiso = ServiceTokenRule::permiso(); // "type" == "service"
/// let rfc9068 = ServiceTokenRule::claims_match("sub", "client_id");
/// let auth0 = ServiceTokenRule::claim_equals("gty", "client-credentials");
/// let introspected = ServiceTokenRule::client_credentials(); // client_id, no other sub
/// # let _ = (permiso, rfc9068, auth0, introspected, ServiceTokenRule::any());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceTokenRule(RuleKind);

#[derive(Clone, PartialEq, Eq)]
enum RuleKind {
    Any,
    Equals { claim: Box<str>, value: Box<str> },
    Match { claim: Box<str>, other: Box<str> },
    ClientCredentials,
}

impl ServiceTokenRule {
    /// permiso's rule: the `type` claim is `"service"`.
    pub fn permiso() -> Self {
        Self::claim_equals("type", "service")
    }

    /// The string claim `claim` equals `value`.
    pub fn claim_equals(claim: impl Into<Box<str>>, value: impl Into<Box<str>>) -> Self {
        Self(RuleKind::Equals { claim: claim.into(), value: value.into() })
    }

    /// The string claims `claim` and `other` are both present and equal (RFC 9068
    /// client-credentials tokens: `sub` == `client_id`).
    pub fn claims_match(claim: impl Into<Box<str>>, other: impl Into<Box<str>>) -> Self {
        Self(RuleKind::Match { claim: claim.into(), other: other.into() })
    }

    /// Tokens of the client-credentials grant: a `client_id`, and no `sub` or a `sub` equal
    /// to it (no user). The default for issuers judged by RFC 7662 introspection, whose
    /// answers for such tokens often have no `sub` (oidc-provider, Hydra).
    pub fn client_credentials() -> Self {
        Self(RuleKind::ClientCredentials)
    }

    /// Every verified token of the issuer counts as a service token.
    pub fn any() -> Self {
        Self(RuleKind::Any)
    }

    pub(crate) fn matches(&self, claims: &Claims) -> bool {
        match &self.0 {
            RuleKind::Any => true,
            RuleKind::ClientCredentials => match (claims.str_claim("client_id"), claims.str_claim("sub")) {
                (Some(client), Some(sub)) => client == sub,
                (Some(_), None) => true,
                (None, _) => false,
            },
            RuleKind::Equals { claim, value } => claims.str_claim(claim) == Some(&**value),
            RuleKind::Match { claim, other } => match (claims.str_claim(claim), claims.str_claim(other)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl fmt::Debug for ServiceTokenRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            RuleKind::Any => f.write_str("any"),
            RuleKind::ClientCredentials => f.write_str("client_credentials"),
            RuleKind::Equals { claim, value } => write!(f, "{claim} == {value:?}"),
            RuleKind::Match { claim, other } => write!(f, "{claim} == {other}"),
        }
    }
}
