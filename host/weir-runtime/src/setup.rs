//! Building a job's pieces for one attempt: loading components, planning
//! file splits, and creating each sub-task's source reader, sink writer and
//! operators, fresh or restored from a snapshot.

use crate::checkpoint::RestorePlan;
use crate::clock::Clock;
use crate::failure::{Failure, JobFailure};
use crate::operators::{
    DeadLetters, Operator, Outcomes, SinkOperator, WasmKeyed, WasmTransform, WasmWindow,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_checkpoint::SourceState;
use weir_connectors::{
    ConnectorError, DatagenReader, DiscardSink, FileReader, FileSink, FileSplit, PrintSink,
    SAMPLE_TEXT, SinkWriter, SourceReader, SourceStatus, TimestampAssigner, plan_splits,
};
use weir_core::graph::{NodeKind, OperatorNode};
use weir_core::keygroup::key_group_range;
use weir_core::spec::{
    FunctionKind, OnError, SinkSpec, SourceFallback, SourceSpec, StateBackendKind,
};
use weir_core::{Batch, ErrorDomain, JobGraph, Outputs};
use weir_state::{KeyedStateBackend, MemoryBackend};
use weir_wasm::{FunctionInstance, InstanceConfig, LoadedComponent, Runtime, TaskInfo};

/// Reads the built-in sample text.
struct SampleReader {
    done: bool,
}

impl SampleReader {
    fn position_state(&self) -> SourceState {
        SourceState::Sample(self.done)
    }
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

    fn position(&self) -> Option<SourceState> {
        Some(self.position_state())
    }
}

pub(crate) fn node_failure(graph: &JobGraph, node: usize, f: impl Into<Failure>) -> JobFailure {
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
pub(crate) struct Prepared {
    pub(crate) components: HashMap<usize, Arc<LoadedComponent>>,
    /// The module of each stateful-functions stage.
    modules: HashMap<usize, Arc<weir_statefun::module::Module>>,
    /// The Wasm function components of each stage's module, in order.
    stateful: HashMap<usize, Vec<Arc<LoadedComponent>>>,
    assigners: HashMap<usize, Arc<LoadedComponent>>,
    splits: HashMap<usize, Vec<FileSplit>>,
}

pub(crate) fn prepare(graph: &JobGraph, rt: &Runtime) -> Result<Prepared, JobFailure> {
    let mut components = HashMap::new();
    let mut assigners = HashMap::new();
    let mut splits = HashMap::new();
    let mut modules = HashMap::new();
    let mut stateful = HashMap::new();
    let limits = sandbox_limits(graph);
    for (i, node) in graph.nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Functions(f) => {
                let m = weir_statefun::module::Module::load(&f.module, &graph.parameters)
                    .map_err(|e| node_failure(graph, i, Failure::user(e.to_string())))?;
                stateful.insert(i, load_stateful(graph, i, rt, &m)?);
                modules.insert(i, Arc::new(m));
            }
            NodeKind::Operator(op) => {
                let c = rt
                    .load(&op.component_path, &limits)
                    .map_err(|e| node_failure(graph, i, e))?;
                c.check_function(&op.function, op.kind)
                    .map_err(|m| node_failure(graph, i, Failure::user(m)))?;
                check_side_outputs(graph, i, op, &c)?;
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
                    let c = rt
                        .load(path, &limits)
                        .map_err(|e| node_failure(graph, i, e))?;
                    c.check_function(&a.function, FunctionKind::TimestampAssigner)
                        .map_err(|m| node_failure(graph, i, Failure::user(m)))?;
                    assigners.insert(i, c);
                }
            }
            _ => {}
        }
    }
    Ok(Prepared {
        components,
        modules,
        stateful,
        assigners,
        splits,
    })
}

/// Loads the Wasm function components a module names.
fn load_stateful(
    graph: &JobGraph,
    node: usize,
    rt: &Runtime,
    module: &weir_statefun::module::Module,
) -> Result<Vec<Arc<LoadedComponent>>, JobFailure> {
    let limits = sandbox_limits(graph);
    module
        .wasm
        .iter()
        .map(|w| {
            let c = rt
                .load(&w.component, &limits)
                .map_err(|e| node_failure(graph, node, e))?;
            if !c.is_stateful() {
                return Err(node_failure(
                    graph,
                    node,
                    Failure::user(format!(
                        "{} does not export weir:function/stateful@{} (build it with weir_sdk::export_stateful_functions!)",
                        w.component.display(),
                        weir_wasm::WIT_VERSION
                    )),
                ));
            }
            Ok(c)
        })
        .collect()
}

