//! Where a request may carry its token besides `Authorization`: a header a gateway forwards
//! it in, a cookie (browser-facing internal tools, WebSocket upgrades), or the `access_token`
//! query parameter (RFC 6750 §2.3, off unless named).
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Uri};
//! use permiso::layer::TokenLocations;
//!
//! let locations = TokenLocations::parse("header:authorization,header:x-access-token,cookie:access_token")?;
//! let mut headers = HeaderMap::new();
//! headers.insert("cookie", HeaderValue::from_static("theme=dark; access_token=abc.def.ghi"));
//! let uri = Uri::from_static("/api/v1/transactions");
//! let found = locations.find(&headers, &uri).unwrap().unwrap();
//! assert_eq!(found.token, "abc.def.ghi");
//!
//! // Two places at once is a 400: which one would be meant?
//! headers.insert("x-access-token", HeaderValue::from_static("another.token.here"));
//! assert_eq!(locations.find(&headers, &uri).unwrap_err().status(), 400);
//! # Ok::<(), permiso::ConfigError>(())
//! ```

use std::fmt;

use http::{HeaderMap, HeaderName, Uri, header};

use crate::bearer::{self, Credentials, Scheme};
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};

/// One place a token may be, besides `Authorization`.
#[derive(Clone, PartialEq, Eq)]
enum Location {
    /// A header holding the token alone (or `Bearer <token>`).
    Header(HeaderName),
    /// A cookie of this name.
    Cookie(String),
    /// A query parameter of this name.
    Query(String),
}

/// The places [`AuthLayer`](crate::AuthLayer) looks for a request's token: the
/// `Authorization` header always (first; `Bearer` or `DPoP`), then the headers, cookies and
/// query parameter named here (only ever `Bearer`). Exactly one place may carry a token: two
/// are refused with 400 `invalid_request`, as RFC 6750 §2 asks. An `access_token` in the query
/// is refused (400) unless named here: tokens in URLs end up in logs, proxies and browser
/// history, so RFC 6750 §2.3 discourages it. permiso never logs a query.
///
/// A token from a header, cookie or query must be a `b64token` as it stands (JWTs and
/// base64url tokens are): a percent-encoded query value is refused rather than decoded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenLocations {
    others: Vec<Location>,
}

impl TokenLocations {
    /// `Authorization` only: the default.
    pub fn authorization() -> Self {
        Self::default()
    }

    /// Also the header `name` (a gateway's `X-Access-Token`…), holding the token alone or
    /// `Bearer <token>`.
    ///
    /// # Errors
    ///
    /// `name` is not a header name, or is `Authorization` (always looked at first).
    pub fn header(mut self, name: &str) -> Result<Self, ConfigError> {
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| invalid(format!("{name:?} is not a header name")))?;
        if name != header::AUTHORIZATION {
            self.push(Location::Header(name))?;
        }
        Ok(self)
    }

    /// Also the cookie `name`.
    ///
    /// # Errors
    ///
    /// `name` is empty or not a cookie name (RFC 6265 token).
    pub fn cookie(mut self, name: &str) -> Result<Self, ConfigError> {
        let name = name.trim();
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        {
            return Err(invalid(format!("{name:?} is not a cookie name")));
        }
        self.push(Location::Cookie(name.to_owned()))?;
        Ok(self)
    }

    /// Also the query parameter `name` (usually `access_token`, RFC 6750 §2.3). Discouraged:
    /// use it only where a client cannot send a header (a browser's WebSocket).
    ///
    /// # Errors
    ///
    /// `name` is empty.
    pub fn query(mut self, name: &str) -> Result<Self, ConfigError> {
        let name = name.trim();
        if name.is_empty() || name.contains(['&', '=', '#']) {
            return Err(invalid(format!("{name:?} is not a query parameter name")));
        }
        self.push(Location::Query(name.to_owned()))?;
        Ok(self)
    }

    fn push(&mut self, location: Location) -> Result<(), ConfigError> {
        if self.others.contains(&location) {
            return Err(invalid(format!("{location:?} is named twice")));
        }
        self.others.push(location);
        Ok(())
    }

    /// Reads `header:NAME,cookie:NAME,query:NAME`, comma-separated, in order;
    /// `header:authorization` may be named (first) and is always looked at.
    ///
    /// # Errors
    ///
    /// An entry that is not `header:`, `cookie:` or `query:` and a name, named.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut locations = Self::default();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            locations = match entry.split_once(':') {
                Some(("header", name)) => locations.header(name)?,
                Some(("cookie", name)) => locations.cookie(name)?,
                Some(("query", name)) => locations.query(name)?,
                _ => {
                    return Err(invalid(format!(
                        "expected header:NAME, cookie:NAME or query:NAME, got {:?}",
                        crate::error::printable(entry, 64)
                    )));
                }
            };
        }
        Ok(locations)
    }

    /// Whether only `Authorization` is looked at.
    pub fn is_authorization_only(&self) -> bool {
        self.others.is_empty()
    }

    /// Whether a `query:` location is named (RFC 9728's `bearer_methods_supported`).
    pub fn allows_query(&self) -> bool {
        self.others.iter().any(|l| matches!(l, Location::Query(_)))
    }

    /// The request's token and its scheme, from the one place that carries it.
    ///
    /// # Errors
    ///
    /// 400 `invalid_request`: a token in two places, a malformed one, or an `access_token`
    /// query parameter that is not named here.
    pub fn find<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<Credentials<'a>>, AuthError> {
        if self.others.is_empty() {
            return bearer::credentials(headers, uri);
        }
        let query_named = |name: &str| self.others.contains(&Location::Query(name.to_owned()));
        if !query_named("access_token") && uri.query().is_some_and(bearer::query_has_token) {
            return Err(bad("access tokens are not accepted in the URL"));
        }
        let mut found = bearer::credentials_in_header(headers)?;
        for location in &self.others {
            let token = match location {
                Location::Header(name) => one_header(headers, name)?,
                Location::Cookie(name) => cookie(headers, name)?,
                Location::Query(name) => query(uri, name)?,
            };
            let Some(token) = token else { continue };
            if found.is_some() {
                return Err(bad("the token is sent in more than one place"));
            }
            if !bearer::is_b64token(token.as_bytes()) {
                return Err(bad("the bearer token is malformed"));
            }
            found = Some(Credentials { scheme: Scheme::Bearer, token });
        }
        Ok(found)
    }
}

