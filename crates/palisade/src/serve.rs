//! `palisade serve --example customer-ops`: the example deployment on embedded defaults.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use identity_types::{ClientId, PrivacyKey, Role, Scope, TenantId};
use mcp_auth::{
    Algorithm, AuthProvider, AuthRequest, ChainAuth, JwtAuth, JwtOptions, ProtectedResourceMetadata,
    TokenSpec,
};
use mcp_server::{Caller, DevClient, McpServer, TokenEndpointConfig};
use ring::rand::SecureRandom as _;

use crate::example::{self, Db};
use crate::{DEFAULT_LISTEN, Example};

/// The environment variable that, when set, holds the example's HS256 signing secret.
pub(crate) const SECRET_ENV: &str = "PALISADE_JWT_SECRET";

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Which example deployment to run.
    #[arg(long, value_enum)]
    example: Example,
    /// Where the database, API keys and generated secrets live (default ./palisade-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The address to listen on (HTTP transport).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// `http` (Streamable HTTP, the default) or `stdio` (one session over stdin/stdout,
    /// as the principal whose token is in `PALISADE_TOKEN`).
    #[arg(long, value_enum, default_value = "http")]
    transport: Transport,
    /// Also serve the development token endpoint `POST /auth/token` (client_credentials)
    /// with one demo client, whose secret is printed at start. Never in production.
    #[arg(long)]
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(serve(args))
}

/// Demo users printed at start: (subject, tenant, roles, scopes).
const DEMO_USERS: &[(&str, &str, &[&str], &str)] = &[
    ("alice@acme.example", "acme", &["support"], "read write"),
    ("bob@acme.example", "acme", &["analyst"], "read billing:read"),
    ("gina@globex.example", "globex", &["admin", "support"], "read write billing:read billing:write"),
    ("olga@globex.example", "globex", &["ops"], "read"),
    ("vic@globex.example", "globex", &["viewer"], "read"),
];

async fn serve(args: ServeArgs) -> Result<(), String> {
    let Example::CustomerOps = args.example;
    let dir = crate::data_dir(args.data_dir.as_ref());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let secret = match std::env::var(SECRET_ENV) {
        Ok(secret) => secret.into_bytes(),
        Err(_) => load_or_create_secret(&dir.join("jwt.secret"))?,
    };
    let privacy_secret = load_or_create_secret(&dir.join("privacy.secret"))?;
    let privacy = PrivacyKey::new(&privacy_secret).map_err(|e| e.to_string())?;

    let pool =
        example::db::open(&dir.join("customer-ops.sqlite")).await.map_err(|e| format!("database: {e}"))?;
    let (listener, addr) = match args.transport {
        Transport::Http => {
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("{}: {e}", args.listen))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            (Some(listener), addr)
        }
        Transport::Stdio => (None, args.listen),
    };
    let resource = format!("http://{addr}/mcp");

    let jwt = Arc::new(
        JwtAuth::new(&secret, Algorithm::HS256, JwtOptions::for_audience(&resource))
            .map_err(|e| format!("{SECRET_ENV}: {e}"))?,
    );
    let keys = crate::keys::load(&dir)?;
    let auth: Arc<dyn AuthProvider> = Arc::new(ChainAuth::new().then(Arc::clone(&jwt)).then(keys));
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
        .state(Db(pool.clone()))
        .default_timeout(Duration::from_secs(30))
        .max_concurrency(256, 16);
    for router in example::routers() {
        builder = builder.router(router);
    }
    let mut dev_client_secret = None;
    if args.dev_token_endpoint {
        let mut raw = [0u8; 24];
        ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| "no OS randomness".to_owned())?;
        let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let client = DevClient::new(
            ClientId::new("demo-service").map_err(|e| e.to_string())?,
            &secret,
            Some(TenantId::new("acme").map_err(|e| e.to_string())?),
            vec![Role::new("support").map_err(|e| e.to_string())?],
            vec![Scope::new("read").map_err(|e| e.to_string())?],
        );
        builder = builder.dev_token_endpoint(TokenEndpointConfig::new(Arc::clone(&jwt), vec![client]));
        dev_client_secret = Some(secret);
    }
    let Some(listener) = listener else {
        // stdio: no per-request credentials exist, so the session runs as the principal
        // whose token was given at start, verified by the same providers as HTTP requests.
        let caller = stdio_caller(auth.as_ref()).await?;
        let server = builder.stdio_identity(caller).build().map_err(|e| e.to_string())?;
        let served = server.serve_stdio().await;
        pool.close().await;
        return served;
    };
    let server = builder.build().map_err(|e| e.to_string())?;

    // The banner is a convenience: a closed stdout must not stop the server.
    if let Err(error) = print_banner(
        &resource,
        metadata.metadata_url().as_deref().unwrap_or_default(),
        &dir,
        &jwt,
        dev_client_secret.as_deref(),
    ) {
        tracing::warn!(%error, "could not print the start-up banner");
    }
    let shutdown = async {
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
    };
    server.serve(listener, shutdown).await.map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(())
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

fn print_banner(
    resource: &str,
    metadata_url: &str,
    dir: &Path,
    jwt: &JwtAuth,
    dev_secret: Option<&str>,
) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut lines = vec![
        "Palisade customer-ops example (30 tools, tenants acme, globex and initech)".to_owned(),
        format!("MCP endpoint: {resource}"),
        format!("Metadata:     {metadata_url}"),
        format!("Data:         {} (SQLite, API keys, generated secrets)", dir.display()),
        String::new(),
        "Demo tokens (valid 12 hours; send as 'Authorization: Bearer <token>'):".to_owned(),
    ];
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
    if let Some(secret) = dev_secret {
        let base = resource.trim_end_matches("/mcp");
        lines.push(String::new());
        lines.push(format!("Dev token endpoint: POST {base}/auth/token (client_credentials)"));
        lines.push(format!("  client_id=demo-service client_secret={secret} (tenant acme, support, read)"));
    }
    lines.push(String::new());
    lines.push(format!(
        "Try: curl -s {resource} -H 'Authorization: Bearer <token>' -H 'Accept: application/json, text/event-stream' \\\n       -H 'Content-Type: application/json' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"0\"}}}}}}'"
    ));
    for line in lines {
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// Reads a secret file, or creates it with 32 random bytes (base64url, mode 0600).
fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(bytes) => return Ok(bytes.trim_ascii().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(format!("{}: {e}", path.display())),
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| "no OS randomness".to_owned())?;
    let text: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.into_bytes())
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
