//! A development OAuth token endpoint (`POST /auth/token`, RFC 6749 §4.4
//! `client_credentials`), off unless configured.
//!
//! It lets a service or a test obtain a short-lived JWT for this server without an
//! external identity provider. Client secrets are kept only as SHA-256 digests (they are
//! generated, high-entropy values; see `mcp_auth::ApiKeyAuth` for why a fast hash is right
//! for those), compared in constant time; requests are throttled per peer address; every
//! issuance and refusal is audited. Production deployments use a real authorization
//! server and leave this off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{ConnectInfo, FromRequest as _, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use identity_types::{ClientId, IsolationKey, RequestId, Role, Scope, TenantId};
use mcp_auth::{JwtAuth, TokenSpec};
use ring::digest;
use serde::Deserialize;
use serde_json::{Map, json};

use crate::audit::{AuditEvent, AuditSink, Decision};
use crate::http::{Audited, Marked as _, Refusal};

/// One client allowed to use the token endpoint.
#[derive(Clone)]
pub struct DevClient {
    client_id: ClientId,
    secret_sha256: [u8; 32],
    tenant: Option<TenantId>,
    roles: Vec<Role>,
    scopes: Vec<Scope>,
}

impl DevClient {
    /// A client with this id and secret (only the secret's SHA-256 is kept), issued tokens
    /// with these tenant, roles and (at most) scopes.
    #[must_use]
    pub fn new(
        client_id: ClientId,
        secret: &str,
        tenant: Option<TenantId>,
        roles: Vec<Role>,
        scopes: Vec<Scope>,
    ) -> Self {
        Self { client_id, secret_sha256: sha256(secret.as_bytes()), tenant, roles, scopes }
    }
}

impl std::fmt::Debug for DevClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevClient")
            .field("client_id", &self.client_id)
            .field("secret", &"[SHA-256 only]")
            .finish_non_exhaustive()
    }
}

/// Configuration of the token endpoint.
#[derive(Clone)]
pub struct TokenEndpointConfig {
    /// Signs the issued tokens (the same key the server verifies with).
    pub signer: Arc<JwtAuth>,
    /// The registered clients.
    pub clients: Vec<DevClient>,
    /// Lifetime of issued tokens (default 5 minutes).
    pub ttl: Duration,
    /// Requests per peer address (default 10 per minute).
    pub throttle: Quota,
}

impl TokenEndpointConfig {
    /// An endpoint issuing 5-minute tokens, throttled to 10 requests a minute per peer.
    #[must_use]
    pub fn new(signer: Arc<JwtAuth>, clients: Vec<DevClient>) -> Self {
        let per_minute = std::num::NonZeroU32::new(10).unwrap_or(std::num::NonZeroU32::MIN);
        Self { signer, clients, ttl: Duration::from_secs(300), throttle: Quota::per_minute(per_minute) }
    }
}

impl std::fmt::Debug for TokenEndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpointConfig")
            .field("clients", &self.clients)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

pub(crate) struct TokenState {
    clients: HashMap<String, DevClient>,
    signer: Arc<JwtAuth>,
    ttl: Duration,
    limiter: RateLimiter<IsolationKey, DefaultKeyedStateStore<IsolationKey>, DefaultClock>,
    audit: Arc<dyn AuditSink>,
}

