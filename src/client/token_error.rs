//! Why no token could be had, typed by the token endpoint's RFC 6749 error code; and what a
//! target's 401 asks of the caller.

use std::fmt;

use serde::Deserialize;

/// What kind of failure a [`TokenError`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// `invalid_client`: unknown client or wrong secret.
    InvalidClient,
    /// `invalid_scope`: none of the requested scopes may be granted.
    InvalidScope,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_request` (permiso's `validation_error` too).
    InvalidRequest,
    /// permiso's `client_disabled`.
    ClientDisabled,
    /// Another error code from the server.
    Other(String),
    /// The endpoint could not be reached, or kept answering 5xx/429, after the retries.
    Unavailable,
    /// The answer was not an RFC 6749 token response.
    MalformedResponse,
    /// Discovery failed or the endpoint URL is not acceptable.
    Endpoint,
}

/// Why no token could be had. Keeps the server's `error_description`, the endpoint asked
/// (scheme, host, port and path: no credentials, no query), the HTTP status and the transport
/// error; never holds the secret.
///
/// ```
/// # use permiso::client::{TokenError, TokenErrorKind};
/// fn explain(err: &TokenError) -> String {
///     // e.g. "the token endpoint's answer is not a token response
///     //       (http://127.0.0.1:8000/api/v1/auth/service-token answered HTTP 404)"
///     match (err.kind(), err.status()) {
///         (TokenErrorKind::InvalidClient, _) => "check the client id and secret".into(),
///         (_, Some(404)) => format!("is AUTH_SERVICE_URL right? {err}"),
///         _ => err.to_string(),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct TokenError {
    kind: TokenErrorKind,
    status: Option<u16>,
    description: Option<String>,
    endpoint: Option<String>,
    cause: Option<String>,
}

impl TokenError {
    pub(super) fn new(kind: TokenErrorKind) -> Self {
        Self { kind, status: None, description: None, endpoint: None, cause: None }
    }

    pub(super) fn with(mut self, status: Option<u16>, description: Option<String>) -> Self {
        self.status = status;
        self.description = description;
        self
    }

    /// Notes the endpoint that was asked, unless one is noted already.
    pub(super) fn at(mut self, url: &url::Url) -> Self {
        if self.endpoint.is_none() {
            self.endpoint = Some(shown_url(url));
        }
        self
    }

    /// Notes the transport error behind an endpoint that could not be reached: reqwest's
    /// error and its causes (connection refused, timed out, certificate…), without its URL.
    pub(super) fn caused_by(mut self, err: reqwest::Error) -> Self {
        let err = err.without_url();
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let line = cause.to_string();
            if !text.contains(&line) {
                text.push_str(": ");
                text.push_str(&line);
            }
            source = cause.source();
        }
        self.cause = Some(text.chars().filter(|c| !c.is_control()).take(300).collect());
        self
    }

    /// The endpoint that was asked: scheme, host, port and path (never credentials or a query).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The transport error when the endpoint could not be reached or read.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// The kind.
    pub fn kind(&self) -> &TokenErrorKind {
        &self.kind
    }

    /// The HTTP status of the token endpoint's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's `error_description`, or what went wrong.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub(super) fn malformed_token() -> Self {
        Self::new(TokenErrorKind::MalformedResponse)
            .with(None, Some("the access token cannot be sent in a header".into()))
    }

    pub(super) fn retryable(&self) -> bool {
        self.kind == TokenErrorKind::Unavailable
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = match &self.kind {
            TokenErrorKind::InvalidClient => "invalid_client",
            TokenErrorKind::InvalidScope => "invalid_scope",
            TokenErrorKind::InvalidGrant => "invalid_grant",
            TokenErrorKind::UnauthorizedClient => "unauthorized_client",
            TokenErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            TokenErrorKind::InvalidRequest => "invalid_request",
            TokenErrorKind::ClientDisabled => "client_disabled",
            TokenErrorKind::Other(code) => code,
            TokenErrorKind::Unavailable => "the token endpoint is unavailable",
            TokenErrorKind::MalformedResponse => "the token endpoint's answer is not a token response",
            TokenErrorKind::Endpoint => "the token endpoint cannot be used",
        };
        write!(f, "{code}")?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        match (&self.endpoint, self.status, &self.cause) {
            (Some(url), Some(status), _) => write!(f, " ({url} answered HTTP {status})"),
            (Some(url), None, Some(cause)) => write!(f, " ({url}: {cause})"),
            (Some(url), None, None) => write!(f, " ({url})"),
            (None, Some(status), _) => write!(f, " (HTTP {status})"),
            (None, None, Some(cause)) => write!(f, " ({cause})"),
            (None, None, None) => Ok(()),
        }
    }
}

