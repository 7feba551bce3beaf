//! The file source: text or JSON lines from a file, a directory or a glob,
//! split into byte ranges that parallel readers share.
//!
//! A split owns every line that *starts* inside its range: a reader whose
//! range begins mid-line skips to the next line, and reads its own last
//! line to the end even past the range. So every line is read exactly once
//! whatever the split sizes.

use crate::watermarks::WatermarkTracker;
use crate::{ConnectorError, SourceReader, SourceStatus};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use weir_checkpoint::{FileSplitState, SourceState};
use weir_core::spec::{EventTimeSpec, MalformedPolicy, RecordFormat};
use weir_core::{Batch, Outputs};
use weir_wire::NO_TIMESTAMP;

/// A byte range of one file, and where reading it resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSplit {
    /// The file.
    pub path: PathBuf,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Offset of the next line to read: `start` for a new split (whose
    /// first partial line is skipped), the start of a line when resumed.
    pub position: u64,
}

impl FileSplit {
    /// The split as a checkpoint records it.
    pub fn state(&self) -> FileSplitState {
        FileSplitState {
            path: self.path.display().to_string(),
            start: self.start,
            end: self.end,
            position: self.position,
        }
    }

    /// A split restored from a checkpoint.
    pub fn from_state(s: &FileSplitState) -> Self {
        FileSplit {
            path: PathBuf::from(&s.path),
            start: s.start,
            end: s.end,
            position: s.position,
        }
    }
}

const MIN_SPLIT: u64 = 1 << 20;

/// An I/O error naming the file; the name is rendered only on failure
/// (this wraps every line read).
fn io<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> ConnectorError + 'p {
    move |source| ConnectorError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// The files a path names: the file itself, every visible file of a
/// directory, or every file matching a glob, sorted by name.
fn list_files(pattern: &str) -> Result<Vec<PathBuf>, ConnectorError> {
    let path = Path::new(pattern);
    let mut files = if pattern.contains(['*', '?', '[']) {
        glob::glob(pattern)
            .map_err(|e| ConnectorError::NoFiles(format!("invalid pattern '{pattern}': {e}")))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect::<Vec<_>>()
    } else {
        let meta = std::fs::metadata(path).map_err(io("cannot read", path))?;
        if meta.is_dir() {
            std::fs::read_dir(path)
                .map_err(io("cannot list", path))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        } else {
            vec![path.to_owned()]
        }
    };
    files.sort();
    if files.is_empty() {
        return Err(ConnectorError::NoFiles(format!(
            "'{pattern}' names no files"
        )));
    }
    Ok(files)
}

/// Splits the files `pattern` names for `readers` parallel readers.
pub fn plan_splits(pattern: &str, readers: u32) -> Result<Vec<FileSplit>, ConnectorError> {
    let files = list_files(pattern)?;
    let mut sized = Vec::with_capacity(files.len());
    for f in files {
        let len = std::fs::metadata(&f).map_err(io("cannot read", &f))?.len();
        sized.push((f, len));
    }
    let total: u64 = sized.iter().map(|(_, l)| l).sum();
    let split = total.div_ceil(u64::from(readers.max(1))).max(MIN_SPLIT);
    let mut splits = Vec::new();
    for (path, len) in sized {
        let mut start = 0;
        loop {
            let end = (start + split).min(len);
            splits.push(FileSplit {
                path: path.clone(),
                start,
                end,
                position: start,
            });
            if end >= len {
                break;
            }
            start = end;
        }
    }
    Ok(splits)
}

struct OpenSplit {
    /// Distinguishes the splits a reader opens, in order.
    serial: u64,
    reader: BufReader<File>,
    name: String,
    path: PathBuf,
    start: u64,
    /// Offset of the next line.
    pos: u64,
    end: u64,
    /// The 1-based number of the line read last, once known: counted from
    /// the file's start when the split begins there, else found (once) when
    /// a message needs it.
    line_no: Option<u64>,
}

