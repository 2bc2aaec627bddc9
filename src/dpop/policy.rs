//! DPoP proofs (RFC 9449): the policy a verifier checks them with, and the caller's key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Uri};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::clock::Clock;
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
use crate::on_error::OnStoreError;
use crate::replay::ReplayGuard;

use super::nonce::{DEFAULT_NONCE_WINDOW_SECS, Nonces};

/// The largest `DPoP` header accepted, in bytes.
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;
/// How far `iat` may be from now, either way, before the leeway (RFC 9449 §11.1).
pub const DEFAULT_DPOP_MAX_AGE: Duration = Duration::from_secs(60);
const MAX_MAX_AGE: Duration = Duration::from_secs(600);

/// The algorithms a proof may use unless told otherwise: every asymmetric one permiso
/// verifies.
const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

/// Whether the `DPoP` scheme is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpopMode {
    /// `DPoP` and `Bearer` both accepted; a bound token needs its proof.
    Allowed,
    /// Only DPoP-bound tokens with a valid proof: `Bearer`, and tokens without `cnf`, are
    /// refused.
    Required,
    /// The `DPoP` scheme is refused (400), and no challenge advertises it (the default);
    /// bound tokens can then never be used here.
    #[default]
    Off,
}

/// How the verifier checks DPoP proofs: the mode, the algorithms, the `iat` window, the
/// public base URL and the replay store. Checked when the verifier is built.
///
/// ```
/// use std::time::Duration;
/// use permiso::dpop::{Dpop, DpopMode};
/// use permiso::{Algorithm, Issuer, Verifier};
///
/// let verifier = Verifier::builder(["payments"])
///     .issuer(Issuer::discover("https://auth.example.com"))
///     .dpop(
///         Dpop::new(DpopMode::Required)
///             .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///             .max_age(Duration::from_secs(30))
///             .public_base_url("https://payments.example.com"),
///     )
///     .build()?;
/// # let _ = verifier;
/// # Ok::<(), permiso::ConfigError>(())
/// ```
#[must_use]
#[derive(Clone)]
pub struct Dpop {
    mode: DpopMode,
    algorithms: Option<Vec<Algorithm>>,
    max_age: Duration,
    base_urls: Vec<String>,
    replay_on_error: OnStoreError,
    #[cfg(feature = "redis")]
    replay_redis: Option<String>,
    /// The secret server nonces are derived from, when this server issues them.
    nonce_secret: Option<Arc<[u8]>>,
    nonce_window: Duration,
}

impl Default for Dpop {
    fn default() -> Self {
        Self::new(DpopMode::Off)
    }
}

impl Dpop {
    /// Proofs checked in `mode`, with the defaults: every asymmetric algorithm, ±60 s, replay
    /// remembered in memory. Unless `mode` is [`DpopMode::Off`], the service's public base
    /// URL is required ([`public_base_url`](Self::public_base_url)).
    pub fn new(mode: DpopMode) -> Self {
        Self {
            mode,
            algorithms: None,
            max_age: DEFAULT_DPOP_MAX_AGE,
            base_urls: Vec::new(),
            replay_on_error: OnStoreError::Reject,
            #[cfg(feature = "redis")]
            replay_redis: None,
            nonce_secret: None,
            nonce_window: Duration::from_secs(DEFAULT_NONCE_WINDOW_SECS),
        }
    }

    /// Requires a nonce of this server in every proof (RFC 9449 §9), so that a proof cannot
    /// be made ahead of time: a proof without one, or with an expired one, is answered 401
    /// `use_dpop_nonce` with a `DPoP-Nonce` to retry with. Nonces are derived from `secret`
    /// (32 bytes at least) and the time window, so every replica given the same secret
    /// accepts every other's without shared state.
    ///
    /// ```
    /// use permiso::dpop::{Dpop, DpopMode};
    ///
    /// let dpop = Dpop::new(DpopMode::Required)
    ///     .public_base_url("https://payments.example.com")
    ///     .require_nonces("a-secret-every-replica-shares-32+bytes");
    /// # let _ = dpop;
    /// ```
    pub fn require_nonces(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.nonce_secret = Some(secret.as_ref().into());
        self
    }

    /// How long one nonce window lasts (default 60 s, 1 s to 1 hour): a nonce is accepted in
    /// its window and the next.
    pub fn nonce_window(mut self, window: Duration) -> Self {
        self.nonce_window = window;
        self
    }

