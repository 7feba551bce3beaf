//! The end of a process's log file, as the REST API serves it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// At most this much of a log is served at once.
pub(crate) const MAX_LOG_BYTES: u64 = 1 << 20;

/// The last part of a log file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) modified_ms: i64,
    pub(crate) text: String,
}

/// The last `max` bytes (at most [`MAX_LOG_BYTES`]) of `path`, starting at
/// a line.
pub(crate) fn tail(path: &Path, max: u64) -> std::io::Result<Tail> {
    let max = if max == 0 {
        MAX_LOG_BYTES
    } else {
        max.min(MAX_LOG_BYTES)
    };
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    let size = meta.len();
    let from = size.saturating_sub(max);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::with_capacity((size - from) as usize);
    f.take(max).read_to_end(&mut bytes)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if from > 0
        && let Some(i) = text.find('\n')
    {
        text.drain(..=i);
    }
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    Ok(Tail {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size,
        modified_ms,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_starts_at_a_line_and_keeps_the_end() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, &text).expect("write");
        let t = tail(&p, 30).expect("tail");
        assert_eq!(t.size, text.len() as u64);
        assert_eq!(t.name, "x.log");
        assert!(t.text.starts_with("line "), "{:?}", t.text);
        assert!(t.text.ends_with("line 99\n"));
        assert!(t.text.len() <= 30);
        assert_eq!(tail(&p, 0).expect("all").text, text);
    }
}
