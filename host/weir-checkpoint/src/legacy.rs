//! Snapshot layouts of earlier file formats, decoded into today's types.

use crate::model::{KeyedPart, OperatorSnapshot, PendingFile, SinkState, SourceState};
use serde::{Deserialize, Serialize};
use weir_state::TimerEntry;

/// A sink's state in format 1 (before Kafka transactions).
#[derive(Serialize, Deserialize)]
struct SinkStateV1 {
    dir: String,
    next_part: u64,
    pending: Vec<PendingFile>,
}

/// An operator snapshot in format 1.
#[derive(Serialize, Deserialize)]
pub(crate) struct OperatorSnapshotV1 {
    operator: String,
    subtask: u32,
    parallelism: u32,
    keyed: Option<KeyedPart>,
    timers: Vec<TimerEntry>,
    operator_state: Option<Vec<u8>>,
    source: Option<SourceState>,
    sink: Option<SinkStateV1>,
    finished: bool,
}

impl From<OperatorSnapshotV1> for OperatorSnapshot {
    fn from(s: OperatorSnapshotV1) -> Self {
        OperatorSnapshot {
            operator: s.operator,
            subtask: s.subtask,
            parallelism: s.parallelism,
            keyed: s.keyed,
            timers: s.timers,
            operator_state: s.operator_state,
            source: s.source,
            sink: s.sink.map(|k| SinkState {
                dir: k.dir,
                next_part: k.next_part,
                pending: k.pending,
                kafka: None,
            }),
            finished: s.finished,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format-1 file as the previous release wrote it.
    fn v1_file(s: &OperatorSnapshotV1) -> Vec<u8> {
        let payload = postcard::to_allocvec(s).expect("encode");
        let mut out = b"WEIRSNAP".to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
        out
    }

    #[test]
    fn format_1_snapshots_of_file_sinks_decode_without_kafka_state() {
        let old = OperatorSnapshotV1 {
            operator: "out".into(),
            subtask: 1,
            parallelism: 2,
            keyed: None,
            timers: Vec::new(),
            operator_state: None,
            source: Some(SourceState::Sample(true)),
            sink: Some(SinkStateV1 {
                dir: "/tmp/out".into(),
                next_part: 3,
                pending: vec![PendingFile {
                    pending: ".part-1-2.pending".into(),
                    committed: "part-1-2".into(),
                }],
            }),
            finished: false,
        };
        let got = crate::decode_snapshot(&v1_file(&old), std::path::Path::new("op-out-1.snap"))
            .expect("format 1 decodes");
        let sink = got.sink.expect("sink state");
        assert_eq!((sink.dir.as_str(), sink.next_part), ("/tmp/out", 3));
        assert_eq!(sink.pending[0].committed, "part-1-2");
        assert!(sink.kafka.is_none());
        assert_eq!(got.source, Some(SourceState::Sample(true)));
        assert_eq!(
            (got.operator.as_str(), got.subtask, got.parallelism),
            ("out", 1, 2)
        );
    }
}