/// Default longest line (`max_line_bytes`).
pub const DEFAULT_MAX_LINE: usize = 8 << 20;

/// Bytes of an over-long line kept in its dead letter.
const LINE_PREVIEW: usize = 1024;

/// How a file source reads its lines.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Text or JSON lines.
    pub format: RecordFormat,
    /// What malformed (unparsable or over-long) lines do.
    pub on_malformed: MalformedPolicy,
    /// Event time, if records get timestamps.
    pub event_time: Option<EventTimeSpec>,
    /// Longest line kept; longer ones are malformed.
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: RecordFormat::Text,
            on_malformed: MalformedPolicy::Fail,
            event_time: None,
            max_line_bytes: DEFAULT_MAX_LINE,
        }
    }
}

impl ReadOptions {
    /// The options a job's file source sets.
    pub fn of(spec: &weir_core::spec::FileSourceSpec) -> Self {
        ReadOptions {
            format: spec.format,
            on_malformed: spec.on_malformed,
            event_time: spec.event_time.clone(),
            max_line_bytes: spec.max_line_bytes.map_or(DEFAULT_MAX_LINE, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
        }
    }
}

/// Reads one line into `line`, keeping at most `max` bytes of it; returns
/// the bytes consumed (the whole line, with its newline) and whether the
/// line was longer than `max`.
fn read_line_capped(
    r: &mut BufReader<File>,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut long = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((consumed, long));
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        // The newline is kept (push_line strips it) unless the line is cut.
        let room = (max + 1).saturating_sub(line.len());
        if take > room {
            long = true;
        }
        line.extend_from_slice(&buf[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            let body = if line.ends_with(b"\n") {
                line.len() - 1
            } else {
                line.len()
            };
            if body > max {
                long = true;
            }
            return Ok((consumed, long));
        }
    }
}

/// Splits read one after another, and the one being read.
struct Lane {
    splits: VecDeque<FileSplit>,
    current: Option<OpenSplit>,
}

/// Gives records their event timestamps (a guest function at the source).
pub trait TimestampAssigner: Send {
    /// Appends one timestamp per record of `records` to `out`, in order.
    fn assign(&mut self, records: &Batch, out: &mut Vec<i64>) -> Result<(), ConnectorError>;
}

/// How a reader with several files orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrder {
    /// Each file to its end, then the next.
    Sequential,
    /// A batch from each open file in turn (at most 16 files open), so
    /// that every file's event time advances together.
    Interleaved,
}

/// At most this many files are read in turn.
const MAX_OPEN_LANES: usize = 16;

/// One parallel reader of a file source.
pub struct FileReader {
    lanes: VecDeque<Lane>,
    format: RecordFormat,
    policy: MalformedPolicy,
    line: Vec<u8>,
    /// Length of the line read last, when it was longer than the cap.
    long_line: Option<usize>,
    max_line: usize,
    event_time: Option<EventTimeSpec>,
    watermarks: Option<WatermarkTracker>,
    assigner: Option<Box<dyn TimestampAssigner>>,
    order: FileOrder,
    /// Splits of the records of the current poll: (first record, split
    /// serial, file).
    segments: Vec<(usize, u64, PathBuf)>,
    opened: u64,
    stamps: Vec<i64>,
}

