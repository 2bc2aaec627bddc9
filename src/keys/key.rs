//! [`Key`] and [`KeySet`]: keys parsed once, and looked up by `kid` and algorithm.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{self as sig, ParsedPublicKey};

use super::hmac::HmacKeys;
use crate::algorithm::{Algorithm, Family};
use crate::error::{ConfigError, ConfigErrorKind};

/// One key that can verify signatures.
///
/// ```
/// use permiso::Algorithm;
/// use permiso::keys::Key;
///
/// let key = Key::from_jwk(r#"{"kty":"OKP","crv":"Ed25519","kid":"ed-1",
///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
/// assert_eq!(key.kid(), Some("ed-1"));
/// assert!(key.supports(Algorithm::EdDSA));
/// assert!(!key.supports(Algorithm::RS256));
/// ```
#[derive(Clone)]
pub struct Key {
    pub(super) kid: Option<Arc<str>>,
    /// The JWK's own `alg`, binding the key to that one algorithm.
    pub(super) alg: Option<Algorithm>,
    pub(super) material: Arc<Material>,
}

// Always behind an `Arc`, allocated once per key: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Material {
    Hmac(HmacKeys),
    Rsa {
        /// PKCS#1 `RSAPublicKey` DER.
        der: Box<[u8]>,
        bits: usize,
        /// Parsed per RSA algorithm on first use, indexed by `Algorithm::index() - RS256`.
        parsed: [OnceLock<Option<ParsedPublicKey>>; 6],
    },
    Ec {
        alg: Algorithm,
        parsed: ParsedPublicKey,
    },
    Ed25519(ParsedPublicKey),
}

