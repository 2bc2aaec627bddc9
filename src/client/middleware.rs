//! The outgoing side as a `reqwest-middleware` middleware.

use http::Extensions;
use reqwest::header::AUTHORIZATION;
use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use super::source::{AccessToken, TokenSource};
use super::token_error::wants_new_token;

/// Adds `Authorization: Bearer …` from a [`TokenSource`] to every request of a
/// `reqwest_middleware::ClientWithMiddleware`. On a 401 whose challenge says `invalid_token` (or
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

fn authorize(req: &mut Request, token: &AccessToken) -> reqwest_middleware::Result<()> {
    req.headers_mut()
        .insert(AUTHORIZATION, token.authorization().map_err(reqwest_middleware::Error::middleware)?);
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
        let token = self.source.token().await.map_err(reqwest_middleware::Error::middleware)?;
        let retry = req.try_clone();
        authorize(&mut req, &token)?;
        let res = next.clone().run(req, extensions).await?;
        if res.status() != StatusCode::UNAUTHORIZED || !wants_new_token(res.headers()) {
            return Ok(res);
        }
        let Some(mut retry) = retry else { return Ok(res) };
        self.source.invalidate(&token);
        let fresh = match self.source.token().await {
            Ok(t) if t != token => t,
            _ => return Ok(res),
        };
        authorize(&mut retry, &fresh)?;
        next.run(retry, extensions).await
    }
}
