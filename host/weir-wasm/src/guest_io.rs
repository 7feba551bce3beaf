//! A guest's standard output and error: always writable, bounded per call,
//! forwarded line by line to `tracing` after each call at a limited rate.
//!
//! Printing never fails a guest (a full pipe would make Rust's `println!`
//! panic): what does not fit is counted and dropped. The last bytes a call
//! wrote to standard error are kept apart, so that a trap can be reported
//! with what the guest printed just before it (a Rust panic message, a
//! Python traceback, a JavaScript error).

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Longest line kept; the rest of a longer line is cut.
const MAX_LINE: usize = 4096;
/// Lines kept per call per stream; later ones are counted as dropped.
const MAX_LINES_PER_CALL: usize = 1000;
/// Bytes of standard error kept for the message of a trap.
const TAIL: usize = 4096;
/// What a guest may write in one `write`: WASI streams hand out permits.
const PERMIT: usize = 64 * 1024;

/// What one stream collected.
#[derive(Default)]
struct Collected {
    /// The line being written (not ended yet).
    partial: Vec<u8>,
    /// Whether `partial` was cut at `MAX_LINE`.
    cut: bool,
    /// Complete lines since the last drain.
    lines: Vec<String>,
    /// Lines dropped since the last drain (over `MAX_LINES_PER_CALL`).
    dropped: u64,
    /// The last bytes written since the call began.
    tail: Vec<u8>,
}

impl Collected {
    fn write(&mut self, mut bytes: &[u8]) {
        self.keep_tail(bytes);
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.extend_partial(&bytes[..i]);
                    self.end_line();
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.extend_partial(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn extend_partial(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self) {
        if self.lines.len() < MAX_LINES_PER_CALL {
            let mut line = String::from_utf8_lossy(&self.partial).into_owned();
            if line.ends_with('\r') {
                line.pop();
            }
            if self.cut {
                line.push_str(" [line cut]");
            }
            self.lines.push(line);
        } else {
            self.dropped += 1;
        }
        self.partial.clear();
        self.cut = false;
    }

    fn keep_tail(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(TAIL)..];
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 2 * TAIL {
            let cut = self.tail.len() - TAIL;
            self.tail.drain(..cut);
        }
    }
}

/// One standard stream of a guest (output or error).
#[derive(Clone, Default)]
pub(crate) struct GuestStream {
    inner: Arc<Mutex<Collected>>,
}

impl GuestStream {
    fn with<R>(&self, f: impl FnOnce(&mut Collected) -> R) -> Option<R> {
        self.inner.lock().ok().map(|mut c| f(&mut c))
    }

    /// Forgets the tail (a new call begins).
    pub(crate) fn begin_call(&self) {
        self.with(|c| c.tail.clear());
    }

    /// What the current call wrote last, as text.
    pub(crate) fn tail(&self) -> String {
        self.with(|c| String::from_utf8_lossy(&c.tail).into_owned())
            .unwrap_or_default()
    }

    /// Takes the complete lines and the count of dropped ones.
    fn drain(&self) -> (Vec<String>, u64) {
        self.with(|c| (std::mem::take(&mut c.lines), std::mem::take(&mut c.dropped)))
            .unwrap_or_default()
    }

