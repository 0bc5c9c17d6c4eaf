//! A test deployment: a JWT-protected server with tenant-scoped tools on 127.0.0.1, and a
//! minimal MCP-over-HTTP client that exposes status codes and headers.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod telemetry;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use identity_types::{Role, Scope, TenantId};
use mcp_auth::{Algorithm, JwtAuth, JwtOptions, ProtectedResourceMetadata, TokenSpec};
use mcp_server::{
    Args, Authenticated, Json, McpRouter, McpServer, MemoryAuditSink, Quota, State, Tool, ToolError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

pub const SECRET: &[u8] = b"mcp-server-test-secret-0123456789abcdef";

/// Customers by tenant: each handler sees only its caller's tenant.
pub struct Customers(pub HashMap<(String, String), Value>);

#[derive(Deserialize, JsonSchema)]
pub struct CustomerId {
    /// The customer's id.
    pub customer_id: String,
}

async fn get_customer(
    Args(a): Args<CustomerId>,
    caller: Authenticated,
    db: State<Customers>,
) -> Result<Json<Value>, ToolError> {
    let tenant = caller.tenant().map(TenantId::to_string).unwrap_or_default();
    db.0.0
        .get(&(tenant, a.customer_id.clone()))
        .cloned()
        .map(Json)
        .ok_or_else(|| ToolError::NotFound(format!("customer {}", a.customer_id)))
}

async fn delete_customer(Args(a): Args<CustomerId>) -> Result<Json<Value>, ToolError> {
    Ok(Json(json!({ "deleted": a.customer_id })))
}

async fn server_time() -> Json<Value> {
    Json(json!({ "status": "up" }))
}

/// A backend that fails while `failing` is set; `calls` counts what reached it.
#[derive(Default)]
pub struct Flaky {
    pub failing: std::sync::atomic::AtomicBool,
    pub calls: std::sync::atomic::AtomicU32,
}

async fn flaky(
    ctx: mcp_server::RequestContext,
    backend: State<Arc<Flaky>>,
) -> Result<Json<Value>, ToolError> {
    use std::sync::atomic::Ordering;
    backend.calls.fetch_add(1, Ordering::SeqCst);
    if backend.failing.load(Ordering::SeqCst) {
        return Err(ToolError::Internal { request_id: ctx.request_id().to_string() });
    }
    Ok(Json(json!({"ok": true})))
}

async fn slow() -> Result<Json<Value>, ToolError> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(Json(json!({})))
}

pub struct TestServer {
    pub base: String,
    pub resource: String,
    pub jwt: JwtAuth,
    pub audit: Arc<MemoryAuditSink>,
    pub http: reqwest::Client,
    /// The serving task (ends after a graceful shutdown).
    pub serving: tokio::task::JoinHandle<()>,
}

pub struct Options {
    pub anonymous: bool,
    pub per_second: u32,
    /// A quota replacing `per_second` (a per-minute one keeps a test's refusals
    /// independent of how fast the machine runs it).
    pub quota: Option<Quota>,
    pub approvals: bool,
    /// An audit sink instead of the in-memory one.
    pub audit: Option<Arc<dyn mcp_server::AuditSink>>,
    /// Resolving this shuts the server down gracefully.
    pub shutdown: Option<tokio::sync::oneshot::Receiver<()>>,
    /// How long shutdown waits for calls in progress (the server's default if unset).
    pub shutdown_grace: Option<Duration>,
    /// More routers to mount.
    pub extra_routers: Vec<mcp_server::McpRouter>,
    /// A last change to the builder (a server-wide layer, say).
    pub server_layer: Option<Box<dyn FnOnce(mcp_server::McpServerBuilder) -> mcp_server::McpServerBuilder>>,
    /// Record redacted copies of arguments in audit entries.
    pub audit_arguments: Option<Arc<dyn mcp_server::ArgumentRedactor>>,
    /// Adds a `flaky` tool behind a circuit breaker (3 failures, 1 s), on this backend.
    pub flaky: Option<Arc<Flaky>>,
    /// Counts into these metrics.
    pub metrics: Option<observe::ServerMetrics>,
    /// More tools.
    pub extra_tools: Vec<Tool>,
    /// Inspects results before callers see them.
    pub inspector: Option<Arc<dyn mcp_server::ResultInspector>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            anonymous: false,
            per_second: 1000,
            quota: None,
            approvals: false,
            audit: None,
            shutdown: None,
            shutdown_grace: None,
            extra_routers: Vec::new(),
            server_layer: None,
            audit_arguments: None,
            flaky: None,
            metrics: None,
            extra_tools: Vec::new(),
            inspector: None,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct CartItems {
    /// What to remember.
    pub items: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct CartHandle {
    /// A handle from cart_put.
    pub handle: String,
}

async fn cart_put(
    Args(a): Args<CartItems>,
    state: mcp_server::PrincipalState,
) -> Result<Json<Value>, ToolError> {
    let handle = state.mint(a.items.into_bytes(), None).await?;
    Ok(Json(json!({ "handle": handle.to_string() })))
}

async fn cart_get(
    Args(a): Args<CartHandle>,
    state: mcp_server::PrincipalState,
) -> Result<Json<Value>, ToolError> {
    let items = state.get(&a.handle).await?;
    Ok(Json(json!({ "items": String::from_utf8_lossy(&items) })))
}

async fn visits(session: mcp_server::SessionState) -> Result<Json<Value>, ToolError> {
    let count =
        session.get("visits").await?.map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap_or_default())) + 1;
    session.put("visits", count.to_le_bytes().to_vec()).await?;
    Ok(Json(json!({ "visits": count })))
}

