//! Setting a job up, running its sub-tasks, and collecting the outcome.

use crate::clock::{Clock, SystemClock};
use crate::control::Control;
use crate::exchange::{EdgeWriter, Envelope};
use crate::failure::{Failure, JobFailure};
use crate::metrics::{JobSummary, NodeCounters, NodeSummary, Progress};
use crate::operators::{Operator, SinkOperator, WasmKeyed, WasmTransform, WasmWindow};
use crate::task::{Head, Routes, Step, SubTask};
use crossbeam_channel::{Sender, bounded};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_connectors::{
    ConnectorError, DatagenReader, DiscardSink, FileReader, FileSink, FileSplit, PrintSink,
    SAMPLE_TEXT, SinkWriter, SourceReader, SourceStatus, TimestampAssigner, plan_splits,
    prepare_output_dir,
};
use weir_core::graph::{NodeKind, OperatorNode};
use weir_core::keygroup::key_group_range;
use weir_core::plan::PhysicalPlan;
use weir_core::spec::{FunctionKind, SinkSpec, SourceFallback, SourceSpec};
use weir_core::{Batch, ErrorDomain, JobGraph, Outputs};
use weir_state::MemoryBackend;
use weir_wasm::{FunctionInstance, InstanceConfig, LoadedComponent, Runtime, TaskInfo};

/// A callback that receives progress snapshots.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

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
        }
    }
}

/// Reads the built-in sample text.
struct SampleReader {
    done: bool,
}

impl SourceReader for SampleReader {
    fn poll(&mut self, out: &mut Outputs, _max: usize) -> Result<SourceStatus, ConnectorError> {
        if self.done {
            return Ok(SourceStatus::Finished);
        }
        for line in SAMPLE_TEXT.lines() {
            out.main.push(weir_wire::NO_TIMESTAMP, &[], line.as_bytes());
        }
        self.done = true;
        Ok(SourceStatus::More)
    }
}

fn node_failure(graph: &JobGraph, node: usize, f: impl Into<Failure>) -> JobFailure {
    let f = f.into();
    JobFailure {
        operator: Some(graph.nodes[node].id.clone()),
        subtask: None,
        domain: f.domain,
        message: f.message,
    }
}

/// Loads every component, checks each operator's function and kind, and
/// plans file splits. Everything that can be wrong before the first record
/// is found here, with the node named.
struct Prepared {
    components: HashMap<usize, Arc<LoadedComponent>>,
    assigners: HashMap<usize, Arc<LoadedComponent>>,
    splits: HashMap<usize, Vec<FileSplit>>,
}

fn prepare(graph: &JobGraph, rt: &Runtime) -> Result<Prepared, JobFailure> {
    let mut components = HashMap::new();
    let mut assigners = HashMap::new();
    let mut splits = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Operator(op) => {
                let c = rt
                    .load(&op.component_path)
                    .map_err(|e| node_failure(graph, i, e))?;
                c.check_function(&op.function, op.kind)
                    .map_err(|m| node_failure(graph, i, Failure::user(m)))?;
                components.insert(i, c);
            }
            NodeKind::Source(SourceSpec::File(f)) if !f.path.is_empty() => {
                let s = plan_splits(&f.path, node.parallelism)
                    .map_err(|e| node_failure(graph, i, e))?;
                splits.insert(i, s);
                if let Some(a) = f.event_time.as_ref().and_then(|e| e.assigner.as_ref()) {
                    let path = graph.components.get(&a.component).ok_or_else(|| {
                        node_failure(graph, i, Failure::user("unknown assigner component"))
                    })?;
                    let c = rt.load(path).map_err(|e| node_failure(graph, i, e))?;
                    c.check_function(&a.function, FunctionKind::TimestampAssigner)
                        .map_err(|m| node_failure(graph, i, Failure::user(m)))?;
                    assigners.insert(i, c);
                }
            }
            NodeKind::Sink(SinkSpec::File(f)) if !f.path.is_empty() => {
                prepare_output_dir(Path::new(&f.path)).map_err(|e| node_failure(graph, i, e))?;
            }
            _ => {}
        }
    }
    Ok(Prepared {
        components,
        assigners,
        splits,
    })
}

/// A source's timestamp assigner: a guest function called on each batch a
/// reader produces.
struct WasmTimestamps {
    instance: FunctionInstance,
    clock: Arc<dyn Clock>,
}

