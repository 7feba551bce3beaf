//! Between the runtime's types and the cluster protocol's messages.

use std::path::PathBuf;
use weir_checkpoint::{CheckpointKind, KafkaTransactions, PendingFile, SinkState, SnapshotFile};
use weir_core::ErrorDomain;
use weir_proto::v1 as pb;
use weir_runtime::{Barrier, Command, JobFailure, PersistedOp, Report, Target, TaskId};

/// A message that does not say what it must.
#[derive(Debug, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct Malformed(pub &'static str);

/// A sub-task's metrics on the wire.
pub(crate) fn counter_to(node: u32, subtask: u32, m: &weir_runtime::SubtaskMetrics) -> pb::Counter {
    pb::Counter {
        node,
        subtask,
        records_in: m.records_in,
        records_out: m.records_out,
        bytes_in: m.bytes_in,
        bytes_out: m.bytes_out,
        idle_ms: m.idle_ms,
        backpressured_ms: m.backpressured_ms,
        running_ms: m.running_ms,
        watermark: m.watermark,
        wasm_calls: m.wasm_calls,
        wasm_call_us: m.wasm_call_us,
        wasm_timeouts: m.wasm_timeouts,
        guest_memory_bytes: m.guest_memory_bytes,
    }
}

pub(crate) fn task_to(t: TaskId) -> pb::TaskId {
    pb::TaskId {
        chain: t.0 as u32,
        subtask: t.1,
    }
}

pub(crate) fn task_from(t: Option<&pb::TaskId>) -> Result<TaskId, Malformed> {
    let t = t.ok_or(Malformed("no task"))?;
    Ok((t.chain as usize, t.subtask))
}

fn sink_to(s: &SinkState) -> pb::SinkState {
    pb::SinkState {
        dir: s.dir.clone(),
        next_part: s.next_part,
        pending: s
            .pending
            .iter()
            .map(|p| pb::PendingFile {
                pending: p.pending.clone(),
                committed: p.committed.clone(),
            })
            .collect(),
        kafka: s.kafka.as_ref().map(KafkaTransactions::to_bytes),
    }
}

fn sink_from(s: &pb::SinkState) -> Result<SinkState, Malformed> {
    let kafka = match &s.kafka {
        Some(b) => {
            Some(KafkaTransactions::from_bytes(b).map_err(|_| Malformed("Kafka transactions"))?)
        }
        None => None,
    };
    Ok(SinkState {
        dir: s.dir.clone(),
        next_part: s.next_part,
        pending: s
            .pending
            .iter()
            .map(|p| PendingFile {
                pending: p.pending.clone(),
                committed: p.committed.clone(),
            })
            .collect(),
        kafka,
    })
}

/// A failure as the protocol carries it.
pub fn failure_to(f: &JobFailure) -> pb::Failure {
    pb::Failure {
        operator: f.operator.clone().unwrap_or_default(),
        has_subtask: f.subtask.is_some(),
        subtask: f.subtask.map_or(0, |s| s.0),
        parallelism: f.subtask.map_or(0, |s| s.1),
        domain: match f.domain {
            ErrorDomain::User => "user",
            ErrorDomain::External => "external",
            ErrorDomain::Internal => "internal",
        }
        .into(),
        message: f.message.clone(),
    }
}

/// A failure from the protocol.
pub fn failure_from(f: &pb::Failure) -> JobFailure {
    JobFailure {
        operator: (!f.operator.is_empty()).then(|| f.operator.clone()),
        subtask: f.has_subtask.then_some((f.subtask, f.parallelism)),
        domain: match f.domain.as_str() {
            "user" => ErrorDomain::User,
            "internal" => ErrorDomain::Internal,
            _ => ErrorDomain::External,
        },
        message: f.message.clone(),
    }
}

/// A host report as the protocol carries it.
pub fn report_to(r: &Report) -> pb::Report {
    use pb::report::R;
    let r = match r {
        Report::Acked { id, task, ops } => R::Acked(pb::Acked {
            checkpoint_id: *id,
            task: Some(task_to(*task)),
            ops: ops
                .iter()
                .map(|o| pb::PersistedOp {
                    operator: o.file.operator.clone(),
                    subtask: o.file.subtask,
                    file: o.file.file.clone(),
                    file_bytes: o.file.bytes,
                    bytes: o.bytes,
                    shared: o.shared.clone(),
                    sink: o.sink.as_ref().map(sink_to),
                })
                .collect(),
        }),
        Report::Declined { id, reason } => R::Declined(pb::Declined {
            checkpoint_id: *id,
            reason: reason.clone(),
        }),
        Report::Finished { task, sinks } => R::Finished(pb::Finished {
            task: Some(task_to(*task)),
            sinks: sinks.iter().map(sink_to).collect(),
        }),
        Report::Failed { reason } => R::Failed(reason.clone()),
    };
    pb::Report { r: Some(r) }
}

