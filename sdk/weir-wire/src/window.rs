//! Window groups: the input of window-function calls.
//!
//! One group per (key, window), back to back; the group's position is its
//! slot:
//!
//! ```text
//! key: bytes | start: i64 | end: i64 | acc: u32 length or ABSENT | bytes
//! n: u32 | n × (ts: i64 | value: bytes)
//! ```

use crate::{ABSENT, Reader, WireError};

/// Writes one window group; records follow with [`WindowGroupWriter::record`].
pub struct WindowGroupWriter {
    count_at: usize,
    count: u32,
}

impl WindowGroupWriter {
    /// Starts the group of `key` in the window `[start, end)` with its
    /// accumulator (if any).
    #[inline]
    pub fn start(buf: &mut Vec<u8>, key: &[u8], start: i64, end: i64, acc: Option<&[u8]>) -> Self {
        buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
        buf.extend_from_slice(key);
        buf.extend_from_slice(&start.to_le_bytes());
        buf.extend_from_slice(&end.to_le_bytes());
        match acc {
            Some(a) => {
                buf.extend_from_slice(&(a.len() as u32).to_le_bytes());
                buf.extend_from_slice(a);
            }
            None => buf.extend_from_slice(&ABSENT.to_le_bytes()),
        }
        let count_at = buf.len();
        buf.extend_from_slice(&0u32.to_le_bytes());
        WindowGroupWriter { count_at, count: 0 }
    }

    /// Appends a record (or, for merges, an accumulator) to the group.
    #[inline]
    pub fn record(&mut self, buf: &mut Vec<u8>, ts: i64, value: &[u8]) {
        crate::put_record_frame_body(buf, ts, value);
        self.count += 1;
    }

    /// Appends a record frame body (`ts | value`) already encoded.
    #[inline]
    pub fn raw_record(&mut self, buf: &mut Vec<u8>, body: &[u8]) {
        buf.extend_from_slice(body);
        self.count += 1;
    }

    /// Patches the record count.
    #[inline]
    pub fn finish(self, buf: &mut [u8]) {
        buf[self.count_at..self.count_at + 4].copy_from_slice(&self.count.to_le_bytes());
    }
}

/// The header of a window group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowGroup<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Window start (inclusive), ms.
    pub start: i64,
    /// Window end (exclusive), ms.
    pub end: i64,
    /// The accumulator, if the window has one.
    pub acc: Option<&'a [u8]>,
    /// Number of records that follow.
    pub records: u32,
}

/// Reads window groups.
pub struct WindowGroupReader<'a> {
    reader: Reader<'a>,
}

impl<'a> WindowGroupReader<'a> {
    /// Groups of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        WindowGroupReader {
            reader: Reader::new(buf),
        }
    }

    /// The next group header, or `None` at the end. Read its records with
    /// [`WindowGroupReader::record`] before the next header.
    #[inline]
    pub fn next_group(&mut self) -> Result<Option<WindowGroup<'a>>, WireError> {
        if self.reader.is_empty() {
            return Ok(None);
        }
        let key = self.reader.bytes()?;
        let start = self.reader.i64()?;
        let end = self.reader.i64()?;
        let acc = self.reader.opt_bytes()?;
        let records = self.reader.u32()?;
        Ok(Some(WindowGroup {
            key,
            start,
            end,
            acc,
            records,
        }))
    }

    /// One record (timestamp, value) of the current group.
    #[inline]
    pub fn record(&mut self) -> Result<(i64, &'a [u8]), WireError> {
        let ts = self.reader.i64()?;
        let v = self.reader.bytes()?;
        Ok((ts, v))
    }
}
