//! A `TestIssuer`'s introspection endpoints: RFC 7662's `/introspect` (form body, the
//! registered clients' `client_secret_basic` or `client_secret_post`), consulting its
//! revocation list; and the permiso server's `/api/v1/auth/introspect` (JSON body, a service
//! token of this issuer as bearer), which, like the real server, does not.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::respond::{apply, oauth_error};
use super::state::Shared;
use crate::revocation::RevocationList as _;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The claims of `token` if this issuer minted it and it has not expired (nor, when
/// `revocation` is consulted, been revoked).
async fn live_claims(shared: &Shared, token: &str, consult_revocation: bool) -> Option<Value> {
    let claims = shared.claims_of(token)?;
    if claims["exp"].as_u64().is_none_or(|exp| exp <= now()) {
        return None;
    }
    if consult_revocation
        && let Some(jti) = claims["jti"].as_str()
        && shared.revocations.is_revoked(jti).await.unwrap_or(true)
    {
        return None;
    }
    Some(claims)
}

/// The space-separated scopes of minted claims, whichever shape they have.
fn scope_string(claims: &Value) -> String {
    match (&claims["scopes"], &claims["scope"]) {
        (Value::Array(list), _) => list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        (_, Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

async fn counted_fault(shared: &Shared) -> Option<Response> {
    shared.introspection_calls.fetch_add(1, Ordering::SeqCst);
    let fault = shared.introspection_fault.lock().unwrap_or_else(|e| e.into_inner()).clone();
    apply(fault, "/moved/jwks.json", json!({})).await
}

/// `POST /introspect`: RFC 7662.
pub(super) async fn rfc7662(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(res) = counted_fault(&shared).await {
        return res;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').and_then(|(i, p)| Some((decode(i)?, decode(p)?))));
    let creds = basic.or_else(|| Some((field("client_id")?, field("client_secret")?)));
    let known =
        creds.is_some_and(|(id, secret)| shared.state().clients.get(&id).is_some_and(|c| c.secret == secret));
    if !known {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    let Some(token) = field("token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    let Some(claims) = live_claims(&shared, &token, true).await else {
        return axum::Json(json!({ "active": false })).into_response();
    };
    let mut answer = json!({
        "active": true,
        "iss": claims["iss"],
        "client_id": claims["client_id"],
        "scope": scope_string(&claims),
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
        "aud": claims["aud"],
        "token_type": "Bearer",
    });
    for optional in ["sub", "cnf"] {
        if !claims[optional].is_null() {
            answer[optional] = claims[optional].clone();
        }
    }
    axum::Json(answer).into_response()
}

/// `POST /api/v1/auth/introspect`: the permiso server's shape.
pub(super) async fn permiso(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(res) = counted_fault(&shared).await {
        return res;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let caller = match bearer {
        Some(b) => live_claims(&shared, &b, true).await,
        None => None,
    };
    if caller.is_none_or(|c| c["type"] != "service" && c["client_id"].is_null()) {
        let body = json!({ "detail": "Could not validate credentials" });
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(body))
            .into_response();
    }
    let Some(token) =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["token"].as_str().map(str::to_owned))
    else {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "detail": "token is required" })))
            .into_response();
    };
    let Some(claims) = live_claims(&shared, &token, false).await else {
        return axum::Json(json!({ "active": false })).into_response();
    };
    axum::Json(json!({
        "active": true,
        "sub": claims["sub"],
        "client_id": claims["client_id"],
        "scope": scope_string(&claims),
        "exp": claims["exp"],
        "iat": claims["iat"],
        "token_type": "service_token",
    }))
    .into_response()
}
