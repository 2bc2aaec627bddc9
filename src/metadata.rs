//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the service says which issuers, scopes
//! and proof methods it wants, at `/.well-known/oauth-protected-resource`, and points at that
//! document from every 401 challenge (`resource_metadata="…"`), so a caller (an MCP client,
//! `oauth4webapi`) needs no out-of-band configuration.
//!
//! ```
//! use axum::Router;
//! use permiso::layer::ResourceMetadata;
//! use permiso::{AuthLayer, Issuer, Verifier};
//!
//! let verifier = Verifier::builder(["payments"])
//!     .issuer(Issuer::discover("https://auth.example.com"))
//!     .build()?;
//! let metadata = ResourceMetadata::new("https://payments.example.com")?
//!     .scopes_supported(["read:transactions", "write:transactions"]);
//! let auth = AuthLayer::builder(verifier).resource_metadata(metadata).build();
//! let metadata = auth.resource_metadata().unwrap();
//! assert_eq!(metadata.well_known_path(), "/.well-known/oauth-protected-resource");
//! assert_eq!(metadata.url(), "https://payments.example.com/.well-known/oauth-protected-resource");
//! let document: serde_json::Value = serde_json::from_slice(&metadata.document()).unwrap();
//! assert_eq!(document["authorization_servers"][0], "https://auth.example.com");
//!
//! // The document is open; the routes behind the layer are not.
//! let app: Router = Router::new()
//!     .route("/api/v1/transactions", axum::routing::get(|| async { "[]" }))
//!     .layer(auth.clone())
//!     .route_service(metadata.well_known_path(), metadata.service());
//! # let _ = app;
//! # Ok::<(), permiso::ConfigError>(())
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::fetch::{HttpPolicy, check_url};

/// The protected-resource metadata of a service (RFC 9728 §2), built once: the `resource`
/// given here, the rest from the layer it is given to (its issuers, token locations and DPoP
/// settings) unless set here.
#[derive(Clone)]
#[must_use]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: Option<Vec<String>>,
    scopes_supported: Vec<String>,
    well_known_path: String,
    url: Arc<str>,
    /// The document, once the layer completed it.
    document: Option<Bytes>,
}

#[derive(Serialize)]
struct Document<'a> {
    resource: &'a str,
    authorization_servers: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes_supported: &'a [String],
    bearer_methods_supported: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    dpop_signing_alg_values_supported: Option<Vec<&'a str>>,
    dpop_bound_access_tokens_required: bool,
    /// RFC 9728 §2: certificate-bound tokens (RFC 8705) are supported; said when the layer
    /// is told where client certificates come from.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_client_certificate_bound_access_tokens: bool,
}

/// What the layer knows that the document says.
#[derive(Default)]
pub(crate) struct LayerFacts<'a> {
    pub(crate) issuers: Vec<String>,
    pub(crate) query_allowed: bool,
    pub(crate) dpop_algs: Option<&'a str>,
    pub(crate) dpop_required: bool,
    pub(crate) certificate_bound: bool,
}

impl ResourceMetadata {
    /// The metadata of the resource `resource`: the service's public base URL (https, or
    /// http to loopback; no query or fragment), as callers reach it.
    ///
    /// # Errors
    ///
    /// `resource` is not such a URL.
    pub fn new(resource: &str) -> Result<Self, ConfigError> {
        let url = check_url(resource, HttpPolicy::HttpsOrLoopback)
            .map_err(|why| invalid(format!("the resource {why}")))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("the resource must have no query or fragment".into()));
        }
        let mut resource = url.to_string();
        if url.path() == "/" && !resource.trim_end_matches('/').is_empty() {
            resource.truncate(resource.trim_end_matches('/').len());
        }
        // RFC 9728 §3.1: the well-known segment goes between the host and the resource's path.
        let (origin, path) = split_origin(&resource);
        let well_known_path = format!("/.well-known/oauth-protected-resource{}", path.trim_end_matches('/'));
        let url = format!("{origin}{well_known_path}").into();
        Ok(Self {
            resource,
            authorization_servers: None,
            scopes_supported: Vec::new(),
            well_known_path,
            url,
            document: None,
        })
    }

    /// The issuers named in `authorization_servers` (default: every issuer of the verifier).
    pub fn authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// `scopes_supported`: the scopes this service's routes ask for (default: not said).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Completes the document with what the layer knows (done by the layer's builder).
    pub(crate) fn build(mut self, facts: &LayerFacts<'_>) -> Self {
        self.document = Some(self.render(facts));
        self
    }

    fn render(&self, facts: &LayerFacts<'_>) -> Bytes {
        let issuers = self.authorization_servers.clone().unwrap_or_else(|| facts.issuers.clone());
        let methods: &[&str] = if facts.query_allowed { &["header", "query"] } else { &["header"] };
        let algs = facts.dpop_algs.map(|a| a.split(' ').collect::<Vec<_>>());
        let document = Document {
            resource: &self.resource,
            authorization_servers: &issuers,
            scopes_supported: &self.scopes_supported,
            bearer_methods_supported: methods,
            dpop_signing_alg_values_supported: algs,
            dpop_bound_access_tokens_required: facts.dpop_required,
            tls_client_certificate_bound_access_tokens: facts.certificate_bound,
        };
        // Serializing strings and booleans cannot fail.
        serde_json::to_vec(&document).map(Bytes::from).unwrap_or_default()
    }

    /// The document, as JSON: as the layer completed it (see
    /// [`AuthLayer::resource_metadata`](crate::AuthLayer::resource_metadata)); before that,
    /// with only what was given here.
    pub fn document(&self) -> Bytes {
        self.document.clone().unwrap_or_else(|| self.render(&LayerFacts::default()))
    }

    /// The path to serve the document at: `/.well-known/oauth-protected-resource`, followed by
    /// the resource's path when it has one.
    pub fn well_known_path(&self) -> &str {
        &self.well_known_path
    }

    /// The document's URL, as every 401 challenge names it (`resource_metadata="…"`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn shared_url(&self) -> Arc<str> {
        Arc::clone(&self.url)
    }

    /// A tower service answering `GET` (and `HEAD`) with the document (`application/json`,
    /// cacheable for an hour), anything else with 405. Route it at
    /// [`well_known_path`](Self::well_known_path), outside the [`AuthLayer`](crate::AuthLayer):
    /// the document is public.
    pub fn service(&self) -> MetadataService {
        MetadataService { document: self.document() }
    }
}

