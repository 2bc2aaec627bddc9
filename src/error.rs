//! Why a request was not let in, and how that is said over HTTP.
//!
//! Verification returns an [`AuthError`]; only the edge (the layer, the extractors' rejections)
//! turns it into a response with [`AuthError::to_response`]:
//!
//! | status | `error` | when |
//! |---|---|---|
//! | 401 | none in the challenge (`Bearer realm="…"`); `"unauthorized"` in the body | no bearer token was sent (another scheme such as `Basic` counts as none) |
//! | 400 | `invalid_request` | the `Authorization` header is malformed or repeated, or the token is also in the URL |
//! | 401 | `invalid_token` | the token is malformed, expired, not yet valid, for another audience, from an unknown issuer, signed with a disallowed algorithm or an unknown key, or its signature is wrong; it is revoked; it is bound to a key (`cnf`) without a verified proof; it is not a service token (or is a refresh token) |
//! | 401 | `invalid_dpop_proof` | DPoP: the proof is missing, malformed, stale, replayed, or does not match the request or the token |
//! | 401 | `use_dpop_nonce` | DPoP: the server issues nonces and the proof has none of its own, or an expired one (with `DPoP-Nonce`) |
//! | 401 | `invalid_token` | introspection: the issuer says the token is not active |
//! | 401 | `invalid_signature` | request signing: not signed, stale, does not match, already used, no secret for the client |
//! | 403 | `insufficient_scope` | the token lacks a required scope, or its client is not trusted |
//! | 413 | `invalid_request` | request signing: the body is larger than allowed |
//! | 429 | `rate_limited` | the client is over its rate limit (with `Retry-After`) |
//! | 503 | `temporarily_unavailable` | the issuer's keys, the revocation list, the rate-limit store, the replay store or the introspection endpoint cannot answer (with `Retry-After`) |
//! | 500 | `server_error` (body only) | an extractor or `RequireLayer` without `AuthLayer`, or layers in the wrong order: a bug in the service |
//!
//! Descriptions are fixed texts chosen here: they name the reason, never the token, a key or
//! a secret.
//!
//! ```
//! use permiso::{AuthError, AuthErrorKind};
//!
//! let err = AuthError::new(AuthErrorKind::Expired);
//! let response = err.to_response("payments");
//! assert_eq!(response.status(), 401);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer realm="payments", error="invalid_token", error_description="the token has expired""#
//! );
//! assert_eq!(
//!     std::str::from_utf8(response.body()).unwrap(),
//!     r#"{"error":"invalid_token","error_description":"the token has expired"}"#
//! );
//! ```

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

pub use crate::config_error::{ConfigError, ConfigErrorKind};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

