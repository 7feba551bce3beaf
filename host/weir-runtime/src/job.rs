//! Running a job: attempts under a restart strategy, each one setting up
//! the sub-tasks (restored from the latest checkpoint after a failure),
//! running them, and coordinating checkpoints until they finish.

use crate::checkpoint::{
    CheckpointPolicy, CheckpointStats, Command, Coordinator, JobFacts, Report,
};
use crate::clock::{Clock, SystemClock};
use crate::control::TaskId;
use crate::deploy::{DeploySpec, Deployment, Ended, Restore, all_tasks};
use crate::failure::JobFailure;
use crate::handle::{JobHandle, JobStatus};
use crate::metrics::{JobSummary, NodeSummary, Progress};
use crate::restart::Restarts;
use crate::setup::prepare_sinks;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_checkpoint::{CheckpointStore, Loaded, OperatorMeta};
use weir_core::graph::NodeKind;
use weir_core::plan::PhysicalPlan;
use weir_core::{ErrorDomain, JobGraph};
use weir_wasm::Runtime;

/// A callback that receives progress snapshots.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A failure injected into a running job, for testing recovery: the
/// operator fails (an internal error, which restarts the job) once after it
/// has received `after_records` records, or in every attempt.
#[derive(Debug)]
pub struct InjectedFault {
    /// The operator (node id) that fails.
    pub operator: String,
    /// Records it receives (over all its sub-tasks, in an attempt) before
    /// failing.
    pub after_records: u64,
    /// Fails in every attempt, not only once.
    pub every_attempt: bool,
    pub(crate) fired: AtomicBool,
}

impl InjectedFault {
    /// A fault for `operator` after `after_records` records, once.
    pub fn new(operator: &str, after_records: u64) -> Self {
        InjectedFault {
            operator: operator.to_owned(),
            after_records,
            every_attempt: false,
            fired: AtomicBool::new(false),
        }
    }

    /// A fault for `operator` after `after_records` records of every
    /// attempt.
    pub fn every_attempt(operator: &str, after_records: u64) -> Self {
        InjectedFault {
            every_attempt: true,
            ..InjectedFault::new(operator, after_records)
        }
    }

    /// Whether the fault has happened.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// Settings of a run.
#[derive(Clone)]
pub struct RunOptions {
    /// Target size of the batches sources produce and exchanges send.
    pub batch_bytes: usize,
    /// Batches a channel holds before its sender waits (backpressure).
    pub channel_capacity: usize,
    /// How often `on_progress` is called.
    pub progress_interval: Duration,
    /// Called periodically while the job runs.
    pub on_progress: Option<ProgressFn>,
    /// Set to true to cancel the job.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Processing time for functions and processing-time timers.
    pub clock: Arc<dyn Clock>,
    /// Start from this checkpoint directory (its latest complete
    /// checkpoint), checkpoint or savepoint.
    pub restore: Option<PathBuf>,
    /// Drop snapshot state of operators the job no longer has.
    pub allow_non_restored_state: bool,
    /// Savepoints and stopping from outside.
    pub handle: Option<Arc<JobHandle>>,
    /// Local working directory for state backends (default: a temporary
    /// directory).
    pub work_dir: Option<PathBuf>,
    /// A failure to inject (tests of recovery).
    pub fault: Option<Arc<InjectedFault>>,
    /// Checkpoint ids whose writing fails as a full disk would (tests of
    /// failed checkpoints).
    pub failing_checkpoints: Vec<u64>,
    /// A fresh run may replace the part files an earlier run left in a
    /// file sink's directory (otherwise it refuses to start).
    pub overwrite: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            batch_bytes: 64 * 1024,
            channel_capacity: 8,
            progress_interval: Duration::from_secs(1),
            on_progress: None,
            cancel: None,
            clock: Arc::new(SystemClock),
            restore: None,
            allow_non_restored_state: false,
            handle: None,
            work_dir: None,
            fault: None,
            failing_checkpoints: Vec::new(),
            overwrite: false,
        }
    }
}