impl Key {
    /// An HMAC secret for HS256/384/512 (permiso's shared secret).
    ///
    /// # Errors
    ///
    /// An empty secret.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self::from_material(None, None, Material::Hmac(HmacKeys::new(secret.as_ref())?)))
    }

    /// Sets the key id used to match a token's `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Arc<str>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Binds the key to one algorithm.
    ///
    /// # Errors
    ///
    /// The algorithm does not fit the key.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, ConfigError> {
        if !self.fits(alg) {
            return Err(ConfigError::new(
                ConfigErrorKind::Conflict,
                format!("algorithm {alg} does not fit a {} key", self.kind_name()),
            ));
        }
        self.alg = Some(alg);
        Ok(self)
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key is bound to, if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether this key can verify `alg` signatures.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    pub(crate) fn from_material(kid: Option<Arc<str>>, alg: Option<Algorithm>, material: Material) -> Self {
        Self { kid, alg, material: Arc::new(material) }
    }

    /// Whether `other` is this very key (the same loaded material), not merely an equal one.
    pub(crate) fn same(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.material, &other.material)
    }

    /// Whether `other` has the same id, binding and public material: a refetched JWKS keeps
    /// the loaded key for it, so entries verified by it stay valid.
    pub(crate) fn same_material(&self, other: &Key) -> bool {
        if self.kid != other.kid || self.alg != other.alg {
            return false;
        }
        match (&*self.material, &*other.material) {
            (Material::Rsa { der: a, .. }, Material::Rsa { der: b, .. }) => a == b,
            (Material::Ec { parsed: a, .. }, Material::Ec { parsed: b, .. })
            | (Material::Ed25519(a), Material::Ed25519(b)) => a.as_ref() == b.as_ref(),
            _ => false,
        }
    }

    /// Whether the key's type can do `alg`, ignoring any binding.
    pub(super) fn fits(&self, alg: Algorithm) -> bool {
        match (&*self.material, alg.family()) {
            (Material::Hmac(_), Family::Hmac) | (Material::Rsa { .. }, Family::Rsa) => true,
            (Material::Ec { alg: a, .. }, _) => *a == alg,
            (Material::Ed25519(_), Family::Ed25519) => true,
            _ => false,
        }
    }

    /// The algorithm a key of this type is used with when nothing else is said.
    pub(crate) fn default_algorithm(&self) -> Algorithm {
        self.alg.unwrap_or(match &*self.material {
            Material::Hmac(_) => Algorithm::HS256,
            Material::Rsa { .. } => Algorithm::RS256,
            Material::Ec { alg, .. } => *alg,
            Material::Ed25519(_) => Algorithm::EdDSA,
        })
    }

    /// For an HMAC key, the secret's length in bytes.
    pub(crate) fn hmac_secret_len(&self) -> Option<usize> {
        match &*self.material {
            Material::Hmac(keys) => Some(keys.secret_len()),
            _ => None,
        }
    }

    pub(crate) fn is_symmetric(&self) -> bool {
        matches!(&*self.material, Material::Hmac(_))
    }

    fn kind_name(&self) -> &'static str {
        match &*self.material {
            Material::Hmac(_) => "HMAC",
            Material::Rsa { .. } => "RSA",
            Material::Ec { alg: Algorithm::ES384, .. } => "EC P-384",
            Material::Ec { .. } => "EC P-256",
            Material::Ed25519(_) => "Ed25519",
        }
    }

    /// Checks `signature` over `message`. The caller has checked [`supports`](Self::supports).
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match &*self.material {
            Material::Hmac(keys) => keys.verify(alg, message, signature),
            Material::Rsa { der, parsed, .. } => {
                let Some(slot) =
                    alg.index().checked_sub(Algorithm::RS256.index()).and_then(|i| parsed.get(i))
                else {
                    return false;
                };
                slot.get_or_init(|| ParsedPublicKey::new(rsa_params(alg), &**der).ok())
                    .as_ref()
                    .is_some_and(|key| key.verify_sig(message, signature).is_ok())
            }
            Material::Ec { parsed, .. } | Material::Ed25519(parsed) => {
                parsed.verify_sig(message, signature).is_ok()
            }
        }
    }

    pub(crate) fn rsa(
        kid: Option<Arc<str>>,
        alg: Option<Algorithm>,
        der: Vec<u8>,
    ) -> Result<Self, &'static str> {
        let public = aws_lc_rs::rsa::PublicKey::from_der(&der).map_err(|_| "the RSA key is malformed")?;
        let bits = public.modulus_len() * 8;
        if bits < 2048 {
            return Err("RSA keys must have at least 2048 bits");
        }
        if bits > 8192 {
            return Err("RSA keys must have at most 8192 bits");
        }
        // Fail now, not on the first request, if aws-lc refuses the key.
        ParsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, &der)
            .map_err(|_| "the RSA key is not usable")?;
        Ok(Self::from_material(
            kid,
            alg,
            Material::Rsa { der: der.into_boxed_slice(), bits, parsed: Default::default() },
        ))
    }

    pub(crate) fn ec(
        kid: Option<Arc<str>>,
        alg: Option<Algorithm>,
        point: &[u8],
    ) -> Result<Self, &'static str> {
        let (curve_alg, verify_alg): (_, &'static dyn sig::VerificationAlgorithm) = match point.len() {
            65 => (Algorithm::ES256, &sig::ECDSA_P256_SHA256_FIXED),
            97 => (Algorithm::ES384, &sig::ECDSA_P384_SHA384_FIXED),
            _ => return Err("only P-256 and P-384 EC keys are supported"),
        };
        let parsed =
            ParsedPublicKey::new(verify_alg, point).map_err(|_| "the EC key is not a point on its curve")?;
        Ok(Self::from_material(kid, alg, Material::Ec { alg: curve_alg, parsed }))
    }

    pub(crate) fn ed25519(
        kid: Option<Arc<str>>,
        alg: Option<Algorithm>,
        x: &[u8],
    ) -> Result<Self, &'static str> {
        if x.len() != 32 {
            return Err("an Ed25519 key has 32 bytes");
        }
        let parsed = ParsedPublicKey::new(&sig::ED25519, x).map_err(|_| "the Ed25519 key is malformed")?;
        Ok(Self::from_material(kid, alg, Material::Ed25519(parsed)))
    }
}

