//! The checkpoint coordinator: triggers checkpoints and savepoints,
//! records what the sub-tasks wrote for them, completes checkpoints
//! (metadata last), notifies the sub-tasks and prunes old checkpoints.
//!
//! It is sans-IO towards the sub-tasks: it takes their hosts' [`Report`]s
//! and leaves [`Command`]s for whoever runs them (threads of this process,
//! or workers of a cluster) to carry out.

use crate::checkpoint::host::Report;
use crate::checkpoint::persist::Target;
use crate::control::{Barrier, TaskId};
use crate::failure::JobFailure;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_checkpoint::{
    CheckpointKind, CheckpointStore, Metadata, OperatorMeta, SinkState, SnapshotFile,
};
use weir_core::ErrorDomain;

/// What the coordinator asks of the sub-tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take checkpoint `barrier.id`, writing into `target`.
    Trigger {
        /// The checkpoint's barrier.
        barrier: Barrier,
        /// Where its files go.
        target: Target,
    },
    /// Checkpoint `id` failed: drop what is still written for it.
    Abort(u64),
    /// Checkpoint `id` completed (sinks commit what it covers).
    Completed(u64),
    /// Stop every sub-task (a stop-with-savepoint is complete).
    Stop,
}

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
    /// Checkpoints and savepoints that failed (could not be written, or
    /// expired).
    pub failed: u64,
    /// Completed savepoints.
    pub savepoints: u64,
    /// Path of the last completed checkpoint.
    pub last_path: Option<PathBuf>,
    /// When the last completed one was triggered (ms since the epoch).
    pub last_triggered_ms: i64,
    /// The id the next checkpoint takes: ids keep growing across restarts,
    /// even when failed checkpoints left no directory behind.
    pub(crate) next_id: u64,
    /// The latest checkpoints and savepoints, oldest first (at most
    /// HISTORY), the one in flight among them.
    pub history: Vec<CheckpointRecord>,
    /// Times the job was restored from a checkpoint or savepoint.
    pub restored: u64,
    /// What it was restored from last.
    pub last_restored: Option<RestoredFrom>,
}

/// How many checkpoints the history keeps (Flink's default of
/// `web.checkpoints.history`).
pub(crate) const HISTORY: usize = 10;

/// Where a checkpoint or savepoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointStatus {
    /// Triggered, not all sub-tasks acknowledged yet.
    InProgress,
    /// Durable.
    Completed,
    /// Declined, expired or not written.
    Failed,
}

/// One checkpoint or savepoint of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// Its id.
    pub id: u64,
    /// Whether it is a savepoint.
    pub savepoint: bool,
    /// Where it stands.
    pub status: CheckpointStatus,
    /// When it was triggered (ms since the epoch).
    pub triggered_ms: i64,
    /// When the last acknowledgement came (ms since the epoch; 0: none).
    pub latest_ack_ms: i64,
    /// Trigger to completion (or failure), ms; so far while in flight.
    pub duration_ms: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Sub-tasks that acknowledged.
    pub acknowledged: u32,
    /// Sub-tasks that take part.
    pub tasks: u32,
    /// Its directory (being written while in flight).
    pub path: Option<PathBuf>,
    /// Why it failed.
    pub failure: Option<String>,
}

/// The checkpoint or savepoint a job was restored from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredFrom {
    /// Its id.
    pub id: u64,
    /// Its directory.
    pub path: PathBuf,
    /// Whether it was a savepoint.
    pub savepoint: bool,
    /// When the restore happened (ms since the epoch).
    pub at_ms: i64,
}

impl CheckpointStats {
    /// The record of checkpoint `id`, if still in the history.
    fn record_mut(&mut self, id: u64) -> Option<&mut CheckpointRecord> {
        self.history.iter_mut().rev().find(|r| r.id == id)
    }

    fn push_record(&mut self, r: CheckpointRecord) {
        self.history.push(r);
        if self.history.len() > HISTORY {
            let extra = self.history.len() - HISTORY;
            self.history.drain(..extra);
        }
    }

    /// Checkpoints in flight.
    pub fn in_progress(&self) -> usize {
        self.history
            .iter()
            .filter(|r| r.status == CheckpointStatus::InProgress)
            .count()
    }

