//! The file backend: JSON-lines segments in one directory, group commit, rotation.
//!
//! ```text
//! DIR/segment-00000000000000000000.jsonl   records 0 …   (named by their first seq)
//! DIR/segment-00000000000000065536.jsonl   records 65536 …
//! DIR/checkpoints.jsonl                    signed checkpoints, one per line
//! DIR/writer.lock                          held while a writer has the log open
//! ```
//!
//! Each batch is written with one `write` and made durable with one `fdatasync` before
//! any of its entries is acknowledged. A failed write is cut back off the file, so the
//! file never keeps half a batch that callers were told failed. A crash can leave an
//! incomplete last line; on reopening it is moved aside to `<segment>.torn-<ms>` and
//! reported ([`TornTail`]); it was never acknowledged, so nothing accepted is lost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// Settings for [`FileBackend`].
#[derive(Debug, Clone)]
pub struct FileBackendConfig {
    /// The log directory.
    pub dir: PathBuf,
    /// A new segment starts once the current one reaches this size.
    pub max_segment_bytes: u64,
}

impl FileBackendConfig {
    /// Defaults (64 MiB segments) for `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), max_segment_bytes: 64 << 20 }
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
    segment_len: u64,
    next_seq: u64,
    checkpoints: File,
    max_segment_bytes: u64,
    /// Set when a failed write could not be cut back: the file's tail is unknown.
    poisoned: Option<String>,
    _lock: File,
}

/// Durable JSON-lines storage in a directory. See the module docs.
pub struct FileBackend {
    state: Arc<Mutex<FileState>>,
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
        let mut torn_record = None;
        for (n, (first, path)) in found.iter().enumerate() {
            if *first != replayer.size() {
                return Err(ReplayError::Damaged {
                    location: path.display().to_string(),
                    detail: format!("segment starts at seq {first}, expected {}", replayer.size()),
                }
                .into());
            }
            torn_record = replay_segment(path, n + 1 == count, &mut replayer)?;
        }
        let mut resume = replayer.finish()?;

        if complete < checkpoint_bytes.len() {
            let torn = set_aside(&checkpoints_path, &checkpoint_bytes[complete..], complete as u64)?;
            tracing::warn!(location = %torn.location, bytes = torn.bytes, kept_at = ?torn.kept_at,
                "audit checkpoints file had an incomplete last line (never used); set aside");
        }
        if let Some((path, bytes, keep)) = torn_record {
            let torn = set_aside(&path, &bytes, keep)?;
            tracing::warn!(location = %torn.location, bytes = torn.bytes, kept_at = ?torn.kept_at,
                "audit log had an incomplete last record (never acknowledged); set aside");
            resume.torn_tail = Some(torn);
        }

        let (segment_path, segment_len) = match found.last() {
            Some((_, path)) => (path.clone(), fs::metadata(path).map_err(io_err(path))?.len()),
            None => (segment_path(&dir, 0), 0),
        };
        let segment = private_file(&segment_path, true).map_err(io_err(&segment_path))?;
        let checkpoints_file = private_file(&checkpoints_path, true).map_err(io_err(&checkpoints_path))?;
        sync_dir(&dir).map_err(io_err(&dir))?;
        let state = FileState {
            dir,
            segment,
            segment_len,
            next_seq: resume.next_seq,
            checkpoints: checkpoints_file,
            max_segment_bytes: config.max_segment_bytes.max(1),
            poisoned: None,
            _lock: lock,
        };
        Ok((Self { state: Arc::new(Mutex::new(state)) }, resume))
    }
}

/// Opens (creating with mode 0600 if missing) a file for appending or locking.
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

/// Replays one segment, read-only. In the last segment an unreadable tail (a crash
/// mid-write) is returned for setting aside; anywhere else an unreadable line is damage.
fn replay_segment(
    path: &Path,
    last: bool,
    replayer: &mut Replayer<'_>,
) -> Result<Option<TornCandidate>, OpenError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io_err(path))?;
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
            Err(ReplayError::Damaged { .. }) if last && tail_is_torn(&bytes[offset..]) => {
                return Ok(Some((path.to_owned(), bytes[offset..].to_vec(), offset as u64)));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(None)
}

/// A crash mid-batch leaves a prefix of the batch: complete lines then at most one
/// partial line, or (on some filesystems) zero bytes. Anything with a newline-terminated
/// unreadable line followed by more data is not a crash artefact.
fn tail_is_torn(tail: &[u8]) -> bool {
    match tail.iter().position(|&b| b == b'\n') {
        None => true,
        Some(i) => tail[..i].iter().all(|&b| b == 0) && tail_is_torn(&tail[i + 1..]),
    }
}

fn set_aside(path: &Path, tail: &[u8], keep: u64) -> Result<TornTail, OpenError> {
    let aside = PathBuf::from(format!("{}.torn-{}", path.display(), identity_types::unix_now_ms()));
    fs::write(&aside, tail).map_err(io_err(&aside))?;
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

impl FileState {
    fn append(&mut self, records: &[EncodedRecord]) -> Result<(), String> {
        if let Some(reason) = &self.poisoned {
            return Err(reason.clone());
        }
        let Some(first) = records.first() else { return Ok(()) };
        if self.segment_len >= self.max_segment_bytes {
            self.rotate(first.seq).map_err(|e| format!("rotating segment: {e}"))?;
        }
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.line.len() + 1).sum());
        for record in records {
            buf.extend_from_slice(record.line.as_bytes());
            buf.push(b'\n');
        }
        let written = self.segment.write_all(&buf).and_then(|()| self.segment.sync_data());
        match written {
            Ok(()) => {
                self.segment_len += buf.len() as u64;
                self.next_seq = first.seq + records.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Cut back whatever part of the batch reached the file.
                let cut = self.segment.set_len(self.segment_len).and_then(|()| self.segment.sync_all());
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
        let segment = private_file(&path, true)?;
        sync_dir(&self.dir)?;
        self.segment = segment;
        self.segment_len = 0;
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
    fn append(&mut self, records: Vec<EncodedRecord>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let state = Arc::clone(&self.state);
            // Writing and syncing block: off the async workers, one blocking job per batch.
            tokio::task::spawn_blocking(move || {
                let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                state.append(&records)
            })
            .await
            .map_err(|e| BackendError(e.to_string()))?
            .map_err(BackendError)
        })
    }

    fn append_checkpoint<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let state = Arc::clone(&self.state);
            let checkpoint = checkpoint.clone();
            tokio::task::spawn_blocking(move || {
                state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).append_checkpoint(&checkpoint)
            })
            .await
            .map_err(|e| BackendError(e.to_string()))?
            .map_err(BackendError)
        })
    }
}