/// What went wrong, as a category. Each kind has one HTTP status and RFC 6750 error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No bearer token was presented. 401 without an `error` parameter (RFC 6750 §3.1).
    MissingToken,
    /// The `Authorization` header is malformed (`Bearer` with no token or two words) or
    /// repeated, the token is also in the URL (`access_token`), or the `DPoP` scheme is used
    /// where DPoP is off. 400 `invalid_request`. (Another scheme alone, such as `Basic`, is no
    /// bearer token: [`MissingToken`](Self::MissingToken).)
    InvalidRequest,
    /// The token is larger than the configured limit. 401 `invalid_token`.
    TokenTooLarge,
    /// The token is not a well-formed compact JWS. 401 `invalid_token`.
    MalformedToken,
    /// The header names an algorithm that is not allowed for this issuer or key. 401.
    UnsupportedAlgorithm,
    /// The header uses a feature that is not supported (`crit`, unencoded payload). 401.
    UnsupportedHeader,
    /// The `typ` header is not one this issuer accepts. 401.
    InvalidTokenType,
    /// The `iss` claim names no configured issuer. 401.
    UnknownIssuer,
    /// No key of the issuer matches the token's `kid` and algorithm. 401.
    UnknownKey,
    /// The signature does not verify. 401.
    InvalidSignature,
    /// A claim is missing or has the wrong type or value. 401.
    InvalidClaim,
    /// `exp` is in the past (beyond the leeway). 401.
    Expired,
    /// `nbf` is in the future, or `iat` is (beyond the leeway). 401.
    NotYetValid,
    /// `aud` names none of the configured audiences. 401.
    InvalidAudience,
    /// The token was revoked. 401.
    Revoked,
    /// The token is bound to a key (`cnf`, RFC 7800) and no proof of possession was
    /// verified, so it may be a stolen copy. 401.
    SenderConstrained,
    /// A required scope is missing. 403 `insufficient_scope` with `scope="…"`.
    InsufficientScope,
    /// Not a service token (a user's token, `type` missing or not `"service"`): `AuthLayer`
    /// refuses it on every route unless told to accept any access token, and `ServiceClient`
    /// always; or a refresh token, refused everywhere; or it names no client where the route
    /// needs one. 401 `invalid_token`, as the permiso server answers it.
    NotServiceToken,
    /// The route is for trusted clients and this client is not trusted. 403 `insufficient_scope`.
    UntrustedClient,
    /// No key can be had because the issuer's key server is unreachable. 503 with `Retry-After`.
    KeysUnavailable,
    /// The revocation list could not answer in time and revocation rejects on error. 503
    /// with `Retry-After`.
    RevocationUnavailable,
    /// Request signing: the request carries no `X-Timestamp`/`X-Signature` (or only one, or
    /// a malformed one) where signatures are required. 401 `invalid_signature`.
    SignatureMissing,
    /// Request signing: `X-Timestamp` is outside the accepted window. 401 `invalid_signature`.
    SignatureStale,
    /// Request signing: `X-Signature` does not match the request. 401 `invalid_signature`.
    SignatureMismatch,
    /// Request signing: this signature was already used within the window. 401
    /// `invalid_signature`.
    SignatureReplayed,
    /// Request signing: no signing secret is configured for the token's client. 401
    /// `invalid_signature`.
    SignatureUnknownClient,
    /// The request body is larger than the configured cap. 413 `invalid_request`.
    PayloadTooLarge,
    /// DPoP: the proof is missing, repeated, malformed, signed with a disallowed algorithm or
    /// another key, or does not match the request (method, URL) or the token (`ath`). 401
    /// `invalid_dpop_proof`; the description says which.
    InvalidDpopProof,
    /// DPoP: the proof's `iat` is outside the accepted window. 401 `invalid_dpop_proof`.
    DpopProofStale,
    /// DPoP: this proof (its `jti`) was already used. 401 `invalid_dpop_proof`.
    DpopProofReplayed,
    /// DPoP: this server issues nonces and the proof has none, an expired one, or another
    /// server's. 401 `use_dpop_nonce` with a `DPoP-Nonce` header to retry with (RFC 9449 §9).
    UseDpopNonce,
    /// DPoP is required here and the token was presented as `Bearer` or is not bound to a
    /// key. 401 `invalid_token`.
    DpopRequired,
    /// DPoP: the token presented with the `DPoP` scheme is not bound to a key (`cnf.jkt`).
    /// 401 `invalid_token`.
    DpopUnbound,
    /// RFC 8705: the token is bound to a client certificate (`cnf.x5t#S256`) and the request
    /// presented none, or another. 401 `invalid_token`.
    CertificateMismatch,
    /// RFC 8705: this service accepts only certificate-bound tokens and the token is not
    /// bound to a certificate. 401 `invalid_token`.
    CertificateRequired,
    /// The client sent more requests than its rate limit allows. 429 `rate_limited`, with
    /// `Retry-After`.
    RateLimited,
    /// The rate-limit store could not answer and rate limits reject on error. 503 with
    /// `Retry-After`.
    RateLimitUnavailable,
    /// Request signing or DPoP: the replay store cannot tell whether this signature or
    /// proof was used before (Redis cannot answer and the replay store rejects on error, or
    /// the memory is full of signatures and proofs still inside their window). 503 with
    /// `Retry-After`.
    ReplayStoreUnavailable,
    /// Introspection (RFC 7662): the issuer's introspection endpoint says the token is not
    /// active (unknown, expired, revoked there). 401 `invalid_token`.
    Inactive,
    /// Introspection (RFC 7662): the issuer's introspection endpoint could not answer in time
    /// (unreachable, slow, an error status, or an answer that is not RFC 7662's). 503
    /// `temporarily_unavailable` with `Retry-After`: the caller's token may be good.
    IntrospectionUnavailable,
    /// An extractor or `RequireLayer` ran without an `AuthLayer` before it: a bug in the
    /// service, never a pass. 500 with `"error": "server_error"` and no `WWW-Authenticate`.
    MissingAuthLayer,
}

