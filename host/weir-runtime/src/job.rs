//! Running a job: attempts under a restart strategy, each one setting up
//! the sub-tasks (restored from the latest checkpoint after a failure),
//! running them, and coordinating checkpoints until they finish.

use crate::checkpoint::{
    CheckpointPolicy, CheckpointStats, Command, Coordinator, JobFacts, Report, RestorePlan,
    TaskHost,
};
use crate::clock::{Clock, SystemClock};
use crate::control::{Control, TaskEvent};
use crate::exchange::{EdgeWriter, Envelope, InChannel, Inbox};
use crate::failure::JobFailure;
use crate::handle::{JobHandle, JobStatus};
use crate::metrics::{JobSummary, NodeCounters, NodeSummary, Progress};
use crate::restart::Restarts;
use crate::setup::{Local, build_step, prepare, prepare_sinks, source_reader};
use crate::task::{Head, Routes, Step, SubTask};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::collections::HashMap;
use std::path::PathBuf;
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
    Done(JobSummary),
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
            rt,
            options,
            restore.take(),
            store.as_ref(),
            &mut stats,
            restarts.count(),
            &attempt_dir,
        );
        let _ = std::fs::remove_dir_all(&attempt_dir);
        match outcome {
            Attempt::Done(mut summary) => {
                summary.duration = started.elapsed();
                summary.restarts = restarts.count();
                return Ok(summary);
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
                restore = match store.as_ref().map(|s| CheckpointStore::latest(s.root())) {
                    Some(Ok(l)) => Some(l),
                    _ => initial.clone(),
                };
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

/// One attempt: sets the sub-tasks up (restored from `restore`), runs them
/// and coordinates checkpoints until they finish or one fails.
#[allow(clippy::too_many_arguments)]
fn run_attempt(
    graph: &JobGraph,
    rt: &Arc<Runtime>,
    options: &RunOptions,
    restore: Option<Loaded>,
    store: Option<&CheckpointStore>,
    stats: &mut CheckpointStats,
    restarts: u32,
    work: &std::path::Path,
) -> Attempt {
    let started = Instant::now();
    let prepared = match prepare(graph, rt) {
        Ok(p) => p,
        Err(f) => return Attempt::Fatal(f),
    };
    let restore = match restore
        .map(|l| {
            RestorePlan::new(
                l,
                graph,
                graph.state_backend.name(),
                options.allow_non_restored_state,
            )
        })
        .transpose()
    {
        Ok(r) => r.map(Arc::new),
        Err(f) => return Attempt::Fatal(f),
    };
    if let Err(f) = prepare_sinks(graph, restore.as_deref()) {
        return Attempt::Fatal(f);
    }
    let plan = PhysicalPlan::new(graph);
    let (events_tx, events_rx): (Sender<TaskEvent>, Receiver<TaskEvent>) = unbounded();
    let ctl = Arc::new(Control::new(Some(events_tx), options.fault.clone()));
    let local = Arc::new(Local {
        backend: graph.state_backend,
        dir: work.join("state"),
        store_shared: store.map(CheckpointStore::shared_dir),
        interrupt: ctl.cancel_flag(),
    });
    let counters: Arc<Vec<NodeCounters>> = Arc::new(
        graph
            .nodes
            .iter()
            .map(|n| NodeCounters::new(n.parallelism))
            .collect(),
    );
    let node_ids: Arc<Vec<String>> = Arc::new(graph.nodes.iter().map(|n| n.id.clone()).collect());

    // One bounded queue per input channel of every chain sub-task.
    let mut senders: HashMap<(usize, u32, u32), Sender<Envelope>> = HashMap::new();
    let mut inboxes = Vec::new();
    for (c, chain) in plan.chains.iter().enumerate() {
        let mut per_subtask = Vec::new();
        for s in 0..chain.parallelism {
            let mut channels = Vec::new();
            for id in chain.inputs.iter().flat_map(|i| i.channels_for(s)) {
                let (tx, rx) = bounded(options.channel_capacity);
                senders.insert((c, s, id), tx);
                channels.push(InChannel { id, rx });
            }
            per_subtask.push(Some(Inbox::new(channels)));
        }
        inboxes.push(per_subtask);
    }

    let setup = Setup {
        graph,
        rt,
        options,
        prepared: Arc::new(prepared),
        plan: &plan,
        ctl: &ctl,
        counters: &counters,
        node_ids: &node_ids,
        local: &local,
        restore: restore.clone(),
    };
    let handles = match spawn_all(&setup, &senders, &mut inboxes) {
        Ok(h) => h,
        Err(f) => {
            ctl.cancel();
            return Attempt::Fatal(f);
        }
    };
    // Only the writers hold senders now: a channel disconnects when every
    // upstream sub-task is gone.
    drop(senders);

    let facts = JobFacts {
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
        tasks: plan
            .chains
            .iter()
            .enumerate()
            .flat_map(|(c, ch)| (0..ch.parallelism).map(move |s| (c, s)))
            .collect(),
    };
    let policy = CheckpointPolicy {
        interval: graph.checkpointing.as_ref().map(|c| c.interval),
        timeout: graph
            .checkpointing
            .as_ref()
            .map_or(weir_core::graph::DEFAULT_CHECKPOINT_TIMEOUT, |c| c.timeout),
        tolerable: graph
            .checkpointing
            .as_ref()
            .map_or(0, |c| c.tolerable_failures),
    };
    let mut coordinator = Coordinator::new(facts, store.cloned(), policy, stats.clone());
    let mut tasks = LocalTasks {
        ctl: ctl.clone(),
        host: TaskHost::new(options.failing_checkpoints.clone()),
        reports: Vec::new(),
    };
    let coordinated = coordinate(
        graph,
        &counters,
        &handles,
        options,
        started,
        &events_rx,
        &mut coordinator,
        &mut tasks,
        restarts,
    );
    if coordinated.is_err() {
        // The coordinator failed (a checkpoint could not be written or
        // expired): stop every sub-task before restarting.
        ctl.cancel();
    }
    let mut panicked = false;
    for h in handles {
        panicked |= h.join().is_err();
    }
    // Reports sent while the threads wound down.
    let mut late = Ok(());
    for ev in events_rx.try_iter() {
        tasks.host.on_event(ev, &mut tasks.reports);
    }
    if coordinated.is_ok() {
        late = tasks.pump(&mut coordinator);
    }
    *stats = coordinator.stats.clone();
    if let Some(f) = ctl.take_failure() {
        if ctl.setup_failed() {
            return Attempt::Fatal(f);
        }
        return Attempt::Failed(f);
    }
    if let Err(f) = coordinated.and(late) {
        return Attempt::Failed(f);
    }
    if panicked {
        return Attempt::Failed(JobFailure::job(
            ErrorDomain::Internal,
            "a sub-task thread panicked",
        ));
    }
    let stopped = coordinator.stopped_with.clone();
    if stopped.is_none() {
        if cancelled(options) {
            return Attempt::Fatal(JobFailure::job(ErrorDomain::User, "the job was cancelled"));
        }
        if let Err(f) = tasks.finish(&mut coordinator) {
            return Attempt::Failed(f);
        }
        *stats = coordinator.stats.clone();
    }
    Attempt::Done(JobSummary {
        name: graph.name.clone(),
        duration: started.elapsed(),
        nodes: graph
            .nodes
            .iter()
            .zip(counters.iter())
            .map(|(n, c)| NodeSummary {
                id: n.id.clone(),
                kind: node_kind(&n.kind),
                parallelism: n.parallelism,
                records_in: c.total_in(),
                records_out: c.total_out(),
            })
            .collect(),
        checkpoints: stats.clone(),
        restarts,
        stopped_with_savepoint: stopped,
    })
}

fn node_kind(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Source(_) => "source".into(),
        NodeKind::Sink(_) => "sink".into(),
        NodeKind::Operator(o) => o.kind.name().into(),
    }
}

/// What every sub-task of an attempt is built from.
struct Setup<'a> {
    graph: &'a JobGraph,
    rt: &'a Arc<Runtime>,
    options: &'a RunOptions,
    prepared: Arc<crate::setup::Prepared>,
    plan: &'a PhysicalPlan,
    ctl: &'a Arc<Control>,
    counters: &'a Arc<Vec<NodeCounters>>,
    node_ids: &'a Arc<Vec<String>>,
    local: &'a Arc<Local>,
    restore: Option<Arc<RestorePlan>>,
}

