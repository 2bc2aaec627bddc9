//! One limit, and a store's answer for one request under it.

use std::time::Duration;

/// One limit: requests per minute, and how many may come at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(super) per_minute: u32,
    pub(super) burst: u32,
}

/// A store's answer for one request.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Counted and allowed: `remaining` more may come at once; the burst is whole again in
    /// `reset`.
    Allowed { remaining: u32, reset: Duration },
    /// Over the limit: the next request is allowed after `retry_after`.
    Limited { retry_after: Duration },
    /// No limit applies to this client.
    Unlimited,
}
