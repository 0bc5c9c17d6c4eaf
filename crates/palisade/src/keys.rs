//! `palisade keys create|list|revoke`: API keys kept as digests in `DIR/api-keys.json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use identity_types::{ClientId, ExposeSecret, TenantId};
use mcp_auth::{ApiKeyAuth, ApiKeySpec, StoredApiKey};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key; the key is printed once and only its digest is stored.
    Create {
        /// The data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The principal the key authenticates as.
        #[arg(long)]
        client_id: String,
        /// The principal's tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Scopes, space-separated.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Lifetime in seconds (default: no expiry).
        #[arg(long)]
        ttl: Option<u64>,
        /// A label.
        #[arg(long)]
        label: Option<String>,
    },
    /// List live keys (ids and owners, never keys).
    List {
        /// The data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Revoke a key by id.
    Revoke {
        /// The data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The key's id (`key_…`).
        id: String,
    },
}

/// The key file of a data directory.
pub(crate) fn key_file(dir: &Path) -> PathBuf {
    dir.join("api-keys.json")
}

/// Loads the keys of a data directory (none if the file does not exist).
pub(crate) fn load(dir: &Path) -> Result<ApiKeyAuth, String> {
    let path = key_file(dir);
    let stored: Vec<StoredApiKey> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    ApiKeyAuth::from_stored(stored).map_err(|e| format!("{}: {e}", path.display()))
}

/// Keeps a running server's keys in step with the key file, so `palisade keys create`
/// and `revoke` take effect without a restart: the file is read every second and, when
/// its bytes change, loaded in place of the old keys (the first read always loads, so a
/// change between the server's start and the watcher's is not missed). A file that
/// cannot be read or parsed fails closed: no key authenticates until it is fixed (a
/// revoked key must not live on because the file broke). Errors are logged when the
/// state changes, not every second.
pub(crate) fn watch(dir: &Path, keys: std::sync::Arc<ApiKeyAuth>) -> tokio::task::JoinHandle<()> {
    let path = key_file(dir);
    tokio::spawn(async move {
        // `Some(Err(()))`: the last read failed; `None`: nothing read yet.
        let mut seen: Option<Result<Option<Vec<u8>>, ()>> = None;
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => {
                    if seen != Some(Err(())) {
                        tracing::error!(path = %path.display(), %error, "API key file unreadable; refusing every API key until it is fixed");
                        keys.replace_stored(Vec::new()).ok();
                    }
                    seen = Some(Err(()));
                    continue;
                }
            };
            if seen.as_ref() == Some(&now) {
                continue;
            }
            let stored: Result<Vec<StoredApiKey>, String> = match &now {
                Ok(Some(bytes)) => serde_json::from_slice(bytes)
                    .map_err(|e| format!("line {}, column {}", e.line(), e.column())),
                _ => Ok(Vec::new()),
            };
            match stored.and_then(|stored| keys.replace_stored(stored).map_err(|e| e.to_string())) {
                Ok(()) => tracing::info!(path = %path.display(), keys = keys.list().len(), "API keys loaded"),
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "API key file invalid; refusing every API key until it is fixed");
                    keys.replace_stored(Vec::new()).ok();
                }
            }
            seen = Some(now);
        }
    })
}

/// Holds `DIR/api-keys.lock` while a `palisade keys` command reads, changes and writes
/// the key file, so two commands at once cannot undo each other (a revocation lost to a
/// concurrent create would bring a key back).
fn lock(dir: &Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("api-keys.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// Writes the key file atomically: a private temporary file of its own, synced, then
/// renamed over the old one (a reader sees the old keys or the new, never half).
fn save(dir: &Path, keys: &ApiKeyAuth) -> Result<(), String> {
    let path = key_file(dir);
    let body = serde_json::to_vec_pretty(&keys.export()).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!("api-keys.json.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &body).and_then(|()| file.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", tmp.display()));
    }
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn run(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Create { data_dir, client_id, tenant, roles, scopes, ttl, label } => {
            let dir = crate::data_dir(data_dir.as_ref());
            let _lock = lock(&dir)?;
            let keys = load(&dir)?;
            let mut spec =
                ApiKeySpec::new(ClientId::new(client_id).map_err(|e| format!("--client-id: {e}"))?);
            if let Some(tenant) = tenant {
                spec = spec.tenant(TenantId::new(tenant).map_err(|e| format!("--tenant: {e}"))?);
            }
            spec = spec.roles(crate::parse_roles(&roles)?);
            spec = spec.scopes(crate::parse_scopes(&scopes)?);
            if let Some(ttl) = ttl {
                spec = spec.ttl(Duration::from_secs(ttl));
            }
            if let Some(label) = label {
                spec = spec.label(label);
            }
            let issued = keys.create(spec).map_err(|e| e.to_string())?;
            save(&dir, &keys)?;
            eprintln!("created {} (shown once; only its SHA-256 is stored)", issued.record.id);
            println!("{}", issued.key.expose_secret());
            Ok(())
        }
        KeysCommand::List { data_dir } => {
            let keys = load(&crate::data_dir(data_dir.as_ref()))?;
            for record in keys.list() {
                println!(
                    "{}\t{}\t{}\t{}",
                    record.id,
                    record.client_id,
                    record.tenant.as_ref().map_or("-", TenantId::as_str),
                    record.label.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { data_dir, id } => {
            let dir = crate::data_dir(data_dir.as_ref());
            let _lock = lock(&dir)?;
            let keys = load(&dir)?;
            keys.revoke(&id).map_err(|e| e.to_string())?;
            save(&dir, &keys)?;
            eprintln!("revoked {id}");
            Ok(())
        }
    }
}