impl TokenState {
    pub(crate) fn new(config: TokenEndpointConfig, audit: Arc<dyn AuditSink>) -> Self {
        Self {
            clients: config.clients.into_iter().map(|c| (c.client_id.to_string(), c)).collect(),
            signer: config.signer,
            ttl: config.ttl,
            limiter: RateLimiter::keyed(config.throttle),
            audit,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Constant-time equality of two digests.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An RFC 6749 §5.2 error response.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        (status, axum::Json(json!({ "error": error, "error_description": description }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"palisade\""));
    }
    response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client credentials from HTTP Basic or the form; `None` when absent, malformed, or
/// given both ways.
fn credentials(headers: &HeaderMap, form: &TokenRequest) -> Option<(String, String)> {
    let basic = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, encoded) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        Some((id.to_owned(), secret.to_owned()))
    });
    match (basic, &form.client_id, &form.client_secret) {
        (Some(pair), None, None) => Some(pair),
        (None, Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    }
}

/// `POST /auth/token`.
///
/// Wrapped by the door's audit layer: refusals before a decision (throttled, a body that
/// is not a form) are recorded there, budgeted per address; decisions are recorded here
/// and marked [`Audited`].
pub(crate) async fn issue(State(state): State<Arc<TokenState>>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    // Throttled before anything else is looked at: the body is read and parsed only
    // for requests within the address's budget.
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|peer| IsolationKey::anonymous(peer.0.ip()));
    if source.is_none_or(|source| state.limiter.check_key(&source).is_err()) {
        return oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many token requests from this address",
        )
        .marked(Refusal { code: "slow_down", caller: None });
    }
    let request_id = request.extensions().get::<RequestId>().map(|id| id.as_str().to_owned());
    let headers = request.headers().clone();
    let Ok(Form(form)) = Form::<TokenRequest>::from_request(request, &()).await else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body must be a form")
            .marked(Refusal { code: "invalid_request", caller: None });
    };
    let outcome = decide(&state, &headers, &form);
    let (client, code) = match &outcome {
        Ok((client, _, _)) => (Some(client.client_id.clone()), "ok"),
        Err((_, code, _)) => (None, *code),
    };
    let event = AuditEvent {
        timestamp_ms: identity_types::unix_now_ms(),
        request_id: request_id.unwrap_or_default(),
        principal: None,
        tenant: outcome.as_ref().ok().and_then(|(c, _, _)| c.tenant.clone()),
        auth_method: "client_credentials".into(),
        method: "auth/token".into(),
        tool: None,
        decision: if code == "ok" { Decision::Allowed } else { Decision::Denied { code: code.to_owned() } },
        outcome: code.to_owned(),
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        arguments_sha256: None,
        arguments: None,
        result_sha256: None,
        metadata: client
            .map(|c| {
                Map::from_iter([(
                    "client_id_sha256".to_owned(),
                    json!(hex::encode(sha256(c.as_str().as_bytes()))),
                )])
            })
            .unwrap_or_default(),
    };
    let mut response = if state.audit.record(event).await.is_err() {
        oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the request could not be audited",
        )
    } else {
        match outcome {
            Ok((_, token, scope)) => {
                let mut response = axum::Json(json!({
                    "access_token": token, "token_type": "Bearer", "expires_in": state.ttl.as_secs(), "scope": scope,
                }))
                .into_response();
                response
                    .headers_mut()
                    .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err((status, code, message)) => oauth_error(status, code, message),
        }
    };
    response.extensions_mut().insert(Audited);
    response
}

type Decided<'a> = Result<(&'a DevClient, String, String), (StatusCode, &'static str, &'static str)>;

fn decide<'a>(state: &'a TokenState, headers: &HeaderMap, form: &TokenRequest) -> Decided<'a> {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err((
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        ));
    }
    let (id, secret) = credentials(headers, form).ok_or((
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    ))?;
    // Unknown client and wrong secret are the same answer, and both cost one digest.
    let presented = sha256(secret.as_bytes());
    let client = state.clients.get(&id).filter(|c| same_digest(&c.secret_sha256, &presented)).ok_or((
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    ))?;
    let scopes: Vec<Scope> = match &form.scope {
        None => client.scopes.clone(),
        Some(requested) => {
            let mut granted = Vec::new();
            for item in requested.split(' ').filter(|s| !s.is_empty()) {
                match client.scopes.iter().find(|s| s.as_str() == item) {
                    Some(scope) => granted.push(scope.clone()),
                    None => {
                        return Err((
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            "a requested scope is not granted to this client",
                        ));
                    }
                }
            }
            granted
        }
    };
    let mut spec = TokenSpec::new(client.client_id.as_str())
        .roles(client.roles.clone())
        .scopes(scopes.clone())
        .ttl(state.ttl);
    if let Some(tenant) = &client.tenant {
        spec = spec.tenant(tenant.clone());
    }
    let token = state
        .signer
        .create_token(&spec)
        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the token could not be signed"))?;
    let scope = scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ");
    Ok((client, token, scope))
}
