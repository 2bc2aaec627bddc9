//! Logging through `tracing` when the `tracing` feature is on; nothing otherwise.
//! Call sites pass only non-secret values: never a token, secret or key.

macro_rules! warn_ {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        ::tracing::warn!($($arg)*);
    }};
}

pub(crate) use warn_ as warn;
