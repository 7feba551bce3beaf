//! One opened function in its own store: the unit of isolation.
//!
//! Every call runs under a deadline and can be interrupted: a guest that
//! computes is stopped by the epoch callback within a few ticks; a guest
//! that waits inside a WASI call is stopped by the call driver
//! (`call.rs`). After a call the guest's printed lines go to the log.

use crate::bindings::{keyed, transform, window};
use crate::budget::{self, BudgetExceeded};
use crate::call::{CallRuntime, Ended};
use crate::component::{FunctionInfo, LoadedComponent};
use crate::error::{CallError, LoadError, TrapCause};
use crate::guest_io::GuestLog;
use crate::host_state::{HostState, KeyedScope, StateBinding};
use crate::runtime::Runtime;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap, UpdateDeadline};
use weir_core::graph::{Budgets, Grants};
use weir_state::{KeyedStateBackend, StateKind};

/// Limits of one instance, and what it was granted.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// Linear memory cap, bytes.
    pub memory_limit_bytes: u64,
    /// Deadline of one call.
    pub call_timeout: Duration,
    /// Environment and directories the guest may reach (none if absent).
    pub grants: Option<Arc<Grants>>,
    /// When set, a running call is interrupted within a few epoch ticks
    /// (the job is stopping), instead of running on to its deadline.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// What the host does for the guest per call.
    pub budgets: Budgets,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        let s = weir_core::graph::Sandbox::default();
        InstanceConfig {
            memory_limit_bytes: s.memory_limit_bytes,
            call_timeout: s.call_timeout,
            grants: None,
            interrupt: None,
            budgets: s.budgets,
        }
    }
}

/// Epoch ticks between two looks at the deadline and the interrupt flag
/// while guest code runs (a tick is 10 ms).
const CHECK_TICKS: u64 = 5;

/// The sub-task an instance serves (given to the function when opened).
#[derive(Debug, Clone, Default)]
pub struct TaskInfo {
    /// Job name.
    pub job_name: String,
    /// Operator id.
    pub operator_id: String,
    /// Sub-task index.
    pub subtask_index: u32,
    /// Operator parallelism.
    pub parallelism: u32,
    /// Key groups.
    pub max_parallelism: u32,
    /// Job parameters.
    pub parameters: Vec<(String, String)>,
}

use transform::weir::function::types as wit;

impl TaskInfo {
    pub(crate) fn to_wit(&self) -> wit::TaskInfo {
        wit::TaskInfo {
            job_name: self.job_name.clone(),
            operator_id: self.operator_id.clone(),
            subtask_index: self.subtask_index,
            parallelism: self.parallelism,
            max_parallelism: self.max_parallelism,
            parameters: self.parameters.clone(),
        }
    }
}

pub(crate) enum Bound {
    Transform(transform::TransformFunction, ResourceAny),
    Chain(crate::bindings::chain::ChainFunction, ResourceAny),
    Keyed(keyed::KeyedProcessFunction, ResourceAny),
    Window(window::WindowFunction, ResourceAny),
}

/// The calls a window function offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowCall {
    /// Fold records into accumulators.
    Accumulate,
    /// Merge accumulators (session windows).
    Merge,
    /// Emit window results.
    Emit,
}

/// Which export a call goes to.
#[derive(Clone, Copy)]
pub(crate) enum Call {
    Process,
    Timers,
    Window(WindowCall),
}

/// What an instance's calls took so far, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Calls into the guest.
    pub calls: u64,
    /// Time spent in them.
    pub busy: Duration,
    /// Calls stopped at their deadline.
    pub timeouts: u64,
    /// The guest's linear memory, bytes.
    pub memory_bytes: u64,
}

/// An opened function in its own store.
pub struct FunctionInstance {
    pub(crate) store: Store<HostState>,
    pub(crate) bound: Bound,
    pub(crate) config: InstanceConfig,
    pub(crate) poisoned: bool,
    stats: CallStats,
    /// A chain's later stages' watermarks (stage 1 first).
    pub(crate) stage_watermarks: Vec<i64>,
    /// The chain stage the last failed call named.
    pub(crate) failed_stage: Option<usize>,
    /// Runs the calls (declared last: dropped after the store).
    pub(crate) rt: CallRuntime,
}

