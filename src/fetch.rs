//! HTTP plumbing shared by everything permiso fetches: remote keys, discovery, the calling
//! side's token endpoint. One URL policy, one client without redirects, one capped body
//! read, one discovery document fetch, one single-flight helper, one jitter.

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderMap;

/// Whether plain `http://` may be used beyond loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpPolicy {
    /// HTTPS, or plain HTTP to a loopback host only.
    HttpsOrLoopback,
    /// Plain HTTP anywhere (`dangerous_allow_http`): development networks only.
    AllowHttp,
}

/// Whether `url` may be fetched: HTTPS, or HTTP to a loopback host, or HTTP when allowed; never
/// with credentials in it.
pub(crate) fn check_url(url: &str, policy: HttpPolicy) -> Result<Url, &'static str> {
    let parsed = Url::parse(url).map_err(|_| "is not a valid URL")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain credentials");
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if policy == HttpPolicy::AllowHttp || is_loopback(&parsed) => Ok(parsed),
        "http" => Err("must use https (plain http only to loopback, or with dangerous_allow_http)"),
        _ => Err("must be an https URL"),
    }
}

/// Whether a URL named by a discovery document may be fetched. It must be HTTPS unless the
/// discovery URL itself was plain HTTP (loopback, or allowed): an HTTPS issuer's document
/// cannot send us to plain HTTP, not even on loopback.
pub(crate) fn discovered_url(discovery: &Url, url: &str, policy: HttpPolicy) -> Result<Url, &'static str> {
    let parsed = check_url(url, policy)?;
    if parsed.scheme() == "http" && discovery.scheme() == "https" && policy != HttpPolicy::AllowHttp {
        return Err("must use https, as the discovery document did");
    }
    Ok(parsed)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// permiso's own HTTP client: never follows a redirect, says who it is. `builder` is the
/// user's, when they gave one; redirects are turned off last, so nothing turns them back on.
pub(crate) fn client(builder: Option<reqwest::ClientBuilder>) -> Result<reqwest::Client, reqwest::Error> {
    builder.unwrap_or_else(self::builder).redirect(reqwest::redirect::Policy::none()).build()
}

/// permiso's default client builder (its user agent).
pub(crate) fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(concat!("permiso/", env!("CARGO_PKG_VERSION")))
}

/// Why an HTTP exchange gave nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// Not reached, or no answer in time.
    Unreachable,
    /// Answered with this (non-success) status.
    Status(u16),
    /// A user-supplied client followed a redirect.
    Redirected,
    /// The body is larger than the cap.
    TooLarge,
    /// The body is not the JSON document expected.
    Malformed,
    /// The discovery document names another issuer.
    IssuerMismatch,
}

/// Reads a response body, refusing it past `cap` bytes (before reading, by
/// `Content-Length`, and while reading).
pub(crate) async fn read_capped(mut res: reqwest::Response, cap: usize) -> Result<Vec<u8>, FetchError> {
    if res.content_length().is_some_and(|len| len > cap as u64) {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|_| FetchError::Unreachable)? {
        if body.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One JSON GET: redirects refused, a non-success status an error, the body capped.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: Url,
    timeout: Duration,
    cap: usize,
) -> Result<(Vec<u8>, HeaderMap), FetchError> {
    let res = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(timeout)
        .send()
        .await
        .map_err(|_| FetchError::Unreachable)?;
    if res.url() != &url {
        return Err(FetchError::Redirected);
    }
    if !res.status().is_success() {
        return Err(FetchError::Status(res.status().as_u16()));
    }
    let headers = res.headers().clone();
    Ok((read_capped(res, cap).await?, headers))
}

/// What permiso reads of an OpenID Connect / RFC 8414 discovery document.
#[derive(serde::Deserialize)]
pub(crate) struct DiscoveryDocument {
    pub(crate) jwks_uri: Option<String>,
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) token_endpoint: Option<String>,
    issuer: Option<String>,
}

/// The discovery document of `issuer` (OIDC first, then RFC 8414), whose `issuer` must equal
/// `expected` exactly. A 404 moves on to the next well-known URL.
pub(crate) async fn discover(
    client: &reqwest::Client,
    issuer: &Url,
    expected: &str,
    timeout: Duration,
    cap: usize,
) -> Result<DiscoveryDocument, FetchError> {
    let mut last = FetchError::Status(404);
    for url in discovery_urls(issuer) {
        match get_json(client, url, timeout, cap).await {
            Ok((body, _)) => {
                let doc: DiscoveryDocument =
                    serde_json::from_slice(&body).map_err(|_| FetchError::Malformed)?;
                if doc.issuer.as_deref() != Some(expected) {
                    return Err(FetchError::IssuerMismatch);
                }
                return Ok(doc);
            }
            Err(FetchError::Status(404)) => last = FetchError::Status(404),
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// OpenID Connect first, then RFC 8414 (the well-known segment goes before the issuer's path).
pub(crate) fn discovery_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    for u in [&mut oidc, &mut oauth] {
        u.set_query(None);
        u.set_fragment(None);
    }
    [oidc, oauth]
}

/// A random duration in [0, max), from the system's random source.
pub(crate) fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut b).is_err() || max.is_zero() {
        return Duration::ZERO;
    }
    let millis = max.as_millis().max(1) as u64;
    Duration::from_millis(u64::from_le_bytes(b) % millis)
}