/// How one attempt ended.
enum Attempt {
    Done(Box<JobSummary>),
    /// A failure the restart strategy may retry.
    Failed(JobFailure),
    /// A failure no restart can fix (setup, restore).
    Fatal(JobFailure),
}

fn user(message: String) -> JobFailure {
    JobFailure::job(ErrorDomain::User, message)
}

/// Runs a job to completion on this process's threads, restarting it from
/// its latest checkpoint when a sub-task fails, as its restart strategy
/// allows.
pub fn run_job(
    graph: &JobGraph,
    rt: &Arc<Runtime>,
    options: &RunOptions,
) -> Result<JobSummary, JobFailure> {
    run_job_on(graph, &mut LocalExecutor::new(rt.clone()), options)
}

/// Runs a job to completion with its sub-tasks where `exec` puts them:
/// attempts under the restart strategy, each restored from the latest
/// complete checkpoint, with this thread coordinating checkpoints.
pub fn run_job_on(
    graph: &JobGraph,
    exec: &mut dyn Executor,
    options: &RunOptions,
) -> Result<JobSummary, JobFailure> {
    let started = Instant::now();
    let initial = match &options.restore {
        Some(path) => {
            Some(CheckpointStore::latest(path).map_err(|e| user(format!("cannot restore: {e}")))?)
        }
        None => None,
    };
    if initial.is_none() && !options.overwrite {
        refuse_earlier_output(graph)?;
    }
    let store = match &graph.checkpointing {
        Some(c) => Some(
            CheckpointStore::open(&c.dir, c.retain)
                .map_err(|e| JobFailure::job(ErrorDomain::External, e.to_string()))?,
        ),
        None => None,
    };
    let work = match &options.work_dir {
        Some(d) => WorkDir::Given(d.clone()),
        None => WorkDir::Temp(
            tempfile::Builder::new()
                .prefix("weir-state-")
                .tempdir()
                .map_err(|e| {
                    JobFailure::job(
                        ErrorDomain::External,
                        format!("cannot create a state directory: {e}"),
                    )
                })?,
        ),
    };
    let mut restarts = Restarts::new(graph.restart.clone());
    let mut stats = CheckpointStats::default();
    let mut restore = initial.clone();
    loop {
        let attempt_dir = work.path().join(format!("attempt-{}", restarts.count()));
        let outcome = run_attempt(
            graph,
            exec,
            options,
            restore.take(),
            store.as_ref(),
            &mut stats,
            restarts.count(),
            &attempt_dir,
        );
        exec.release();
        let _ = std::fs::remove_dir_all(&attempt_dir);
        match outcome {
            Attempt::Done(mut summary) => {
                summary.duration = started.elapsed();
                summary.restarts = restarts.count();
                return Ok(*summary);
            }
            Attempt::Fatal(f) => return Err(f),
            Attempt::Failed(f) => {
                if cancelled(options) {
                    return Err(f);
                }
                if f.domain == ErrorDomain::User {
                    // The job or its functions are at fault: the same input
                    // would fail the same way after a restart.
                    let mut f = f;
                    if !matches!(graph.restart, weir_core::spec::RestartSpec::None) {
                        f.message = format!(
                            "{} (not restarted: a user error fails the same way again; `on_error = \"dead-letter\"` sets failing records aside)",
                            f.message
                        );
                    }
                    return Err(f);
                }
                let Some(wait) = restarts.on_failure(Instant::now()) else {
                    let mut f = f;
                    if restarts.count() > 0
                        || !matches!(graph.restart, weir_core::spec::RestartSpec::None)
                    {
                        f.message = format!("{} ({})", f.message, restarts.describe());
                    }
                    return Err(f);
                };
                tracing::warn!(
                    "{f}; restart {} in {} ms",
                    restarts.count(),
                    wait.as_millis()
                );
                let until = Instant::now() + wait;
                while Instant::now() < until {
                    if cancelled(options) {
                        return Err(f);
                    }
                    std::thread::sleep(Duration::from_millis(10).min(wait));
                }
                // The latest complete checkpoint of this run, else where the
                // run started.
                restore = match latest_of_run(store.as_ref(), options) {
                    Ok(Some(l)) => Some(l),
                    Ok(None) => initial.clone(),
                    Err(e) => return Err(e),
                };
            }
        }
    }
}

