//! The checkpoint coordinator: triggers checkpoints and savepoints,
//! collects the sub-tasks' snapshots, writes them, completes checkpoints
//! (metadata last), commits sink output and prunes old checkpoints.

use crate::control::{Barrier, Control, OpAck, TaskEvent, TaskId};
use crate::failure::JobFailure;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_checkpoint::{
    CheckpointKind, CheckpointStore, KeyedPart, Metadata, OperatorMeta, OperatorSnapshot,
    RocksDbFiles, SnapshotFile, encode_snapshot,
};
use weir_core::ErrorDomain;

/// A savepoint someone asked for.
pub struct SavepointRequest {
    /// Directory under which the savepoint directory is created.
    pub dir: PathBuf,
    /// Stop the job once the savepoint is complete.
    pub stop: bool,
    /// Receives the savepoint's path, or why it failed.
    pub reply: crossbeam_channel::Sender<Result<PathBuf, String>>,
}

/// What checkpoints have done so far.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    /// Completed checkpoints (savepoints not included).
    pub completed: u64,
    /// Duration of the last completed one.
    pub last_duration: Option<Duration>,
    /// Bytes the last completed one wrote.
    pub last_bytes: u64,
    /// Id of the last completed checkpoint.
    pub last_id: Option<u64>,
    /// The id the next checkpoint takes: ids keep growing across restarts,
    /// even when failed checkpoints left no directory behind.
    pub(crate) next_id: u64,
}

struct InFlight {
    barrier: Barrier,
    dir: PathBuf,
    started: Instant,
    triggered_ms: i64,
    acked: HashSet<TaskId>,
    files: Vec<SnapshotFile>,
    /// Sink sub-tasks' snapshots (their pending files), to commit when
    /// the checkpoint completes or carry over when it fails.
    sinks: Vec<OperatorSnapshot>,
    bytes: u64,
    shared: Vec<String>,
    savepoint: Option<SavepointRequest>,
}

/// Static facts about the job the coordinator needs.
pub(crate) struct JobFacts {
    pub(crate) name: String,
    pub(crate) max_parallelism: u32,
    pub(crate) backend: &'static str,
    pub(crate) operators: Vec<OperatorMeta>,
    pub(crate) tasks: Vec<TaskId>,
}

/// Coordinates the checkpoints of one run of a job.
pub(crate) struct Coordinator {
    facts: JobFacts,
    store: Option<CheckpointStore>,
    interval: Option<Duration>,
    /// How long a checkpoint or savepoint may be in flight.
    timeout: Duration,
    /// Failed checkpoints in a row the job tolerates before it fails.
    tolerable: u32,
    /// Failed checkpoints since the last complete one.
    failures: u32,
    /// Failed checkpoints whose acknowledgements may still come.
    aborted: HashSet<u64>,
    /// Checkpoint ids whose writing fails on purpose (tests).
    failing: Vec<u64>,
    next_trigger: Instant,
    next_id: u64,
    finished: HashMap<TaskId, Vec<OperatorSnapshot>>,
    in_flight: Option<InFlight>,
    queued: Vec<SavepointRequest>,
    pub(crate) stats: CheckpointStats,
    /// Set when a stop-with-savepoint completed: its path.
    pub(crate) stopped_with: Option<PathBuf>,
}

fn failure(message: impl Into<String>) -> JobFailure {
    JobFailure::job(ErrorDomain::External, message)
}

fn now_ms() -> i64 {
    weir_connectors::now_ms()
}

/// Copies a file, as a hard link where the file system allows.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<u64> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(0);
    }
    std::fs::copy(from, to)
}

impl Coordinator {
    pub(crate) fn new(
        facts: JobFacts,
        store: Option<CheckpointStore>,
        interval: Option<Duration>,
        timeout: Duration,
        tolerable: u32,
        failing: Vec<u64>,
        stats: CheckpointStats,
    ) -> Self {
        let next_id = store
            .as_ref()
            .map_or(1, CheckpointStore::next_id)
            .max(stats.next_id);
        Coordinator {
            facts,
            store,
            interval,
            timeout,
            tolerable,
            failures: 0,
            aborted: HashSet::new(),
            failing,
            next_trigger: Instant::now() + interval.unwrap_or(Duration::from_secs(3600)),
            next_id,
            finished: HashMap::new(),
            in_flight: None,
            queued: Vec::new(),
            stats,
            stopped_with: None,
        }
    }

    /// Takes a savepoint as soon as no checkpoint is in flight.
    pub(crate) fn request_savepoint(&mut self, r: SavepointRequest) {
        self.queued.push(r);
    }

    /// Whether every sub-task has finished.
    pub(crate) fn all_finished(&self) -> bool {
        self.facts
            .tasks
            .iter()
            .all(|t| self.finished.contains_key(t))
    }

