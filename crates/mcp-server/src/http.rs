//! The HTTP front door: every request to the MCP endpoint passes, in order, the door
//! audit (outermost: it records what the layers inside refuse), request-id assignment,
//! the Origin check, authentication ([`AuthLayer`]), the session binding and the message
//! inspection (parse errors, scope step-up), before rmcp's Streamable HTTP service sees it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use identity_types::{ErrorCode, IsolationKey, RequestId};
use mcp_auth::{AuthError, AuthProvider, AuthRequest, BearerChallenge};
use serde_json::{Map, json};
use tower::{Layer, Service};

use crate::audit::{AuditEvent, Decision};
use crate::context::Caller;
use crate::handler::BoxFuture;

/// The header carrying request ids in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const SESSION_HEADER: &str = "mcp-session-id";

/// Authenticates every HTTP request before any MCP processing.
///
/// On success the request carries a [`Caller::Authenticated`] in its extensions (rmcp
/// hands those to the MCP handler with each message, so identity is per request, never
/// per session). A request without credentials gets [`Caller::Anonymous`] only when the
/// server admits anonymous callers; anything else is answered here with 401 and a
/// `WWW-Authenticate: Bearer resource_metadata="…"` challenge. A token in the query
/// string is refused with 400: URLs end up in logs.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

pub(crate) struct AuthState {
    pub(crate) provider: Arc<dyn AuthProvider>,
    pub(crate) allow_anonymous: bool,
    pub(crate) metadata_url: Option<String>,
}

impl AuthLayer {
    pub(crate) fn new(state: AuthState) -> Self {
        Self { state: Arc::new(state) }
    }
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("allow_anonymous", &self.state.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, state: Arc::clone(&self.state) }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
}

impl<S> Service<Request> for AuthService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            if token_in_query(request.uri().query()) {
                let challenge = BearerChallenge::for_auth_error(&AuthError::MalformedHeader(
                    "a token in the query string is refused",
                ));
                return Ok(refusal(
                    StatusCode::BAD_REQUEST,
                    &challenge,
                    "token_in_query",
                    "send the token in the Authorization header, never in the URL",
                )
                .marked(Refusal { code: "token_in_query", caller: None }));
            }
            // Only the head is needed (and the body is not Sync, so it must not be
            // borrowed across the await).
            let (mut parts, body) = request.into_parts();
            let peer_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            let outcome = state.provider.authenticate(AuthRequest::new(&parts.headers, peer_ip)).await;
            let caller = match outcome {
                Ok(context) => Caller::Authenticated(context),
                Err(AuthError::MissingCredentials) if state.allow_anonymous => Caller::Anonymous { peer_ip },
                Err(error) => {
                    let mut challenge = BearerChallenge::for_auth_error(&error);
                    if let Some(url) = &state.metadata_url {
                        challenge = challenge.resource_metadata(url.clone());
                    }
                    return Ok(refusal(
                        StatusCode::UNAUTHORIZED,
                        &challenge,
                        error.code(),
                        &error.to_string(),
                    )
                    .marked(Refusal { code: error.code(), caller: None }));
                }
            };
            parts.extensions.insert(caller);
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// A refusal at the door, carried on the response to [`audit_door`]: its stable code
/// and, when authentication had succeeded, who was refused.
#[derive(Clone)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) caller: Option<Caller>,
}

/// Carried on a response whose outcome its handler has already audited (the approval
/// grant endpoint, once it knows who is asking): [`audit_door`] does not record it again.
#[derive(Clone, Copy)]
pub(crate) struct Audited;

/// Attaching a [`Refusal`] to a response.
pub(crate) trait Marked {
    fn marked(self, refusal: Refusal) -> Self;
}

impl Marked for Response {
    fn marked(mut self, refusal: Refusal) -> Self {
        self.extensions_mut().insert(refusal);
        self
    }
}

