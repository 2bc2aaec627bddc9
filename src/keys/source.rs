//! Where an issuer's keys come from: fixed, or fetched and cached.

use std::sync::Arc;

use super::key::{Key, KeySet};
use super::remote::{KeyError, Remote};

/// Where an issuer's keys come from: fixed keys, or remote ones (`RemoteKeys` while
/// configured, the live `Remote` cache once the verifier is built).
#[derive(Clone, Debug)]
pub(crate) enum KeySource<R = Arc<Remote>> {
    /// Fixed keys (a shared secret is a set of one HMAC key).
    Static(Arc<KeySet>),
    /// Keys fetched over HTTP and cached: their settings before the verifier is built, the
    /// live cache after.
    Remote(R),
}

impl KeySource {
    /// The keys to verify a token with this `kid` now. Remote sources may fetch.
    pub(crate) async fn current(&self, kid: Option<&str>) -> Result<Arc<KeySet>, KeyError> {
        match self {
            Self::Static(set) => Ok(set.clone()),
            Self::Remote(remote) => remote.keys_for(kid).await,
        }
    }

    /// Whether `key` is still one of this source's usable keys (without fetching).
    /// `now` is the verifier's clock (which a remote source shares), already read by the caller.
    pub(crate) fn holds(&self, key: &Key, now: u64) -> bool {
        match self {
            Self::Static(set) => set.holds(key),
            Self::Remote(remote) => remote.holds(key, now),
        }
    }

    /// The keys known at build time (for policy checks); `None` for remote sources.
    pub(crate) fn known_keys(&self) -> Option<&KeySet> {
        match self {
            Self::Static(set) => Some(set),
            Self::Remote(_) => None,
        }
    }
}