/// Starts one thread per chain sub-task.
fn spawn_all(
    su: &Setup<'_>,
    senders: &HashMap<(usize, u32, u32), Sender<Envelope>>,
    inboxes: &mut [Vec<Option<Inbox>>],
) -> Result<Vec<std::thread::JoinHandle<()>>, JobFailure> {
    let (graph, plan, options) = (su.graph, su.plan, su.options);
    let mut handles = Vec::new();
    for (c, chain) in plan.chains.iter().enumerate() {
        for s in 0..chain.parallelism {
            let mut steps = Vec::new();
            for &node in &chain.nodes {
                let mut routes = Routes::default();
                for (ei, e) in graph.outputs_of(node) {
                    if plan.is_chained(graph, ei) {
                        continue;
                    }
                    let to_chain = plan.chain_of[e.to];
                    let input = plan.chains[to_chain]
                        .inputs
                        .iter()
                        .find(|i| i.edge == ei)
                        .ok_or_else(|| {
                            JobFailure::job(ErrorDomain::Internal, "edge without a chain input")
                        })?;
                    // This sub-task's channel at each receiver (the peer
                    // only, for a forward edge).
                    let channel = input.channel_offset + s;
                    let receivers: Vec<u32> = match e.exchange {
                        weir_core::spec::Exchange::Forward => vec![s],
                        _ => (0..plan.chains[to_chain].parallelism).collect(),
                    };
                    let targets = receivers
                        .iter()
                        .map(|&t| {
                            senders
                                .get(&(to_chain, t, channel))
                                .cloned()
                                .ok_or_else(|| {
                                    JobFailure::job(
                                        ErrorDomain::Internal,
                                        "a channel without a queue",
                                    )
                                })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut writer = EdgeWriter::new(
                        e.exchange,
                        e.key.clone(),
                        targets,
                        channel,
                        s,
                        graph.max_parallelism,
                        options.batch_bytes,
                    );
                    if let NodeKind::Operator(o) = &graph.nodes[e.to].kind
                        && o.on_error == weir_core::spec::OnError::DeadLetter
                    {
                        writer = writer.with_dead_letters(&graph.nodes[e.to].id);
                    }
                    match &e.output {
                        None => routes.main.push(writer),
                        Some(name) => match routes.side.iter_mut().find(|(n, _)| n == name) {
                            Some((_, ws)) => ws.push(writer),
                            None => routes.side.push((name.clone(), vec![writer])),
                        },
                    }
                }
                steps.push((node, routes));
            }
            let head_node = chain.nodes[0];
            let head =
                match &graph.nodes[head_node].kind {
                    NodeKind::Source(_) => Head::Source(
                        source_reader(
                            graph,
                            su.rt,
                            head_node,
                            &su.prepared,
                            s,
                            chain.parallelism,
                            &options.clock,
                            su.local,
                            su.restore.as_deref(),
                        )
                        .map_err(|f| crate::setup::node_failure(graph, head_node, f))?,
                    ),
                    _ => Head::Inbox(inboxes[c][s as usize].take().ok_or_else(|| {
                        JobFailure::job(ErrorDomain::Internal, "inbox taken twice")
                    })?),
                };
            let graph = graph.clone();
            let rt = su.rt.clone();
            let prepared = su.prepared.clone();
            let ctl = su.ctl.clone();
            let counters = su.counters.clone();
            let node_ids = su.node_ids.clone();
            let batch_bytes = options.batch_bytes;
            let clock = options.clock.clone();
            let local = su.local.clone();
            let restore = su.restore.clone();
            let parallelism = chain.parallelism;
            let name = format!("weir-{}-{s}", graph.nodes[head_node].id);
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let mut built = Vec::new();
                    for (node, routes) in steps {
                        let op = build_step(
                            &graph,
                            &rt,
                            &prepared,
                            node,
                            s,
                            parallelism,
                            clock.clone(),
                            &local,
                            restore.as_deref(),
                        );
                        match op {
                            Ok(op) => built.push(Step { node, op, routes }),
                            Err(f) => {
                                ctl.fail_setup(JobFailure {
                                    operator: Some(graph.nodes[node].id.clone()),
                                    subtask: Some((s, parallelism)),
                                    domain: f.domain,
                                    message: f.message,
                                });
                                return;
                            }
                        }
                    }
                    drop(restore);
                    SubTask::new(
                        s,
                        parallelism,
                        node_ids,
                        head,
                        built,
                        counters,
                        ctl,
                        batch_bytes,
                        clock,
                        (c, s),
                        local.dir.join("staging"),
                        local.backend != weir_core::spec::StateBackendKind::Memory,
                    )
                    .run();
                })
                .map_err(|e| {
                    JobFailure::job(ErrorDomain::External, format!("cannot start a thread: {e}"))
                })?;
            handles.push(handle);
        }
    }
    Ok(handles)
}

