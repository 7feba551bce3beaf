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
use weir_core::Outputs;
use weir_core::spec::{EventTimeSpec, MalformedPolicy, RecordFormat};
use weir_wire::NO_TIMESTAMP;

/// A byte range of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSplit {
    /// The file.
    pub path: PathBuf,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

const MIN_SPLIT: u64 = 1 << 20;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ConnectorError {
    let path = path.display().to_string();
    move |source| ConnectorError::Io {
        action,
        path,
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
    reader: BufReader<File>,
    name: String,
    path: PathBuf,
    /// Offset of the next line.
    pos: u64,
    end: u64,
}

/// One parallel reader of a file source.
pub struct FileReader {
    splits: VecDeque<FileSplit>,
    current: Option<OpenSplit>,
    format: RecordFormat,
    policy: MalformedPolicy,
    line: Vec<u8>,
    event_time: Option<EventTimeSpec>,
    watermarks: Option<WatermarkTracker>,
}

impl FileReader {
    /// A reader of `splits`; with `event_time`, records get timestamps and
    /// the reader tracks a watermark per file.
    pub fn new(
        splits: Vec<FileSplit>,
        format: RecordFormat,
        policy: MalformedPolicy,
        event_time: Option<EventTimeSpec>,
    ) -> Self {
        let watermarks = event_time.as_ref().map(|e| {
            WatermarkTracker::new(
                splits.iter().map(|s| s.path.as_path()),
                e.max_out_of_orderness_ms,
            )
        });
        FileReader {
            splits: splits.into(),
            current: None,
            format,
            policy,
            line: Vec::with_capacity(256),
            event_time,
            watermarks,
        }
    }

    fn finish_split(&mut self) {
        if let (Some(s), Some(w)) = (self.current.take(), &mut self.watermarks) {
            w.split_done(&s.path);
        }
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

    fn open(split: FileSplit) -> Result<OpenSplit, ConnectorError> {
        let file = File::open(&split.path).map_err(io("cannot read", &split.path))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut pos = split.start;
        if split.start > 0 {
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
            reader,
            name: split.path.display().to_string(),
            path: split.path,
            pos,
            end: split.end,
        })
    }
}

/// 1-based line number of the line starting at `offset` (slow path, only
/// for error reports).
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
        while out.main.byte_len() < max_bytes {
            let split = match &mut self.current {
                Some(s) => s,
                None => match self.splits.pop_front() {
                    Some(next) => self.current.insert(Self::open(next)?),
                    None => {
                        return Ok(if out.main.is_empty() && out.side.is_empty() {
                            SourceStatus::Finished
                        } else {
                            SourceStatus::More
                        });
                    }
                },
            };
            if split.pos >= split.end {
                self.finish_split();
                continue;
            }
            self.line.clear();
            let n = split
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(io("cannot read", &split.path))?;
            if n == 0 {
                self.finish_split();
                continue;
            }
            let line_start = split.pos;
            split.pos += n as u64;
            let mut text = &self.line[..];
            if let Some(t) = text.strip_suffix(b"\n") {
                text = t;
            }
            if let Some(t) = text.strip_suffix(b"\r") {
                text = t;
            }
            let path = split.path.clone();
            let name = split.name.clone();
            match self.format {
                RecordFormat::Text => {
                    let ts = if self.event_time.is_some() {
                        crate::now_ms()
                    } else {
                        NO_TIMESTAMP
                    };
                    match std::str::from_utf8(text) {
                        Ok(_) => out.main.push(ts, &[], text),
                        Err(_) => {
                            let lossy = String::from_utf8_lossy(text);
                            out.main.push(ts, &[], lossy.as_bytes());
                        }
                    }
                    if let Some(w) = &mut self.watermarks {
                        w.observe(&path, ts);
                    }
                }
                RecordFormat::Json => {
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let parsed = if self.event_time.is_some() {
                        self.json_timestamp(text).map(Some)
                    } else {
                        serde_json::from_slice::<serde::de::IgnoredAny>(text)
                            .map(|_| None)
                            .map_err(|e| e.to_string())
                    };
                    match parsed {
                        Ok(ts) => {
                            out.main.push(ts.unwrap_or(NO_TIMESTAMP), &[], text);
                            if let (Some(w), Some(ts)) = (&mut self.watermarks, ts) {
                                w.observe(&path, ts);
                            }
                        }
                        Err(e) => {
                            let line = line_number(&path, line_start);
                            match self.policy {
                                MalformedPolicy::Fail => {
                                    return Err(ConnectorError::Malformed {
                                        file: name,
                                        line,
                                        message: e,
                                    });
                                }
                                MalformedPolicy::DeadLetter => {
                                    let dead = serde_json::json!({
                                        "file": name,
                                        "line": line,
                                        "error": e,
                                        "text": String::from_utf8_lossy(text),
                                    });
                                    out.side("malformed").push(
                                        NO_TIMESTAMP,
                                        &[],
                                        dead.to_string().as_bytes(),
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(SourceStatus::More)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(splits: Vec<FileSplit>) -> Vec<String> {
        let mut r = FileReader::new(splits, RecordFormat::Text, MalformedPolicy::Fail, None);
        let mut lines = Vec::new();
        loop {
            let mut out = Outputs::default();
            let status = r.poll(&mut out, 7).expect("reads");
            for rec in out.main.iter() {
                lines.push(String::from_utf8(rec.expect("frame").value.to_vec()).expect("utf8"));
            }
            if status == SourceStatus::Finished {
                return lines;
            }
        }
    }

    #[test]
    fn every_line_once_whatever_the_split_points() {
        let dir = std::env::temp_dir().join(format!("weir-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f.txt");
        let text = "alpha\nbe\n\ngamma delta\r\nlast-no-newline";
        std::fs::write(&path, text).expect("write");
        let want: Vec<String> = text.lines().map(str::to_owned).collect();
        let len = text.len() as u64;
        for a in 0..=len {
            for b in a..=len {
                let splits = [(0, a), (a, b), (b, len)]
                    .into_iter()
                    .filter(|(s, e)| s < e)
                    .map(|(start, end)| FileSplit {
                        path: path.clone(),
                        start,
                        end,
                    })
                    .collect::<Vec<_>>();
                // Read the splits by separate readers, as parallel readers do.
                let mut got = Vec::new();
                for s in splits {
                    got.extend(read_all(vec![s]));
                }
                assert_eq!(got, want, "split at {a} and {b}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