impl FileReader {
    /// A reader of `splits`; with `event_time`, records get timestamps and
    /// the reader tracks a watermark per file.
    pub fn new(splits: Vec<FileSplit>, options: ReadOptions) -> Self {
        let ReadOptions {
            format,
            on_malformed: policy,
            event_time,
            max_line_bytes,
        } = options;
        let watermarks = event_time.as_ref().map(|e| {
            WatermarkTracker::new(
                splits.iter().map(|s| s.path.as_path()),
                e.max_out_of_orderness_ms,
            )
        });
        let order = match &event_time {
            Some(e) if !e.sequential_files => FileOrder::Interleaved,
            _ => FileOrder::Sequential,
        };
        let mut lanes: VecDeque<Lane> = VecDeque::new();
        for split in splits {
            match lanes.back_mut() {
                Some(l)
                    if order == FileOrder::Sequential
                        || l.splits.back().is_some_and(|b| b.path == split.path) =>
                {
                    l.splits.push_back(split)
                }
                _ => lanes.push_back(Lane {
                    splits: VecDeque::from([split]),
                    current: None,
                }),
            }
        }
        FileReader {
            lanes,
            format,
            policy,
            line: Vec::with_capacity(256),
            long_line: None,
            max_line: max_line_bytes,
            event_time,
            watermarks,
            assigner: None,
            order,
            segments: Vec::new(),
            opened: 0,
            stamps: Vec::new(),
        }
    }

    /// Timestamps come from `assigner` (with `event_time`).
    pub fn with_assigner(mut self, assigner: Box<dyn TimestampAssigner>) -> Self {
        self.assigner = Some(assigner);
        self
    }

    /// The order files are read in.
    pub fn order(&self) -> FileOrder {
        self.order
    }

