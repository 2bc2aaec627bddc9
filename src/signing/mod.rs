//! Request signing, the scheme of permiso's Python client (`RequestSigner`): a caller that must not have its requests altered or
//! replayed, even by someone holding a valid token, adds
//!
//! - `X-Timestamp`: the Unix time in whole seconds, as a decimal string;
//! - `X-Signature`: lowercase hex of HMAC-SHA256, keyed with the client secret (UTF-8), over
//!   the message `{METHOD}|{url}|{body}|{timestamp}`, where `url` is the full URL the caller
//!   requested and `body` the request body as sent (empty for none).
//!
//! The receiving side (a [`SignatureLayer`] given to the [`AuthLayer`](crate::AuthLayer), which
//! runs it after the token and before rate limits: `AuthLayer::builder(verifier).signatures(..)`) takes the
//! secret of the token's `client_id` from its table, rebuilds the URL from the **public base
//! URL** it is configured with (scheme, host, port and path prefix as callers see the service,
//! behind proxies) plus the request's path and query — a server cannot know what the caller
//! typed otherwise — checks the timestamp window (±300 s), the signature (in constant time),
//! and that the signature was not seen before within the window; it buffers the body (up to
//! 1 MiB; 413 beyond) and hands the same bytes on. The calling side is `SigningMiddleware`
//! and `SigningLayer` (feature `client`).
//!
//! ```
//! // The first vector made with Python's hmac (tests/vectors/request-signing.json).
//! let signature = permiso::signing::signature(
//!     b"payment-service-secret",
//!     "GET",
//!     "https://user-service.yourcompany.com/api/v1/users/123",
//!     b"",
//!     "1764352800",
//! );
//! assert_eq!(signature, "1e50127df595451ec462201310d7bfae243686b71274ebd35def494ff60a91c2");
//! ```

mod layer;
mod message;
mod settings;
#[cfg(feature = "client")]
mod sign;
mod stage;
mod version;

pub use layer::{SignatureLayer, SignatureService};
pub use message::{SIGNATURE_HEADER, TIMESTAMP_HEADER, VERSION_HEADER, signature, signature_v2};
pub use settings::{RequestSigning, SignatureMode};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use sign::{Signer, SigningError, SigningLayer, SigningMiddleware, SigningService};
pub(crate) use stage::{BodyStep, Known, Reader, sealed::Check, sealed::Signatures};
pub use stage::{NoSignatures, SignatureStage};
pub use version::{SignatureVersion, UnknownSignatureVersion};