/// Checks that every side output a job routes from operator `node` is one
/// its function declares (or one the host makes: `late`, `dead-letter`).
fn check_side_outputs(
    graph: &JobGraph,
    node: usize,
    op: &OperatorNode,
    component: &LoadedComponent,
) -> Result<(), JobFailure> {
    let declared = component
        .function(&op.function)
        .map(|f| f.side_outputs.as_slice())
        .unwrap_or_default();
    for (_, e) in graph.outputs_of(node) {
        let Some(name) = &e.output else { continue };
        let host_made = name == weir_core::spec::DEAD_LETTER_OUTPUT
            || (name == weir_core::window::LATE_OUTPUT && op.window.is_some());
        if host_made || declared.contains(name) {
            continue;
        }
        return Err(node_failure(
            graph,
            node,
            Failure::user(format!(
                "'{}' reads side output '{name}', which function '{}' of {} does not declare (it declares: {}); nothing would ever arrive",
                graph.nodes[e.to].id,
                op.function,
                component.path(),
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            )),
        ));
    }
    Ok(())
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

/// What a function instance of sub-task `s` of `node` is told.
pub(crate) fn task_info(graph: &JobGraph, node: usize, s: u32) -> TaskInfo {
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

/// The job's sandbox limits, without grants (for listing functions).
pub fn sandbox_limits(graph: &JobGraph) -> InstanceConfig {
    InstanceConfig {
        memory_limit_bytes: graph.sandbox.memory_limit_bytes,
        call_timeout: graph.sandbox.call_timeout,
        grants: None,
        interrupt: None,
        budgets: graph.sandbox.budgets,
    }
}

/// The limits of every instance, and what the job granted `component`.
pub(crate) fn instance_config(graph: &JobGraph, component: &str, local: &Local) -> InstanceConfig {
    InstanceConfig {
        grants: graph.sandbox.grants.get(component).cloned(),
        interrupt: Some(local.interrupt.clone()),
        ..sandbox_limits(graph)
    }
}

/// Where one attempt keeps local state and staged checkpoint files.
pub(crate) struct Local {
    pub(crate) backend: StateBackendKind,
    pub(crate) dir: PathBuf,
    /// Set when the attempt stops: interrupts running guest calls.
    pub(crate) interrupt: Arc<std::sync::atomic::AtomicBool>,
    /// The shared parts of each stateful-functions stage, by node.
    pub(crate) stages: HashMap<usize, Arc<crate::operators::Stage>>,
    /// The RocksDB memory budget every database of this deployment shares
    /// (with the RocksDB backend).
    pub(crate) rocksdb: Option<Arc<weir_rocksdb::MemoryBudget>>,
}

/// The keyed state backend of one operator sub-task, with what a snapshot
/// in the backend's own format holds already loaded.
pub(crate) fn make_backend(
    local: &Local,
    node_id: &str,
    s: u32,
    range: std::ops::RangeInclusive<u16>,
    restore: Option<&RestorePlan>,
) -> Result<Box<dyn KeyedStateBackend>, Failure> {
    match local.backend {
        StateBackendKind::Memory => Ok(Box::new(MemoryBackend::new(range))),
        StateBackendKind::Rocksdb => {
            let dir = local.dir.join(format!("{node_id}-{s}"));
            let native = match restore.and_then(|p| p.native_for(node_id, s).map(|f| (p, f))) {
                Some((plan, files)) => {
                    let dirs = plan.loaded.native_dirs(files).map_err(|e| Failure {
                        domain: ErrorDomain::External,
                        message: format!("cannot fetch the RocksDB files to restore: {e}"),
                    })?;
                    Some(weir_rocksdb::Restore {
                        files: files.clone(),
                        checkpoint_dir: dirs.checkpoint_dir,
                        shared_dir: dirs.shared_dir,
                    })
                }
                None => None,
            };
            let budget = local
                .rocksdb
                .as_ref()
                .ok_or_else(|| Failure::internal("no RocksDB memory budget"))?;
            let b = weir_rocksdb::RocksDbBackend::open(&dir, range, native.as_ref(), budget)?;
            Ok(Box::new(b))
        }
    }
}

/// Opens the Wasm function of an operator node for one sub-task and
/// restores its state.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_operator(
    graph: &JobGraph,
    rt: &Runtime,
    component: &LoadedComponent,
    node: usize,
    op: &OperatorNode,
    s: u32,
    clock: Arc<dyn Clock>,
    local: &Local,
    restore: Option<&RestorePlan>,
) -> Result<Box<dyn Operator>, Failure> {
    let n = &graph.nodes[node];
    let mut built = open_function(graph, rt, component, node, op, s, clock, local, restore)?;
    restore_operator(built.as_mut(), n, s, restore)?;
    Ok(built)
}

/// Restores sub-task `s` of node `n` from the snapshots of it in `restore`.
pub(crate) fn restore_operator(
    op: &mut dyn Operator,
    n: &weir_core::graph::Node,
    s: u32,
    restore: Option<&RestorePlan>,
) -> Result<(), Failure> {
    if let Some(plan) = restore {
        let from = plan.for_operator(&n.id, s, n.parallelism);
        if !from.is_empty() {
            op.restore(&from)?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn open_function(
    graph: &JobGraph,
    rt: &Runtime,
    component: &LoadedComponent,
    node: usize,
    op: &OperatorNode,
    s: u32,
    clock: Arc<dyn Clock>,
    local: &Local,
    restore: Option<&RestorePlan>,
) -> Result<Box<dyn Operator>, Failure> {
    let n = &graph.nodes[node];
    let task = task_info(graph, node, s);
    let config = instance_config(graph, &op.component, local);
    let outcomes = outcomes_of(component, &n.id, op, s);
    if let Some(def) = op.window {
        let range = key_group_range(s, graph.max_parallelism, n.parallelism);
        let backend = make_backend(local, &n.id, s, range, restore)?;
        let instance = FunctionInstance::open_window(rt, component, &op.function, &task, config)?;
        let incremental = op.kind != FunctionKind::ProcessWindow;
        Ok(Box::new(WasmWindow::new(
            instance,
            def,
            incremental,
            backend,
            graph.max_parallelism,
            clock,
            outcomes,
        )?))
    } else if op.kind.is_keyed() {
        let range = key_group_range(s, graph.max_parallelism, n.parallelism);
        let backend = make_backend(local, &n.id, s, range, restore)?;
        let instance =
            FunctionInstance::open_keyed(rt, component, &op.function, &task, config, backend)?;
        Ok(Box::new(WasmKeyed::new(
            instance,
            graph.max_parallelism,
            clock,
            (s, n.parallelism),
            outcomes,
        )))
    } else {
        let instance =
            FunctionInstance::open_transform(rt, component, &op.function, &task, config)?;
        Ok(Box::new(WasmTransform::new(
            instance,
            clock,
            (s, n.parallelism),
            outcomes,
        )))
    }
}

/// How the operator `id` running `op` checks its function's results.
pub(crate) fn outcomes_of(
    component: &LoadedComponent,
    id: &str,
    op: &OperatorNode,
    s: u32,
) -> Outcomes {
    Outcomes::new(
        component
            .function(&op.function)
            .map(|f| f.side_outputs.clone())
            .unwrap_or_default(),
        (op.on_error == OnError::DeadLetter).then(|| DeadLetters {
            operator: id.to_owned(),
            subtask: s,
        }),
    )
}

/// Readies every file sink's directory: a fresh run removes old part files;
/// a restored run commits what the restored checkpoint covers and removes
/// everything written after it.
pub(crate) fn prepare_sinks(
    graph: &JobGraph,
    restore: Option<&RestorePlan>,
) -> Result<(), JobFailure> {
    if let Some(plan) = restore {
        for sink in plan.pending_sinks() {
            crate::sink_commit::commit_sink(sink)
                .map_err(|e| JobFailure::job(e.domain(), e.to_string()))?;
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let NodeKind::Sink(SinkSpec::File(f)) = &node.kind else {
            continue;
        };
        if f.path.is_empty() {
            continue;
        }
        let dir = Path::new(&f.path);
        match restore {
            Some(plan) => {
                let parts = plan.sink_parts(&node.id);
                weir_connectors::clean_for_restore(dir, |s| parts.get(&s).copied())
                    .map_err(|e| node_failure(graph, i, e))?;
            }
            None => {
                weir_connectors::prepare_output_dir(dir).map_err(|e| node_failure(graph, i, e))?
            }
        }
    }
    Ok(())
}

/// The reader of source sub-task `s`: fresh, or where the snapshot left it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn source_reader(
    graph: &JobGraph,
    rt: &Runtime,
    node: usize,
    prepared: &Prepared,
    s: u32,
    p: u32,
    clock: &Arc<dyn Clock>,
    local: &Local,
    restore: Option<&RestorePlan>,
) -> Result<Box<dyn SourceReader>, Failure> {
    let NodeKind::Source(spec) = &graph.nodes[node].kind else {
        return Err(Failure::internal("not a source"));
    };
    let resumed = restore.and_then(|r| r.source_for(&graph.nodes[node].id, s, p));
    Ok(match spec {
        SourceSpec::File(f) => {
            let splits: Option<Vec<FileSplit>> = match &resumed {
                Some(SourceState::Files(fs)) => {
                    Some(fs.iter().map(FileSplit::from_state).collect())
                }
                Some(SourceState::Sample(done)) => {
                    return Ok(Box::new(SampleReader { done: *done }));
                }
                Some(SourceState::Datagen(_) | SourceState::Kafka(_)) => {
                    return Err(Failure::user(
                        "the snapshot has another kind of source's position for this file source",
                    ));
                }
                None => prepared.splits.get(&node).map(|all| {
                    all.iter()
                        .enumerate()
                        .filter(|(j, _)| *j as u32 % p == s)
                        .map(|(_, sp)| sp.clone())
                        .collect()
                }),
            };
            match (splits, f.fallback) {
                (Some(mine), _) => {
                    let reader = FileReader::new(mine, weir_connectors::ReadOptions::of(f));
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
                                instance_config(graph, &a.component, local),
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
            }
        }
        SourceSpec::Datagen(d) => match &resumed {
            Some(SourceState::Datagen(streams)) => Box::new(DatagenReader::restore(d, streams)),
            Some(_) => {
                return Err(Failure::user(
                    "the snapshot has another kind of source's position for this data generator",
                ));
            }
            None => Box::new(DatagenReader::new(d, s, p)),
        },
        SourceSpec::Kafka(k) => {
            let restored = match resumed {
                Some(SourceState::Kafka(parts)) => Some(parts),
                Some(_) => {
                    return Err(Failure::user(
                        "the snapshot has another kind of source's position for this Kafka source",
                    ));
                }
                None => None,
            };
            Box::new(
                weir_kafka::KafkaReader::open(weir_kafka::ReaderContext {
                    spec: k,
                    subtask: s,
                    parallelism: p,
                    restored,
                })
                .map_err(Failure::from)?,
            )
        }
        SourceSpec::PlaygroundIngress(i) => Box::new(
            weir_statefun::playground::PlaygroundIngress::open(i.host.as_deref(), i.port)
                .map_err(Failure::from)?,
        ),
    })
}

/// The writer of sink sub-task `s`.
pub(crate) fn sink_writer(
    graph: &JobGraph,
    node: usize,
    s: u32,
    p: u32,
    restore: Option<&RestorePlan>,
) -> Result<Box<dyn SinkWriter>, Failure> {
    let NodeKind::Sink(spec) = &graph.nodes[node].kind else {
        return Err(Failure::internal("not a sink"));
    };
    Ok(match spec {
        SinkSpec::File(f) if f.path.is_empty() => Box::new(PrintSink::new(s, p)),
        SinkSpec::File(f) => {
            let next = restore.map_or(0, |r| r.sink_next_part(&graph.nodes[node].id, s, p));
            // Part files are committed by the job (checkpoints, savepoints,
            // the end of input), never by the writer itself.
            Box::new(FileSink::new(Path::new(&f.path), s, f.format, true, next))
        }
        SinkSpec::Print(_) => Box::new(PrintSink::new(s, p)),
        SinkSpec::Discard(_) => Box::new(DiscardSink::default()),
        SinkSpec::Kafka(k) => Box::new(
            weir_kafka::KafkaSink::open(weir_kafka::SinkContext {
                spec: k,
                job: &graph.name,
                subtask: s,
            })
            .map_err(Failure::from)?,
        ),
        SinkSpec::PlaygroundEgress(e) => Box::new(
            weir_statefun::playground::PlaygroundEgress::open(e.host.as_deref(), e.port, &e.topics)
                .map_err(Failure::from)?,
        ),
    })
}

/// The operator of node `node` for sub-task `s` (none for a source).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_step(
    graph: &JobGraph,
    rt: &Arc<Runtime>,
    prepared: &Prepared,
    node: usize,
    s: u32,
    parallelism: u32,
    clock: Arc<dyn Clock>,
    local: &Local,
    restore: Option<&RestorePlan>,
) -> Result<Option<Box<dyn Operator>>, Failure> {
    match &graph.nodes[node].kind {
        NodeKind::Source(_) => Ok(None),
        NodeKind::Operator(op) => match prepared.components.get(&node) {
            Some(c) => open_operator(graph, rt, c, node, op, s, clock, local, restore).map(Some),
            None => Err(Failure::user("component not loaded")),
        },
        NodeKind::Functions(f) => {
            let at = FunctionsAt {
                graph,
                rt,
                prepared,
                node,
                s,
            };
            open_functions(&at, f, clock, local, restore).map(Some)
        }
        NodeKind::Sink(_) => sink_writer(graph, node, s, parallelism, restore)
            .map(|w| Some(Box::new(SinkOperator { writer: w }) as Box<dyn Operator>)),
    }
}

/// Which sub-task of which stateful-functions stage is being opened.
struct FunctionsAt<'a> {
    graph: &'a JobGraph,
    rt: &'a Arc<Runtime>,
    prepared: &'a Prepared,
    node: usize,
    s: u32,
}

/// Opens sub-task `s` of a stateful-functions stage and restores its
/// state.
fn open_functions(
    at: &FunctionsAt<'_>,
    f: &weir_core::graph::FunctionsNode,
    clock: Arc<dyn Clock>,
    local: &Local,
    restore: Option<&RestorePlan>,
) -> Result<Box<dyn Operator>, Failure> {
    let FunctionsAt {
        graph,
        rt,
        prepared,
        node,
        s,
    } = *at;
    let n = &graph.nodes[node];
    let module = prepared
        .modules
        .get(&node)
        .cloned()
        .ok_or_else(|| Failure::internal("module not loaded"))?;
    let stage = local.stages.get(&node).cloned().ok_or_else(|| {
        Failure::user(
            "a stateful-functions stage runs with all its sub-tasks in one process (the embedded runner); it cannot be spread over workers yet",
        )
    })?;
    let range = key_group_range(s, graph.max_parallelism, n.parallelism);
    let backend = make_backend(local, &n.id, s, range, restore)?;
    let egresses = graph
        .outputs_of(node)
        .filter_map(|(_, e)| e.output.clone())
        .filter(|o| o != weir_core::spec::DEAD_LETTER_OUTPUT)
        .collect();
    let mut op = crate::operators::FunctionsOp::open(crate::operators::FunctionsCtx {
        node_id: n.id.clone(),
        module,
        stage,
        backend,
        subtask: s,
        parallelism: n.parallelism,
        max_parallelism: graph.max_parallelism,
        egresses,
        dead_letter: f.on_error == OnError::DeadLetter,
        max_backlog: f.max_backlog,
        max_in_flight: f.max_in_flight,
        clock,
        cancel: local.interrupt.clone(),
        wasm: prepared
            .stateful
            .get(&node)
            .map(|components| crate::operators::WasmSetup {
                rt: rt.clone(),
                components: components.clone(),
                task: task_info(graph, node, s),
                config: instance_config(graph, "", local),
            }),
    })?;
    restore_operator(&mut op, n, s, restore)?;
    Ok(Box::new(op))
}