/// The latest complete checkpoint in `store` (none when it holds none).
/// A store that cannot be read is asked again for a while: restoring
/// where the run started instead would repeat committed output.
fn latest_of_run(
    store: Option<&CheckpointStore>,
    options: &RunOptions,
) -> Result<Option<Loaded>, JobFailure> {
    let Some(store) = store else {
        return Ok(None);
    };
    let mut tries = 0;
    loop {
        match CheckpointStore::latest(store.root()) {
            Ok(l) => return Ok(Some(l)),
            Err(weir_checkpoint::CheckpointError::NotFound { .. }) => return Ok(None),
            Err(e) if tries < 5 && !cancelled(options) => {
                tries += 1;
                tracing::warn!("cannot read the checkpoints to restart from (try {tries}): {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => {
                return Err(JobFailure::job(
                    ErrorDomain::External,
                    format!("cannot read the checkpoints to restart from: {e}"),
                ));
            }
        }
    }
}

/// A fresh run would replace what an earlier run committed: refuses,
/// naming the directory and the ways on.
fn refuse_earlier_output(graph: &JobGraph) -> Result<(), JobFailure> {
    for node in &graph.nodes {
        let NodeKind::Sink(weir_core::spec::SinkSpec::File(f)) = &node.kind else {
            continue;
        };
        if f.path.is_empty() {
            continue;
        }
        let files = weir_connectors::visible_files(std::path::Path::new(&f.path))
            .map_err(|e| JobFailure::job(e.domain(), e.to_string()))?;
        if files.is_empty() {
            continue;
        }
        let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
        return Err(JobFailure {
            operator: Some(node.id.clone()),
            subtask: None,
            domain: ErrorDomain::User,
            message: format!(
                "the output directory {} is not empty ({}{}); a fresh run would mix with or replace it: pass --overwrite to replace earlier part files, --restore <checkpoint dir> to continue the run that wrote them, or choose another --output",
                f.path,
                shown.join(", "),
                if files.len() > 3 {
                    format!(" and {} more", files.len() - 3)
                } else {
                    String::new()
                }
            ),
        });
    }
    Ok(())
}

enum WorkDir {
    Given(PathBuf),
    Temp(tempfile::TempDir),
}

impl WorkDir {
    fn path(&self) -> PathBuf {
        match self {
            WorkDir::Given(p) => p.clone(),
            WorkDir::Temp(t) => t.path().to_owned(),
        }
    }
}

fn cancelled(options: &RunOptions) -> bool {
    options
        .cancel
        .as_ref()
        .is_some_and(|c| c.load(Ordering::Relaxed))
        || options.handle.as_ref().is_some_and(|h| h.cancelled())
}

/// What every sub-task of an attempt starts from.
pub struct AttemptSpec<'a> {
    /// The job.
    pub graph: &'a JobGraph,
    /// Batch sizes, queue capacities, the clock, test faults.
    pub options: &'a RunOptions,
    /// The attempt's number (0 first; one more per restart).
    pub attempt: u32,
    /// The snapshot the attempt restores.
    pub restore: Option<&'a Restore>,
    /// A local directory for the attempt (state backends, staged files).
    pub work: &'a Path,
}

