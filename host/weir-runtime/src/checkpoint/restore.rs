//! Restoring a job from a checkpoint or savepoint: which snapshots each
//! new sub-task gets, and the checks that must pass before the job starts.

use crate::failure::JobFailure;
use std::collections::{BTreeMap, HashMap};
use weir_checkpoint::{CheckpointKind, KeyedPart, Loaded, OperatorSnapshot, SourceState};
use weir_core::graph::NodeKind;
use weir_core::{ErrorDomain, JobGraph};

/// Snapshots by operator, ready to hand out to sub-tasks.
pub(crate) struct RestorePlan {
    /// The restored checkpoint or savepoint.
    pub(crate) loaded: Loaded,
    by_operator: HashMap<String, Vec<OperatorSnapshot>>,
}

fn user(message: String) -> JobFailure {
    JobFailure::job(ErrorDomain::User, message)
}

impl RestorePlan {
    /// Checks that `loaded` fits `graph`: same key groups, every snapshot
    /// operator present (unless `allow_non_restored`), checkpoints in a
    /// backend's own format only on that backend at the same parallelism.
    pub(crate) fn new(
        loaded: Loaded,
        graph: &JobGraph,
        backend: &str,
        allow_non_restored: bool,
    ) -> Result<Self, JobFailure> {
        let what = match loaded.metadata.kind {
            CheckpointKind::Checkpoint => "checkpoint",
            CheckpointKind::Savepoint => "savepoint",
        };
        let origin = loaded.dir.display().to_string();
        if loaded.metadata.max_parallelism != graph.max_parallelism {
            return Err(user(format!(
                "the {what} {origin} has {} key groups (max_parallelism) and this job {}: key groups cannot be split or merged; keep max_parallelism",
                loaded.metadata.max_parallelism, graph.max_parallelism
            )));
        }
        let mut by_operator: HashMap<String, Vec<OperatorSnapshot>> = HashMap::new();
        for s in &loaded.snapshots {
            let mut s = s.clone();
            // State files are read where the sub-task restores: name them
            // by their full location.
            if let Some(KeyedPart::Streamed(k)) = &mut s.keyed {
                k.file = loaded.dir.join(&k.file).display().to_string();
            }
            by_operator.entry(s.operator.clone()).or_default().push(s);
        }
        for (op, snaps) in &by_operator {
            let Some(node) = graph.nodes.iter().find(|n| &n.id == op) else {
                let has_state = snaps.iter().any(|s| {
                    s.keyed.is_some() || !s.timers.is_empty() || s.operator_state.is_some()
                });
                if has_state && !allow_non_restored {
                    return Err(user(format!(
                        "the {what} {origin} has state for operator '{op}', which this job does not have; keep the operator's id, or pass --allow-non-restored-state to drop that state"
                    )));
                }
                continue;
            };
            for s in snaps {
                if let Some(KeyedPart::RocksDb(_)) = &s.keyed {
                    if backend != "rocksdb" {
                        return Err(user(format!(
                            "the checkpoint {origin} holds operator '{op}' in RocksDB's own format; restore it with the rocksdb backend, or take a savepoint to switch backends"
                        )));
                    }
                    if s.parallelism != node.parallelism {
                        return Err(user(format!(
                            "the checkpoint {origin} ran operator '{op}' at parallelism {}; checkpoints restore at the same parallelism (this job: {}); take a savepoint to rescale",
                            s.parallelism, node.parallelism
                        )));
                    }
                }
            }
            let kinds_ok = match &node.kind {
                NodeKind::Source(_) => snaps.iter().all(|s| s.keyed.is_none()),
                NodeKind::Sink(_) => snaps.iter().all(|s| s.keyed.is_none()),
                NodeKind::Operator(o) => {
                    o.kind.is_keyed() || snaps.iter().all(|s| s.keyed.is_none())
                }
                NodeKind::Functions(_) => true,
            };
            if !kinds_ok {
                return Err(user(format!(
                    "the {what} {origin} has keyed state for '{op}', which is not a keyed operator in this job"
                )));
            }
        }
        Ok(RestorePlan {
            loaded,
            by_operator,
        })
    }

    fn snapshots(&self, op: &str) -> &[OperatorSnapshot] {
        self.by_operator.get(op).map_or(&[], Vec::as_slice)
    }

