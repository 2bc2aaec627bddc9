//! The request-signature stage of an [`AuthLayer`](crate::AuthLayer): run after the token is
//! verified and before rate limits, by the layer itself (`AuthLayer::builder(..).signatures(..)`)
//! or by a [`SignatureLayer`](super::SignatureLayer) stacked by hand.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;

use super::message::{MacKey, Parts, SIGNATURE_HEADER, TIMESTAMP_HEADER, VERSION_HEADER, verify};
use super::settings::{Settings, SignatureMode};
use super::version::SignatureVersion;
use crate::claims::Claims;
use crate::context::{AuthContext, Authenticated, RequestLine, missing_layer_response};
use crate::error::{AuthError, AuthErrorKind};
use crate::replay::Seen;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a stage that may read the request body decided from the request's head.
pub(crate) enum BodyStep<B> {
    /// Go on with the request as it is.
    Pass,
    /// Answer this instead.
    Refused(Response<Bytes>),
    /// The body must be read and checked: hand the request to this, whose future gives it
    /// back (its body rebuilt from the bytes read) or the refusal.
    Read(Reader<B>),
}

/// What reads and checks a request's body, given the request.
pub(crate) type Reader<B> =
    Box<dyn FnOnce(Request<B>) -> BoxFuture<Result<Request<B>, Response<Bytes>>> + Send>;

// The seal: no path outside the crate names `Check`, so its crate-private types stay private
// (a caller could only reach `check` through a `SignatureStage` bound, and could not make the
// `AuthContext` it takes).
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use super::{BodyStep, Known, Request};

    /// What `AuthLayerBuilder::signatures` takes: a `SignatureLayer`, or an `Option` of one.
    pub trait Signatures: Clone {}

    /// The check behind [`SignatureStage`](super::SignatureStage).
    pub trait Check<B> {
        /// Whether this stage never looks at a request (the layer then skips it).
        const CHECKS_NOTHING: bool = false;

        /// Checks `req`, whose token the layer has verified, by its head (the request stays
        /// where it is, unless the body must be read). `known` is what the layer knows of
        /// it (also in its extensions); `None` from a stage stacked on its own, which reads
        /// them from the extensions.
        fn check(&self, req: &Request<B>, known: Option<Known<'_>>) -> BodyStep<B>;
    }
}

/// The request-signature stage of an [`AuthLayer`](crate::AuthLayer): [`NoSignatures`] (the
/// default), a [`SignatureLayer`](super::SignatureLayer), or an `Option<SignatureLayer>` (as
/// [`RequestSigning::from_env`](super::RequestSigning::from_env) gives it: `None` checks
/// nothing). Sealed: only those implement it.
///
/// A `SignatureLayer` is a stage for request bodies it can rebuild from the bytes it read
/// (`From<Bytes>`: axum's `Body`, `Full<Bytes>`, `String`), since the handler gets the same
/// bytes. hyper's `Incoming` is not one: map it first (`req.map(axum::body::Body::new)`).
pub trait SignatureStage<B>: sealed::Check<B> + Clone {}

impl<B, T: sealed::Check<B> + Clone> SignatureStage<B> for T {}

/// The default [`SignatureStage`] of an [`AuthLayer`](crate::AuthLayer): requests are not
/// signed, and the body is never read.
///
/// ```
/// use permiso::signing::NoSignatures;
/// use permiso::{AuthLayer, Issuer, Verifier};
///
/// # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
/// let layer: AuthLayer<permiso::DefaultRejection, NoSignatures> = AuthLayer::new(verifier);
/// # let _ = layer;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSignatures;

#[allow(private_interfaces)]
impl<B> sealed::Check<B> for NoSignatures {
    const CHECKS_NOTHING: bool = true;

    #[inline]
    fn check(&self, _: &Request<B>, _: Option<Known<'_>>) -> BodyStep<B> {
        BodyStep::Pass
    }
}

impl sealed::Signatures for NoSignatures {}

/// The request's signature headers, each `Ok(Some(value))` when it came exactly once as text,
/// `Ok(None)` when it did not come, `Err(())` when it came twice or is not text: read in one
/// pass over the headers (a lookup by name would hash each name first).
struct SignatureHeaders<'a> {
    timestamp: Result<Option<&'a str>, ()>,
    signature: Result<Option<&'a str>, ()>,
    version: Result<Option<&'a str>, ()>,
}