fn rsa_params(alg: Algorithm) -> &'static sig::RsaParameters {
    match alg {
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

impl fmt::Debug for Key {
    /// The key id, type and binding; never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Key");
        d.field("kid", &self.kid).field("type", &self.kind_name());
        if let Material::Rsa { bits, .. } = &*self.material {
            d.field("bits", bits);
        }
        d.field("alg", &self.alg).finish()
    }
}

/// The keys an issuer verifies with.
///
/// ```
/// use permiso::keys::KeySet;
///
/// let set = KeySet::from_jwks(r#"{"keys":[
///   {"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty":"oct","kid":"secret","k":"c2VjcmV0"},
///   {"kty":"RSA","kid":"tiny","n":"AQAB","e":"AQAB"}
/// ]}"#).unwrap();
/// // Unusable keys are skipped, the rest still work.
/// assert_eq!(set.len(), 1);
/// assert_eq!(set.skipped(), 2);
/// ```
#[derive(Clone, Default)]
pub struct KeySet {
    pub(super) keys: Vec<Key>,
    pub(super) skipped: usize,
}

impl KeySet {
    /// A set of the given keys.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Self {
        Self { keys: keys.into_iter().collect(), skipped: 0 }
    }

    /// This set, with every key that `previous` already held replaced by the loaded one.
    pub(crate) fn reusing(mut self, previous: &KeySet) -> KeySet {
        for key in &mut self.keys {
            if let Some(old) = previous.keys.iter().find(|old| old.same_material(key)) {
                *key = old.clone();
            }
        }
        self
    }

    /// Whether `key` itself is in this set.
    pub(crate) fn holds(&self, key: &Key) -> bool {
        self.keys.iter().any(|k| k.same(key))
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the document were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &Key> + '_ {
        self.keys.iter()
    }

    /// The keys that may have signed a token with this `kid` and `alg` (the verifier tries at
    /// most eight of them).
    ///
    /// With a `kid`: the keys with that id, else the keys without any id. Without a `kid`:
    /// every key. Either way only keys that support `alg`.
    pub(crate) fn candidates<'a>(&'a self, kid: Option<&'a str>, alg: Algorithm) -> Candidates<'a> {
        let by_kid = kid.is_some_and(|k| self.keys.iter().any(|key| key.kid() == Some(k)));
        let matching_kid = move |key: &&Key| match kid {
            Some(k) if by_kid => key.kid() == Some(k),
            Some(_) => key.kid().is_none(),
            None => true,
        };
        let any_kid_match = self.keys.iter().any(|k| matching_kid(&k));
        Candidates {
            any_kid_match,
            keys: self.keys.iter().filter(matching_kid).filter(|key| key.supports(alg)).collect(),
        }
    }
}

pub(crate) struct Candidates<'a> {
    /// Whether any key matched the `kid` (before the algorithm filter).
    pub(crate) any_kid_match: bool,
    pub(crate) keys: Vec<&'a Key>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("keys", &self.keys).field("skipped", &self.skipped).finish()
    }
}

