//! `palisade serve --example customer-ops`: the example deployment on embedded defaults.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use identity_types::{ClientId, PrivacyKey, Role, Scope, TenantId};
use mcp_auth::{
    Algorithm, AsymmetricJwtAuth, AuthProvider, AuthRequest, ChainAuth, ClaimMapping, JwtAuth, JwtOptions,
    ProtectedResourceMetadata, TokenSpec,
};
use mcp_guards::ApprovalSigner;
use mcp_server::{ApprovalConfig, Caller, DevClient, McpServer, Quota, TokenEndpointConfig};
use ring::rand::SecureRandom as _;

use crate::config::Config;
use crate::example::{self, Db};
use crate::{DEFAULT_LISTEN, Example};

/// The environment variable that, when set, holds the example's HS256 signing secret.
pub(crate) const SECRET_ENV: &str = "PALISADE_JWT_SECRET";

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["example", "config"])))]
pub(crate) struct ServeArgs {
    /// Run an example deployment on embedded defaults (demo tokens printed at start).
    #[arg(long, value_enum)]
    example: Option<Example>,
    /// Run from a configuration file (see docs/CONFIGURATION.md); `PALISADE_*` variables
    /// override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the database, API keys and generated secrets live (default ./palisade-data).
    #[arg(long, conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// The address to listen on (HTTP transport).
    #[arg(long, default_value = DEFAULT_LISTEN, conflicts_with = "config")]
    listen: SocketAddr,
    /// Where Prometheus metrics are served (`/metrics`; HTTP transport only). Loopback
    /// by default; any other address needs `[observe.metrics] bearer_token_env`.
    #[arg(long, default_value = "127.0.0.1:9464", conflicts_with = "config")]
    metrics_listen: SocketAddr,
    /// `http` (Streamable HTTP, the default) or `stdio` (one session over stdin/stdout,
    /// as the principal whose token is in `PALISADE_TOKEN`).
    #[arg(long, value_enum, default_value = "http")]
    transport: Transport,
    /// Also serve the development token endpoint `POST /auth/token` (client_credentials)
    /// with one demo client, whose secret is printed at start. Never in production.
    #[arg(long, conflicts_with = "config")]
    dev_token_endpoint: bool,
}

/// The transports `palisade serve` speaks.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Transport {
    /// MCP Streamable HTTP with authentication at the door.
    Http,
    /// MCP over stdin/stdout for a single local principal.
    Stdio,
}

/// The environment variable holding the stdio transport's credential.
pub(crate) const STDIO_TOKEN_ENV: &str = "PALISADE_TOKEN";

pub(crate) fn run(args: ServeArgs) -> Result<(), String> {
    let env = |key: &str| std::env::var(key).ok();
    let (config, example_mode) = resolve(&args, env)?;
    // Before the runtime starts: the OTLP exporter's HTTP client must be built outside it.
    let telemetry = crate::telemetry::init(&config.observe, args.transport == Transport::Stdio)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let served = runtime.block_on(serve(args, config, example_mode));
    // Tasks still running (the metrics listener, sessions) log as they are torn down:
    // stop the runtime first, then flush logs and spans.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(telemetry);
    served
}

/// The configuration to run: a file (with `PALISADE_*` overrides), or an example's
/// defaults with the command line's settings.
fn resolve(args: &ServeArgs, env: impl Fn(&str) -> Option<String>) -> Result<(Config, bool), String> {
    match (&args.config, args.example) {
        (Some(path), _) => Ok((Config::load(path, env)?, false)),
        (None, Some(example)) => {
            let Example::CustomerOps = example;
            let mut config = Config::default();
            config.server.listen = args.listen;
            config.server.data_dir = crate::data_dir(args.data_dir.as_ref());
            config.server.dev_token_endpoint = args.dev_token_endpoint;
            config.observe.metrics.listen = args.metrics_listen;
            Ok((config, true))
        }
        (None, None) => Err("give --example or --config".into()),
    }
}