/// A fresh store for `component`, its guest output logged as `log`.
fn new_store(
    rt: &Runtime,
    component: &LoadedComponent,
    config: &InstanceConfig,
    log: GuestLog,
) -> Result<Store<HostState>, LoadError> {
    let data = HostState::new(
        config.memory_limit_bytes,
        config.grants.as_deref(),
        log,
        config.budgets,
    )
    .map_err(|(dir, message)| LoadError::Grant {
        path: component.path.clone(),
        dir,
        message,
    })?;
    let mut store = Store::new(&rt.engine, data);
    store.limiter(|s| &mut s.limiter);
    store.data_mut().interrupt = config.interrupt.clone();
    // Every few ticks while guest code runs: stop it when the job stops
    // or the call's deadline has passed.
    store.epoch_deadline_callback(|mut ctx| {
        let d = ctx.data_mut();
        if d.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            d.interrupted = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        if Instant::now() >= d.deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(CHECK_TICKS))
    });
    Ok(store)
}

/// Starts a call: its deadline, fresh budgets and a fresh error tail.
pub(crate) fn arm(store: &mut Store<HostState>, timeout: Duration) -> Instant {
    let d = store.data_mut();
    d.deadline = Instant::now() + timeout;
    d.interrupted = false;
    d.usage = budget::Usage::default();
    d.log.begin_call();
    let deadline = d.deadline;
    store.set_epoch_deadline(CHECK_TICKS);
    deadline
}

/// What a call came to: its value, or why it stopped.
pub(crate) fn settle<T>(
    store: &Store<HostState>,
    config: &InstanceConfig,
    ended: Ended<wasmtime::Result<T>>,
) -> Result<T, TrapCause> {
    match ended {
        Ended::Returned(Ok(v)) => Ok(v),
        Ended::Returned(Err(e)) => Err(cause(store, &e, config)),
        Ended::TimedOut => Err(TrapCause::Timeout {
            limit_ms: config.call_timeout.as_millis() as u64,
        }),
        Ended::Interrupted => Err(TrapCause::Interrupted),
    }
}

/// An instance being opened: the store, the runtime its calls run on, and
/// what is needed to word errors.
pub(crate) struct Opening<'a> {
    pub(crate) store: Store<HostState>,
    pub(crate) rt: CallRuntime,
    pub(crate) component: &'a LoadedComponent,
    config: &'a InstanceConfig,
}

impl<'a> Opening<'a> {
    pub(crate) fn new(
        rt: &Runtime,
        component: &'a LoadedComponent,
        config: &'a InstanceConfig,
        log: GuestLog,
    ) -> Result<Self, LoadError> {
        let store = new_store(rt, component, config, log)?;
        let rt = CallRuntime::new()
            .map_err(|e| LoadError::Engine(format!("cannot start a call runtime: {e}")))?;
        Ok(Opening {
            store,
            rt,
            component,
            config,
        })
    }

    pub(crate) fn guest(&self, message: String) -> LoadError {
        LoadError::Guest {
            path: self.component.path.clone(),
            message,
        }
    }

