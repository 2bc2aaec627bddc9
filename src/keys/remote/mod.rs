//! Keys fetched over HTTP from a JWKS URL or found by discovery, cached, refreshed, and kept
//! through rotations and outages.
//!
//! How the cache behaves (each a setting on [`RemoteKeys`]):
//!
//! - Nothing is fetched at start-up; the first request (or [`Verifier::warm_up`]) fetches.
//!   Concurrent callers wait on that one fetch (single-flight), never longer than the fetch
//!   timeout (default 5 s).
//! - A key set lives for the response's `Cache-Control: max-age`, clamped to
//!   [60 s, 24 h] (default 10 min when absent). A background task refreshes it ahead of
//!   expiry, with jitter, and stops when the last [`Verifier`] clone is dropped.
//! - A token whose `kid` is unknown triggers at most one refetch per cooldown (default 30 s);
//!   kids still unknown after a refetch are remembered for the cooldown, so a flood of random
//!   kids costs no fetches.
//! - A failed refresh keeps the last good keys for a stale window (default 1 h), logging a
//!   warning and counting it in [`KeyStats`]. A response without a usable key never replaces a
//!   good set.
//! - With no usable key because the key server cannot be reached, requests get 503 with
//!   `Retry-After`; failed fetches are retried at most every 5 s.
//! - HTTPS only (plain HTTP only to loopback, or through
//!   [`RemoteKeys::dangerous_allow_http`]), redirects are not followed, bodies are capped
//!   (256 KiB), and the discovered `issuer` must equal the configured one exactly.
//!
//! [`Verifier`]: crate::Verifier
//! [`Verifier::warm_up`]: crate::Verifier::warm_up

mod cache;
mod settings;

pub(crate) use cache::Remote;
pub(crate) use settings::{KeyError, MAX_COOLDOWN, MAX_KEY_LIFETIME, MAX_TIMEOUT};
pub use settings::{KeyFetchError, KeyStats, RemoteKeys};
