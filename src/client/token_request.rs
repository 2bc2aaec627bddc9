//! One token request: the endpoint (given, permiso's, or discovered), the client's
//! authentication, a DPoP proof and the nonce a server asks for, and the answer read as an
//! RFC 6749 token response or a typed error.

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;

use super::credentials::{ClientAuth, TokenEndpoint};
use super::source::{AccessToken, TokenSource};
use super::token_error::{TokenError, TokenErrorKind, parse_error};
use crate::fetch::{self, FetchError};

/// The largest token endpoint answer read.
const MAX_BODY: usize = 64 * 1024;
/// The lifetime assumed for a token whose answer and payload say nothing of it.
const DEFAULT_LIFETIME: u64 = 300;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

impl TokenSource {
    pub(super) async fn endpoint(&self) -> Result<&Url, TokenError> {
        self.inner
            .endpoint
            .get_or_try_init(|| async {
                let err = |d: &str| TokenError::new(TokenErrorKind::Endpoint).with(None, Some(d.to_owned()));
                match self.inner.settings.creds.endpoint() {
                    TokenEndpoint::Url(u) => Url::parse(u).map_err(|_| err("invalid URL")),
                    TokenEndpoint::Permiso(base) => {
                        Url::parse(&format!("{}/auth/service-token", base.trim_end_matches('/')))
                            .map_err(|_| err("invalid AUTH_SERVICE_URL"))
                    }
                    TokenEndpoint::Discovery(issuer) => self.discover(issuer).await,
                }
            })
            .await
    }

    async fn discover(&self, issuer: &str) -> Result<Url, TokenError> {
        let err = |d: &str| TokenError::new(TokenErrorKind::Endpoint).with(None, Some(d.to_owned()));
        let base = Url::parse(issuer).map_err(|_| err("invalid issuer URL"))?;
        let doc = fetch::discover(&self.inner.http, &base, issuer, self.inner.settings.timeout, MAX_BODY)
            .await
            .map_err(|e| match e {
                FetchError::Unreachable => TokenError::new(TokenErrorKind::Unavailable),
                FetchError::Status(404) => err("no discovery document"),
                FetchError::Status(s) => TokenError::new(TokenErrorKind::Unavailable)
                    .with(Some(s), Some("discovery failed".into())),
                FetchError::IssuerMismatch => err("the discovery document names another issuer"),
                FetchError::Redirected | FetchError::TooLarge | FetchError::Malformed => {
                    err("the discovery document is malformed")
                }
            })
            .map_err(|e| e.at(&base))?;
        let endpoint =
            doc.token_endpoint.ok_or_else(|| err("the discovery document has no token_endpoint"))?;
        fetch::discovered_url(&base, &endpoint, self.inner.settings.http)
            .map_err(|_| err("the token_endpoint is not acceptable"))
    }

    /// The DPoP nonce `origin` asked for last, if any.
    pub(crate) fn dpop_nonce(&self, origin: &str) -> Option<String> {
        self.inner.dpop_nonces.lock().unwrap_or_else(|e| e.into_inner()).get(origin).cloned()
    }

    /// Keeps the `DPoP-Nonce` of a response from `origin`; true when it is new.
    pub(crate) fn remember_dpop_nonce(&self, origin: &str, headers: &http::HeaderMap) -> bool {
        let Some(nonce) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        // A nonce is short visible ASCII (RFC 9449 §8.1); anything else is ignored.
        if nonce.is_empty() || nonce.len() > 256 || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        let mut nonces = self.inner.dpop_nonces.lock().unwrap_or_else(|e| e.into_inner());
        if nonces.get(origin).is_some_and(|n| n == nonce) {
            return false;
        }
        // Bounded: a handful of servers in practice.
        if nonces.len() >= 64 {
            nonces.clear();
        }
        nonces.insert(origin.to_owned(), nonce.to_owned());
        true
    }

    /// One token request (two when the endpoint asks for a DPoP nonce). Also returns the
    /// `Retry-After` of a 503/429.
    pub(super) async fn fetch_once(&self) -> (Result<AccessToken, TokenError>, Option<Duration>) {
        let url = match self.endpoint().await {
            Ok(u) => u.clone(),
            Err(e) => return (Err(e), None),
        };
        let (result, retry_after) = self.ask(&url).await;
        (result.map_err(|e| e.at(&url)), retry_after)
    }

