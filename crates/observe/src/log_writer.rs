//! Log lines handed to a writer thread through one shared buffer.
//!
//! A request formats its line and appends the bytes to a buffer under a short lock; a
//! writer thread swaps the buffer out and writes it with one system call. Two things
//! make this cheaper on the request path than a channel of lines (what
//! `tracing_appender::non_blocking` does), both measured by `cargo xtask bench observe`:
//! - no allocation per line that another thread frees (with glibc's allocator, the
//!   writer thread freeing a request thread's line takes that thread's arena lock, and
//!   the two contend);
//! - no wake-up per line: the writer wakes when the buffer passes [`WAKE_AT`] bytes,
//!   every [`INTERVAL`] otherwise, and at once for warnings and errors (so the lines that
//!   matter most are on disk before a crash could lose them).
//!
//! Nothing is dropped: when the buffer holds [`CAPACITY`] bytes, a request waits for the
//! writer (back-pressure). Dropping the [`LogWriterGuard`] writes out every line queued.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The writer thread wakes once this much is queued.
pub(crate) const WAKE_AT: usize = 64 * 1024;
/// The longest a line waits before it is written.
pub(crate) const INTERVAL: Duration = Duration::from_millis(50);
/// Queued bytes beyond which a request waits for the writer.
pub(crate) const CAPACITY: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
struct State {
    buffer: Vec<u8>,
    /// A warning or error is queued: write now.
    urgent: bool,
    closing: bool,
    /// The writer thread has returned (or panicked): lines are dropped from now on
    /// rather than queued where nobody reads them, and nobody waits for room.
    gone: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer.
    wake: Condvar,
    /// Wakes requests waiting for room.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Appends are plain byte copies: the state is consistent even after a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, line: &[u8], urgent: bool) {
        let mut state = self.lock();
        while state.buffer.len() + line.len() > CAPACITY && !state.buffer.is_empty() && !state.gone {
            self.wake.notify_one();
            state = self.room.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.gone {
            return;
        }
        let before = state.buffer.len();
        state.buffer.extend_from_slice(line);
        let crossed = before < WAKE_AT && state.buffer.len() >= WAKE_AT;
        let wake = (urgent && !state.urgent) || crossed;
        state.urgent |= urgent;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// The `MakeWriter` side: cheap to clone, one per log layer.
#[derive(Debug, Clone)]
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
}

/// One line's writer; the bytes are queued as they are written (the `fmt` layer writes
/// a whole line at once).
#[derive(Debug)]
pub(crate) struct LineWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.shared.append(bytes, self.urgent);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared, urgent: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        LineWriter { shared: &self.shared, urgent: *meta.level() <= tracing::Level::WARN }
    }
}

/// Keeps the writer thread; dropping it writes out every queued line and joins it.
#[derive(Debug)]
pub(crate) struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How long dropping the guard waits for the queued lines to be written. A sink that
/// blocks (a pipe nobody reads) must not hold the process at exit.
const EXIT_WAIT: Duration = Duration::from_secs(5);

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closing = true;
        self.shared.wake.notify_one();
        let state = self
            .shared
            .room
            .wait_timeout_while(state, EXIT_WAIT, |state| !state.gone)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        let gone = state.gone;
        drop(state);
        if let Some(thread) = self.thread.take()
            && gone
        {
            let _ = thread.join();
        }
    }
}

/// Marks the writer gone when its thread returns or unwinds, and wakes everyone who
/// waits for it.
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.lock().gone = true;
        self.0.room.notify_all();
    }
}

