//! One introspection call: the request in the endpoint's style and authentication, the
//! answer read (capped) and judged RFC 7662's or not.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

use super::config::{EndpointAuth, IntrospectionStyle};
use crate::fetch::{FetchError, read_capped};

/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the endpoint said of a token.
pub(super) enum Answer {
    /// `active: true`, with the rest of the answer's members.
    Active(Map<String, Value>),
    /// `active: false` (or not `true`, RFC 7662 §2.2).
    Inactive,
}

/// Why no answer could be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CallError {
    /// The exchange failed (see [`FetchError`]).
    Fetch(FetchError),
    /// The resource server's own token could not be had (permiso style, or `bearer`).
    OwnToken,
}

pub(super) struct Endpoint {
    pub(super) url: Url,
    pub(super) style: IntrospectionStyle,
    pub(super) auth: EndpointAuth,
    pub(super) http: reqwest::Client,
}

impl Endpoint {
    /// Asks about `token`. A bearer refused with 401 is dropped from its source and the call
    /// made once more with a fresh one.
    pub(super) async fn ask(&self, token: &str, timeout: Duration) -> Result<Answer, CallError> {
        let own = match &self.auth {
            EndpointAuth::Bearer(source) => Some(source.token().await.map_err(|_| CallError::OwnToken)?),
            _ => None,
        };
        let res = self.send(token, own.as_ref().map(|t| t.secret()), timeout).await?;
        let res = match (&self.auth, own) {
            (EndpointAuth::Bearer(source), Some(own))
                if res.status() == reqwest::StatusCode::UNAUTHORIZED =>
            {
                // Our own token expired or was revoked early: one fresh one, one more try.
                source.invalidate(&own);
                let fresh = source.token().await.map_err(|_| CallError::OwnToken)?;
                self.send(token, Some(fresh.secret()), timeout).await?
            }
            _ => res,
        };
        if res.url() != &self.url {
            return Err(CallError::Fetch(FetchError::Redirected));
        }
        if !res.status().is_success() {
            return Err(CallError::Fetch(FetchError::Status(res.status().as_u16())));
        }
        let body = read_capped(res, MAX_ANSWER_BYTES).await.map_err(CallError::Fetch)?;
        parse_answer(&body).ok_or(CallError::Fetch(FetchError::Malformed))
    }

    async fn send(
        &self,
        token: &str,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<reqwest::Response, CallError> {
        let mut req = self.http.post(self.url.clone()).header(ACCEPT, "application/json").timeout(timeout);
        req = match self.style {
            IntrospectionStyle::Permiso => req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::json!({ "token": token }).to_string()),
            IntrospectionStyle::Rfc7662 => {
                let mut form = vec![("token", token), ("token_type_hint", "access_token")];
                if let EndpointAuth::Post { client_id, secret } = &self.auth {
                    form.push(("client_id", client_id));
                    form.push(("client_secret", secret.expose()));
                }
                req.form(&form)
            }
        };
        req = match &self.auth {
            EndpointAuth::Basic { client_id, secret } => {
                req.header(AUTHORIZATION, basic(client_id, secret.expose()))
            }
            _ => req,
        };
        if let Some(bearer) = bearer {
            let mut value =
                HeaderValue::try_from(format!("Bearer {bearer}")).map_err(|_| CallError::OwnToken)?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        req.send().await.map_err(|_| CallError::Fetch(FetchError::Unreachable))
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1), marked sensitive.
fn basic(client_id: &str, secret: &str) -> HeaderValue {
    use base64::Engine as _;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// An RFC 7662 answer: a JSON object whose `active` is a boolean; anything else is not one.
fn parse_answer(body: &[u8]) -> Option<Answer> {
    let Value::Object(mut map) = serde_json::from_slice(body).ok()? else { return None };
    match map.remove("active")? {
        Value::Bool(true) => Some(Answer::Active(map)),
        Value::Bool(false) => Some(Answer::Inactive),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_boolean_active_makes_an_answer() {
        assert!(
            matches!(parse_answer(br#"{"active":true,"scope":"a"}"#), Some(Answer::Active(m)) if m.len() == 1)
        );
        assert!(matches!(parse_answer(br#"{"active":false}"#), Some(Answer::Inactive)));
        for garbage in [&b"[]"[..], b"{}", br#"{"active":"true"}"#, b"<html>", br#"{"active":1}"#] {
            assert!(parse_answer(garbage).is_none(), "{}", String::from_utf8_lossy(garbage));
        }
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        use base64::Engine as _;
        let value = basic("a b", "p:w%");
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(decoded, b"a+b:p%3Aw%25");
        assert!(value.is_sensitive());
    }
}
