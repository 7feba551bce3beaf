//! Chained functions in one call (the WIT `chain` interface): the first
//! stage's main output is the second stage's input, and so on, inside the
//! guest. The result is the first stage's entries without its main
//! records, then, per later stage, a stage marker and that stage's
//! entries (`wit/FORMAT.md`, "Chained calls").

use super::Out;
use super::component::{KeyedInner, TransformInner, find, to_wit};
use super::registry::Registry;
use crate::bindings::exports::weir::function::chain;
use crate::bindings::weir::function::types::{
    BatchContext, FunctionError, FunctionKind, StateDescriptor,
};
use std::cell::RefCell;
use std::marker::PhantomData;
use weir_wire::{Entries, Entry, Records};

/// The first function of a chain.
enum Head {
    Keyed(KeyedInner),
    Transform(TransformInner),
}

struct ChainInner {
    head: Head,
    tail: Vec<TransformInner>,
    /// The current stage's input, and the next one's (kept for their
    /// buffers).
    frames: Vec<u8>,
    next: Vec<u8>,
}

/// Opened chained functions.
pub struct ChainHandle<R> {
    inner: RefCell<ChainInner>,
    _r: PhantomData<R>,
}

fn stage_error(stage: usize, error: FunctionError) -> chain::StageError {
    chain::StageError {
        stage: stage as u32,
        error,
    }
}

fn malformed(stage: usize, e: weir_wire::WireError) -> chain::StageError {
    stage_error(stage, FunctionError::Decode(e.to_string()))
}

impl<R: Registry> chain::GuestChainedFunctions for ChainHandle<R> {
    fn open(stages: Vec<chain::StageSpec>) -> Result<chain::ChainedFunctions, chain::StageError> {
        let mut stages = stages.into_iter();
        let first = stages.next().ok_or_else(|| {
            stage_error(
                0,
                FunctionError::User("a chain needs at least one stage".into()),
            )
        })?;
        let kind = find::<R>(&first.name).map_err(|e| stage_error(0, e))?.kind;
        let head = match kind {
            FunctionKind::Reduce | FunctionKind::Aggregate | FunctionKind::KeyedProcess => {
                KeyedInner::open::<R>(&first.name, first.task).map(Head::Keyed)
            }
            _ => TransformInner::open::<R>(&first.name, first.task).map(Head::Transform),
        }
        .map_err(|e| stage_error(0, e))?;
        let mut tail = Vec::new();
        for (i, s) in stages.enumerate() {
            let stage = i + 1;
            let kind = find::<R>(&s.name).map_err(|e| stage_error(stage, e))?.kind;
            if !matches!(
                kind,
                FunctionKind::Map | FunctionKind::FlatMap | FunctionKind::Filter
            ) {
                return Err(stage_error(
                    stage,
                    FunctionError::UnknownFunction(format!(
                        "'{}' cannot follow in a chain: only map, flat-map and filter functions can",
                        s.name
                    )),
                ));
            }
            tail.push(
                TransformInner::open::<R>(&s.name, s.task).map_err(|e| stage_error(stage, e))?,
            );
        }
        Ok(chain::ChainedFunctions::new(ChainHandle::<R> {
            inner: RefCell::new(ChainInner {
                head,
                tail,
                frames: Vec::new(),
                next: Vec::new(),
            }),
            _r: PhantomData,
        }))
    }

    fn states(&self) -> Vec<StateDescriptor> {
        match &self.inner.borrow().head {
            Head::Keyed(k) => k.descriptors(),
            Head::Transform(_) => Vec::new(),
        }
    }

