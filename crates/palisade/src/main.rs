//! `palisade`: serve the example deployment, mint tokens, manage API keys.
//!
//! ```text
//! palisade serve --example customer-ops [--data-dir DIR] [--listen ADDR]
//! palisade token mint --secret-env VAR --sub ID [--tenant T] [--roles a,b] [--scopes 'read write'] [--aud URI] [--ttl SECONDS]
//! palisade keys create|list|revoke --data-dir DIR ...
//! palisade audit verify --log PATH --public-key FILE [--hmac-key-env VAR]
//! palisade audit prove --log PATH --seq N
//! palisade audit consistency --log PATH --from CHECKPOINT --to CHECKPOINT
//! palisade audit verify-proof --proof FILE --public-key FILE [--checkpoint FILE]
//! palisade scan --task injection|pii|tools [--offsets chars|bytes]   (JSON lines on stdin/stdout)
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod audit;
mod config;
mod example;
mod keys;
mod local_embedder;
mod result_guard;
mod scan;
mod serve;
mod telemetry;
mod tool_rank;

use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the server's tasks move between worker threads,
/// so memory is often freed by a thread other than the one that allocated it, which
/// glibc serves under its arena locks. `cargo xtask bench server`: about a fifth less
/// server CPU per call (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use identity_types::{Role, Scope, TenantId};
use mcp_auth::{Algorithm, JwtAuth, JwtOptions, TokenSpec};

/// The default address of the example deployment, and so the default `aud` of minted tokens.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Identity-first MCP servers: serve, mint tokens, manage API keys."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an MCP server.
    Serve(serve::ServeArgs),
    /// Tokens for development and tests.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The approval workflow: grant a pending approval request.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// API keys of a data directory (stored as SHA-256 digests in DIR/api-keys.json).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// The tamper-evident audit log: verify it, prove entries and consistency.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The guardrails' scanner protocol: JSON lines on standard input, one answer per line
    /// on standard output (PII offsets in Unicode code points unless `--offsets bytes`).
    Scan(scan::ScanArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print an HS256 JWT with `sub`, `tenant_id`, `roles` (array) and `scope` (space-separated).
    Mint(MintArgs),
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Grant request ID as the approver whose token is in `--token-env`; prints the grant
    /// the requester retries with (in `_meta["dev.palisade/approval"]`).
    Grant {
        /// The approval request id (`apr_…`), from the refused call's error.
        id: String,
        /// The server's base URL.
        #[arg(long, default_value_t = format!("http://{DEFAULT_LISTEN}"))]
        server: String,
        /// Environment variable holding the approver's bearer token.
        #[arg(long, default_value = "PALISADE_TOKEN")]
        token_env: String,
    },
}

fn grant(id: &str, server: &str, token_env: &str) -> Result<(), String> {
    if !id.starts_with("apr_") || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!("{id:?} is not an approval request id"));
    }
    let token =
        std::env::var(token_env).map_err(|_| format!("{token_env} must hold the approver's token"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let url = format!("{}/approvals/{id}/grant", server.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("{server}: {e}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| format!("unreadable answer: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "refused ({status}): {} {}",
                body["error"].as_str().unwrap_or("?"),
                body["error_description"].as_str().unwrap_or("")
            ));
        }
        println!("{}", body["grant"].as_str().ok_or("the answer holds no grant")?);
        eprintln!(
            "valid for {} s; retry the call with it in _meta[\"dev.palisade/approval\"]",
            body["expires_in"]
        );
        Ok(())
    })
}

#[derive(clap::Args)]
struct MintArgs {
    /// Environment variable holding the signing secret (at least 32 bytes).
    #[arg(long, default_value = "PALISADE_JWT_SECRET")]
    secret_env: String,
    /// The subject (user or service id).
    #[arg(long)]
    sub: String,
    /// The tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Roles, comma-separated.
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// Scopes, space-separated.
    #[arg(long, default_value = "")]
    scopes: String,
    /// The audience: the server's resource URL.
    #[arg(long, default_value_t = format!("http://{DEFAULT_LISTEN}/mcp"))]
    aud: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
}

/// The examples `palisade serve --example` knows.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Example {
    /// 30 tools over customers, orders, tickets, analytics and ops, on SQLite.
    CustomerOps,
}

fn mint(args: &MintArgs) -> Result<String, String> {
    config::env_name("--secret-env", Some(&args.secret_env))?;
    let secret = std::env::var(&args.secret_env).map_err(|_| {
        format!("environment variable {} is not set (it must hold the signing secret)", args.secret_env)
    })?;
    let jwt = JwtAuth::new(secret.as_bytes(), Algorithm::HS256, JwtOptions::for_audience(&args.aud))
        .map_err(|e| e.to_string())?;
    let mut spec = TokenSpec::new(&args.sub).ttl(Duration::from_secs(args.ttl));
    if let Some(tenant) = &args.tenant {
        spec = spec.tenant(TenantId::new(tenant.as_str()).map_err(|e| format!("--tenant: {e}"))?);
    }
    spec = spec.roles(parse_roles(&args.roles)?).scopes(parse_scopes(&args.scopes)?);
    jwt.create_token(&spec).map_err(|e| e.to_string())
}

/// Parses `--roles a,b` (already split on commas by clap).
pub(crate) fn parse_roles(roles: &[String]) -> Result<Vec<Role>, String> {
    roles
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| Role::new(r.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--roles: {e}"))
}

/// Parses `--scopes 'a b'`.
pub(crate) fn parse_scopes(scopes: &str) -> Result<Vec<Scope>, String> {
    scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(Scope::new)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--scopes: {e}"))
}

/// The data directory: `--data-dir`, else `./palisade-data`.
pub(crate) fn data_dir(given: Option<&PathBuf>) -> PathBuf {
    given.cloned().unwrap_or_else(|| PathBuf::from("palisade-data"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        // The protocol has its own exit status (2 for malformed lines without an id).
        Command::Scan(args) => return scan::run(&args),
        Command::Serve(args) => serve::run(args),
        Command::Token { command: TokenCommand::Mint(args) } => mint(&args).map(|token| println!("{token}")),
        Command::Keys { command } => keys::run(command),
        Command::Audit { command } => audit::run(command),
        Command::Approvals { command: ApprovalsCommand::Grant { id, server, token_env } } => {
            grant(&id, &server, &token_env)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("palisade: {message}");
            ExitCode::FAILURE
        }
    }
}