    /// The algorithms a proof may be signed with (asymmetric ones only).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// How far a proof's `iat` may be from now, either way, before the verifier's leeway
    /// (default 60 s; at most 600 s).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// A URL callers reach this service at (scheme, host, port and any path prefix a proxy
    /// adds): `htu` must be one of these plus the request's path. Required unless DPoP is
    /// off; call it once per origin the service answers at. The request's own `Host` is
    /// never used: a proof made for another service (or for `https` when this request came
    /// over `http`) would otherwise pass.
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_urls.push(url.into());
        self
    }

    /// What a request gets when the shared replay store (Redis) cannot answer: 503 with
    /// `Retry-After: 1` ([`OnStoreError::Reject`], the default) or let through on this
    /// replica's memory alone ([`OnStoreError::Allow`]).
    pub fn replay_on_error(mut self, on_error: OnStoreError) -> Self {
        self.replay_on_error = on_error;
        self
    }

    /// Shares the proofs' `jti`s among replicas through Redis (`SET NX EX`, feature `redis`),
    /// so a proof replayed to another replica is refused too. Each call is bounded by 100 ms;
    /// see [`replay_on_error`](Self::replay_on_error).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_replay_store(mut self, redis_url: impl Into<String>) -> Self {
        self.replay_redis = Some(redis_url.into());
        self
    }

    /// The checker, or `None` when DPoP is off.
    pub(crate) fn build(self, leeway: u64, clock: Arc<dyn Clock>) -> Result<Option<DpopPolicy>, ConfigError> {
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, format!("dpop: {m}"));
        // Every value given is checked, DPoP on or off: a bad one is found at start-up, not
        // the day DPoP is turned on.
        let algorithms = self.algorithms.unwrap_or_else(|| DEFAULT_ALGORITHMS.to_vec());
        if algorithms.is_empty() {
            return Err(invalid("the algorithm list is empty".into()).at("dpop.algorithms"));
        }
        if let Some(a) = algorithms.iter().find(|a| a.is_symmetric()) {
            return Err(invalid(format!(
                "{a} is symmetric: proofs are signed with the caller's private key"
            ))
            .at("dpop.algorithms"));
        }
        if self.max_age.is_zero() || self.max_age > MAX_MAX_AGE {
            return Err(invalid("max_age must be from 1 s to 600 s".into()).at("dpop.max_age_secs"));
        }
        if self.nonce_window.is_zero() || self.nonce_window > Duration::from_secs(3600) {
            return Err(
                invalid("the nonce window must be from 1 s to 1 hour".into()).at("dpop.nonce_window_secs")
            );
        }
        if self.nonce_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid("the nonce secret must be 32 bytes at least".into()).at("dpop.nonce_secret"));
        }
        let bases = self
            .base_urls
            .iter()
            .map(|b| {
                Base::parse(b).ok_or_else(|| {
                    invalid(format!(
                        "the public base URL {b:?} must be an absolute http(s) URL without user, query, \
                         fragment or dot segments"
                    ))
                    .at("dpop.public_base_url")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.mode == DpopMode::Off {
            return Ok(None);
        }
        if bases.is_empty() {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                "dpop: the service's public base URL is required (PERMISO_PUBLIC_BASE_URL, e.g. \
                 https://payments.example.com): a proof's htu is checked against it, never against \
                 the request's Host",
            ));
        }
        #[cfg(feature = "redis")]
        let replay =
            ReplayGuard::for_setting(self.replay_redis.as_deref(), "permiso_dpop:", self.replay_on_error)
                .map_err(|e| invalid(e.to_string()).at("dpop.replay_redis_url"))?;
        #[cfg(not(feature = "redis"))]
        let replay = ReplayGuard::memory();
        let names: Vec<&str> = algorithms.iter().map(|a| a.as_str()).collect();
        Ok(Some(DpopPolicy {
            mode: self.mode,
            algs: names.join(" ").into(),
            algorithms,
            window: self.max_age.as_secs() + leeway,
            bases,
            replay,
            nonces: self
                .nonce_secret
                .map(|s| Nonces::new(&s, self.nonce_window.as_secs(), Arc::clone(&clock))),
            clock,
            headers: moka::sync::Cache::builder()
                .max_capacity(HEADER_CACHE_BYTES)
                .weigher(header_weight)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }))
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("public_base_urls", &self.base_urls)
            .field("replay_on_error", &self.replay_on_error)
            .field("requires_nonces", &self.nonce_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// The checker the verifier holds when DPoP is not off.
pub(crate) struct DpopPolicy {
    pub(crate) mode: DpopMode,
    /// `algs="…"` of the challenge.
    pub(crate) algs: Arc<str>,
    algorithms: Vec<Algorithm>,
    /// Seconds `iat` may be from now, either way (max age plus leeway).
    window: u64,
    /// The public base URLs (at least one).
    bases: Vec<Base>,
    replay: ReplayGuard,
    /// This server's nonces, when it issues them.
    nonces: Option<Nonces>,
    clock: Arc<dyn Clock>,
    /// Proof headers that passed, by their exact base64url text.
    headers: moka::sync::Cache<Box<str>, Arc<ProofHeader>, foldhash::fast::RandomState>,
}

impl fmt::Debug for DpopPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("algorithms", &self.algs)
            .field("window_secs", &self.window)
            .field("public_base_urls", &self.bases)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}

/// What a DPoP request brings for its proof check, taken before verification.
pub(crate) struct ProofRequest {
    proof: String,
    method: Method,
    /// The request's path as sent (no dot segment).
    path: String,
}

fn invalid_proof(why: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidDpopProof).with_description(why)
}

/// A public base URL: its normalised origin and its path prefix (no trailing slash).
#[derive(Debug)]
struct Base {
    origin: String,
    prefix: String,
}

impl Base {
    fn parse(url: &str) -> Option<Self> {
        let (origin, path) = split_url(url)?;
        if url.contains(['?', '#']) || has_dot_segment(path) {
            return None;
        }
        Some(Self { origin, prefix: path.trim_end_matches('/').to_owned() })
    }

    /// Whether `htu` (origin and path, split) names this base plus `path`.
    fn names(&self, origin: &str, htu_path: &str, path: &str) -> bool {
        origin == self.origin && htu_path.strip_prefix(&*self.prefix) == Some(path)
    }
}

/// An absolute http(s) URL split into its normalised origin (`scheme://host[:port]`, scheme
/// and host lower-cased, the scheme's default port dropped) and its path exactly as written
/// (`/` when empty), without query and fragment. `None` for anything else, and for a URL
/// with user information. The path is not resolved: `..` stays `..`.
fn split_url(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    let path = &after[..after.find(['?', '#']).unwrap_or(after.len())];
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut origin = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(port) = port.map(|p| p.trim_start_matches('0')).filter(|p| *p != default_port) {
        origin.push(':');
        origin.push_str(if port.is_empty() { "0" } else { port });
    }
    Some((origin, if path.is_empty() { "/" } else { path }))
}

/// Whether a path has a `.` or `..` segment, percent-encoded or not (`%2e`, `.%2E`…): the
/// router never resolves them, so a proof naming the resolved path must not match.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

impl DpopPolicy {
    /// The proof and what it must match: exactly one `DPoP` header, and the request URL.
    pub(crate) fn capture(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
    ) -> Result<ProofRequest, AuthError> {
        let mut values = headers.get_all("dpop").iter();
        let proof = match (values.next(), values.next()) {
            (None, _) => return Err(invalid_proof("the DPoP proof header is missing")),
            (Some(_), Some(_)) => return Err(invalid_proof("more than one DPoP proof header")),
            (Some(v), None) => v,
        };
        if proof.len() > MAX_PROOF_BYTES {
            return Err(invalid_proof("the DPoP proof is larger than allowed"));
        }
        let proof = proof.to_str().map_err(|_| invalid_proof("the DPoP proof is not a compact JWS"))?.trim();
        // The path as sent; the origin is the service's own, never the request's.
        let path = uri.path();
        if has_dot_segment(path) {
            return Err(invalid_proof("the request path has a dot segment, which a DPoP proof cannot name"));
        }
        Ok(ProofRequest { proof: proof.to_owned(), method: method.clone(), path: path.to_owned() })
    }

    /// The `DPoP-Nonce` a successful answer to `req` carries: the current nonce when the
    /// proof's is the previous window's (read here unverified; the proof is checked in full
    /// before any answer is a success).
    pub(crate) fn renewal(&self, req: &ProofRequest) -> Option<String> {
        self.nonces.as_ref()?.renewal_for(&req.proof)
    }

    /// Every check of the proof against the request, and against the access token and its
    /// `cnf.jkt` when one goes with it (a resource request; a token request has none); the
    /// `jti` is remembered only once the proof passed everything else.
    pub(crate) async fn check(
        &self,
        req: &ProofRequest,
        bound: Option<(&str, &str)>,
    ) -> Result<ProofInfo, AuthError> {
        let proof = parse_proof(&req.proof)?;
        let header = match self.headers.get(proof.header) {
            Some(header) => header,
            None => {
                let header = Arc::new(self.check_header(proof.header, bound.map(|(_, jkt)| jkt))?);
                self.headers.insert(proof.header.into(), Arc::clone(&header));
                header
            }
        };
        let ProofHeader { alg, jkt, key } = &*header;
        if bound.is_some_and(|(_, bound_to)| bound_to != jkt.as_str()) {
            return Err(wrong_key());
        }
        if !key.verify(*alg, proof.signing_input.as_bytes(), &proof.signature) {
            return Err(invalid_proof("the DPoP proof's signature is invalid"));
        }
        let claims = &proof.claims;
        let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = str_claim("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or_else(|| invalid_proof("the DPoP proof's jti is missing or invalid"))?;
        if str_claim("htm") != Some(req.method.as_str()) {
            return Err(invalid_proof("the DPoP proof's htm does not match the request method"));
        }
        let htu = str_claim("htu").ok_or_else(|| invalid_proof("the DPoP proof has no htu"))?;
        let matches = split_url(htu).is_some_and(|(origin, htu_path)| {
            !has_dot_segment(htu_path) && self.bases.iter().any(|b| b.names(&origin, htu_path, &req.path))
        });
        if !matches {
            return Err(invalid_proof("the DPoP proof's htu does not match the request URL"));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid_proof("the DPoP proof's iat is missing or not a number"))?;
        let now = self.clock.now_unix();
        if iat.abs_diff(now) > self.window {
            return Err(AuthError::new(AuthErrorKind::DpopProofStale));
        }
        if let Some((token, _)) = bound {
            let ath = str_claim("ath").ok_or_else(|| invalid_proof("the DPoP proof has no ath"))?;
            if ath != token_hash(token) {
                return Err(invalid_proof("the DPoP proof's ath does not match the access token"));
            }
        }
        let nonce = str_claim("nonce").map(str::to_owned);
        if let Some(nonces) = &self.nonces {
            nonces.check(nonce.as_deref())?;
        }
        let remembered = format!("{jkt}:{jti}");
        let until = iat.max(now).saturating_add(self.window);
        // Partitioned by the proof's key: one key's proofs hold at most a share of the memory.
        self.replay
            .first_use(&[jkt], crate::replay::Seen::Text(&remembered), now, until)
            .await
            .check(AuthErrorKind::DpopProofReplayed)?;
        Ok(ProofInfo { jkt: jkt.clone(), nonce })
    }

    /// The checks of a proof's protected header (base64url as sent): its `alg` allowed, `typ`
    /// `dpop+jwt`, no `crit`, a public `jwk` that fits the `alg`. The header alone decides
    /// them, so a header that passed is kept (by its exact text) for the caller's next proofs.
    ///
    /// A key other than `bound_to` (the token's `cnf.jkt`) is refused by its thumbprint
    /// before it is parsed: only the key a token is bound to ever costs more than a SHA-256.
    fn check_header(&self, encoded: &str, bound_to: Option<&str>) -> Result<ProofHeader, AuthError> {
        let header = decode_object(encoded)?;
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_proof("the DPoP proof has no alg"))?
            .parse()
            .map_err(|_| invalid_proof("the DPoP proof's alg is not allowed"))?;
        if !self.algorithms.contains(&alg) {
            return Err(invalid_proof("the DPoP proof's alg is not allowed"));
        }
        if !header.get("typ").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
            return Err(invalid_proof("the DPoP proof's typ is not dpop+jwt"));
        }
        if header.contains_key("crit") {
            return Err(invalid_proof("the DPoP proof's crit names extensions that are not supported"));
        }
        let jwk = header.get("jwk").ok_or_else(|| invalid_proof("the DPoP proof has no jwk"))?;
        if jwk.as_object().is_some_and(|o| PRIVATE_MEMBERS.iter().any(|m| o.contains_key(*m))) {
            return Err(invalid_proof("the DPoP proof's jwk holds a private key"));
        }
        let jkt = thumbprint(jwk)
            .ok_or_else(|| invalid_proof("the DPoP proof's jwk is not a usable public key"))?;
        if bound_to.is_some_and(|bound_to| bound_to != jkt) {
            return Err(wrong_key());
        }
        let key = crate::keys::parse_jwk(jwk)
            .map_err(|_| invalid_proof("the DPoP proof's jwk is not a usable public key"))?;
        if !key.supports(alg) {
            return Err(invalid_proof("the DPoP proof's alg does not fit its jwk"));
        }
        Ok(ProofHeader { alg, jkt, key })
    }
}

