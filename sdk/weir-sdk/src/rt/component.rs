//! The WIT exports: a component type generic over the crate's registry.

use super::Out;
use super::keyed::{Group, KeyedOp};
use super::registry::{Entry, Registry};
use super::transform::{Batch, TransformOp};
use super::window::WindowOp;
use crate::bindings::exports::weir::function::{chain, keyed, registry, transform, window};
use crate::bindings::weir::function::types::{
    BatchContext, FunctionError, FunctionInfo, FunctionKind, StateDescriptor, StateKind,
    StateTtl as WitTtl, TaskInfo as WitTaskInfo,
};
use crate::error::ErrorKind;
use crate::state::{Declared, Kind, SCOPE};
use crate::{Error, OpenContext, TaskInfo};
use std::cell::RefCell;
use std::marker::PhantomData;
use weir_wire::{GroupReader, WindowGroupReader};

/// The exported component of a function crate.
pub struct Component<R>(PhantomData<R>);

pub(super) fn to_wit(e: Error) -> FunctionError {
    match e.kind {
        ErrorKind::User => FunctionError::User(e.message),
        ErrorKind::Decode => FunctionError::Decode(e.message),
    }
}

fn task_info(t: WitTaskInfo) -> TaskInfo {
    TaskInfo {
        job_name: t.job_name,
        operator_id: t.operator_id,
        subtask_index: t.subtask_index,
        parallelism: t.parallelism,
        max_parallelism: t.max_parallelism,
        parameters: t.parameters,
    }
}

fn kind_name(k: FunctionKind) -> &'static str {
    match k {
        FunctionKind::Map => "map",
        FunctionKind::FlatMap => "flat-map",
        FunctionKind::Filter => "filter",
        FunctionKind::Reduce => "reduce",
        FunctionKind::Aggregate => "aggregate",
        FunctionKind::KeyedProcess => "keyed-process",
        FunctionKind::ProcessWindow => "process-window",
        FunctionKind::TimestampAssigner => "timestamp-assigner",
    }
}

pub(super) fn find<R: Registry>(name: &str) -> Result<Entry, FunctionError> {
    let entries = R::entries();
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.name, kind_name(e.kind)))
        .collect();
    entries.into_iter().find(|e| e.name == name).ok_or_else(|| {
        FunctionError::UnknownFunction(format!(
            "no function named '{name}'; this component has: {}",
            names.join(", ")
        ))
    })
}

/// Makes the function called `name` through the factory `pick` selects;
/// `not` says what it is not when it has no such factory ("not a keyed
/// function").
fn make<R: Registry, T: ?Sized>(
    name: &str,
    pick: impl FnOnce(&super::registry::Factories) -> Option<fn() -> Box<T>>,
    not: &str,
) -> Result<Box<T>, FunctionError> {
    let entry = find::<R>(name)?;
    match pick(&entry.factories) {
        Some(make) => Ok(make()),
        None => Err(FunctionError::UnknownFunction(format!(
            "'{name}' is a {} function, {not}",
            kind_name(entry.kind)
        ))),
    }
}

