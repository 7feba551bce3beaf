//! Connectors: where records come from and where they go.
//!
//! Sources: files (text or JSON lines; a file, a directory or a glob, split
//! by byte ranges across parallel readers) and a deterministic data
//! generator. Sinks: files (one part file per sub-task), standard output,
//! and a discarding sink for benchmarks.

pub mod corpus;
mod datagen;
mod error;
mod file_source;
mod sinks;

pub use datagen::DatagenReader;
pub use error::ConnectorError;
pub use file_source::{FileReader, FileSplit, plan_splits};
pub use sinks::{DiscardSink, FileSink, PrintSink, prepare_output_dir};

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
}

/// A parallel instance of a sink.
pub trait SinkWriter: Send {
    /// Writes a batch.
    fn write(&mut self, batch: &weir_core::Batch) -> Result<(), ConnectorError>;
    /// Flushes and closes at the end of input.
    fn finish(&mut self) -> Result<(), ConnectorError>;
}