    /// The snapshots a keyed or stateful operator's sub-task restores from:
    /// its own at the same parallelism, otherwise all (each sub-task keeps
    /// its key groups).
    pub(crate) fn for_operator(
        &self,
        op: &str,
        subtask: u32,
        parallelism: u32,
    ) -> Vec<&OperatorSnapshot> {
        let all = self.snapshots(op);
        if all.iter().all(|s| s.parallelism == parallelism) {
            all.iter().filter(|s| s.subtask == subtask).collect()
        } else {
            all.iter().collect()
        }
    }

    /// The key-group range sub-task `subtask` of `op` held, when its
    /// snapshot is in a backend's own format (restored as a whole).
    pub(crate) fn native_for(
        &self,
        op: &str,
        subtask: u32,
    ) -> Option<&weir_checkpoint::RocksDbFiles> {
        self.snapshots(op).iter().find_map(|s| match &s.keyed {
            Some(KeyedPart::RocksDb(f)) if s.subtask == subtask => Some(f),
            _ => None,
        })
    }

    /// Where a source sub-task resumes: its own splits at the same
    /// parallelism, otherwise every split dealt round robin. `None`: the
    /// source starts from the beginning (it was not in the snapshot).
    pub(crate) fn source_for(
        &self,
        op: &str,
        subtask: u32,
        parallelism: u32,
    ) -> Option<SourceState> {
        let all = self.snapshots(op);
        if all.is_empty() {
            return None;
        }
        let states: Vec<&SourceState> = if all.iter().all(|s| s.parallelism == parallelism) {
            all.iter()
                .filter(|s| s.subtask == subtask)
                .filter_map(|s| s.source.as_ref())
                .collect()
        } else {
            let mut ordered: Vec<&OperatorSnapshot> = all.iter().collect();
            ordered.sort_by_key(|s| s.subtask);
            ordered.iter().filter_map(|s| s.source.as_ref()).collect()
        };
        let dealt = |k: usize| {
            all.iter().all(|s| s.parallelism == parallelism) || k as u32 % parallelism == subtask
        };
        let mut files = Vec::new();
        let mut streams = Vec::new();
        let mut sample = None;
        let mut kafka = false;
        for st in states {
            match st {
                SourceState::Files(f) => files.extend(f.iter().cloned()),
                SourceState::Datagen(d) => streams.extend(d.iter().copied()),
                SourceState::Sample(done) => sample = Some(sample.unwrap_or(false) || *done),
                SourceState::Kafka(_) => kafka = true,
            }
        }
        if kafka {
            // Every reader gets every partition's position and keeps the
            // partitions it owns (`weir_kafka::owner`), at any parallelism.
            return Some(SourceState::Kafka(
                all.iter()
                    .filter_map(|s| match &s.source {
                        Some(SourceState::Kafka(p)) => Some(p.iter().cloned()),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
            ));
        }
        if let Some(done) = sample {
            return Some(SourceState::Sample(done || subtask != 0));
        }
        if !streams.is_empty() {
            return Some(SourceState::Datagen(
                streams
                    .into_iter()
                    .enumerate()
                    .filter(|(k, _)| dealt(*k))
                    .map(|(_, s)| s)
                    .collect(),
            ));
        }
        Some(SourceState::Files(
            files
                .into_iter()
                .enumerate()
                .filter(|(k, _)| dealt(*k))
                .map(|(_, s)| s)
                .collect(),
        ))
    }

    /// Where a sink sub-task's part numbers continue, and for cleaning the
    /// output directory, where each snapshotted sub-task stopped.
    pub(crate) fn sink_parts(&self, op: &str) -> BTreeMap<u32, u64> {
        self.snapshots(op)
            .iter()
            .filter_map(|s| s.sink.as_ref().map(|k| (s.subtask, k.next_part)))
            .collect()
    }

    /// The part number sink sub-task `subtask` continues at.
    pub(crate) fn sink_next_part(&self, op: &str, subtask: u32, parallelism: u32) -> u64 {
        let parts = self.sink_parts(op);
        let same = self
            .snapshots(op)
            .iter()
            .all(|s| s.parallelism == parallelism);
        if same {
            parts.get(&subtask).copied().unwrap_or(0)
        } else {
            parts.values().copied().max().unwrap_or(0)
        }
    }

    /// Every sink snapshot's pending files, to commit before the restored
    /// job starts.
    pub(crate) fn pending_sinks(&self) -> Vec<&weir_checkpoint::SinkState> {
        self.loaded
            .snapshots
            .iter()
            .filter_map(|s| s.sink.as_ref())
            .collect()
    }
}
