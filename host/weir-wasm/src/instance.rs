//! One opened function in its own store: the unit of isolation.

use crate::bindings::{keyed, transform, window};
use crate::component::LoadedComponent;
use crate::error::{CallError, LoadError, TrapCause};
use crate::host_state::{HostState, KeyedScope, StateBinding};
use crate::runtime::{EPOCH_TICK, Runtime};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap, UpdateDeadline};
use weir_core::graph::Grants;
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
}

/// How often (in epoch ticks) a running call checks `interrupt`.
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
    fn to_wit(&self) -> wit::TaskInfo {
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

enum Bound {
    Transform(transform::TransformFunction, ResourceAny),
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
enum Call {
    Process,
    Timers,
    Window(WindowCall),
}

/// An opened function in its own store.
pub struct FunctionInstance {
    store: Store<HostState>,
    bound: Bound,
    config: InstanceConfig,
    deadline_ticks: u64,
    poisoned: bool,
}

impl FunctionInstance {
    fn store(
        rt: &Runtime,
        component: &LoadedComponent,
        config: &InstanceConfig,
    ) -> Result<Store<HostState>, LoadError> {
        let data = HostState::new(config.memory_limit_bytes, config.grants.as_deref()).map_err(
            |(dir, message)| LoadError::Grant {
                path: component.path.clone(),
                dir,
                message,
            },
        )?;
        let mut store = Store::new(&rt.engine, data);
        store.limiter(|s| &mut s.limiter);
        if let Some(flag) = &config.interrupt {
            store.data_mut().interrupt = Some(flag.clone());
            // The deadline comes in slices of CHECK_TICKS; between slices
            // the interrupt flag is looked at.
            store.epoch_deadline_callback(|mut ctx| {
                let d = ctx.data_mut();
                if d.interrupt
                    .as_ref()
                    .is_some_and(|f| f.load(Ordering::Relaxed))
                {
                    d.interrupted = true;
                    return Ok(UpdateDeadline::Interrupt);
                }
                if d.budget == 0 {
                    return Ok(UpdateDeadline::Interrupt);
                }
                let next = d.budget.min(CHECK_TICKS);
                d.budget -= next;
                Ok(UpdateDeadline::Continue(next))
            });
        }
        Ok(store)
    }

    fn ticks(config: &InstanceConfig) -> u64 {
        (config.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
    }

    /// A fresh store with the call deadline set (instantiation runs guest
    /// code too), and its deadline in ticks.
    fn new_store(
        rt: &Runtime,
        component: &LoadedComponent,
        config: &InstanceConfig,
    ) -> Result<(Store<HostState>, u64), LoadError> {
        let mut store = Self::store(rt, component, config)?;
        let ticks = Self::ticks(config);
        arm(&mut store, ticks);
        Ok((store, ticks))
    }

    /// The outcome of a guest's `open`: a trap or an error names the
    /// function and the component.
    fn opened<T>(
        store: &Store<HostState>,
        component: &LoadedComponent,
        name: &str,
        config: &InstanceConfig,
        result: wasmtime::Result<Result<T, wit::FunctionError>>,
    ) -> Result<T, LoadError> {
        let guest = |message: String| LoadError::Guest {
            path: component.path.clone(),
            message,
        };
        result
            .map_err(|e| {
                guest(format!(
                    "opening '{name}' failed: {}",
                    describe(store, &e, config)
                ))
            })?
            .map_err(|e| guest(function_error(e).to_string()))
    }

    fn instantiate_error(component: &LoadedComponent, e: wasmtime::Error) -> LoadError {
        LoadError::Guest {
            path: component.path.clone(),
            message: format!("cannot instantiate: {e:#}"),
        }
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
            .ok_or_else(|| LoadError::WrongWorld {
                path: component.path.clone(),
                message: "it does not export weir:function/transform@0.1.0 (stateless functions)"
                    .into(),
            })?;
        let (mut store, ticks) = Self::new_store(rt, component, &config)?;
        let b = pre
            .instantiate(&mut store)
            .map_err(|e| Self::instantiate_error(component, e))?;
        let r = b.weir_function_transform().transform_function().call_open(
            &mut store,
            name,
            &task.to_wit(),
        );
        let handle = Self::opened(&store, component, name, &config, r)?;
        Ok(FunctionInstance {
            store,
            bound: Bound::Transform(b, handle),
            config,
            deadline_ticks: ticks,
            poisoned: false,
        })
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
        let guest = |message: String| LoadError::Guest {
            path: component.path.clone(),
            message,
        };
        let pre = component
            .keyed
            .as_ref()
            .ok_or_else(|| LoadError::WrongWorld {
                path: component.path.clone(),
                message: "it does not export weir:function/keyed@0.1.0 (keyed functions)".into(),
            })?;
        let (mut store, ticks) = Self::new_store(rt, component, &config)?;
        let b = pre
            .instantiate(&mut store)
            .map_err(|e| Self::instantiate_error(component, e))?;
        let api = b.weir_function_keyed().keyed_function();
        let r = api.call_open(&mut store, name, &task.to_wit());
        let handle = Self::opened(&store, component, name, &config, r)?;
        arm(&mut store, ticks);
        let declared = api.call_states(&mut store, handle).map_err(|e| {
            guest(format!(
                "listing states failed: {}",
                describe(&store, &e, &config)
            ))
        })?;
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
                .map_err(|e| guest(format!("state '{}': {e}", d.name)))?;
            scope.bindings.push(StateBinding { id, kind, ttl });
        }
        store.data_mut().keyed = Some(scope);
        Ok(FunctionInstance {
            store,
            bound: Bound::Keyed(b, handle),
            config,
            deadline_ticks: ticks,
            poisoned: false,
        })
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
            .ok_or_else(|| LoadError::WrongWorld {
                path: component.path.clone(),
                message: "it does not export weir:function/window@0.1.0 (window functions)".into(),
            })?;
        let (mut store, ticks) = Self::new_store(rt, component, &config)?;
        let b = pre
            .instantiate(&mut store)
            .map_err(|e| Self::instantiate_error(component, e))?;
        let r =
            b.weir_function_window()
                .window_function()
                .call_open(&mut store, name, &task.to_wit());
        let handle = Self::opened(&store, component, name, &config, r)?;
        Ok(FunctionInstance {
            store,
            bound: Bound::Window(b, handle),
            config,
            deadline_ticks: ticks,
            poisoned: false,
        })
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

    /// The function's own (non-keyed) state, for a checkpoint.
    pub fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>, CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        arm(&mut self.store, self.deadline_ticks);
        let result = match &self.bound {
            Bound::Transform(b, h) => b
                .weir_function_transform()
                .transform_function()
                .call_snapshot_state(&mut self.store, *h),
            Bound::Keyed(b, h) => b
                .weir_function_keyed()
                .keyed_function()
                .call_snapshot_state(&mut self.store, *h),
            Bound::Window(_, _) => return Ok(None),
        };
        self.finish_call(result)
    }

    /// Gives a restored function the states it takes over.
    pub fn restore_state(&mut self, states: &[Vec<u8>]) -> Result<(), CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned);
        }
        arm(&mut self.store, self.deadline_ticks);
        let result = match &self.bound {
            Bound::Transform(b, h) => b
                .weir_function_transform()
                .transform_function()
                .call_restore_state(&mut self.store, *h, states),
            Bound::Keyed(b, h) => b.weir_function_keyed().keyed_function().call_restore_state(
                &mut self.store,
                *h,
                states,
            ),
            Bound::Window(_, _) => return Ok(()),
        };
        self.finish_call(result)
    }

    /// Turns a call's outcome into ours, poisoning the store on a trap.
    fn finish_call<T>(
        &mut self,
        result: wasmtime::Result<Result<T, wit::FunctionError>>,
    ) -> Result<T, CallError> {
        match result {
            Ok(r) => r.map_err(function_error),
            Err(e) => {
                self.poisoned = true;
                Err(CallError::Trap(cause(&self.store, &e, &self.config)))
            }
        }
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
        arm(&mut self.store, self.deadline_ticks);
        let ctx = wit::BatchContext {
            watermark,
            processing_time,
        };
        let result = match (&self.bound, call) {
            (Bound::Transform(b, h), Call::Process) => b
                .weir_function_transform()
                .transform_function()
                .call_process_batch(&mut self.store, *h, ctx, input),
            (Bound::Keyed(b, h), Call::Process) => b
                .weir_function_keyed()
                .keyed_function()
                .call_process_batch(&mut self.store, *h, ctx, input),
            (Bound::Keyed(b, h), Call::Timers) => b
                .weir_function_keyed()
                .keyed_function()
                .call_on_timers(&mut self.store, *h, ctx, input),
            (Bound::Window(b, h), Call::Window(w)) => {
                let api = b.weir_function_window().window_function();
                match w {
                    WindowCall::Accumulate => api.call_accumulate(&mut self.store, *h, ctx, input),
                    WindowCall::Merge => api.call_merge(&mut self.store, *h, ctx, input),
                    WindowCall::Emit => api.call_emit(&mut self.store, *h, ctx, input),
                }
            }
            _ => {
                return Err(CallError::Function(
                    "this kind of function has no such call".into(),
                ));
            }
        };
        self.finish_call(result)
    }
}