/// `url` as errors show it: scheme, host, port and path; never user info, query or fragment.
pub(super) fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl std::error::Error for TokenError {}

#[derive(Deserialize)]
struct ErrorResponse {
    error: Option<String>,
    error_description: Option<serde_json::Value>,
}

/// RFC 6749 §5.2 errors (and permiso's `validation_error`/`client_disabled`).
pub(super) fn parse_error(status: u16, body: &[u8], secret: &str) -> TokenError {
    let parsed: Option<ErrorResponse> = serde_json::from_slice(body).ok();
    let (code, description) = match parsed {
        // Only a string description is kept: a structured one (a 422 listing the submitted
        // form, say) may carry the secret.
        Some(e) => (e.error, e.error_description.and_then(|d| safe_description(d, secret))),
        None => (None, None),
    };
    let kind = match code.as_deref() {
        Some("invalid_client") => TokenErrorKind::InvalidClient,
        Some("invalid_scope") => TokenErrorKind::InvalidScope,
        Some("invalid_grant") => TokenErrorKind::InvalidGrant,
        Some("unauthorized_client") => TokenErrorKind::UnauthorizedClient,
        Some("unsupported_grant_type") => TokenErrorKind::UnsupportedGrantType,
        Some("invalid_request" | "validation_error") => TokenErrorKind::InvalidRequest,
        Some("client_disabled") => TokenErrorKind::ClientDisabled,
        Some(other) => TokenErrorKind::Other(other.to_owned()),
        None if status == 401 => TokenErrorKind::InvalidClient,
        None => TokenErrorKind::MalformedResponse,
    };
    let description = match (&kind, description) {
        (TokenErrorKind::MalformedResponse, None) if status == 404 || status == 405 => {
            Some("no token endpoint at this URL (check AUTH_SERVICE_URL or {NAME}_TOKEN_URL)".to_owned())
        }
        (_, description) => description,
    };
    TokenError::new(kind).with(Some(status), description)
}

/// The longest `error_description` kept, in characters.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// A token endpoint's `error_description` fit for errors and logs: a string, without control
/// characters, at most 200 characters, and never holding the client secret (a description
/// that echoes it is replaced whole).
fn safe_description(value: serde_json::Value, secret: &str) -> Option<String> {
    let serde_json::Value::String(text) = value else {
        return None;
    };
    if !secret.is_empty() && text.contains(secret) {
        return Some("(withheld: the description repeated the client secret)".to_owned());
    }
    // The whole text was checked above, so no cut here can keep part of the secret.
    Some(text.chars().filter(|c| !c.is_control()).take(MAX_DESCRIPTION_CHARS).collect())
}

/// Whether a target's 401 calls for a new token: its challenge says `invalid_token`, or names
/// no error at all (RFC 6750 §3.1). Any other error (`invalid_request`, …) is not cured by a
/// new token.
pub(crate) fn wants_new_token(headers: &http::HeaderMap) -> bool {
    let mut challenges = headers.get_all(http::header::WWW_AUTHENTICATE).iter().peekable();
    if challenges.peek().is_none() {
        return true;
    }
    // A challenge that cannot be read asks for nothing. When one names an error, that error
    // decides (a server accepting DPoP and Bearer names it in one challenge and leaves the
    // other bare); when none does, the 401 itself asks for a new token.
    let errors: Vec<Option<&str>> =
        challenges.filter_map(|v| v.to_str().ok().and_then(error_param)).collect();
    if errors.iter().any(Option::is_some) {
        errors.contains(&Some("invalid_token"))
    } else {
        !errors.is_empty()
    }
}

