//! Logging through `tracing` when the `tracing` feature is on; nothing otherwise.
//! Call sites pass only non-secret values: never a token, secret or key.

macro_rules! warn_ {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        ::tracing::warn!($($arg)*);
    }};
}

pub(crate) use warn_ as warn;

#[cfg(feature = "redis")]
macro_rules! info_ {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        ::tracing::info!($($arg)*);
    }};
}

#[cfg(feature = "redis")]
pub(crate) use info_ as info;

/// A gate that opens at most once a second: outages are logged once a second, not once a
/// request.
pub(crate) struct Every {
    started: std::time::Instant,
    /// Milliseconds since `started` of the last opening (`u64::MAX`: never).
    last_ms: std::sync::atomic::AtomicU64,
}

impl Every {
    pub(crate) fn second() -> Self {
        Self { started: std::time::Instant::now(), last_ms: std::sync::atomic::AtomicU64::new(u64::MAX) }
    }

    /// Whether to log now; true for one caller at most once a second.
    pub(crate) fn due(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_ms.load(Relaxed);
        (last == u64::MAX || now.saturating_sub(last) >= 1000)
            && self.last_ms.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
    }
}
