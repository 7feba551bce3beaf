//! Kafka connectors, on librdkafka (`rdkafka`, built statically).
//!
//! The source reads the partitions of its topics as splits: every reader
//! works out from the partition list which partitions are its own (the
//! same rule on every reader, so no enumerator is needed), keeps a
//! watermark per partition with idleness, and reports its offsets for
//! checkpoints. The sink writes records with one of three guarantees; for
//! exactly-once it keeps each checkpoint epoch's records in the checkpoint
//! and commits them in one Kafka transaction per epoch once the checkpoint
//! completes, with a commit marker (a consumer-group offset written in the
//! same transaction) that makes committing idempotent across failures.

mod assign;
mod client;
mod commit;
mod committer;
mod envelope;
mod partitions;
mod sink;
mod source;

pub use assign::owner;
pub use commit::commit_transactions;
pub use partitions::PartitionWatermarks;
pub use sink::{KafkaSink, SinkContext, transactional_id};
pub use source::{KafkaReader, ReaderContext};