impl AuthErrorKind {
    /// The HTTP status this kind is answered with.
    pub fn status(self) -> StatusCode {
        use AuthErrorKind::*;
        match self {
            InvalidRequest => StatusCode::BAD_REQUEST,
            InsufficientScope | UntrustedClient => StatusCode::FORBIDDEN,
            KeysUnavailable
            | RevocationUnavailable
            | RateLimitUnavailable
            | ReplayStoreUnavailable
            | IntrospectionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            MissingAuthLayer => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 error code, or `None` for a missing token (and for a missing layer,
    /// which is no authentication error).
    pub fn error_code(self) -> Option<&'static str> {
        use AuthErrorKind::*;
        Some(match self {
            MissingToken | MissingAuthLayer => return None,
            InvalidRequest | PayloadTooLarge => "invalid_request",
            SignatureMissing
            | SignatureStale
            | SignatureMismatch
            | SignatureReplayed
            | SignatureUnknownClient => "invalid_signature",
            InsufficientScope | UntrustedClient => "insufficient_scope",
            KeysUnavailable
            | RevocationUnavailable
            | RateLimitUnavailable
            | ReplayStoreUnavailable
            | IntrospectionUnavailable => "temporarily_unavailable",
            RateLimited => "rate_limited",
            InvalidDpopProof | DpopProofStale | DpopProofReplayed => "invalid_dpop_proof",
            UseDpopNonce => "use_dpop_nonce",
            _ => "invalid_token",
        })
    }

    /// A stable `snake_case` name for this kind, for metrics labels and logs: `expired`,
    /// `insufficient_scope`, `rate_limited`… (one per kind, unlike the RFC 6750 code).
    ///
    /// ```
    /// use permiso::AuthErrorKind;
    /// assert_eq!(AuthErrorKind::Expired.reason(), "expired");
    /// assert_eq!(AuthErrorKind::MissingToken.reason(), "missing_token");
    /// ```
    pub fn reason(self) -> &'static str {
        use AuthErrorKind::*;
        match self {
            MissingToken => "missing_token",
            InvalidRequest => "invalid_request",
            TokenTooLarge => "token_too_large",
            MalformedToken => "malformed_token",
            UnsupportedAlgorithm => "unsupported_algorithm",
            UnsupportedHeader => "unsupported_header",
            InvalidTokenType => "invalid_token_type",
            UnknownIssuer => "unknown_issuer",
            UnknownKey => "unknown_key",
            InvalidSignature => "invalid_token_signature",
            InvalidClaim => "invalid_claim",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            InvalidAudience => "invalid_audience",
            Revoked => "revoked",
            SenderConstrained => "sender_constrained",
            InsufficientScope => "insufficient_scope",
            NotServiceToken => "not_service_token",
            UntrustedClient => "untrusted_client",
            KeysUnavailable => "keys_unavailable",
            RevocationUnavailable => "revocation_unavailable",
            SignatureMissing => "signature_missing",
            SignatureStale => "signature_stale",
            SignatureMismatch => "signature_mismatch",
            SignatureReplayed => "signature_replayed",
            SignatureUnknownClient => "signature_unknown_client",
            PayloadTooLarge => "payload_too_large",
            RateLimited => "rate_limited",
            RateLimitUnavailable => "rate_limit_unavailable",
            ReplayStoreUnavailable => "replay_store_unavailable",
            InvalidDpopProof => "invalid_dpop_proof",
            DpopProofStale => "dpop_proof_stale",
            DpopProofReplayed => "dpop_proof_replayed",
            UseDpopNonce => "use_dpop_nonce",
            DpopRequired => "dpop_required",
            DpopUnbound => "dpop_unbound",
            CertificateMismatch => "certificate_mismatch",
            CertificateRequired => "certificate_required",
            Inactive => "inactive",
            IntrospectionUnavailable => "introspection_unavailable",
            MissingAuthLayer => "missing_auth_layer",
        }
    }

    fn default_description(self) -> &'static str {
        use AuthErrorKind::*;
        match self {
            MissingToken => "a bearer token is required",
            InvalidRequest => "the Authorization header is malformed",
            TokenTooLarge => "the token is larger than allowed",
            MalformedToken => "the token is not a well-formed JWT",
            UnsupportedAlgorithm => "the token's algorithm is not allowed",
            UnsupportedHeader => "the token's header uses an unsupported feature",
            InvalidTokenType => "the token's typ header is not accepted",
            UnknownIssuer => "the token's issuer is not accepted",
            UnknownKey => "no key matches the token",
            InvalidSignature => "the token's signature is invalid",
            InvalidClaim => "a claim of the token is missing or invalid",
            Expired => "the token has expired",
            NotYetValid => "the token is not valid yet",
            InvalidAudience => "the token is not meant for this audience",
            Revoked => "the token has been revoked",
            InsufficientScope => "the token lacks a required scope",
            SenderConstrained => "the token is bound to a key and no proof of possession was verified",
            NotServiceToken => "not a service token",
            UntrustedClient => "this route is for trusted clients only",
            KeysUnavailable => "the issuer's keys are temporarily unavailable",
            RevocationUnavailable => "the revocation list cannot be checked right now",
            SignatureMissing => "the request is not signed (X-Timestamp and X-Signature are required)",
            SignatureStale => "the request's X-Timestamp is outside the accepted window",
            SignatureMismatch => "the request's X-Signature does not match the request",
            SignatureReplayed => "this request signature was already used",
            SignatureUnknownClient => "no signing secret is configured for this client",
            PayloadTooLarge => "the request body is larger than allowed",
            RateLimited => "this client has sent more requests than its rate limit allows",
            InvalidDpopProof => "the DPoP proof is invalid",
            DpopProofStale => "the DPoP proof's iat is outside the accepted window",
            DpopProofReplayed => "this DPoP proof was already used",
            UseDpopNonce => "a DPoP nonce from this server is required",
            DpopRequired => "a DPoP-bound token with its proof is required",
            DpopUnbound => "the token is not bound to a DPoP key",
            CertificateMismatch => {
                "the token is bound to a client certificate that the request did not present"
            }
            CertificateRequired => "a token bound to the client's TLS certificate is required",
            RateLimitUnavailable => "the rate limit cannot be checked right now",
            ReplayStoreUnavailable => "whether this request was seen before cannot be checked right now",
            Inactive => "the token is not active",
            IntrospectionUnavailable => "the token cannot be checked with its issuer right now",
            MissingAuthLayer => "authentication is not configured for this route (is AuthLayer applied?)",
        }
    }
}

