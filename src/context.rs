//! What `AuthLayer` proved about a request, as it travels to what runs behind the layer, and
//! how the request wants to be answered. Depends on nothing above it.

use std::sync::Arc;

use http::{HeaderMap, header};

use crate::claims::Claims;

/// What the layer proved about a request, left in its extensions for what runs behind it
/// (extractors, [`RequireLayer`](crate::RequireLayer), your own handlers on plain hyper): the verified claims.
///
/// ```
/// use permiso::{Authenticated, Claims};
///
/// fn caller(req: &http::Request<()>) -> Option<&Claims> {
///     req.extensions().get::<Authenticated>().map(|a| &**a.claims())
/// }
/// # assert!(caller(&http::Request::new(())).is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Authenticated(pub(crate) Arc<Claims>);

impl Authenticated {
    /// The verified claims.
    pub fn claims(&self) -> &Arc<Claims> {
        &self.0
    }
}

/// Whether a request is gRPC: `content-type` `application/grpc`, `application/grpc+proto`,
/// `application/grpc;…`.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16
            && v[..16].eq_ignore_ascii_case(b"application/grpc")
            && matches!(v.get(16), None | Some(b'+' | b';'))
    })
}