fn invalid(why: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, why).at("token_locations")
}

fn bad(why: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidRequest).with_description(why)
}

/// The header `name`'s token (alone, or after `Bearer `), if it is there once.
fn one_header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(bad("a token header is repeated"));
    }
    let value = value.to_str().map_err(|_| bad("the bearer token is malformed"))?.trim();
    let token = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
        _ => value,
    };
    if token.is_empty() {
        return Err(bad("the bearer token is empty"));
    }
    Ok(Some(token))
}

/// The cookie `name`'s value, if one `Cookie` pair has it (RFC 6265 §5.4; HTTP/2 may split
/// cookies over several headers).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((k, v)) = pair.split_once('=') else { continue };
            if k.trim() == name {
                if found.is_some() {
                    return Err(bad("the token cookie is repeated"));
                }
                found = Some(v.trim().trim_matches('"'));
            }
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

/// The query parameter `name`'s raw value, if it is there once.
fn query<'a>(uri: &'a Uri, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    for pair in uri.query().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            if found.is_some() {
                return Err(bad("the token parameter is repeated"));
            }
            if v.contains('%') {
                return Err(bad("the token parameter must not be percent-encoded"));
            }
            found = Some(v);
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(n) => write!(f, "header:{n}"),
            Self::Cookie(n) => write!(f, "cookie:{n}"),
            Self::Query(n) => write!(f, "query:{n}"),
        }
    }
}

impl fmt::Debug for TokenLocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entry(&format_args!("header:authorization")).entries(&self.others).finish()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn find(spec: &str, headers: &[(&str, &str)], uri: &str) -> Result<Option<String>, AuthErrorKind> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(HeaderName::try_from(*k).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        TokenLocations::parse(spec)
            .unwrap()
            .find(&map, &uri)
            .map(|c| c.map(|c| c.token.to_owned()))
            .map_err(|e| e.kind())
    }

    #[test]
    fn each_location_is_read_and_only_one_may_carry_a_token() {
        let all = "header:authorization,header:x-access-token,cookie:access_token,query:access_token";
        assert_eq!(find(all, &[("authorization", "Bearer a.b.c")], "/").unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(find(all, &[("x-access-token", "a.b.c")], "/").unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(find(all, &[("x-access-token", "Bearer a.b.c")], "/").unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(
            find(all, &[("cookie", "x=1; access_token=a.b.c")], "/").unwrap().as_deref(),
            Some("a.b.c")
        );
        assert_eq!(find(all, &[], "/p?x=1&access_token=a.b.c").unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(find(all, &[], "/").unwrap(), None);
        let two = [("authorization", "Bearer a.b.c"), ("cookie", "access_token=a.b.c")];
        assert_eq!(find(all, &two, "/"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(find(all, &[], "/?access_token=a%2Eb"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(find(all, &[("cookie", "access_token=a b")], "/"), Err(AuthErrorKind::InvalidRequest));
    }

    #[test]
    fn the_query_stays_refused_unless_named() {
        let spec = "header:x-access-token";
        assert_eq!(find(spec, &[], "/?access_token=a.b.c"), Err(AuthErrorKind::InvalidRequest));
        assert_eq!(find("", &[], "/?access_token=a.b.c"), Err(AuthErrorKind::InvalidRequest));
    }

    #[test]
    fn bad_specs_are_named() {
        for spec in ["header", "body:x", "cookie:", "header:bad header", "cookie:a,cookie:a"] {
            let err = TokenLocations::parse(spec).unwrap_err();
            assert_eq!(err.kind(), ConfigErrorKind::Invalid, "{spec}");
        }
    }
}
