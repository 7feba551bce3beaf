//! The sub-tasks' side of checkpoints, for the sub-tasks of one process:
//! it writes their snapshots into the checkpoint being taken and reports
//! handles to the coordinator, and it stands in for finished sub-tasks with
//! their final state. Sans-IO apart from the files it writes: the caller
//! feeds it triggers and the sub-tasks' events, and forwards its reports.

use crate::checkpoint::persist::{PersistedOp, Target, persist_op};
use crate::control::{OpAck, TaskEvent, TaskId};
use std::collections::{BTreeMap, HashSet};
use weir_checkpoint::SinkState;

/// What the host tells the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Sub-task `task` wrote its snapshots for checkpoint `id`.
    Acked {
        /// The checkpoint.
        id: u64,
        /// The sub-task.
        task: TaskId,
        /// What it wrote, per operator of its chain.
        ops: Vec<PersistedOp>,
    },
    /// Checkpoint `id` could not be written here.
    Declined {
        /// The checkpoint.
        id: u64,
        /// Why.
        reason: String,
    },
    /// Sub-task `task` finished its input; the host stands in for it from
    /// now on. `sinks`: its file sinks' output not committed yet.
    Finished {
        /// The sub-task.
        task: TaskId,
        /// Its file sinks' output not committed yet.
        sinks: Vec<SinkState>,
    },
    /// The final state of a finished sub-task could not be built: the
    /// attempt fails.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A checkpoint being taken, as this host sees it.
struct Taking {
    target: Target,
    acked: HashSet<TaskId>,
}

/// Checkpoint work of the sub-tasks of one process.
pub(crate) struct TaskHost {
    /// Finished sub-tasks' final states, built (from what they pinned) only
    /// when a checkpoint or savepoint first needs them: a job that takes
    /// none never copies out its final keyed state.
    finished: BTreeMap<TaskId, Vec<OpAck>>,
    taking: BTreeMap<u64, Taking>,
    /// The newest checkpoint triggered here: acknowledgements of older ones
    /// that are no longer taken are stale, of newer ones early (a barrier
    /// from another process can outrun the trigger).
    latest: u64,
    early: Vec<(u64, TaskId, Vec<OpAck>)>,
    /// Checkpoint ids whose writing fails on purpose (tests).
    failing: Vec<u64>,
    /// Finished sub-tasks whose sinks' output is not committed yet: the
    /// first checkpoint that holds their final state.
    final_in: BTreeMap<TaskId, u64>,
}

/// Large final states (pinned tables) are freed on a thread of their own,
/// as the memory backend frees its own (see `weir_state::MemoryBackend`).
impl Drop for TaskHost {
    fn drop(&mut self) {
        let finished = std::mem::take(&mut self.finished);
        if !finished.is_empty() {
            let _ = std::thread::Builder::new()
                .name("weir-free-final".into())
                .spawn(move || drop(finished));
        }
    }
}

impl TaskHost {
    /// A host; writing checkpoints `failing` fails as a full disk would.
    pub(crate) fn new(failing: Vec<u64>) -> Self {
        TaskHost {
            finished: BTreeMap::new(),
            taking: BTreeMap::new(),
            latest: 0,
            early: Vec::new(),
            failing,
            final_in: BTreeMap::new(),
        }
    }

    /// Checkpoint `id` starts, to be written into `target`: finished
    /// sub-tasks acknowledge at once with their final state.
    pub(crate) fn trigger(&mut self, id: u64, target: Target, out: &mut Vec<Report>) {
        self.latest = self.latest.max(id);
        self.taking.insert(
            id,
            Taking {
                target,
                acked: HashSet::new(),
            },
        );
        let tasks: Vec<TaskId> = self.finished.keys().copied().collect();
        for task in tasks {
            self.persist_final(id, task, out);
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|(i, ..)| *i == id);
        self.early = later;
        for (id, task, ops) in now {
            self.persist(id, task, ops, out);
        }
    }

    /// Handles a sub-task's event.
    pub(crate) fn on_event(&mut self, ev: TaskEvent, out: &mut Vec<Report>) {
        match ev {
            TaskEvent::Ack { id, task, ops } => {
                if self.taking.contains_key(&id) {
                    self.persist(id, task, ops, out);
                } else if id > self.latest {
                    self.early.push((id, task, ops));
                } else {
                    discard(ops);
                }
            }
            TaskEvent::Finished { task, ops } => {
                let sinks = ops.iter().filter_map(|o| o.snapshot.sink.clone()).collect();
                self.finished.insert(task, ops);
                out.push(Report::Finished { task, sinks });
                let owed: Vec<u64> = self
                    .taking
                    .iter()
                    .filter(|(_, t)| !t.acked.contains(&task))
                    .map(|(id, _)| *id)
                    .collect();
                for id in owed {
                    self.persist_final(id, task, out);
                }
            }
        }
    }

