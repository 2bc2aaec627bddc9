//! A revocation list in this process's memory: for one process, and for users' tests.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::policy::{RevocationError, RevocationList};

/// Revoked `jti`s held in memory, each until its token's `exp`. Cheap to clone: clones
/// share the list, so a test can keep one and give another to the verifier.
///
/// ```
/// use permiso::revocation::{MemoryRevocations, RevocationList};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let list = MemoryRevocations::new();
/// list.revoke("2b1f0c1e", u64::MAX);
/// assert!(list.is_revoked("2b1f0c1e").await.unwrap());
/// assert!(!list.is_revoked("another").await.unwrap());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryRevocations {
    revoked: Arc<RwLock<HashMap<String, u64>>>,
}

impl MemoryRevocations {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token with this `jti` until `exp` (its expiry, in Unix seconds).
    pub fn revoke(&self, jti: impl Into<String>, exp: u64) {
        let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        // Forget what has expired meanwhile, so the list never grows without bound.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        map.retain(|_, until| *until > now);
        map.insert(jti.into(), exp);
    }

    /// How many revoked tokens are held.
    pub fn len(&self) -> usize {
        self.revoked.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RevocationList for MemoryRevocations {
    fn is_revoked<'a>(
        &'a self,
        jti: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RevocationError>> + Send + 'a>> {
        let revoked = self.revoked.read().unwrap_or_else(|e| e.into_inner()).contains_key(jti);
        Box::pin(std::future::ready(Ok(revoked)))
    }
}

impl fmt::Debug for MemoryRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRevocations").field("revoked", &self.len()).finish()
    }
}