/// A host report from the protocol (`None` for the worker's own
/// `Stopped`).
pub fn report_from(r: &pb::Report) -> Result<Option<Report>, Malformed> {
    use pb::report::R;
    Ok(Some(
        match r.r.as_ref().ok_or(Malformed("empty report"))? {
            R::Acked(a) => Report::Acked {
                id: a.checkpoint_id,
                task: task_from(a.task.as_ref())?,
                ops: a
                    .ops
                    .iter()
                    .map(|o| {
                        Ok(PersistedOp {
                            file: SnapshotFile {
                                operator: o.operator.clone(),
                                subtask: o.subtask,
                                file: o.file.clone(),
                                bytes: o.file_bytes,
                            },
                            bytes: o.bytes,
                            shared: o.shared.clone(),
                            sink: o.sink.as_ref().map(sink_from).transpose()?,
                        })
                    })
                    .collect::<Result<_, Malformed>>()?,
            },
            R::Declined(d) => Report::Declined {
                id: d.checkpoint_id,
                reason: d.reason.clone(),
            },
            R::Finished(f) => Report::Finished {
                task: task_from(f.task.as_ref())?,
                sinks: f.sinks.iter().map(sink_from).collect::<Result<_, _>>()?,
            },
            R::Failed(reason) => Report::Failed {
                reason: reason.clone(),
            },
            R::Stopped(_) => return Ok(None),
        },
    ))
}

/// A coordinator command as the protocol carries it.
pub fn command_to(c: &Command) -> pb::command_request::C {
    use pb::command_request::C;
    match c {
        Command::Trigger { barrier, target } => C::Trigger(pb::Trigger {
            checkpoint_id: barrier.id,
            savepoint: barrier.kind == CheckpointKind::Savepoint,
            dir: target.dir.display().to_string(),
            shared_root: target
                .shared_root
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }),
        Command::Abort(id) => C::Abort(*id),
        Command::Completed(id) => C::Completed(*id),
        Command::Stop => C::Stop(true),
    }
}

/// A coordinator command from the protocol.
pub fn command_from(c: &pb::command_request::C) -> Command {
    use pb::command_request::C;
    match c {
        C::Trigger(t) => Command::Trigger {
            barrier: Barrier {
                id: t.checkpoint_id,
                kind: if t.savepoint {
                    CheckpointKind::Savepoint
                } else {
                    CheckpointKind::Checkpoint
                },
            },
            target: Target {
                dir: PathBuf::from(&t.dir),
                shared_root: (!t.shared_root.is_empty()).then(|| PathBuf::from(&t.shared_root)),
            },
        },
        C::Abort(id) => Command::Abort(*id),
        C::Completed(id) => Command::Completed(*id),
        C::Stop(_) => Command::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_commands_survive_the_protocol() {
        let reports = vec![
            Report::Acked {
                id: 7,
                task: (2, 1),
                ops: vec![PersistedOp {
                    file: SnapshotFile {
                        operator: "out".into(),
                        subtask: 1,
                        file: "op-out-1.snap".into(),
                        bytes: 10,
                    },
                    bytes: 99,
                    shared: vec!["a/b.sst".into()],
                    sink: Some(SinkState {
                        dir: "/o".into(),
                        next_part: 3,
                        pending: vec![PendingFile {
                            pending: ".p".into(),
                            committed: "p".into(),
                        }],
                        kafka: None,
                    }),
                }],
            },
            Report::Declined {
                id: 8,
                reason: "full".into(),
            },
            Report::Finished {
                task: (0, 0),
                sinks: vec![],
            },
            Report::Failed {
                reason: "bad".into(),
            },
        ];
        for r in reports {
            assert_eq!(report_from(&report_to(&r)).expect("ok"), Some(r));
        }
        let commands = vec![
            Command::Trigger {
                barrier: Barrier {
                    id: 3,
                    kind: CheckpointKind::Savepoint,
                },
                target: Target {
                    dir: "/c/chk-3".into(),
                    shared_root: Some("/c/shared".into()),
                },
            },
            Command::Abort(4),
            Command::Completed(5),
            Command::Stop,
        ];
        for c in commands {
            assert_eq!(command_from(&command_to(&c)), c);
        }
        let f = JobFailure {
            operator: Some("count".into()),
            subtask: Some((1, 4)),
            domain: ErrorDomain::User,
            message: "trap".into(),
        };
        let back = failure_from(&failure_to(&f));
        assert_eq!(
            (back.operator, back.subtask, back.domain, back.message),
            (f.operator, f.subtask, f.domain, f.message)
        );
        assert!(report_from(&pb::Report { r: None }).is_err());
    }
}
