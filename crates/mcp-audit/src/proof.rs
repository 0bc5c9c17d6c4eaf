//! Reading a log directory, verifying it, and proofs anyone can check with only the
//! public key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::HmacKeyring;
use crate::checkpoint::{Checkpoint, CheckpointPublicKey};
use crate::file::{CHECKPOINTS_FILE, read_checkpoints, segment_content, segments};
use crate::merkle::{Hash, MerkleTree, ProofError, leaf_hash, verify_consistency, verify_inclusion};
use crate::verify::{Report, Verifier, build_tree};

/// Every record line of a log directory, in storage order, and its checkpoints.
#[derive(Debug, Default)]
pub struct LogContents {
    /// Record lines without newlines.
    pub lines: Vec<Vec<u8>>,
    /// Stored checkpoints.
    pub checkpoints: Vec<Checkpoint>,
}

fn lines_of(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    trimmed.split(|&b| b == b'\n').filter(move |_| !bytes.is_empty())
}

/// Reads a log directory.
///
/// # Errors
/// A file cannot be read.
pub fn read_dir(dir: &Path) -> std::io::Result<LogContents> {
    let mut contents = LogContents::default();
    let found = segments(dir)?;
    let count = found.len();
    for (n, (_, path)) in found.into_iter().enumerate() {
        let bytes = std::fs::read(&path)?;
        let bytes = if n + 1 == count { segment_content(&bytes) } else { &bytes[..] };
        contents.lines.extend(lines_of(bytes).map(<[u8]>::to_vec));
    }
    contents.checkpoints = read_checkpoints(&dir.join(CHECKPOINTS_FILE))?.checkpoints;
    Ok(contents)
}

/// Verifies a log directory against the checkpoint public key (and, with `keys`, the
/// HMAC chain). Extra checkpoints (from a witness) can be added with
/// [`verify_dir_with`].
///
/// # Errors
/// A file cannot be read.
pub fn verify_dir(
    dir: &Path,
    public_key: &CheckpointPublicKey,
    keys: Option<&HmacKeyring>,
) -> std::io::Result<Report> {
    verify_dir_with(dir, public_key, keys, &[])
}

/// As [`verify_dir`], also checking `extra` checkpoints kept elsewhere.
///
/// # Errors
/// A file cannot be read.
pub fn verify_dir_with(
    dir: &Path,
    public_key: &CheckpointPublicKey,
    keys: Option<&HmacKeyring>,
    extra: &[Checkpoint],
) -> std::io::Result<Report> {
    let mut verifier = Verifier::new(public_key, keys);
    let found = segments(dir)?;
    let count = found.len();
    for (n, (_, path)) in found.into_iter().enumerate() {
        let raw = std::fs::read(&path)?;
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        // Only the last segment may end in a live writer's zero padding; an earlier one
        // was sealed before the next began.
        let bytes = segment_content(&raw);
        if n + 1 < count && bytes.len() < raw.len() {
            verifier.malformed(&format!("{name}: zero bytes after the records of a sealed segment"));
        }
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            // A record without its newline was never completely written (a crash the
            // writer will set aside on restart), or the file was cut.
            verifier.malformed(&format!("{name}: incomplete last line ({} bytes)", bytes.len() - complete));
        }
        let lines: Vec<&[u8]> = lines_of(&bytes[..complete]).collect();
        verifier.push_lines(&lines, &|n| format!("{name}:{}", n + 1));
    }
    let path = dir.join(CHECKPOINTS_FILE);
    let stored = read_checkpoints(&path)?;
    let mut checkpoints = stored.checkpoints;
    for line in stored.unreadable {
        verifier.malformed(&format!("{CHECKPOINTS_FILE}:{line}: not a checkpoint"));
    }
    checkpoints.extend_from_slice(extra);
    Ok(verifier.finish(&checkpoints))
}

fn hex_hash(text: &str) -> Result<Hash, String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| format!("not a 32-byte hex hash: {text:?}"))?;
    Ok(out)
}

/// A proof that one record is in the log, against a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The signed checkpoint the proof leads to.
    pub checkpoint: Checkpoint,
    /// The record's stored line.
    pub record: String,
    /// The record's sequence number (its leaf index).
    pub seq: u64,
    /// The audit path, nearest the leaf first, hex.
    pub path: Vec<String>,
    /// Format version (1).
    pub v: u32,
}

impl InclusionProof {
    /// Proves record `seq` against `checkpoint`, given the tree over the log.
    ///
    /// # Errors
    /// The sizes do not fit.
    pub fn build(
        tree: &MerkleTree,
        record: String,
        seq: u64,
        checkpoint: Checkpoint,
    ) -> Result<Self, ProofError> {
        let path = tree.inclusion_proof(seq, checkpoint.size)?.iter().map(hex::encode).collect();
        Ok(Self { checkpoint, record, seq, path, v: 1 })
    }

    /// Checks the checkpoint's signature and the path from the record to its root.
    ///
    /// # Errors
    /// What does not hold.
    pub fn verify(&self, public_key: &CheckpointPublicKey) -> Result<(), String> {
        public_key.verify(&self.checkpoint).map_err(|e| e.to_string())?;
        let record = crate::record::RecordRef::parse(self.record.as_bytes()).map_err(|e| e.to_string())?;
        if record.seq != self.seq {
            return Err(format!("the record's seq is {}, the proof is for {}", record.seq, self.seq));
        }
        let path = self.path.iter().map(|h| hex_hash(h)).collect::<Result<Vec<_>, _>>()?;
        let root = self.checkpoint.root_hash().map_err(|e| e.to_string())?;
        verify_inclusion(&leaf_hash(self.record.as_bytes()), self.seq, self.checkpoint.size, &path, &root)
            .map_err(|e| e.to_string())
    }
}

/// A proof that one checkpoint's tree extends another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older checkpoint.
    pub from: Checkpoint,
    /// The newer checkpoint.
    pub to: Checkpoint,
    /// The proof nodes, hex.
    pub path: Vec<String>,
    /// Format version (1).
    pub v: u32,
}

impl ConsistencyProof {
    /// Proves `to` extends `from`, given the tree over the log.
    ///
    /// # Errors
    /// The sizes do not fit.
    pub fn build(tree: &MerkleTree, from: Checkpoint, to: Checkpoint) -> Result<Self, ProofError> {
        let path = tree.consistency_proof(from.size, to.size)?.iter().map(hex::encode).collect();
        Ok(Self { from, to, path, v: 1 })
    }

    /// Checks both signatures and the proof.
    ///
    /// # Errors
    /// What does not hold.
    pub fn verify(&self, public_key: &CheckpointPublicKey) -> Result<(), String> {
        public_key.verify(&self.from).map_err(|e| format!("older checkpoint: {e}"))?;
        public_key.verify(&self.to).map_err(|e| format!("newer checkpoint: {e}"))?;
        let path = self.path.iter().map(|h| hex_hash(h)).collect::<Result<Vec<_>, _>>()?;
        let (first, second) = (
            self.from.root_hash().map_err(|e| e.to_string())?,
            self.to.root_hash().map_err(|e| e.to_string())?,
        );
        verify_consistency(self.from.size, self.to.size, &first, &second, &path).map_err(|e| e.to_string())
    }
}

/// Builds the tree over a log's records (which must be intact and in order).
///
/// # Errors
/// A description of the first damaged record.
pub fn tree_of(contents: &LogContents) -> Result<MerkleTree, String> {
    build_tree(contents.lines.iter().map(Vec::as_slice))
}