/// Demo users printed at start: (subject, tenant, roles, scopes).
const DEMO_USERS: &[(&str, &str, &[&str], &str)] = &[
    ("alice@acme.example", "acme", &["support"], "read write"),
    ("bob@acme.example", "acme", &["analyst"], "read billing:read"),
    ("gina@globex.example", "globex", &["admin", "support"], "read write billing:read billing:write"),
    ("olga@globex.example", "globex", &["ops"], "read"),
    ("ann@acme.example", "acme", &["approver"], "read"),
    ("vic@globex.example", "globex", &["viewer"], "read"),
];

/// Example mode is a configuration too, with the example's conveniences: a generated
/// secret when `PALISADE_JWT_SECRET` is unset, and demo tokens on start.
async fn serve(args: ServeArgs, config: Config, example_mode: bool) -> Result<(), String> {
    let env = |key: &str| std::env::var(key).ok();
    let Example::CustomerOps = config.example()?;
    let dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let secret = if example_mode {
        Some(match env(SECRET_ENV) {
            Some(secret) => secret.into_bytes(),
            None => load_or_create_secret(&dir.join("jwt.secret"))?,
        })
    } else {
        config.jwt_secret(env)?
    };
    let privacy =
        PrivacyKey::new(&load_or_create_secret(&dir.join("privacy.secret"))?).map_err(|e| e.to_string())?;
    let pool =
        example::db::open(&dir.join("customer-ops.sqlite")).await.map_err(|e| format!("database: {e}"))?;
    let (audit_log, audit) = crate::audit::open(&config.audit, &dir, env)?;

    let (listener, addr) = match args.transport {
        Transport::Http => {
            let listen = config.server.listen;
            let listener =
                tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("{listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            (Some(listener), addr)
        }
        Transport::Stdio => (None, config.server.listen),
    };
    let resource = config.resource(addr);

    // Providers, in order: HS256 JWT, asymmetric JWT, API keys.
    let options = || {
        let mapping = ClaimMapping::new().tenant_claim(config.auth.tenant_claim.clone());
        let mut options = JwtOptions::for_audience(&resource)
            .leeway(Duration::from_secs(config.auth.leeway_secs))
            .cache_capacity(config.auth.cache_capacity);
        if let Some(issuer) = &config.auth.issuer {
            options = options.issuer(issuer.clone());
        }
        mapping.map(|m| options.claim_mapping(m)).map_err(|e| format!("[auth] tenant_claim: {e}"))
    };
    let mut chain = ChainAuth::new();
    let jwt = match &secret {
        Some(secret) => {
            let jwt = Arc::new(
                JwtAuth::new(secret, Algorithm::HS256, options()?).map_err(|e| format!("JWT secret: {e}"))?,
            );
            chain = chain.then(Arc::clone(&jwt));
            Some(jwt)
        }
        None => None,
    };
    if config.auth.jwks_url.is_some() || config.auth.oidc_issuer.is_some() {
        let mut builder = AsymmetricJwtAuth::builder(options()?);
        if let Some(url) = &config.auth.jwks_url {
            builder = builder.jwks_url(url);
        }
        if let Some(issuer) = &config.auth.oidc_issuer {
            builder = builder.oidc_issuer(issuer);
        }
        chain = chain.then(builder.build().await.map_err(|e| format!("[auth] keys: {e}"))?);
    }
    if config.auth.api_keys {
        let keys = Arc::new(crate::keys::load(&dir)?);
        // `palisade keys create|revoke` edit the file; the running server follows it.
        crate::keys::watch(&dir, Arc::clone(&keys));
        chain = chain.then(keys);
    }
    let auth: Arc<dyn AuthProvider> = Arc::new(chain);
    let (metrics, server_metrics) = crate::telemetry::metrics(&config.observe, &privacy, &auth, &audit_log)?;

    let metadata = ProtectedResourceMetadata::new(&resource).name("Palisade customer-ops example").scopes([
        "read",
        "write",
        "billing:read",
        "billing:write",
    ]);
    let mut builder = McpServer::builder("palisade-customer-ops", env!("CARGO_PKG_VERSION"))
        .instructions("Customer operations for your tenant: customers, orders, tickets, analytics and ops. Every tool sees only your tenant's data.")
        .auth(Arc::clone(&auth))
        .resource(metadata.clone())
        .privacy_key(privacy)
        .metrics(server_metrics)
        .audit(audit)
        .state(Db(pool.clone()))
        .max_body_bytes(config.server.max_body_bytes)
        .default_timeout(Duration::from_secs(config.server.default_timeout_secs))
        .max_concurrency(config.limits.max_concurrency, config.limits.max_concurrency_per_principal);
    if let Some(per_second) = std::num::NonZeroU32::new(config.limits.rate_per_second) {
        builder = builder.rate_limit(Quota::per_second(per_second));
    }
    if config.server.allow_anonymous {
        builder = builder.allow_anonymous();
    }
    if !config.server.allowed_origins.is_empty() {
        builder = builder.allowed_origins(config.server.allowed_origins.clone());
    }
    if !config.server.allowed_hosts.is_empty() {
        builder = builder.allowed_hosts(config.server.allowed_hosts.clone());
    }
    if config.audit.record_arguments {
        let redactor = mcp_server::RedactFields::sensitive().also(&config.audit.redact_fields);
        builder = builder.audit_arguments(Arc::new(redactor));
    }
    if config.guardrails.scan_tool_results {
        // Tool results are untrusted input: scanned before any caller reads them.
        let book = config.guardrails.book()?;
        builder = builder.inspect_results(Arc::new(crate::result_guard::GuardrailsInspector::new(book)));
    } else {
        tracing::warn!("[guardrails] scan_tool_results is off: tool results reach callers unscanned");
    }
    for router in example::routers() {
        builder = builder.router(router);
    }
    // Refunds need a second person: an approver of the same tenant grants each one.
    let approval_key = load_or_create_secret(&dir.join("approval.secret"))?;
    let signer = ApprovalSigner::new(&approval_key).map_err(|e| e.to_string())?.with_audience(&resource);
    builder = builder
        .approvals(ApprovalConfig::new(Arc::new(signer), Role::new("approver").map_err(|e| e.to_string())?));
    let mut dev_client_secret = None;
    if config.server.dev_token_endpoint {
        let signer =
            jwt.clone().ok_or("the dev token endpoint signs with the HS256 secret: configure one")?;
        let mut raw = [0u8; 24];
        ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| "no OS randomness".to_owned())?;
        let secret: String = hex::encode(raw);
        let client = DevClient::new(
            ClientId::new("demo-service").map_err(|e| e.to_string())?,
            &secret,
            Some(TenantId::new("acme").map_err(|e| e.to_string())?),
            vec![Role::new("support").map_err(|e| e.to_string())?],
            vec![Scope::new("read").map_err(|e| e.to_string())?],
        );
        builder = builder.dev_token_endpoint(TokenEndpointConfig::new(signer, vec![client]));
        dev_client_secret = Some(secret);
    }
    let Some(listener) = listener else {
        // stdio: no per-request credentials exist, so the session runs as the principal
        // whose token was given at start, verified by the same providers as HTTP requests.
        let caller = stdio_caller(auth.as_ref()).await?;
        let server = builder.stdio_identity(caller).build().map_err(|e| e.to_string())?;
        let served = server.serve_stdio().await;
        close_audit(&audit_log).await;
        pool.close().await;
        return served;
    };
    let server = builder.build().map_err(|e| e.to_string())?;
    // (stdio returned above: a subprocess of one client opens no metrics port.)
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_addr = crate::telemetry::serve_metrics(&config.observe, metrics, env, async move {
        let _ = metrics_stopped.await;
    })
    .await?;

    // The banner is a convenience: a closed stdout must not stop the server.
    let demo_signer = if example_mode { jwt.as_deref() } else { None };
    let banner = Banner {
        listening: addr,
        resource: &resource,
        metadata: &metadata,
        dir: &dir,
        demo_signer,
        dev_secret: dev_client_secret.as_deref(),
        metrics: metrics_addr,
    };
    if let Err(error) = banner.print() {
        tracing::warn!(%error, "could not print the start-up banner");
    }
    let shutdown = async {
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
    };
    let served = server.serve(listener, shutdown).await.map_err(|e| e.to_string());
    let _ = stop_metrics.send(());
    close_audit(&audit_log).await;
    pool.close().await;
    served
}