impl FromIterator<Key> for KeySet {
    fn from_iter<I: IntoIterator<Item = Key>>(iter: I) -> Self {
        Self::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::SigningKey;

    fn jwk_err(jwk: &Value) -> String {
        Key::from_jwk(&jwk.to_string()).unwrap_err().to_string()
    }

    fn ed_jwk() -> Value {
        SigningKey::generate(Algorithm::EdDSA).with_kid("ed").public_jwk().unwrap()
    }

    #[test]
    fn jwk_use_and_key_ops_are_honoured() {
        let mut enc = ed_jwk();
        enc["use"] = json!("enc");
        assert!(jwk_err(&enc).contains("use"));
        let mut ops = ed_jwk();
        ops["key_ops"] = json!(["encrypt", "sign"]);
        assert!(jwk_err(&ops).contains("key_ops"));
        let mut ok_ops = ed_jwk();
        ok_ops["key_ops"] = json!(["verify"]);
        Key::from_jwk(&ok_ops.to_string()).unwrap();
    }

    #[test]
    fn private_and_symmetric_jwks_are_refused() {
        let mut private = ed_jwk();
        private["d"] = json!("AAAA");
        assert!(jwk_err(&private).contains("private"));
        assert!(jwk_err(&json!({"kty": "oct", "k": "c2VjcmV0"})).contains("oct"));
    }

    #[test]
    fn unknown_types_curves_and_algs_are_refused() {
        assert!(jwk_err(&json!({"kty": "XYZ"})).contains("kty"));
        assert!(jwk_err(&json!({"x": "AA"})).contains("kty"));
        assert!(jwk_err(&json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"})).contains("P-256"));
        assert!(jwk_err(&json!({"kty": "OKP", "crv": "Ed448", "x": "AA"})).contains("Ed25519"));
        let mut alg = ed_jwk();
        alg["alg"] = json!("none");
        assert!(jwk_err(&alg).contains("alg"));
        let mut wrong = ed_jwk();
        wrong["alg"] = json!("RS256");
        assert!(jwk_err(&wrong).contains("alg"));
        let mut kid = ed_jwk();
        kid["kid"] = json!(5);
        assert!(jwk_err(&kid).contains("type"));
        assert!(jwk_err(&json!(["not", "an", "object"])).contains("object"));
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        let rsa = SigningKey::generate(Algorithm::RS256).public_jwk().unwrap();
        // The top half of a real 2048-bit modulus is a 1024-bit odd-enough number.
        let n = crate::token::b64url(rsa["n"].as_str().unwrap().as_bytes()).unwrap();
        let small = json!({"kty": "RSA", "e": "AQAB", "n": crate::token::tests::b64(&n[..128])});
        let err = jwk_err(&small);
        assert!(err.contains("2048") || err.contains("malformed"), "{err}");
        Key::from_jwk(&rsa.to_string()).unwrap();
    }

    #[test]
    fn ec_coordinates_must_be_on_the_curve() {
        let mut jwk = SigningKey::generate(Algorithm::ES256).public_jwk().unwrap();
        jwk["y"] = json!(crate::token::tests::b64(&[1u8; 32]));
        assert!(jwk_err(&jwk).contains("curve"));
        jwk["y"] = json!("AAAA");
        assert!(jwk_err(&jwk).contains("length"));
    }

    #[test]
    fn pem_keys_of_each_type() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            let pem = SigningKey::generate(alg).public_pem().unwrap();
            let key = Key::from_pem(&pem).unwrap();
            assert!(key.supports(alg), "{alg}");
            assert_eq!(key.default_algorithm(), alg);
        }
        let err =
            Key::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap_err();
        assert!(err.to_string().contains("private"));
        assert!(Key::from_pem("hello").is_err());
    }

    #[test]
    fn jwks_skips_bad_keys_and_keeps_good_ones() {
        let good = ed_jwk();
        let doc = json!({"keys": [good, {"kty": "oct", "k": "AA"}, {"kty": "RSA"}, 5, {"kty": "EC", "crv": "P-256"}]});
        let set = KeySet::from_jwks(&doc.to_string()).unwrap();
        assert_eq!((set.len(), set.skipped()), (1, 4));
        for bad in [
            "",
            "[]",
            "{}",
            "{\"keys\":{}}",
            "<html>",
            "{\"keys\":[]}",
            "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}",
        ] {
            assert!(KeySet::from_jwks(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SigningKey::hmac(Algorithm::HS256, b"super-secret-value-super-secret!!");
        let k = Key::hmac(key.secret().unwrap()).unwrap().with_kid("k1");
        let text = format!("{k:?} {key:?}");
        assert!(!text.contains("super-secret"), "{text}");
        let rsa = SigningKey::generate(Algorithm::RS256).public_jwk().unwrap();
        let n = rsa["n"].as_str().unwrap();
        let text = format!("{:?}", Key::from_jwk(&rsa.to_string()).unwrap());
        assert!(!text.contains(&n[..16]), "{text}");
        assert!(text.contains("2048"), "{text}");
    }
}