    /// Counts a restore from `from`.
    pub(crate) fn record_restore(&mut self, from: RestoredFrom) {
        self.restored += 1;
        self.last_restored = Some(from);
    }
}

struct InFlight {
    barrier: Barrier,
    dir: PathBuf,
    started: Instant,
    triggered_ms: i64,
    acked: HashSet<TaskId>,
    files: Vec<SnapshotFile>,
    /// File sinks' pending output, committed here when no sink will hear
    /// that the checkpoint completed.
    sinks: Vec<SinkState>,
    bytes: u64,
    shared: Vec<String>,
    savepoint: Option<SavepointRequest>,
    /// Those who asked for this checkpoint: they hear its id or why it
    /// failed.
    asked: Vec<CheckpointReply>,
}

/// Receives the id of a checkpoint asked for, once complete, or why it
/// failed.
pub type CheckpointReply = crossbeam_channel::Sender<Result<u64, String>>;

impl InFlight {
    fn new(barrier: Barrier, dir: PathBuf, savepoint: Option<SavepointRequest>) -> Self {
        InFlight {
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
            asked: Vec::new(),
        }
    }
}

/// Static facts about the job the coordinator needs.
pub(crate) struct JobFacts {
    pub(crate) name: String,
    pub(crate) max_parallelism: u32,
    pub(crate) backend: &'static str,
    pub(crate) operators: Vec<OperatorMeta>,
    pub(crate) tasks: Vec<TaskId>,
}

/// How checkpoints of a job are taken.
pub(crate) struct CheckpointPolicy {
    /// Time between periodic checkpoints (none: savepoints only).
    pub(crate) interval: Option<Duration>,
    /// How long a checkpoint or savepoint may be in flight.
    pub(crate) timeout: Duration,
    /// Failed checkpoints in a row the job tolerates before it fails.
    pub(crate) tolerable: u32,
}

/// Coordinates the checkpoints of one run of a job.
pub(crate) struct Coordinator {
    facts: JobFacts,
    store: Option<CheckpointStore>,
    policy: CheckpointPolicy,
    /// Failed checkpoints since the last complete one.
    failures: u32,
    next_trigger: Instant,
    next_id: u64,
    finished: HashSet<TaskId>,
    in_flight: Option<InFlight>,
    queued: Vec<SavepointRequest>,
    /// Checkpoints asked for now, outside the interval.
    asked: Vec<CheckpointReply>,
    commands: Vec<Command>,
    /// Set once a stop was asked for: nothing more is triggered.
    stopping: bool,
    /// The final checkpoint, once every sub-task finished.
    final_id: Option<u64>,
    /// Whether the final checkpoint completed (or, without a store, the
    /// last output was committed).
    job_done: bool,
    /// Finished file sinks' pending output (committed at the end of a job
    /// without a checkpoint store).
    finished_sinks: Vec<SinkState>,
    pub(crate) stats: CheckpointStats,
    /// Set when a stop-with-savepoint completed: its path.
    pub(crate) stopped_with: Option<PathBuf>,
    /// The sinks' state in the stop's savepoint, committed once every
    /// sub-task has stopped (see `commit_stopped`).
    stop_output: Vec<SinkState>,
}

fn failure(message: impl Into<String>) -> JobFailure {
    JobFailure::job(ErrorDomain::External, message)
}

fn now_ms() -> i64 {
    weir_connectors::now_ms()
}

impl Coordinator {
    pub(crate) fn new(
        facts: JobFacts,
        store: Option<CheckpointStore>,
        policy: CheckpointPolicy,
        stats: CheckpointStats,
    ) -> Result<Self, weir_checkpoint::CheckpointError> {
        // Ids continue after every checkpoint in the store: a guess would
        // overwrite one, or be pruned as older than those there.
        let next_id = match &store {
            Some(s) => s.next_id()?,
            None => 1,
        }
        .max(stats.next_id);
        Ok(Coordinator {
            facts,
            store,
            next_trigger: Instant::now() + policy.interval.unwrap_or(Duration::from_secs(3600)),
            policy,
            failures: 0,
            next_id,
            finished: HashSet::new(),
            in_flight: None,
            queued: Vec::new(),
            asked: Vec::new(),
            commands: Vec::new(),
            stopping: false,
            final_id: None,
            job_done: false,
            finished_sinks: Vec::new(),
            stats,
            stopped_with: None,
            stop_output: Vec::new(),
        })
    }

