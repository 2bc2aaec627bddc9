//! Test tools for services that use permiso (feature `testing`).
//!
//! [`TestIssuer`] is a real issuer on 127.0.0.1 (discovery, JWKS, token endpoint) that mints
//! tokens, rotates keys and injects faults.
//! [`SigningKey`] makes real keys (HMAC, RSA, P-256, P-384, Ed25519) and signs tokens with
//! them, including deliberately broken ones, so a service's tests exercise the same
//! verification path production does.
//!
//! ```
//! use permiso::testing::SigningKey;
//! use permiso::keys::{Key, KeySet};
//! use permiso::{Algorithm, Issuer, Verifier};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let key = SigningKey::generate(Algorithm::ES256).with_kid("es-1");
//! let keys = KeySet::new([Key::from_jwk(&key.public_jwk().unwrap().to_string()).unwrap()]);
//! let verifier = Verifier::builder(["orders"])
//!     .issuer(Issuer::keys("https://auth.example.com", keys))
//!     .build()
//!     .unwrap();
//!
//! let token = key.sign(&serde_json::json!({
//!     "iss": "https://auth.example.com", "aud": "orders", "exp": 4_102_444_800u64,
//!     "sub": "billing", "client_id": "billing", "scope": "read:orders",
//! }));
//! let claims = verifier.verify(&token).await.unwrap();
//! assert!(claims.scopes().contains("read:orders"));
//! # });
//! ```

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

mod introspect;
mod issuer;
mod key;
mod respond;
mod server;
mod state;

pub use issuer::{TestIssuer, TestIssuerBuilder};
pub use key::SigningKey;
pub use state::{Fault, TokenShape};

/// Runs a future that completes without waiting, such as verification with static keys or a
/// cached token, without an async runtime: for benches, fuzzers and property tests.
///
/// ```
/// use permiso::{Issuer, Verifier};
///
/// let verifier = Verifier::builder(["a"])
///     .issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef"))
///     .build()
///     .unwrap();
/// let err = permiso::testing::immediately(verifier.verify("not-a-token")).unwrap_err();
/// assert_eq!(err.status(), 401);
/// ```
///
/// # Panics
///
/// If the future would wait (remote keys not yet fetched, for example).
pub fn immediately<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("testing::immediately: the future would wait"),
    }
}
