//! Deploying the sub-tasks of an attempt that run in this process: their
//! channels (bounded queues; the ends of channels to other processes are
//! handed to a transport), their threads, and their checkpoint host.

use crate::checkpoint::{Command, Report, RestorePlan, TaskHost};
use crate::control::{Control, TaskEvent, TaskId};
use crate::exchange::{EdgeWriter, Envelope, InChannel, Inbox};
use crate::failure::JobFailure;
use crate::job::RunOptions;
use crate::metrics::NodeCounters;
use crate::remote::{ChannelKey, InEnd, OutEnd};
use crate::setup::{Local, Prepared, build_step, prepare, source_reader};
use crate::task::{Head, Routes, SnapshotPolicy, Step, SubTask};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use weir_core::graph::NodeKind;
use weir_core::plan::PhysicalPlan;
use weir_core::{ErrorDomain, JobGraph};
use weir_wasm::Runtime;

/// A checkpoint or savepoint an attempt starts from, loaded once.
#[derive(Clone)]
pub struct Restore {
    pub(crate) plan: Arc<RestorePlan>,
}

impl Restore {
    /// Loads the latest complete checkpoint under `path` (or the checkpoint
    /// or savepoint `path` is) and plans it for `graph`.
    pub fn load(
        path: &Path,
        graph: &JobGraph,
        allow_non_restored_state: bool,
    ) -> Result<Restore, JobFailure> {
        let loaded = weir_checkpoint::CheckpointStore::latest(path)
            .map_err(|e| JobFailure::job(ErrorDomain::User, format!("cannot restore: {e}")))?;
        Self::plan(loaded, graph, allow_non_restored_state)
    }

    pub(crate) fn plan(
        loaded: weir_checkpoint::Loaded,
        graph: &JobGraph,
        allow_non_restored_state: bool,
    ) -> Result<Restore, JobFailure> {
        let plan = RestorePlan::new(
            loaded,
            graph,
            graph.state_backend.name(),
            allow_non_restored_state,
        )?;
        Ok(Restore {
            plan: Arc::new(plan),
        })
    }

    /// The directory of the checkpoint or savepoint restored.
    pub fn dir(&self) -> &Path {
        &self.plan.loaded.dir
    }
}

/// Every sub-task of a planned job.
pub fn all_tasks(plan: &PhysicalPlan) -> Vec<TaskId> {
    plan.chains
        .iter()
        .enumerate()
        .flat_map(|(c, ch)| (0..ch.parallelism).map(move |s| (c, s)))
        .collect()
}

/// Every channel between sub-tasks of a planned job.
pub fn all_channels(graph: &JobGraph, plan: &PhysicalPlan) -> Vec<ChannelKey> {
    let mut out = Vec::new();
    for (c, chain) in plan.chains.iter().enumerate() {
        for s in 0..chain.parallelism {
            for input in &chain.inputs {
                let from_chain = plan.chain_of[graph.edges[input.edge].from];
                for channel in input.channels_for(s) {
                    out.push(ChannelKey {
                        from: (from_chain, channel - input.channel_offset),
                        to: (c, s),
                        channel,
                    });
                }
            }
        }
    }
    out
}

/// What one process runs of an attempt, and with what.
pub struct DeploySpec<'a> {
    /// The job.
    pub graph: &'a JobGraph,
    /// The Wasm runtime (compiled components are cached in it).
    pub rt: &'a Arc<Runtime>,
    /// Batch sizes, queue capacities, the clock, test faults.
    pub options: &'a RunOptions,
    /// The sub-tasks to run here; all of them when `None`.
    pub tasks: Option<&'a [TaskId]>,
    /// The snapshot the sub-tasks start from.
    pub restore: Option<&'a Restore>,
    /// This attempt's local directory (state backends, staged files).
    pub work: &'a Path,
}

/// How the sub-tasks of a deployment ended.
pub struct Ended {
    /// The first failure of a sub-task, if one failed.
    pub failure: Option<JobFailure>,
    /// Whether it failed while it was set up (a restart cannot help).
    pub setup_failed: bool,
    /// Whether a sub-task thread panicked.
    pub panicked: bool,
}

