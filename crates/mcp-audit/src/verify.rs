//! Verifying a stored log: every record, the chain, the tree and every checkpoint.
//!
//! Feed records in storage order with [`Verifier::push_line`], then call
//! [`Verifier::finish`] with the checkpoints. The [`Report`] lists each problem with its
//! sequence number and [`ProblemKind`]. The rules, in the order they apply:
//!
//! | what is found | kind |
//! |---|---|
//! | a line that is not a record | `malformed` |
//! | a record whose `seq` breaks an otherwise contiguous run | `modified` (its seq field) |
//! | the same record twice | `duplicated` |
//! | a second, different record with a seq already present | `inserted` |
//! | a record stored after one with a higher seq | `reordered` |
//! | a seq missing below the highest present | `deleted` |
//! | fewer records than a checkpoint covers | `truncated` |
//! | a chain MAC that does not verify (with the HMAC key) | `modified` |
//! | a chain key id the verifier does not hold | `unknown_key` |
//! | a checkpoint whose signature does not verify | `bad_signature` |
//! | a checkpoint signed by another key | `unknown_key` |
//! | a checkpoint root the records do not hash to, with no other explanation | `modified` |
//!
//! Without the HMAC key the chain is not checked, but the tree still is: any change
//! below a checkpoint shows as a root mismatch.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::chain::{GENESIS_MAC, HmacKeyring};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointPublicKey};
use crate::merkle::{CompactRange, Hash, MerkleTree, leaf_hash};
use crate::record::RecordRef;

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A record's content differs from what was written.
    Modified,
    /// A record that was never written by the log.
    Inserted,
    /// A record is missing from the middle of the log.
    Deleted,
    /// Records are stored out of sequence order.
    Reordered,
    /// A record appears more than once.
    Duplicated,
    /// The log ends before a checkpoint's tree size.
    Truncated,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// A key id the verifier does not hold.
    UnknownKey,
    /// A line or checkpoint that cannot be parsed.
    Malformed,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Modified => "modified",
            Self::Inserted => "inserted",
            Self::Deleted => "deleted",
            Self::Reordered => "reordered",
            Self::Duplicated => "duplicated",
            Self::Truncated => "truncated",
            Self::BadSignature => "bad signature",
            Self::UnknownKey => "unknown key",
            Self::Malformed => "malformed",
        })
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The kind.
    pub kind: ProblemKind,
    /// The sequence number concerned (for checkpoints, their tree size).
    pub seq: Option<u64>,
    /// A human-readable explanation.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "seq {seq}: {}: {}", self.kind, self.detail),
            None => write!(f, "{}: {}", self.kind, self.detail),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Distinct records found.
    pub entries: u64,
    /// Checkpoints examined.
    pub checkpoints: usize,
    /// Checkpoints whose signature and root both hold.
    pub checkpoints_verified: usize,
    /// Whether the HMAC chain was checked (a key was given).
    pub chain_checked: bool,
    /// Records after the newest verified checkpoint: intact as far as the chain shows,
    /// but not yet covered by a signature.
    pub unanchored: u64,
    /// Everything wrong, in sequence order where there is one.
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when nothing is wrong.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether a problem of `kind` was found (at `seq`, if given).
    #[must_use]
    pub fn has(&self, kind: ProblemKind, seq: Option<u64>) -> bool {
        self.problems.iter().any(|p| p.kind == kind && (seq.is_none() || p.seq == seq))
    }
}

#[derive(Debug)]
struct Rec {
    seq: u64,
    leaf: Hash,
    mac: Hash,
    /// Whether a key ring was given and does not hold the record's chain key.
    kid_unknown: bool,
    /// The chain key id, kept with `entry`.
    kid: Option<Box<str>>,
    /// The chain check made while streaming, against the record stored just before.
    streamed: Option<bool>,
    /// Kept only when the streamed check could not settle the record.
    entry: Option<Box<[u8]>>,
    location: String,
}

/// Streams records in, then judges them. See the module docs.
pub struct Verifier<'a> {
    public_key: &'a CheckpointPublicKey,
    keys: Option<&'a HmacKeyring>,
    records: Vec<Rec>,
    problems: Vec<Problem>,
    unknown_kids: HashMap<String, u64>,
}

impl fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("records", &self.records.len()).finish_non_exhaustive()
    }
}