    /// The event timestamp of a JSON line, by the configured field.
    fn json_timestamp(&self, text: &[u8]) -> Result<i64, String> {
        let field = match &self.event_time {
            Some(EventTimeSpec { field: Some(f), .. }) => f,
            _ => return Ok(crate::now_ms()),
        };
        let v: serde_json::Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        v.get(field)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| format!("no integer timestamp field '{field}'"))
    }

    fn open(split: FileSplit, serial: u64) -> Result<OpenSplit, ConnectorError> {
        let file = File::open(&split.path).map_err(io("cannot read", &split.path))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut pos = split.start;
        let line_no = (split.start == 0 && split.position == 0).then_some(0);
        if split.position > split.start {
            // Resumed: the position is the start of a line.
            reader
                .seek(SeekFrom::Start(split.position))
                .map_err(io("cannot read", &split.path))?;
            pos = split.position;
        } else if split.start > 0 {
            reader
                .seek(SeekFrom::Start(split.start - 1))
                .map_err(io("cannot read", &split.path))?;
            let mut skipped = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skipped)
                .map_err(io("cannot read", &split.path))?;
            pos = split.start - 1 + n as u64;
        }
        Ok(OpenSplit {
            serial,
            reader,
            name: split.path.display().to_string(),
            path: split.path,
            start: split.start,
            pos,
            end: split.end,
            line_no,
        })
    }

    /// Reads the next line of the front lane into `self.line`; returns the
    /// serial of the split it came from (the lane's current split) and the
    /// line's offset, or `None` when the lane is exhausted (it is then
    /// removed).
    fn next_line(&mut self) -> Result<Option<(u64, u64)>, ConnectorError> {
        loop {
            let Some(lane) = self.lanes.front_mut() else {
                return Ok(None);
            };
            let split = match &mut lane.current {
                Some(s) => s,
                None => match lane.splits.pop_front() {
                    Some(next) => {
                        self.opened += 1;
                        lane.current.insert(Self::open(next, self.opened)?)
                    }
                    None => {
                        self.lanes.pop_front();
                        return Ok(None);
                    }
                },
            };
            if split.pos < split.end {
                self.line.clear();
                let (n, long) = read_line_capped(&mut split.reader, &mut self.line, self.max_line)
                    .map_err(io("cannot read", &split.path))?;
                if n > 0 {
                    let at = split.pos;
                    split.pos += n as u64;
                    split.line_no = split.line_no.map(|l| l + 1);
                    self.long_line = long.then_some(n);
                    return Ok(Some((split.serial, at)));
                }
            }
            // The split is done.
            if let Some(s) = lane.current.take()
                && let Some(w) = &mut self.watermarks
            {
                w.split_done(&s.path);
            }
        }
    }

    /// The file name and 1-based number of the line just read, which
    /// started at `line_start` (found once per split when not counted).
    fn where_is(&mut self, line_start: u64) -> Result<(String, u64), ConnectorError> {
        let Some(split) = self.lanes.front_mut().and_then(|l| l.current.as_mut()) else {
            return Err(ConnectorError::Corrupt("no split for a line".into()));
        };
        let n = match split.line_no {
            Some(n) => n,
            None => {
                let n = line_number(&split.path, line_start);
                split.line_no = Some(n);
                n
            }
        };
        Ok((split.name.clone(), n))
    }

    /// A line that cannot become a record: fails the job, or goes to the
    /// `malformed` side output as `{"file", "line", "error", "text"}`.
    fn malformed(
        &mut self,
        out: &mut Outputs,
        line_start: u64,
        error: String,
        text: &[u8],
    ) -> Result<(), ConnectorError> {
        let (file, line) = self.where_is(line_start)?;
        match self.policy {
            MalformedPolicy::Fail => Err(ConnectorError::Malformed {
                file,
                line,
                message: error,
            }),
            MalformedPolicy::DeadLetter => {
                let dead = serde_json::json!({
                    "file": file,
                    "line": line,
                    "error": error,
                    "text": String::from_utf8_lossy(text),
                });
                out.side(weir_core::spec::MALFORMED_OUTPUT).push(
                    NO_TIMESTAMP,
                    &[],
                    dead.to_string().as_bytes(),
                );
                Ok(())
            }
        }
    }

    /// Turns the line just read into a record (or a dead letter) stamped
    /// `ingestion`.
    fn push_line(
        &mut self,
        out: &mut Outputs,
        line_start: u64,
        ingestion: i64,
    ) -> Result<(), ConnectorError> {
        if let Some(len) = self.long_line {
            let error = format!(
                "the line is {len} bytes long, more than the source's max_line_bytes = {}",
                self.max_line
            );
            let keep = self.line.len().min(LINE_PREVIEW).min(self.max_line);
            let preview = self.line[..keep].to_vec();
            return self.malformed(out, line_start, error, &preview);
        }
        let mut text = &self.line[..];
        if let Some(t) = text.strip_suffix(b"\n") {
            text = t;
        }
        if let Some(t) = text.strip_suffix(b"\r") {
            text = t;
        }
        match self.format {
            RecordFormat::Text => match text.is_ascii() || std::str::from_utf8(text).is_ok() {
                true => out.main.push(ingestion, &[], text),
                false => {
                    let lossy = String::from_utf8_lossy(text);
                    out.main.push(ingestion, &[], lossy.as_bytes());
                }
            },
            RecordFormat::Json => {
                if text.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                let by_field = self.assigner.is_none()
                    && self.event_time.as_ref().is_some_and(|e| e.field.is_some());
                let parsed = if by_field {
                    self.json_timestamp(text)
                } else {
                    serde_json::from_slice::<serde::de::IgnoredAny>(text)
                        .map(|_| ingestion)
                        .map_err(|e| e.to_string())
                };
                match parsed {
                    Ok(ts) => out.main.push(ts, &[], text),
                    Err(e) => {
                        let text = text.to_vec();
                        return self.malformed(out, line_start, e, &text);
                    }
                }
            }
        }
        Ok(())
    }

    /// Assigns timestamps with the guest function (if any), then lets each
    /// file's watermark see its records' timestamps.
    fn stamp_and_observe(&mut self, out: &mut Outputs) -> Result<(), ConnectorError> {
        if self.watermarks.is_none() || out.main.is_empty() {
            return Ok(());
        }
        if let Some(a) = &mut self.assigner {
            self.stamps.clear();
            a.assign(&out.main, &mut self.stamps)?;
            if self.stamps.len() != out.main.len() {
                return Err(ConnectorError::Assigner {
                    domain: weir_core::ErrorDomain::User,
                    message: format!(
                        "the timestamp assigner returned {} timestamps for {} records",
                        self.stamps.len(),
                        out.main.len()
                    ),
                });
            }
            out.main
                .set_timestamps(&self.stamps)
                .map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
        }
        let Some(w) = &mut self.watermarks else {
            return Ok(());
        };
        // One observation per file segment: its highest timestamp.
        let mut seg = 0;
        let mut max = i64::MIN;
        for (i, r) in out.main.iter().enumerate() {
            let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
            while seg + 1 < self.segments.len() && self.segments[seg + 1].0 <= i {
                if let Some((_, _, path)) = self.segments.get(seg) {
                    w.observe(path, max);
                }
                max = i64::MIN;
                seg += 1;
            }
            max = max.max(r.ts);
        }
        if let Some((_, _, path)) = self.segments.get(seg) {
            w.observe(path, max);
        }
        Ok(())
    }
}