    /// What the sub-tasks are to do next, oldest first.
    pub(crate) fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Takes a checkpoint as soon as none is in flight, whatever the
    /// interval; fails at once when the job has no checkpoint storage.
    pub(crate) fn request_checkpoint(&mut self, reply: CheckpointReply) {
        if self.store.is_none() {
            let _ = reply.send(Err(
                "the job has no checkpoint storage (run it with --checkpoint-dir)".into(),
            ));
            return;
        }
        self.asked.push(reply);
    }

    /// Takes a savepoint as soon as no checkpoint is in flight.
    pub(crate) fn request_savepoint(&mut self, r: SavepointRequest) {
        self.queued.push(r);
    }

    /// Whether every sub-task has finished.
    pub(crate) fn all_finished(&self) -> bool {
        self.facts.tasks.iter().all(|t| self.finished.contains(t))
    }

    /// Triggers a checkpoint or a queued savepoint when due; `cancelled`
    /// says the attempt is being torn down.
    pub(crate) fn tick(&mut self, cancelled: bool) -> Result<(), JobFailure> {
        if let Some(f) = &self.in_flight
            && f.started.elapsed() > self.policy.timeout
        {
            self.expire()?;
        }
        if self.in_flight.is_some() || self.all_finished() || cancelled || self.stopping {
            return Ok(());
        }
        if let Some(req) = (!self.queued.is_empty()).then(|| self.queued.remove(0)) {
            let id = self.next_id;
            let dir = req
                .dir
                .join(format!("savepoint-{}-{id}-{}", self.facts.name, now_ms()));
            if let Err(e) = weir_checkpoint::create_dir_all(&dir) {
                let why = format!("cannot create the savepoint: {e}");
                // Counted and kept in the history like any failed one.
                let id = self.take_id();
                self.stats.failed += 1;
                self.stats.push_record(CheckpointRecord {
                    id,
                    savepoint: true,
                    status: CheckpointStatus::Failed,
                    triggered_ms: now_ms(),
                    latest_ack_ms: 0,
                    duration_ms: 0,
                    bytes: 0,
                    acknowledged: 0,
                    tasks: self.facts.tasks.len() as u32,
                    path: Some(dir),
                    failure: Some(why.clone()),
                });
                let _ = req.reply.send(Err(why));
                return Ok(());
            }
            self.start(CheckpointKind::Savepoint, dir, Some(req));
            return Ok(());
        }
        let Some(store) = &self.store else {
            return Ok(());
        };
        let due = self.policy.interval.is_some() && Instant::now() >= self.next_trigger;
        if !due && self.asked.is_empty() {
            return Ok(());
        }
        self.next_trigger =
            Instant::now() + self.policy.interval.unwrap_or(Duration::from_secs(3600));
        match store.begin(self.next_id) {
            Ok(dir) => {
                self.start(CheckpointKind::Checkpoint, dir, None);
                Ok(())
            }
            Err(e) => {
                let id = self.take_id();
                let why = format!("cannot start checkpoint {id}: {e}");
                for reply in self.asked.drain(..) {
                    let _ = reply.send(Err(why.clone()));
                }
                self.count_failure(failure(why))
            }
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.stats.next_id = self.next_id;
        id
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
            .filter(|t| !f.acked.contains(t))
            .count();
        let what = match f.barrier.kind {
            CheckpointKind::Checkpoint => "checkpoint",
            CheckpointKind::Savepoint => "savepoint",
        };
        let message = format!(
            "{what} {} expired after {} ms: {waiting} of {} sub-tasks had not acknowledged it (backpressure or a slow operator; raise [checkpointing] timeout_ms)",
            f.barrier.id,
            self.policy.timeout.as_millis(),
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
        self.commands.push(Command::Abort(f.barrier.id));
        let elapsed = f.started.elapsed().as_millis() as u64;
        for reply in &f.asked {
            let _ = reply.send(Err(e.message.clone()));
        }
        if let Some(r) = self.stats.record_mut(f.barrier.id) {
            r.status = CheckpointStatus::Failed;
            r.duration_ms = elapsed;
            r.failure = Some(e.message.clone());
        }
        if let Err(discard) = CheckpointStore::discard(&f.dir) {
            tracing::warn!("cannot remove what the failed checkpoint wrote: {discard}");
        }
        if let Some(req) = f.savepoint {
            self.stats.failed += 1;
            tracing::warn!("{e}");
            let _ = req.reply.send(Err(e.message));
            return Ok(());
        }
        self.count_failure(e)
    }

    /// Counts a failed checkpoint against the tolerated ones.
    fn count_failure(&mut self, e: JobFailure) -> Result<(), JobFailure> {
        self.failures += 1;
        self.stats.failed += 1;
        if self.failures > self.policy.tolerable {
            return Err(e);
        }
        tracing::warn!(
            "{e} (tolerated: {} of {} failed checkpoints in a row)",
            self.failures,
            self.policy.tolerable
        );
        Ok(())
    }

    fn start(&mut self, kind: CheckpointKind, dir: PathBuf, savepoint: Option<SavepointRequest>) {
        let barrier = Barrier {
            id: self.take_id(),
            kind,
        };
        tracing::debug!("triggering {kind:?} {}", barrier.id);
        self.commands.push(Command::Trigger {
            barrier,
            target: self.target(&dir),
        });
        let mut flight = InFlight::new(barrier, dir.clone(), savepoint);
        if kind == CheckpointKind::Checkpoint {
            flight.asked = std::mem::take(&mut self.asked);
        }
        self.stats.push_record(CheckpointRecord {
            id: barrier.id,
            savepoint: kind == CheckpointKind::Savepoint,
            status: CheckpointStatus::InProgress,
            triggered_ms: flight.triggered_ms,
            latest_ack_ms: 0,
            duration_ms: 0,
            bytes: 0,
            acknowledged: 0,
            tasks: self.facts.tasks.len() as u32,
            path: Some(dir),
            failure: None,
        });
        self.in_flight = Some(flight);
    }

    fn target(&self, dir: &Path) -> Target {
        Target {
            dir: dir.to_owned(),
            shared_root: self.store.as_ref().map(CheckpointStore::shared_dir),
        }
    }

    /// Handles a report of the sub-tasks' hosts.
    pub(crate) fn on_report(&mut self, r: Report) -> Result<(), JobFailure> {
        match r {
            Report::Acked { id, task, ops } => {
                let Some(f) = self.in_flight.as_mut().filter(|f| f.barrier.id == id) else {
                    return Ok(());
                };
                if !f.acked.insert(task) {
                    return Ok(());
                }
                for op in ops {
                    f.bytes += op.bytes;
                    f.shared.extend(op.shared);
                    f.files.push(op.file);
                    f.sinks.extend(op.sink);
                }
                let (acked, bytes, elapsed) = (
                    f.acked.len() as u32,
                    f.bytes,
                    f.started.elapsed().as_millis() as u64,
                );
                if let Some(r) = self.stats.record_mut(id) {
                    r.acknowledged = acked;
                    r.bytes = bytes;
                    r.duration_ms = elapsed;
                    r.latest_ack_ms = now_ms();
                }
            }
            Report::Declined { id, reason } => {
                if self.in_flight.as_ref().is_some_and(|f| f.barrier.id == id)
                    && let Some(f) = self.in_flight.take()
                {
                    return self.fail(f, failure(reason));
                }
                return Ok(());
            }
            Report::Finished { task, sinks } => {
                if self.finished.insert(task) {
                    self.finished_sinks.extend(sinks);
                }
            }
            Report::Failed { reason } => return Err(failure(reason)),
        }
        self.maybe_complete()
    }

    fn maybe_complete(&mut self) -> Result<(), JobFailure> {
        let Some(f) = &self.in_flight else {
            return Ok(());
        };
        if !self.facts.tasks.iter().all(|t| f.acked.contains(t)) {
            return Ok(());
        }
        let Some(f) = self.in_flight.take() else {
            return Ok(());
        };
        let job_finished = self.final_id == Some(f.barrier.id);
        self.complete(f, job_finished)
    }

    fn complete(&mut self, mut f: InFlight, job_finished: bool) -> Result<(), JobFailure> {
        let duration = f.started.elapsed();
        // A stable order, whatever order the acknowledgements came in.
        f.files
            .sort_by(|a, b| (&a.operator, a.subtask).cmp(&(&b.operator, b.subtask)));
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
        // sinks commit it when they hear (the second phase); when the job
        // ended no sink will hear any more, so the coordinator commits it
        // here. Committing is idempotent.
        if job_finished {
            for k in &f.sinks {
                crate::sink_commit::commit_sink(k)
                    .map_err(|e| failure(format!("checkpoint {}: {e}", meta.id)))?;
            }
        }
        // A stop's savepoint is committed only once every sub-task has
        // stopped (`commit_stopped`): a sink committing it at the same time
        // would fence the coordinator's commit (or be fenced by it), fail,
        // and make the job restart and write past the savepoint.
        if f.savepoint.as_ref().is_some_and(|r| r.stop) {
            self.stop_output = f.sinks.clone();
        } else {
            self.commands.push(Command::Completed(meta.id));
        }
        for reply in &f.asked {
            let _ = reply.send(Ok(meta.id));
        }
        if let Some(r) = self.stats.record_mut(meta.id) {
            r.status = CheckpointStatus::Completed;
            r.duration_ms = meta.duration_ms;
            r.bytes = meta.bytes;
            r.acknowledged = r.tasks;
            r.latest_ack_ms = now_ms();
            r.path = Some(f.dir.clone());
        }
        match f.barrier.kind {
            CheckpointKind::Checkpoint => {
                self.failures = 0;
                self.job_done |= job_finished;
                self.stats.completed += 1;
                self.stats.last_duration = Some(duration);
                self.stats.last_bytes = meta.bytes;
                self.stats.last_id = Some(meta.id);
                self.stats.last_path = Some(f.dir.clone());
                self.stats.last_triggered_ms = meta.triggered_ms;
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
                self.stats.savepoints += 1;
                tracing::info!("savepoint {} complete at {}", meta.id, f.dir.display());
                if let Some(req) = f.savepoint {
                    if req.stop {
                        self.stopped_with = Some(f.dir.clone());
                        self.stopping = true;
                        self.commands.push(Command::Stop);
                    }
                    let _ = req.reply.send(Ok(f.dir));
                }
            }
        }
        Ok(())
    }

    /// Commits the output a stop's savepoint covers; called once every
    /// sub-task has stopped, so no sink commits at the same time. A failure
    /// loses nothing: resuming from the savepoint commits it.
    pub(crate) fn commit_stopped(&mut self) -> Result<(), JobFailure> {
        let at = self
            .stopped_with
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for k in std::mem::take(&mut self.stop_output) {
            crate::sink_commit::commit_sink(&k).map_err(|e| {
                failure(format!(
                    "the savepoint {at} is complete but its output could not be committed ({e}); resuming from the savepoint commits it"
                ))
            })?;
        }
        Ok(())
    }

    /// Every sub-task finished: with a checkpoint store, starts the final
    /// checkpoint (the hosts acknowledge it with the final states, and
    /// completing it commits the last output), so that a restore finds
    /// nothing left to do; without one, commits the last output now.
    /// `Ok(true)` once nothing is left to wait for.
    pub(crate) fn finish_job(&mut self) -> Result<bool, JobFailure> {
        for req in self.queued.drain(..) {
            let _ = req
                .reply
                .send(Err("the job finished before the savepoint was taken".into()));
        }
        if self.job_done {
            return Ok(true);
        }
        if self.in_flight.is_some() {
            return Ok(false);
        }
        // A stop's savepoint completed while the job was finishing: nothing
        // past it is committed (`commit_stopped` commits it).
        if self.stopping {
            return Ok(true);
        }
        let Some(store) = &self.store else {
            for k in &self.finished_sinks {
                crate::sink_commit::commit_sink(k).map_err(|e| failure(e.to_string()))?;
            }
            self.job_done = true;
            return Ok(true);
        };
        let id = self.next_id;
        let dir = store
            .begin(id)
            .map_err(|e| failure(format!("cannot write the final checkpoint: {e}")))?;
        self.final_id = Some(id);
        self.start(CheckpointKind::Checkpoint, dir, None);
        Ok(false)
    }
}

#[cfg(test)]
mod tests;
