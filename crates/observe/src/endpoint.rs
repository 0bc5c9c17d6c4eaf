//! The `/metrics` endpoint, optionally behind its own bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ring::digest;

use crate::metrics::Metrics;
use crate::telemetry::ObserveError;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Endpoint {
    metrics: Metrics,
    /// SHA-256 of the expected token: comparing digests leaks nothing usable about the
    /// token through timing.
    token_digest: Option<digest::Digest>,
}

/// A router serving `GET /metrics` from `metrics`. With `bearer_token`, a scrape must
/// send `Authorization: Bearer TOKEN`; anything else gets 401 and no metrics.
pub fn metrics_router(metrics: Metrics, bearer_token: Option<&str>) -> Router {
    let token_digest = bearer_token.map(|t| digest::digest(&digest::SHA256, t.as_bytes()));
    Router::new().route("/metrics", get(scrape)).with_state(Arc::new(Endpoint { metrics, token_digest }))
}

/// Checks that serving metrics on `listen` is safe: a non-loopback address needs a token.
///
/// # Errors
/// [`ObserveError::Metrics`] for a non-loopback address without a token, or an empty token.
pub fn check_exposure(listen: SocketAddr, bearer_token: Option<&str>) -> Result<(), ObserveError> {
    match bearer_token {
        Some(token) if token.trim().len() < 16 => {
            Err(ObserveError::Metrics("the metrics bearer token must be at least 16 characters".into()))
        }
        None if !listen.ip().is_loopback() => Err(ObserveError::Metrics(format!(
            "{listen} is reachable from other hosts: set a bearer token (metrics.bearer_token_env) or bind a loopback address"
        ))),
        _ => Ok(()),
    }
}

async fn scrape(State(endpoint): State<Arc<Endpoint>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &endpoint.token_digest {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| digest::digest(&digest::SHA256, t.as_bytes()));
        if presented.as_ref().map(digest::Digest::as_ref) != Some(expected.as_ref()) {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "").into_response();
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], endpoint.metrics.render())
        .into_response()
}
