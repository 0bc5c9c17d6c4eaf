//! The file backend: JSON-lines segments in one directory, group commit, rotation.
//!
//! ```text
//! DIR/segment-00000000000000000000.jsonl   records 0 …   (named by their first seq)
//! DIR/segment-00000000000000065536.jsonl   records 65536 …
//! DIR/checkpoints.jsonl                    signed checkpoints, one per line
//! DIR/writer.lock                          held while a writer has the log open
//! ```
//!
//! Each batch is written (one `write`, or several for a batch over 1 MiB) and made
//! durable with `fdatasync` before any of its entries is acknowledged. A failed write is
//! cut back off the file, so the file never keeps part of a batch that callers were told
//! failed. A crash can leave an unfinished last batch; on reopening it is moved aside to
//! `<segment>.torn-<ms>` and reported ([`TornTail`]); it was never acknowledged, so
//! nothing accepted is lost.
//!
//! ## Preallocation
//!
//! While a writer has the log open, the current segment is kept ahead of its records by
//! up to 1 MiB of zero bytes, written and synced before any record lands in them.
//! Records then overwrite blocks the file already has, so a batch's `fdatasync` writes
//! the batch and nothing else: no new blocks, no new length, no inode. On ext4 that is
//! about 40 % less CPU and half the wall time per sync. The padding is cut off when a
//! segment is sealed (rotation) and when the log is closed, so a cleanly closed log is
//! plain JSON lines; after a crash the last segment may end in zero bytes, which readers
//! ignore ([`segment_content`]).
//!
//! Padding is an optimisation, never a reason to refuse an entry, and it never takes
//! the last free space of the volume: it is laid only while the volume keeps
//! [`FileBackendConfig::padding_reserve_bytes`] free beside it (64 MiB by default), and
//! when laying it fails anyway because the volume filled up (or a disk quota is
//! reached), the partial padding is cut off again. Either way a warning is logged and
//! the rest of that segment is written by plain appending (each sync then also writes
//! the file's new length); the next segment tries again. Only when the records
//! themselves no longer fit does a batch fail.
//!
//! A batch is written in pieces of at most [`TORN_WINDOW`] bytes (whole records; a
//! larger record goes alone), each synced before the next, so at any moment only one
//! piece is written and not yet synced, right after the last synced record. After a
//! power loss the sectors of that piece may have reached the disk in any order, so the
//! record after the last good one may hold holes: runs of the zero padding, on sector
//! boundaries. On reopening, what follows the last record that replays is a torn tail if
//! that next line is incomplete (no newline), or if its zero runs are such holes and the
//! tail is no longer than one piece could be (the window, or that one oversized line). A
//! complete line without holes that does not replay was changed after it was written:
//! damage, and the log is not reopened.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::chain::HmacKeyring;
use crate::checkpoint::{Checkpoint, CheckpointPublicKey};
use crate::log::{Backend, BackendError, BoxFuture};
use crate::record::EncodedRecord;
use crate::replay::{ReplayError, Replayer, ResumeState, TornTail, newest_trusted};

/// The checkpoints file's name inside the log directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
/// The conventional name of the public key file beside the log.
pub const PUBLIC_KEY_FILE: &str = "checkpoint.pub";
const LOCK_FILE: &str = "writer.lock";
const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".jsonl";

