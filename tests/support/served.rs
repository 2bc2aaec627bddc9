//! The `payment_service` routes configured from variables alone (`AuthLayer::from_env_vars`)
//! for tokens of a `TestIssuer`, served on a bound loopback port. The test crate declares
//! `mod routes` (the example's routes).

#![allow(dead_code)]

use permiso::testing::TestIssuer;
use permiso::{AuthLayer, ConfiguredAuthLayer};

/// The layer `AuthLayer::from_env_vars` makes for `idp`'s permiso-style service tokens
/// (audience `keystone-auth`, keys from its JWKS), with `extra` variables added.
pub(crate) fn layer_for(idp: &TestIssuer, extra: &[(&str, &str)]) -> ConfiguredAuthLayer {
    let (iss, jwks) = (idp.issuer(), idp.jwks_url());
    let mut vars = vec![
        ("PERMISO_ISSUER", iss.as_str()),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_JWKS_URL", jwks.as_str()),
        ("PERMISO_SERVICE_TOKEN", "permiso"),
    ];
    vars.extend_from_slice(extra);
    AuthLayer::from_env_vars(vars).unwrap()
}

/// Serves the routes for `idp`'s tokens with `extra` variables added; returns the base URL,
/// which is also `PERMISO_PUBLIC_BASE_URL`.
pub(crate) async fn serve_from_env(idp: &TestIssuer, extra: &[(&str, &str)]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut vars = vec![("PERMISO_PUBLIC_BASE_URL", base.as_str())];
    vars.extend_from_slice(extra);
    let auth = layer_for(idp, &vars);
    tokio::spawn(async move { axum::serve(listener, crate::routes::router_with(auth, None)).await.unwrap() });
    base
}