    fn process_batch(
        &self,
        ctx: Vec<BatchContext>,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, chain::StageError> {
        self.inner.borrow_mut().run(&ctx, &input, false)
    }

    fn on_timers(
        &self,
        ctx: Vec<BatchContext>,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, chain::StageError> {
        self.inner.borrow_mut().run(&ctx, &input, true)
    }

    fn snapshot_state(&self) -> Result<Vec<Option<Vec<u8>>>, chain::StageError> {
        let mut inner = self.inner.borrow_mut();
        let ChainInner { head, tail, .. } = &mut *inner;
        let first = match head {
            Head::Keyed(k) => k.op.snapshot_state(),
            Head::Transform(t) => t.op.snapshot_state(),
        }
        .map_err(|e| stage_error(0, to_wit(e)))?;
        let mut states = vec![first];
        for (i, t) in tail.iter_mut().enumerate() {
            states.push(
                t.op.snapshot_state()
                    .map_err(|e| stage_error(i + 1, to_wit(e)))?,
            );
        }
        Ok(states)
    }

    fn restore_state(&self, stage: u32, states: Vec<Vec<u8>>) -> Result<(), chain::StageError> {
        let mut inner = self.inner.borrow_mut();
        let ChainInner { head, tail, .. } = &mut *inner;
        let at = stage as usize;
        let restored = match (at, head) {
            (0, Head::Keyed(k)) => k.op.restore_state(states),
            (0, Head::Transform(t)) => t.op.restore_state(states),
            _ => match tail.get_mut(at - 1) {
                Some(t) => t.op.restore_state(states),
                None => {
                    return Err(stage_error(
                        at,
                        FunctionError::User(format!("the chain has no stage {stage}")),
                    ));
                }
            },
        };
        restored.map_err(|e| stage_error(at, to_wit(e)))
    }
}

impl ChainInner {
    /// Runs `input` through every stage (the head's records, or its timers
    /// when `timers`).
    fn run(
        &mut self,
        ctx: &[BatchContext],
        input: &[u8],
        timers: bool,
    ) -> Result<Vec<u8>, chain::StageError> {
        if ctx.len() != self.tail.len() + 1 {
            return Err(stage_error(
                0,
                FunctionError::User(format!(
                    "a chain of {} stages got {} batch contexts",
                    self.tail.len() + 1,
                    ctx.len()
                )),
            ));
        }
        let mut head = Out::feeding(
            Vec::with_capacity(input.len()),
            std::mem::take(&mut self.frames),
        );
        match (&mut self.head, timers) {
            (Head::Keyed(k), _) => k.run_into(ctx[0], input, timers, &mut head),
            (Head::Transform(t), false) => t.process_into(ctx[0], input, &mut head),
            (Head::Transform(_), true) => Err(FunctionError::User(
                "a stateless function has no timers".into(),
            )),
        }
        .map_err(|e| stage_error(0, e))?;
        // The head's failures name records of the call's input: as they are.
        let (mut out, frames, mut records) = head.into_parts();
        let mut frames = frames.unwrap_or_default();
        let last = self.tail.len();
        for (i, t) in self.tail.iter_mut().enumerate() {
            let stage = i + 1;
            weir_wire::put_stage(&mut out, stage as u32, records, frames.len() as u64);
            let failures = super::transform::failures();
            if stage == last {
                // The last stage writes straight into the result; only one
                // that failed on records is looked at again.
                let at = out.len();
                let mut result = Out::new(out);
                t.process_into(ctx[stage], &frames, &mut result)
                    .map_err(|e| stage_error(stage, e))?;
                out = result.buf;
                if super::transform::failures() != failures {
                    let result = out.split_off(at);
                    relocate(&result, &frames, &mut out).map_err(|e| malformed(stage, e))?;
                }
            } else {
                let mut result = Out::feeding(Vec::new(), std::mem::take(&mut self.next));
                t.process_into(ctx[stage], &frames, &mut result)
                    .map_err(|e| stage_error(stage, e))?;
                let (entries, next, n) = result.into_parts();
                if super::transform::failures() == failures {
                    out.extend_from_slice(&entries);
                } else {
                    relocate(&entries, &frames, &mut out).map_err(|e| malformed(stage, e))?;
                }
                self.next = std::mem::replace(&mut frames, next.unwrap_or_default());
                records = n;
            }
        }
        self.frames = frames;
        Ok(out)
    }
}

/// Copies a later stage's result entries into `out`, its failures turned
/// into stage failures carrying their record (from `input`).
fn relocate(result: &[u8], input: &[u8], out: &mut Vec<u8>) -> Result<(), weir_wire::WireError> {
    let mut entries = Entries::new(result);
    loop {
        let before = entries.offset();
        let Some(e) = entries.next() else {
            return Ok(());
        };
        match e? {
            Entry::Failed {
                index,
                kind,
                message,
                ..
            } => put_failed_record(out, input, index, kind, message)?,
            _ => out.extend_from_slice(&result[before..entries.offset()]),
        }
    }
}

/// Writes the failure of record `index` of `input` with its record.
fn put_failed_record(
    out: &mut Vec<u8>,
    input: &[u8],
    index: u32,
    kind: u8,
    message: &str,
) -> Result<(), weir_wire::WireError> {
    let record =
        Records::new(input)
            .nth(index as usize)
            .transpose()?
            .ok_or(weir_wire::WireError {
                offset: 0,
                what: "the failed record in the stage's input",
            })?;
    weir_wire::put_stage_failed(out, kind, message, record.frame);
    Ok(())
}
