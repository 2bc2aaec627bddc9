//! The calling side's one decision, shared by the reqwest middleware, the tower layer and the
//! gRPC layer: after a response, send the request again (with the nonce the target asked for,
//! or with a new token) or give the answer back.

use http::HeaderMap;

use super::source::{AccessToken, TokenSource};
use super::token_error::{TokenError, wants_dpop_nonce, wants_new_token};

/// What a response calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The answer stands: hand it back.
    Done,
    /// Send the request again with the same token and the nonce the target just gave
    /// (RFC 9449 §9), once.
    AgainWithNonce,
    /// Send the request again with a new token, once: the target refused the old one.
    AgainWithNewToken,
}

/// One outgoing call through a [`TokenSource`]: the token it carries, and what has been tried.
pub(crate) struct Exchange<'a> {
    source: &'a TokenSource,
    /// Where a target's `DPoP-Nonce` is kept: the request's origin, when it has one.
    origin: Option<String>,
    token: AccessToken,
    nonce_retried: bool,
    refetched: bool,
}

impl<'a> Exchange<'a> {
    /// Starts a call to `origin` (scheme://authority) with the source's current token.
    pub(crate) async fn start(source: &'a TokenSource, origin: Option<String>) -> Result<Self, TokenError> {
        let token = source.token().await?;
        Ok(Self::with_token(source, origin, token))
    }

    /// Starts a call with a token the caller already took from `source`.
    pub(crate) fn with_token(source: &'a TokenSource, origin: Option<String>, token: AccessToken) -> Self {
        Self { source, origin, token, nonce_retried: false, refetched: false }
    }

    /// The token the next send carries.
    pub(crate) fn token(&self) -> &AccessToken {
        &self.token
    }

    /// What to do after an answer: `refused` says whether it is the target's refusal of the
    /// credentials (HTTP 401, or gRPC `UNAUTHENTICATED`), `headers` are its headers (or
    /// trailers-only metadata), `can_resend` whether the request can be sent again (a
    /// streamed body cannot). A target's `DPoP-Nonce` is kept whatever the answer.
    pub(crate) async fn after(&mut self, refused: bool, headers: &HeaderMap, can_resend: bool) -> Next {
        let nonce_is_new = self.token.is_dpop_bound()
            && self.origin.as_deref().is_some_and(|o| self.source.remember_dpop_nonce(o, headers));
        if nonce_is_new && refused && wants_dpop_nonce(headers) && !self.nonce_retried && can_resend {
            self.nonce_retried = true;
            return Next::AgainWithNonce;
        }
        if !refused || !wants_new_token(headers) || self.refetched {
            return Next::Done;
        }
        // The target refused this token: no one should be handed it again.
        self.source.invalidate(&self.token);
        if !can_resend {
            return Next::Done;
        }
        match self.source.token().await {
            Ok(fresh) if fresh != self.token => {
                self.token = fresh;
                self.refetched = true;
                Next::AgainWithNewToken
            }
            // No new token: the target's answer stands.
            _ => Next::Done,
        }
    }
}
