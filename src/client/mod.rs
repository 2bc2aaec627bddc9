//! The calling side (feature `client`): client-credentials tokens on every outgoing request.
//!
//! - [`ServiceCredentials`]: who the caller is, from the environment in the naming of
//!   permiso's Python client (`AUTH_SERVICE_URL`, `{NAME}_CLIENT_ID`, `{NAME}_CLIENT_SECRET`, `{NAME}_SCOPES`).
//! - [`TokenSource`]: gets tokens (permiso's endpoint, any token URL, or discovery), caches one
//!   until 60 s before expiry (never more than half its life), one fetch however many tasks
//!   ask, bounded exponential backoff honouring `Retry-After` on 5xx/429, typed RFC 6749
//!   errors.
//! - [`BearerLayer`] (tower) and [`BearerMiddleware`] (`reqwest-middleware`): add the header;
//!   on a 401, drop the token, get a new one, retry once.
//!
//! Secrets and tokens never appear in `Debug` output or logs.

mod credentials;
pub(crate) mod exchange;
mod fernet;
mod identity;
pub(crate) mod layer;
mod middleware;
mod service;
mod source;
mod source_env;
mod store;
pub(crate) mod token_error;
mod token_request;

pub use credentials::{ClientAuth, ClientSecret, ServiceCredentials, TokenEndpoint};
pub use identity::ClientIdentity;
pub use layer::{AddBearer, BearerError, BearerLayer};
pub use middleware::BearerMiddleware;
pub use service::{PathError, RemoteService};
pub use source::{AccessToken, TokenSource, TokenSourceBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::RedisTokenStore;
pub use store::{DEFAULT_STORE_TIMEOUT, StoreError, StoreFuture, TokenStore};
pub use token_error::{TokenError, TokenErrorKind};

/// The `reqwest` this crate builds its clients with (its `Client`, `Url`, `Method`…): use it
/// so that your requests and permiso's middleware agree on one version.
pub use reqwest;
/// The `reqwest-middleware` that [`BearerMiddleware`] and
/// [`SigningMiddleware`](crate::signing::SigningMiddleware) plug into: build your
/// `ClientWithMiddleware` with this one.
pub use reqwest_middleware;
