//! What a stage does when the shared store it asks (Redis) cannot answer: one vocabulary for
//! revocation and the replay stores of request signatures and DPoP proofs.

/// What a request gets when a shared store (Redis) cannot answer in time.
///
/// ```
/// use permiso::OnStoreError;
///
/// let strict: OnStoreError = serde_json::from_str("\"reject\"").unwrap();
/// assert_eq!(strict, OnStoreError::default());
/// assert_eq!(OnStoreError::Allow.as_str(), "allow");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    /// 503 `temporarily_unavailable` with `Retry-After: 1` (the default): never accept on
    /// doubt.
    #[default]
    Reject,
    /// Let the request through on this replica's own answer, logged at most once a second
    /// and counted. An explicit opt-in: during the outage a revoked token, or a request
    /// replayed to another replica, may pass.
    Allow,
}

impl OnStoreError {
    /// The setting's value as written in TOML and the environment: `reject` or `allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Allow => "allow",
        }
    }

    /// Parses `reject` or `allow` (the environment's and TOML's spelling).
    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "reject" => Some(Self::Reject),
            "allow" => Some(Self::Allow),
            _ => None,
        }
    }
}