impl fmt::Display for AuthErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.default_description())
    }
}

/// Why a request was not let in.
///
/// Each kind has one answer over HTTP:
///
/// | status | `error` | when |
/// |---|---|---|
/// | 401 | *(none)* | no bearer token was sent |
/// | 400 | `invalid_request` | the `Authorization` header is malformed or repeated |
/// | 401 | `invalid_token` | the token is malformed, expired, not yet valid, for another audience, from an unknown issuer, signed with a disallowed algorithm or an unknown key, or its signature is wrong; it is bound to a key (`cnf`) without a verified proof; or the route needs a service token and it is not one |
/// | 403 | `insufficient_scope` | the token lacks a required scope, or its client is not trusted |
/// | 401 | `invalid_signature` | request signing: missing, stale, mismatched, replayed, or an unknown client |
/// | 413 | `invalid_request` | the request body is larger than the signature check reads |
/// | 401 | `invalid_token` | the token was revoked, or has no `jti` while revocation is on |
/// | 429 | `rate_limited` | the client is over its rate limit (with `Retry-After` and `RateLimit` headers) |
/// | 401 | `invalid_token` | introspection: the issuer says the token is not active |
/// | 503 | `temporarily_unavailable` | no key can be had because the issuer's key server is unreachable, or the revocation list, rate-limit store or introspection endpoint cannot answer (with `Retry-After`) |
/// | 500 | `server_error` (body only) | an extractor or `RequireLayer` without `AuthLayer`: a bug in the service |
///
/// Descriptions are fixed texts chosen here: they name the reason, never the token, a key or
/// a secret.
///
/// Opaque: read it with [`kind`](Self::kind), [`status`](Self::status) and
/// [`description`](Self::description); render it with [`to_response`](Self::to_response).
/// Cheap to clone.
///
/// ```
/// use permiso::{AuthError, AuthErrorKind};
///
/// let err = AuthError::insufficient_scope(["read:transactions", "read:users"]);
/// assert_eq!(err.kind(), AuthErrorKind::InsufficientScope);
/// assert_eq!(err.status(), 403);
/// assert_eq!(err.required_scope(), Some("read:transactions read:users"));
/// ```
#[derive(Clone)]
pub struct AuthError {
    kind: AuthErrorKind,
    description: Cow<'static, str>,
    scope: Option<Box<str>>,
    retry_after: Option<u64>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
    about: Option<Box<About>>,
    /// What the layer adds to the challenges (boxed: rejections stay small).
    challenge: Option<Box<ChallengeParams>>,
}