/// The outermost layer of the MCP endpoint (and of the approval grant endpoint): every
/// request the door (or rmcp's transport) refuses with an error status becomes an audit
/// entry, so no refusal escapes the log. Refusals inside MCP (guards, unknown tools, rate
/// limits) are audited by the service, and the grant endpoint audits what it decides
/// about an authenticated approver itself ([`Audited`]).
///
/// Refusals of callers who did not authenticate are budgeted per address
/// ([`RefusalBudget`]): a flood from one address cannot fill the log, and what is not
/// recorded one by one is still counted and recorded.
pub(crate) async fn audit_door(
    State(shared): State<Arc<crate::service::Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    // Which endpoint refused (the route's pattern, never the raw path, which the caller
    // chose: `/approvals/{id}/grant`, not the id).
    let endpoint = request.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned());
    // A POST (a call, a listing…) counts as in progress until its response has been
    // sent: a graceful shutdown closes sessions only after that. A GET is a session's
    // event stream, which lasts as long as the session and is not waited for.
    let in_flight = (request.method() == http::Method::POST).then(|| shared.calls.token());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return match in_flight {
            Some(token) => response.map(|body| Body::new(CountedBody { body, _in_flight: token })),
            None => response,
        };
    }
    if response.extensions().get::<Audited>().is_some() {
        return response;
    }
    let refusal = response.extensions().get::<Refusal>().cloned();
    let code = refusal.as_ref().map_or_else(|| format!("http_{}", status.as_u16()), |r| r.code.to_owned());
    let client = refusal.as_ref().and_then(|r| r.caller.as_ref()).and_then(Caller::client);
    if let Some(metrics) = &shared.metrics {
        metrics.refusal(&code);
    }
    tracing::debug!(reason = %code, status = status.as_u16(), "request refused at the door");
    let mut metadata = Map::new();
    if let Some(endpoint) = endpoint {
        metadata.insert("endpoint".into(), json!(endpoint));
    }
    if client.is_none()
        && let Some(peer) = peer
    {
        let source = IsolationKey::anonymous(peer);
        metadata.insert("source".into(), json!(shared.privacy.pseudonymize(&source).as_str()));
        match shared.door_budget.admit(&source) {
            Admission::Record { unrecorded_before } if unrecorded_before > 0 => {
                metadata.insert("unrecorded_refusals_before".into(), json!(unrecorded_before));
            }
            Admission::Record { .. } => {}
            Admission::Count => return response,
        }
    }
    let request_id = response
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let event = AuditEvent {
        timestamp_ms: identity_types::unix_now_ms(),
        request_id,
        principal: client.map(|c| shared.privacy.pseudonymize(c.isolation_key())),
        tenant: client.and_then(|c| c.tenant().cloned()),
        auth_method: client.map_or("none", |c| c.auth_method().as_str()).to_owned(),
        method: "http".into(),
        tool: None,
        decision: Decision::Denied { code: code.clone() },
        outcome: code,
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        arguments_sha256: None,
        arguments: None,
        result_sha256: None,
        metadata,
    };
    if let Err(error) = shared.audit.record(event).await {
        tracing::error!(%error, "could not audit a refusal at the door");
    }
    response
}

/// How many refusals of unauthenticated callers are recorded one by one, per address.
const DOOR_REFUSALS_PER_SECOND: u32 = 20;
const DOOR_REFUSAL_BURST: u32 = 100;

/// A per-address budget of individually recorded door refusals (GCRA). Refusals beyond
/// it are counted; the count goes into the address's next recorded refusal
/// (`unrecorded_refusals_before`), and whatever is still counted at shutdown into one
/// summary entry per address. Nothing is dropped unrecorded.
pub(crate) struct RefusalBudget {
    limiter: governor::DefaultKeyedRateLimiter<IsolationKey>,
    counted: Mutex<HashMap<IsolationKey, u64>>,
}

pub(crate) enum Admission {
    /// Record this refusal, with the number counted since the last recorded one.
    Record { unrecorded_before: u64 },
    /// Only count it.
    Count,
}

