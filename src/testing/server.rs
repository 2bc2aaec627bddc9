//! The HTTP side of a `TestIssuer`: discovery, the JWKS and the client-credentials token
//! endpoint, with the faults a test injects.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::respond::{apply, oauth_error};
use super::state::{Inner, Shared, TokenShape};

/// Accepts connections until aborted; aborting drops every connection with it.
pub(super) fn spawn_server(listener: TcpListener, shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let app = router(shared);
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            connections.spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
            while connections.try_join_next().is_some() {}
        }
    })
}

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jwks.json", get(jwks))
        .route("/moved/jwks.json", get(moved))
        .route("/moved/openid-configuration", get(moved))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/oauth-authorization-server", get(discovery))
        .route("/token", post(token))
        .route("/api/v1/auth/service-token", post(token))
        .route("/introspect", post(super::introspect::rfc7662))
        .route("/api/v1/auth/introspect", post(super::introspect::permiso))
        .with_state(shared)
}

/// The claims of a fresh token in the issuer's shape.
pub(super) fn mint_claims(
    shared: &Shared,
    st: &Inner,
    client_id: &str,
    scopes: &[&str],
    trusted: bool,
) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let jti = format!("{now:016x}-{}", shared.jti.fetch_add(1, Ordering::Relaxed));
    match st.shape {
        TokenShape::Permiso => json!({
            "iss": st.iss, "aud": [st.audience], "sub": client_id,
            "exp": now + st.lifetime, "iat": now, "nbf": now, "jti": jti,
            "type": "service", "client_id": client_id, "scopes": scopes,
            "is_trusted": trusted,
        }),
        TokenShape::Rfc9068 => json!({
            "iss": st.iss, "aud": st.audience, "sub": client_id, "client_id": client_id,
            "exp": now + st.lifetime, "iat": now, "jti": jti, "scope": scopes.join(" "),
        }),
    }
}

pub(super) fn jwks_document(shared: &Shared) -> (Value, Option<u64>) {
    let st = shared.state();
    let keys: Vec<Value> =
        st.keys.iter().filter(|k| k.published).filter_map(|k| k.key.public_jwk()).collect();
    (json!({ "keys": keys }), st.max_age)
}

pub(super) async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let fault = shared.state().jwks_fault.clone();
    if let Some(res) = apply(fault, "/moved/jwks.json", json!({"keys": []})).await {
        return res;
    }
    let (doc, max_age) = jwks_document(&shared);
    let mut res = ([(header::CONTENT_TYPE, "application/jwk-set+json")], doc.to_string()).into_response();
    if let Some(secs) = max_age {
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={secs}"))
                .unwrap_or(HeaderValue::from_static("no-store")),
        );
    }
    res
}

/// The target of a redirect: serves the real document, and counts (it should never be hit).
pub(super) async fn moved(State(shared): State<Arc<Shared>>) -> Response {
    shared.redirect_target_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(jwks_document(&shared).0).into_response()
}

pub(super) async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let fault = shared.state().discovery_fault.clone();
    if let Some(res) = apply(fault, "/moved/openid-configuration", json!({})).await {
        return res;
    }
    let st = shared.state();
    let base = &shared.base;
    axum::Json(json!({
        "issuer": st.discovery_issuer.clone().unwrap_or_else(|| st.iss.clone()),
        "jwks_uri": format!("{base}/jwks.json"),
        "token_endpoint": format!("{base}/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
pub(super) struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// The client-credentials grant, as the permiso server answers it: form fields (or HTTP
/// Basic on `/token`), `scope` narrowing the grant.
pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    uri: http::Uri,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let fault = {
        let mut st = shared.state();
        st.token_faults.pop().or_else(|| st.token_fault.clone())
    };
    if let Some(res) = apply(fault, "/moved/jwks.json", json!({})).await {
        return res;
    }
    let Ok(Form(form)) = form else {
        return oauth_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", "form fields required");
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(i, p)| (i.to_owned(), p.to_owned())));
    let (id, secret) = match (form.client_id, form.client_secret, basic) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some((id, secret))) => (id, secret),
        _ => {
            return oauth_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "client_id and client_secret are required",
            );
        }
    };
    // The refusal is a whole response, built once on a rare path.
    #[allow(clippy::result_large_err)]
    let minted = (|| {
        let st = shared.state();
        let Some(client) = st.clients.get(&id).cloned() else {
            return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Service client not found"));
        };
        if client.secret != secret {
            return Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Invalid client credentials",
            ));
        }
        let granted: Vec<&str> = match form.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            None => client.scopes.iter().map(String::as_str).collect(),
            Some(requested) => {
                requested.split(' ').filter(|s| client.scopes.iter().any(|c| c == s)).collect()
            }
        };
        if granted.is_empty() {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "None of the requested scopes are allowed",
            ));
        }
        let claims = mint_claims(&shared, &st, &id, &granted, client.trusted);
        Ok((claims, granted.join(" "), st.dpop_nonce.clone()))
    })();
    let (mut claims, granted, wanted_nonce) = match minted {
        Ok(m) => m,
        Err(res) => return res,
    };
    // RFC 9449 §5: a token request with a DPoP proof gets a token bound to the proof's key.
    let bound = if headers.contains_key("dpop") {
        let checked = match shared.dpop.capture(&headers, &http::Method::POST, &uri) {
            Ok(request) => shared.dpop.check(&request, None).await,
            Err(e) => Err(e),
        };
        let proof = match checked {
            Ok(proof) => proof,
            Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof", e.description()),
        };
        if let Some(nonce) = wanted_nonce.filter(|n| proof.nonce.as_ref() != Some(n)) {
            let mut res = oauth_error(StatusCode::BAD_REQUEST, "use_dpop_nonce", "a DPoP nonce is required");
            res.headers_mut().insert("dpop-nonce", nonce.parse().expect("a visible ASCII nonce"));
            return res;
        }
        claims["cnf"] = json!({ "jkt": proof.jkt });
        true
    } else {
        false
    };
    let st = shared.state();
    let access_token = shared.issue(&st, &claims);
    axum::Json(json!({
        "access_token": access_token,
        "token_type": if bound { "DPoP" } else { "Bearer" },
        "expires_in": st.lifetime,
        "refresh_token": null,
        "scope": granted,
        "session_id": null,
    }))
    .into_response()
}
