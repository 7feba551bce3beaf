//! Jobs on the coordinator: submitting one from a stored bundle, its
//! states (Flink's names), its thread running attempts on the workers, and
//! savepoint requests.

use super::{Cluster, ClusterExecutor, Jar};
use crate::bundle;
use crate::ids::random_id;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use weir_core::JobGraph;
use weir_core::plan::PhysicalPlan;
use weir_proto::v1 as pb;
use weir_runtime::{JobFailure, JobHandle, RunOptions, TaskId, run_job_on};

/// A job's state, as Flink names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Waiting for slots, or deploying.
    Created,
    Running,
    Restarting,
    Finished,
    Failed,
    Cancelling,
    Canceled,
}

impl JobState {
    /// Flink's name of the state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            JobState::Created => "CREATED",
            JobState::Running => "RUNNING",
            JobState::Restarting => "RESTARTING",
            JobState::Finished => "FINISHED",
            JobState::Failed => "FAILED",
            JobState::Cancelling => "CANCELLING",
            JobState::Canceled => "CANCELED",
        }
    }

    /// Whether the job has ended.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Failed | JobState::Canceled
        )
    }
}

/// An operation someone asked for over REST (a savepoint, a
/// stop-with-savepoint, a checkpoint), polled by its request id.
#[derive(Debug, Clone)]
pub(crate) enum Operation<T> {
    InProgress,
    Completed(T),
    Failed(String),
}

/// Operations by request id.
pub(crate) type Operations<T> = Mutex<HashMap<String, Operation<T>>>;

/// Savepoints by request id: their paths once complete.
pub(crate) type SavepointOp = Operation<PathBuf>;

/// Checkpoints asked for, by request id: their ids once complete.
pub(crate) type CheckpointOp = Operation<u64>;

/// What `POST /jars/:id/run` asks for.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    pub(crate) jar: Jar,
    pub(crate) entry: Option<String>,
    pub(crate) args: Vec<String>,
    pub(crate) parallelism: Option<u32>,
    pub(crate) savepoint_path: Option<String>,
    pub(crate) allow_non_restored_state: bool,
}

/// What changes while a job runs.
pub(crate) struct JobInner {
    pub(crate) state: JobState,
    pub(crate) end_ms: i64,
    pub(crate) last_modification: i64,
    /// Failures, oldest first, with when they happened.
    pub(crate) exceptions: Vec<(i64, JobFailure)>,
    /// The current attempt.
    pub(crate) attempt: u32,
    /// Where each sub-task of the current attempt runs (worker id).
    pub(crate) placements: HashMap<TaskId, String>,
    /// Why the job is not running yet (waiting for slots).
    pub(crate) waiting: Option<String>,
    /// State timestamps (Flink's `timestamps`).
    pub(crate) timestamps: Vec<(&'static str, i64)>,
}

/// Reports of an attempt's sub-tasks on one worker.
pub(crate) struct Delivery {
    pub(crate) attempt: u32,
    pub(crate) worker: String,
    pub(crate) reports: Vec<pb::Report>,
}

/// How to deploy the job on a worker (the same for every attempt).
#[derive(Debug, Clone)]
pub(crate) struct DeployTemplate {
    pub(crate) bundle: String,
    pub(crate) entry: String,
    pub(crate) parameters: Vec<(String, String)>,
    pub(crate) parallelism: u32,
    pub(crate) checkpoint_interval_ms: u64,
    pub(crate) checkpoint_dir: String,
    pub(crate) state_backend: String,
    /// Empty, `true` or `false` (`--fuse-chained-calls`).
    pub(crate) fuse_chained_calls: String,
    pub(crate) fingerprint: String,
}

/// A submitted job.
pub(crate) struct JobEntry {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) start_ms: i64,
    pub(crate) graph: JobGraph,
    pub(crate) plan: PhysicalPlan,
    pub(crate) inner: Mutex<JobInner>,
    pub(crate) handle: Arc<JobHandle>,
    pub(crate) savepoints: Operations<PathBuf>,
    pub(crate) checkpoint_ops: Operations<u64>,
    pub(crate) template: DeployTemplate,
    pub(crate) savepoint_dir: PathBuf,
    reports: crossbeam_channel::Sender<Delivery>,
    pub(crate) inbox: crossbeam_channel::Receiver<Delivery>,
    /// Reports of attempts other than the current one, dropped.
    pub(crate) stale: AtomicU64,
    /// The current attempt's counters and rates, from the workers' beats
    /// and their sub-tasks' final reports.
    pub(crate) metrics: Mutex<super::metrics::JobMetrics>,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl JobEntry {
    /// Passes reports on to the job's thread, if they are of its current
    /// attempt.
    pub(crate) fn deliver(&self, attempt: u32, worker: String, reports: Vec<pb::Report>) {
        let current = self.inner.lock().map_or(u32::MAX, |i| i.attempt);
        if attempt != current {
            self.stale.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                "job {}: dropped reports of attempt {attempt} (current {current})",
                self.id
            );
            return;
        }
        let _ = self.reports.send(Delivery {
            attempt,
            worker,
            reports,
        });
    }