/// Where the sub-tasks of a job's attempts run: threads of this process
/// ([`LocalExecutor`]), or the workers of a cluster. The coordinator drives
/// it with [`Command`]s and hears back through [`Report`]s.
pub trait Executor {
    /// Starts every sub-task of an attempt; a failure here is not retried.
    fn start(&mut self, spec: &AttemptSpec<'_>) -> Result<(), JobFailure>;
    /// Carries out a coordinator command on every sub-task it concerns.
    fn command(&mut self, cmd: Command);
    /// Reports from the sub-tasks, waiting up to `wait` when there are none.
    fn reports(&mut self, wait: Duration) -> Vec<Report>;
    /// Whether every sub-task has stopped (finished, failed or cancelled).
    fn stopped(&mut self) -> bool;
    /// Stops every sub-task.
    fn cancel(&mut self);
    /// Whether the attempt is being torn down (a failure or a cancel).
    fn cancelled(&self) -> bool;
    /// Waits until every sub-task stopped; how they ended.
    fn wait(&mut self) -> Ended;
    /// Records received and emitted per node in this attempt so far.
    fn totals(&self) -> Vec<(u64, u64)>;
    /// Calls into each node's Wasm guest (empty where not known).
    fn wasm_calls(&self) -> Vec<u64> {
        Vec::new()
    }
    /// The attempt is over (after its final checkpoint, or its failure):
    /// what is left of it may go.
    fn release(&mut self) {}
}

/// Runs every sub-task on threads of this process.
pub struct LocalExecutor {
    rt: Arc<Runtime>,
    current: Option<Deployment>,
}

impl LocalExecutor {
    /// An executor loading components into `rt`.
    pub fn new(rt: Arc<Runtime>) -> Self {
        LocalExecutor { rt, current: None }
    }
}

impl Executor for LocalExecutor {
    fn start(&mut self, spec: &AttemptSpec<'_>) -> Result<(), JobFailure> {
        self.current = None;
        let d = Deployment::start(&DeploySpec {
            graph: spec.graph,
            rt: &self.rt,
            options: spec.options,
            tasks: None,
            restore: spec.restore,
            work: spec.work,
        })?;
        self.current = Some(d);
        Ok(())
    }

    fn command(&mut self, cmd: Command) {
        if let Some(d) = &mut self.current {
            d.command(cmd);
        }
    }

    fn reports(&mut self, wait: Duration) -> Vec<Report> {
        match &mut self.current {
            Some(d) => d.reports(wait),
            None => Vec::new(),
        }
    }

    fn stopped(&mut self) -> bool {
        self.current.as_ref().is_none_or(Deployment::stopped)
    }

    fn cancel(&mut self) {
        if let Some(d) = &self.current {
            d.cancel();
        }
    }

    fn cancelled(&self) -> bool {
        self.current.as_ref().is_some_and(Deployment::cancelled)
    }

    fn wait(&mut self) -> Ended {
        match &mut self.current {
            Some(d) => d.wait(),
            None => Ended {
                failure: None,
                setup_failed: false,
                panicked: false,
            },
        }
    }

    fn totals(&self) -> Vec<(u64, u64)> {
        self.current
            .as_ref()
            .map_or_else(Vec::new, Deployment::totals)
    }

    fn wasm_calls(&self) -> Vec<u64> {
        self.current
            .as_ref()
            .map_or_else(Vec::new, Deployment::wasm_calls)
    }