    /// Triggers a checkpoint or a queued savepoint when due.
    pub(crate) fn tick(&mut self, ctl: &Control) -> Result<(), JobFailure> {
        if let Some(f) = &self.in_flight
            && f.started.elapsed() > self.timeout
        {
            self.expire()?;
        }
        if self.in_flight.is_some() || self.all_finished() || ctl.cancelled() {
            return Ok(());
        }
        if let Some(req) = (!self.queued.is_empty()).then(|| self.queued.remove(0)) {
            let id = self.next_id;
            let dir = req
                .dir
                .join(format!("savepoint-{}-{id}-{}", self.facts.name, now_ms()));
            if let Err(e) = std::fs::create_dir_all(&dir) {
                let _ = req
                    .reply
                    .send(Err(format!("cannot create {}: {e}", dir.display())));
                return Ok(());
            }
            self.start(ctl, CheckpointKind::Savepoint, dir, Some(req));
            return Ok(());
        }
        let (Some(interval), Some(store)) = (self.interval, &self.store) else {
            return Ok(());
        };
        if Instant::now() < self.next_trigger {
            return Ok(());
        }
        self.next_trigger = Instant::now() + interval;
        match store.begin(self.next_id) {
            Ok(dir) => {
                self.start(ctl, CheckpointKind::Checkpoint, dir, None);
                Ok(())
            }
            Err(e) => {
                let id = self.next_id;
                self.next_id += 1;
                self.stats.next_id = self.next_id;
                self.count_failure(failure(format!("cannot start checkpoint {id}: {e}")))
            }
        }
    }

    /// An in-flight checkpoint ran out of time: it fails (see `fail`).
    fn expire(&mut self) -> Result<(), JobFailure> {
        let Some(f) = self.in_flight.take() else {
            return Ok(());
        };
        let waiting = self
            .facts
            .tasks
            .iter()
            .filter(|t| !f.acked.contains(t) && !self.finished.contains_key(t))
            .count();
        let what = match f.barrier.kind {
            CheckpointKind::Checkpoint => "checkpoint",
            CheckpointKind::Savepoint => "savepoint",
        };
        let message = format!(
            "{what} {} expired after {} ms: {waiting} of {} sub-tasks had not acknowledged it (backpressure or a slow operator; raise [checkpointing] timeout_ms)",
            f.barrier.id,
            self.timeout.as_millis(),
            self.facts.tasks.len()
        );
        self.fail(f, failure(message))
    }

    /// A checkpoint or savepoint failed (it could not be written, or it
    /// expired). Its directory goes; acknowledgements still on their way
    /// are dropped (sinks keep the output handed to it, and hand it to the
    /// next checkpoint). A failed savepoint is reported to whoever asked and
    /// the job goes on; a failed checkpoint fails the attempt (the job
    /// restarts from the latest complete one) unless `tolerable_failures`
    /// allow it.
    fn fail(&mut self, f: InFlight, e: JobFailure) -> Result<(), JobFailure> {
        self.aborted.insert(f.barrier.id);
        let _ = std::fs::remove_dir_all(&f.dir);
        if let Some(req) = f.savepoint {
            tracing::warn!("{e}");
            let _ = req.reply.send(Err(e.message));
            return Ok(());
        }
        self.count_failure(e)
    }

    /// Counts a failed checkpoint against the tolerated ones.
    fn count_failure(&mut self, e: JobFailure) -> Result<(), JobFailure> {
        self.failures += 1;
        if self.failures > self.tolerable {
            return Err(e);
        }
        tracing::warn!(
            "{e} (tolerated: {} of {} failed checkpoints in a row)",
            self.failures,
            self.tolerable
        );
        Ok(())
    }

    fn start(
        &mut self,
        ctl: &Control,
        kind: CheckpointKind,
        dir: PathBuf,
        savepoint: Option<SavepointRequest>,
    ) {
        let barrier = Barrier {
            id: self.next_id,
            kind,
        };
        self.next_id += 1;
        self.stats.next_id = self.next_id;
        tracing::debug!("triggering {kind:?} {}", barrier.id);
        self.in_flight = Some(InFlight {
            barrier,
            dir,
            started: Instant::now(),
            triggered_ms: now_ms(),
            acked: HashSet::new(),
            files: Vec::new(),
            sinks: Vec::new(),
            bytes: 0,
            shared: Vec::new(),
            savepoint,
        });
        ctl.trigger(barrier);
    }

