//! [`McpServer`]: the builder, the HTTP router and the stdio transport.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use governor::Quota;
use identity_types::PrivacyKey;
use mcp_auth::{AuthProvider, ProtectedResourceMetadata, WELL_KNOWN_PATH};
use mcp_guards::{DenialDetail, Guard, GuardConfigError, ToolInfo};
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

#[cfg(doc)]
use crate::audit::RedactFields;
use crate::audit::{ArgumentRedactor, AuditSink, NoAudit};
use crate::context::{Caller, StateMap};
use crate::http::{
    AuthLayer, AuthState, SessionBindings, assign_request_id, bind_session, check_origin, not_ready,
};
use crate::middleware::{ConcurrencyLimitLayer, RateLimitLayer, TimeoutLayer};
use crate::service::{PalisadeService, Shared, ToolEntry, descriptor, server_config};
use crate::tool::{McpRouter, Tool};

/// Why a server could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither an authentication provider nor anonymous access was configured.
    #[error(
        "no authentication configured: call .auth(provider), or .allow_anonymous() for public tools only"
    )]
    NoAuthentication,
    /// Authentication is on but no protected-resource metadata names this server.
    #[error(
        "authentication needs .resource(metadata): clients learn the audience and authorization server from it"
    )]
    NoResourceMetadata,
    /// A tool name is empty, too long or has characters outside `A-Z a-z 0-9 _ - .`.
    #[error("invalid tool name {0:?}: 1-128 characters of A-Z a-z 0-9 _ - .")]
    InvalidToolName(String),
    /// Two tools share a name.
    #[error("two tools are named {0:?}")]
    DuplicateTool(String),
    /// The operating system's random number generator is unavailable.
    #[error("the operating system's random number generator is unavailable")]
    NoRandomness,
    /// A tool requires approval but no approval workflow is configured: its calls would
    /// either all fail or, worse, run unapproved.
    #[error("tool {0:?} requires approval: configure .approvals(..)")]
    ApprovalsNotConfigured(String),
    /// The approval workflow needs authenticated approvers.
    #[error("the approval workflow needs .auth(provider)")]
    ApprovalsNeedAuth,
    /// A guard of a tool is misconfigured.
    #[error("tool {tool:?}: {error}")]
    Guard {
        /// The tool.
        tool: String,
        /// The problem.
        error: GuardConfigError,
    },
}

/// Builds an [`McpServer`]; see [`McpServer::builder`].
#[must_use]
pub struct McpServerBuilder {
    name: String,
    version: String,
    instructions: Option<String>,
    tools: Vec<Tool>,
    config_errors: Vec<(String, GuardConfigError)>,
    auth: Option<Arc<dyn AuthProvider>>,
    allow_anonymous: bool,
    metadata: Option<ProtectedResourceMetadata>,
    audit: Arc<dyn AuditSink>,
    privacy: Option<PrivacyKey>,
    state: StateMap,
    denial_detail: DenialDetail,
    argument_copy: Option<Arc<dyn ArgumentRedactor>>,
    result_inspector: Option<Arc<dyn crate::inspect::ResultInspector>>,
    policies: Vec<Arc<dyn Guard>>,
    allowed_origins: Vec<String>,
    allowed_hosts: Vec<String>,
    max_body_bytes: usize,
    shutdown_grace: Duration,
    default_timeout: Option<Duration>,
    rate_limit: Option<RateLimitLayer>,
    concurrency: Option<ConcurrencyLimitLayer>,
    stdio_caller: Option<Caller>,
    approvals: Option<crate::approvals::ApprovalConfig>,
    token_endpoint: Option<crate::token_endpoint::TokenEndpointConfig>,
    state_store: Option<Arc<dyn state_store::StateStore>>,
    layers: Vec<crate::middleware::WrapFn>,
    metrics: Option<observe::ServerMetrics>,
}