    /// Runs one step of opening (guest code) under the call deadline.
    pub(crate) fn step<T>(
        &mut self,
        what: &str,
        f: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, LoadError> {
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let ended = self
            .rt
            .drive(f(&mut self.store), deadline, interrupt.as_deref());
        let result = settle(&self.store, self.config, ended);
        self.store.data_mut().log.forward();
        result.map_err(|c| self.guest(format!("{what} failed: {c}")))
    }

    /// The outcome of a guest's `open`: an error names the function.
    pub(crate) fn opened<T>(&self, r: Result<T, wit::FunctionError>) -> Result<T, LoadError> {
        r.map_err(|e| self.guest(function_error(e).to_string()))
    }

    pub(crate) fn done(self, bound: Bound) -> FunctionInstance {
        FunctionInstance {
            store: self.store,
            bound,
            config: self.config.clone(),
            poisoned: false,
            stats: CallStats::default(),
            stage_watermarks: Vec::new(),
            failed_stage: None,
            rt: self.rt,
        }
    }

    /// Registers the keyed states a function declared (`name` is for
    /// messages) in `backend`, which becomes the store's keyed scope.
    pub(crate) fn register_states(
        &mut self,
        name: &str,
        declared: Vec<wit::StateDescriptor>,
        backend: Box<dyn KeyedStateBackend>,
    ) -> Result<(), LoadError> {
        budget::check_states(&self.config.budgets, declared.len())
            .map_err(|e| self.guest(format!("'{name}': {e}")))?;
        let mut scope = KeyedScope::new(backend);
        for d in declared {
            let kind = match d.kind {
                wit::StateKind::Value => StateKind::Value,
                wit::StateKind::List => StateKind::List,
                wit::StateKind::Map => StateKind::Map,
            };
            let ttl = d.ttl.map(|t| weir_state::Ttl {
                millis: t.millis,
                refresh_on_read: t.refresh_on_read,
            });
            let desc = weir_state::StateDesc {
                name: d.name.clone(),
                kind,
                ttl,
                codec: d.codec,
            };
            let id = scope
                .backend
                .register_desc(&desc)
                .map_err(|e| self.guest(format!("state '{}': {e}", d.name)))?;
            scope.bindings.push(StateBinding { id, kind, ttl });
        }
        self.store.data_mut().keyed = Some(scope);
        Ok(())
    }
}

/// The component lacks the export `interface` (for `what` functions).
pub(crate) fn wrong_world(component: &LoadedComponent, interface: &str, what: &str) -> LoadError {
    LoadError::WrongWorld {
        path: component.path.clone(),
        message: format!(
            "it does not export weir:function/{interface}@{} ({what} functions)",
            crate::WIT_VERSION
        ),
    }
}

/// Lists the functions of `component` in a throwaway instance with the
/// limits of `config`.
pub(crate) fn list_functions(
    rt: &Runtime,
    component: &LoadedComponent,
    config: &InstanceConfig,
) -> Result<Vec<FunctionInfo>, LoadError> {
    let log = GuestLog::new(&component.path, 0, config.budgets.log_lines_per_second);
    let mut o = Opening::new(rt, component, config, log)?;
    let infos = if let Some(pre) = &component.transform {
        o.step("listing functions", async |s| {
            let b = pre.instantiate_async(&mut *s).await?;
            b.weir_function_registry().call_functions(&mut *s).await
        })?
    } else if let Some(pre) = &component.keyed {
        o.step("listing functions", async |s| {
            let b = pre.instantiate_async(&mut *s).await?;
            b.weir_function_registry().call_functions(&mut *s).await
        })?
    } else if let Some(pre) = &component.window {
        o.step("listing functions", async |s| {
            let b = pre.instantiate_async(&mut *s).await?;
            b.weir_function_registry().call_functions(&mut *s).await
        })?
    } else if component.stateful.is_some() {
        // Stateful functions name their types when opened.
        Vec::new()
    } else {
        return Err(LoadError::WrongWorld {
            path: component.path.clone(),
            message: format!(
                "it exports none of weir:function/transform@{v}, keyed@{v}, window@{v} or stateful@{v} (with weir:function/registry@{v}); build it against the WIT package in wit/ with the Weir SDK",
                v = crate::WIT_VERSION
            ),
        });
    };
    let infos: Vec<FunctionInfo> = infos.into_iter().map(FunctionInfo::from_wit).collect();
    for f in &infos {
        budget::check_side_outputs(&config.budgets, f.side_outputs.len()).map_err(|e| {
            LoadError::Guest {
                path: component.path.clone(),
                message: format!("function '{}': {e}", f.name),
            }
        })?;
    }
    Ok(infos)
}

impl FunctionInstance {
    pub(crate) fn log(task: &TaskInfo, config: &InstanceConfig) -> GuestLog {
        GuestLog::new(
            &task.operator_id,
            task.subtask_index,
            config.budgets.log_lines_per_second,
        )
    }