    fn release(&mut self) {
        self.current = None;
    }
}

/// Runs the coordinator's commands and the sub-tasks' reports back and
/// forth until neither has more.
fn pump(exec: &mut dyn Executor, coordinator: &mut Coordinator) -> Result<(), JobFailure> {
    loop {
        let commands = coordinator.take_commands();
        let reports = exec.reports(Duration::ZERO);
        if commands.is_empty() && reports.is_empty() {
            return Ok(());
        }
        for c in commands {
            exec.command(c);
        }
        for r in reports {
            coordinator.on_report(r)?;
        }
    }
}

/// Every sub-task finished: the final checkpoint (or commit).
fn finish(exec: &mut dyn Executor, coordinator: &mut Coordinator) -> Result<(), JobFailure> {
    loop {
        pump(exec, coordinator)?;
        if coordinator.finish_job()? {
            return Ok(());
        }
        pump(exec, coordinator)?;
        // A checkpoint still in flight completes with the final states (or
        // expires); remote hosts answer the final one in their own time.
        coordinator.tick(false)?;
        for r in exec.reports(Duration::from_millis(5)) {
            coordinator.on_report(r)?;
        }
    }
}

/// One attempt: restores, starts the sub-tasks and coordinates
/// checkpoints until they finish or one fails.
#[allow(clippy::too_many_arguments)]
fn run_attempt(
    graph: &JobGraph,
    exec: &mut dyn Executor,
    options: &RunOptions,
    restore: Option<Loaded>,
    store: Option<&CheckpointStore>,
    stats: &mut CheckpointStats,
    restarts: u32,
    work: &std::path::Path,
) -> Attempt {
    let started = Instant::now();
    if let Some(l) = &restore {
        stats.record_restore(crate::RestoredFrom {
            id: l.metadata.id,
            path: l.dir.clone(),
            savepoint: l.metadata.kind == weir_checkpoint::CheckpointKind::Savepoint,
            at_ms: weir_connectors::now_ms(),
        });
    }
    let restore = match restore
        .map(|l| Restore::plan(l, graph, options.allow_non_restored_state))
        .transpose()
    {
        Ok(r) => r,
        Err(f) => return Attempt::Fatal(f),
    };
    if let Err(f) = prepare_sinks(graph, restore.as_ref().map(|r| r.plan.as_ref())) {
        return Attempt::Fatal(f);
    }
    let spec = AttemptSpec {
        graph,
        options,
        attempt: restarts,
        restore: restore.as_ref(),
        work,
    };
    if let Err(f) = exec.start(&spec) {
        exec.cancel();
        exec.wait();
        return Attempt::Fatal(f);
    }
    let plan = PhysicalPlan::new(graph);
    let coordinator = Coordinator::new(
        job_facts(graph, all_tasks(&plan)),
        store.cloned(),
        policy(graph),
        stats.clone(),
    );
    let mut coordinator = match coordinator {
        Ok(c) => c,
        Err(e) => {
            exec.cancel();
            exec.wait();
            return Attempt::Failed(JobFailure::job(
                ErrorDomain::External,
                format!("cannot list the checkpoints: {e}"),
            ));
        }
    };
    let coordinated = coordinate(graph, exec, options, started, &mut coordinator, restarts);
    if coordinated.is_err() {
        // The coordinator failed (a checkpoint could not be written or
        // expired): stop every sub-task before restarting.
        exec.cancel();
    }
    let ended = exec.wait();
    // Reports sent while the sub-tasks wound down.
    let late = match &coordinated {
        Ok(()) => pump(exec, &mut coordinator),
        Err(_) => Ok(()),
    };
    *stats = coordinator.stats.clone();
    if coordinator.stopped_with.is_some() {
        // Stopped with a savepoint: whatever failed while the sub-tasks
        // wound down does not restart the job (that would write past the
        // savepoint); the savepoint's output is committed now that no sink
        // is left to commit beside the coordinator.
        for f in [ended.failure, coordinated.and(late).err()]
            .into_iter()
            .flatten()
        {
            tracing::warn!("after the stop's savepoint: {}", f.message);
        }
        if ended.panicked {
            tracing::warn!("after the stop's savepoint: a sub-task thread panicked");
        }
        if let Err(f) = coordinator.commit_stopped() {
            return Attempt::Fatal(f);
        }
    } else if let Some(f) = ended.failure {
        if ended.setup_failed {
            return Attempt::Fatal(f);
        }
        return Attempt::Failed(f);
    } else if let Err(f) = coordinated.and(late) {
        return Attempt::Failed(f);
    } else if ended.panicked {
        return Attempt::Failed(JobFailure::job(
            ErrorDomain::Internal,
            "a sub-task thread panicked",
        ));
    }
    if coordinator.stopped_with.is_none() {
        if cancelled(options) {
            return Attempt::Fatal(JobFailure::job(ErrorDomain::User, "the job was cancelled"));
        }
        if let Err(f) = finish(exec, &mut coordinator) {
            return Attempt::Failed(f);
        }
        *stats = coordinator.stats.clone();
        // A stop's savepoint that completed while the job finished.
        if let Err(f) = coordinator.commit_stopped() {
            return Attempt::Fatal(f);
        }
    }
    let stopped = coordinator.stopped_with.clone();
    let totals = exec.totals();
    let calls = exec.wasm_calls();
    Attempt::Done(Box::new(JobSummary {
        name: graph.name.clone(),
        duration: started.elapsed(),
        nodes: graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (records_in, records_out) = totals.get(i).copied().unwrap_or_default();
                NodeSummary {
                    id: n.id.clone(),
                    kind: node_kind(&n.kind),
                    parallelism: n.parallelism,
                    records_in,
                    records_out,
                    wasm_calls: calls.get(i).copied().unwrap_or_default(),
                }
            })
            .collect(),
        checkpoints: stats.clone(),
        restarts,
        stopped_with_savepoint: stopped,
    }))
}

