//! The flat batch format shared by the Weir host and guest SDKs.
//!
//! Every batch that crosses the Wasm boundary is one byte buffer of
//! little-endian frames (see `wit/FORMAT.md`). One buffer per call keeps the
//! canonical-ABI cost at a few nanoseconds per record instead of hundreds.
//! This crate has no dependencies so that it builds for every guest target.

mod reader;
mod window;
mod writer;

pub use reader::{Entries, Entry, GroupReader, Reader, RecordRef, Records};
pub use window::{WindowGroup, WindowGroupReader, WindowGroupWriter};
pub use writer::{
    GroupWriter, put_failed, put_main, put_main_with, put_record, put_record_frame_body, put_side,
    put_stage, put_stage_failed, put_timer, put_value_clear, put_value_set, try_put_main_with,
};

/// The timestamp of a record that has none.
pub const NO_TIMESTAMP: i64 = i64::MIN;

/// Length marker of an absent value state in a key group.
pub const ABSENT: u32 = u32::MAX;

/// Result-entry tags.
pub mod tag {
    /// A record for the main output.
    pub const MAIN: u8 = 0;
    /// A record for a named side output.
    pub const SIDE: u8 = 1;
    /// A value state set for one key slot.
    pub const VALUE_SET: u8 = 2;
    /// A value state cleared for one key slot.
    pub const VALUE_CLEAR: u8 = 3;
    /// A timer registered for one key slot.
    pub const TIMER_REGISTER: u8 = 4;
    /// A timer deleted for one key slot.
    pub const TIMER_DELETE: u8 = 5;
    /// A record the function failed on (it went on with the others).
    pub const RECORD_FAILED: u8 = 6;
    /// In a chained call's result: the entries that follow are stage
    /// `stage`'s, which received `records` records of `bytes` frame bytes.
    pub const STAGE: u8 = 7;
    /// In a chained call's result: a later stage failed on a record (the
    /// record travels with the entry; the host never saw that stage's
    /// input).
    pub const STAGE_RECORD_FAILED: u8 = 8;
}

/// Why a function failed on a record (in a `RECORD_FAILED` entry).
pub mod failure {
    /// The function's own logic returned an error.
    pub const USER: u8 = 0;
    /// The record (or its state) could not be decoded.
    pub const DECODE: u8 = 1;
}

/// Timer domains.
pub mod domain {
    /// Fires when the watermark passes the timer's time.
    pub const EVENT_TIME: u8 = 0;
    /// Fires when the processing-time clock passes the timer's time.
    pub const PROCESSING_TIME: u8 = 1;
}

/// A buffer that does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Byte offset where decoding failed.
    pub offset: usize,
    /// What was expected there.
    pub what: &'static str,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed batch at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests;