impl<R: Registry> registry::Guest for Component<R> {
    fn functions() -> Vec<FunctionInfo> {
        R::entries()
            .into_iter()
            .map(|e| FunctionInfo {
                name: e.name.to_owned(),
                kind: e.kind,
                side_outputs: e.side_outputs.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect()
    }
}

impl<R: Registry> transform::Guest for Component<R> {
    type TransformFunction = TransformHandle<R>;
}

impl<R: Registry> keyed::Guest for Component<R> {
    type KeyedFunction = KeyedHandle<R>;
}

impl<R: Registry> window::Guest for Component<R> {
    type WindowFunction = WindowHandle<R>;
}

impl<R: Registry> chain::Guest for Component<R> {
    type ChainedFunctions = super::chain::ChainHandle<R>;
}

/// An opened stateless function.
pub(super) struct TransformInner {
    task: TaskInfo,
    pub(super) op: Box<dyn TransformOp>,
}

/// An opened stateless function.
pub struct TransformHandle<R> {
    inner: RefCell<TransformInner>,
    _r: PhantomData<R>,
}

impl<R: Registry> transform::GuestTransformFunction for TransformHandle<R> {
    fn open(
        name: String,
        task: WitTaskInfo,
    ) -> Result<transform::TransformFunction, FunctionError> {
        Ok(transform::TransformFunction::new(TransformHandle::<R> {
            inner: RefCell::new(TransformInner::open::<R>(&name, task)?),
            _r: PhantomData,
        }))
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, FunctionError> {
        self.inner.borrow_mut().op.snapshot_state().map_err(to_wit)
    }

    fn restore_state(&self, states: Vec<Vec<u8>>) -> Result<(), FunctionError> {
        self.inner
            .borrow_mut()
            .op
            .restore_state(states)
            .map_err(to_wit)
    }

    fn process_batch(&self, ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        self.inner.borrow_mut().process(ctx, &input)
    }
}

impl TransformInner {
    /// Opens the stateless function `name` of the registry `R`.
    pub(super) fn open<R: Registry>(name: &str, task: WitTaskInfo) -> Result<Self, FunctionError> {
        let mut op = make::<R, _>(name, |f| f.transform, "not a stateless transform")?;
        let task = task_info(task);
        op.open(&mut OpenContext {
            task: &task,
            states: None,
        })
        .map_err(to_wit)?;
        Ok(TransformInner { task, op })
    }

    /// Runs the function over the record frames of `input`.
    pub(super) fn process(
        &mut self,
        ctx: BatchContext,
        input: &[u8],
    ) -> Result<Vec<u8>, FunctionError> {
        let TransformInner { task, op } = self;
        let batch = Batch {
            task,
            watermark: ctx.watermark,
            processing_time: ctx.processing_time,
        };
        let mut out = Out::new(Vec::with_capacity(input.len()));
        op.process(&batch, input, &mut out).map_err(to_wit)?;
        Ok(out.buf)
    }

    /// Runs the function over the record frames of `input`, appending its
    /// result to `out`.
    pub(super) fn process_into(
        &mut self,
        ctx: BatchContext,
        input: &[u8],
        out: &mut Out,
    ) -> Result<(), FunctionError> {
        let TransformInner { task, op } = self;
        let batch = Batch {
            task,
            watermark: ctx.watermark,
            processing_time: ctx.processing_time,
        };
        op.process(&batch, input, out).map_err(to_wit)
    }
}

/// An opened keyed function.
pub(super) struct KeyedInner {
    task: TaskInfo,
    pub(super) op: Box<dyn KeyedOp>,
    states: Vec<Declared>,
    /// Ids of the declared value states, in the order groups carry them.
    value_ids: Vec<usize>,
    scratch: Vec<u8>,
}

/// An opened keyed function.
pub struct KeyedHandle<R> {
    inner: RefCell<KeyedInner>,
    _r: PhantomData<R>,
}

impl<R: Registry> keyed::GuestKeyedFunction for KeyedHandle<R> {
    fn open(name: String, task: WitTaskInfo) -> Result<keyed::KeyedFunction, FunctionError> {
        Ok(keyed::KeyedFunction::new(KeyedHandle::<R> {
            inner: RefCell::new(KeyedInner::open::<R>(&name, task)?),
            _r: PhantomData,
        }))
    }

    fn states(&self) -> Vec<StateDescriptor> {
        self.inner.borrow().descriptors()
    }

    fn process_batch(&self, ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        self.inner.borrow_mut().run(ctx, &input, false)
    }

    fn on_timers(&self, ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        self.inner.borrow_mut().run(ctx, &input, true)
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, FunctionError> {
        self.inner.borrow_mut().op.snapshot_state().map_err(to_wit)
    }

    fn restore_state(&self, states: Vec<Vec<u8>>) -> Result<(), FunctionError> {
        self.inner
            .borrow_mut()
            .op
            .restore_state(states)
            .map_err(to_wit)
    }
}

impl KeyedInner {
    /// Opens the keyed function `name` of the registry `R`.
    pub(super) fn open<R: Registry>(name: &str, task: WitTaskInfo) -> Result<Self, FunctionError> {
        let mut op = make::<R, _>(name, |f| f.keyed, "not a keyed function")?;
        let task = task_info(task);
        let mut states = Vec::new();
        op.open(&mut OpenContext {
            task: &task,
            states: Some(&mut states),
        })
        .map_err(to_wit)?;
        let value_ids = states
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == Kind::Value)
            .map(|(i, _)| i)
            .collect();
        Ok(KeyedInner {
            task,
            op,
            states,
            value_ids,
            scratch: Vec::new(),
        })
    }

    /// The states the function declared, as the WIT describes them.
    pub(super) fn descriptors(&self) -> Vec<StateDescriptor> {
        self.states
            .iter()
            .map(|d| StateDescriptor {
                name: d.name.clone(),
                kind: match d.kind {
                    Kind::Value => StateKind::Value,
                    Kind::List => StateKind::List,
                    Kind::Map => StateKind::Map,
                },
                codec: d.codec.clone(),
                ttl: d.ttl.map(|t| WitTtl {
                    millis: u64::try_from(t.duration.as_millis()).unwrap_or(u64::MAX),
                    refresh_on_read: t.refresh_on_read,
                }),
            })
            .collect()
    }

    /// Runs the key groups of `input` through the function (its records, or
    /// its timers when `timers`), with each group's state in the scope, and
    /// writes state mutations and timer operations after each group.
    pub(super) fn run(
        &mut self,
        ctx: BatchContext,
        input: &[u8],
        timers: bool,
    ) -> Result<Vec<u8>, FunctionError> {
        let mut out = Out::new(Vec::with_capacity(input.len()));
        self.run_into(ctx, input, timers, &mut out)?;
        Ok(out.buf)
    }

    /// [`KeyedInner::run`] into `out`.
    pub(super) fn run_into(
        &mut self,
        ctx: BatchContext,
        input: &[u8],
        timers: bool,
        out: &mut Out,
    ) -> Result<(), FunctionError> {
        let KeyedInner {
            task,
            op,
            states,
            value_ids,
            scratch,
        } = self;
        let batch = Batch {
            task,
            watermark: ctx.watermark,
            processing_time: ctx.processing_time,
        };
        let mut reader = GroupReader::new(input, value_ids.len());
        let mut slot = 0u32;
        loop {
            let header = SCOPE.with(|s| {
                let mut s = s.borrow_mut();
                s.values.resize(states.len(), None);
                s.dirty.clear();
                s.dirty.resize(states.len(), false);
                s.timers.clear();
                s.slot = slot;
                let values = &mut s.values;
                // Reuse each state's buffer from the previous key group.
                reader.next_group(|i, v| {
                    let slot = &mut values[value_ids[i]];
                    match (v, slot.as_mut()) {
                        (Some(bytes), Some(buf)) => {
                            buf.clear();
                            buf.extend_from_slice(bytes);
                        }
                        (Some(bytes), None) => *slot = Some(bytes.to_vec()),
                        (None, _) => *slot = None,
                    }
                })
            });
            let (key, records) = match header {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(FunctionError::Decode(e.to_string())),
            };
            SCOPE.with(|s| s.borrow_mut().active = true);
            let group = Group {
                slot,
                key,
                records,
                reader: &mut reader,
            };
            let result = if timers {
                op.fire_group(&batch, group, out)
            } else {
                op.process_group(&batch, group, out, scratch)
            };
            SCOPE.with(|s| {
                let mut s = s.borrow_mut();
                s.active = false;
                for id in 0..s.dirty.len() {
                    if s.dirty[id] {
                        match &s.values[id] {
                            Some(v) => weir_wire::put_value_set(&mut out.buf, slot, id as u32, v),
                            None => weir_wire::put_value_clear(&mut out.buf, slot, id as u32),
                        }
                    }
                }
                for &(tag, domain, time) in &s.timers {
                    weir_wire::put_timer(&mut out.buf, tag, slot, domain, time);
                }
            });
            result.map_err(|e| {
                let key = String::from_utf8_lossy(key);
                to_wit(Error {
                    kind: e.kind,
                    message: format!("key '{key}': {}", e.message),
                })
            })?;
            slot += 1;
        }
        Ok(())
    }
}

struct WindowInner {
    task: TaskInfo,
    op: Box<dyn WindowOp>,
    acc: Vec<u8>,
}

/// An opened window function.
pub struct WindowHandle<R> {
    inner: RefCell<WindowInner>,
    _r: PhantomData<R>,
}

/// Which step of a window function a call runs.
#[derive(Clone, Copy)]
enum WindowStep {
    Accumulate,
    Merge,
    Emit,
}

impl<R: Registry> window::GuestWindowFunction for WindowHandle<R> {
    fn open(name: String, task: WitTaskInfo) -> Result<window::WindowFunction, FunctionError> {
        let mut op = make::<R, _>(&name, |f| f.window, "which cannot run on a window")?;
        let task = task_info(task);
        op.open(&mut OpenContext {
            task: &task,
            states: None,
        })
        .map_err(to_wit)?;
        Ok(window::WindowFunction::new(WindowHandle::<R> {
            inner: RefCell::new(WindowInner {
                task,
                op,
                acc: Vec::new(),
            }),
            _r: PhantomData,
        }))
    }

    fn accumulate(&self, ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        self.run(ctx, &input, WindowStep::Accumulate)
    }

    fn merge(&self, ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        self.run(ctx, &input, WindowStep::Merge)
    }

    fn emit(&self, ctx: BatchContext, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        self.run(ctx, &input, WindowStep::Emit)
    }
}

impl<R: Registry> WindowHandle<R> {
    /// Runs one step over every window group of `input`. Accumulators go
    /// back as value-state sets of state 0 for the group's slot.
    fn run(
        &self,
        ctx: BatchContext,
        input: &[u8],
        step: WindowStep,
    ) -> Result<Vec<u8>, FunctionError> {
        let mut inner = self.inner.borrow_mut();
        let WindowInner { task, op, acc } = &mut *inner;
        let batch = Batch {
            task,
            watermark: ctx.watermark,
            processing_time: ctx.processing_time,
        };
        let mut out = Out::new(Vec::with_capacity(input.len() / 2 + 64));
        let mut reader = WindowGroupReader::new(input);
        let mut slot = 0u32;
        while let Some(group) = reader
            .next_group()
            .map_err(|e| FunctionError::Decode(e.to_string()))?
        {
            acc.clear();
            let result = match step {
                WindowStep::Accumulate => op.accumulate(&group, &mut reader, acc),
                WindowStep::Merge => op.merge(&group, &mut reader, acc),
                WindowStep::Emit => op.emit(&batch, &group, &mut reader, &mut out),
            };
            result.map_err(|e| {
                let key = String::from_utf8_lossy(group.key);
                to_wit(Error {
                    kind: e.kind,
                    message: format!(
                        "key '{key}', window [{}, {}): {}",
                        group.start, group.end, e.message
                    ),
                })
            })?;
            if !matches!(step, WindowStep::Emit) {
                weir_wire::put_value_set(&mut out.buf, slot, 0, acc);
            }
            slot += 1;
        }
        Ok(out.buf)
    }
}
