//! DPoP (RFC 9449): tokens bound to a key the caller holds, each request carrying a fresh
//! proof signed with it.
//!
//! **Receiving side.** [`AuthLayer`](crate::AuthLayer) accepts `Authorization: DPoP <token>`
//! with one `DPoP` proof header as part of its one verification; the policy is the
//! verifier's ([`VerifierBuilder::dpop`](crate::VerifierBuilder::dpop), `PERMISO_DPOP`…). A
//! token bound to a key (`cnf.jkt`) is accepted only with a proof that passes every check
//! of RFC 9449 §4.3:
//!
//! - exactly one `DPoP` header, a compact JWS of at most 8 KiB, header and claims JSON
//!   objects without duplicate members;
//! - `typ` = `dpop+jwt`; `alg` asymmetric and in the allow-list ([`Dpop::algorithms`]);
//!   no `crit`;
//! - `jwk` a public key (a private member is refused) whose RFC 7638 thumbprint equals the
//!   token's `cnf.jkt`, and the signature valid with it;
//! - `htm` equal to the request method; `htu` equal to one of the service's public base
//!   URLs (`PERMISO_PUBLIC_BASE_URL`, required with DPoP, shared with request signing) plus
//!   the request's path as sent; only the scheme, host and default port are normalised, the
//!   path is compared byte for byte, and a dot segment (`.`, `..`, `%2e%2e`…) in either is
//!   refused. The URL is never taken from the request's `Host`, `:authority` or request line;
//! - `iat` within ±[`max_age`](Dpop::max_age) (60 s) plus the verifier's leeway;
//! - `ath` equal to the base64url SHA-256 of the token;
//! - `jti` not seen before within that window (per key; in memory, bounded, or shared through
//!   Redis with `SET NX EX`, this replica's memory always asked first; a Redis that cannot
//!   answer is answered 503 unless `replay_on_error` is `allow`).
//!
//! The verified-token cache may hold the token (its claims, `cnf.jkt` included); the proof is
//! checked on every request and never cached. A bound token presented as `Bearer` is refused
//! (401 `invalid_token`); in `required` mode so is any token without `cnf`. Errors follow
//! RFC 9449 §7.1: `WWW-Authenticate: DPoP algs="…", error="invalid_dpop_proof" |
//! "invalid_token"`, plus a `Bearer` challenge where both schemes are accepted. Server nonces
//! (`DPoP-Nonce`) are not issued by the receiving side.
//!
//! **Calling side.** [`DpopKey`] holds the caller's key (P-256, generated or given) and makes
//! proofs; with the `client` feature a `TokenSource` given a key gets bound tokens and the
//! bearer layers send `Authorization: DPoP` with a fresh proof per request.
//!
//! ```
//! use permiso::dpop::DpopKey;
//!
//! let key = DpopKey::generate().unwrap();
//! let proof = key.proof("GET", "https://payments.example.com/api/v1/transactions", Some("the.access.token"), None);
//! assert_eq!(proof.split('.').count(), 3);
//! assert_eq!(key.thumbprint().len(), 43); // base64url SHA-256: the token's cnf.jkt
//! ```

mod key;
mod nonce;
mod policy;
pub(crate) mod settings;

pub use key::DpopKey;
pub use policy::*;
