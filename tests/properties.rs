//! Property tests: scope parsing and implication, and the token front end (never panics,
//! round-trips what it accepts).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use permiso::testing::{SigningKey, immediately};
use permiso::{Algorithm, AuthErrorKind, Issuer, ManualClock, ScopeRules, ScopeSet, Verifier};
use proptest::prelude::*;
use serde_json::json;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_700_000_000;

fn verifier() -> Verifier {
    Verifier::builder(["keystone-auth"])
        .issuer(Issuer::permiso("keystone-auth", SECRET))
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap()
}

/// A valid scope token: printable ASCII without space, `"` and `\`.
fn scope() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,24}"
}

/// A resource name for `read:X` / `write:X` / `admin:X`.
fn resource() -> impl Strategy<Value = String> {
    "[a-z0-9_.-]{1,16}"
}

proptest! {
    #[test]
    fn parsing_any_string_keeps_only_valid_scopes(s in any::<String>()) {
        let set = ScopeSet::parse_space_separated(&s);
        for scope in set.iter() {
            prop_assert!(!scope.is_empty());
            prop_assert!(scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)));
        }
        // Display and parse round-trip.
        prop_assert_eq!(ScopeSet::parse_space_separated(&set.to_string()), set);
    }

    #[test]
    fn every_granted_scope_satisfies_itself(scopes in prop::collection::vec(scope(), 0..20)) {
        let set = ScopeSet::from_iter(&scopes).with_rules(ScopeRules::permiso());
        for s in &scopes {
            prop_assert!(set.contains(s));
            prop_assert!(set.satisfies(s));
        }
        prop_assert_eq!(set.len(), scopes.iter().collect::<std::collections::BTreeSet<_>>().len());
    }

    #[test]
    fn admin_implies_read_and_write_of_its_own_resource_only(r in resource(), other in resource()) {
        let scoped = |verb: &str, res: &str| format!("{verb}:{res}");
        let set = ScopeSet::from_iter([scoped("admin", &r)]).with_rules(ScopeRules::permiso());
        prop_assert!(set.satisfies(&scoped("read", &r)));
        prop_assert!(set.satisfies(&scoped("write", &r)));
        prop_assert!(!set.satisfies(&scoped("delete", &r)));
        if other != r {
            prop_assert!(!set.satisfies(&scoped("read", &other)));
            prop_assert!(!set.satisfies(&scoped("write", &other)));
            prop_assert!(!set.satisfies(&scoped("admin", &other)));
        }
        // Implication never runs upwards or without the rules.
        let rw = ScopeSet::from_iter([scoped("read", &r), scoped("write", &r)]).with_rules(ScopeRules::permiso());
        prop_assert!(!rw.satisfies(&scoped("admin", &r)));
        prop_assert!(!ScopeSet::from_iter([scoped("admin", &r)]).satisfies(&scoped("read", &r)));
    }

    #[test]
    fn arbitrary_strings_are_refused_without_panicking(token in any::<String>()) {
        prop_assert!(immediately(verifier().verify(&token)).is_err());
    }

    #[test]
    fn arbitrary_segments_are_refused_without_panicking(
        header in prop::collection::vec(any::<u8>(), 0..64),
        payload in prop::collection::vec(any::<u8>(), 0..128),
        sig in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(sig));
        let err = immediately(verifier().verify(&token)).unwrap_err();
        prop_assert_eq!(err.status(), 401);
    }

    #[test]
    fn valid_tokens_round_trip_their_claims(
        extra in prop::collection::btree_map("[a-z]{3,10}", any::<String>(), 0..6),
        scopes in prop::collection::vec(scope(), 0..8),
        sub in any::<String>(),
    ) {
        let mut claims = json!({
            "iss": "keystone-auth", "aud": ["keystone-auth"], "sub": sub, "exp": NOW + 600,
            "type": "service", "client_id": "svc", "scopes": scopes,
        });
        const KNOWN: [&str; 15] = [
            "iss", "aud", "exp", "sub", "type", "scopes", "scope", "scp", "nbf", "iat", "jti",
            "is_trusted", "client_id", "azp", "typ",
        ];
        let extra: Vec<_> = extra.into_iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())).collect();
        for (k, v) in &extra {
            claims[k] = json!(v);
        }
        let token = SigningKey::hmac(Algorithm::HS256, SECRET).sign(&claims);
        let verified = immediately(verifier().verify(&token)).unwrap();
        prop_assert_eq!(verified.subject(), Some(sub.as_str()));
        for s in &scopes {
            prop_assert!(verified.scopes().contains(s));
        }
        for (k, v) in &extra {
            let got = verified.get::<String>(k);
            prop_assert_eq!(got.as_ref(), Some(v));
        }
    }

    #[test]
    fn a_flipped_byte_never_verifies(index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let token = SigningKey::hmac(Algorithm::HS256, SECRET).sign(&json!({
            "iss": "keystone-auth", "aud": "keystone-auth", "exp": NOW + 600,
        }));
        let mut bytes = token.into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(mutated) = String::from_utf8(bytes) {
            let result = immediately(verifier().verify(&mutated));
            prop_assert!(result.is_err(), "a modified token was accepted");
            prop_assert!(result.unwrap_err().kind() != AuthErrorKind::KeysUnavailable);
        }
    }
}
