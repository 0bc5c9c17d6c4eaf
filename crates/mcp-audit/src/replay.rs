//! Rebuilding the writer's state from stored records when a log is reopened.

use crate::chain::GENESIS_MAC;
use crate::checkpoint::Checkpoint;
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
}

/// Feeds stored records, in order, into a [`ResumeState`].
#[derive(Debug)]
pub struct Replayer {
    state: ResumeState,
    expect: Option<(u64, Hash)>,
    matched_checkpoint: bool,
}

impl Replayer {
    /// Starts a replay that will be checked against `last_checkpoint`.
    #[must_use]
    pub fn new(last_checkpoint: Option<Checkpoint>) -> Self {
        let expect = last_checkpoint.as_ref().and_then(|c| c.root_hash().ok().map(|root| (c.size, root)));
        let matched_checkpoint = expect.is_none_or(|(size, _)| size == 0);
        Self { state: ResumeState { last_checkpoint, ..ResumeState::default() }, expect, matched_checkpoint }
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

    /// Records a torn tail that was set aside.
    pub fn torn(&mut self, tail: TornTail) {
        self.state.torn_tail = Some(tail);
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