/// Signs the final checkpoint and stops the audit writer.
async fn close_audit(log: &mcp_audit::AuditLog) {
    match log.close().await {
        Ok(checkpoint) => {
            tracing::info!(entries = log.size(), checkpoint = ?checkpoint.map(|c| c.size), "audit log closed")
        }
        Err(error) => tracing::error!(%error, "could not close the audit log cleanly"),
    }
}

async fn stdio_caller(auth: &dyn AuthProvider) -> Result<Caller, String> {
    let token = std::env::var(STDIO_TOKEN_ENV)
        .map_err(|_| format!("--transport stdio needs a token in {STDIO_TOKEN_ENV}"))?;
    let mut headers = http::HeaderMap::new();
    let value = http::HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| format!("{STDIO_TOKEN_ENV} is not a valid token"))?;
    headers.insert(http::header::AUTHORIZATION, value);
    let context = auth
        .authenticate(AuthRequest::new(&headers, None))
        .await
        .map_err(|e| format!("{STDIO_TOKEN_ENV}: {e}"))?;
    Ok(Caller::Authenticated(context))
}

/// What the start-up banner shows.
struct Banner<'a> {
    resource: &'a str,
    listening: SocketAddr,
    metadata: &'a ProtectedResourceMetadata,
    dir: &'a Path,
    /// Mints demo tokens (example mode only).
    demo_signer: Option<&'a JwtAuth>,
    dev_secret: Option<&'a str>,
    /// Where `/metrics` is served, when it is.
    metrics: Option<SocketAddr>,
}

