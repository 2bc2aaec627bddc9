//! The `Authorization` header parser: arbitrary header bytes (split into up to three headers)
//! and an arbitrary query string.
#![no_main]

use http::{HeaderMap, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == b'\n');
    let query = parts.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for value in parts.take(3) {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(http::header::AUTHORIZATION, v);
        }
    }
    let uri = std::str::from_utf8(query)
        .ok()
        .and_then(|q| format!("/path?{q}").parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    match permiso::bearer::extract(&headers, &uri) {
        Ok(Some(token)) => assert!(!token.is_empty() && !token.contains(' ')),
        Ok(None) => {}
        Err(e) => assert_eq!(e.status(), 400),
    }
});