fn wrong_key() -> AuthError {
    invalid_proof("the DPoP proof's key is not the one the token is bound to")
}

/// A proof header that passed [`DpopPolicy::check_header`]: what the proof's signature is
/// checked with, and the key's RFC 7638 thumbprint (what a token's `cnf.jkt` names).
struct ProofHeader {
    alg: Algorithm,
    jkt: String,
    key: crate::keys::Key,
}

/// A kept proof header's weight: its length and about what its parsed key holds. (`&Box`:
/// moka's weigher takes `&K`.)
#[allow(clippy::borrowed_box)]
fn header_weight(header: &Box<str>, _: &Arc<ProofHeader>) -> u32 {
    u32::try_from(header.len()).unwrap_or(u32::MAX).saturating_add(256)
}

/// At most this many bytes of proof headers kept (a header is about 200 bytes; a caller
/// keeps one key, so one header, for many proofs).
const HEADER_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// What a proof that passed says: its key's thumbprint, and the server nonce it carries.
#[derive(Debug)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) struct ProofInfo {
    pub(crate) jkt: String,
    pub(crate) nonce: Option<String>,
}

/// Members only private (or symmetric) keys have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof split: the protected header as sent (checked by [`DpopPolicy::check_header`]), the
/// signed bytes, the claims and the signature.
struct Proof<'a> {
    header: &'a str,
    signing_input: &'a str,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

