//! The outgoing side as a `reqwest-middleware` middleware.

use http::Extensions;
use reqwest::header::AUTHORIZATION;
use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use super::exchange::{self, Exchange};
use super::source::{AccessToken, TokenSource};

/// Adds `Authorization: Bearer …` from a [`TokenSource`] to every request of a
/// `reqwest_middleware::ClientWithMiddleware` (for a DPoP-bound token, `Authorization: DPoP …`
/// and a fresh `DPoP` proof for the request's method and URL; a 401 asking for a DPoP nonce
/// is answered with one retry carrying it). On a 401 whose challenge says `invalid_token` (or
/// names no error) it drops the cached token, gets a new one and sends the request once more
/// if its body can be replayed (not a stream), at most one forced refetch per
/// [interval](super::TokenSourceBuilder::refetch_after_401_interval); a second 401 is
/// returned as it is.
///
/// ```
/// use permiso::client::{BearerMiddleware, ServiceCredentials, TokenEndpoint, TokenSource};
///
/// let creds = ServiceCredentials::new("payment-service", "secret",
///     TokenEndpoint::Permiso("http://127.0.0.1:8000/api/v1".into()));
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BearerMiddleware::new(TokenSource::new(creds).unwrap()))
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
pub struct BearerMiddleware {
    source: TokenSource,
}

impl BearerMiddleware {
    /// Tokens from `source`.
    pub fn new(source: TokenSource) -> Self {
        Self { source }
    }
}

fn authorize(req: &mut Request, token: &AccessToken, source: &TokenSource) -> reqwest_middleware::Result<()> {
    req.headers_mut()
        .insert(AUTHORIZATION, token.authorization().map_err(reqwest_middleware::Error::middleware)?);
    if token.is_dpop_bound() {
        let nonce = source.dpop_nonce(&req.url().origin().ascii_serialization());
        if let Some(proof) = token.dpop_proof(req.method().as_str(), req.url().as_str(), nonce.as_deref()) {
            req.headers_mut().insert("dpop", proof);
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Middleware for BearerMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let origin = req.url().origin().ascii_serialization();
        let mut exchange = Exchange::start(&self.source, Some(origin))
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        // A body that cannot be cloned (a stream) cannot be sent again.
        let retry = req.try_clone();
        authorize(&mut req, exchange.token(), &self.source)?;
        let mut res = next.clone().run(req, extensions).await?;
        loop {
            let refused = res.status() == StatusCode::UNAUTHORIZED;
            if exchange.after(refused, res.headers(), retry.is_some()).await == exchange::Next::Done {
                return Ok(res);
            }
            let Some(mut again) = retry.as_ref().and_then(Request::try_clone) else { return Ok(res) };
            authorize(&mut again, exchange.token(), &self.source)?;
            res = next.clone().run(again, extensions).await?;
        }
    }
}