    /// Ends the line being written (the instance goes away).
    fn end_partial(&self) {
        self.with(|c| {
            if !c.partial.is_empty() {
                c.end_line();
            }
        });
    }
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.with(|c| c.write(&bytes));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.with(|c| c.write(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Where a guest's lines go: `tracing` events with target `weir::guest`
/// and the operator and sub-task as fields, at most `per_second` lines a
/// second (with a burst of as many), and a count of what was dropped.
pub(crate) struct GuestLog {
    pub(crate) stdout: GuestStream,
    pub(crate) stderr: GuestStream,
    operator: String,
    subtask: u32,
    per_second: u32,
    tokens: f64,
    refilled: Instant,
    dropped: u64,
    reported: Instant,
}

impl GuestLog {
    /// A log for the instance of `operator` in sub-task `subtask`.
    pub(crate) fn new(operator: &str, subtask: u32, per_second: u32) -> Self {
        let now = Instant::now();
        GuestLog {
            stdout: GuestStream::default(),
            stderr: GuestStream::default(),
            operator: operator.to_owned(),
            subtask,
            per_second,
            tokens: f64::from(per_second),
            refilled: now,
            dropped: 0,
            reported: now,
        }
    }

    /// A call begins: the standard-error tail starts afresh.
    pub(crate) fn begin_call(&self) {
        self.stderr.begin_call();
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let rate = f64::from(self.per_second);
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(rate);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forwards what the guest printed since the last call, as the rate
    /// allows, and reports dropped lines about once a second.
    pub(crate) fn forward(&mut self) {
        for (stream, is_err) in [(self.stdout.clone(), false), (self.stderr.clone(), true)] {
            let (lines, dropped) = stream.drain();
            self.dropped += dropped;
            for line in lines {
                if !self.take_token() {
                    self.dropped += 1;
                    continue;
                }
                let (operator, subtask) = (self.operator.as_str(), self.subtask);
                if is_err {
                    tracing::warn!(target: "weir::guest", operator, subtask, stream = "stderr", "{line}");
                } else {
                    tracing::info!(target: "weir::guest", operator, subtask, stream = "stdout", "{line}");
                }
            }
        }
        if self.dropped > 0 && self.reported.elapsed().as_secs() >= 1 {
            self.report_dropped();
        }
    }

    fn report_dropped(&mut self) {
        let (operator, subtask) = (self.operator.as_str(), self.subtask);
        tracing::warn!(
            target: "weir::guest",
            operator,
            subtask,
            dropped = self.dropped,
            "{} lines of guest output dropped (more than sandbox.max_log_lines_per_second = {})",
            self.dropped,
            self.per_second
        );
        self.dropped = 0;
        self.reported = Instant::now();
    }
}

impl Drop for GuestLog {
    fn drop(&mut self) {
        self.stdout.end_partial();
        self.stderr.end_partial();
        self.forward();
        if self.dropped > 0 {
            self.report_dropped();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_assembled_cut_and_bounded() {
        let mut c = Collected::default();
        c.write(b"one\ntw");
        c.write(b"o\r\nthree");
        assert_eq!(c.lines, vec!["one", "two"]);
        assert_eq!(c.partial, b"three");
        c.write(&vec![b'x'; MAX_LINE * 3]);
        c.write(b"\n");
        assert_eq!(c.lines.len(), 3);
        assert!(c.lines[2].starts_with("threexx") && c.lines[2].ends_with("[line cut]"));
        assert_eq!(c.lines[2].len(), MAX_LINE + " [line cut]".len());
        for _ in 0..MAX_LINES_PER_CALL + 10 {
            c.write(b"spam\n");
        }
        assert_eq!(c.lines.len(), MAX_LINES_PER_CALL);
        assert_eq!(c.dropped, 13);
    }

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut c = Collected::default();
        for i in 0..10_000 {
            c.write(format!("line {i}\n").as_bytes());
        }
        let tail = String::from_utf8_lossy(&c.tail).into_owned();
        assert!(tail.len() <= 2 * TAIL);
        assert!(tail.ends_with("line 9999\n"), "{tail}");
    }

    #[test]
    fn the_rate_limit_drops_and_counts() {
        let mut log = GuestLog::new("op", 0, 10);
        for i in 0..50 {
            log.stdout
                .inner
                .lock()
                .expect("lock")
                .write(format!("{i}\n").as_bytes());
        }
        log.forward();
        assert_eq!(log.dropped, 40, "a burst of 10 passes, 40 are dropped");
        log.dropped = 0;
    }
}
