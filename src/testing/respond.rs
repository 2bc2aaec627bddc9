//! The answers a `TestIssuer` endpoint gives besides its documents: an injected fault, or an
//! OAuth error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::Fault;

/// Applies a fault: `Some(response)` to send instead, `None` to answer normally.
pub(super) async fn apply(fault: Option<Fault>, redirect_to: &str, empty: Value) -> Option<Response> {
    let fault = fault?;
    Some(match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut res = (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                json!({"error": "server_error", "error_description": "injected fault"}).to_string(),
            )
                .into_response();
            if code == 503 {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            res
        }
        Fault::Garbage => (StatusCode::OK, "\u{1}\u{2}garbage{{{").into_response(),
        Fault::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        Fault::Empty => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], empty.to_string()).into_response()
        }
        Fault::Slow(d) => {
            tokio::time::sleep(d).await;
            return None;
        }
        Fault::Redirect => (StatusCode::FOUND, [(header::LOCATION, redirect_to.to_owned())]).into_response(),
    })
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}
