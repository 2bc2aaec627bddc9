//! Server-issued DPoP nonces (RFC 9449 §8–9) that every replica accepts without shared
//! state: a nonce is the time window's index and an HMAC-SHA256 of it under a secret the
//! replicas share. The current window's nonce and the previous one's are accepted, so a
//! nonce stays good for one to two windows; a proof with the previous window's nonce passes
//! and its response carries the current one (`DPoP-Nonce`).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Clock;
use crate::error::{AuthError, AuthErrorKind};

/// Bytes of the HMAC kept in a nonce.
const TAG_LEN: usize = 16;
/// Default window: a nonce is good for 60 to 120 s.
pub(crate) const DEFAULT_NONCE_WINDOW_SECS: u64 = 60;

pub(crate) struct Nonces {
    key: hmac::Key,
    window: u64,
    clock: Arc<dyn Clock>,
}

/// What a proof's nonce is worth.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// This window's.
    Current,
    /// The previous window's: accepted; answer with the current one.
    Previous,
}

impl Nonces {
    pub(crate) fn new(secret: &[u8], window_secs: u64, clock: Arc<dyn Clock>) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret), window: window_secs.max(1), clock }
    }

    fn index(&self) -> u64 {
        self.clock.now_unix() / self.window
    }

    fn make(&self, index: u64) -> String {
        let mut bytes = [0u8; 8 + TAG_LEN];
        bytes[..8].copy_from_slice(&index.to_be_bytes());
        let tag = hmac::sign(&self.key, &[b"permiso dpop nonce ".as_slice(), &index.to_be_bytes()].concat());
        bytes[8..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The nonce of the current window.
    pub(crate) fn current(&self) -> String {
        self.make(self.index())
    }

    /// The current nonce when the (unverified) `proof` carries the previous window's.
    pub(crate) fn renewal_for(&self, proof: &str) -> Option<String> {
        let payload = crate::token::b64url(proof.split('.').nth(1)?.as_bytes())?;
        let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
        match self.check(claims.get("nonce").and_then(serde_json::Value::as_str)) {
            Ok(NonceCheck::Previous) => Some(self.current()),
            _ => None,
        }
    }

    /// Whether `nonce` (a proof's `nonce` claim) is this window's or the previous one's; else
    /// 401 `use_dpop_nonce` with the current nonce to retry with.
    pub(crate) fn check(&self, nonce: Option<&str>) -> Result<NonceCheck, AuthError> {
        let now = self.index();
        let refused = |why: &'static str| {
            Err(AuthError::new(AuthErrorKind::UseDpopNonce)
                .with_description(why)
                .with_dpop_nonce(self.make(now)))
        };
        let Some(nonce) = nonce else { return refused("a DPoP nonce from this server is required") };
        let Some(index) = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .filter(|b| b.len() == 8 + TAG_LEN)
            .and_then(|b| b[..8].try_into().ok().map(u64::from_be_bytes))
        else {
            return refused("the DPoP nonce is not one of this server's");
        };
        let which = if index == now {
            NonceCheck::Current
        } else if index.checked_add(1) == Some(now) {
            NonceCheck::Previous
        } else {
            return refused("the DPoP nonce has expired");
        };
        // Compared in full, in constant time (the index is public; the tag is not guessable).
        let expected = self.make(index);
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), nonce.as_bytes()).is_err() {
            return refused("the DPoP nonce is not one of this server's");
        }
        Ok(which)
    }
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces").field("window_secs", &self.window).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn replicas_with_one_secret_agree_and_a_nonce_lives_two_windows() {
        let clock = ManualClock::at_unix(1_000_000);
        let a = Nonces::new(b"shared-secret", 60, Arc::new(clock.clone()));
        let b = Nonces::new(b"shared-secret", 60, Arc::new(clock.clone()));
        let other = Nonces::new(b"another-secret", 60, Arc::new(clock.clone()));
        let nonce = a.current();
        assert_eq!(b.check(Some(&nonce)).unwrap(), NonceCheck::Current);
        assert_eq!(other.check(Some(&nonce)).unwrap_err().kind(), AuthErrorKind::UseDpopNonce);
        clock.advance(std::time::Duration::from_secs(60));
        assert_eq!(b.check(Some(&nonce)).unwrap(), NonceCheck::Previous);
        assert_ne!(b.current(), nonce);
        clock.advance(std::time::Duration::from_secs(60));
        let err = b.check(Some(&nonce)).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::UseDpopNonce);
        assert!(b.check(None).is_err() && b.check(Some("garbage")).is_err());
        // A nonce for a future window is refused too.
        let ahead = Nonces::new(b"shared-secret", 60, Arc::new(ManualClock::at_unix(2_000_000)));
        assert!(b.check(Some(&ahead.current())).is_err());
    }
}