    /// Handles a sub-task's report.
    pub(crate) fn on_event(&mut self, ev: TaskEvent, ctl: &Control) -> Result<(), JobFailure> {
        match ev {
            TaskEvent::Ack { id, task, ops } => {
                if self.aborted.contains(&id) {
                    for op in ops {
                        if let Some(n) = op.native {
                            let _ = std::fs::remove_dir_all(&n.dir);
                        }
                    }
                    return Ok(());
                }
                let shared = self.store.as_ref().map(CheckpointStore::shared_dir);
                let Some(f) = self.in_flight.as_mut().filter(|f| f.barrier.id == id) else {
                    return Ok(());
                };
                let mut result = if self.failing.contains(&id) {
                    Err(failure(format!(
                        "cannot write checkpoint {id}: injected failure"
                    )))
                } else {
                    Ok(())
                };
                for op in ops {
                    if result.is_ok() {
                        result = write_op(f, op, shared.as_deref());
                    }
                }
                match result {
                    Ok(()) => {
                        f.acked.insert(task);
                    }
                    Err(e) => {
                        if let Some(f) = self.in_flight.take() {
                            return self.fail(f, e);
                        }
                    }
                }
            }
            TaskEvent::Finished { task, ops } => {
                let mut snaps = Vec::with_capacity(ops.len());
                for mut o in ops {
                    o.materialize().map_err(|e| {
                        failure(format!(
                            "cannot snapshot the final state of operator '{}': {e}",
                            o.snapshot.operator
                        ))
                    })?;
                    snaps.push(o.snapshot);
                }
                self.finished.insert(task, snaps);
            }
        }
        self.maybe_complete(ctl)
    }

    fn maybe_complete(&mut self, ctl: &Control) -> Result<(), JobFailure> {
        let Some(f) = &self.in_flight else {
            return Ok(());
        };
        if !self
            .facts
            .tasks
            .iter()
            .all(|t| f.acked.contains(t) || self.finished.contains_key(t))
        {
            return Ok(());
        }
        let Some(mut f) = self.in_flight.take() else {
            return Ok(());
        };
        // Sub-tasks that finished stand in with their final state.
        for t in &self.facts.tasks {
            if !f.acked.contains(t)
                && let Some(snaps) = self.finished.get(t)
            {
                for s in snaps {
                    if let Err(e) = write_op(&mut f, OpAck::complete(s.clone()), None) {
                        return self.fail(f, e);
                    }
                }
            }
        }
        let job_finished = self.all_finished();
        self.complete(f, job_finished, ctl)
    }

    fn complete(
        &mut self,
        f: InFlight,
        job_finished: bool,
        ctl: &Control,
    ) -> Result<(), JobFailure> {
        let duration = f.started.elapsed();
        let meta = Metadata {
            format: 1,
            job: self.facts.name.clone(),
            id: f.barrier.id,
            kind: f.barrier.kind,
            triggered_ms: f.triggered_ms,
            duration_ms: duration.as_millis() as u64,
            backend: self.facts.backend.to_owned(),
            max_parallelism: self.facts.max_parallelism,
            operators: self.facts.operators.clone(),
            files: f.files.clone(),
            bytes: f.bytes,
            job_finished,
            shared: f.shared.clone(),
        };
        if let Err(e) = CheckpointStore::complete(&f.dir, &meta) {
            return self.fail(
                f,
                failure(format!("cannot complete checkpoint {}: {e}", meta.id)),
            );
        }
        // The checkpoint is durable: its output may become visible. Running
        // sinks commit it when they hear (the second phase); when no sink
        // will hear any more (the job ended, or stops after this savepoint)
        // the coordinator commits it here. Committing is idempotent.
        let stopping = f.savepoint.as_ref().is_some_and(|r| r.stop);
        if job_finished || stopping {
            for s in &f.sinks {
                if let Some(k) = &s.sink {
                    weir_connectors::commit(Path::new(&k.dir), &k.pending)
                        .map_err(|e| failure(format!("checkpoint {}: {e}", meta.id)))?;
                }
            }
        }
        ctl.notify_complete(meta.id);
        match f.barrier.kind {
            CheckpointKind::Checkpoint => {
                self.failures = 0;
                self.stats.completed += 1;
                self.stats.last_duration = Some(duration);
                self.stats.last_bytes = meta.bytes;
                self.stats.last_id = Some(meta.id);
                tracing::info!(
                    "checkpoint {} complete: {} bytes in {} ms",
                    meta.id,
                    meta.bytes,
                    meta.duration_ms
                );
                if let Some(store) = &self.store
                    && let Err(e) = store.prune()
                {
                    tracing::warn!("cannot remove old checkpoints: {e}");
                }
            }
            CheckpointKind::Savepoint => {
                tracing::info!("savepoint {} complete at {}", meta.id, f.dir.display());
                if let Some(req) = f.savepoint {
                    if req.stop {
                        self.stopped_with = Some(f.dir.clone());
                        ctl.cancel();
                    }
                    let _ = req.reply.send(Ok(f.dir));
                }
            }
        }
        Ok(())
    }

