//! Checkpoints and savepoints: what a snapshot holds and how it is stored.
//!
//! A checkpoint is a directory `chk-<id>` under the job's checkpoint
//! directory, with one snapshot file per operator sub-task
//! (`op-<operator>-<subtask>.snap`) and a `_metadata` file written last and
//! atomically (write, fsync, rename): a checkpoint without `_metadata` is
//! incomplete and ignored. RocksDB state of incremental checkpoints lives in
//! `shared/`, referenced by name from the metadata. Canonical keyed state
//! is in a state file beside the snapshot file (`op-<operator>-<subtask>.state`,
//! see [`StateFileWriter`]), written and read a chunk at a time. A savepoint has the same
//! layout, always in the canonical, self-contained form. Every location may
//! also be a prefix on object storage (`s3://bucket/prefix`, see
//! [`is_remote`]). See `docs/checkpoints.md`.

mod error;
mod files;
mod legacy;
pub mod location;
mod model;
mod state_file;
mod storage;

pub use error::CheckpointError;
pub use files::{decode_snapshot, encode_snapshot, read_snapshot_file, write_file_durably};
pub use location::{absolute, check_location, copy_file, create_dir_all, is_remote, remove_all};
pub use model::{
    CheckpointKind, FileSplitState, KafkaEpoch, KafkaPartitionState, KafkaTransactions, KeyedPart,
    Metadata, OperatorMeta, OperatorSnapshot, PendingFile, RocksDbFiles, SinkState, SnapshotFile,
    SourceState,
};
pub use state_file::{Chunk, StateFileWriter, StreamedKeyed, read_chunks};
pub use storage::{CheckpointStore, Loaded, NativeDirs, check_snapshot_paths, checkpoint_dir_name};