impl TimestampAssigner for WasmTimestamps {
    fn assign(&mut self, records: &Batch, out: &mut Vec<i64>) -> Result<(), ConnectorError> {
        let result = self
            .instance
            .process_batch(records.bytes(), i64::MIN, self.clock.now_ms())
            .map_err(|e| ConnectorError::Assigner {
                domain: e.domain(),
                message: e.to_string(),
            })?;
        if result.len() % 8 != 0 {
            return Err(ConnectorError::Assigner {
                domain: ErrorDomain::User,
                message: format!("returned {} bytes, not 8 per record", result.len()),
            });
        }
        out.extend(result.chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            i64::from_le_bytes(a)
        }));
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn source_reader(
    graph: &JobGraph,
    rt: &Runtime,
    node: usize,
    prepared: &Prepared,
    s: u32,
    p: u32,
    clock: &Arc<dyn Clock>,
) -> Result<Box<dyn SourceReader>, Failure> {
    let NodeKind::Source(spec) = &graph.nodes[node].kind else {
        return Err(Failure::internal("not a source"));
    };
    Ok(match spec {
        SourceSpec::File(f) => match (prepared.splits.get(&node), f.fallback) {
            (Some(all), _) => {
                let mine = all
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j as u32 % p == s)
                    .map(|(_, sp)| sp.clone())
                    .collect();
                let reader = FileReader::new(mine, f.format, f.on_malformed, f.event_time.clone());
                match (
                    f.event_time.as_ref().and_then(|e| e.assigner.as_ref()),
                    prepared.assigners.get(&node),
                ) {
                    (Some(a), Some(c)) => {
                        let task = task_info(graph, node, s);
                        let instance = FunctionInstance::open_transform(
                            rt,
                            c,
                            &a.function,
                            &task,
                            instance_config(graph),
                        )?;
                        Box::new(reader.with_assigner(Box::new(WasmTimestamps {
                            instance,
                            clock: clock.clone(),
                        })))
                    }
                    _ => Box::new(reader),
                }
            }
            (None, Some(SourceFallback::SampleText)) => Box::new(SampleReader { done: s != 0 }),
            (None, None) => Box::new(SampleReader { done: true }),
        },
        SourceSpec::Datagen(d) => Box::new(DatagenReader::new(d, s, p)),
    })
}