/// 1-based line number of the line starting at `offset`: counts the
/// newlines before it, once per split (only for reports of malformed
/// lines).
fn line_number(path: &Path, offset: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut newlines = 0u64;
    let mut buf = [0u8; 64 * 1024];
    let mut left = offset;
    let mut r = file.take(offset);
    while left > 0 {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                left -= n as u64;
            }
        }
    }
    newlines + 1
}

impl SourceReader for FileReader {
    fn poll(
        &mut self,
        out: &mut Outputs,
        max_bytes: usize,
    ) -> Result<SourceStatus, ConnectorError> {
        self.segments.clear();
        let lanes_at_start = self.lanes.len();
        // Ingestion time, once per poll; a timestamp assigner or a field
        // replaces it.
        let ingestion = match &self.event_time {
            Some(_) if self.assigner.is_none() => crate::now_ms(),
            Some(_) => 0,
            None => NO_TIMESTAMP,
        };
        while out.main.byte_len() < max_bytes {
            let Some((serial, at)) = self.next_line()? else {
                if self.lanes.is_empty() {
                    break;
                }
                // The front lane is done; interleaved reading moves on
                // with the next poll, sequential reading right away.
                if self.order == FileOrder::Interleaved && self.lanes.len() < lanes_at_start {
                    break;
                }
                continue;
            };
            if self.watermarks.is_some() && self.segments.last().is_none_or(|s| s.1 != serial) {
                let path = self
                    .lanes
                    .front()
                    .and_then(|l| l.current.as_ref())
                    .map(|s| s.path.clone())
                    .unwrap_or_default();
                self.segments.push((out.main.len(), serial, path));
            }
            self.push_line(out, at, ingestion)?;
        }
        self.stamp_and_observe(out)?;
        if self.order == FileOrder::Interleaved
            && self.lanes.len() > 1
            && self.lanes.len() == lanes_at_start
        {
            // Next poll reads the next file (of the first few open ones).
            let open = self.lanes.len().min(MAX_OPEN_LANES);
            if let Some(l) = self.lanes.pop_front() {
                self.lanes.insert(open - 1, l);
            }
        }
        Ok(
            if self.lanes.is_empty() && out.main.is_empty() && out.side.is_empty() {
                SourceStatus::Finished
            } else {
                SourceStatus::More
            },
        )
    }

    fn watermark(&self) -> Option<i64> {
        self.watermarks.as_ref().map(WatermarkTracker::watermark)
    }

    fn idle_timeout(&self) -> Option<std::time::Duration> {
        self.event_time
            .as_ref()
            .and_then(|e| e.idle_timeout_ms)
            .map(std::time::Duration::from_millis)
    }

    /// Every split not yet read to its end, with where it resumes.
    fn position(&self) -> Option<SourceState> {
        let mut splits = Vec::new();
        for lane in &self.lanes {
            if let Some(c) = &lane.current
                && c.pos < c.end
            {
                splits.push(FileSplitState {
                    path: c.path.display().to_string(),
                    start: c.start,
                    end: c.end,
                    position: c.pos,
                });
            }
            splits.extend(lane.splits.iter().map(FileSplit::state));
        }
        Some(SourceState::Files(splits))
    }
}

#[cfg(test)]
mod tests;