    /// [`fetch_once`](Self::fetch_once) at the endpoint `url`.
    async fn ask(&self, url: &Url) -> (Result<AccessToken, TokenError>, Option<Duration>) {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let creds = &self.inner.settings.creds;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        let scope = creds.scopes().join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(r) = &self.inner.settings.resource {
            form.push(("resource", r));
        }
        let mut basic = None;
        match self.inner.settings.auth {
            ClientAuth::SecretPost => {
                form.push(("client_id", creds.client_id()));
                form.push(("client_secret", creds.client_secret().expose()));
            }
            ClientAuth::TlsClientAuth => form.push(("client_id", creds.client_id())),
            ClientAuth::SecretBasic => {
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(creds.client_id()), enc(creds.client_secret().expose()));
                basic = Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)));
            }
        }
        let origin = url.origin().ascii_serialization();
        let mut asked_nonce = false;
        let res = loop {
            let mut req = self
                .inner
                .http
                .post(url.clone())
                .header(ACCEPT, "application/json")
                .timeout(self.inner.settings.timeout);
            if let Some(basic) = &basic {
                req = req.header(AUTHORIZATION, basic);
            }
            if let Some(key) = &self.inner.settings.dpop {
                let nonce = self.dpop_nonce(&origin);
                req = req.header("dpop", key.proof("POST", url.as_str(), None, nonce.as_deref()));
            }
            let res = match req.form(&form).send().await {
                Ok(r) => r,
                Err(e) => return (Err(TokenError::new(TokenErrorKind::Unavailable).caused_by(e)), None),
            };
            if self.inner.settings.dpop.is_none() {
                break res;
            }
            let nonce_changed = self.remember_dpop_nonce(&origin, res.headers());
            // RFC 9449 §8: 400 `use_dpop_nonce` with a new nonce: one more try with it.
            if res.status() == reqwest::StatusCode::BAD_REQUEST && nonce_changed && !asked_nonce {
                asked_nonce = true;
                continue;
            }
            break res;
        };
        let status = res.status();
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match fetch::read_capped(res, MAX_BODY).await {
            Ok(b) => b,
            Err(FetchError::TooLarge) => {
                let e = TokenError::new(TokenErrorKind::MalformedResponse)
                    .with(Some(status.as_u16()), Some("the response is too large".into()));
                return (Err(e), retry_after);
            }
            Err(_) => {
                let e = TokenError::new(TokenErrorKind::Unavailable).with(Some(status.as_u16()), None);
                return (Err(e), retry_after);
            }
        };
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let e = TokenError::new(TokenErrorKind::Unavailable).with(Some(status.as_u16()), None);
            return (Err(e), retry_after);
        }
        if !status.is_success() {
            return (Err(parse_error(status.as_u16(), &body, creds.client_secret().expose())), None);
        }
        (self.parse_token(&body), None)
    }

    fn parse_token(&self, body: &[u8]) -> Result<AccessToken, TokenError> {
        let malformed =
            |d: &str| TokenError::new(TokenErrorKind::MalformedResponse).with(Some(200), Some(d.into()));
        let res: TokenResponse =
            serde_json::from_slice(body).map_err(|_| malformed("not a JSON token response"))?;
        if res.access_token.is_empty() {
            return Err(malformed("empty access_token"));
        }
        let token_type = res.token_type.as_deref().unwrap_or("Bearer");
        let dpop = match &self.inner.settings.dpop {
            Some(key) if token_type.eq_ignore_ascii_case("dpop") => Some(key.clone()),
            _ if token_type.eq_ignore_ascii_case("bearer") => None,
            Some(_) => return Err(malformed("token_type is neither DPoP nor Bearer")),
            None => return Err(malformed("token_type is not Bearer")),
        };
        let expires_in = match res.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .or_else(|| jwt_lifetime(&res.access_token, self.inner.settings.clock.now_unix()))
        .unwrap_or(DEFAULT_LIFETIME);
        Ok(AccessToken {
            expires_at: self.inner.settings.clock.now_unix().saturating_add(expires_in),
            token: res.access_token.into(),
            scope: res.scope.map(Into::into),
            dpop,
        })
    }
}

/// The lifetime left on a JWT access token, read (unverified) from its `exp`, when the
/// response had no `expires_in`.
fn jwt_lifetime(token: &str, now: u64) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let json = crate::token::b64url(payload.as_bytes())?;
    let exp = serde_json::from_slice::<serde_json::Value>(&json).ok()?.get("exp")?.as_u64()?;
    exp.checked_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_lifetime_reads_exp() {
        let payload = crate::token::tests::b64(br#"{"exp":1100}"#);
        assert_eq!(jwt_lifetime(&format!("h.{payload}.s"), 1000), Some(100));
        assert_eq!(jwt_lifetime("opaque-token", 1000), None);
    }
}
