//! `palisade audit …`: verify a log, prove an entry, prove consistency, check a proof;
//! and opening the tamper-evident log a served deployment writes to.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use mcp_audit::{
    AuditLog, AuditLogConfig, Checkpoint, CheckpointPublicKey, CheckpointSigner, ConsistencyProof,
    FileBackend, FileBackendConfig, FileWitness, HmacKeyring, InclusionProof, WebhookWitness, Witness,
};
use mcp_server::{AuditFailureMode, DurableAudit};

use crate::config::AuditSection;

/// The environment variable the HMAC chain key comes from when set (else a generated file).
pub(crate) const HMAC_KEY_ENV: &str = "PALISADE_AUDIT_HMAC_KEY";

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check every record, the HMAC chain (with the key), the Merkle tree and every
    /// signed checkpoint. Exit 0 only if all hold; otherwise list each problem.
    Verify {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// The checkpoint public key (PEM), e.g. DIR/audit/checkpoint.pub.
        #[arg(long)]
        public_key: PathBuf,
        /// Environment variable holding the HMAC chain key(s), comma-separated.
        #[arg(long)]
        hmac_key_env: Option<String>,
        /// Checkpoints kept by a witness (JSON lines), checked too.
        #[arg(long)]
        witness: Vec<PathBuf>,
        /// The key id the public key must have (as recorded at deployment time, away from
        /// the log): a public key file replaced along with the log is then refused.
        #[arg(long)]
        key_id: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an inclusion proof (JSON) for one entry against the newest checkpoint.
    Prove {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// The entry's sequence number.
        #[arg(long)]
        seq: u64,
    },
    /// Print a consistency proof (JSON) between two checkpoints.
    Consistency {
        /// The log directory.
        #[arg(long)]
        log: PathBuf,
        /// The older checkpoint: a tree size of a stored checkpoint, or a checkpoint JSON file.
        #[arg(long)]
        from: String,
        /// The newer checkpoint, likewise.
        #[arg(long)]
        to: String,
    },
    /// Check an inclusion or consistency proof with only the proof, the public key and,
    /// optionally, a checkpoint you trust (e.g. from a witness).
    VerifyProof {
        /// The proof (JSON), as `prove` or `consistency` print it.
        #[arg(long)]
        proof: PathBuf,
        /// The checkpoint public key (PEM).
        #[arg(long)]
        public_key: PathBuf,
        /// A checkpoint (JSON) the proof must lead to.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn public_key(path: &Path) -> Result<CheckpointPublicKey, String> {
    CheckpointPublicKey::from_pem(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn run(command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Verify { log, public_key: key, hmac_key_env, witness, key_id, json } => {
            let public = public_key(&key)?;
            if let Some(expected) = &key_id
                && public.key_id() != expected
            {
                return Err(format!(
                    "{}: key id {} is not the expected {expected}; the key file was replaced",
                    key.display(),
                    public.key_id()
                ));
            }
            let keys = match &hmac_key_env {
                Some(var) => {
                    crate::config::env_name("--hmac-key-env", Some(var))?;
                    let text = std::env::var(var).map_err(|_| format!("--hmac-key-env: {var} is not set"))?;
                    Some(HmacKeyring::from_text(&text).map_err(|e| format!("--hmac-key-env {var}: {e}"))?)
                }
                None => None,
            };
            let mut extra = Vec::new();
            for path in &witness {
                let stored = mcp_audit::file::read_checkpoints(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if let Some(line) = stored.unreadable.first() {
                    return Err(format!("{}:{line}: not a checkpoint", path.display()));
                }
                extra.extend(stored.checkpoints);
            }
            if !log.is_dir() {
                return Err(format!("{}: not a log directory", log.display()));
            }
            let report = mcp_audit::proof::verify_dir_with(&log, &public, keys.as_ref(), &extra)
                .map_err(|e| format!("{}: {e}", log.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                for problem in &report.problems {
                    println!("{problem}");
                }
                println!(
                    "{} entries, {} of {} checkpoints verified (key {}), chain {}, {} entries after the newest verified checkpoint",
                    report.entries,
                    report.checkpoints_verified,
                    report.checkpoints,
                    public.key_id(),
                    if report.chain_checked { "checked" } else { "NOT checked (no --hmac-key-env)" },
                    report.unanchored,
                );
            }
            if !report.is_ok() {
                Err(format!("{} problem(s) found", report.problems.len()))
            } else if report.entries > 0 && report.checkpoints_verified == 0 {
                // Without a signed checkpoint, anyone who can write the files could have
                // written all of them.
                Err("no verified checkpoint: none of these entries is signed".into())
            } else {
                Ok(())
            }
        }
        AuditCommand::Prove { log, seq } => {
            let contents = mcp_audit::read_dir(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let checkpoint = contents
                .checkpoints
                .iter()
                .filter(|c| c.size > seq)
                .max_by_key(|c| c.size)
                .cloned()
                .ok_or_else(|| format!("no checkpoint covers seq {seq} yet"))?;
            let tree = mcp_audit::proof::tree_of(&contents)?;
            let record = contents
                .lines
                .get(usize::try_from(seq).map_err(|e| e.to_string())?)
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .ok_or_else(|| format!("no entry {seq}"))?;
            let proof = InclusionProof::build(&tree, record, seq, checkpoint).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&proof).map_err(|e| e.to_string())?);
            Ok(())
        }
        AuditCommand::Consistency { log, from, to } => {
            let contents = mcp_audit::read_dir(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let pick = |which: &str| -> Result<Checkpoint, String> {
                match which.parse::<u64>() {
                    Ok(size) => contents
                        .checkpoints
                        .iter()
                        .find(|c| c.size == size)
                        .cloned()
                        .ok_or_else(|| format!("no stored checkpoint of size {size}")),
                    Err(_) => {
                        serde_json::from_str(&read(Path::new(which))?).map_err(|e| format!("{which}: {e}"))
                    }
                }
            };
            let (from, to) = (pick(&from)?, pick(&to)?);
            let tree = mcp_audit::proof::tree_of(&contents)?;
            let proof = ConsistencyProof::build(&tree, from, to).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&proof).map_err(|e| e.to_string())?);
            Ok(())
        }
        AuditCommand::VerifyProof { proof, public_key: key, checkpoint } => {
            let public = public_key(&key)?;
            let text = read(&proof)?;
            let trusted: Option<Checkpoint> = match &checkpoint {
                Some(path) => {
                    Some(serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?)
                }
                None => None,
            };
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", proof.display()))?;
            let (leads_to, what) = if value.get("record").is_some() {
                let proof: InclusionProof = serde_json::from_value(value).map_err(|e| e.to_string())?;
                proof.verify(&public).map_err(|e| format!("inclusion proof does not verify: {e}"))?;
                (proof.checkpoint, format!("entry {} is in the log", proof.seq))
            } else {
                let proof: ConsistencyProof = serde_json::from_value(value).map_err(|e| e.to_string())?;
                proof.verify(&public).map_err(|e| format!("consistency proof does not verify: {e}"))?;
                let what =
                    format!("the tree of {} entries extends the tree of {}", proof.to.size, proof.from.size);
                (proof.to, what)
            };
            if let Some(trusted) = trusted
                && trusted != leads_to
            {
                return Err("the proof verifies, but not against the given checkpoint".into());
            }
            println!("ok: {what} (checkpoint size {}, root {})", leads_to.size, leads_to.root);
            Ok(())
        }
    }
}

/// Opens the deployment's audit log: the signing key (generated on first use, kept out
/// of the log directory), the public key written beside the log, the HMAC key (from
/// `PALISADE_AUDIT_HMAC_KEY` or a generated file), witnesses, and the writer.
pub(crate) fn open(
    section: &AuditSection,
    data_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(AuditLog, Arc<DurableAudit>), String> {
    let dir = section.dir.clone().unwrap_or_else(|| data_dir.join("audit"));
    let key_path = section.signing_key_file.clone().unwrap_or_else(|| data_dir.join("audit-checkpoint.key"));
    let has_checkpoints =
        std::fs::metadata(dir.join(mcp_audit::file::CHECKPOINTS_FILE)).is_ok_and(|m| m.len() > 0);
    let signer = match std::fs::read_to_string(&key_path) {
        Ok(pem) => CheckpointSigner::from_pem(&pem).map_err(|e| format!("{}: {e}", key_path.display()))?,
        // A new key for an existing log would let whoever removed the old one re-sign
        // history: refuse, and say what to restore.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && has_checkpoints => {
            return Err(format!(
                "{}: the checkpoint signing key is missing, but {} holds checkpoints signed with it; restore the key",
                key_path.display(),
                dir.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = CheckpointSigner::generate().map_err(|e| e.to_string())?;
            crate::serve::write_private(&key_path, signer.to_pem().as_bytes())?;
            signer
        }
        Err(e) => return Err(format!("{}: {e}", key_path.display())),
    };
    let public = signer.public_key();
    let pub_path = dir.join(mcp_audit::file::PUBLIC_KEY_FILE);
    // The public key beside the log must be this key's: a replaced one would mislead
    // every verifier who trusts the file.
    if let Ok(pem) = std::fs::read_to_string(&pub_path)
        && CheckpointPublicKey::from_pem(&pem).ok().as_ref() != Some(&public)
    {
        return Err(format!(
            "{}: does not match the checkpoint signing key {}; one of them was replaced",
            pub_path.display(),
            key_path.display()
        ));
    }
    let hmac_text = match env(HMAC_KEY_ENV) {
        Some(text) => text,
        None => {
            let path = section.hmac_key_file.clone().unwrap_or_else(|| data_dir.join("audit-hmac.secret"));
            String::from_utf8(crate::serve::load_or_create_secret(&path)?)
                .map_err(|_| format!("{}: not UTF-8", path.display()))?
        }
    };
    let keys = HmacKeyring::from_text(&hmac_text).map_err(|e| format!("audit HMAC key: {e}"))?;
    let backend_config =
        FileBackendConfig { max_segment_bytes: section.max_segment_bytes, ..FileBackendConfig::new(&dir) };
    let (backend, resume) =
        FileBackend::open(backend_config, &public, &keys).map_err(|e| format!("audit log: {e}"))?;
    if !pub_path.exists() {
        mcp_audit::file::write_public_key(&dir, &public).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut witnesses: Vec<Arc<dyn Witness>> = Vec::new();
    if let Some(path) = &section.witness_file {
        witnesses.push(Arc::new(FileWitness::new(path)));
    }
    if let Some(url) = &section.witness_url {
        // reqwest is built without a bundled TLS provider; the workspace's is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
        witnesses.push(Arc::new(WebhookWitness::new(client, url)));
    }
    if section.writer_nice > 19 {
        return Err(format!("[audit] writer_nice = {}: a niceness is 0 to 19", section.writer_nice));
    }
    let config = AuditLogConfig {
        checkpoint_every: section.checkpoint_every.max(1),
        checkpoint_interval: Duration::from_millis(section.checkpoint_interval_ms.max(1)),
        writer_nice: section.writer_nice,
        ..AuditLogConfig::default()
    };
    tracing::info!(dir = %dir.display(), entries = resume.next_seq, key_id = public.key_id(), "audit log open");
    let log = AuditLog::start(backend, resume, keys, signer, config, witnesses);
    let mode = if section.fail_open { AuditFailureMode::FailOpen } else { AuditFailureMode::FailClosed };
    let hook = Arc::new(DurableAudit::new(log.clone()).failure_mode(mode));
    Ok((log, hook))
}
