//! Tokens judged by their issuer's introspection endpoint: which tokens go there, and the
//! same checks of the answer's claims as of a verified token's.

use std::sync::Arc;

use super::checks;
use super::engine::{Admit, Presented, Verdict, Verifier};
use crate::claims::Claims;
use crate::error::AuthError;
use crate::metrics::Timer;

impl Verifier {
    /// The verdict on `token` when an introspecting issuer judges it: from an answer cache
    /// without waiting, or pending a call. `None`: the token is verified here.
    pub(super) fn introspect_now(
        &self,
        token: &str,
        presented: Presented,
        admit: Admit,
        timer: Timer,
    ) -> Option<Verdict> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_bytes {
            return None; // refused as too large by the local checks, never hashed nor sent
        }
        let now = inner.now();
        for issuer in &inner.issuers {
            let Some(introspector) = &issuer.introspection else { continue };
            match introspector.cached(token, now) {
                Some(Ok(claims)) => {
                    timer.cached();
                    if let Err(err) = self.recheck(&claims, now) {
                        return Some(Verdict::Rejected(self.about_claims(err, &claims)));
                    }
                    return Some(self.admit_now(claims, presented, admit));
                }
                Some(Err(err)) => return Some(Verdict::Rejected(err.about_issuer(&issuer.label))),
                None => {}
            }
        }
        let index = self.introspecting_issuer(token)?;
        let (this, token) = (self.clone(), token.to_owned());
        let judged = async move {
            let issuer = &this.inner.issuers[index];
            let introspector = issuer.introspection.as_deref().expect("routed to an introspecting issuer");
            let finish = |claims: Claims| this.finish_introspected(claims, index);
            let now = || this.inner.now();
            let judged = introspector.judge(&token, &now, &finish).await;
            timer.cold(true);
            let claims = judged.map_err(|e| e.about_issuer(&issuer.label))?;
            this.recheck(&claims, this.inner.now()).map_err(|e| this.about_claims(e, &claims))?;
            this.admit(claims, presented, admit).await
        };
        #[cfg(feature = "tracing")]
        let judged = tracing::Instrument::instrument(
            judged,
            tracing::debug_span!("permiso.verify", path = "introspection"),
        );
        Some(Verdict::Pending(Box::pin(judged)))
    }

    /// The issuer that judges `token` by introspection: for a token of JWT shape, its `iss`'s
    /// issuer when that one has no keys here (a JWT of an issuer with keys, or of an unknown
    /// issuer, is verified here, and refused there if it must be); for any other token, the
    /// first introspecting issuer.
    fn introspecting_issuer(&self, token: &str) -> Option<usize> {
        let issuers = &self.inner.issuers;
        if let Some(iss) = jwt_issuer(token) {
            let index = issuers.iter().position(|i| i.rules.iss == iss)?;
            let issuer = &issuers[index];
            return (!issuer.local && issuer.introspection.is_some()).then_some(index);
        }
        issuers.iter().position(|i| i.introspection.is_some())
    }

    /// What time can change, checked on every request: `exp`/`nbf`/`iat`, and the audience
    /// (an answer holds whatever audience its token had).
    fn recheck(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        checks::check_times(claims, now, self.inner.leeway)?;
        checks::check_audience(claims, &self.inner.audiences)
    }

    /// A fresh answer's checks that do not change while it is cached, and the issuer's
    /// decisions (scopes, service token, trust).
    fn finish_introspected(&self, mut claims: Claims, index: usize) -> Result<Arc<Claims>, AuthError> {
        checks::check_access_token(&claims)?;
        checks::finish_claims(&mut claims, &self.inner.issuers[index].rules, self.inner.scope_rules.as_ref());
        Ok(Arc::new(claims))
    }

    /// The counters of the introspecting issuer `iss`, or `None` if it does not introspect.
    #[cfg(feature = "introspection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
    pub fn introspection_stats(&self, iss: &str) -> Option<crate::introspection::IntrospectionStats> {
        let issuer = self.inner.issuers.iter().find(|i| i.rules.iss == iss)?;
        issuer.introspection.as_deref().map(crate::introspection::Introspector::stats)
    }
}

/// The `iss` of a token of compact JWS shape whose payload is a JSON object with a string
/// `iss`; `None` for any other token.
fn jwt_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    let bytes = crate::token::b64url(payload.as_bytes())?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|i| i.iss)
}