/// The largest piece of a batch written between two syncs (whole records; a single
/// larger record is written alone). After a crash, a tail with holes is torn only
/// within this distance of the last good record (or as one oversized line); see the
/// module docs.
pub const TORN_WINDOW: u64 = MAX_UNSYNCED as u64;
const MAX_UNSYNCED: usize = 1 << 20;
/// Holes left by a power loss start and end on sector boundaries (512 bytes or a
/// multiple of it).
const SECTOR: u64 = 512;
/// Zeroed space kept ahead of the records of the current segment.
const PREALLOCATE_CHUNK: u64 = 1 << 20;
/// A block of zeros to preallocate with.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// A segment's records: its bytes without the zero padding a writer keeps ahead of them
/// (see the module docs). Only the last segment may carry padding; every reader of
/// segment files should look at this.
#[must_use]
pub fn segment_content(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Settings for [`FileBackend`].
#[derive(Debug, Clone)]
pub struct FileBackendConfig {
    /// The log directory.
    pub dir: PathBuf,
    /// A new segment starts once the current one reaches this size.
    pub max_segment_bytes: u64,
    /// Padding is laid only while the volume keeps at least this much free space beside
    /// it (Linux; checked with `fstatvfs` before each chunk): the log's padding must
    /// never take the last free space of a volume it may share, with a database say.
    /// Below it, the segment is appended without padding (see the module docs). 0 turns
    /// the check off (for volumes whose free-space figures mean little): padding is then
    /// tried, and given up only when a write finds the volume full.
    pub padding_reserve_bytes: u64,
}

impl FileBackendConfig {
    /// Defaults (64 MiB segments, padding while 64 MiB stay free) for `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), max_segment_bytes: 64 << 20, padding_reserve_bytes: 64 << 20 }
    }
}

/// The log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another writer holds the log.
    #[error("{0} is open in another writer")]
    Locked(PathBuf),
    /// The stored log failed its checks; it is left untouched.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OpenError + '_ {
    move |source| OpenError::Io { path: path.to_owned(), source }
}

/// Segment files in the directory, in sequence order, with their first seq.
///
/// # Errors
/// The directory cannot be read.
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for item in fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = name
            .strip_prefix(SEGMENT_PREFIX)
            .and_then(|rest| rest.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|digits| digits.parse::<u64>().ok())
        {
            found.push((first, item.path()));
        }
    }
    found.sort();
    Ok(found)
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{first_seq:020}{SEGMENT_SUFFIX}"))
}

/// A checkpoints file as read: what parsed, and the line numbers of what did not.
#[derive(Debug, Clone, Default)]
pub struct CheckpointFile {
    /// The checkpoints, in file order.
    pub checkpoints: Vec<Checkpoint>,
    /// 1-based numbers of lines that are not checkpoints.
    pub unreadable: Vec<usize>,
}

/// Reads a checkpoints file (a missing file holds none).
///
/// # Errors
/// The file exists but cannot be read.
pub fn read_checkpoints(path: &Path) -> io::Result<CheckpointFile> {
    match fs::read(path) {
        Ok(bytes) => Ok(parse_checkpoints(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(CheckpointFile::default()),
        Err(e) => Err(e),
    }
}

/// Parses checkpoint lines (the text after a final newline, if any, is a line too).
fn parse_checkpoints(bytes: &[u8]) -> CheckpointFile {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut file = CheckpointFile::default();
    for (i, line) in lines.into_iter().enumerate() {
        match serde_json::from_slice::<Checkpoint>(line) {
            Ok(checkpoint) => file.checkpoints.push(checkpoint),
            Err(_) => file.unreadable.push(i + 1),
        }
    }
    file
}

/// Writes the public key file for verifiers (`DIR/checkpoint.pub`).
///
/// # Errors
/// The file cannot be written.
pub fn write_public_key(dir: &Path, key: &CheckpointPublicKey) -> io::Result<PathBuf> {
    let path = dir.join(PUBLIC_KEY_FILE);
    fs::write(&path, key.to_pem())?;
    Ok(path)
}

struct FileState {
    dir: PathBuf,
    segment: File,
    /// Where the records of the current segment end (the next batch goes here).
    segment_len: u64,
    /// The file's length: `segment_len..zeroed_end` holds only zero bytes.
    zeroed_end: u64,
    next_seq: u64,
    checkpoints: File,
    max_segment_bytes: u64,
    /// Set when a failed write could not be cut back: the file's tail is unknown.
    poisoned: Option<String>,
    /// Whether zeros are laid ahead of the records: turned off for the rest of a segment
    /// once the volume had no room for them.
    padding: bool,
    /// Free space the padding leaves on the volume ([`FileBackendConfig`]).
    padding_reserve: u64,
    /// Pieces written and synced (see [`FileState::write_records`]), for tests.
    #[cfg(test)]
    pieces: u64,
    /// Held (locked) while this writer has the log open; released on close, so the
    /// next writer can open the log as soon as closing returns.
    lock: Option<File>,
}

/// Durable JSON-lines storage in a directory. See the module docs.
pub struct FileBackend {
    state: FileState,
}

impl std::fmt::Debug for FileBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBackend").finish_non_exhaustive()
    }
}