impl Banner<'_> {
    fn print(&self) -> Result<(), String> {
        let resource = self.resource;
        let mut lines = vec![
            "Palisade customer-ops example (30 tools; demo users of tenants acme and globex; initech has data, no demo user)".to_owned(),
            format!("MCP endpoint: {resource}"),
            format!("Listening:    {}", self.listening),
            format!("Metadata:     {}", self.metadata.metadata_url().unwrap_or_default()),
            format!("Data:         {} (SQLite, API keys, generated secrets)", self.dir.display()),
        ];
        if let Some(addr) = self.metrics {
            lines.push(format!("Metrics:      http://{addr}/metrics"));
        }
        if let Some(jwt) = self.demo_signer {
            lines.push(String::new());
            lines.push("Demo tokens (valid 12 hours; send as 'Authorization: Bearer <token>'):".to_owned());
            for (sub, tenant, roles, scopes) in DEMO_USERS {
                let spec = TokenSpec::new(*sub)
                    .tenant(TenantId::new(*tenant).map_err(|e| e.to_string())?)
                    .roles(
                        roles
                            .iter()
                            .map(|r| Role::new(*r))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| e.to_string())?,
                    )
                    .scopes(
                        scopes
                            .split(' ')
                            .map(Scope::new)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| e.to_string())?,
                    )
                    .ttl(Duration::from_secs(12 * 3600));
                let token = jwt.create_token(&spec).map_err(|e| e.to_string())?;
                lines.push(format!("  {sub:<22} {tenant:<7} {:<16} {scopes}", roles.join(",")));
                lines.push(format!("    {token}"));
            }
        }
        if let Some(secret) = self.dev_secret {
            let base = resource.trim_end_matches("/mcp");
            lines.push(String::new());
            lines.push(format!("Dev token endpoint: POST {base}/auth/token (client_credentials)"));
            lines.push(format!(
                "  client_id=demo-service client_secret={secret} (tenant acme, support, read)"
            ));
        }
        lines.push(String::new());
        lines.push(format!(
            "Try: curl -s {resource} -H 'Authorization: Bearer <token>' -H 'Accept: application/json, text/event-stream' \\\n       -H 'Content-Type: application/json' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"0\"}}}}}}'"
        ));
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())
    }
}

/// Reads a secret file, or creates it with 32 random bytes (base64url, mode 0600).
pub(crate) fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(bytes) => return Ok(bytes.trim_ascii().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(format!("{}: {e}", path.display())),
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| "no OS randomness".to_owned())?;
    let text: String = hex::encode(raw);
    write_private(path, text.as_bytes())?;
    Ok(text.into_bytes())
}

/// Creates `path` with mode 0600 holding `bytes`; refuses to overwrite.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| format!("{}: {e}", path.display()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