/// One fetch at a time, however many callers ask: a caller that waited while another ran one
/// takes that run's outcome instead of fetching again.
///
/// A caller reads [`generation`](Self::generation) *before* it looks at the state it may
/// refresh, then calls [`run`](Self::run) with it; `work` stores its outcome in that state
/// before it returns.
#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl SingleFlight {
    /// How many runs have completed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `work`, unless a run completed since the caller saw `seen`: then `None`, and the
    /// caller reads that run's outcome from its state.
    pub(crate) async fn run<T>(&self, seen: u64, work: impl Future<Output = T>) -> Option<T> {
        let _guard = self.lock.lock().await;
        if self.generation() != seen {
            return None;
        }
        let out = work.await;
        self.generation.fetch_add(1, Ordering::Release);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback() {
        use HttpPolicy::*;
        assert!(check_url("https://auth.example.com/jwks", HttpsOrLoopback).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", HttpsOrLoopback).is_ok());
        assert!(check_url("http://127.5.0.1/jwks", HttpsOrLoopback).is_ok());
        assert!(check_url("http://[::1]:80/jwks", HttpsOrLoopback).is_ok());
        assert!(check_url("http://localhost/jwks", HttpsOrLoopback).is_ok());
        assert!(check_url("http://auth.example.com/jwks", HttpsOrLoopback).is_err());
        assert!(check_url("http://10.0.0.1/jwks", HttpsOrLoopback).is_err());
        assert!(check_url("http://auth.example.com/jwks", AllowHttp).is_ok());
        assert!(check_url("ftp://auth.example.com/jwks", AllowHttp).is_err());
        assert!(check_url("file:///etc/passwd", AllowHttp).is_err());
        assert!(check_url("https://user:pw@auth.example.com/jwks", HttpsOrLoopback).is_err());
        assert!(check_url("not a url", HttpsOrLoopback).is_err());
    }

    #[test]
    fn an_https_discovery_never_leads_to_plain_http() {
        use HttpPolicy::*;
        let https = Url::parse("https://auth.example.com").unwrap();
        let http = Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(discovered_url(&https, "https://keys.example.com/jwks", HttpsOrLoopback).is_ok());
        assert!(discovered_url(&https, "http://127.0.0.1:9/jwks", HttpsOrLoopback).is_err());
        assert!(discovered_url(&https, "http://localhost/jwks", HttpsOrLoopback).is_err());
        assert!(discovered_url(&https, "http://keys.example.com/jwks", AllowHttp).is_ok());
        assert!(discovered_url(&http, "http://127.0.0.1:8080/jwks", HttpsOrLoopback).is_ok());
        assert!(discovered_url(&http, "https://keys.example.com/jwks", HttpsOrLoopback).is_ok());
        // A loopback-HTTP discovery does not open plain HTTP to other hosts.
        assert!(discovered_url(&http, "http://keys.example.com/jwks", HttpsOrLoopback).is_err());
    }

    #[test]
    fn discovery_urls_follow_oidc_then_rfc8414() {
        let urls = discovery_urls(&Url::parse("https://a.example/tenant/x/").unwrap());
        assert_eq!(urls[0].as_str(), "https://a.example/tenant/x/.well-known/openid-configuration");
        assert_eq!(urls[1].as_str(), "https://a.example/.well-known/oauth-authorization-server/tenant/x");
        let urls = discovery_urls(&Url::parse("https://a.example").unwrap());
        assert_eq!(urls[0].as_str(), "https://a.example/.well-known/openid-configuration");
        assert_eq!(urls[1].as_str(), "https://a.example/.well-known/oauth-authorization-server");
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_waiter_takes_the_leaders_run() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let flight = SingleFlight::default();
        rt.block_on(async {
            let seen = flight.generation();
            assert_eq!(flight.run(seen, async { 1 }).await, Some(1));
            // A caller that saw the old generation joins instead of running again.
            assert_eq!(flight.run(seen, async { 2 }).await, None);
            assert_eq!(flight.run(flight.generation(), async { 3 }).await, Some(3));
        });
    }
}