impl<'a> SignatureHeaders<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut found = [Ok(None); 3];
        for (name, value) in headers {
            let slot = match name.as_str() {
                TIMESTAMP_HEADER => 0,
                SIGNATURE_HEADER => 1,
                VERSION_HEADER => 2,
                _ => continue,
            };
            found[slot] = match found[slot] {
                Ok(None) => value.to_str().map(Some).map_err(|_| ()),
                _ => Err(()),
            };
        }
        let [timestamp, signature, version] = found;
        Self { timestamp, signature, version }
    }
}

/// What the layer knows of a request whose token passed, handed to the stages after it.
#[derive(Clone, Copy)]
pub(crate) struct Known<'a> {
    pub(crate) context: &'a AuthContext,
    pub(crate) claims: Option<&'a Arc<Claims>>,
}

/// The signature check: headers and window at once, then the body read (up to the cap),
/// the HMAC compared in constant time, and the signature remembered against replay.
pub(super) fn check<B>(settings: &Arc<Settings>, req: &Request<B>, known: Option<Known<'_>>) -> BodyStep<B>
where
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A stage stacked on its own finds them in the extensions.
    let known = match known {
        Some(known) => known,
        None => match req.extensions().get::<AuthContext>() {
            Some(context) => {
                Known { context, claims: req.extensions().get::<Authenticated>().map(Authenticated::claims) }
            }
            None => return BodyStep::Refused(missing_layer_response(req.headers())),
        },
    };
    let context = known.context;
    let about = |err: AuthError| match known.claims {
        Some(claims) => err.about_verified(claims),
        None => err,
    };
    let error = |kind: AuthErrorKind| about(AuthError::new(kind));
    let line = RequestLine::of(req);
    let refuse = |kind: AuthErrorKind| BodyStep::Refused(context.render(&error(kind), line));
    let refuse_with = |kind: AuthErrorKind, why: &'static str| {
        BodyStep::Refused(context.render(&error(kind).with_description(why), line))
    };
    let headers = req.headers();
    let found = SignatureHeaders::of(headers);
    let (Ok(timestamp), Ok(signature)) = (found.timestamp, found.signature) else {
        return refuse(AuthErrorKind::SignatureMissing);
    };
    let (timestamp, signature) = match (timestamp, signature) {
        (Some(t), Some(s)) => (t, s),
        (None, None) if settings.mode == SignatureMode::Optional => return BodyStep::Pass,
        _ => return refuse(AuthErrorKind::SignatureMissing),
    };
    let version = match found.version {
        Ok(None) => SignatureVersion::V1,
        Ok(Some(v)) => match v.parse::<SignatureVersion>() {
            Ok(version) => version,
            Err(_) => {
                return refuse_with(AuthErrorKind::SignatureMissing, "X-Signature-Version must be 1 or 2");
            }
        },
        Err(()) => return refuse_with(AuthErrorKind::SignatureMissing, "X-Signature-Version must be 1 or 2"),
    };
    if version < settings.min_version {
        return refuse_with(
            AuthErrorKind::SignatureMismatch,
            "this service accepts only X-Signature-Version: 2 signatures",
        );
    }
    // The client the verified token names, under its issuer: its secret signs.
    let Some(claims) = known.claims else {
        return refuse(AuthErrorKind::MissingToken);
    };
    let Some(client) = claims.client_id() else {
        return refuse(AuthErrorKind::SignatureUnknownClient);
    };
    let iss = claims.issuer();
    let other_issuer = || settings.issuer_secrets.get(iss).and_then(|table| table.get(client));
    // Most services trust one issuer: no table of other issuers' clients to ask.
    let key = match (!settings.issuer_secrets.is_empty()).then(other_issuer).flatten() {
        Some(key) => key,
        None if context.primary_issuer() == Some(iss) => match settings.secrets.get(client) {
            Some(key) => key,
            None => return refuse(AuthErrorKind::SignatureUnknownClient),
        },
        None => return refuse(AuthErrorKind::SignatureUnknownClient),
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if version == SignatureVersion::V1 && (path.contains('|') || req.method().as_str().contains('|')) {
        // Version 1's message cannot say where the URL ends: a raw `|` could move bytes
        // between the URL and the body under one signature.
        return refuse_with(
            AuthErrorKind::SignatureMismatch,
            "a request signed in version 1 must not hold a raw '|' in its path or query; send it as %7C",
        );
    }
    let now = settings.clock.now_unix();
    let Some(signed_at) = Some(timestamp)
        .filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok())
    else {
        return refuse(AuthErrorKind::SignatureMissing);
    };
    if signed_at.abs_diff(now) > settings.window {
        return refuse(AuthErrorKind::SignatureStale);
    }
    let bodiless = req.body().is_end_stream();
    if !bodiless {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > settings.max_body as u64) {
            return refuse(AuthErrorKind::PayloadTooLarge);
        }
    }
    let until = signed_at.saturating_add(settings.window);
    if bodiless && !settings.replay.is_shared() {
        // No body to read and no shared store to ask (a GET, most often): decided here,
        // without a future.
        let parts = (req.method().as_str(), settings.base.as_str(), path, &b""[..], timestamp);
        let checked = mac_matches(settings, key, version, parts, signature).and_then(|tag| {
            let seen = Seen::Mac { tag: &tag, hex: signature };
            settings
                .replay
                .first_use_here(&[iss, client], seen, now, until)
                .check(AuthErrorKind::SignatureReplayed)
        });
        return match checked {
            Ok(()) => BodyStep::Pass,
            Err(err) => BodyStep::Refused(context.render(&about(err), line)),
        };
    }
    let pending = Pending {
        settings: Arc::clone(settings),
        key: Arc::clone(key),
        version,
        timestamp: timestamp.to_owned(),
        signature: signature.to_owned(),
        claims: Arc::clone(claims),
        context: context.clone(),
        now,
        until,
    };
    BodyStep::Read(Box::new(move |req: Request<B>| -> BoxFuture<Result<Request<B>, Response<Bytes>>> {
        Box::pin(pending.read(req))
    }))
}