impl RefusalBudget {
    pub(crate) fn new() -> Self {
        let per_second =
            std::num::NonZeroU32::new(DOOR_REFUSALS_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN);
        let burst = std::num::NonZeroU32::new(DOOR_REFUSAL_BURST).unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            limiter: governor::RateLimiter::keyed(governor::Quota::per_second(per_second).allow_burst(burst)),
            counted: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn admit(&self, source: &IsolationKey) -> Admission {
        let mut counted = self.counted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.limiter.check_key(source).is_ok() {
            Admission::Record { unrecorded_before: counted.remove(source).unwrap_or(0) }
        } else {
            *counted.entry(source.clone()).or_insert(0) += 1;
            Admission::Count
        }
    }

    /// Forgets addresses whose budget is full again (the server does this every minute).
    pub(crate) fn prune(&self) {
        self.limiter.retain_recent();
    }

    /// Records what is still only counted, one summary entry per address (at shutdown).
    pub(crate) async fn flush(&self, shared: &crate::service::Shared) {
        let counted: Vec<(IsolationKey, u64)> =
            std::mem::take(&mut *self.counted.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
                .into_iter()
                .collect();
        self.limiter.retain_recent();
        for (source, count) in counted {
            let mut metadata = Map::new();
            metadata.insert("source".into(), json!(shared.privacy.pseudonymize(&source).as_str()));
            metadata.insert("count".into(), json!(count));
            let event = AuditEvent {
                timestamp_ms: identity_types::unix_now_ms(),
                request_id: String::new(),
                principal: None,
                tenant: None,
                auth_method: "none".into(),
                method: "http".into(),
                tool: None,
                decision: Decision::Denied { code: "refusals_counted".into() },
                outcome: "refusals_counted".into(),
                duration_us: 0,
                arguments_sha256: None,
                arguments: None,
                result_sha256: None,
                metadata,
            };
            if let Err(error) = shared.audit.record(event).await {
                tracing::error!(%error, count, "could not record counted door refusals");
            }
        }
    }
}

/// Query parameter names where clients and frameworks put credentials (RFC 6750 §2.3's
/// `access_token`, and the usual names for tokens, keys and passwords), compared with
/// case, `_`, `-` and `[]` ignored (`accessToken`, `api-key`, `X_API_KEY` all match).
const CREDENTIAL_PARAMETERS: &[&str] = &[
    "accesstoken",
    "idtoken",
    "refreshtoken",
    "authtoken",
    "apitoken",
    "token",
    "jwt",
    "bearer",
    "auth",
    "authorization",
    "apikey",
    "xapikey",
    "key",
    "clientsecret",
    "secret",
    "password",
];

/// A credential in the URL ends up in access logs, browser history and proxies, so
/// Palisade never accepts one there, and refuses the request rather than ignore it: a
/// credential-named parameter, or a value holding something shaped like a JWT (JWS or
/// JWE) or a Palisade API key, under any name (names and values percent-decoded; `&`
/// and `;` both separate). The MCP endpoint takes no query parameters, so nothing
/// legitimate is refused.
pub(crate) fn token_in_query(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split(';').any(|part| {
            url::form_urlencoded::parse(part.as_bytes()).any(|(name, value)| {
                let name: String = name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                CREDENTIAL_PARAMETERS.contains(&name.as_str()) || looks_like_credential(&value)
            })
        })
    })
}

/// Whether `value` holds a JWT (`eyJ…` with two or four dots) or a `psk_` API key anywhere.
fn looks_like_credential(value: &str) -> bool {
    value.contains(mcp_auth::API_KEY_PREFIX)
        || value
            .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .any(|word| word.starts_with("eyJ") && matches!(word.split('.').count(), 3 | 5))
}

