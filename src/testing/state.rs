//! What a running `TestIssuer` holds, shared by its handle and its HTTP server.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::key::SigningKey;
use crate::revocation::MemoryRevocations;

/// A misbehaviour a [`TestIssuer`](super::TestIssuer) endpoint can be told to show.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status (and `Retry-After: 1` for 503) and a small JSON error.
    Status(u16),
    /// Answer 200 with bytes that are not JSON.
    Garbage,
    /// Answer 200 with an HTML error page.
    Html,
    /// Answer 200 with `{"keys": []}` (JWKS) or `{}` (others).
    Empty,
    /// Wait this long before answering normally.
    Slow(Duration),
    /// Answer 302 to another path on the same server that would serve the real document.
    Redirect,
}

/// The claim shape minted tokens follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenShape {
    /// permiso's: `aud` list, `type: "service"`, `scopes` list, `is_trusted`.
    Permiso,
    /// RFC 9068: `typ: at+jwt`, `scope` space-separated, `sub == client_id`.
    Rfc9068,
}

#[derive(Clone)]
pub(super) struct Client {
    pub(super) secret: String,
    pub(super) scopes: Vec<String>,
    pub(super) trusted: bool,
}

pub(super) struct KeyEntry {
    pub(super) key: SigningKey,
    pub(super) published: bool,
}

pub(super) struct Inner {
    pub(super) iss: String,
    pub(super) audience: String,
    pub(super) shape: TokenShape,
    pub(super) hs256: bool,
    pub(super) lifetime: u64,
    pub(super) hmac: SigningKey,
    pub(super) keys: Vec<KeyEntry>,
    pub(super) active: usize,
    pub(super) jwks_fault: Option<Fault>,
    pub(super) discovery_fault: Option<Fault>,
    pub(super) token_faults: Vec<Fault>,
    pub(super) token_fault: Option<Fault>,
    pub(super) max_age: Option<u64>,
    pub(super) discovery_issuer: Option<String>,
    pub(super) clients: HashMap<String, Client>,
    /// The nonce DPoP token requests must carry, when the issuer asks for one.
    pub(super) dpop_nonce: Option<String>,
}

pub(super) struct Shared {
    pub(super) base: String,
    pub(super) state: Mutex<Inner>,
    pub(super) jwks_fetches: AtomicU64,
    pub(super) discovery_fetches: AtomicU64,
    pub(super) token_requests: AtomicU64,
    pub(super) redirect_target_fetches: AtomicU64,
    pub(super) jti: AtomicU64,
    pub(super) revocations: MemoryRevocations,
    /// Every token minted, with its claims: what the introspection endpoints answer from.
    pub(super) issued: Mutex<HashMap<String, serde_json::Value>>,
    pub(super) introspection_calls: AtomicU64,
    pub(super) introspection_fault: Mutex<Option<Fault>>,
    /// Checks the DPoP proofs of token requests (RFC 9449 §5).
    pub(super) dpop: crate::dpop::DpopPolicy,
}

impl Inner {
    /// `claims` signed as this issuer signs its tokens now (the active key, or the HS256
    /// secret), in its token shape.
    pub(super) fn sign(&self, claims: &serde_json::Value) -> String {
        let key = if self.hs256 { &self.hmac } else { &self.keys[self.active].key };
        match self.shape {
            TokenShape::Permiso => key.sign(claims),
            TokenShape::Rfc9068 => key.sign_at_jwt(claims),
        }
    }
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `claims` signed by `st` (see [`Inner::sign`]) and remembered for introspection.
    pub(super) fn issue(&self, st: &Inner, claims: &serde_json::Value) -> String {
        let token = st.sign(claims);
        self.remember(token.clone(), claims.clone());
        token
    }

    pub(super) fn remember(&self, token: String, claims: serde_json::Value) {
        self.issued.lock().unwrap_or_else(|e| e.into_inner()).insert(token, claims);
    }

    /// The claims of a token this issuer minted.
    pub(super) fn claims_of(&self, token: &str) -> Option<serde_json::Value> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }
}

/// Whether a registered client is trusted (`"is_trusted"` in its tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Trust {
    Untrusted,
    Trusted,
}
