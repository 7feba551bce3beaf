//! Connectors: where records come from and where they go.
//!
//! Sources: files (text or JSON lines; a file, a directory or a glob, split
//! by byte ranges across parallel readers) and a deterministic data
//! generator. Sinks: files (one part file per sub-task), standard output,
//! and a discarding sink for benchmarks.

pub mod corpus;
mod datagen;
mod error;
mod file_sink;
mod file_source;
mod sinks;
mod watermarks;

pub use datagen::DatagenReader;
pub use error::ConnectorError;
pub use file_sink::{
    FileSink, clean_for_restore, commit, part_name, prepare_output_dir, visible_files,
};
pub use file_source::{
    DEFAULT_MAX_LINE, FileOrder, FileReader, FileSplit, ReadOptions, TimestampAssigner, plan_splits,
};
pub use sinks::{DiscardSink, PrintSink};
pub use watermarks::{MIN_WATERMARK, WatermarkTracker};

use weir_core::Outputs;

/// The built-in sample text (Hamlet's soliloquy, as in Flink's WordCount).
pub const SAMPLE_TEXT: &str = include_str!("sample.txt");

/// What a source reader did on one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// It produced records and has more.
    More,
    /// It has nothing now (rate limit); poll again later.
    Idle(std::time::Duration),
    /// It is done.
    Finished,
}

/// A parallel instance of a source.
pub trait SourceReader: Send {
    /// Appends up to about `max_bytes` of records to `out`.
    fn poll(&mut self, out: &mut Outputs, max_bytes: usize)
    -> Result<SourceStatus, ConnectorError>;

    /// The reader's event-time watermark, if it assigns event time.
    fn watermark(&self) -> Option<i64> {
        None
    }

    /// How long the reader may go without records before it is idle.
    fn idle_timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// Where the reader is, for a checkpoint: every record it produced so
    /// far is before this position, every other after it.
    fn position(&self) -> Option<weir_checkpoint::SourceState> {
        None
    }

    /// Checkpoint `checkpoint` completed (a Kafka source commits its
    /// offsets to its group, for monitoring).
    fn notify_checkpoint_complete(&mut self, _checkpoint: u64) {}
}

/// Milliseconds since the epoch by the system clock (ingestion time).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A parallel instance of a sink.
pub trait SinkWriter: Send {
    /// Writes a batch.
    fn write(&mut self, batch: &weir_core::Batch) -> Result<(), ConnectorError>;
    /// Flushes and closes at the end of input.
    fn finish(&mut self) -> Result<(), ConnectorError>;
    /// At checkpoint `checkpoint`: what is not committed yet, which that
    /// checkpoint commits when it completes (transactional sinks only).
    fn snapshot(
        &mut self,
        _checkpoint: u64,
    ) -> Result<Option<weir_checkpoint::SinkState>, ConnectorError> {
        Ok(None)
    }
    /// Checkpoint `checkpoint` completed: commit what it covers (the
    /// second phase of the two-phase commit).
    fn notify_checkpoint_complete(&mut self, _checkpoint: u64) -> Result<(), ConnectorError> {
        Ok(())
    }
    /// The job was cancelled: drop uncommitted output.
    fn abort(&mut self) {}
}