pub(crate) fn refusal(
    status: StatusCode,
    challenge: &BearerChallenge,
    code: &str,
    message: &str,
) -> Response {
    let mut response =
        (status, axum::Json(json!({ "error": code, "error_description": message }))).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge.to_header_value()) {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Refuses browser requests from origins not on the list (DNS-rebinding defence):
/// 403. Requests without an `Origin` (non-browser clients) pass.
pub(crate) async fn check_origin(
    State(allowed): State<Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(origin) = request.headers().get(http::header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
        if !ok {
            return (StatusCode::FORBIDDEN, axum::Json(json!({ "error": "origin_not_allowed", "error_description": "this Origin may not call the MCP endpoint" })))
                .into_response()
                .marked(Refusal { code: "origin_not_allowed", caller: None });
        }
    }
    next.run(request).await
}

/// Accepts `X-Request-ID` when it is a valid [`RequestId`] (at most 128 safe
/// characters), otherwise generates one; echoes it on the response.
pub(crate) async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| RequestId::new(v).ok())
        .or_else(|| RequestId::generate().ok());
    if let Some(id) = &id {
        // The HTTP span (opened by the outer trace layer) is current here.
        tracing::Span::current().record("request_id", id.as_str());
        request.extensions_mut().insert(id.clone());
    }
    let mut response = next.run(request).await;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(id.as_str()).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Binds 2025-11-25 protocol sessions to the principal that created them: a session id
/// presented by anyone else, or one this server has no binding for, is answered as if it
/// did not exist (404), never treated as a credential. (rmcp itself only checks that a
/// session exists.)
#[derive(Default)]
pub(crate) struct SessionBindings {
    sessions: Mutex<HashMap<String, Binding>>,
}

struct Binding {
    owner: Option<IsolationKey>,
    last_used: Instant,
}

/// Bindings idle longer than this are dropped (rmcp itself expires idle sessions after
/// minutes, so such a session is gone anyway).
const SESSION_IDLE_TTL: Duration = Duration::from_secs(3600);
/// Pruning starts above this many bindings.
const SESSION_PRUNE_AT: usize = 10_000;
/// The hard cap: beyond it, the least recently used binding is evicted (its session then
/// answers 404 to everyone: closed, not open).
const MAX_SESSION_BINDINGS: usize = 100_000;

fn not_found(caller: Option<&Caller>) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "session_not_found" })))
        .into_response()
        .marked(Refusal { code: "session_not_found", caller: caller.cloned() })
}

pub(crate) async fn bind_session(
    State(bindings): State<Arc<SessionBindings>>,
    request: Request,
    next: Next,
) -> Response {
    let key = request.extensions().get::<Caller>().and_then(Caller::isolation_key);
    let presented = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let is_delete = request.method() == http::Method::DELETE;
    if let Some(session) = &presented {
        let mut sessions = bindings.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match sessions.get_mut(session) {
            Some(binding) if binding.owner == key => binding.last_used = Instant::now(),
            // Someone else's session, or none we know of: indistinguishable to the caller.
            _ => return not_found(request.extensions().get::<Caller>()),
        }
    }
    let response = next.run(request).await;
    let mut sessions = bindings.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match (&presented, response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok())) {
        (None, Some(created)) => {
            if sessions.len() >= SESSION_PRUNE_AT {
                sessions.retain(|_, b| b.last_used.elapsed() < SESSION_IDLE_TTL);
            }
            if sessions.len() >= MAX_SESSION_BINDINGS
                && let Some(oldest) =
                    sessions.iter().min_by_key(|(_, b)| b.last_used).map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
            sessions.insert(created.to_owned(), Binding { owner: key, last_used: Instant::now() });
        }
        (Some(session), _) if is_delete && response.status().is_success() => {
            sessions.remove(session);
        }
        _ => {}
    }
    drop(sessions);
    response
}