/// The metadata the settings tree asks for: `resource_metadata = true` (or
/// `PERMISO_RESOURCE_METADATA=true`) with `public_base_url` (`PERMISO_PUBLIC_BASE_URL`) and
/// `resource_metadata_scopes` (`PERMISO_RESOURCE_METADATA_SCOPES`, comma-separated).
pub(crate) fn from_settings(
    on: bool,
    public_base_url: Option<&str>,
    scopes: Option<Vec<String>>,
) -> Result<Option<ResourceMetadata>, ConfigError> {
    if !on {
        return Ok(None);
    }
    let base = public_base_url.map(str::trim).filter(|b| !b.is_empty()).ok_or_else(|| {
        ConfigError::new(ConfigErrorKind::Missing, "resource metadata needs the service's public base URL")
            .at("public_base_url")
    })?;
    let metadata = ResourceMetadata::new(base)?;
    Ok(Some(match scopes {
        Some(scopes) => metadata.scopes_supported(scopes),
        None => metadata,
    }))
}

fn invalid(why: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, why).at("public_base_url")
}

/// `https://host:port` and the path of a URL.
fn split_origin(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

impl fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("resource", &self.resource)
            .field("authorization_servers", &self.authorization_servers)
            .field("scopes_supported", &self.scopes_supported)
            .finish_non_exhaustive()
    }
}

/// The service made by [`ResourceMetadata::service`].
#[derive(Clone, Debug)]
pub struct MetadataService {
    document: Bytes,
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::new()));
        if req.method() != Method::GET && req.method() != Method::HEAD {
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(res));
        }
        if req.method() == Method::GET {
            *res.body_mut() = Full::new(self.document.clone());
        }
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
        ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(resource: &str) -> ResourceMetadata {
        let facts = LayerFacts {
            issuers: vec!["https://idp".into()],
            query_allowed: false,
            dpop_algs: None,
            dpop_required: false,
            certificate_bound: false,
        };
        ResourceMetadata::new(resource).unwrap().build(&facts)
    }

    #[test]
    fn the_well_known_segment_goes_before_the_resources_path() {
        let root = built("https://payments.example.com/");
        assert_eq!(root.well_known_path(), "/.well-known/oauth-protected-resource");
        assert_eq!(root.url(), "https://payments.example.com/.well-known/oauth-protected-resource");
        let pathed = built("https://api.example.com/payments");
        assert_eq!(pathed.well_known_path(), "/.well-known/oauth-protected-resource/payments");
        assert_eq!(pathed.url(), "https://api.example.com/.well-known/oauth-protected-resource/payments");
        let doc: serde_json::Value = serde_json::from_slice(&pathed.document()).unwrap();
        assert_eq!(doc["resource"], "https://api.example.com/payments");
        assert_eq!(doc["bearer_methods_supported"], serde_json::json!(["header"]));
    }

    #[test]
    fn metadata_not_yet_given_to_a_layer_still_answers() {
        let m = ResourceMetadata::new("https://payments.example.com").unwrap().scopes_supported(["a"]);
        assert_eq!(m.url(), "https://payments.example.com/.well-known/oauth-protected-resource");
        let doc: serde_json::Value = serde_json::from_slice(&m.document()).unwrap();
        assert_eq!(doc["authorization_servers"], serde_json::json!([]));
        assert_eq!(doc["scopes_supported"], serde_json::json!(["a"]));
    }

    #[test]
    fn bad_resources_are_refused() {
        for bad in ["payments.example.com", "http://payments.example.com", "https://a/?x=1", "https://u:p@a/"]
        {
            assert!(ResourceMetadata::new(bad).is_err(), "{bad}");
        }
    }
}