    /// Writes finished sub-task `task`'s final state into checkpoint `id`,
    /// building it first if no checkpoint needed it yet.
    fn persist_final(&mut self, id: u64, task: TaskId, out: &mut Vec<Report>) {
        let Some(ops) = self.finished.get_mut(&task) else {
            return;
        };
        let mut acks = Vec::with_capacity(ops.len());
        for o in ops.iter_mut() {
            if let Some(d) = o.deferred.take() {
                match super::persist::spill(d) {
                    Ok(s) => o.spilled = Some(s),
                    Err(e) => {
                        out.push(Report::Failed {
                            reason: format!(
                                "cannot snapshot the final state of operator '{}': {e}",
                                o.snapshot.operator
                            ),
                        });
                        return;
                    }
                }
            }
            let mut ack = OpAck::complete(o.snapshot.clone());
            ack.spilled = o.spilled.clone();
            acks.push(ack);
        }
        self.persist(id, task, acks, out);
    }

    /// Checkpoint `id` failed: acknowledgements still to come are dropped.
    pub(crate) fn abort(&mut self, id: u64) {
        self.latest = self.latest.max(id);
        self.taking.remove(&id);
        for (_, _, ops) in self.drain_early(|i| i <= id) {
            discard(ops);
        }
    }

    /// Checkpoint `id` completed: nothing older is taken any more, and
    /// finished sub-tasks whose final state it holds commit their sinks'
    /// output (running ones commit when they hear of it themselves).
    pub(crate) fn completed(&mut self, id: u64, out: &mut Vec<Report>) {
        self.latest = self.latest.max(id);
        self.taking.retain(|i, _| *i > id);
        let due: Vec<TaskId> = self
            .final_in
            .iter()
            .filter(|(_, first)| **first <= id)
            .map(|(t, _)| *t)
            .collect();
        for task in due {
            self.final_in.remove(&task);
            let ops = self.finished.get(&task).into_iter().flatten();
            for k in ops.filter_map(|o| o.snapshot.sink.as_ref()) {
                if let Err(e) = crate::sink_commit::commit_sink(k) {
                    out.push(Report::Failed {
                        reason: format!("checkpoint {id}: {e}"),
                    });
                }
            }
        }
        for (_, _, ops) in self.drain_early(|i| i <= id) {
            discard(ops);
        }
    }

    fn drain_early(&mut self, pick: impl Fn(u64) -> bool) -> Vec<(u64, TaskId, Vec<OpAck>)> {
        let (picked, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|(i, ..)| pick(*i));
        self.early = kept;
        picked
    }

    /// Writes `task`'s snapshots into checkpoint `id`; a failure declines
    /// the checkpoint (and drops what else comes for it).
    fn persist(&mut self, id: u64, task: TaskId, ops: Vec<OpAck>, out: &mut Vec<Report>) {
        let Some(taking) = self.taking.get_mut(&id) else {
            discard(ops);
            return;
        };
        if !taking.acked.insert(task) {
            discard(ops);
            return;
        }
        let result = if self.failing.contains(&id) {
            discard(ops);
            Err(format!("cannot write checkpoint {id}: injected failure"))
        } else {
            let mut written = Vec::with_capacity(ops.len());
            let mut ops = ops.into_iter();
            let mut result = Ok(());
            for op in ops.by_ref() {
                match persist_op(&taking.target, op) {
                    Ok(p) => written.push(p),
                    Err(e) => {
                        result = Err(format!("cannot write checkpoint {id}: {e}"));
                        break;
                    }
                }
            }
            discard(ops.collect());
            result.map(|()| written)
        };
        match result {
            Ok(ops) => {
                if self.finished.contains_key(&task) {
                    self.final_in.entry(task).or_insert(id);
                }
                out.push(Report::Acked { id, task, ops })
            }
            Err(reason) => {
                self.taking.remove(&id);
                out.push(Report::Declined { id, reason });
            }
        }
    }
}

/// Drops acknowledgements that will not be written, with the backend
/// files staged for them.
fn discard(ops: Vec<OpAck>) {
    for op in ops {
        if let Some(n) = op.native {
            let _ = std::fs::remove_dir_all(&n.dir);
        }
    }
}