/// Fails a deployment from another thread.
#[derive(Clone)]
pub struct Failer {
    ctl: Arc<Control>,
}

impl Failer {
    /// Records `f` as the deployment's failure (the first one wins) and
    /// stops its sub-tasks; nothing when it is stopping already (what
    /// breaks then is a consequence, not the cause).
    pub fn fail(&self, f: JobFailure) {
        if !self.ctl.cancelled() {
            self.ctl.fail(f);
        }
    }
}

/// The running sub-tasks of an attempt in this process.
pub struct Deployment {
    ctl: Arc<Control>,
    host: TaskHost,
    events: Receiver<TaskEvent>,
    reports: Vec<Report>,
    handles: Vec<std::thread::JoinHandle<()>>,
    counters: Arc<Vec<NodeCounters>>,
    outgoing: Vec<OutEnd>,
    incoming: Vec<InEnd>,
}

impl Deployment {
    /// Loads the components, builds the channels and starts one thread per
    /// sub-task. Everything that fails here fails the same way again.
    pub fn start(spec: &DeploySpec<'_>) -> Result<Deployment, JobFailure> {
        let graph = spec.graph;
        let prepared = Arc::new(prepare(graph, spec.rt)?);
        let plan = PhysicalPlan::new(graph);
        let mine: BTreeSet<TaskId> = match spec.tasks {
            Some(t) => t.iter().copied().collect(),
            None => all_tasks(&plan).into_iter().collect(),
        };
        let (events_tx, events) = unbounded();
        let ctl = Arc::new(Control::new(Some(events_tx), spec.options.fault.clone()));
        let local = Arc::new(Local {
            backend: graph.state_backend,
            dir: spec.work.join("state"),
            interrupt: ctl.cancel_flag(),
            stages: functions_stages(graph, &plan, &mine),
            rocksdb: rocksdb_budget(graph, &plan, &mine)?,
        });
        let counters: Arc<Vec<NodeCounters>> = Arc::new(
            graph
                .nodes
                .iter()
                .map(|n| NodeCounters::new(n.parallelism))
                .collect(),
        );
        let mut wiring = Wiring::build(graph, &plan, &mine, spec.options.channel_capacity);
        let su = Setup {
            graph,
            rt: spec.rt,
            options: spec.options,
            prepared,
            plan: &plan,
            ctl: &ctl,
            counters: &counters,
            node_ids: &Arc::new(graph.nodes.iter().map(|n| n.id.clone()).collect()),
            local: &local,
            restore: spec.restore.map(|r| r.plan.clone()),
        };
        let mut handles = Vec::new();
        let started = mine
            .iter()
            .try_for_each(|&task| spawn_task(&su, task, &mut wiring, &mut handles));
        if let Err(f) = started {
            ctl.cancel();
            for h in handles {
                let _ = h.join();
            }
            return Err(f);
        }
        // Only the writers and the transport hold senders now: a channel
        // disconnects when its producer is gone.
        Ok(Deployment {
            ctl,
            host: TaskHost::new(spec.options.failing_checkpoints.clone()),
            events,
            reports: Vec::new(),
            handles,
            counters,
            outgoing: wiring.outgoing,
            incoming: wiring.incoming,
        })
    }

    /// The ends of channels to and from other processes, for a transport.
    pub fn take_remote_ends(&mut self) -> (Vec<OutEnd>, Vec<InEnd>) {
        (
            std::mem::take(&mut self.outgoing),
            std::mem::take(&mut self.incoming),
        )
    }