/// The layer's additions to an error's challenges.
#[derive(Clone, Default)]
struct ChallengeParams {
    /// The `DPoP` challenge, when the layer accepts DPoP.
    dpop: Option<Arc<DpopChallenge>>,
    /// RFC 9728 `resource_metadata="…"`, added to a 401's challenges.
    resource_metadata: Option<Arc<str>>,
    /// The `DPoP-Nonce` header of a `use_dpop_nonce` answer.
    dpop_nonce: Option<Box<str>>,
}

/// What is known about the request a rejection refused, for logs and metrics only (never
/// sent): the configured issuer it named, the token's `kid` (cut short, printable only), and
/// the client id of a verified token.
#[derive(Clone, Default)]
pub(crate) struct About {
    pub(crate) issuer: Option<Arc<str>>,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) client_id: Option<Box<str>>,
    /// The request used the `DPoP` scheme (or its verified token is DPoP-bound).
    pub(crate) dpop: bool,
}

/// `value` for a log line: at most `max` characters, each one printable ASCII (others `?`),
/// so a caller cannot forge or hide log lines with what it sends.
pub(crate) fn printable(value: &str, max: usize) -> Cow<'_, str> {
    if value.len() <= max && value.bytes().all(|b| b.is_ascii_graphic()) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.chars().take(max).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect())
    }
}

/// The `DPoP` challenge of a layer that accepts the scheme (RFC 9449 §7.1).
#[derive(Clone, Debug)]
pub(crate) struct DpopChallenge {
    /// `algs="…"`: the proof algorithms accepted.
    pub(crate) algs: Arc<str>,
    /// Whether `Bearer` is accepted too (a second challenge).
    pub(crate) bearer: bool,
}

impl AuthError {
    /// An error of this kind with its default description.
    pub fn new(kind: AuthErrorKind) -> Self {
        Self {
            kind,
            description: Cow::Borrowed(kind.default_description()),
            scope: None,
            retry_after: None,
            source: None,
            about: None,
            challenge: None,
        }
    }

    /// Notes the configured issuer the request named (logs and metrics only).
    pub(crate) fn about_issuer(mut self, issuer: &Arc<str>) -> Self {
        self.about.get_or_insert_with(Box::default).issuer = Some(Arc::clone(issuer));
        self
    }

    /// Notes the token's `kid`, cut to 64 printable ASCII characters (logs only).
    pub(crate) fn about_kid(mut self, kid: Option<&str>) -> Self {
        if let Some(kid) = kid {
            self.about.get_or_insert_with(Box::default).kid = Some(printable(kid, 64).into());
        }
        self
    }

    /// Notes the verified client (logs, and metrics when client ids are on).
    pub(crate) fn about_client(mut self, client_id: Option<&str>) -> Self {
        if let Some(id) = client_id {
            self.about.get_or_insert_with(Box::default).client_id = Some(id.into());
        }
        self
    }

    /// Notes that the request used the `DPoP` scheme: its challenge carries the error.
    pub(crate) fn about_dpop(mut self) -> Self {
        self.about.get_or_insert_with(Box::default).dpop = true;
        self
    }

    /// The server nonce a `use_dpop_nonce` answer gives (`DPoP-Nonce`).
    pub(crate) fn with_dpop_nonce(mut self, nonce: String) -> Self {
        self.challenge.get_or_insert_with(Box::default).dpop_nonce = Some(nonce.into());
        self
    }

    /// Names the service's RFC 9728 metadata in a 401's challenges.
    pub(crate) fn with_resource_metadata(mut self, url: &Arc<str>) -> Self {
        self.challenge.get_or_insert_with(Box::default).resource_metadata = Some(Arc::clone(url));
        self
    }

    /// Adds the layer's `DPoP` challenge to the response.
    pub(crate) fn with_dpop_challenge(mut self, challenge: &Arc<DpopChallenge>) -> Self {
        self.challenge.get_or_insert_with(Box::default).dpop = Some(Arc::clone(challenge));
        self
    }

    pub(crate) fn about(&self) -> Option<&About> {
        self.about.as_deref()
    }

