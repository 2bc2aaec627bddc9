//! JWK and JWKS parsing (RFC 7517, 7518 §6, 8037), one key at a time.
//!
//! A key is refused with a reason (and, inside a set, skipped) when it is private or
//! symmetric, meant for encryption (`use`), not allowed to verify (`key_ops`), of an unknown
//! type, curve or algorithm, or an RSA key under 2048 bits.

use std::sync::Arc;

use serde_json::Value;

use super::key::{Key, KeySet};
use crate::algorithm::Algorithm;
use crate::token::b64url;

/// Members that only private (or symmetric) keys have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Parses one JWK. The error says why the key is unusable, without its material.
pub(crate) fn parse(jwk: &Value) -> Result<Key, &'static str> {
    let obj = jwk.as_object().ok_or("a JWK must be a JSON object")?;
    let str_member = |name: &str| -> Result<Option<&str>, &'static str> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err("a JWK member has the wrong type"),
        }
    };
    let kty = str_member("kty")?.ok_or("the JWK has no kty")?;
    if kty == "oct" {
        return Err("symmetric (oct) keys are not accepted from a JWK");
    }
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err("the JWK holds private key material");
    }
    if str_member("use")?.is_some_and(|u| u != "sig") {
        return Err("the JWK's use is not sig");
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or("the JWK's key_ops is not a list")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err("the JWK's key_ops does not allow verify");
        }
    }
    let alg = match str_member("alg")? {
        None => None,
        Some(a) => {
            Some(a.parse::<Algorithm>().map_err(|_| "the JWK's alg is not a supported signature algorithm")?)
        }
    };
    let kid: Option<Arc<str>> = str_member("kid")?.map(Into::into);
    let bytes = |name: &str| -> Result<Vec<u8>, &'static str> {
        let s = str_member(name)?.ok_or("the JWK lacks a required member")?;
        b64url(s.as_bytes()).ok_or("a JWK member is not base64url")
    };
    let key = match kty {
        "RSA" => {
            let n = bytes("n")?;
            let e = bytes("e")?;
            Key::rsa(kid, alg, rsa_public_key_der(&n, &e))?
        }
        "EC" => {
            let (crv_len, curve_alg) = match str_member("crv")? {
                Some("P-256") => (32, Algorithm::ES256),
                Some("P-384") => (48, Algorithm::ES384),
                _ => return Err("only the P-256 and P-384 curves are supported"),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != crv_len || y.len() != crv_len {
                return Err("the EC key's coordinates have the wrong length");
            }
            if alg.is_some_and(|a| a != curve_alg) {
                return Err("the JWK's alg does not fit its curve");
            }
            let mut point = Vec::with_capacity(1 + 2 * crv_len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Key::ec(kid, alg, &point)?
        }
        "OKP" => {
            if str_member("crv")? != Some("Ed25519") {
                return Err("only the Ed25519 curve is supported for OKP keys");
            }
            Key::ed25519(kid, alg, &bytes("x")?)?
        }
        _ => return Err("the JWK's kty is not supported"),
    };
    if alg.is_some_and(|a| !key.fits(a)) {
        return Err("the JWK's alg does not fit its key type");
    }
    Ok(key)
}

/// Parses a JWKS document, skipping unusable keys. Errors only when the document itself is
/// not a JWKS.
pub(crate) fn parse_set(json: &[u8]) -> Result<KeySet, &'static str> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<Value>,
    }
    let doc: Doc = serde_json::from_slice(json)
        .map_err(|_| "the document is not a JWKS (a JSON object with a keys list)")?;
    let mut set = KeySet::default();
    for jwk in &doc.keys {
        match parse(jwk) {
            Ok(key) => set.keys.push(key),
            Err(why) => {
                set.skipped += 1;
                let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
                // The kid is public; the reason names no key material.
                crate::log::warn!(kid = %kid.chars().take(64).collect::<String>(), reason = why, "skipping unusable JWK");
                let _ = (kid, why);
            }
        }
    }
    Ok(set)
}

/// DER of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
        let bytes = &bytes[start.min(bytes.len())..];
        let pad = bytes.first().is_none_or(|&b| b & 0x80 != 0);
        out.push(0x02);
        length(out, bytes.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(bytes);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let be = len.to_be_bytes();
            let skip = be.iter().position(|&b| b != 0).unwrap_or(be.len() - 1);
            out.push(0x80 | (be.len() - skip) as u8);
            out.extend_from_slice(&be[skip..]);
        }
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}