    /// Opens the stateless function `name` of `component`.
    pub fn open_transform(
        rt: &Runtime,
        component: &LoadedComponent,
        name: &str,
        task: &TaskInfo,
        config: InstanceConfig,
    ) -> Result<FunctionInstance, LoadError> {
        let pre = component
            .transform
            .as_ref()
            .ok_or_else(|| wrong_world(component, "transform", "stateless"))?;
        let mut o = Opening::new(rt, component, &config, Self::log(task, &config))?;
        let b = o.step("instantiating", async |s| pre.instantiate_async(s).await)?;
        let what = format!("opening '{name}'");
        let r = o.step(&what, async |s| {
            b.weir_function_transform()
                .transform_function()
                .call_open(s, name, &task.to_wit())
                .await
        })?;
        let handle = o.opened(r)?;
        Ok(o.done(Bound::Transform(b, handle)))
    }

    /// Opens the keyed function `name` of `component` over `backend`, and
    /// registers the states it declares.
    pub fn open_keyed(
        rt: &Runtime,
        component: &LoadedComponent,
        name: &str,
        task: &TaskInfo,
        config: InstanceConfig,
        backend: Box<dyn KeyedStateBackend>,
    ) -> Result<FunctionInstance, LoadError> {
        let pre = component
            .keyed
            .as_ref()
            .ok_or_else(|| wrong_world(component, "keyed", "keyed"))?;
        let mut o = Opening::new(rt, component, &config, Self::log(task, &config))?;
        let b = o.step("instantiating", async |s| pre.instantiate_async(s).await)?;
        let api = b.weir_function_keyed().keyed_function();
        let what = format!("opening '{name}'");
        let r = o.step(&what, async |s| {
            api.call_open(s, name, &task.to_wit()).await
        })?;
        let handle = o.opened(r)?;
        let declared = o.step("listing states", async |s| api.call_states(s, handle).await)?;
        o.register_states(name, declared, backend)?;
        Ok(o.done(Bound::Keyed(b, handle)))
    }

    /// The keyed state scope (keyed functions only).
    pub fn scope(&self) -> Option<&KeyedScope> {
        self.store.data().keyed.as_ref()
    }

    /// The keyed state scope, mutable (keyed functions only).
    pub fn scope_mut(&mut self) -> Option<&mut KeyedScope> {
        self.store.data_mut().keyed.as_mut()
    }

    /// Opens the window function `name` of `component` (a reduce,
    /// aggregate or process-window function run on windows).
    pub fn open_window(
        rt: &Runtime,
        component: &LoadedComponent,
        name: &str,
        task: &TaskInfo,
        config: InstanceConfig,
    ) -> Result<FunctionInstance, LoadError> {
        let pre = component
            .window
            .as_ref()
            .ok_or_else(|| wrong_world(component, "window", "window"))?;
        let mut o = Opening::new(rt, component, &config, Self::log(task, &config))?;
        let b = o.step("instantiating", async |s| pre.instantiate_async(s).await)?;
        let what = format!("opening '{name}'");
        let r = o.step(&what, async |s| {
            b.weir_function_window()
                .window_function()
                .call_open(s, name, &task.to_wit())
                .await
        })?;
        let handle = o.opened(r)?;
        Ok(o.done(Bound::Window(b, handle)))
    }

    /// Calls the function on one batch; returns its result buffer.
    pub fn process_batch(
        &mut self,
        input: &[u8],
        watermark: i64,
        processing_time: i64,
    ) -> Result<Vec<u8>, CallError> {
        self.call(input, watermark, processing_time, Call::Process)
    }

    /// Fires due timers (keyed functions): `input` holds key groups whose
    /// records are timers; returns the result buffer.
    pub fn fire_timers(
        &mut self,
        input: &[u8],
        watermark: i64,
        processing_time: i64,
    ) -> Result<Vec<u8>, CallError> {
        self.call(input, watermark, processing_time, Call::Timers)
    }