/// Whether a response asks for a DPoP nonce: a challenge with `error="use_dpop_nonce"`
/// (RFC 9449 §9).
pub(crate) fn wants_dpop_nonce(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .any(|v| v.to_str().ok().and_then(error_param) == Some(Some("use_dpop_nonce")))
}

/// The `error` auth-param of a challenge (`Bearer realm="x", error="invalid_token"`), quoted
/// or not: `Some(None)` when there is none, `None` when the challenge is malformed.
fn error_param(challenge: &str) -> Option<Option<&str>> {
    let mut rest = challenge.trim_start();
    // Skip the scheme.
    rest = rest.split_once(' ').map_or("", |(_, r)| r);
    loop {
        rest = rest.trim_start_matches([' ', ',', '\t']);
        if rest.is_empty() {
            return Some(None);
        }
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            // A quoted-string: up to the first unescaped quote.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        if name.trim().eq_ignore_ascii_case("error") {
            return Some(Some(value.trim()));
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_typed_and_keep_the_description() {
        let e = parse_error(
            401,
            br#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#,
            "s3cret-value",
        );
        assert_eq!(e.kind(), &TokenErrorKind::InvalidClient);
        assert_eq!(e.description(), Some("Invalid client credentials"));
        assert_eq!(e.to_string(), "invalid_client: Invalid client credentials (HTTP 401)");
        let e =
            parse_error(422, br#"{"error":"validation_error","error_description":[{"loc":["body"]}]}"#, "x");
        assert_eq!(e.kind(), &TokenErrorKind::InvalidRequest);
        assert_eq!(e.description(), None);
        assert_eq!(
            parse_error(403, br#"{"error":"client_disabled"}"#, "x").kind(),
            &TokenErrorKind::ClientDisabled
        );
        assert_eq!(
            parse_error(400, br#"{"error":"slow_down"}"#, "x").kind(),
            &TokenErrorKind::Other("slow_down".into())
        );
        assert_eq!(parse_error(400, b"<html>", "x").kind(), &TokenErrorKind::MalformedResponse);
    }

    #[test]
    fn a_description_never_carries_the_secret() {
        let secret = "Sup3r-s3cret-0123456789";
        // permiso's 422 echoes the submitted form as a list of validation errors.
        let echo = format!(
            r#"{{"error":"validation_error","error_description":[{{"loc":["body","scope"],"input":{{"client_id":"payment-service","client_secret":"{secret}"}}}}]}}"#
        );
        let as_string = format!(
            r#"{{"error":"invalid_request","error_description":"bad form: client_secret={secret}"}}"#
        );
        let long =
            format!(r#"{{"error":"invalid_request","error_description":"{}{secret}"}}"#, "x".repeat(190));
        for body in [echo, as_string, long] {
            let e = parse_error(422, body.as_bytes(), secret);
            let shown = format!("{e} {e:?} {:?}", e.description());
            assert!(!shown.contains("Sup3r"), "{shown}");
        }
        let huge =
            format!(r#"{{"error":"invalid_request","error_description":"{}\u0007"}}"#, "y".repeat(5000));
        let e = parse_error(400, huge.as_bytes(), secret);
        assert_eq!(e.description().unwrap().chars().count(), 200);
    }

    #[test]
    fn only_invalid_token_or_no_error_asks_for_a_new_token() {
        let wants = |values: &[&str]| {
            let mut h = http::HeaderMap::new();
            for v in values {
                h.append(http::header::WWW_AUTHENTICATE, v.parse().unwrap());
            }
            wants_new_token(&h)
        };
        assert!(wants(&[]));
        assert!(wants(&["Bearer"]));
        assert!(wants(&[r#"Bearer realm="payments""#]));
        assert!(wants(&[r#"Bearer realm="a, b", error="invalid_token", error_description="expired""#]));
        assert!(wants(&["Bearer error=invalid_token"]));
        assert!(!wants(&[r#"Bearer realm="p", error="invalid_request""#]));
        assert!(!wants(&[r#"Bearer error_description="error=invalid_token", error="insufficient_scope""#]));
        assert!(!wants(&[r#"Bearer realm="p\"q", error="invalid_request""#]));
        assert!(!wants(&["Bearer error=\"unterminated"]));
    }
}