/// The sub-tasks of an attempt that run in this process, as the
/// coordinator sees them: it carries out the coordinator's commands through
/// the shared control and the checkpoint host, and collects the host's
/// reports.
struct LocalTasks {
    ctl: Arc<Control>,
    host: TaskHost,
    reports: Vec<Report>,
}

impl LocalTasks {
    fn run(&mut self, commands: Vec<Command>) {
        for c in commands {
            match c {
                Command::Trigger { barrier, target } => {
                    // The host learns where to write before any sub-task
                    // can acknowledge.
                    self.host.trigger(barrier.id, target, &mut self.reports);
                    self.ctl.trigger(barrier);
                }
                Command::Abort(id) => self.host.abort(id),
                Command::Completed(id) => {
                    self.host.completed(id, &mut self.reports);
                    self.ctl.notify_complete(id);
                }
                Command::Stop => self.ctl.cancel(),
            }
        }
    }

    /// Passes sub-task events to the host.
    fn take_events(&mut self, events: &Receiver<TaskEvent>, wait: Duration) {
        if let Ok(ev) = events.recv_timeout(wait) {
            self.host.on_event(ev, &mut self.reports);
            for ev in events.try_iter() {
                self.host.on_event(ev, &mut self.reports);
            }
        }
    }

    /// Runs commands and reports back and forth until both are done.
    fn pump(&mut self, coordinator: &mut Coordinator) -> Result<(), JobFailure> {
        loop {
            let commands = coordinator.take_commands();
            let reports = std::mem::take(&mut self.reports);
            if commands.is_empty() && reports.is_empty() {
                return Ok(());
            }
            self.run(commands);
            for r in reports {
                coordinator.on_report(r)?;
            }
        }
    }