    /// Moves the job to `state`.
    pub(crate) fn set_state(&self, state: JobState) {
        if let Ok(mut i) = self.inner.lock() {
            if i.state == state || i.state.is_terminal() {
                return;
            }
            let now = now_ms();
            i.state = state;
            i.last_modification = now;
            i.timestamps.push((state.name(), now));
            if state.is_terminal() {
                i.end_ms = now;
            }
        }
    }

    /// The job's state now.
    pub(crate) fn state(&self) -> JobState {
        self.inner.lock().map_or(JobState::Failed, |i| i.state)
    }
}

/// A request that cannot be served: the status code and why.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: u16,
    pub(crate) message: String,
}

fn bad(message: impl Into<String>) -> Refused {
    Refused {
        status: 400,
        message: message.into(),
    }
}

/// Builds the job from its bundle and starts it; its id.
pub(crate) fn submit(cluster: &Arc<Cluster>, sub: Submission) -> Result<String, Refused> {
    let bytes = cluster
        .blobs
        .get(&sub.jar.digest)
        .map_err(|e| Refused {
            status: 500,
            message: e.to_string(),
        })?
        .ok_or_else(|| bad(format!("the bundle of jar {} is gone", sub.jar.id)))?;
    let (digest, bytes) = with_registry_components(cluster, &sub.jar.digest, bytes)?;
    let dir = cluster.cfg.data_dir.join("bundles").join(&digest);
    let manifest = if dir.join(bundle::MANIFEST).is_file() {
        bundle::manifest(&bytes)
    } else {
        bundle::unpack(&bytes, &dir)
    }
    .map_err(|e| bad(e.to_string()))?;
    let entry = sub
        .entry
        .clone()
        .or_else(|| manifest.entries.first().cloned())
        .ok_or_else(|| bad("the bundle has no job file"))?;
    let mut t = weir_core::args::parse(&sub.args).map_err(|e| bad(e.to_string()))?;
    if let Some(p) = sub.parallelism {
        t.parallelism = Some(p);
    }
    if t.state_memory_mb.is_some() {
        return Err(bad(
            "--state-memory-mb is for the embedded runner; on a cluster set [state] memory_mb in the job file (the job's budget on each worker)",
        ));
    }
    let id = random_id();
    if t.checkpoint_interval.is_some() && t.checkpoint_dir.is_none() {
        t.checkpoint_dir = Some(cluster.cfg.storage_root().join("checkpoints").join(&id));
    }
    let overrides = t.overrides();
    let graph = bundle::load_job(&dir, &manifest, &entry, &overrides, &|_| None)
        .map_err(|e| bad(e.to_string()))?;
    let template = DeployTemplate {
        bundle: digest.clone(),
        entry: entry.clone(),
        parameters: overrides.parameters.clone(),
        parallelism: overrides.parallelism.unwrap_or(0),
        checkpoint_interval_ms: overrides
            .checkpoint_interval
            .map_or(0, |d| d.as_millis() as u64),
        checkpoint_dir: overrides
            .checkpoint_dir
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        state_backend: overrides
            .state_backend
            .map(|b| b.name().to_owned())
            .unwrap_or_default(),
        fuse_chained_calls: overrides
            .fuse_chained_calls
            .map(|f| f.to_string())
            .unwrap_or_default(),
        fingerprint: crate::fingerprint(&graph),
    };
    let restore = sub
        .savepoint_path
        .clone()
        .map(PathBuf::from)
        .or(t.restore.clone())
        .or(t.from_savepoint.clone());
    let savepoint_dir = t.savepoint_dir.clone().unwrap_or_else(|| {
        graph.checkpointing.as_ref().map_or_else(
            || cluster.cfg.storage_root().join("savepoints"),
            |c| c.dir.join("savepoints"),
        )
    });
    let (tx, rx) = crossbeam_channel::unbounded();
    let now = now_ms();
    let job = Arc::new(JobEntry {
        id: id.clone(),
        name: graph.name.clone(),
        start_ms: now,
        plan: PhysicalPlan::new(&graph),
        graph,
        inner: Mutex::new(JobInner {
            state: JobState::Created,
            end_ms: -1,
            last_modification: now,
            exceptions: Vec::new(),
            attempt: 0,
            placements: HashMap::new(),
            waiting: None,
            timestamps: vec![("INITIALIZING", now), ("CREATED", now)],
        }),
        handle: Arc::new(JobHandle::default()),
        savepoints: Mutex::new(HashMap::new()),
        checkpoint_ops: Mutex::new(HashMap::new()),
        template,
        savepoint_dir,
        reports: tx,
        inbox: rx,
        stale: AtomicU64::new(0),
        metrics: Mutex::new(super::metrics::JobMetrics::default()),
    });
    let options = RunOptions {
        restore,
        allow_non_restored_state: sub.allow_non_restored_state || t.allow_non_restored_state,
        overwrite: t.overwrite,
        handle: Some(job.handle.clone()),
        ..RunOptions::default()
    };
    cluster
        .jobs
        .lock()
        .map_err(|_| Refused {
            status: 500,
            message: "poisoned".into(),
        })?
        .push(job.clone());
    let c = cluster.clone();
    std::thread::Builder::new()
        .name(format!("weir-job-{}", &id[..8]))
        .spawn(move || run(&c, &job, &options))
        .map_err(|e| Refused {
            status: 500,
            message: format!("cannot start the job: {e}"),
        })?;
    Ok(id)
}

