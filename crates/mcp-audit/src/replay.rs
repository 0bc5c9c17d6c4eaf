//! Rebuilding the writer's state from stored records when a log is reopened.

use crate::chain::{GENESIS_MAC, HmacKeyring};
use crate::checkpoint::{Checkpoint, CheckpointPublicKey};
use crate::merkle::{CompactRange, Hash};
use crate::record::RecordRef;

/// What a reopened log continues from.
#[derive(Debug, Clone)]
pub struct ResumeState {
    /// The next sequence number (= the number of entries).
    pub next_seq: u64,
    /// The last record's MAC.
    pub last_mac: Hash,
    /// The tree's right edge.
    pub tree: CompactRange,
    /// The newest stored checkpoint.
    pub last_checkpoint: Option<Checkpoint>,
    /// Bytes found after the last complete record and set aside, if any.
    pub torn_tail: Option<TornTail>,
}

impl Default for ResumeState {
    fn default() -> Self {
        Self {
            next_seq: 0,
            last_mac: GENESIS_MAC,
            tree: CompactRange::new(),
            last_checkpoint: None,
            torn_tail: None,
        }
    }
}

/// An incomplete write found at the end of the log on reopening: never acknowledged
/// (acknowledgement waits for the fsync), so nothing accepted is lost, but it is
/// reported and kept aside rather than silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the bytes were found (a file path or table name).
    pub location: String,
    /// How many bytes.
    pub bytes: u64,
    /// Where they were moved, if anywhere.
    pub kept_at: Option<String>,
}

/// The stored log cannot be resumed safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A record is unreadable or out of sequence where no crash could have put it.
    #[error("audit log is damaged at {location}: {detail}; run `palisade audit verify`")]
    Damaged {
        /// Where.
        location: String,
        /// What.
        detail: String,
    },
    /// The log holds fewer entries than its newest checkpoint covers.
    #[error("audit log holds {found} entries but checkpoint covers {expected}: entries were removed")]
    Truncated {
        /// Entries present.
        found: u64,
        /// Entries the checkpoint covers.
        expected: u64,
    },
    /// The records do not hash to the newest checkpoint's root.
    #[error("audit log does not match its checkpoint at size {size}: entries were changed")]
    CheckpointMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// A stored checkpoint is not signed by this log's key. The signing key does not
    /// rotate; a checkpoint under another key means the key or the file was replaced.
    #[error("checkpoint at size {size} does not verify under this log's key: {reason}")]
    UntrustedCheckpoint {
        /// The checkpoint's size.
        size: u64,
        /// Why.
        reason: String,
    },
}

/// Checks every stored checkpoint's signature and returns the newest. Any checkpoint
/// that does not verify under `public_key` refuses the whole log: a writer never trusts
/// (and never re-signs over) something it cannot vouch for.
///
/// # Errors
/// [`ReplayError::UntrustedCheckpoint`].
pub fn newest_trusted(
    checkpoints: &[Checkpoint],
    public_key: &CheckpointPublicKey,
) -> Result<Option<Checkpoint>, ReplayError> {
    for checkpoint in checkpoints {
        public_key
            .verify(checkpoint)
            .map_err(|e| ReplayError::UntrustedCheckpoint { size: checkpoint.size, reason: e.to_string() })?;
    }
    Ok(checkpoints.iter().max_by_key(|c| c.size).cloned())
}

/// Feeds stored records, in order, into a [`ResumeState`], checking each record's chain
/// MAC and the tree against the newest (already verified) checkpoint.
#[derive(Debug)]
pub struct Replayer<'k> {
    state: ResumeState,
    keys: &'k HmacKeyring,
    expect: Option<(u64, Hash)>,
    matched_checkpoint: bool,
}

impl<'k> Replayer<'k> {
    /// Starts a replay checked against `last_checkpoint` (see [`newest_trusted`]) and
    /// the chain keys in `keys`.
    ///
    /// # Errors
    /// [`ReplayError::Damaged`] when the checkpoint's root is malformed.
    pub fn new(last_checkpoint: Option<Checkpoint>, keys: &'k HmacKeyring) -> Result<Self, ReplayError> {
        let expect = match &last_checkpoint {
            Some(c) => Some((
                c.size,
                c.root_hash().map_err(|e| ReplayError::Damaged {
                    location: "checkpoints".into(),
                    detail: e.to_string(),
                })?,
            )),
            None => None,
        };
        let matched_checkpoint = expect.is_none_or(|(size, _)| size == 0);
        Ok(Self {
            state: ResumeState { last_checkpoint, ..ResumeState::default() },
            keys,
            expect,
            matched_checkpoint,
        })
    }

    /// The number of records so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.state.next_seq
    }

    /// Adds the next record.
    ///
    /// # Errors
    /// [`ReplayError::Damaged`] when the line is not the next record.
    pub fn push(&mut self, line: &[u8], location: &dyn Fn() -> String) -> Result<(), ReplayError> {
        let record = RecordRef::parse(line)
            .map_err(|e| ReplayError::Damaged { location: location(), detail: e.to_string() })?;
        if record.seq != self.state.next_seq {
            return Err(ReplayError::Damaged {
                location: location(),
                detail: format!("expected seq {}, found {}", self.state.next_seq, record.seq),
            });
        }
        let mac = record
            .mac_bytes()
            .map_err(|e| ReplayError::Damaged { location: location(), detail: e.to_string() })?;
        // Every record is checked against the chain, so nothing edited after the newest
        // checkpoint is ever covered by a checkpoint this writer signs.
        let key = self.keys.get(record.kid).ok_or_else(|| ReplayError::Damaged {
            location: location(),
            detail: format!("record uses chain key {}, which this writer does not hold", record.kid),
        })?;
        if !key.check(&self.state.last_mac, record.seq, record.entry.get().as_bytes(), &mac) {
            return Err(ReplayError::Damaged {
                location: location(),
                detail: "chain MAC does not match the record".into(),
            });
        }
        self.state.tree.push(crate::merkle::leaf_hash(line));
        self.state.last_mac = mac;
        self.state.next_seq += 1;
        if let Some((size, root)) = self.expect
            && size == self.state.next_seq
        {
            if self.state.tree.root() != root {
                return Err(ReplayError::CheckpointMismatch { size });
            }
            self.matched_checkpoint = true;
        }
        Ok(())
    }

    /// The state to continue from.
    ///
    /// # Errors
    /// [`ReplayError::Truncated`] when the newest checkpoint covers more than was read.
    pub fn finish(self) -> Result<ResumeState, ReplayError> {
        if let Some((expected, _)) = self.expect
            && !self.matched_checkpoint
        {
            return Err(ReplayError::Truncated { found: self.state.next_seq, expected });
        }
        Ok(self.state)
    }
}