/// The answer of `/readyz` while the server is not (or no longer) accepting work.
pub(crate) fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_tokens_are_spotted() {
        for (query, expected) in [
            (Some("access_token=abc"), true),
            (Some("a=1&ACCESS_TOKEN=x"), true),
            (Some("token=abc"), true),
            (Some("api_key=abc"), true),
            (Some("X-Api-Key=abc"), true),
            (Some("access%5Ftoken=abc"), true),
            (Some("q=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"), true),
            (Some("q=psk_3kTMd9yQ0bWcJ7rXe1LhV5gN2pAsZ8uF4oKiYj6t0Rw2Ab1"), true),
            (Some("accessToken=abc"), true),
            (Some("access-token=abc"), true),
            (Some("access_token%5B%5D=abc"), true),
            (Some("a=1;api_token=abc"), true),
            (Some("q=Bearer%20eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"), true),
            (Some("q=eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), true),
            (Some("q=%22psk_3kTMd9yQ0bWcJ7rXe1LhV5gN2pAsZ8uF4oKiYj6t0Rw2Ab1%22"), true),
            (Some("access_tokens=1"), false),
            (Some("tokens=1&keyboard=2"), false),
            (Some("q=eyJust-text"), false),
            (Some("session=abc"), false),
            (None, false),
        ] {
            assert_eq!(super::token_in_query(query), expected, "{query:?}");
        }
    }
}

/// What the scope challenge needs to know about each tool.
pub(crate) struct ScopeIndex {
    pub(crate) tools: HashMap<String, ToolScopes>,
    pub(crate) metadata_url: Option<String>,
    pub(crate) max_body_bytes: usize,
}

pub(crate) struct ToolScopes {
    pub(crate) info: Arc<mcp_guards::ToolInfo>,
    pub(crate) guards: Vec<Arc<dyn mcp_guards::Guard>>,
    /// Every scope the tool's guards can require, for the challenge.
    pub(crate) scopes: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<ProbeParams<'a>>,
}

#[derive(serde::Deserialize)]
struct ProbeParams<'a> {
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
}

/// Reads a POSTed message once, after authentication, for two checks:
///
/// - **Parse errors.** A body that is not JSON at all (bad syntax, cut short, trailing
///   bytes) gets HTTP 400 with the JSON-RPC parse error (-32700) and the reason. Valid JSON
///   of the wrong shape goes on to rmcp, which answers with the JSON-RPC error for it.
/// - **Scope step-up** (MCP authorization, RFC 6750 §3.1): when the first guard that
///   refuses an authenticated caller's `tools/call` refuses for a missing scope, the answer
///   is HTTP 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`
///   naming every scope the tool can require, so the client can obtain a token that has
///   them. Other refusals stay MCP tool errors.
pub(crate) async fn inspect_message(
    State(index): State<Arc<ScopeIndex>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != http::Method::POST {
        return next.run(request).await;
    }
    let caller = request.extensions().get::<Caller>().cloned();
    let (parts, body) = request.into_parts();
    // Bounded: the same cap rmcp applies after us.
    let Ok(bytes) = axum::body::to_bytes(body, index.max_body_bytes).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(json!({ "error": "body_too_large" })))
            .into_response()
            .marked(Refusal { code: "body_too_large", caller });
    };
    let probe = match serde_json::from_slice::<Probe<'_>>(&bytes) {
        Ok(probe) => Some(probe),
        Err(error) if error.classify() != serde_json::error::Category::Data => {
            let body = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": { "code": -32700, "message": format!("parse error: {error}") },
            });
            return (StatusCode::BAD_REQUEST, axum::Json(body))
                .into_response()
                .marked(Refusal { code: "parse_error", caller });
        }
        Err(_) => None,
    };
    if let (
        Some(Caller::Authenticated(client)),
        Some(Probe { method: Some(method), params: Some(ProbeParams { name: Some(name) }) }),
    ) = (&caller, probe)
        && method == "tools/call"
        && let Some(tool) = index.tools.get(name.as_ref())
    {
        let ctx = mcp_guards::GuardContext::for_listing(Some(client), &tool.info);
        let first_denial = tool.guards.iter().find_map(|g| match g.check(&ctx).into_ready() {
            Ok(Err(denial)) => Some(denial),
            _ => None,
        });
        if first_denial.is_some_and(|d| d.code() == mcp_guards::DenialCode::InsufficientScope) {
            let mut challenge = BearerChallenge::insufficient_scope(tool.scopes.iter().map(String::as_str));
            if let Some(url) = &index.metadata_url {
                challenge = challenge.resource_metadata(url.clone());
            }
            return refusal(
                StatusCode::FORBIDDEN,
                &challenge,
                "insufficient_scope",
                "the token lacks a scope this tool requires",
            )
            .marked(Refusal { code: "insufficient_scope", caller: caller.clone() });
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// A response body that keeps its request counted as in progress until it has been sent
/// (or dropped).
struct CountedBody {
    body: Body,
    _in_flight: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl http_body::Body for CountedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