    /// Carries out a coordinator command.
    pub fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Trigger { barrier, target } => {
                // The host learns where to write before any sub-task can
                // acknowledge.
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

    /// The reports of the sub-tasks' checkpoint host, waiting up to `wait`
    /// for a sub-task's event when there is none.
    pub fn reports(&mut self, wait: Duration) -> Vec<Report> {
        if self.reports.is_empty()
            && !wait.is_zero()
            && let Ok(ev) = self.events.recv_timeout(wait)
        {
            self.host.on_event(ev, &mut self.reports);
        }
        for ev in self.events.try_iter() {
            self.host.on_event(ev, &mut self.reports);
        }
        std::mem::take(&mut self.reports)
    }

    /// Whether every sub-task thread has ended.
    pub fn stopped(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Stops every sub-task (their running guest calls are interrupted).
    pub fn cancel(&self) {
        self.ctl.cancel();
    }

    /// A handle that fails this deployment from elsewhere (a transport
    /// that lost a channel).
    pub fn failer(&self) -> Failer {
        Failer {
            ctl: self.ctl.clone(),
        }
    }

    /// Whether the deployment is being torn down (cancelled or failed).
    pub fn cancelled(&self) -> bool {
        self.ctl.cancelled()
    }

    /// The first failure, if a sub-task failed (without waiting).
    pub fn failure(&self) -> Option<JobFailure> {
        self.ctl.peek_failure()
    }

    /// Waits for every sub-task thread; their last events become reports.
    pub fn wait(&mut self) -> Ended {
        let mut panicked = false;
        for h in self.handles.drain(..) {
            panicked |= h.join().is_err();
        }
        for ev in self.events.try_iter() {
            self.host.on_event(ev, &mut self.reports);
        }
        Ended {
            failure: self.ctl.take_failure(),
            setup_failed: self.ctl.setup_failed(),
            panicked,
        }
    }

    /// Records received and emitted per node by this deployment's
    /// sub-tasks, in node order.
    pub fn totals(&self) -> Vec<(u64, u64)> {
        self.counters
            .iter()
            .map(|c| (c.total_in(), c.total_out()))
            .collect()
    }

    /// Calls into each node's Wasm guest so far, over its sub-tasks (a
    /// fused chain's calls count at its first node).
    pub fn wasm_calls(&self) -> Vec<u64> {
        self.counters
            .iter()
            .map(|c| c.per_subtask().iter().map(|m| m.wasm_calls).sum())
            .collect()
    }

    /// What each sub-task of node `node` did so far.
    pub fn subtask_metrics(&self, node: usize) -> Vec<crate::SubtaskMetrics> {
        self.counters
            .get(node)
            .map_or_else(Vec::new, |c| c.per_subtask())
    }
}

/// The queues of one deployment: local channels in full, channels to or
/// from other processes by their local end.
struct Wiring {
    senders: HashMap<(usize, u32, u32), Sender<Envelope>>,
    inboxes: HashMap<TaskId, Inbox>,
    outgoing: Vec<OutEnd>,
    incoming: Vec<InEnd>,
}

impl Wiring {
    fn build(
        graph: &JobGraph,
        plan: &PhysicalPlan,
        mine: &BTreeSet<TaskId>,
        capacity: usize,
    ) -> Wiring {
        let mut w = Wiring {
            senders: HashMap::new(),
            inboxes: HashMap::new(),
            outgoing: Vec::new(),
            incoming: Vec::new(),
        };
        let mut channels: HashMap<TaskId, Vec<InChannel>> = HashMap::new();
        for key in all_channels(graph, plan) {
            let (here_from, here_to) = (mine.contains(&key.from), mine.contains(&key.to));
            if !here_from && !here_to {
                continue;
            }
            let (tx, rx) = bounded(capacity);
            let mut input = InChannel::local(key.channel, rx.clone());
            if here_from {
                w.senders
                    .insert((key.to.0, key.to.1, key.channel), tx.clone());
            } else {
                let hook = Arc::new(OnceLock::new());
                input.credit = Some(hook.clone());
                w.incoming.push(InEnd {
                    key,
                    tx: tx.clone(),
                    hook,
                    capacity: capacity as u32,
                });
            }
            if here_to {
                channels.entry(key.to).or_default().push(input);
            } else {
                w.outgoing.push(OutEnd { key, rx });
            }
        }
        for (task, chs) in channels {
            w.inboxes.insert(task, Inbox::new(chs));
        }
        w
    }
}

/// What every sub-task of a deployment is built from.
struct Setup<'a> {
    graph: &'a JobGraph,
    rt: &'a Arc<Runtime>,
    options: &'a RunOptions,
    prepared: Arc<Prepared>,
    plan: &'a PhysicalPlan,
    ctl: &'a Arc<Control>,
    counters: &'a Arc<Vec<NodeCounters>>,
    node_ids: &'a Arc<Vec<String>>,
    local: &'a Arc<Local>,
    restore: Option<Arc<RestorePlan>>,
}

/// The largest batch sent to a stateful-functions stage. Each message
/// costs the stage a function call, so a channel of full-size batches
/// would hold many seconds of its work, and a checkpoint barrier waits
/// behind all of it: small batches keep the barrier within about a second
/// of the stage (as Flink's buffer debloating does for slow consumers).
const FUNCTIONS_INPUT_BATCH_BYTES: usize = 4 * 1024;

/// The batch size of an edge into a node of `kind`.
fn edge_batch_bytes(kind: &NodeKind, batch_bytes: usize) -> usize {
    match kind {
        NodeKind::Functions(_) => batch_bytes.min(FUNCTIONS_INPUT_BATCH_BYTES),
        _ => batch_bytes,
    }
}

/// The writers of `node`'s outputs that leave the chain, for sub-task `s`.
fn routes_of(su: &Setup<'_>, node: usize, s: u32, wiring: &Wiring) -> Result<Routes, JobFailure> {
    let (graph, plan) = (su.graph, su.plan);
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
            .ok_or_else(|| JobFailure::job(ErrorDomain::Internal, "edge without a chain input"))?;
        // This sub-task's channel at each receiver (the peer only, for a
        // forward edge).
        let channel = input.channel_offset + s;
        let receivers: Vec<u32> = match e.exchange {
            weir_core::spec::Exchange::Forward => vec![s],
            _ => (0..plan.chains[to_chain].parallelism).collect(),
        };
        let targets = receivers
            .iter()
            .map(|&t| {
                wiring
                    .senders
                    .get(&(to_chain, t, channel))
                    .cloned()
                    .ok_or_else(|| {
                        JobFailure::job(ErrorDomain::Internal, "a channel without a queue")
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
            edge_batch_bytes(&graph.nodes[e.to].kind, su.options.batch_bytes),
        );
        let dead_letters = match &graph.nodes[e.to].kind {
            NodeKind::Operator(o) => o.on_error,
            NodeKind::Functions(f) => f.on_error,
            _ => weir_core::spec::OnError::Fail,
        };
        if dead_letters == weir_core::spec::OnError::DeadLetter {
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
    Ok(routes)
}

/// Starts the thread of sub-task `task`.
fn spawn_task(
    su: &Setup<'_>,
    (c, s): TaskId,
    wiring: &mut Wiring,
    handles: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<(), JobFailure> {
    let graph = su.graph;
    let chain = &su.plan.chains[c];
    let mut steps = Vec::new();
    for &node in &chain.nodes {
        steps.push((node, routes_of(su, node, s, wiring)?));
    }
    let head_node = chain.nodes[0];
    let head = match &graph.nodes[head_node].kind {
        NodeKind::Source(_) => Head::Source(
            source_reader(
                graph,
                su.rt,
                head_node,
                &su.prepared,
                s,
                chain.parallelism,
                &su.options.clock,
                su.local,
                su.restore.as_deref(),
            )
            .map_err(|f| crate::setup::node_failure(graph, head_node, f))?,
        ),
        _ => Head::Inbox(
            wiring
                .inboxes
                .remove(&(c, s))
                .unwrap_or_else(|| Inbox::new(Vec::new())),
        ),
    };
    let graph = graph.clone();
    let rt = su.rt.clone();
    let prepared = su.prepared.clone();
    let ctl = su.ctl.clone();
    let counters = su.counters.clone();
    let node_ids = su.node_ids.clone();
    let batch_bytes = su.options.batch_bytes;
    let clock = su.options.clock.clone();
    let local = su.local.clone();
    let restore = su.restore.clone();
    let parallelism = chain.parallelism;
    let name = format!("weir-{}-{s}", graph.nodes[head_node].id);
    let span = tracing::info_span!(
        "subtask",
        job = %graph.name,
        operator = %graph.nodes[head_node].id,
        subtask = s,
        parallelism,
    );
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _span = span.entered();
            let nodes: Vec<usize> = steps.iter().map(|(n, _)| *n).collect();
            let runs = crate::fuse::plan(&graph, &prepared, &nodes);
            let mut built = Vec::new();
            let mut steps = steps.into_iter().enumerate();
            while let Some((i, (node, routes))) = steps.next() {
                let op = if runs[i] > 0 {
                    let at = crate::fuse::FuseAt {
                        graph: &graph,
                        rt: &rt,
                        prepared: &prepared,
                        nodes: &nodes[i..=i + runs[i]],
                        s,
                        local: &local,
                        restore: restore.as_deref(),
                    };
                    crate::fuse::open_fused(&at, clock.clone()).map(Some)
                } else {
                    build_step(
                        &graph,
                        &rt,
                        &prepared,
                        node,
                        s,
                        parallelism,
                        clock.clone(),
                        &local,
                        restore.as_deref(),
                    )
                };
                match op {
                    Ok(op) => {
                        built.push(Step {
                            fused: runs[i],
                            ..Step::new(node, op, routes)
                        });
                        for stage in 1..=runs[i] {
                            if let Some((_, (node, routes))) = steps.next() {
                                built.push(Step {
                                    stage,
                                    ..Step::new(node, None, routes)
                                });
                            }
                        }
                    }
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
                SnapshotPolicy {
                    native: local.backend != weir_core::spec::StateBackendKind::Memory,
                },
            )
            .run();
        })
        .map_err(|e| {
            JobFailure::job(ErrorDomain::External, format!("cannot start a thread: {e}"))
        })?;
    handles.push(handle);
    Ok(())
}

/// With the RocksDB backend, the memory budget its databases here share
/// (none when no keyed sub-task runs here):
/// one per keyed sub-task (keyed and window operators, stateful-functions
/// stages) deployed in this process.
fn rocksdb_budget(
    graph: &JobGraph,
    plan: &PhysicalPlan,
    mine: &BTreeSet<TaskId>,
) -> Result<Option<Arc<weir_rocksdb::MemoryBudget>>, JobFailure> {
    if graph.state_backend != weir_core::spec::StateBackendKind::Rocksdb {
        return Ok(None);
    }
    let databases: usize = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| match &n.kind {
            NodeKind::Operator(op) => op.window.is_some() || op.kind.is_keyed(),
            NodeKind::Functions(_) => true,
            _ => false,
        })
        .map(|(i, n)| {
            let c = plan.chain_of[i];
            (0..n.parallelism)
                .filter(|s| mine.contains(&(c, *s)))
                .count()
        })
        .sum();
    if databases == 0 {
        return Ok(None);
    }
    weir_rocksdb::MemoryBudget::new(graph.state_memory_mb, databases)
        .map(Some)
        .map_err(|e| JobFailure::job(ErrorDomain::User, e.to_string()))
}

/// The shared parts of each stateful-functions stage whose sub-tasks all
/// run here (the mesh between them is in-process).
fn functions_stages(
    graph: &JobGraph,
    plan: &PhysicalPlan,
    mine: &BTreeSet<TaskId>,
) -> std::collections::HashMap<usize, Arc<crate::operators::Stage>> {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.kind, NodeKind::Functions(_)))
        .filter(|(i, n)| {
            let c = plan.chain_of[*i];
            (0..n.parallelism).all(|s| mine.contains(&(c, s)))
        })
        .map(|(i, n)| (i, Arc::new(crate::operators::Stage::new(n.parallelism))))
        .collect()
}