async fn refund(Args(a): Args<CustomerId>) -> Json<Value> {
    Json(json!({ "refunded": a.customer_id }))
}

pub async fn start(options: Options) -> TestServer {
    // reqwest is built without a bundled TLS provider; the workspace uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let jwt =
        JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(&resource).leeway(Duration::ZERO))
            .unwrap();
    let verifier =
        JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(&resource).leeway(Duration::ZERO))
            .unwrap();
    let audit = Arc::new(MemoryAuditSink::new());
    let mut customers = HashMap::new();
    customers.insert(("acme".to_owned(), "c-1".to_owned()), json!({"id": "c-1", "name": "Ada Acme"}));
    customers.insert(("globex".to_owned(), "c-2".to_owned()), json!({"id": "c-2", "name": "Gus Globex"}));
    let quota = options
        .quota
        .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::new(options.per_second).unwrap()));

    let mut builder = McpServer::builder("test-server", "0.0.1")
        .auth(Arc::new(verifier))
        .resource(ProtectedResourceMetadata::new(&resource).scopes(["read", "write"]))
        .audit(options.audit.clone().unwrap_or_else(|| audit.clone()))
        .state(Customers(customers))
        .rate_limit(quota)
        .router(
            McpRouter::new("customers")
                .tool(
                    Tool::new("get_customer", get_customer)
                        .description("One customer of your tenant.")
                        .read_only()
                        .roles(["support", "admin"]),
                )
                .tool(
                    Tool::new("delete_customer", delete_customer)
                        .destructive()
                        .roles(["admin"])
                        .guard(mcp_guards::HasScope::new(["write"]).unwrap()),
                ),
        )
        .tool(Tool::new("server_time", server_time).read_only().public())
        .tool(Tool::new("cart_put", cart_put).roles(["support", "admin"]))
        .tool(Tool::new("cart_get", cart_get).read_only().roles(["support", "admin"]))
        .tool(Tool::new("visits", visits).roles(["support", "admin"]))
        .tool(Tool::new("slow", slow).timeout(Duration::from_millis(200)).roles(["admin"]));
    if options.anonymous {
        builder = builder.allow_anonymous();
    }
    if let Some(metrics) = options.metrics.clone() {
        builder = builder.metrics(metrics);
    }
    for tool in options.extra_tools {
        builder = builder.tool(tool);
    }
    if let Some(backend) = options.flaky.clone() {
        builder = builder
            .state(backend)
            .tool(Tool::new("flaky", flaky).roles(["support"]).circuit_breaker(3, Duration::from_secs(1)));
    }
    if let Some(inspector) = options.inspector.clone() {
        builder = builder.inspect_results(inspector);
    }
    if let Some(redactor) = options.audit_arguments.clone() {
        builder = builder.audit_arguments(redactor);
    }
    for router in options.extra_routers {
        builder = builder.router(router);
    }
    if let Some(change) = options.server_layer {
        builder = change(builder);
    }
    if let Some(grace) = options.shutdown_grace {
        builder = builder.shutdown_grace(grace);
    }
    if options.approvals {
        let signer = mcp_guards::ApprovalSigner::new(b"approval-signing-key-0123456789abcdef")
            .unwrap()
            .with_audience(&resource);
        builder = builder
            .approvals(mcp_server::ApprovalConfig::new(Arc::new(signer), Role::new("approver").unwrap()))
            .tool(Tool::new("refund", refund).roles(["support"]).requires_approval());
    }
    let server = builder.build().unwrap();
    let shutdown = options.shutdown;
    let serving = tokio::spawn(async move {
        let stop = async move {
            match shutdown {
                Some(signal) => drop(signal.await),
                None => std::future::pending().await,
            }
        };
        server.serve(listener, stop).await.unwrap();
    });
    TestServer { base: format!("http://{addr}"), resource, jwt, audit, http: reqwest::Client::new(), serving }
}