/// What the coordinator knows of a job.
fn job_facts(graph: &JobGraph, tasks: Vec<TaskId>) -> JobFacts {
    JobFacts {
        name: graph.name.clone(),
        max_parallelism: graph.max_parallelism,
        backend: graph.state_backend.name(),
        operators: graph
            .nodes
            .iter()
            .map(|n| OperatorMeta {
                id: n.id.clone(),
                parallelism: n.parallelism,
                kind: node_kind(&n.kind),
            })
            .collect(),
        tasks,
    }
}

fn policy(graph: &JobGraph) -> CheckpointPolicy {
    let c = graph.checkpointing.as_ref();
    CheckpointPolicy {
        interval: c.map(|c| c.interval),
        timeout: c.map_or(weir_core::graph::DEFAULT_CHECKPOINT_TIMEOUT, |c| c.timeout),
        tolerable: c.map_or(0, |c| c.tolerable_failures),
    }
}

/// What a node is, in words: "source", "sink" or its function kind.
pub fn node_kind(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Source(_) => "source".into(),
        NodeKind::Sink(_) => "sink".into(),
        NodeKind::Operator(o) => o.kind.name().into(),
        NodeKind::Functions(_) => "stateful-functions".into(),
    }
}

/// Waits for the sub-tasks while coordinating checkpoints, serving
/// savepoint requests, reporting progress and honouring cancellation.
fn coordinate(
    graph: &JobGraph,
    exec: &mut dyn Executor,
    options: &RunOptions,
    started: Instant,
    coordinator: &mut Coordinator,
    restarts: u32,
) -> Result<(), JobFailure> {
    let of_kind = |pick: fn(&NodeKind) -> bool| -> Vec<usize> {
        graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| pick(&n.kind))
            .map(|(i, _)| i)
            .collect()
    };
    let sources = of_kind(|k| matches!(k, NodeKind::Source(_)));
    let sinks = of_kind(|k| matches!(k, NodeKind::Sink(_)));
    let mut last_report = Instant::now();
    let mut last_count = 0u64;
    while !exec.stopped() {
        for r in exec.reports(Duration::from_millis(20)) {
            coordinator.on_report(r)?;
        }
        pump(exec, coordinator)?;
        if cancelled(options) {
            exec.cancel();
        }
        if let Some(h) = &options.handle {
            for r in h.take_requests() {
                coordinator.request_savepoint(r);
            }
            for r in h.take_checkpoint_requests() {
                coordinator.request_checkpoint(r);
            }
        }
        coordinator.tick(exec.cancelled())?;
        pump(exec, coordinator)?;
        let totals = exec.totals();
        let sum = |nodes: &[usize], pick: fn(&(u64, u64)) -> u64| -> u64 {
            nodes.iter().filter_map(|&i| totals.get(i)).map(pick).sum()
        };
        let count = sum(&sources, |t| t.1);
        if let Some(h) = &options.handle {
            h.set_status(JobStatus {
                source_records: count,
                checkpoints: coordinator.stats.clone(),
                restarts,
            });
        }
        if let Some(cb) = &options.on_progress
            && last_report.elapsed() >= options.progress_interval
        {
            let secs = last_report.elapsed().as_secs_f64();
            cb(&Progress {
                elapsed: started.elapsed(),
                source_records: count,
                records_per_second: count.saturating_sub(last_count) as f64 / secs,
                sink_records: sum(&sinks, |t| t.0),
                checkpoints: coordinator.stats.clone(),
                restarts,
            });
            last_report = Instant::now();
            last_count = count;
        }
    }
    Ok(())
}