    /// The job ended: every sub-task finished. Writes a final checkpoint
    /// (so that a restore finds nothing left to do) and commits the last
    /// output.
    pub(crate) fn finish_job(&mut self, ctl: &Control) -> Result<(), JobFailure> {
        self.maybe_complete(ctl)?;
        for req in self.queued.drain(..) {
            let _ = req
                .reply
                .send(Err("the job finished before the savepoint was taken".into()));
        }
        let mut tasks: Vec<&TaskId> = self.finished.keys().collect();
        tasks.sort();
        let snaps: Vec<OperatorSnapshot> = tasks
            .iter()
            .filter_map(|t| self.finished.get(t))
            .flatten()
            .cloned()
            .collect();
        match &self.store {
            Some(store) => {
                let id = self.next_id;
                self.next_id += 1;
                self.stats.next_id = self.next_id;
                let dir = store
                    .begin(id)
                    .map_err(|e| failure(format!("cannot write the final checkpoint: {e}")))?;
                let mut f = InFlight {
                    barrier: Barrier {
                        id,
                        kind: CheckpointKind::Checkpoint,
                    },
                    dir,
                    started: Instant::now(),
                    triggered_ms: now_ms(),
                    acked: HashSet::new(),
                    files: Vec::new(),
                    sinks: Vec::new(),
                    bytes: 0,
                    shared: Vec::new(),
                    savepoint: None,
                };
                for s in snaps {
                    write_op(&mut f, OpAck::complete(s), None)?;
                }
                self.complete(f, true, ctl)
            }
            None => {
                for s in &snaps {
                    if let Some(sink) = &s.sink {
                        weir_connectors::commit(Path::new(&sink.dir), &sink.pending)
                            .map_err(|e| failure(e.to_string()))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Writes one operator snapshot into the in-flight checkpoint, copying a
/// native backend checkpoint's new files first.
fn write_op(f: &mut InFlight, mut op: OpAck, shared_root: Option<&Path>) -> Result<(), JobFailure> {
    op.materialize().map_err(|e| {
        failure(format!(
            "cannot snapshot the state of operator '{}' (sub-task {}): {e}",
            op.snapshot.operator,
            op.snapshot.subtask + 1
        ))
    })?;
    let OpAck {
        mut snapshot,
        native,
        ..
    } = op;
    if let Some(n) = native {
        let Some(shared_root) = shared_root else {
            return Err(failure(
                "a native state snapshot outside a checkpoint store",
            ));
        };
        let private_dir = format!("rocksdb-{}-{}", snapshot.operator, snapshot.subtask);
        let private = f.dir.join(&private_dir);
        let own = shared_root.join(&n.instance);
        std::fs::create_dir_all(&private)
            .and_then(|_| std::fs::create_dir_all(&own))
            .map_err(|e| failure(format!("cannot create checkpoint files: {e}")))?;
        let mut shared = Vec::with_capacity(n.shared.len());
        for file in &n.shared {
            let rel = match &file.existing {
                Some(rel) => rel.clone(),
                None => {
                    let rel = format!("{}/{}", n.instance, file.name);
                    let to = shared_root.join(&rel);
                    if !to.exists() {
                        f.bytes += link_or_copy(&n.dir.join(&file.name), &to)
                            .map_err(|e| failure(format!("cannot copy {}: {e}", file.name)))?
                            .max(std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0));
                    }
                    rel
                }
            };
            f.shared.push(rel.clone());
            shared.push(rel);
        }
        for name in &n.private {
            f.bytes += std::fs::copy(n.dir.join(name), private.join(name))
                .map_err(|e| failure(format!("cannot copy {name}: {e}")))?;
        }
        let _ = std::fs::remove_dir_all(&n.dir);
        snapshot.keyed = Some(KeyedPart::RocksDb(RocksDbFiles {
            key_groups: n.key_groups,
            shared,
            private: n.private,
            private_dir,
            states: n.states,
        }));
    }
    if let Some(sink) = &snapshot.sink {
        let mut part =
            OperatorSnapshot::empty(&snapshot.operator, snapshot.subtask, snapshot.parallelism);
        part.sink = Some(sink.clone());
        f.sinks.push(part);
    }
    let bytes = encode_snapshot(&snapshot)
        .map_err(|e| failure(format!("cannot encode a snapshot: {e}")))?;
    let file =
        CheckpointStore::write_snapshot(&f.dir, &snapshot.operator, snapshot.subtask, &bytes)
            .map_err(|e| failure(format!("cannot write checkpoint {}: {e}", f.barrier.id)))?;
    f.bytes += file.bytes;
    f.files.push(file);
    Ok(())
}

#[cfg(test)]
mod tests;