impl FileBackend {
    /// Opens (or creates) the log in `config.dir`, checks it against its newest
    /// checkpoint, sets aside a torn tail, and returns the state to resume from.
    ///
    /// # Errors
    /// [`OpenError`]: the log is locked, damaged, shorter than its checkpoint, or does
    /// not match it. A damaged log is not modified.
    pub fn open(
        config: FileBackendConfig,
        public_key: &CheckpointPublicKey,
        keys: &HmacKeyring,
    ) -> Result<(Self, ResumeState), OpenError> {
        let dir = config.dir.clone();
        if dir.exists() {
            warn_if_shared(&dir);
        } else {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            restrict_dir(&dir).map_err(io_err(&dir))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = private_file(&lock_path, false).map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(OpenError::Locked(dir));
        }

        // Everything is checked read-only first; repairs of crash artefacts (a torn last
        // record or checkpoint line) happen only once the rest has passed, so a log that
        // fails its checks is left exactly as found.
        let checkpoints_path = dir.join(CHECKPOINTS_FILE);
        let mut checkpoint_bytes = Vec::new();
        if let Ok(mut file) = File::open(&checkpoints_path) {
            file.read_to_end(&mut checkpoint_bytes).map_err(io_err(&checkpoints_path))?;
        }
        let complete = checkpoint_bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let CheckpointFile { checkpoints, unreadable } = parse_checkpoints(&checkpoint_bytes[..complete]);
        if let Some(line) = unreadable.first() {
            return Err(ReplayError::Damaged {
                location: format!("{}:{line}", checkpoints_path.display()),
                detail: "unreadable checkpoint".into(),
            }
            .into());
        }
        let newest = newest_trusted(&checkpoints, public_key)?;

        let mut replayer = Replayer::new(newest, keys)?;
        let found = segments(&dir).map_err(io_err(&dir))?;
        let count = found.len();
        let mut last_segment = SegmentEnd::default();
        for (n, (first, path)) in found.iter().enumerate() {
            if *first != replayer.size() {
                return Err(ReplayError::Damaged {
                    location: path.display().to_string(),
                    detail: format!("segment starts at seq {first}, expected {}", replayer.size()),
                }
                .into());
            }
            last_segment = replay_segment(path, n + 1 == count, &mut replayer)?;
        }
        let mut resume = replayer.finish()?;

        if complete < checkpoint_bytes.len() {
            let torn = set_aside(&checkpoints_path, &checkpoint_bytes[complete..], complete as u64)?;
            tracing::warn!(location = %torn.location, bytes = torn.bytes, kept_at = ?torn.kept_at,
                "audit checkpoints file had an incomplete last line (never used); set aside");
        }
        let mut records_end = last_segment.records_end;
        if let Some((path, bytes, keep)) = last_segment.torn {
            let torn = set_aside(&path, &bytes, keep)?;
            tracing::warn!(location = %torn.location, bytes = torn.bytes, kept_at = ?torn.kept_at,
                "audit log had an incomplete last record (never acknowledged); set aside");
            resume.torn_tail = Some(torn);
            records_end = keep;
        }

        let segment_path = found.last().map_or_else(|| segment_path(&dir, 0), |(_, path)| path.clone());
        // Not opened for appending: records overwrite the zero padding ahead of them.
        let segment = private_file(&segment_path, false).map_err(io_err(&segment_path))?;
        let zeroed_end = segment.metadata().map_err(io_err(&segment_path))?.len();
        let checkpoints_file = private_file(&checkpoints_path, true).map_err(io_err(&checkpoints_path))?;
        sync_dir(&dir).map_err(io_err(&dir))?;
        let state = FileState {
            dir,
            segment,
            segment_len: records_end,
            zeroed_end,
            next_seq: resume.next_seq,
            checkpoints: checkpoints_file,
            max_segment_bytes: config.max_segment_bytes.max(1),
            padding_reserve: config.padding_reserve_bytes,
            poisoned: None,
            padding: true,
            #[cfg(test)]
            pieces: 0,
            lock: Some(lock),
        };
        Ok((Self { state }, resume))
    }
}