impl McpServerBuilder {
    /// Instructions for clients and models.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }
    /// Registers a tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }
    /// Mounts a router's tools under its prefix.
    pub fn router(mut self, router: McpRouter) -> Self {
        let prefix = router.prefix.clone();
        let (tools, errors) = router.into_tools();
        self.config_errors.extend(errors.into_iter().map(|e| (prefix.clone(), e)));
        self.tools.extend(tools);
        self
    }
    /// Authenticates every HTTP request with `provider`.
    pub fn auth(mut self, provider: Arc<dyn AuthProvider>) -> Self {
        self.auth = Some(provider);
        self
    }
    /// Admits callers without credentials; they can list and call only public tools.
    /// Callers presenting a bad credential are still refused.
    pub fn allow_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }
    /// The RFC 9728 metadata of this server; its `resource` is the audience tokens must
    /// carry and the URL whose path the MCP endpoint is served at.
    pub fn resource(mut self, metadata: ProtectedResourceMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }
    /// Where audit events go.
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }
    /// The key for principal pseudonyms in audit events (default: random per process,
    /// so pseudonyms change on restart).
    pub fn privacy_key(mut self, key: PrivacyKey) -> Self {
        self.privacy = Some(key);
        self
    }
    /// Registers shared state, available to handlers as `State<T>`.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state = self.state.with(Arc::new(value));
        self
    }
    /// Inspects every successful tool result before the caller sees it (see
    /// [`crate::ResultInspector`]): redaction, or the typed error `result_withheld`.
    pub fn inspect_results(mut self, inspector: Arc<dyn crate::inspect::ResultInspector>) -> Self {
        self.result_inspector = Some(inspector);
        self
    }
    /// Records a redacted copy of each call's arguments in its audit entry (off by
    /// default: entries carry only the arguments' digest). See [`RedactFields`].
    pub fn audit_arguments(mut self, redactor: Arc<dyn ArgumentRedactor>) -> Self {
        self.argument_copy = Some(redactor);
        self
    }
    /// Whether denials name the roles or scopes they needed (default) or hide them.
    pub fn denial_detail(mut self, detail: DenialDetail) -> Self {
        self.denial_detail = detail;
        self
    }
    /// Adds a server-wide policy checked on every call before the tool's own guards
    /// (e.g. `Arc<ReadOnlyMode>`, `Arc<MaintenanceMode>`, `RequireApproval`).
    pub fn policy(mut self, policy: Arc<dyn Guard>) -> Self {
        self.policies.push(policy);
        self
    }
    /// Browser origins allowed to call the endpoint (default: the resource's own origin).
    pub fn allowed_origins(mut self, origins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }
    /// `Host` header values accepted (default: loopback names and the resource's host).
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }
    /// Largest request body accepted (default 1 MiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
    /// How long a graceful shutdown waits for tool calls in progress before it cancels
    /// them (default 30 s; a cancelled call is audited as `cancelled`). Open sessions
    /// and their event streams are closed after that, and connections still open 5 s
    /// later (a client that stopped reading) are dropped, so no client can keep the
    /// server from stopping. The audit log is flushed then, and background tasks get the
    /// same grace again (with a last flush after them).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
    /// Timeout for tools that set none.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }
    /// A per-principal rate limit shared by all tools (each tool's own limit applies too).
    pub fn rate_limit(mut self, quota: Quota) -> Self {
        self.rate_limit = Some(RateLimitLayer::new(quota));
        self
    }
    /// Wraps every tool in a tower layer of your own, around the routers' and tools' own
    /// layers and inside the built-in middleware; see [`Tool::layer`].
    pub fn layer(mut self, layer: impl crate::middleware::ToolLayer) -> Self {
        self.layers.push(std::sync::Arc::new(layer));
        self
    }
    /// Concurrency limits shared by all tools.
    pub fn max_concurrency(mut self, global: usize, per_principal: usize) -> Self {
        self.concurrency = Some(ConcurrencyLimitLayer::new(global, per_principal));
        self
    }
    /// Turns on the approval workflow for tools marked `requires_approval`: calls without
    /// a grant open an approval request, approvers grant it at `POST /approvals/{id}/grant`.
    pub fn approvals(mut self, config: crate::approvals::ApprovalConfig) -> Self {
        self.approvals = Some(config);
        self
    }
    /// Turns on the development token endpoint `POST /auth/token` (OAuth
    /// `client_credentials`). Off by default; never for production.
    pub fn dev_token_endpoint(mut self, config: crate::token_endpoint::TokenEndpointConfig) -> Self {
        self.token_endpoint = Some(config);
        self
    }
    /// Where `PrincipalState` keeps per-principal state (default: in memory, with
    /// `state_store::Limits::default()`; use `state_store::RedisStateStore` when several
    /// replicas serve the same clients).
    pub fn state_store(mut self, store: Arc<dyn state_store::StateStore>) -> Self {
        self.state_store = Some(store);
        self
    }
    /// Counts requests, tool calls by tool and outcome, latencies, in-flight calls and
    /// door refusals into `metrics` (see [`observe::ServerMetrics`]). Spans and log
    /// lines are emitted either way; this adds the Prometheus side.
    pub fn metrics(mut self, metrics: observe::ServerMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }
    /// The identity of stdio sessions (a stdio server has no HTTP request to
    /// authenticate: it runs as the principal that started it).
    pub fn stdio_identity(mut self, caller: Caller) -> Self {
        self.stdio_caller = Some(caller);
        self
    }

    /// Validates the configuration and assembles the server.
    ///
    /// # Errors
    /// A [`BuildError`] naming the first problem found.
    pub fn build(self) -> Result<McpServer, BuildError> {
        if self.auth.is_none() && !self.allow_anonymous {
            return Err(BuildError::NoAuthentication);
        }
        if self.auth.is_some() && self.metadata.is_none() {
            return Err(BuildError::NoResourceMetadata);
        }
        if let Some((tool, error)) = self.config_errors.into_iter().next() {
            return Err(BuildError::Guard { tool, error });
        }
        if let Some(tool) = self.tools.iter().find(|t| t.requires_approval)
            && self.approvals.is_none()
        {
            return Err(BuildError::ApprovalsNotConfigured(tool.name.clone()));
        }
        if self.approvals.is_some() && self.auth.is_none() {
            return Err(BuildError::ApprovalsNeedAuth);
        }
        let mut policies = self.policies;
        let approvals = self.approvals.map(|config| {
            policies.push(Arc::new(mcp_guards::RequireApproval::new(Arc::clone(&config.signer))));
            Arc::new(crate::approvals::Approvals::new(config))
        });
        // Anonymous callers are never unlimited: without an explicit limit, each peer
        // address gets 20 calls per second.
        let rate_limit = match (self.rate_limit, self.allow_anonymous) {
            (Some(layer), _) => Some(layer),
            (None, true) => Some(RateLimitLayer::new(Quota::per_second(ANONYMOUS_DEFAULT_PER_SECOND))),
            (None, false) => None,
        };
        let mut limiters: Vec<RateLimitLayer> = rate_limit.iter().cloned().collect();
        let mut tools = HashMap::new();
        let mut order = Vec::new();
        for mut tool in self.tools {
            if let Some(error) = tool.config_errors.pop() {
                return Err(BuildError::Guard { tool: tool.name, error });
            }
            if !valid_tool_name(&tool.name) {
                return Err(BuildError::InvalidToolName(tool.name));
            }
            if tools.contains_key(&tool.name) {
                return Err(BuildError::DuplicateTool(tool.name));
            }
            let info = Arc::new(ToolInfo {
                name: tool.name.clone(),
                read_only: tool.read_only,
                destructive: tool.destructive,
                idempotent: tool.idempotent,
                public: tool.public,
                requires_approval: tool.requires_approval,
            });
            let handler = Arc::clone(&tool.handler);
            let mut base: crate::middleware::ToolService =
                BoxCloneSyncService::new(tower::service_fn(move |ctx| handler(ctx)));
            // The user's layers, tool's then router's then server's, inside the built-ins.
            for wrap in tool.layers.iter().chain(&self.layers) {
                base = wrap.wrap(base);
            }
            // Outermost first. Refusals that cost nothing come first (a rate-limited call
            // takes no concurrency slot); the timeout starts only once the call holds its
            // slots, so a call that timed out did run (its outcome is unknown) and a call
            // still queued when its time is up is refused as `overloaded` (it never ran);
            // the circuit breaker sees only calls that ran.
            let timeout = tool.timeout.or(self.default_timeout);
            let service = ServiceBuilder::new()
                .option_layer(rate_limit.clone())
                .option_layer(tool.rate_limit.map(|quota| {
                    let layer = RateLimitLayer::new(quota);
                    limiters.push(layer.clone());
                    layer
                }))
                .option_layer(self.concurrency.as_ref().map(|layer| layer.max_wait(timeout)))
                .option_layer(
                    tool.max_concurrency.map(|(g, p)| ConcurrencyLimitLayer::new(g, p).max_wait(timeout)),
                )
                .option_layer(tool.circuit_breaker.map(|(failures, cooldown)| {
                    crate::middleware::CircuitBreakerLayer::new(failures, cooldown)
                }))
                .option_layer(timeout.map(TimeoutLayer::new))
                .service(base);
            let entry = ToolEntry {
                descriptor: descriptor(
                    &info,
                    tool.description.as_deref(),
                    std::mem::take(&mut tool.input_schema),
                ),
                info,
                guards: tool.guards,
                service: BoxCloneSyncService::new(service),
                metrics: self.metrics.as_ref().map(|m| m.tool(&tool.name)),
            };
            order.push(tool.name.clone());
            tools.insert(tool.name, entry);
        }
        let privacy = match self.privacy {
            Some(key) => key,
            None => random_privacy_key()?,
        };
        let shared = Shared {
            info: server_config(&self.name, &self.version, self.instructions.as_deref()),
            tools,
            order,
            policies,
            audit: Arc::clone(&self.audit),
            privacy,
            state: self.state,
            denial_detail: self.denial_detail,
            argument_copy: self.argument_copy,
            result_inspector: self.result_inspector,
            approvals,
            background: tokio_util::task::TaskTracker::new(),
            calls: tokio_util::task::TaskTracker::new(),
            tool_calls: tokio_util::task::TaskTracker::new(),
            state_store: self.state_store.unwrap_or_else(|| {
                Arc::new(state_store::MemoryStateStore::new(state_store::Limits::default()))
            }),
            door_budget: crate::http::RefusalBudget::new(),
            unknown_tool_metrics: self.metrics.as_ref().map(|m| m.tool(observe::UNKNOWN_TOOL)),
            metrics: self.metrics,
        };
        let token_endpoint = self
            .token_endpoint
            .map(|config| Arc::new(crate::token_endpoint::TokenState::new(config, Arc::clone(&self.audit))));
        Ok(McpServer {
            token_endpoint,
            service: PalisadeService { shared: Arc::new(shared), stdio_caller: None },
            stdio_caller: self.stdio_caller,
            limiters,
            auth: self.auth,
            allow_anonymous: self.allow_anonymous,
            metadata: self.metadata,
            audit: self.audit,
            allowed_origins: self.allowed_origins,
            allowed_hosts: self.allowed_hosts,
            max_body_bytes: self.max_body_bytes,
            shutdown_grace: self.shutdown_grace,
            shutdown: tokio_util::sync::CancellationToken::new(),
            ready: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// Calls per second per peer address for anonymous callers when no limit is configured.
/// How long past the shutdown grace connections may stay open, and calls may take to
/// be audited once cancelled.
const HARD_STOP_MARGIN: Duration = Duration::from_secs(5);
const ANONYMOUS_DEFAULT_PER_SECOND: std::num::NonZeroU32 = match std::num::NonZeroU32::new(20) {
    Some(n) => n,
    None => std::num::NonZeroU32::MIN,
};

fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn random_privacy_key() -> Result<PrivacyKey, BuildError> {
    use ring::rand::SecureRandom as _;
    let mut secret = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut secret).map_err(|_| BuildError::NoRandomness)?;
    Ok(PrivacyKey::from_array(&secret))
}

/// An MCP server: tools with their guards and middleware, authentication at the door.
///
/// ```no_run
/// use std::sync::Arc;
/// use mcp_auth::{Algorithm, JwtAuth, JwtOptions, ProtectedResourceMetadata};
/// use mcp_server::{McpServer, Tool};
///
/// async fn ping() -> String { "pong".into() }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let resource = "http://127.0.0.1:8080/mcp";
/// let auth = JwtAuth::new(&[7u8; 32], Algorithm::HS256, JwtOptions::for_audience(resource))?;
/// let server = McpServer::builder("demo", "1.0.0")
///     .auth(Arc::new(auth))
///     .resource(ProtectedResourceMetadata::new(resource))
///     .tool(Tool::new("ping", ping).read_only())
///     .build()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// server.serve(listener, std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub struct McpServer {
    token_endpoint: Option<Arc<crate::token_endpoint::TokenState>>,
    service: PalisadeService,
    stdio_caller: Option<Caller>,
    limiters: Vec<RateLimitLayer>,
    auth: Option<Arc<dyn AuthProvider>>,
    allow_anonymous: bool,
    metadata: Option<ProtectedResourceMetadata>,
    audit: Arc<dyn AuditSink>,
    allowed_origins: Vec<String>,
    allowed_hosts: Vec<String>,
    max_body_bytes: usize,
    shutdown_grace: Duration,
    /// Given to rmcp: cancelled once in-flight calls have drained at shutdown, it ends
    /// every session, its event streams and any call still running.
    shutdown: tokio_util::sync::CancellationToken,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("service", &self.service).finish_non_exhaustive()
    }
}