impl TestServer {
    pub fn token(&self, sub: &str, tenant: &str, roles: &[&str], scopes: &[&str]) -> String {
        self.jwt
            .create_token(
                &TokenSpec::new(sub)
                    .tenant(TenantId::new(tenant).unwrap())
                    .roles(roles.iter().map(|r| Role::new(*r).unwrap()))
                    .scopes(scopes.iter().map(|s| Scope::new(*s).unwrap())),
            )
            .unwrap()
    }

    pub fn support(&self) -> String {
        self.token("sam", "acme", &["support"], &["read"])
    }

    pub fn admin(&self) -> String {
        self.token("ada", "globex", &["admin", "support"], &["read", "write"])
    }

    /// POSTs one JSON-RPC message; returns status, headers and the JSON body (from plain
    /// JSON or the first SSE `data:` line).
    pub async fn post(&self, token: Option<&str>, session: Option<&str>, body: Value) -> Reply {
        self.post_with(token, session, body, &[]).await
    }

    /// As [`Self::post`], with extra headers.
    pub async fn post_with(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.base))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// A stateless request of the 2026-07-28 era: no session, the protocol version and
    /// capabilities in the request's `_meta`, the method (and tool) named in headers too.
    pub async fn stateless(&self, token: Option<&str>, mut body: Value) -> Reply {
        body["params"]["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let mut request = self
            .http
            .post(format!("{}/mcp", self.base))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", body["method"].as_str().unwrap_or_default());
        if let Some(name) = body["params"]["name"].as_str() {
            request = request.header("mcp-name", name);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.json(&body).send().await.unwrap()).await
    }

    /// Runs initialize + initialized; returns the session id.
    pub async fn session(&self, token: Option<&str>) -> String {
        let reply = self
            .post(token, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}}))
            .await;
        assert_eq!(reply.status, 200, "initialize: {:?}", reply.body);
        let session = reply.headers.get("mcp-session-id").expect("session id").to_str().unwrap().to_owned();
        let ack = self
            .post(token, Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(ack.status, 202);
        session
    }

    pub async fn list_tools(&self, token: Option<&str>) -> Vec<String> {
        let session = self.session(token).await;
        let reply = self
            .post(token, Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .await;
        reply.tool_names()
    }

    pub async fn call(&self, token: Option<&str>, tool: &str, arguments: Value) -> Reply {
        let session = self.session(token).await;
        self.call_in(token, &session, tool, arguments).await
    }

    pub async fn call_in(&self, token: Option<&str>, session: &str, tool: &str, arguments: Value) -> Reply {
        self.post(token, Some(session), json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))
            .await
    }

    /// A call carrying `_meta` (e.g. an approval grant).
    pub async fn call_with_meta(&self, token: &str, tool: &str, arguments: Value, meta: Value) -> Reply {
        let session = self.session(Some(token)).await;
        self.post(
            Some(token),
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": arguments, "_meta": meta}}),
        )
        .await
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| {
            // SSE: the first `data:` line holding JSON (a priming event may come first).
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .find_map(|d| serde_json::from_str(d.trim()).ok())
                .unwrap_or(Value::Null)
        });
        Self { status, headers, body }
    }

    /// The names in a `tools/list` result.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The tool error code of a `tools/call` result, or "ok".
    pub fn tool_outcome(&self) -> String {
        let result = &self.body["result"];
        if result["isError"] == json!(true) {
            result["structuredContent"]["error"]["code"].as_str().unwrap_or("?").to_owned()
        } else if result.is_object() {
            "ok".to_owned()
        } else {
            format!("jsonrpc-error {}", self.body["error"]["code"])
        }
    }

    pub fn www_authenticate(&self) -> String {
        self.headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
}
