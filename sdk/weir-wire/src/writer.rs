//! Appending frames to a buffer.

use crate::{ABSENT, tag};

#[inline]
fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// Appends a record frame: timestamp, key, value.
#[inline]
pub fn put_record(buf: &mut Vec<u8>, ts: i64, key: &[u8], value: &[u8]) {
    buf.reserve(16 + key.len() + value.len());
    buf.extend_from_slice(&ts.to_le_bytes());
    put_bytes(buf, key);
    put_bytes(buf, value);
}

/// Appends the body of a keyed record (timestamp and value, no key).
#[inline]
pub fn put_record_frame_body(buf: &mut Vec<u8>, ts: i64, value: &[u8]) {
    buf.extend_from_slice(&ts.to_le_bytes());
    put_bytes(buf, value);
}

/// Appends a main-output record entry to a result buffer.
#[inline]
pub fn put_main(buf: &mut Vec<u8>, ts: i64, key: &[u8], value: &[u8]) {
    buf.push(tag::MAIN);
    put_record(buf, ts, key, value);
}

/// Appends a main-output record entry whose value `encode` writes straight
/// into the buffer (no intermediate copy).
#[inline]
pub fn put_main_with(buf: &mut Vec<u8>, ts: i64, key: &[u8], encode: impl FnOnce(&mut Vec<u8>)) {
    buf.push(tag::MAIN);
    buf.extend_from_slice(&ts.to_le_bytes());
    put_bytes(buf, key);
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    encode(buf);
    let n = (buf.len() - at - 4) as u32;
    buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
}

/// Appends a main-output record entry whose value `encode` writes straight
/// into the buffer; when `encode` fails, the buffer is left as it was.
#[inline(always)]
pub fn try_put_main_with<E>(
    buf: &mut Vec<u8>,
    ts: i64,
    key: &[u8],
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let mark = buf.len();
    buf.push(tag::MAIN);
    buf.extend_from_slice(&ts.to_le_bytes());
    put_bytes(buf, key);
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    if let Err(e) = encode(buf) {
        buf.truncate(mark);
        return Err(e);
    }
    let n = (buf.len() - at - 4) as u32;
    buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Appends a side-output record entry to a result buffer.
#[inline]
pub fn put_side(buf: &mut Vec<u8>, output: &str, ts: i64, key: &[u8], value: &[u8]) {
    buf.push(tag::SIDE);
    buf.extend_from_slice(&(output.len() as u16).to_le_bytes());
    buf.extend_from_slice(output.as_bytes());
    put_record(buf, ts, key, value);
}

/// Appends a value-state write for the key at `slot`.
#[inline]
pub fn put_value_set(buf: &mut Vec<u8>, slot: u32, state: u32, value: &[u8]) {
    buf.push(tag::VALUE_SET);
    buf.extend_from_slice(&slot.to_le_bytes());
    buf.extend_from_slice(&state.to_le_bytes());
    put_bytes(buf, value);
}

/// Appends a value-state clear for the key at `slot`.
#[inline]
pub fn put_value_clear(buf: &mut Vec<u8>, slot: u32, state: u32) {
    buf.push(tag::VALUE_CLEAR);
    buf.extend_from_slice(&slot.to_le_bytes());
    buf.extend_from_slice(&state.to_le_bytes());
}

/// Appends a timer registration (`tag::TIMER_REGISTER`) or deletion
/// (`tag::TIMER_DELETE`) for the key at `slot`.
#[inline]
pub fn put_timer(buf: &mut Vec<u8>, op: u8, slot: u32, domain: u8, time: i64) {
    buf.push(op);
    buf.extend_from_slice(&slot.to_le_bytes());
    buf.push(domain);
    buf.extend_from_slice(&time.to_le_bytes());
}

/// Appends a failed-record entry: the function failed on record `index` of
/// slot `slot` (for transforms slot 0 and the record's position in the
/// batch) with `kind` (`failure::USER` or `failure::DECODE`).
#[inline]
pub fn put_failed(buf: &mut Vec<u8>, slot: u32, index: u32, kind: u8, message: &str) {
    buf.push(tag::RECORD_FAILED);
    buf.extend_from_slice(&slot.to_le_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    buf.push(kind);
    put_bytes(buf, message.as_bytes());
}

/// Appends a chained call's stage marker: the entries after it are stage
/// `stage`'s, which received `records` records of `bytes` frame bytes.
#[inline]
pub fn put_stage(buf: &mut Vec<u8>, stage: u32, records: u32, bytes: u64) {
    buf.push(tag::STAGE);
    buf.extend_from_slice(&stage.to_le_bytes());
    buf.extend_from_slice(&records.to_le_bytes());
    buf.extend_from_slice(&bytes.to_le_bytes());
}

/// Appends a chained call's failed record of the current stage: `kind`,
/// `message`, then the record's frame (`frame` is a whole record frame).
#[inline]
pub fn put_stage_failed(buf: &mut Vec<u8>, kind: u8, message: &str, frame: &[u8]) {
    buf.push(tag::STAGE_RECORD_FAILED);
    buf.push(kind);
    put_bytes(buf, message.as_bytes());
    buf.extend_from_slice(frame);
}

/// Writes one key group of a keyed batch: the key, the current value of each
/// declared value state, then the records. The record count is patched in
/// when the group is finished.
pub struct GroupWriter {
    count_at: usize,
    count: u32,
}

impl GroupWriter {
    /// Starts a group for `key`; call [`GroupWriter::state`] once per
    /// declared value state, then [`GroupWriter::begin_records`].
    #[inline]
    pub fn start(buf: &mut Vec<u8>, key: &[u8]) -> Self {
        put_bytes(buf, key);
        GroupWriter {
            count_at: 0,
            count: 0,
        }
    }

    /// Appends the current value of the next declared value state.
    #[inline]
    pub fn state(&mut self, buf: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            Some(v) => put_bytes(buf, v),
            None => buf.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }

    /// Marks where the records start.
    #[inline]
    pub fn begin_records(&mut self, buf: &mut Vec<u8>) {
        self.count_at = buf.len();
        buf.extend_from_slice(&0u32.to_le_bytes());
    }

    /// Appends a record of this group.
    #[inline]
    pub fn record(&mut self, buf: &mut Vec<u8>, ts: i64, value: &[u8]) {
        put_record_frame_body(buf, ts, value);
        self.count += 1;
    }

    /// Patches the record count.
    #[inline]
    pub fn finish(self, buf: &mut [u8]) {
        buf[self.count_at..self.count_at + 4].copy_from_slice(&self.count.to_le_bytes());
    }
}
