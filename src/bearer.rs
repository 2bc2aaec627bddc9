//! Finding the bearer token in a request (RFC 6750 §2.1), and refusing the ways it must not
//! come.
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Uri};
//! use permiso::bearer;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", HeaderValue::from_static("Bearer abc.def.ghi"));
//! let uri: Uri = "/api/v1/transactions".parse().unwrap();
//! assert_eq!(bearer::extract(&headers, &uri).unwrap(), Some("abc.def.ghi"));
//!
//! headers.insert("authorization", HeaderValue::from_static("Basic dXNlcjpwdw=="));
//! assert_eq!(bearer::extract(&headers, &uri).unwrap(), None);
//!
//! headers.insert("authorization", HeaderValue::from_static("Bearer "));
//! assert_eq!(bearer::extract(&headers, &uri).unwrap_err().status(), 400);
//! ```

use http::{HeaderMap, Uri, header};

use crate::error::{AuthError, AuthErrorKind};

fn invalid(why: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidRequest).with_description(why)
}

/// The bearer token of a request, if it has one.
///
/// - `Ok(Some(token))`: exactly one `Authorization: Bearer <token>` header (scheme
///   case-insensitive) with a syntactically valid token (`b64token`). The token itself is
///   not checked here.
/// - `Ok(None)`: no `Authorization` header, or one with another scheme (`Basic`…).
/// - `Err` (400 `invalid_request`): the header is repeated, not visible ASCII, `Bearer` with
///   an empty or malformed token, or an `access_token` in the query string (tokens in URLs
///   end up in logs, and RFC 6750 forbids sending one two ways).
///
/// # Errors
///
/// As above: always [`AuthErrorKind::InvalidRequest`].
pub fn extract<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<Option<&'a str>, AuthError> {
    match credentials(headers, uri)? {
        Some(Credentials { scheme: Scheme::Bearer, token }) => Ok(Some(token)),
        _ => Ok(None),
    }
}

/// The scheme a token came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP`, with a `DPoP` proof header (RFC 9449).
    Dpop,
}

/// A token and the scheme it came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `Bearer` or `DPoP`.
    pub scheme: Scheme,
    /// The access token, syntactically a `b64token`; not otherwise checked.
    pub token: &'a str,
}

/// The token of a request and its scheme, `Bearer` or `DPoP` (both case-insensitive), with
/// the rules of [`extract`]; another scheme is `Ok(None)`.
///
/// ```
/// use http::{HeaderMap, HeaderValue, Uri};
/// use permiso::bearer::{self, Scheme};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", HeaderValue::from_static("DPoP abc.def.ghi"));
/// let creds = bearer::credentials(&headers, &Uri::from_static("/")).unwrap().unwrap();
/// assert_eq!((creds.scheme, creds.token), (Scheme::Dpop, "abc.def.ghi"));
/// ```
///
/// # Errors
///
/// As [`extract`], for either scheme.
pub fn credentials<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<Option<Credentials<'a>>, AuthError> {
    if uri.query().is_some_and(query_has_token) {
        return Err(invalid("access tokens are not accepted in the URL"));
    }
    credentials_in_header(headers)
}

/// The `Authorization` header's token and scheme alone (no look at the query).
pub(crate) fn credentials_in_header(headers: &HeaderMap) -> Result<Option<Credentials<'_>>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("the Authorization header is repeated"));
    }
    // One pass over the token: `b64token` bytes are visible ASCII, so the header needs no
    // separate check when the scheme is Bearer.
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &bytes[bytes.len()..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return match value.to_str() {
            Ok(_) => Ok(None),
            Err(_) => Err(invalid("the Authorization header is not visible ASCII")),
        };
    };
    let token = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    if token.is_empty() {
        return Err(invalid("the bearer token is empty"));
    }
    if !is_b64token(token) {
        return Err(invalid("the bearer token is malformed"));
    }
    let token = std::str::from_utf8(token).map_err(|_| invalid("the bearer token is malformed"))?;
    Ok(Some(Credentials { scheme, token }))
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// Written without early exits so the compiler vectorizes it: tokens are read on every
/// request and are hundreds of bytes long.
pub(crate) fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // `-` `.` `/` and the digits are one run of ASCII (0x2D..=0x39): letters, that run, and
    // three single bytes.
    let allowed = |b: u8| {
        ((b | 0x20).wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'-') <= b'9' - b'-')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
    };
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & allowed(b))
}

/// Whether the query has an `access_token` parameter, under any spelling a form decoder reads
/// as that name.
pub(crate) fn query_has_token(query: &str) -> bool {
    // Decoding only turns `%XX` into a byte and `+` into a space (which the name has not):
    // without a `%`, the name can only be there as it is spelled. Most queries are decided
    // by these two scans, without a decoder.
    (query.contains('%') || query.contains("access_token"))
        && url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn a_b64token_is_exactly_rfc_6750s_alphabet_then_padding() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
        for b in 0..=u8::MAX {
            assert_eq!(is_b64token(&[b'a', b, b'a']), alphabet.contains(&b), "byte {b:#04x}");
            assert_eq!(is_b64token(&[b]), alphabet.contains(&b), "byte {b:#04x} alone");
        }
        assert!(is_b64token(b"ab=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
    }

    fn run(values: &[&[u8]], uri: &str) -> Result<Option<String>, AuthErrorKind> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        extract(&headers, &uri.parse().unwrap()).map(|t| t.map(str::to_owned)).map_err(|e| e.kind())
    }

    #[test]
    fn bearer_tokens_are_found() {
        assert_eq!(run(&[b"Bearer a.b.c"], "/"), Ok(Some("a.b.c".into())));
        assert_eq!(run(&[b"bearer a.b.c"], "/"), Ok(Some("a.b.c".into())));
        assert_eq!(run(&[b"BEARER   a.b.c"], "/"), Ok(Some("a.b.c".into())));
        assert_eq!(run(&[b"Bearer abc+/=="], "/"), Ok(Some("abc+/==".into())));
    }

    #[test]
    fn no_token_or_another_scheme_is_none() {
        assert_eq!(run(&[], "/"), Ok(None));
        assert_eq!(run(&[b"Basic dXNlcjpwYXNz"], "/"), Ok(None));
        assert_eq!(run(&[b"Bearerx a.b.c"], "/"), Ok(None));
        assert_eq!(run(&[b"Token a.b.c"], "/"), Ok(None));
        assert_eq!(run(&[], "/?q=access_token"), Ok(None));
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        let bad: [&[u8]; 8] = [
            b"Bearer",
            b"Bearer ",
            b"Bearer a.b c",
            b"Bearer a,b",
            b"Bearer \"a.b.c\"",
            b"Bearer ==",
            b"Bearer a=b",
            b"Bearer a.b.c\xff",
        ];
        for v in bad {
            assert_eq!(
                run(&[v], "/"),
                Err(AuthErrorKind::InvalidRequest),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn repeated_headers_and_query_tokens_are_refused() {
        assert_eq!(run(&[b"Bearer a.b.c", b"Bearer a.b.c"], "/"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(run(&[b"Bearer a.b.c", b"Basic x"], "/"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(run(&[b"Bearer a.b.c"], "/x?access_token=a.b.c"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(run(&[], "/x?a=1&access%5Ftoken=t"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(run(&[], "/x?a=1&access_token"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(run(&[], "/x?w=1&n=2"), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn the_query_shortcut_answers_as_the_form_decoder(query in "([a-z_%+=&]|access_token|%5F|%5f|%61){0,12}") {
            let decoded = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token");
            proptest::prop_assert_eq!(query_has_token(&query), decoded);
        }
    }
}