/// Starts the writer thread over `sink`.
pub(crate) fn start(mut sink: impl Write + Send + 'static) -> std::io::Result<(LogWriter, LogWriterGuard)> {
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new().name("palisade-log-writer".into()).spawn(move || {
            let _gone = Gone(&shared);
            let mut spare = Vec::with_capacity(WAKE_AT);
            loop {
                let closing = {
                    let state = shared.lock();
                    let mut state = shared
                        .wake
                        .wait_timeout_while(state, INTERVAL, |state| {
                            !state.closing && !state.urgent && state.buffer.len() < WAKE_AT
                        })
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    std::mem::swap(&mut state.buffer, &mut spare);
                    state.urgent = false;
                    state.closing
                };
                shared.room.notify_all();
                if !spare.is_empty() {
                    // A failed write cannot be logged (it would come back here); stderr
                    // is the last resort, and may be broken too (never `eprintln!`,
                    // which panics then).
                    if let Err(error) = sink.write_all(&spare).and_then(|()| sink.flush()) {
                        let _ = writeln!(std::io::stderr(), "palisade: writing log lines failed: {error}");
                    }
                    spare.clear();
                    // Keep a burst's capacity for the next one, up to a bound.
                    spare.shrink_to(CAPACITY);
                }
                if closing && shared.lock().buffer.is_empty() {
                    return;
                }
            }
        })?
    };
    Ok((LogWriter { shared: Arc::clone(&shared) }, LogWriterGuard { shared, thread: Some(thread) }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Mutex as StdMutex;
    use std::time::Instant;

    use super::*;

    /// A sink the test can read, counting write calls.
    #[derive(Clone, Default)]
    struct Sink(Arc<StdMutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut inner = self.0.lock().unwrap();
            inner.0.extend_from_slice(bytes);
            inner.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn warning() -> &'static tracing::Metadata<'static> {
        struct Callsite;
        impl tracing::callsite::Callsite for Callsite {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &tracing::Metadata<'_> {
                &WARN_META
            }
        }
        static WARN_META: tracing::Metadata<'static> = tracing::Metadata::new(
            "warn",
            "test",
            tracing::Level::WARN,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&Callsite)),
            tracing::metadata::Kind::EVENT,
        );
        &WARN_META
    }

    #[test]
    fn every_line_arrives_in_order_and_whole_after_drop() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        // Whole lines in one write, as the `fmt` layer writes them.
                        let line = format!("thread {t} line {i:05} {}\n", "x".repeat(i % 300));
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let (bytes, writes) = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let own: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|rest| rest[..5].parse().unwrap())
                .collect();
            assert_eq!(own, (0..5_000).collect::<Vec<_>>(), "thread {t}'s lines in order");
        }
        // Many lines per write call, not one each.
        assert!(writes < 2_000, "{writes} writes for 20000 lines");
    }

    #[test]
    fn lines_reach_the_sink_without_a_flush_and_warnings_at_once() {
        let sink = Sink::default();
        let (writer, _guard) = start(sink.clone()).unwrap();
        writeln!(writer.make_writer(), "routine").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !String::from_utf8_lossy(&sink.0.lock().unwrap().0).contains("routine") {
            assert!(Instant::now() < deadline, "a quiet line is written within the interval");
            std::thread::sleep(Duration::from_millis(5));
        }
        writeln!(writer.make_writer_for(warning()), "warning").unwrap();
        let started = Instant::now();
        while !String::from_utf8_lossy(&sink.0.lock().unwrap().0).contains("warning") {
            assert!(started.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_dead_writer_never_holds_a_request() {
        /// A sink whose first write panics the writer thread.
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                panic!("the sink broke");
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (writer, guard) = start(Panics).unwrap();
        writer.make_writer_for(warning()).write_all(b"first\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !writer.shared.lock().gone {
            assert!(Instant::now() < deadline, "the writer thread ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        // More than the capacity: without the writer, each line is dropped, none waits.
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..8 {
            writer.make_writer().write_all(&line).unwrap();
        }
        assert!(writer.shared.lock().buffer.len() <= CAPACITY);
        drop(guard);
    }

    #[test]
    fn a_full_buffer_holds_the_writer_back_instead_of_dropping() {
        /// A sink slower than the writers.
        #[derive(Clone, Default)]
        struct Slow(Arc<StdMutex<usize>>);
        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                *self.0.lock().unwrap() += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Slow::default();
        let (writer, guard) = start(sink.clone()).unwrap();
        let line = vec![b'x'; 64 * 1024];
        for _ in 0..200 {
            writer.make_writer().write_all(&line).unwrap();
            assert!(writer.shared.lock().buffer.len() <= CAPACITY);
        }
        drop(guard);
        assert_eq!(*sink.0.lock().unwrap(), 200 * line.len());
    }
}