    /// A 403 naming the scopes that were required (space-separated in `scope="…"`).
    pub fn insufficient_scope<'a>(required: impl IntoIterator<Item = &'a str>) -> Self {
        let mut scope = String::new();
        for s in required {
            if !scope.is_empty() {
                scope.push(' ');
            }
            scope.push_str(s);
        }
        let mut err = Self::new(AuthErrorKind::InsufficientScope);
        err.scope = Some(scope.into());
        err
    }

    /// A 503 saying when to try again.
    pub fn keys_unavailable(retry_after_secs: u64) -> Self {
        let mut err = Self::new(AuthErrorKind::KeysUnavailable);
        err.retry_after = Some(retry_after_secs);
        err
    }

    /// Replaces the description. It must not contain anything secret: it is sent to the caller.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Attaches the underlying cause, reported through [`std::error::Error::source`] (never
    /// sent to the caller).
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Sets the `Retry-After` seconds.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The category.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The human-readable reason sent as `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// For [`AuthErrorKind::InsufficientScope`], the scopes that were required.
    pub fn required_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Seconds after which a retry may succeed (for 503).
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The `WWW-Authenticate` value: `Bearer realm="…", error="…", error_description="…"`,
    /// plus `scope="…"` for a missing scope (RFC 6750 §3).
    pub fn www_authenticate(&self, realm: &str) -> HeaderValue {
        self.challenge("Bearer", realm, None, true)
    }

    /// One challenge: `<scheme> realm="…"[, algs="…"]`, then the error parameters when
    /// `with_error`.
    fn challenge(&self, scheme: &str, realm: &str, algs: Option<&str>, with_error: bool) -> HeaderValue {
        let mut v = String::with_capacity(96);
        v.push_str(scheme);
        v.push_str(" realm=\"");
        push_quoted(&mut v, realm);
        v.push('"');
        if let Some(algs) = algs {
            v.push_str(", algs=\"");
            push_quoted(&mut v, algs);
            v.push('"');
        }
        let metadata = self.challenge.as_ref().and_then(|c| c.resource_metadata.as_deref());
        if let Some(url) = metadata.filter(|_| self.status() == StatusCode::UNAUTHORIZED) {
            v.push_str(", resource_metadata=\"");
            push_quoted(&mut v, url);
            v.push('"');
        }
        if !with_error {
            return HeaderValue::try_from(v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        }
        if let Some(code) = self.kind.error_code() {
            v.push_str(", error=\"");
            v.push_str(code);
            v.push_str("\", error_description=\"");
            push_quoted(&mut v, &self.description);
            v.push('"');
            if let Some(scope) = &self.scope {
                v.push_str(", scope=\"");
                push_quoted(&mut v, scope);
                v.push('"');
            }
        }
        // Every byte pushed is visible ASCII or space, so this cannot fail.
        HeaderValue::try_from(v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// The JSON body: `{"error": …, "error_description": …}` (and `"scope"` for a missing
    /// scope). A missing token has `"error": "unauthorized"` in the body since RFC 6750 gives
    /// it no code.
    pub fn body(&self) -> Bytes {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            scope: Option<&'a str>,
        }
        let error = match self.kind {
            AuthErrorKind::MissingAuthLayer => "server_error",
            kind => kind.error_code().unwrap_or("unauthorized"),
        };
        let body = Body { error, error_description: &self.description, scope: self.scope.as_deref() };
        // Serializing strings into a Vec cannot fail.
        serde_json::to_vec(&body).map(Bytes::from).unwrap_or_default()
    }

    /// The whole response: status, `WWW-Authenticate` (not for a missing layer's 500),
    /// `Retry-After` when set,
    /// `Content-Type: application/json`, `Cache-Control: no-store`, and the body.
    pub fn to_response(&self, realm: &str) -> Response<Bytes> {
        let mut res = Response::new(self.body());
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        for challenge in self.challenges(realm) {
            headers.append(header::WWW_AUTHENTICATE, challenge);
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(nonce) = self.challenge.as_ref().and_then(|c| c.dpop_nonce.as_deref())
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert("dpop-nonce", value);
        }
        res
    }

    /// The `WWW-Authenticate` challenges, in order: what every rendering of this error (HTTP,
    /// gRPC trailers, `tonic::Status` metadata) carries. None for a missing layer's 500.
    pub(crate) fn challenges(&self, realm: &str) -> Vec<HeaderValue> {
        if self.kind == AuthErrorKind::MissingAuthLayer {
            return Vec::new();
        }
        let Some(dpop) = self.challenge.as_ref().and_then(|c| c.dpop.as_ref()) else {
            return vec![self.www_authenticate(realm)];
        };
        // RFC 9449 §7.1: the error goes in the challenge of the scheme the request used (DPoP
        // when only DPoP is accepted); the other accepted scheme gets a bare challenge. The
        // challenge with the error comes first, so a client reading one header reads the one
        // that explains the refusal.
        let used_dpop = self.about.as_ref().is_some_and(|a| a.dpop) || !dpop.bearer;
        let dpop_challenge = self.challenge("DPoP", realm, Some(&dpop.algs), used_dpop);
        match (used_dpop, dpop.bearer) {
            (true, true) => vec![dpop_challenge, self.challenge("Bearer", realm, None, false)],
            (true, false) => vec![dpop_challenge],
            (false, _) => vec![self.www_authenticate(realm), dpop_challenge],
        }
    }
}

/// Appends `s` as the inside of an RFC 7230 quoted string restricted to what RFC 6750 allows
/// in `error_description` (`%x20-21 / %x23-5B / %x5D-7E`): anything else becomes `?`.
fn push_quoted(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| match c {
        ' ' | '!' | '#'..='[' | ']'..='~' => c,
        _ => '?',
    }));
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AuthError");
        d.field("kind", &self.kind).field("description", &self.description);
        if let Some(scope) = &self.scope {
            d.field("scope", scope);
        }
        if let Some(secs) = self.retry_after {
            d.field("retry_after", &secs);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<AuthErrorKind> for AuthError {
    fn from(kind: AuthErrorKind) -> Self {
        Self::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn errors_are_send_sync_static() {
        assert_send_sync_static::<AuthError>();
        assert_send_sync_static::<ConfigError>();
    }

    #[test]
    fn missing_token_has_no_error_parameter() {
        let res = AuthError::new(AuthErrorKind::MissingToken).to_response("api");
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }

    #[test]
    fn statuses_and_codes() {
        use AuthErrorKind::*;
        let cases = [
            (InvalidRequest, 400, "invalid_request"),
            (MalformedToken, 401, "invalid_token"),
            (Expired, 401, "invalid_token"),
            (UnknownIssuer, 401, "invalid_token"),
            (InsufficientScope, 403, "insufficient_scope"),
            (UntrustedClient, 403, "insufficient_scope"),
            (NotServiceToken, 401, "invalid_token"),
            (SenderConstrained, 401, "invalid_token"),
            (CertificateMismatch, 401, "invalid_token"),
            (CertificateRequired, 401, "invalid_token"),
            (KeysUnavailable, 503, "temporarily_unavailable"),
        ];
        for (kind, status, code) in cases {
            let res = AuthError::new(kind).to_response("r");
            assert_eq!(res.status(), status, "{kind:?}");
            let www = res.headers()["www-authenticate"].to_str().unwrap();
            assert!(www.contains(&format!("error=\"{code}\"")), "{www}");
            let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(body["error"], code);
            assert_eq!(body["error_description"], kind.to_string());
        }
    }

    #[test]
    fn insufficient_scope_names_the_scope_in_header_and_body() {
        let res = AuthError::insufficient_scope(["read:a", "write:b"]).to_response("r");
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer realm=\"r\", error=\"insufficient_scope\", \
             error_description=\"the token lacks a required scope\", scope=\"read:a write:b\""
        );
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["scope"], "read:a write:b");
    }

    #[test]
    fn unavailable_sets_retry_after() {
        let res = AuthError::keys_unavailable(7).to_response("r");
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "7");
    }

    #[test]
    fn quotes_and_controls_never_break_the_header() {
        let err = AuthError::new(AuthErrorKind::InvalidClaim).with_description("a \"b\"\\\r\n\u{e9}");
        let www = err.www_authenticate("re\"alm");
        assert_eq!(www, "Bearer realm=\"re?alm\", error=\"invalid_token\", error_description=\"a ?b?????\"");
    }

    #[test]
    fn source_is_chained() {
        let io = std::io::Error::other("connection refused");
        let err = AuthError::keys_unavailable(1).with_source(io);
        assert_eq!(err.source().unwrap().to_string(), "connection refused");
    }
}