impl<'a> Verifier<'a> {
    /// A verifier for logs whose checkpoints `public_key` signs; with `keys`, the chain
    /// MACs are checked too.
    #[must_use]
    pub fn new(public_key: &'a CheckpointPublicKey, keys: Option<&'a HmacKeyring>) -> Self {
        Self { public_key, keys, records: Vec::new(), problems: Vec::new(), unknown_kids: HashMap::new() }
    }

    /// Adds the next stored line (without its newline); `location` names it in reports.
    pub fn push_line(&mut self, line: &[u8], location: impl FnOnce() -> String) {
        let prev = self.prev();
        let location = std::cell::Cell::new(Some(location));
        let outcome = analyze(line, prev, self.keys, &|| location.take().map(|f| f()).unwrap_or_default());
        self.absorb(outcome);
    }

    /// Adds many stored lines, in order, hashing them on every available core (each
    /// line's leaf and MAC depend only on that line and the MAC stored before it).
    /// `location(i)` names line `i` in reports.
    pub fn push_lines(&mut self, lines: &[&[u8]], location: &(dyn Fn(usize) -> String + Sync)) {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let threads = cores.min(lines.len() / 4096).max(1);
        let chunk = lines.len().div_ceil(threads);
        let first_prev = self.prev();
        let keys = self.keys;
        let results: Vec<Vec<Analyzed>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let begin = (t * chunk).min(lines.len());
                    let end = (begin + chunk).min(lines.len());
                    scope.spawn(move || {
                        let mut prev = prev_before(lines, begin, first_prev);
                        let mut out = Vec::with_capacity(end - begin);
                        for (i, line) in lines[begin..end].iter().enumerate() {
                            let analyzed = analyze(line, prev, keys, &|| location(begin + i));
                            if let Ok((rec, _)) = &analyzed {
                                prev = Prev::Record(rec.seq, rec.mac);
                            }
                            out.push(analyzed);
                        }
                        out
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        self.records.reserve(lines.len());
        for analyzed in results.into_iter().flatten() {
            self.absorb(analyzed);
        }
    }

    fn prev(&self) -> Prev {
        self.records.last().map_or(Prev::Start, |r| Prev::Record(r.seq, r.mac))
    }

    fn absorb(&mut self, analyzed: Analyzed) {
        match analyzed {
            Ok((rec, unknown_kid)) => {
                if let Some(kid) = unknown_kid {
                    self.unknown_kids.entry(kid).or_insert(rec.seq);
                }
                self.records.push(rec);
            }
            Err(problem) => self.problems.push(problem),
        }
    }

    /// Records something unreadable the caller found (a checkpoint line, a cut line).
    pub fn malformed(&mut self, what: &str) {
        self.problems.push(Problem { kind: ProblemKind::Malformed, seq: None, detail: what.to_owned() });
    }

    /// Judges everything pushed against `checkpoints`.
    #[must_use]
    pub fn finish(mut self, checkpoints: &[Checkpoint]) -> Report {
        let mut report = Report {
            chain_checked: self.keys.is_some(),
            checkpoints: checkpoints.len(),
            ..Report::default()
        };
        // Only checkpoints that verify say anything about the records.
        let trusted = self.trusted_checkpoints(checkpoints);
        let covered = trusted.iter().map(|c| c.size).max().unwrap_or(0);

        self.infer_modified_seqs(covered);
        let canonical = self.dedupe();
        self.find_reordered(&canonical);
        let contiguous = self.find_gaps(&canonical, covered);
        if self.keys.is_some() {
            self.check_chain(&canonical);
            self.judge_unknown_kids(&canonical);
        }
        report.entries = canonical.len() as u64;
        let verified = self.check_roots(&canonical, contiguous, &trusted, &mut report);
        report.unanchored = report.entries.saturating_sub(verified);
        self.problems.sort_by_key(|p| (p.seq.unwrap_or(u64::MAX), p.kind as u8));
        report.problems = self.problems;
        report
    }

    /// A record whose seq breaks an otherwise contiguous run had its seq field edited.
    fn infer_modified_seqs(&mut self, covered: u64) {
        for i in 0..self.records.len() {
            let expected = if i == 0 { 0 } else { self.records[i - 1].seq + 1 };
            let next_fits = match self.records.get(i + 1) {
                Some(next) => next.seq == expected + 1,
                None => expected + 1 == covered,
            };
            if self.records[i].seq != expected && next_fits && (i > 0 || self.records.len() > 1) {
                // With the key, the MAC decides: it covers the original seq, so only a
                // record whose seq field alone was edited verifies under `expected`.
                // (Without this, a deletion followed by an append could pass for one.)
                let prev_mac = if i == 0 { GENESIS_MAC } else { self.records[i - 1].mac };
                let rec = &self.records[i];
                if let (Some(entry), Some(key)) = (&rec.entry, self.key_for(i))
                    && !key.check(&prev_mac, expected, entry, &rec.mac)
                {
                    continue;
                }
                let found = self.records[i].seq;
                self.problems.push(Problem {
                    kind: ProblemKind::Modified,
                    seq: Some(expected),
                    detail: format!("{}: seq field reads {found}", self.records[i].location_or("record")),
                });
                self.records[i].seq = expected;
                self.records[i].streamed = None;
            }
        }
    }

    /// One record per seq, in seq order (as indices into `records`).
    fn dedupe(&mut self) -> Vec<usize> {
        // The usual case, an intact log: strictly increasing already, nothing to sort.
        if self.records.windows(2).all(|w| w[0].seq < w[1].seq) {
            return (0..self.records.len()).collect();
        }
        let mut order: Vec<usize> = (0..self.records.len()).collect();
        order.sort_by_key(|&i| (self.records[i].seq, i));
        let mut canonical: Vec<usize> = Vec::with_capacity(order.len());
        let mut start = 0;
        while start < order.len() {
            let seq = self.records[order[start]].seq;
            let mut end = start;
            while end < order.len() && self.records[order[end]].seq == seq {
                end += 1;
            }
            let group = &order[start..end];
            // The genuine record: the first whose chain check did not fail.
            let genuine =
                group.iter().copied().find(|&i| self.records[i].streamed != Some(false)).unwrap_or(group[0]);
            for &i in group.iter().filter(|&&i| i != genuine) {
                let same = self.records[i].leaf == self.records[genuine].leaf;
                self.problems.push(Problem {
                    kind: if same { ProblemKind::Duplicated } else { ProblemKind::Inserted },
                    seq: Some(seq),
                    detail: if same {
                        "the record appears more than once".into()
                    } else {
                        "a second, different record claims this seq".into()
                    },
                });
            }
            canonical.push(genuine);
            start = end;
        }
        canonical
    }

    fn find_reordered(&mut self, canonical: &[usize]) {
        if canonical.windows(2).all(|w| w[0] < w[1]) {
            return; // storage order is seq order
        }
        let mut by_position = canonical.to_vec();
        by_position.sort_unstable();
        let mut highest: Option<u64> = None;
        for i in by_position {
            let seq = self.records[i].seq;
            if highest.is_some_and(|h| seq < h) {
                self.problems.push(Problem {
                    kind: ProblemKind::Reordered,
                    seq: Some(seq),
                    detail: format!("stored after seq {}", highest.unwrap_or_default()),
                });
            }
            highest = highest.max(Some(seq));
        }
    }

    /// Reports missing seqs; returns how many leading records are contiguous from 0.
    fn find_gaps(&mut self, canonical: &[usize], covered: u64) -> u64 {
        let mut expected = 0u64;
        let mut contiguous = None;
        for &i in canonical {
            let seq = self.records[i].seq;
            if seq > expected {
                contiguous.get_or_insert(expected);
                let detail = if seq - expected == 1 {
                    "missing".to_owned()
                } else {
                    format!("seqs {expected}..{} missing", seq - 1)
                };
                self.problems.push(Problem { kind: ProblemKind::Deleted, seq: Some(expected), detail });
            }
            expected = seq + 1;
        }
        if covered > expected {
            self.problems.push(Problem {
                kind: ProblemKind::Truncated,
                seq: Some(expected),
                detail: format!("the log ends at {expected} records but a checkpoint covers {covered}"),
            });
        }
        contiguous.unwrap_or(expected)
    }

    fn check_chain(&mut self, canonical: &[usize]) {
        let already: std::collections::HashSet<u64> =
            self.problems.iter().filter(|p| p.kind == ProblemKind::Modified).filter_map(|p| p.seq).collect();
        // Candidates for the previous MAC: as stored, and as recomputed (which differ
        // when the previous record's own MAC field was edited).
        let mut prev: Option<(u64, Hash, Option<Hash>)> = None;
        for &i in canonical {
            let rec = &self.records[i];
            let (seq, mac) = (rec.seq, rec.mac);
            let prev_macs: Option<[Option<Hash>; 2]> = match prev {
                Some((p, stored, recomputed)) if p + 1 == seq => Some([Some(stored), recomputed]),
                None if seq == 0 => Some([Some(GENESIS_MAC), None]),
                _ => None,
            };
            let mut recomputed = None;
            let mut ok = true;
            if let (Some(prev_macs), Some(entry), Some(key)) = (prev_macs, &rec.entry, self.key_for(i))
                && rec.streamed != Some(true)
            {
                ok = false;
                for p in prev_macs.iter().flatten() {
                    let computed = key.mac(p, seq, entry);
                    recomputed.get_or_insert(computed);
                    if computed == mac {
                        ok = true;
                        break;
                    }
                }
            }
            if !ok && !already.contains(&seq) {
                self.problems.push(Problem {
                    kind: ProblemKind::Modified,
                    seq: Some(seq),
                    detail: format!(
                        "{}: chain MAC does not match the record",
                        self.records[i].location_or("record")
                    ),
                });
            }
            prev = Some((seq, mac, recomputed.filter(|r| *r != mac)));
        }
    }

    fn key_for(&self, i: usize) -> Option<&crate::chain::ChainKey> {
        self.keys?.get(self.records[i].kid.as_deref()?)
    }

    /// Records whose chain key is unknown: at the start or end of the log they are a key
    /// the verifier was not given (rotation only moves forward); between records under
    /// known keys they are an edit, and reported as one.
    fn judge_unknown_kids(&mut self, canonical: &[usize]) {
        let known: Vec<bool> = canonical.iter().map(|&i| !self.records[i].kid_unknown).collect();
        let first_known = known.iter().position(|&k| k);
        let last_known = known.iter().rposition(|&k| k);
        for (position, &i) in canonical.iter().enumerate() {
            if known[position] {
                continue;
            }
            let seq = self.records[i].seq;
            let inside =
                first_known.is_some_and(|f| f < position) && last_known.is_some_and(|l| position < l);
            if inside {
                self.unknown_kids.retain(|_, first| *first != seq);
                self.problems.push(Problem {
                    kind: ProblemKind::Modified,
                    seq: Some(seq),
                    detail: "names a chain key its neighbours do not use; keys only ever rotate forward"
                        .into(),
                });
            }
        }
        let mut kids: Vec<(String, u64)> = std::mem::take(&mut self.unknown_kids).into_iter().collect();
        kids.sort_by_key(|(_, seq)| *seq);
        for (kid, seq) in kids {
            self.problems.push(Problem {
                kind: ProblemKind::UnknownKey,
                seq: Some(seq),
                detail: format!("records from seq {seq} use chain key {kid}, which was not given"),
            });
        }
    }

    /// Checks every checkpoint's signature; returns those that verify, reporting the rest.
    fn trusted_checkpoints(&mut self, checkpoints: &[Checkpoint]) -> Vec<Checkpoint> {
        let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
        sorted.sort_by_key(|c| (c.size, c.timestamp_ms));
        sorted.dedup_by(|a, b| a == b);
        let mut trusted = Vec::with_capacity(sorted.len());
        for checkpoint in sorted {
            let (kind, detail) = match self.public_key.verify(checkpoint) {
                Ok(()) => {
                    trusted.push(checkpoint.clone());
                    continue;
                }
                Err(CheckpointError::UnknownKey(kid)) => (
                    ProblemKind::UnknownKey,
                    format!("checkpoint signed by key {kid}, not by the given public key"),
                ),
                Err(CheckpointError::Malformed(what)) => {
                    (ProblemKind::Malformed, format!("checkpoint field {what}"))
                }
                Err(_) => (ProblemKind::BadSignature, "checkpoint signature does not verify".to_owned()),
            };
            self.problems.push(Problem { kind, seq: Some(checkpoint.size), detail });
        }
        trusted
    }

    /// Compares each trusted checkpoint's root with the records; returns the largest size
    /// that matches.
    fn check_roots(
        &mut self,
        canonical: &[usize],
        contiguous: u64,
        trusted: &[Checkpoint],
        report: &mut Report,
    ) -> u64 {
        // A root mismatch is reported unless a problem that changes the records below the
        // checkpoint already explains it.
        let explained_below = self
            .problems
            .iter()
            .filter(|p| {
                matches!(p.kind, ProblemKind::Modified | ProblemKind::Deleted | ProblemKind::Malformed)
            })
            .filter_map(|p| match (p.kind, p.seq) {
                (ProblemKind::Malformed, None) => Some(0),
                (_, seq) => seq,
            })
            .min();
        let mut tree = CompactRange::new();
        let mut pushed = 0usize;
        let mut verified = 0u64;
        let mut last_good = 0u64;
        for checkpoint in trusted {
            if checkpoint.size > contiguous {
                continue; // reported as deleted or truncated already
            }
            while (pushed as u64) < checkpoint.size {
                tree.push(self.records[canonical[pushed]].leaf);
                pushed += 1;
            }
            let root = checkpoint.root_hash().unwrap_or_default();
            if tree.root() == root {
                report.checkpoints_verified += 1;
                verified = verified.max(checkpoint.size);
                last_good = checkpoint.size;
            } else if explained_below.is_none_or(|seq| seq >= checkpoint.size) {
                self.problems.push(Problem {
                    kind: ProblemKind::Modified,
                    seq: None,
                    detail: format!(
                        "records in seqs {last_good}..{} do not hash to the checkpoint at size {}",
                        checkpoint.size - 1,
                        checkpoint.size
                    ),
                });
            }
        }
        verified
    }
}

/// What came before a line: nothing yet, or the last record that parsed.
#[derive(Debug, Clone, Copy)]
enum Prev {
    Start,
    Record(u64, Hash),
}

/// A line judged on its own: the record (with its unknown chain key id, if any), or why
/// it is not one.
type Analyzed = Result<(Rec, Option<String>), Problem>;

/// The last record that parses before `lines[begin]`, or `fallback` when none does.
fn prev_before(lines: &[&[u8]], begin: usize, fallback: Prev) -> Prev {
    lines[..begin]
        .iter()
        .rev()
        .find_map(|line| {
            let record = RecordRef::parse(line).ok()?;
            Some(Prev::Record(record.seq, record.mac_bytes().ok()?))
        })
        .unwrap_or(fallback)
}

fn analyze(line: &[u8], prev: Prev, keys: Option<&HmacKeyring>, location: &dyn Fn() -> String) -> Analyzed {
    let record = RecordRef::parse(line).map_err(|error| Problem {
        kind: ProblemKind::Malformed,
        seq: None,
        detail: format!("{}: {error}", location()),
    })?;
    let mac = record.mac_bytes().map_err(|_| Problem {
        kind: ProblemKind::Malformed,
        seq: Some(record.seq),
        detail: format!("{}: malformed MAC", location()),
    })?;
    let entry = record.entry.get().as_bytes();
    let key = keys.and_then(|k| k.get(record.kid));
    let kid_known = keys.is_none() || key.is_some();
    let prev_mac = match prev {
        Prev::Record(seq, mac) if seq + 1 == record.seq => Some(mac),
        Prev::Start if record.seq == 0 => Some(GENESIS_MAC),
        _ => None,
    };
    let streamed = match (key, prev_mac) {
        (Some(key), Some(prev)) => Some(key.check(&prev, record.seq, entry, &mac)),
        _ => None,
    };
    let settled = streamed == Some(true) || keys.is_none() || !kid_known;
    let rec = Rec {
        seq: record.seq,
        leaf: leaf_hash(line),
        mac,
        kid_unknown: keys.is_some() && !kid_known,
        kid: (!settled).then(|| record.kid.into()),
        streamed,
        entry: (!settled).then(|| entry.into()),
        location: if settled { String::new() } else { location() },
    };
    Ok((rec, (!kid_known).then(|| record.kid.to_owned())))
}

impl Rec {
    fn location_or<'s>(&'s self, fallback: &'s str) -> &'s str {
        if self.location.is_empty() { fallback } else { &self.location }
    }
}

/// Builds the whole tree over records in seq order (for proofs). Returns the tree and
/// each record's line, by seq.
///
/// # Errors
/// A description of the first record out of sequence or unreadable.
pub fn build_tree<'l>(lines: impl IntoIterator<Item = &'l [u8]>) -> Result<MerkleTree, String> {
    let mut tree = MerkleTree::new();
    for (expected, line) in lines.into_iter().enumerate() {
        let record = RecordRef::parse(line).map_err(|e| format!("record {expected}: {e}"))?;
        if record.seq != expected as u64 {
            return Err(format!(
                "expected seq {expected}, found {}; run `palisade audit verify`",
                record.seq
            ));
        }
        tree.push(leaf_hash(line));
    }
    Ok(tree)
}