fn malformed() -> AuthError {
    invalid_proof("the DPoP proof is not a compact JWS")
}

/// A base64url JSON object without duplicate members.
fn decode_object(part: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed())?;
    crate::token::parse_strict_object(&bytes).map_err(|()| {
        invalid_proof("the DPoP proof's header or claims are not a JSON object without duplicates")
    })
}

fn parse_proof(proof: &str) -> Result<Proof<'_>, AuthError> {
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(malformed());
    }
    let claims = decode_object(p)?;
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| malformed())?;
    Ok(Proof { header: h, signing_input: &proof[..h.len() + 1 + p.len()], claims, signature })
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url; `None` when a required member
/// is missing or not a string.
pub(crate) fn thumbprint(jwk: &Value) -> Option<String> {
    let obj = jwk.as_object()?;
    let members: &[&str] = match obj.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = obj.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&serde_json::to_string(name).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

/// `ath`: the base64url SHA-256 of the access token.
pub(crate) fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::super::key::DpopKey;
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn only_scheme_host_and_port_are_normalised() {
        let split = |u| split_url(u).map(|(o, p)| format!("{o} {p}"));
        assert_eq!(
            split("HTTPS://Payments.Example.COM:443/a/B?x=1#f").unwrap(),
            "https://payments.example.com /a/B"
        );
        // The path is never resolved: `..` stays, and is then refused.
        assert_eq!(split("https://h/a/../b").unwrap(), "https://h /a/../b");
        assert_eq!(split("http://h:8080/p").unwrap(), "http://h:8080 /p");
        assert_eq!(split("http://h:80").unwrap(), "http://h /");
        assert_eq!(split("http://[::1]:8080/x").unwrap(), "http://[::1]:8080 /x");
        assert_eq!(split("http://[::1]/x").unwrap(), "http://[::1] /x");
        for bad in ["ftp://h/x", "/relative", "http://user@h/x", "http://h:x/", "http:///x", "http://h:/x"] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dot_segments_are_found_encoded_or_not() {
        for bad in
            ["/a/../b", "/a/./b", "/a/%2e%2e/b", "/a/%2E%2e/b", "/a/.%2E/b", "/a/%2e/b", "/..", "/a/.."]
        {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for good in ["/a/b", "/a/...b", "/a/..b/", "/a/.well-known", "/", "/a/%2e%2eb"] {
            assert!(!has_dot_segment(good), "{good}");
        }
    }

    #[test]
    fn a_key_survives_pkcs8() {
        let key = DpopKey::generate().unwrap();
        let again = DpopKey::from_pkcs8(&key.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(again.thumbprint(), key.thumbprint());
        assert!(DpopKey::from_pkcs8(b"not a key").is_err());
    }

    #[test]
    fn a_key_round_trips_through_its_proof() {
        let key = DpopKey::generate().unwrap();
        let proof = key.proof("POST", "https://a.example/x?y=1", Some("tok"), Some("n-1"));
        let parsed = parse_proof(&proof).unwrap();
        assert_eq!(parsed.claims["htu"], "https://a.example/x");
        assert_eq!(parsed.claims["ath"], token_hash("tok"));
        assert_eq!(parsed.claims["nonce"], "n-1");
        let header = decode_object(parsed.header).unwrap();
        assert_eq!(thumbprint(&header["jwk"]).unwrap(), key.thumbprint());
        let jwk = crate::keys::parse_jwk(&header["jwk"]).unwrap();
        assert!(jwk.verify(Algorithm::ES256, parsed.signing_input.as_bytes(), &parsed.signature));
    }
}