    /// Calls a window function on window groups; returns the result buffer.
    pub fn window(
        &mut self,
        call: WindowCall,
        input: &[u8],
        watermark: i64,
        processing_time: i64,
    ) -> Result<Vec<u8>, CallError> {
        self.call(input, watermark, processing_time, Call::Window(call))
    }

    /// Counts keyed state bytes the last call wrote through its result
    /// (value-state sets), with what it wrote through host calls.
    pub fn charge_state(&mut self, bytes: usize) -> Result<(), CallError> {
        let d = self.store.data_mut();
        let budgets = d.budgets;
        d.usage
            .charge_state(&budgets, bytes)
            .map_err(CallError::Budget)
    }

    /// Counts one timer the last call registered.
    pub fn charge_timer(&mut self) -> Result<(), CallError> {
        let d = self.store.data_mut();
        let budgets = d.budgets;
        d.usage.charge_timer(&budgets).map_err(CallError::Budget)
    }

    /// The function's own (non-keyed) state, for a checkpoint.
    pub fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let ended = match &self.bound {
            Bound::Transform(b, h) => self.rt.drive(
                b.weir_function_transform()
                    .transform_function()
                    .call_snapshot_state(&mut self.store, *h),
                deadline,
                interrupt.as_deref(),
            ),
            Bound::Keyed(b, h) => self.rt.drive(
                b.weir_function_keyed()
                    .keyed_function()
                    .call_snapshot_state(&mut self.store, *h),
                deadline,
                interrupt.as_deref(),
            ),
            Bound::Window(_, _) => return Ok(None),
            Bound::Chain(..) => {
                let mut stages = self.snapshot_stages()?;
                return Ok(if stages.is_empty() {
                    None
                } else {
                    stages.swap_remove(0)
                });
            }
        };
        self.finish(ended)
    }