/// What the head's check found, for the body's part of it.
struct Pending {
    settings: Arc<Settings>,
    key: Arc<MacKey>,
    version: SignatureVersion,
    timestamp: String,
    signature: String,
    claims: Arc<Claims>,
    context: AuthContext,
    now: u64,
    until: u64,
}

impl Pending {
    /// The body's part of [`check`]: read (up to the cap), then the HMAC and the replay memory.
    async fn read<B>(self, req: Request<B>) -> Result<Request<B>, Response<Bytes>>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Self { settings, key, version, timestamp, signature, claims, context, now, until } = self;
        let about = |err: AuthError| err.about_verified(&claims);
        let error = |kind: AuthErrorKind| about(AuthError::new(kind));
        let (parts, body) = req.into_parts();
        let line = RequestLine::new(&parts.method, &parts.uri);
        // The refusal is the future's output, moved once; not worth a box.
        #[allow(clippy::result_large_err)]
        let answer = |err: AuthError| Err(context.render(&err, line));
        let Ok(collected) = http_body_util::Limited::new(body, settings.max_body).collect().await else {
            return answer(error(AuthErrorKind::PayloadTooLarge));
        };
        let bytes = collected.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let request = (parts.method.as_str(), settings.base.as_str(), path, &bytes[..], timestamp.as_str());
        let tag = match mac_matches(&settings, &key, version, request, &signature) {
            Ok(tag) => tag,
            Err(err) => return answer(about(err)),
        };
        let partition = [claims.issuer(), claims.client_id().unwrap_or_default()];
        let seen = Seen::Mac { tag: &tag, hex: &signature };
        let first = settings.replay.first_use(&partition, seen, now, until).await;
        if let Err(err) = first.check(AuthErrorKind::SignatureReplayed) {
            return answer(about(err));
        }
        Ok(Request::from_parts(parts, B::from(bytes)))
    }
}

/// Whether `signature` is the request's HMAC: if so, its tag (what the replay memory
/// remembers: only a signature that verified, so nobody can fill it).
fn mac_matches(
    settings: &Settings,
    key: &MacKey,
    version: SignatureVersion,
    request: Parts<'_>,
    signature: &str,
) -> Result<[u8; 32], AuthError> {
    let Some(tag) = verify(key, version, request, signature) else {
        // Server side only: the URL the signature was checked over, so a caller that
        // signed another spelling of it (localhost for 127.0.0.1, http for https) can be
        // told why. Never the signature or the secret.
        #[cfg(feature = "tracing")]
        tracing::info!(
            checked_url = %format_args!("{}{}", settings.base, request.2),
            method = %request.0,
            version = version.as_str(),
            "permiso: a request signature did not match; the caller must sign this exact URL \
             (the public base URL plus the path and query)"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = settings;
        return Err(AuthError::new(AuthErrorKind::SignatureMismatch));
    };
    Ok(tag)
}