    /// Every sub-task finished: the final checkpoint (or commit).
    fn finish(&mut self, coordinator: &mut Coordinator) -> Result<(), JobFailure> {
        loop {
            self.pump(coordinator)?;
            if coordinator.finish_job()? {
                return Ok(());
            }
            self.pump(coordinator)?;
            // An earlier checkpoint still in flight: it completes with the
            // final states, or expires.
            coordinator.tick(false)?;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Waits for the sub-tasks while coordinating checkpoints, serving
/// savepoint requests, reporting progress and honouring cancellation.
#[allow(clippy::too_many_arguments)]
fn coordinate(
    graph: &JobGraph,
    counters: &[NodeCounters],
    handles: &[std::thread::JoinHandle<()>],
    options: &RunOptions,
    started: Instant,
    events: &Receiver<TaskEvent>,
    coordinator: &mut Coordinator,
    tasks: &mut LocalTasks,
    restarts: u32,
) -> Result<(), JobFailure> {
    let sources: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.kind, NodeKind::Source(_)))
        .map(|(i, _)| i)
        .collect();
    let sinks: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.kind, NodeKind::Sink(_)))
        .map(|(i, _)| i)
        .collect();
    let mut last_report = Instant::now();
    let mut last_count = 0u64;
    while !handles.iter().all(|h| h.is_finished()) {
        tasks.take_events(events, Duration::from_millis(20));
        tasks.pump(coordinator)?;
        if cancelled(options) {
            tasks.ctl.cancel();
        }
        if let Some(h) = &options.handle {
            for r in h.take_requests() {
                coordinator.request_savepoint(r);
            }
        }
        coordinator.tick(tasks.ctl.cancelled())?;
        tasks.pump(coordinator)?;
        let count: u64 = sources.iter().map(|&i| counters[i].total_out()).sum();
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
                records_per_second: (count - last_count) as f64 / secs,
                sink_records: sinks.iter().map(|&i| counters[i].total_in()).sum(),
                checkpoints: coordinator.stats.clone(),
                restarts,
            });
            last_report = Instant::now();
            last_count = count;
        }
    }
    Ok(())
}
