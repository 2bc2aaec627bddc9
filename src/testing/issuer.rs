//! `TestIssuer`: a real OAuth2/OIDC issuer on 127.0.0.1 for tests.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::key::SigningKey;
use super::server::{mint_claims, spawn_server};
use super::state::{Client, Fault, Inner, KeyEntry, Shared, TokenShape, Trust};
use crate::algorithm::Algorithm;
use crate::keys::RemoteKeys;
use crate::revocation::{MemoryRevocations, Revocation};
use crate::verifier::{Issuer, ServiceTokenRule};

/// Configures a [`TestIssuer`] before it starts.
#[must_use]
#[derive(Debug)]
pub struct TestIssuerBuilder {
    iss: Option<String>,
    audience: String,
    shape: TokenShape,
    hs256: bool,
    lifetime: u64,
    alg: Algorithm,
    clients: Vec<(String, String, Vec<String>, Trust)>,
}

impl TestIssuerBuilder {
    /// The `iss` claim (default: the server's base URL, so discovery matches).
    pub fn issuer_name(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// The audience put in minted tokens (default `"keystone-auth"`).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = aud.into();
        self
    }

    /// The claim shape of minted tokens (default [`TokenShape::Permiso`]).
    pub fn shape(mut self, shape: TokenShape) -> Self {
        self.shape = shape;
        self
    }

    /// Signs minted tokens with the HS256 shared secret ([`TestIssuer::hmac_secret`]), as the
    /// permiso server does, instead of the active asymmetric key.
    pub fn hs256(mut self) -> Self {
        self.hs256 = true;
        self
    }

    /// The algorithm of the first asymmetric key (default RS256).
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    /// Lifetime of minted tokens in seconds (default 3600).
    pub fn token_lifetime(mut self, secs: u64) -> Self {
        self.lifetime = secs;
        self
    }

    /// Registers a client for the token endpoint; its tokens say `"is_trusted": false`.
    pub fn client(self, id: &str, secret: &str, scopes: &[&str]) -> Self {
        self.register(id, secret, scopes, Trust::Untrusted)
    }

    /// Registers a trusted client (`"is_trusted": true` in its tokens), as permiso's
    /// `is_trusted` clients.
    pub fn trusted_client(self, id: &str, secret: &str, scopes: &[&str]) -> Self {
        self.register(id, secret, scopes, Trust::Trusted)
    }

    fn register(mut self, id: &str, secret: &str, scopes: &[&str], trust: Trust) -> Self {
        self.clients.push((
            id.into(),
            secret.into(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            trust,
        ));
        self
    }

    /// Binds 127.0.0.1 on a random port and starts serving.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(self) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let base = format!("http://{addr}");
        let first = SigningKey::generate(self.alg).with_kid("key-1");
        let shared = Arc::new(Shared {
            state: Mutex::new(Inner {
                iss: self.iss.unwrap_or_else(|| base.clone()),
                audience: self.audience,
                shape: self.shape,
                hs256: self.hs256,
                lifetime: self.lifetime,
                hmac: SigningKey::generate(Algorithm::HS256),
                keys: vec![KeyEntry { key: first, published: true }],
                active: 0,
                jwks_fault: None,
                discovery_fault: None,
                token_faults: Vec::new(),
                token_fault: None,
                max_age: None,
                discovery_issuer: None,
                dpop_nonce: None,
                clients: self
                    .clients
                    .into_iter()
                    .map(|(id, secret, scopes, trust)| {
                        (id, Client { secret, scopes, trusted: trust == Trust::Trusted })
                    })
                    .collect(),
            }),
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            redirect_target_fetches: AtomicU64::new(0),
            jti: AtomicU64::new(0),
            revocations: MemoryRevocations::new(),
            issued: Mutex::new(std::collections::HashMap::new()),
            introspection_calls: AtomicU64::new(0),
            introspection_fault: Mutex::new(None),
            dpop: crate::dpop::Dpop::new(crate::dpop::DpopMode::Allowed)
                .public_base_url(base.clone())
                .build(5, Arc::new(crate::clock::SystemClock))
                .ok()
                .flatten()
                .expect("the test issuer's DPoP settings are valid"),
            base,
        });
        let server = spawn_server(listener, Arc::clone(&shared));
        TestIssuer { addr, shared, server: Mutex::new(Some(server)) }
    }
}