/// What a function instance of sub-task `s` of `node` is told.
fn task_info(graph: &JobGraph, node: usize, s: u32) -> TaskInfo {
    let n = &graph.nodes[node];
    TaskInfo {
        job_name: graph.name.clone(),
        operator_id: n.id.clone(),
        subtask_index: s,
        parallelism: n.parallelism,
        max_parallelism: graph.max_parallelism,
        parameters: graph
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn instance_config(graph: &JobGraph) -> InstanceConfig {
    InstanceConfig {
        memory_limit_bytes: graph.sandbox.memory_limit_bytes,
        call_timeout: graph.sandbox.call_timeout,
    }
}

fn sink_writer(spec: &SinkSpec, s: u32, p: u32) -> Result<Box<dyn SinkWriter>, Failure> {
    Ok(match spec {
        SinkSpec::File(f) if f.path.is_empty() => Box::new(PrintSink::new(s, p)),
        SinkSpec::File(f) => Box::new(FileSink::new(Path::new(&f.path), s, f.format)?),
        SinkSpec::Print(_) => Box::new(PrintSink::new(s, p)),
        SinkSpec::Discard(_) => Box::new(DiscardSink::default()),
    })
}

/// Opens the Wasm function of an operator node for one sub-task.
fn open_operator(
    graph: &JobGraph,
    rt: &Runtime,
    component: &LoadedComponent,
    node: usize,
    op: &OperatorNode,
    s: u32,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Operator>, Failure> {
    let n = &graph.nodes[node];
    let task = task_info(graph, node, s);
    let config = instance_config(graph);
    if let Some(def) = op.window {
        let range = key_group_range(s, graph.max_parallelism, n.parallelism);
        let backend = Box::new(MemoryBackend::new(range));
        let instance = FunctionInstance::open_window(rt, component, &op.function, &task, config)?;
        let incremental = op.kind != FunctionKind::ProcessWindow;
        Ok(Box::new(WasmWindow::new(
            instance,
            def,
            incremental,
            backend,
            graph.max_parallelism,
            clock,
        )?))
    } else if op.kind.is_keyed() {
        let range = key_group_range(s, graph.max_parallelism, n.parallelism);
        let backend = Box::new(MemoryBackend::new(range));
        let instance =
            FunctionInstance::open_keyed(rt, component, &op.function, &task, config, backend)?;
        Ok(Box::new(WasmKeyed::new(
            instance,
            graph.max_parallelism,
            clock,
        )))
    } else {
        let instance =
            FunctionInstance::open_transform(rt, component, &op.function, &task, config)?;
        Ok(Box::new(WasmTransform::new(instance, clock)))
    }
}

/// Runs a job to completion on this process's threads.
pub fn run_job(
    graph: &JobGraph,
    rt: &Arc<Runtime>,
    options: &RunOptions,
) -> Result<JobSummary, JobFailure> {
    let started = Instant::now();
    let prepared = prepare(graph, rt)?;
    let plan = PhysicalPlan::new(graph);
    let ctl = Arc::new(Control::default());
    let counters: Arc<Vec<NodeCounters>> = Arc::new(
        graph
            .nodes
            .iter()
            .map(|n| NodeCounters::new(n.parallelism))
            .collect(),
    );
    let node_ids: Arc<Vec<String>> = Arc::new(graph.nodes.iter().map(|n| n.id.clone()).collect());

    // One bounded inbox per chain sub-task.
    let mut senders: Vec<Vec<Sender<Envelope>>> = Vec::new();
    let mut inboxes = Vec::new();
    for chain in &plan.chains {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..chain.parallelism)
            .map(|_| bounded(options.channel_capacity))
            .unzip();
        senders.push(tx);
        inboxes.push(rx.into_iter().map(Some).collect::<Vec<_>>());
    }

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
                    let writer = EdgeWriter::new(
                        e.exchange,
                        e.key.clone(),
                        senders[to_chain].clone(),
                        input.channel_offset + s,
                        s,
                        graph.max_parallelism,
                        options.batch_bytes,
                    );
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
            let head = match &graph.nodes[head_node].kind {
                NodeKind::Source(_) => Head::Source(
                    source_reader(
                        graph,
                        rt,
                        head_node,
                        &prepared,
                        s,
                        chain.parallelism,
                        &options.clock,
                    )
                    .map_err(|f| node_failure(graph, head_node, f))?,
                ),
                _ => Head::Inbox {
                    inbox: inboxes[c][s as usize].take().ok_or_else(|| {
                        JobFailure::job(ErrorDomain::Internal, "inbox taken twice")
                    })?,
                    channels: chain
                        .inputs
                        .iter()
                        .flat_map(|i| i.channels_for(s))
                        .collect(),
                },
            };
            let graph = graph.clone();
            let rt = rt.clone();
            let components = prepared.components.clone();
            let ctl = ctl.clone();
            let counters = counters.clone();
            let node_ids = node_ids.clone();
            let batch_bytes = options.batch_bytes;
            let clock = options.clock.clone();
            let parallelism = chain.parallelism;
            let name = format!("weir-{}-{s}", graph.nodes[head_node].id);
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let mut built = Vec::new();
                    for (node, routes) in steps {
                        let op: Result<Option<Box<dyn Operator>>, Failure> = match &graph.nodes
                            [node]
                            .kind
                        {
                            NodeKind::Source(_) => Ok(None),
                            NodeKind::Operator(op) => match components.get(&node) {
                                Some(c) => {
                                    open_operator(&graph, &rt, c, node, op, s, clock.clone())
                                        .map(Some)
                                }
                                None => Err(Failure::user("component not loaded")),
                            },
                            NodeKind::Sink(spec) => sink_writer(spec, s, parallelism).map(|w| {
                                Some(Box::new(SinkOperator { writer: w }) as Box<dyn Operator>)
                            }),
                        };
                        match op {
                            Ok(op) => built.push(Step { node, op, routes }),
                            Err(f) => {
                                ctl.fail(JobFailure {
                                    operator: Some(graph.nodes[node].id.clone()),
                                    subtask: Some((s, parallelism)),
                                    domain: f.domain,
                                    message: f.message,
                                });
                                return;
                            }
                        }
                    }
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
                    )
                    .run();
                })
                .map_err(|e| {
                    JobFailure::job(ErrorDomain::External, format!("cannot start a thread: {e}"))
                })?;
            handles.push(handle);
        }
    }
    // Only the writers hold senders now: a channel disconnects when every
    // upstream sub-task is gone.
    drop(senders);

    monitor(graph, &ctl, &counters, &handles, options, started);
    let mut panicked = false;
    for h in handles {
        panicked |= h.join().is_err();
    }
    if let Some(f) = ctl.take_failure() {
        return Err(f);
    }
    if panicked {
        return Err(JobFailure::job(
            ErrorDomain::Internal,
            "a sub-task thread panicked",
        ));
    }
    if options
        .cancel
        .as_ref()
        .is_some_and(|c| c.load(Ordering::Relaxed))
    {
        return Err(JobFailure::job(ErrorDomain::User, "the job was cancelled"));
    }
    Ok(JobSummary {
        name: graph.name.clone(),
        duration: started.elapsed(),
        nodes: graph
            .nodes
            .iter()
            .zip(counters.iter())
            .map(|(n, c)| NodeSummary {
                id: n.id.clone(),
                kind: match &n.kind {
                    NodeKind::Source(_) => "source".into(),
                    NodeKind::Sink(_) => "sink".into(),
                    NodeKind::Operator(o) => o.kind.name().into(),
                },
                parallelism: n.parallelism,
                records_in: c.total_in(),
                records_out: c.total_out(),
            })
            .collect(),
    })
}

/// Waits for the sub-tasks, reporting progress and honouring cancellation.
fn monitor(
    graph: &JobGraph,
    ctl: &Control,
    counters: &[NodeCounters],
    handles: &[std::thread::JoinHandle<()>],
    options: &RunOptions,
    started: Instant,
) {
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
        std::thread::sleep(Duration::from_millis(20));
        if options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            ctl.cancel();
        }
        if let Some(cb) = &options.on_progress
            && last_report.elapsed() >= options.progress_interval
        {
            let count: u64 = sources.iter().map(|&i| counters[i].total_out()).sum();
            let secs = last_report.elapsed().as_secs_f64();
            cb(&Progress {
                elapsed: started.elapsed(),
                source_records: count,
                records_per_second: (count - last_count) as f64 / secs,
                sink_records: sinks.iter().map(|&i| counters[i].total_in()).sum(),
            });
            last_report = Instant::now();
            last_count = count;
        }
    }
}