impl McpServer {
    /// Starts a builder for a server called `name`, version `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder {
            name: name.into(),
            version: version.into(),
            instructions: None,
            tools: Vec::new(),
            config_errors: Vec::new(),
            auth: None,
            allow_anonymous: false,
            metadata: None,
            audit: Arc::new(NoAudit),
            privacy: None,
            state: StateMap::default(),
            denial_detail: DenialDetail::default(),
            argument_copy: None,
            result_inspector: None,
            policies: Vec::new(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            default_timeout: None,
            rate_limit: None,
            concurrency: None,
            stdio_caller: None,
            approvals: None,
            token_endpoint: None,
            state_store: None,
            layers: Vec::new(),
            metrics: None,
        }
    }

    /// The MCP service itself (for custom transports).
    #[must_use]
    pub fn service(&self) -> PalisadeService {
        self.service.clone()
    }

    /// The path the MCP endpoint is served at: the resource URL's path, or `/mcp`.
    #[must_use]
    pub fn mcp_path(&self) -> String {
        self.metadata
            .as_ref()
            .and_then(|m| url_parts(&m.resource))
            .map(|(_, path)| path)
            .filter(|p| p != "/" && !p.is_empty())
            .unwrap_or_else(|| "/mcp".to_owned())
    }

    /// The axum router: the MCP endpoint behind the door layers, the RFC 9728 metadata
    /// (at the well-known path and its resource-path form), `/healthz` and `/readyz`.
    pub fn http_router(&self) -> Router {
        let origins = if self.allowed_origins.is_empty() {
            self.metadata
                .as_ref()
                .and_then(|m| url_parts(&m.resource))
                .map(|(origin, _)| vec![origin])
                .unwrap_or_default()
        } else {
            self.allowed_origins.clone()
        };
        let mut hosts: Vec<String> = if self.allowed_hosts.is_empty() {
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
        } else {
            self.allowed_hosts.clone()
        };
        if let Some(host) = self
            .metadata
            .as_ref()
            .and_then(|m| url::Url::parse(&m.resource).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            hosts.push(host);
        }
        // Stateless (2026-07-28) requests get a plain JSON answer when the handler sends
        // nothing before its result; rmcp falls back to SSE when it does.
        let config = StreamableHttpServerConfig::default()
            .with_json_response(true)
            .with_allowed_hosts(hosts)
            .with_max_request_body_bytes(self.max_body_bytes)
            .with_cancellation_token(self.shutdown.clone());
        let service = self.service.clone();
        let mcp = StreamableHttpService::new(
            move || Ok(service.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );

        let auth = AuthLayer::new(AuthState {
            provider: self.auth.clone().unwrap_or_else(|| Arc::new(mcp_auth::ChainAuth::new())),
            allow_anonymous: self.allow_anonymous,
            metadata_url: self.metadata.as_ref().and_then(ProtectedResourceMetadata::metadata_url),
        });
        let bindings = Arc::new(SessionBindings::default());
        let scope_index = Arc::new(crate::http::ScopeIndex {
            tools: self
                .service
                .shared
                .tools
                .iter()
                .map(|(name, entry)| {
                    let mut scopes = Vec::new();
                    entry.guards.iter().for_each(|g| g.collect_scopes(&mut scopes));
                    // Each needed scope once (router and tool guards may both name it).
                    let mut names: Vec<String> = scopes.iter().map(ToString::to_string).collect();
                    names.sort_unstable();
                    names.dedup();
                    let tool = crate::http::ToolScopes {
                        info: Arc::clone(&entry.info),
                        guards: entry.guards.clone(),
                        scopes: names,
                    };
                    (name.clone(), tool)
                })
                .collect(),
            metadata_url: self.metadata.as_ref().and_then(ProtectedResourceMetadata::metadata_url),
            max_body_bytes: self.max_body_bytes,
        });
        let protected = Router::new()
            .route_service(&self.mcp_path(), SharedMcp(Arc::new(mcp)))
            .route_layer(axum::middleware::from_fn_with_state(scope_index, crate::http::inspect_message))
            .route_layer(axum::middleware::from_fn_with_state(bindings, bind_session))
            .route_layer(auth)
            .route_layer(axum::middleware::from_fn_with_state(Arc::new(origins.clone()), check_origin))
            .route_layer(axum::middleware::from_fn(assign_request_id))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self.service.shared),
                crate::http::audit_door,
            ));
        let origins_for_routes = origins;

        let ready = Arc::clone(&self.ready);
        let mut router = Router::new().merge(protected).route("/healthz", get(|| async { "ok" })).route(
            "/readyz",
            get(move || {
                let ready = Arc::clone(&ready);
                async move {
                    if ready.load(Ordering::SeqCst) {
                        axum::response::IntoResponse::into_response("ready")
                    } else {
                        not_ready()
                    }
                }
            }),
        );
        if let (Some(approvals), Some(provider)) = (&self.service.shared.approvals, &self.auth) {
            let state = Arc::new(crate::approvals::GrantState {
                metadata_url: self.metadata.as_ref().and_then(ProtectedResourceMetadata::metadata_url),
                approvals: Arc::clone(approvals),
                auth: Arc::clone(provider),
                audit: Arc::clone(&self.audit),
                privacy: self.service.shared.privacy.clone(),
            });
            router = router.route(
                "/approvals/{id}/grant",
                axum::routing::post(crate::approvals::grant)
                    .with_state(state)
                    .layer(axum::middleware::from_fn_with_state(
                        Arc::new(origins_for_routes.clone()),
                        check_origin,
                    ))
                    .layer(axum::middleware::from_fn(assign_request_id))
                    // Outermost, as at the MCP endpoint: refusals before the approver is
                    // known (bad origin, no or bad credentials) are audited too.
                    .layer(axum::middleware::from_fn_with_state(
                        Arc::clone(&self.service.shared),
                        crate::http::audit_door,
                    )),
            );
        }
        if let Some(state) = &self.token_endpoint {
            router = router.route(
                "/auth/token",
                axum::routing::post(crate::token_endpoint::issue)
                    .with_state(Arc::clone(state))
                    .layer(axum::middleware::from_fn(assign_request_id))
                    .layer(axum::middleware::from_fn_with_state(
                        Arc::clone(&self.service.shared),
                        crate::http::audit_door,
                    )),
            );
        }
        if let Some(metadata) = &self.metadata {
            let document = Arc::new(metadata.clone());
            let handler = move || {
                let document = Arc::clone(&document);
                async move { axum::Json((*document).clone()) }
            };
            router = router.route(WELL_KNOWN_PATH, get(handler.clone()));
            if let Some(path) = metadata.metadata_path().filter(|p| p != WELL_KNOWN_PATH) {
                router = router.route(&path, get(handler));
            }
        }
        // Outermost: every request, refused or not, gets a span and is counted.
        router.layer(observe::HttpTraceLayer::new(self.service.shared.metrics.clone()))
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then stops accepting, lets
    /// tool calls in progress finish (up to [`McpServerBuilder::shutdown_grace`], then
    /// cancels them), closes the sessions and their event streams, waits for every call
    /// to be audited and for background tasks, flushes the audit log, and returns. A
    /// server serves once: its sessions stay closed after a shutdown.
    ///
    /// # Errors
    /// An I/O error from the listener.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.http_router().into_make_service_with_connect_info::<SocketAddr>();
        // Responses (SSE frames especially) go out in small writes; without TCP_NODELAY,
        // Nagle's algorithm and delayed ACKs add ~40 ms to every call.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        // Forget full rate-limit buckets now and then, so many distinct callers cannot
        // grow the limiters' maps without bound.
        let limiters = self.limiters.clone();
        let shared = Arc::clone(&self.service.shared);
        let pruning = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                limiters.iter().for_each(RateLimitLayer::prune);
                shared.door_budget.prune();
            }
        });
        self.ready.store(true, Ordering::SeqCst);
        let ready = Arc::clone(&self.ready);
        let calls = self.service.shared.calls.clone();
        let sessions = self.shutdown.clone();
        let grace = self.shutdown_grace;
        let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                ready.store(false, Ordering::SeqCst);
                let _ = signalled.send(());
                // axum stops accepting now and waits for its connections. A session's
                // event stream stays open until the session ends, so once the calls in
                // progress are done (or the grace is over) every session is closed.
                tokio::spawn(async move {
                    calls.close();
                    if tokio::time::timeout(grace, calls.wait()).await.is_err() {
                        tracing::warn!(
                            grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                            "tool calls still running at the end of the shutdown grace; cancelling them"
                        );
                    }
                    sessions.cancel();
                });
            })
            .into_future();
        // A connection whose client stopped reading never finishes on its own: past the
        // grace and a margin, whatever is still open is dropped.
        let hard_stop = async move {
            if on_signal.await.is_ok() {
                tokio::time::sleep(grace + HARD_STOP_MARGIN).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = serving => result,
            () = hard_stop => {
                tracing::warn!("connections still open after the shutdown grace; closing them");
                Ok(())
            }
        };
        self.shutdown.cancel();
        self.ready.store(false, Ordering::SeqCst);
        pruning.abort();
        // Cancelled calls are still writing their audit entries: wait for them (bounded)
        // before the final checkpoint.
        self.finish(HARD_STOP_MARGIN).await;
        result
    }

    /// The end of serving, for both transports: waits (up to `calls_wait`) for tool calls
    /// to finish and be audited, then for background work, then makes the audit record
    /// of all of it durable.
    async fn finish(&self, calls_wait: Duration) {
        let tool_calls = &self.service.shared.tool_calls;
        tool_calls.close();
        if tokio::time::timeout(calls_wait, tool_calls.wait()).await.is_err() {
            tracing::error!(
                "tool calls still unaudited at shutdown; the final checkpoint may not cover them"
            );
        }
        // Every call is audited now: make that durable before waiting for background
        // work, so an orchestrator's kill during that wait costs no audit record.
        self.service.shared.door_budget.flush(&self.service.shared).await;
        self.flush_audit().await;
        // Background work gets the shutdown grace: work that never ends must not keep
        // the process from finishing.
        let background = &self.service.shared.background;
        background.close();
        if tokio::time::timeout(self.shutdown_grace, background.wait()).await.is_err() {
            tracing::error!(
                tasks = background.len(),
                "background tasks still running after the shutdown grace; giving up on them"
            );
        }
        // Refusals counted while background work ran.
        self.service.shared.door_budget.flush(&self.service.shared).await;
        self.flush_audit().await;
    }

    async fn flush_audit(&self) {
        if let Err(error) = self.service.shared.audit.flush().await {
            tracing::error!(%error, "could not flush the audit log on shutdown");
        }
    }

    /// Serves one MCP session over stdin/stdout until the client disconnects. Then, as
    /// [`serve`](Self::serve) does on shutdown, every call is audited, background tasks
    /// are awaited, and the audit log is flushed before this returns. (Calls still
    /// running when stdin closes get rmcp's drain time, 5 s, to finish; then rmcp
    /// cancels them and they are audited as `cancelled`.)
    ///
    /// # Errors
    /// A description of a transport failure.
    pub async fn serve_stdio(&self) -> Result<(), String> {
        self.serve_io(rmcp::transport::stdio()).await
    }

    /// [`serve_stdio`](Self::serve_stdio) over any pair of byte streams.
    pub(crate) async fn serve_io<R, W>(&self, io: (R, W)) -> Result<(), String>
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let service = PalisadeService {
            shared: Arc::clone(&self.service.shared),
            stdio_caller: self.stdio_caller.clone(),
        };
        let outcome = match service.serve(io).await {
            Ok(running) => running.waiting().await.map(|_| ()).map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        self.finish(self.shutdown_grace + HARD_STOP_MARGIN).await;
        outcome
    }
}