/// The bundle with the registry components its job files name packed in
/// (a new bundle, stored), so workers find every component in it.
fn with_registry_components(
    cluster: &Cluster,
    digest: &str,
    bytes: Vec<u8>,
) -> Result<(String, Vec<u8>), Refused> {
    let refs = bundle::registry_refs(&bytes).map_err(|e| bad(e.to_string()))?;
    if refs.is_empty() {
        return Ok((digest.to_owned(), bytes));
    }
    let mut extra = Vec::new();
    for (name, reference) in refs {
        let d = super::registry_digest(cluster, &reference).ok_or_else(|| {
            bad(format!(
                "component '{name}': nothing named '{reference}' in the component registry (weir upload <component.wasm> --name {})",
                reference.split('@').next().unwrap_or(&reference)
            ))
        })?;
        let wasm = cluster
            .blobs
            .get(&d)
            .map_err(|e| Refused {
                status: 500,
                message: e.to_string(),
            })?
            .ok_or_else(|| bad(format!("component {reference} is gone from the registry")))?;
        extra.push((name, wasm));
    }
    let derived = bundle::with_components(&bytes, &extra).map_err(|e| bad(e.to_string()))?;
    let d = cluster.blobs.put(&derived).map_err(|e| Refused {
        status: 500,
        message: e.to_string(),
    })?;
    Ok((d, derived))
}

/// The job's thread: attempts on the workers until it ends.
fn run(cluster: &Arc<Cluster>, job: &Arc<JobEntry>, options: &RunOptions) {
    let mut exec = ClusterExecutor::new(cluster.clone(), job.clone());
    let result = run_job_on(&job.graph, &mut exec, options);
    match result {
        Ok(summary) => {
            tracing::info!("job {} ({}) finished: {summary}", job.id, job.name);
            job.set_state(JobState::Finished);
        }
        Err(f) => {
            if job.handle.cancelled() {
                tracing::info!("job {} ({}) cancelled", job.id, job.name);
                job.set_state(JobState::Canceled);
            } else {
                tracing::warn!("job {} ({}) failed: {f}", job.id, job.name);
                if let Ok(mut i) = job.inner.lock()
                    && !i.exceptions.iter().any(|(_, e)| e.message == f.message)
                {
                    i.exceptions.push((now_ms(), f));
                }
                job.set_state(JobState::Failed);
            }
        }
    }
}

/// Cancels every job (the coordinator stops).
pub(crate) fn cancel_all(cluster: &Cluster) {
    if let Ok(jobs) = cluster.jobs.lock() {
        for j in jobs.iter() {
            j.handle.cancel();
        }
    }
}

/// Starts a savepoint of `job` into `dir` (stopping the job after it when
/// `stop`); the request id to ask about it.
pub(crate) fn savepoint(job: &Arc<JobEntry>, dir: Option<PathBuf>, stop: bool) -> String {
    let dir = dir.unwrap_or_else(|| job.savepoint_dir.clone());
    let reply = job.handle.savepoint(dir, stop);
    track(job, reply, |j| &j.savepoints, "savepoint")
}

/// Takes a checkpoint of a running job now; the request id.
pub(crate) fn checkpoint(job: &Arc<JobEntry>) -> String {
    let reply = job.handle.checkpoint();
    track(job, reply, |j| &j.checkpoint_ops, "checkpoint")
}

/// Follows an operation's reply in the background, under a new request id.
fn track<T: Send + 'static>(
    job: &Arc<JobEntry>,
    reply: crossbeam_channel::Receiver<Result<T, String>>,
    ops: fn(&JobEntry) -> &Operations<T>,
    what: &'static str,
) -> String {
    let rid = random_id();
    if let Ok(mut o) = ops(job).lock() {
        o.insert(rid.clone(), Operation::InProgress);
    }
    let job = job.clone();
    let r = rid.clone();
    std::thread::spawn(move || {
        let op = match reply.recv() {
            Ok(Ok(v)) => Operation::Completed(v),
            Ok(Err(e)) => Operation::Failed(e),
            Err(_) => Operation::Failed(format!("the job ended before the {what} was taken")),
        };
        if let Ok(mut o) = ops(&job).lock() {
            o.insert(r, op);
        }
    });
    rid
}