/// A real token issuer on 127.0.0.1 with a random port, for tests.
///
/// It serves OpenID Connect discovery (`/.well-known/openid-configuration`), RFC 8414
/// (`/.well-known/oauth-authorization-server`), a JWKS (`/jwks.json`) and a client-credentials
/// token endpoint (`/token`, and permiso's `/api/v1/auth/service-token`). It mints tokens with
/// any claims, rotates keys, and misbehaves on request ([`Fault`]). It counts what it served,
/// so tests can assert how many fetches a verifier made. The server stops when the
/// `TestIssuer` is dropped.
///
/// ```
/// use permiso::testing::TestIssuer;
/// use permiso::Verifier;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let idp = TestIssuer::start().await;
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(idp.issuer_config())
///     .build()
///     .unwrap();
///
/// let token = idp.token("payment-service", &["read:transactions"]);
/// let claims = verifier.verify(&token).await.unwrap();
/// assert_eq!(claims.client_id(), Some("payment-service"));
/// assert_eq!(idp.jwks_fetches(), 1);
/// # });
/// ```
pub struct TestIssuer {
    addr: SocketAddr,
    pub(super) shared: Arc<Shared>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TestIssuer {
    /// A builder for non-default settings.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            iss: None,
            audience: "keystone-auth".into(),
            shape: TokenShape::Permiso,
            hs256: false,
            lifetime: 3600,
            alg: Algorithm::RS256,
            clients: Vec::new(),
        }
    }

    /// Starts an issuer with the defaults: RS256 key `key-1`, permiso-shaped tokens for
    /// audience `keystone-auth`, `iss` = the base URL.
    pub async fn start() -> TestIssuer {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.base
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `iss` of minted tokens.
    pub fn issuer(&self) -> String {
        self.shared.state().iss.clone()
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.shared.base)
    }

    /// The standard token endpoint (`/token`).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.shared.base)
    }

    /// The HS256 shared secret used when the issuer signs like permiso.
    pub fn hmac_secret(&self) -> Vec<u8> {
        self.shared.state().hmac.secret().unwrap_or_default().to_vec()
    }

    /// A verifier [`Issuer`] for this test issuer: its JWKS URL (or its shared secret when
    /// built with [`TestIssuerBuilder::hs256`]), and the service-token rule of its shape; in
    /// permiso's shape its `is_trusted` is honoured, as the permiso server's is.
    pub fn issuer_config(&self) -> Issuer {
        let st = self.shared.state();
        let rule = match st.shape {
            TokenShape::Permiso => ServiceTokenRule::permiso(),
            TokenShape::Rfc9068 => ServiceTokenRule::claims_match("sub", "client_id"),
        };
        let issuer = if st.hs256 {
            Issuer::hmac(st.iss.clone(), st.hmac.secret().unwrap_or_default())
        } else {
            Issuer::remote(st.iss.clone(), RemoteKeys::jwks_url(self.jwks_url()))
        };
        let issuer = issuer.service_tokens(rule);
        match st.shape {
            TokenShape::Rfc9068 => issuer.require_at_jwt(),
            // It stands in for the permiso server, whose `is_trusted` is honoured.
            TokenShape::Permiso => issuer.trust_is_trusted_claim(),
        }
    }

    /// The claims a token for `client_id` with `scopes` would carry, to adjust before
    /// [`sign`](Self::sign).
    pub fn claims_for(&self, client_id: &str, scopes: &[&str]) -> Value {
        let st = self.shared.state();
        mint_claims(&self.shared, &st, client_id, scopes, false)
    }

    /// Signs `claims` with the active key (or the HS256 secret), with the header of the
    /// issuer's shape.
    pub fn sign(&self, claims: &Value) -> String {
        let st = self.shared.state();
        self.shared.issue(&st, claims)
    }

    /// This issuer's revocation list, in memory: give it to the verifier under test, then
    /// [`revoke`](Self::revoke) tokens, to test your routes' behaviour on revocation without
    /// Redis. Nothing is reused locally (zero staleness), so a revocation bites at once.
    ///
    /// ```
    /// use permiso::testing::TestIssuer;
    /// use permiso::{AuthErrorKind, Verifier};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let idp = TestIssuer::start().await;
    /// let verifier = Verifier::builder(["keystone-auth"])
    ///     .issuer(idp.issuer_config())
    ///     .revocation(idp.revocation())
    ///     .build()
    ///     .unwrap();
    /// let token = idp.token("payment-service", &["read:transactions"]);
    /// verifier.verify(&token).await.unwrap();
    /// idp.revoke(&token);
    /// assert_eq!(verifier.verify(&token).await.unwrap_err().kind(), AuthErrorKind::Revoked);
    /// # });
    /// ```
    pub fn revocation(&self) -> Revocation {
        Revocation::new(self.shared.revocations.clone()).max_staleness(Duration::ZERO)
    }

    /// Revokes `token` (one this issuer minted, JWT or [opaque](Self::opaque_token)) in
    /// [`revocation`](Self::revocation)'s list; the RFC 7662 introspection endpoint then
    /// answers it inactive (permiso's, like the real server's, does not look).
    ///
    /// # Panics
    ///
    /// When `token` has no readable `jti`.
    pub fn revoke(&self, token: &str) {
        let payload = token.split('.').nth(1).and_then(|p| crate::token::b64url(p.as_bytes()));
        let claims: Value = self
            .shared
            .claims_of(token)
            .or_else(|| payload.and_then(|p| serde_json::from_slice(&p).ok()))
            .unwrap_or_default();
        let jti = claims["jti"].as_str().expect("the token has a jti");
        self.shared.revocations.revoke(jti, claims["exp"].as_u64().unwrap_or(u64::MAX));
    }

    /// A signed token for `client_id` with `scopes` (`is_trusted: false`).
    pub fn token(&self, client_id: &str, scopes: &[&str]) -> String {
        self.sign(&self.claims_for(client_id, scopes))
    }

    /// A DPoP-bound token for `client_id` with `scopes`: `cnf.jkt` is `jkt`, the thumbprint of
    /// the caller's key ([`DpopKey::thumbprint`](crate::dpop::DpopKey::thumbprint)).
    ///
    /// ```
    /// use permiso::dpop::DpopKey;
    /// use permiso::testing::TestIssuer;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let idp = TestIssuer::start().await;
    /// let key = DpopKey::generate().unwrap();
    /// let token = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    /// let proof = key.proof("GET", "http://127.0.0.1:8001/api/v1/transactions", Some(&token), None);
    /// // Send `Authorization: DPoP {token}` and `DPoP: {proof}`.
    /// # let _ = proof;
    /// # });
    /// ```
    pub fn dpop_token(&self, client_id: &str, scopes: &[&str], jkt: &str) -> String {
        let mut claims = self.claims_for(client_id, scopes);
        claims["cnf"] = json!({ "jkt": jkt });
        self.sign(&claims)
    }

    /// A token bound to a client certificate (RFC 8705 §3.1): `cnf.x5t#S256` is `x5t`, the
    /// certificate's [`thumbprint`](crate::mtls::ClientCertificate::thumbprint). It passes
    /// `AuthLayer` only on a request made with that certificate.
    ///
    /// ```
    /// use permiso::mtls::ClientCertificate;
    /// use permiso::testing::TestIssuer;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let idp = TestIssuer::start().await;
    /// let cert = ClientCertificate::from_der(b"0\x03\x02\x01\x01".to_vec());
    /// let token = idp.certificate_bound_token("payment-service", &["read:transactions"], &cert.thumbprint());
    /// # let _ = token;
    /// # });
    /// ```
    pub fn certificate_bound_token(&self, client_id: &str, scopes: &[&str], x5t: &str) -> String {
        let mut claims = self.claims_for(client_id, scopes);
        claims["cnf"] = json!({ "x5t#S256": x5t });
        self.sign(&claims)
    }

    /// Makes DPoP token requests carry `nonce` (answered `400 use_dpop_nonce` with a
    /// `DPoP-Nonce` header until they do), or stops asking with `None`.
    pub fn set_dpop_nonce(&self, nonce: Option<&str>) {
        self.shared.state().dpop_nonce = nonce.map(str::to_owned);
    }

    /// The key signing tokens now.
    pub fn active_key(&self) -> SigningKey {
        let st = self.shared.state();
        st.keys[st.active].key.clone()
    }

    /// The key with this `kid`, published or not.
    pub fn key(&self, kid: &str) -> Option<SigningKey> {
        self.shared.state().keys.iter().find(|k| k.key.kid() == Some(kid)).map(|k| k.key.clone())
    }

    /// Adds and publishes a new key (not yet signing). Returns its `kid`.
    pub fn add_key(&self, alg: Algorithm) -> String {
        let mut st = self.shared.state();
        let kid = format!("key-{}", st.keys.len() + 1);
        st.keys.push(KeyEntry { key: SigningKey::generate(alg).with_kid(kid.clone()), published: true });
        kid
    }

    /// Makes the key `kid` the one that signs (publishing it if needed).
    ///
    /// # Panics
    ///
    /// If there is no such key.
    pub fn promote(&self, kid: &str) {
        let mut st = self.shared.state();
        let i = st.keys.iter().position(|k| k.key.kid() == Some(kid)).expect("no such key");
        st.keys[i].published = true;
        st.active = i;
    }

    /// Rotates in one step: adds a key, publishes it and makes it sign. Returns its `kid`.
    pub fn rotate(&self, alg: Algorithm) -> String {
        let kid = self.add_key(alg);
        self.promote(&kid);
        kid
    }

    /// Removes the key `kid` from the JWKS (it keeps signing if it is the active one).
    pub fn retire(&self, kid: &str) {
        let mut st = self.shared.state();
        for k in &mut st.keys {
            if k.key.kid() == Some(kid) {
                k.published = false;
            }
        }
    }

    /// Makes the JWKS endpoint misbehave (`None` to stop).
    pub fn set_jwks_fault(&self, fault: Option<Fault>) {
        self.shared.state().jwks_fault = fault;
    }

    /// Makes the discovery endpoints misbehave (`None` to stop).
    pub fn set_discovery_fault(&self, fault: Option<Fault>) {
        self.shared.state().discovery_fault = fault;
    }

    /// Makes the token endpoint misbehave (`None` to stop).
    pub fn set_token_fault(&self, fault: Option<Fault>) {
        self.shared.state().token_fault = fault;
    }

    /// Makes the next token requests misbehave, one fault each, then behave.
    pub fn fail_next_token_requests(&self, faults: impl IntoIterator<Item = Fault>) {
        let mut st = self.shared.state();
        st.token_faults = faults.into_iter().collect();
        st.token_faults.reverse();
    }

    /// Sends `Cache-Control: max-age=N` with the JWKS (`None`: no header).
    pub fn set_max_age(&self, secs: Option<u64>) {
        self.shared.state().max_age = secs;
    }

    /// Makes discovery documents name another `issuer` (to test the mismatch check).
    pub fn set_discovery_issuer(&self, iss: Option<String>) {
        self.shared.state().discovery_issuer = iss;
    }

    /// Registers (or replaces) a client for the token endpoint, untrusted.
    pub fn add_client(&self, id: &str, secret: &str, scopes: &[&str]) {
        self.insert_client(id, secret, scopes, Trust::Untrusted);
    }

    /// Registers (or replaces) a trusted client for the token endpoint.
    pub fn add_trusted_client(&self, id: &str, secret: &str, scopes: &[&str]) {
        self.insert_client(id, secret, scopes, Trust::Trusted);
    }

    fn insert_client(&self, id: &str, secret: &str, scopes: &[&str], trust: Trust) {
        self.shared.state().clients.insert(
            id.into(),
            Client {
                secret: secret.into(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                trusted: trust == Trust::Trusted,
            },
        );
    }

    /// Stops listening and drops every open connection: clients get "connection refused".
    pub fn shutdown(&self) {
        if let Some(server) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            server.abort();
        }
    }

    /// Listens again on the same port after [`shutdown`](Self::shutdown).
    ///
    /// # Panics
    ///
    /// If the port was taken meanwhile.
    pub async fn restart(&self) {
        self.shutdown();
        // The aborted task releases the port once it is dropped; retry briefly.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(spawn_server(listener, Arc::clone(&self.shared)));
    }

    /// How many times the JWKS was requested.
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times a discovery document was requested.
    pub fn discovery_fetches(&self) -> u64 {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// How many token requests arrived.
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How many times the target of a [`Fault::Redirect`] was requested (should stay 0).
    pub fn redirect_target_fetches(&self) -> u64 {
        self.shared.redirect_target_fetches.load(Ordering::SeqCst)
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.shared.base)
            .field("jwks_fetches", &self.jwks_fetches())
            .finish_non_exhaustive()
    }
}