/// (origin, path) of a URL.
fn url_parts(url: &str) -> Option<(String, String)> {
    let parsed = url::Url::parse(url).ok()?;
    Some((parsed.origin().ascii_serialization(), parsed.path().trim_end_matches('/').to_owned()))
}

/// rmcp's HTTP service, shared. axum clones a route's service for every request, and
/// cloning rmcp's copies its whole configuration: the host and origin lists, and a
/// cancellation token whose reference count sits behind a lock that every request then
/// takes twice (`cargo xtask bench server` showed both). Behind an `Arc`, a request
/// costs one reference count.
#[derive(Clone)]
struct SharedMcp(Arc<StreamableHttpService<PalisadeService, LocalSessionManager>>);

impl tower::Service<axum::extract::Request> for SharedMcp {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let inner = Arc::clone(&self.0);
        Box::pin(async move { Ok(inner.handle(request).await.map(axum::body::Body::new)) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::atomic::AtomicBool;

    use identity_types::{AuthMethod, ClientContext, ClientId};
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

    use super::*;
    use crate::{BackgroundTasks, Json, MemoryAuditSink};

    static STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();
    static BACKGROUND_DONE: AtomicBool = AtomicBool::new(false);

    async fn slow(background: BackgroundTasks) -> Json<serde_json::Value> {
        background.spawn(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            BACKGROUND_DONE.store(true, Ordering::SeqCst);
        });
        STARTED.notify_one();
        tokio::time::sleep(Duration::from_millis(200)).await;
        Json(serde_json::json!({ "done": true }))
    }

    /// A stdio client that hangs up while a call runs: serving returns only once the
    /// call is audited and its background work has finished, as an HTTP shutdown does.
    #[tokio::test]
    async fn a_stdio_session_ends_with_its_calls_audited_and_background_work_done() {
        let audit = Arc::new(MemoryAuditSink::new());
        let caller = Caller::Authenticated(
            ClientContext::builder(ClientId::new("alice").unwrap(), AuthMethod::Jwt).build(),
        );
        let server = McpServer::builder("stdio-test", "0")
            .allow_anonymous()
            .audit(Arc::clone(&audit) as Arc<dyn AuditSink>)
            .stdio_identity(caller)
            .tool(Tool::new("slow", slow).public())
            .build()
            .unwrap();
        let (client, server_side) = tokio::io::duplex(64 * 1024);
        let (server_read, server_write) = tokio::io::split(server_side);
        let serving = tokio::spawn(async move { server.serve_io((server_read, server_write)).await });

        let (client_read, mut client_write) = tokio::io::split(client);
        let mut lines = BufReader::new(client_read).lines();
        let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
        client_write.write_all(format!("{initialize}\n").as_bytes()).await.unwrap();
        let reply = lines.next_line().await.unwrap().unwrap();
        assert!(reply.contains("\"id\":1"), "{reply}");
        let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "slow", "arguments": {}}});
        client_write.write_all(format!("{initialized}\n{call}\n").as_bytes()).await.unwrap();
        STARTED.notified().await;
        // The client hangs up mid-call.
        drop(client_write);
        drop(lines);

        serving.await.unwrap().ok();
        assert!(BACKGROUND_DONE.load(Ordering::SeqCst), "background work finished before serving returned");
        let calls: Vec<_> = audit.events().into_iter().filter(|e| e.method == "tools/call").collect();
        assert_eq!(calls.len(), 1, "the call was audited before serving returned: {calls:?}");
        assert_eq!(calls[0].tool.as_deref(), Some("slow"));
    }
}
