//! What a snapshot holds.

use serde::{Deserialize, Serialize};
use weir_state::{KeyedSnapshot, TimerEntry};

/// Checkpoint (periodic, for recovery) or savepoint (user-triggered,
/// canonical and self-contained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointKind {
    /// Periodic, owned by the job, may reference shared files.
    Checkpoint,
    /// User-triggered, self-contained, backend-independent.
    Savepoint,
}

/// The keyed state of an operator sub-task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyedPart {
    /// Every entry, canonical.
    Canonical(KeyedSnapshot),
    /// A RocksDB checkpoint: files in the checkpoint store.
    RocksDb(RocksDbFiles),
    /// Every entry, canonical, in a state file beside the snapshot file
    /// (read a chunk at a time).
    Streamed(crate::StreamedKeyed),
}

/// The files of a RocksDB checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RocksDbFiles {
    /// Key groups the database held.
    pub key_groups: (u16, u16),
    /// SST files, relative to the store's `shared/` directory.
    pub shared: Vec<String>,
    /// Small files (MANIFEST, CURRENT, OPTIONS), by name in the
    /// checkpoint's `private` directory.
    pub private: Vec<String>,
    /// That directory, relative to the checkpoint directory.
    pub private_dir: String,
    /// The states registered in the database.
    pub states: Vec<weir_state::StateDesc>,
}

/// Where one file split of a file source is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSplitState {
    /// The file.
    pub path: String,
    /// First byte of the split.
    pub start: u64,
    /// One past its last byte.
    pub end: u64,
    /// Offset of the next line to read (`end` or beyond when done).
    pub position: u64,
}

/// The position of a source sub-task: its splits, so that any number of
/// readers can take them over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceState {
    /// File splits and their positions.
    Files(Vec<FileSplitState>),
    /// Generator streams: (stream index, streams in all, records made).
    Datagen(Vec<(u32, u32, u64)>),
    /// The built-in sample text: whether it was read.
    Sample(bool),
    /// Kafka partitions and the offset each resumes at. (Appended last, so
    /// snapshots of the variants above decode as before.)
    Kafka(Vec<KafkaPartitionState>),
}

/// Where a Kafka source resumes in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaPartitionState {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the next record to read.
    pub next_offset: i64,
    /// Bounded sources: the offset the partition ends at.
    pub end_offset: Option<i64>,
}

/// A Kafka sink sub-task's output not yet committed: the records of each
/// checkpoint epoch, committed in one transaction per epoch when the
/// checkpoint completes (and on recovery, unless already committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaTransactions {
    /// The brokers.
    pub bootstrap_servers: String,
    /// Further producer settings (security and the like).
    pub properties: Vec<(String, String)>,
    /// The sub-task's transactional id; also the consumer group whose
    /// committed offset marks the last epoch committed.
    pub transactional_id: String,
    /// The topic written (and where the commit marker is).
    pub topic: String,
    /// Whether record values are envelopes naming topic, partition, key,
    /// headers and timestamp.
    pub envelope: bool,
    /// Epochs in order.
    pub epochs: Vec<KafkaEpoch>,
}

impl KafkaTransactions {
    /// Encoded for the cluster protocol, which carries sink states between
    /// workers and the coordinator.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decoded from [`KafkaTransactions::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("Kafka transactions: {e}"))
    }
}

/// The records one checkpoint commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaEpoch {
    /// The checkpoint that ends the epoch (`u64::MAX`: the end of input).
    pub checkpoint: u64,
    /// Sequence number, increasing along a job's history; the commit
    /// marker holds the last one committed.
    pub seq: i64,
    /// The records, as weir-wire record frames.
    pub records: Vec<u8>,
}

/// A part file written before the checkpoint and waiting for it to
/// complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFile {
    /// Where it is now (hidden).
    pub pending: String,
    /// Its committed name.
    pub committed: String,
}

/// A two-phase file sink sub-task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkState {
    /// The output directory.
    pub dir: String,
    /// Number of the next part file this sub-task writes.
    pub next_part: u64,
    /// Files the checkpoint commits.
    pub pending: Vec<PendingFile>,
    /// A Kafka sink's transactions the checkpoint commits.
    pub kafka: Option<KafkaTransactions>,
}

/// Everything one operator sub-task snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    /// Stable operator id from the job file.
    pub operator: String,
    /// Sub-task index.
    pub subtask: u32,
    /// Parallelism of the operator when snapshotted.
    pub parallelism: u32,
    /// Keyed state, if the operator is keyed.
    pub keyed: Option<KeyedPart>,
    /// Pending timers.
    pub timers: Vec<TimerEntry>,
    /// Non-keyed state the function keeps itself (its own encoding).
    pub operator_state: Option<Vec<u8>>,
    /// A source's position.
    pub source: Option<SourceState>,
    /// A sink's pending output.
    pub sink: Option<SinkState>,
    /// Whether the sub-task had finished (bounded input done).
    pub finished: bool,
}

impl OperatorSnapshot {
    /// An empty snapshot of a stateless sub-task.
    pub fn empty(operator: &str, subtask: u32, parallelism: u32) -> Self {
        OperatorSnapshot {
            operator: operator.to_owned(),
            subtask,
            parallelism,
            keyed: None,
            timers: Vec::new(),
            operator_state: None,
            source: None,
            sink: None,
            finished: false,
        }
    }
}

/// A snapshot file listed in the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// Operator id.
    pub operator: String,
    /// Sub-task index.
    pub subtask: u32,
    /// File name in the checkpoint directory.
    pub file: String,
    /// Its size.
    pub bytes: u64,
}

/// An operator as the snapshot saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorMeta {
    /// Operator id.
    pub id: String,
    /// Parallelism.
    pub parallelism: u32,
    /// What it is (source, sink, or a function kind), for messages.
    pub kind: String,
}

/// `_metadata`: what makes a checkpoint complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Layout version (1).
    pub format: u32,
    /// Job name.
    pub job: String,
    /// Checkpoint id.
    pub id: u64,
    /// Checkpoint or savepoint.
    pub kind: CheckpointKind,
    /// When it was triggered, ms since the epoch.
    pub triggered_ms: i64,
    /// How long it took, ms.
    pub duration_ms: u64,
    /// State backend that wrote it (`memory`, `rocksdb`).
    pub backend: String,
    /// Number of key groups of the job.
    pub max_parallelism: u32,
    /// Operators.
    pub operators: Vec<OperatorMeta>,
    /// Snapshot files.
    pub files: Vec<SnapshotFile>,
    /// Total bytes written for this checkpoint (snapshot files and new
    /// shared files).
    pub bytes: u64,
    /// Whether the job had finished (every sub-task done).
    pub job_finished: bool,
    /// Files under the store's `shared/` this checkpoint uses (RocksDB
    /// SSTs), relative to it.
    #[serde(default)]
    pub shared: Vec<String>,
}
