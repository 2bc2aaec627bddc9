//! Where the verifier gets the time from.
//!
//! Expiry, not-before, key-cache lifetimes, revocation staleness, signature windows and rate
//! limits all read one [`Clock`], injected through the builders, so tests move time instead of sleeping.
//!
//! ```
//! use std::time::Duration;
//! use permiso::{Clock, ManualClock};
//!
//! let clock = ManualClock::at_unix(1_700_000_000);
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.now_unix(), 1_700_000_090);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> u64;
}

/// The system's wall clock. The default.
///
/// On Linux it reads the kernel's coarse realtime clock (`CLOCK_REALTIME_COARSE`, a few
/// nanoseconds through the vDSO, where the precise clock costs tens on every request): it lags
/// the precise one by at most one scheduler tick (1–10 ms), far inside the whole seconds that
/// `exp`, `nbf` and every window here are counted in. Elsewhere it reads [`SystemTime`](std::time::SystemTime).
///
/// ```
/// use permiso::{Clock, SystemClock};
/// assert!(SystemClock.now_unix() > 1_600_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now_unix(&self) -> u64 {
        wall_secs()
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn wall_secs() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    u64::try_from(now.tv_sec).unwrap_or(0)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn wall_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use permiso::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(100);
/// let shared = clock.clone();
/// clock.set_unix(200);
/// assert_eq!(shared.now_unix(), 200);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `secs` since the epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self { now: Arc::new(AtomicU64::new(secs)) }
    }

    /// A clock showing the current system time (then standing still).
    pub fn now() -> Self {
        Self::at_unix(SystemClock.now_unix())
    }

    /// Sets the time.
    pub fn set_unix(&self, secs: u64) {
        self.now.store(secs, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now_unix()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Clock, SystemClock};
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn the_system_clock_is_the_wall_clock_to_the_second() {
        for _ in 0..1000 {
            let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            let ours = SystemClock.now_unix();
            let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            // The coarse clock may lag by one tick, so just after a second turns it can still
            // show the second before.
            assert!(ours + 1 >= before && ours <= after, "{before} <= {ours} <= {after}");
        }
    }
}