/// Opens (creating with mode 0600 if missing) a file for appending, or for writing in
/// place (segments, the lock file).
fn private_file(path: &Path, append: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(false);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(unix)]
fn warn_if_shared(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(dir = %dir.display(), "the audit log directory is readable by other users; consider mode 0700");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_dir: &Path) {}

/// A torn tail found while replaying: the segment, the bytes, and the length to keep.
type TornCandidate = (PathBuf, Vec<u8>, u64);

/// How a replayed segment ends.
#[derive(Default)]
struct SegmentEnd {
    /// The length of its records, padding and any torn tail aside.
    records_end: u64,
    /// A torn tail to set aside (last segment only).
    torn: Option<TornCandidate>,
}

/// Replays one segment, read-only. In the last segment an unreadable tail (a crash
/// mid-write) is returned for setting aside; anywhere else an unreadable line is damage.
fn replay_segment(path: &Path, last: bool, replayer: &mut Replayer<'_>) -> Result<SegmentEnd, OpenError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io_err(path))?;
    // Only the last segment may carry padding (segments are sealed before the next
    // starts); zeros at the end of an earlier one fail to replay as damage.
    let bytes = if last { segment_content(&bytes) } else { &bytes[..] };
    let mut offset = 0usize;
    let mut line_no = 0usize;
    while offset < bytes.len() {
        line_no += 1;
        let end = bytes[offset..].iter().position(|&b| b == b'\n').map(|i| offset + i);
        let location = || format!("{}:{line_no}", path.display());
        let outcome = match end {
            Some(end) => replayer.push(&bytes[offset..end], &location),
            None => Err(ReplayError::Damaged { location: location(), detail: "incomplete line".into() }),
        };
        match outcome {
            Ok(()) => offset = end.map_or(bytes.len(), |e| e + 1),
            Err(ReplayError::Damaged { .. }) if last && tail_is_torn(&bytes[offset..], offset as u64) => {
                let torn = (path.to_owned(), bytes[offset..].to_vec(), offset as u64);
                return Ok(SegmentEnd { records_end: offset as u64, torn: Some(torn) });
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(SegmentEnd { records_end: bytes.len() as u64, torn: None })
}

/// Whether what follows the last good record of the last segment (at file offset
/// `at`, padding stripped) is what a crash mid-batch leaves; see the module docs. The
/// first line that fails to replay is the record right after the last good one: a crash
/// artefact only if its write never finished (no newline, at any length) or some of its
/// sectors never reached the disk (zero runs on sector boundaries), in a tail no longer
/// than one unsynced piece: the window, or that one line alone (an oversized record is
/// written alone).
fn tail_is_torn(tail: &[u8], at: u64) -> bool {
    let Some(newline) = tail.iter().position(|&b| b == b'\n') else { return true };
    let line = &tail[..newline];
    let one_piece = tail.len() as u64 <= TORN_WINDOW || newline + 1 == tail.len();
    line.contains(&0) && one_piece && zero_runs_are_holes(line, at)
}

/// Every run of zero bytes in `line` (at file offset `at`) is a lost sector: it starts
/// on a sector boundary or where the line starts (the sector it shares with the last
/// good record), and ends on a sector boundary (the sector holding the newline reached
/// the disk, or the newline would be lost too). Record text never holds a zero byte
/// (JSON escapes it), so these runs are exactly the holes.
fn zero_runs_are_holes(line: &[u8], at: u64) -> bool {
    let mut i = 0;
    while i < line.len() {
        if line[i] != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && line[i] == 0 {
            i += 1;
        }
        let aligned = |offset: usize| (at + offset as u64).is_multiple_of(SECTOR);
        if !(start == 0 || aligned(start)) || !aligned(i) {
            return false;
        }
    }
    true
}

fn set_aside(path: &Path, tail: &[u8], keep: u64) -> Result<TornTail, OpenError> {
    // The bytes set aside are records (never acknowledged, but evidence): private like
    // the segments, durable before the segment is cut, and never written over an
    // earlier set-aside (the clock may repeat a millisecond, or step back).
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let base = format!("{}.torn-{}", path.display(), identity_types::unix_now_ms());
    let mut n = 0;
    let (aside, mut file) = loop {
        let candidate = if n == 0 { PathBuf::from(&base) } else { PathBuf::from(format!("{base}-{n}")) };
        match options.open(&candidate) {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(io_err(&candidate)(e)),
        }
    };
    file.write_all(tail).and_then(|()| file.sync_all()).map_err(io_err(&aside))?;
    if let Some(dir) = aside.parent() {
        sync_dir(dir).map_err(io_err(dir))?;
    }
    let file = OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
    file.set_len(keep).and_then(|()| file.sync_all()).map_err(io_err(path))?;
    Ok(TornTail {
        location: path.display().to_string(),
        bytes: tail.len() as u64,
        kept_at: Some(aside.display().to_string()),
    })
}

#[cfg(unix)]
fn restrict_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn restrict_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // A new file's directory entry is durable only once the directory is synced.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Whether `error` says there is no room: the volume is full or a disk quota is
/// reached. (A process file-size limit is not among them: passing it raises SIGXFSZ,
/// which ends the process unless it is ignored.)
fn out_of_space(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

impl FileState {
    fn append(&mut self, records: &[EncodedRecord]) -> Result<(), String> {
        if let Some(reason) = &self.poisoned {
            return Err(reason.clone());
        }
        let Some(first) = records.first() else { return Ok(()) };
        if self.segment_len >= self.max_segment_bytes {
            self.rotate(first.seq).map_err(|e| format!("rotating segment: {e}"))?;
        }
        let start = self.segment_len;
        match self.write_records(records) {
            Ok(()) => {
                self.next_seq = first.seq + records.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Cut back whatever part of the batch reached the file (and the padding:
                // the next write lays it again, while padding is on).
                let cut = self.segment.set_len(start).and_then(|()| self.segment.sync_all());
                self.segment_len = start;
                self.zeroed_end = start;
                if let Err(cut_error) = cut {
                    let reason = format!(
                        "write failed ({error}) and could not be undone ({cut_error}); the log needs attention"
                    );
                    self.poisoned = Some(reason.clone());
                    return Err(reason);
                }
                Err(format!("write failed: {error}"))
            }
        }
    }

    /// Writes the records in pieces of at most [`MAX_UNSYNCED`] bytes (whole records; a
    /// larger record goes alone), each synced before the next is written.
    fn write_records(&mut self, records: &[EncodedRecord]) -> io::Result<()> {
        let total: usize = records.iter().map(|r| r.line.len() + 1).sum();
        let mut buf = Vec::with_capacity(total.min(MAX_UNSYNCED));
        for record in records {
            if !buf.is_empty() && buf.len() + record.line.len() + 1 > MAX_UNSYNCED {
                self.write_synced(&buf)?;
                buf.clear();
            }
            buf.extend_from_slice(record.line.as_bytes());
            buf.push(b'\n');
        }
        self.write_synced(&buf)
    }

    fn write_synced(&mut self, bytes: &[u8]) -> io::Result<()> {
        let end = self.segment_len + bytes.len() as u64;
        if end > self.zeroed_end {
            self.preallocate(end)?;
        }
        self.segment.seek(SeekFrom::Start(self.segment_len))?;
        self.segment.write_all(bytes)?;
        self.segment.sync_data()?;
        self.segment_len = end;
        // Without padding (a full volume) the write itself grew the file.
        self.zeroed_end = self.zeroed_end.max(end);
        #[cfg(test)]
        {
            self.pieces += 1;
        }
        Ok(())
    }

    /// Writes zeros from the file's end past `needed`, and syncs them (with the new
    /// length) before any record is written there. Zeros are written, not merely
    /// reserved (`fallocate`): a reserved block is still marked unwritten, and the first
    /// write into it changes metadata that the batch's sync would have to write too.
    ///
    /// On a full volume the padding is given up for the rest of the segment instead (see
    /// the module docs): the partial zeros are cut off and the records are appended.
    fn preallocate(&mut self, needed: u64) -> io::Result<()> {
        if !self.padding {
            return Ok(());
        }
        let chunk = PREALLOCATE_CHUNK.min(self.max_segment_bytes).next_multiple_of(4096);
        let target = needed.next_multiple_of(chunk);
        if !self.room_for_padding(target - self.zeroed_end) {
            self.padding = false;
            tracing::warn!(dir = %self.dir.display(), reserve = self.padding_reserve,
                "audit log: the volume is nearly full; appending without padding for the rest of this segment");
            return Ok(());
        }
        match self.write_zeros(target) {
            Ok(()) => {
                self.zeroed_end = target;
                Ok(())
            }
            Err(error) if out_of_space(&error) => {
                self.segment.set_len(self.zeroed_end)?;
                self.padding = false;
                tracing::warn!(dir = %self.dir.display(), %error,
                    "audit log: no room to preallocate; appending without padding for the rest of this segment");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Whether `bytes` of padding leave the reserve free. When the volume cannot be
    /// asked, padding is tried (a full volume then still falls back).
    #[cfg(target_os = "linux")]
    fn room_for_padding(&self, bytes: u64) -> bool {
        if self.padding_reserve == 0 {
            return true;
        }
        match rustix::fs::fstatvfs(&self.segment) {
            Ok(stat) => {
                let free = stat.f_bavail.saturating_mul(stat.f_frsize);
                free >= bytes.saturating_add(self.padding_reserve)
            }
            Err(_) => true,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn room_for_padding(&self, _bytes: u64) -> bool {
        true
    }

    /// Writes zeros from `zeroed_end` to `target` and syncs them.
    fn write_zeros(&mut self, target: u64) -> io::Result<()> {
        self.segment.seek(SeekFrom::Start(self.zeroed_end))?;
        let mut at = self.zeroed_end;
        while at < target {
            let n = usize::try_from(target - at).unwrap_or(usize::MAX).min(ZEROS.len());
            self.segment.write_all(&ZEROS[..n])?;
            at += n as u64;
        }
        self.segment.sync_data()
    }

    /// Cuts the padding off the current segment, leaving plain JSON lines.
    fn seal(&mut self) -> io::Result<()> {
        if self.zeroed_end != self.segment_len {
            self.segment.set_len(self.segment_len)?;
            self.segment.sync_all()?;
            self.zeroed_end = self.segment_len;
        }
        Ok(())
    }

    /// Seals the segment and gives up the writer's lock; nothing is written after.
    fn close(&mut self) -> io::Result<()> {
        if self.lock.is_none() {
            return Ok(());
        }
        let sealed = self.seal();
        self.poisoned = Some("the log is closed".into());
        self.lock = None;
        sealed
    }

    fn rotate(&mut self, first_seq: u64) -> io::Result<()> {
        let path = segment_path(&self.dir, first_seq);
        // An earlier attempt may have created the file and failed later: an empty one is
        // reused, anything else is not ours to append to.
        if fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not empty", path.display()),
            ));
        }
        // Sealed (and synced) before the next segment exists: only the last segment
        // ever carries padding.
        self.seal()?;
        let segment = private_file(&path, false)?;
        sync_dir(&self.dir)?;
        self.segment = segment;
        self.segment_len = 0;
        self.zeroed_end = 0;
        // A new segment tries padding again: space may have been freed.
        self.padding = true;
        Ok(())
    }

    fn append_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), String> {
        if let Some(reason) = &self.poisoned {
            return Err(reason.clone());
        }
        let line = format!("{}\n", checkpoint.to_line());
        let before = self.checkpoints.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
        let written = self.checkpoints.write_all(line.as_bytes()).and_then(|()| self.checkpoints.sync_data());
        if let Err(error) = written {
            // A half-written line followed by the next checkpoint would read as damage.
            let cut = self.checkpoints.set_len(before).and_then(|()| self.checkpoints.sync_all());
            if let Err(cut_error) = cut {
                let reason = format!(
                    "checkpoint write failed ({error}) and could not be undone ({cut_error}); the log needs attention"
                );
                self.poisoned = Some(reason.clone());
                return Err(reason);
            }
            return Err(format!("checkpoint write failed: {error}"));
        }
        Ok(())
    }
}

impl Backend for FileBackend {
    // Writing and syncing block in place: the log gives this backend a thread of its own.
    const BLOCKING: bool = true;

    // The I/O happens when the future is polled, as for any backend.
    fn append(&mut self, records: Vec<EncodedRecord>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.state.append(&records).map_err(BackendError) })
    }

    fn append_checkpoint<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move { self.state.append_checkpoint(checkpoint).map_err(BackendError) })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(
            async move { self.state.close().map_err(|e| BackendError(format!("sealing the segment: {e}"))) },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::merkle::Hash;

    fn records(sizes: &[usize]) -> Vec<EncodedRecord> {
        let keys = HmacKeyring::from_text("unit-test-hmac-key-0123456789-abcdefghij").unwrap();
        let mut prev: Hash = [0; 32];
        let mut seq = 0;
        sizes
            .iter()
            .map(|&size| {
                let record = crate::record::encode(
                    &format!("{{\"pad\":\"{}\"}}", "x".repeat(size)),
                    seq,
                    keys.active(),
                    &prev,
                );
                prev = record.mac;
                seq += 1;
                record
            })
            .collect()
    }

    fn backend(dir: &Path) -> FileBackend {
        let signer = crate::CheckpointSigner::generate().unwrap();
        let keys = HmacKeyring::from_text("unit-test-hmac-key-0123456789-abcdefghij").unwrap();
        FileBackend::open(FileBackendConfig::new(dir), &signer.public_key(), &keys).unwrap().0
    }

    #[test]
    fn a_batch_is_written_in_pieces_of_at_most_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = backend(dir.path());
        // 7 records of 600 KiB: no two fit in one 1 MiB piece; then small ones share one.
        let mut sizes = vec![600 << 10; 7];
        sizes.extend([100; 50]);
        let batch = records(&sizes);
        let total: u64 = batch.iter().map(|r| r.line.len() as u64 + 1).sum();
        backend.state.append(&batch).unwrap();
        assert_eq!(backend.state.pieces, 7, "one piece per large record; the small ones join the last");
        assert_eq!(backend.state.segment_len, total);
        assert!(backend.state.zeroed_end >= total && backend.state.zeroed_end.is_multiple_of(4096));
        // A record larger than the window goes alone, in one piece.
        backend.state.append(&records(&[3 << 20, 100])).unwrap();
        assert_eq!(backend.state.pieces, 9);
    }

    #[test]
    fn a_tail_is_torn_only_as_a_crash_leaves_it() {
        // (tail, its file offset, torn?)
        let hole_to_boundary = [vec![0u8; 12], b"{\"entry\":1}".to_vec(), b"\n".to_vec()].concat();
        let cases: &[(&[u8], u64, bool)] = &[
            (b"{\"entry\":", 100, true),       // no newline: an unfinished write
            (b"not json\n", 100, false),       // whole and without holes: changed
            (&hole_to_boundary, 500, true),    // zeros from the line start to a sector boundary
            (&hole_to_boundary, 501, false),   // ... that end off a boundary
            (b"{\"a\0\0\":1}\n", 1000, false), // a run inside a sector
        ];
        for (i, (tail, at, torn)) in cases.iter().enumerate() {
            assert_eq!(tail_is_torn(tail, *at), *torn, "case {i}");
        }
    }
}
