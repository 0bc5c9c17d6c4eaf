//! A verifiable, durable, tamper-evident audit log.
//!
//! The question an auditor asks is "who did what, when, and can you prove nobody edited
//! the record since?" This crate answers it in two layers, in the way Certificate
//! Transparency logs do:
//!
//! 1. An **HMAC chain** ([`chain`]): each record's MAC covers the previous record's MAC,
//!    so whoever holds the key can check that no record was changed, dropped or moved.
//! 2. A **Merkle tree** ([`merkle`], RFC 9162) over the records with **signed
//!    checkpoints** ([`checkpoint`], Ed25519). Checking needs only the public key: someone
//!    holding the log files but not the signing key cannot rewrite history or cut the
//!    tail below a checkpoint unnoticed. Inclusion proofs show one entry is in the log;
//!    consistency proofs show a later checkpoint extends an earlier one.
//!
//! Entries ([`AuditEvent`]) carry identities only as privacy ids and arguments and
//! results only as digests. Each is stored as one canonical JSON line ([`record`]) that
//! any language can re-hash.
//!
//! Writing goes through [`AuditLog`]: a bounded queue (back-pressure, never a silent
//! drop) in front of one writer that commits in groups and acknowledges an entry only
//! once it is durable, on a [`FileBackend`] (JSON-lines segments) or, with the
//! `postgres` feature, a Postgres table the application role can only insert into and
//! read. [`verify`] checks a stored log and classifies every problem it finds.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_audit::{AuditLog, AuditLogConfig, CheckpointSigner, FileBackend, FileBackendConfig, HmacKeyring};
//! # let dir = tempfile::tempdir()?;
//! # let event = mcp_audit::AuditEvent {
//! #     timestamp_ms: 1, request_id: "r".into(), principal: None, tenant: None,
//! #     auth_method: "jwt".into(), method: "tools/call".into(), tool: Some("t".into()),
//! #     decision: mcp_audit::Decision::Allowed, outcome: "ok".into(), duration_us: 1,
//! #     arguments_sha256: None, arguments: None, result_sha256: None, metadata: Default::default() };
//! let signer = CheckpointSigner::generate()?;
//! let public = signer.public_key();
//! let keys = HmacKeyring::from_text("a-secret-of-at-least-thirty-two-bytes!")?;
//!
//! let (backend, resume) = FileBackend::open(FileBackendConfig::new(dir.path()), &public, &keys)?;
//! let log = AuditLog::start(backend, resume, keys.clone(), signer, AuditLogConfig::default(), vec![]);
//! assert_eq!(log.append(&event).await?, 0); // on disk once this returns
//! log.close().await?;                        // signs a final checkpoint
//!
//! let report = mcp_audit::verify_dir(dir.path(), &public, Some(&keys))?;
//! assert!(report.is_ok() && report.checkpoints_verified == 1);
//! # Ok(()) }
//! ```

pub mod chain;
pub mod checkpoint;
mod event;
pub mod file;
mod log;
pub mod merkle;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod proof;
pub mod record;
mod replay;
pub mod verify;
mod witness;

pub use chain::{ChainKey, ChainKeyError, HmacKeyring};
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointPublicKey, CheckpointSigner};
pub use event::{AuditEvent, Decision};
pub use file::{CheckpointFile, FileBackend, FileBackendConfig, OpenError};
pub use log::{AuditLog, AuditLogConfig, AuditLogError, Backend, BackendError, BoxFuture};
pub use proof::{ConsistencyProof, InclusionProof, read_dir, verify_dir};
pub use replay::{ReplayError, Replayer, ResumeState, TornTail, newest_trusted};
pub use verify::{Problem, ProblemKind, Report, Verifier};
pub use witness::{FileWitness, WebhookWitness, Witness};