/// Introspection: see `introspect.rs` for the endpoints.
impl TestIssuer {
    /// Its RFC 7662 introspection endpoint, `{url}/introspect`: a form body with `token`,
    /// authenticated as a registered client (`client_secret_basic` or `client_secret_post`);
    /// it answers tokens this issuer minted, inactive once expired or
    /// [revoked](Self::revoke).
    ///
    /// ```
    /// use permiso::introspection::Introspection;
    /// use permiso::testing::TestIssuer;
    /// use permiso::{Issuer, Verifier};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let idp = TestIssuer::builder().client("payments-api", "its-secret", &[]).start().await;
    /// let introspection =
    ///     Introspection::rfc7662(idp.introspection_url()).client_secret_basic("payments-api", "its-secret");
    /// let verifier = Verifier::builder(["keystone-auth"])
    ///     .issuer(Issuer::introspected(idp.issuer(), introspection))
    ///     .build()
    ///     .unwrap();
    /// let token = idp.opaque_token("payment-service", &["read:transactions"]);
    /// let claims = verifier.verify(&token).await.unwrap();
    /// assert!(claims.scopes().contains("read:transactions"));
    /// idp.revoke(&token);
    /// # });
    /// ```
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.url())
    }

    /// Its permiso-style introspection endpoint, `{url}/api/v1/auth/introspect`: a JSON body
    /// `{"token": …}` with a token of this issuer as bearer; it answers as the permiso server
    /// does (`sub`, `client_id`, `scope`, `exp`, `iat`, `"token_type": "service_token"`), and,
    /// like it, does not consult revocations. Its own token endpoint is
    /// `{url}/api/v1/auth/service-token`, where a resource server registered with
    /// [`TestIssuerBuilder::client`](super::TestIssuerBuilder::client) gets its token.
    pub fn permiso_introspection_url(&self) -> String {
        format!("{}/api/v1/auth/introspect", self.url())
    }

    /// An opaque token (43 random base64url characters) for `client_id` with `scopes`: only
    /// the introspection endpoints can tell what it stands for.
    ///
    /// # Panics
    ///
    /// If the system's random generator fails.
    pub fn opaque_token(&self, client_id: &str, scopes: &[&str]) -> String {
        self.opaque_token_with(self.claims_for(client_id, scopes))
    }

    /// An opaque token standing for `claims` (adjusted from
    /// [`claims_for`](Self::claims_for): another audience, a `cnf`, a past `exp`…).
    ///
    /// # Panics
    ///
    /// If the system's random generator fails.
    pub fn opaque_token_with(&self, claims: Value) -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator");
        let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        self.shared.remember(token.clone(), claims);
        token
    }

    /// How many introspection requests (of either style) it received.
    pub fn introspection_calls(&self) -> u64 {
        self.shared.introspection_calls.load(Ordering::SeqCst)
    }

    /// Makes both introspection endpoints misbehave, or stop with `None`.
    pub fn set_introspection_fault(&self, fault: Option<Fault>) {
        *self.shared.introspection_fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }
}