    /// Gives a restored function the states it takes over.
    pub fn restore_state(&mut self, states: &[Vec<u8>]) -> Result<(), CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let ended = match &self.bound {
            Bound::Transform(b, h) => self.rt.drive(
                b.weir_function_transform()
                    .transform_function()
                    .call_restore_state(&mut self.store, *h, states),
                deadline,
                interrupt.as_deref(),
            ),
            Bound::Keyed(b, h) => self.rt.drive(
                b.weir_function_keyed().keyed_function().call_restore_state(
                    &mut self.store,
                    *h,
                    states,
                ),
                deadline,
                interrupt.as_deref(),
            ),
            Bound::Window(_, _) => return Ok(()),
            Bound::Chain(..) => return self.restore_stage(0, states),
        };
        self.finish(ended)
    }

    /// Turns a call's outcome into ours, poisoning the store when the call
    /// did not return, and forwards what the guest printed.
    pub(crate) fn finish<T>(
        &mut self,
        ended: Ended<wasmtime::Result<Result<T, wit::FunctionError>>>,
    ) -> Result<T, CallError> {
        let result = match settle(&self.store, &self.config, ended) {
            Ok(r) => r.map_err(function_error),
            Err(cause) => Err(trapped(cause, &mut self.poisoned, &mut self.stats)),
        };
        self.store.data_mut().log.forward();
        result
    }

    fn call(
        &mut self,
        input: &[u8],
        watermark: i64,
        processing_time: i64,
        call: Call,
    ) -> Result<Vec<u8>, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        let started = Instant::now();
        let out = self.call_guest(input, watermark, processing_time, call);
        self.stats.calls += 1;
        self.stats.busy += started.elapsed();
        out
    }

    /// What the calls so far took, and the guest's memory now.
    pub fn stats(&self) -> CallStats {
        CallStats {
            memory_bytes: self.store.data().limiter.memory_bytes as u64,
            ..self.stats
        }
    }

    fn call_guest(
        &mut self,
        input: &[u8],
        watermark: i64,
        processing_time: i64,
        call: Call,
    ) -> Result<Vec<u8>, CallError> {
        let deadline = arm(&mut self.store, self.config.call_timeout);
        let interrupt = self.config.interrupt.clone();
        let interrupt = interrupt.as_deref();
        let ctx = wit::BatchContext {
            watermark,
            processing_time,
        };
        let ended = match (&self.bound, call) {
            (Bound::Transform(b, h), Call::Process) => self.rt.drive(
                b.weir_function_transform()
                    .transform_function()
                    .call_process_batch(&mut self.store, *h, ctx, input),
                deadline,
                interrupt,
            ),
            (Bound::Keyed(b, h), Call::Process) => self.rt.drive(
                b.weir_function_keyed().keyed_function().call_process_batch(
                    &mut self.store,
                    *h,
                    ctx,
                    input,
                ),
                deadline,
                interrupt,
            ),
            (Bound::Keyed(b, h), Call::Timers) => self.rt.drive(
                b.weir_function_keyed().keyed_function().call_on_timers(
                    &mut self.store,
                    *h,
                    ctx,
                    input,
                ),
                deadline,
                interrupt,
            ),
            (Bound::Window(b, h), Call::Window(w)) => {
                let api = b.weir_function_window().window_function();
                let store = &mut self.store;
                match w {
                    WindowCall::Accumulate => self.rt.drive(
                        api.call_accumulate(store, *h, ctx, input),
                        deadline,
                        interrupt,
                    ),
                    WindowCall::Merge => {
                        self.rt
                            .drive(api.call_merge(store, *h, ctx, input), deadline, interrupt)
                    }
                    WindowCall::Emit => {
                        self.rt
                            .drive(api.call_emit(store, *h, ctx, input), deadline, interrupt)
                    }
                }
            }
            (Bound::Chain(..), Call::Process | Call::Timers) => {
                return self.call_chain(input, ctx, call);
            }
            _ => {
                return Err(CallError::Function(
                    "this kind of function has no such call".into(),
                ));
            }
        };
        let out = self.finish(ended)?;
        budget::check_output(&self.config.budgets, out.len()).map_err(CallError::Budget)?;
        Ok(out)
    }
}

/// A call that did not return: the store is poisoned (its guest may be
/// mid-way through anything) and a timeout is counted.
pub(crate) fn trapped(cause: TrapCause, poisoned: &mut bool, stats: &mut CallStats) -> CallError {
    *poisoned = true;
    if matches!(cause, TrapCause::Timeout { .. }) {
        stats.timeouts += 1;
    }
    CallError::Trap(cause)
}

pub(crate) fn function_error(e: wit::FunctionError) -> CallError {
    match e {
        wit::FunctionError::User(m) | wit::FunctionError::UnknownFunction(m) => {
            CallError::Function(m)
        }
        wit::FunctionError::Decode(m) => CallError::Decode(m),
    }
}

/// Classifies a trap, using what the store saw (memory cap, the standard
/// error the call wrote).
fn cause(store: &Store<HostState>, e: &wasmtime::Error, config: &InstanceConfig) -> TrapCause {
    if let Some(b) = e.downcast_ref::<BudgetExceeded>() {
        return TrapCause::Budget(b.clone());
    }
    if store.data().limiter.exceeded {
        return TrapCause::MemoryLimit {
            limit_bytes: config.memory_limit_bytes,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) if store.data().interrupted => TrapCause::Interrupted,
        Some(Trap::Interrupt) => TrapCause::Timeout {
            limit_ms: config.call_timeout.as_millis() as u64,
        },
        Some(Trap::StackOverflow) => TrapCause::StackOverflow,
        Some(Trap::UnreachableCodeReached) => {
            TrapCause::Panic(crate::error::panic_message(&store.data().log.stderr.tail()))
        }
        Some(t) => TrapCause::Other(t.to_string()),
        // A host call refused what the guest asked (a slot or state id it
        // does not have): the refusal is the message, not the backtrace.
        None => TrapCause::HostCall(e.root_cause().to_string()),
    }
}