fn function_error(e: wit::FunctionError) -> CallError {
    match e {
        wit::FunctionError::User(m) | wit::FunctionError::UnknownFunction(m) => {
            CallError::Function(m)
        }
        wit::FunctionError::Decode(m) => CallError::Decode(m),
    }
}

/// Sets a call's deadline of `ticks` epoch ticks: all at once, or in
/// slices when the call can be interrupted.
fn arm(store: &mut Store<HostState>, ticks: u64) {
    let d = store.data_mut();
    d.interrupted = false;
    if d.interrupt.is_some() {
        let first = ticks.min(CHECK_TICKS);
        d.budget = ticks - first;
        store.set_epoch_deadline(first);
    } else {
        store.set_epoch_deadline(ticks);
    }
}

fn describe(store: &Store<HostState>, e: &wasmtime::Error, config: &InstanceConfig) -> String {
    cause(store, e, config).to_string()
}

/// Classifies a trap, using what the store saw (memory cap, panic output).
fn cause(store: &Store<HostState>, e: &wasmtime::Error, config: &InstanceConfig) -> TrapCause {
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
            let out = store.data().stderr.contents();
            TrapCause::Panic(panic_message(&String::from_utf8_lossy(&out)))
        }
        Some(t) => TrapCause::Other(t.to_string()),
        None => TrapCause::Other(format!("{e:#}")),
    }
}

/// The useful part of a Rust panic report printed by the guest.
fn panic_message(stderr: &str) -> String {
    let text: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note:"))
        .collect();
    if text.is_empty() {
        return "unreachable code reached (no panic message)".into();
    }
    let joined = text.join(" ");
    match joined.find("panicked at ") {
        Some(i) => joined[i + "panicked at ".len()..].to_owned(),
        None => joined,
    }
}
