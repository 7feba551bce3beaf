//! Host-side operators: Wasm transforms, Wasm keyed functions and sinks.

mod emit;
mod functions;
mod fused;
mod keyed;
mod outcome;
mod sink;
mod sizing;
mod transform;
mod window;

pub(crate) use emit::{Emitter, StageOut};
pub(crate) use functions::{FunctionsCtx, FunctionsOp, Stage, WasmSetup};
pub(crate) use fused::Stages;
pub(crate) use keyed::WasmKeyed;
pub(crate) use outcome::{DeadLetters, Outcomes, Rejected};
pub(crate) use sink::SinkOperator;
pub(crate) use transform::WasmTransform;
pub(crate) use window::WasmWindow;

use crate::exchange::Stop;
use crate::failure::Failure;
use std::path::Path;
use weir_checkpoint::{CheckpointKind, KeyedPart, OperatorSnapshot, SinkState};
use weir_core::Batch;
use weir_state::{
    DeferredSnapshot, KeyedStateBackend, NativeCheckpoint, TimerEntry, TimerService, TimerStore,
};
use weir_wasm::CallError;

/// What an operator snapshots (the runtime adds its identity).
#[derive(Default)]
pub(crate) struct OpState {
    pub(crate) keyed: Option<KeyedPart>,
    /// A backend's own checkpoint, to copy into the checkpoint.
    pub(crate) native: Option<NativeCheckpoint>,
    /// Canonical keyed state pinned now, copied by the coordinator.
    pub(crate) deferred: Option<DeferredSnapshot>,
    pub(crate) timers: Vec<TimerEntry>,
    pub(crate) operator_state: Option<Vec<u8>>,
    pub(crate) sink: Option<SinkState>,
    /// A fused chain's later stages' operator states (stage 1 first).
    pub(crate) stages: Vec<Option<Vec<u8>>>,
}

/// How to snapshot.
pub(crate) struct SnapshotCtx<'a> {
    /// Checkpoints may use a backend's own format; savepoints and final
    /// snapshots are canonical.
    pub(crate) kind: CheckpointKind,
    /// Whether the backend's own format may be used.
    pub(crate) native: bool,
    /// Where a backend stages its own checkpoint files.
    pub(crate) staging: &'a Path,
    /// The checkpoint's id.
    pub(crate) checkpoint: u64,
}

/// The operator states a restored instance takes over: its own at the
/// same parallelism; after rescaling, those of old instances `j` with
/// `j mod parallelism == subtask` (an even share, as Flink's list state).
pub(crate) fn operator_states(
    from: &[&OperatorSnapshot],
    subtask: u32,
    parallelism: u32,
) -> Vec<Vec<u8>> {
    from.iter()
        .filter(|s| {
            if s.parallelism == parallelism {
                s.subtask == subtask
            } else {
                s.subtask % parallelism == subtask
            }
        })
        .filter_map(|s| s.operator_state.clone())
        .collect()
}

/// The timers of a keyed operator: the backend's own store when it keeps
/// one (RocksDB), else the operator's, in memory.
pub(crate) fn timer_store<'a>(
    backend: &'a mut dyn KeyedStateBackend,
    heap: &'a mut TimerService,
) -> &'a mut dyn TimerStore {
    match backend.timers_mut() {
        Some(t) => t,
        None => heap,
    }
}

/// How many timers of `domain` a keyed operator holds.
pub(crate) fn timer_count(
    backend: &dyn KeyedStateBackend,
    heap: &TimerService,
    domain: u8,
) -> usize {
    backend
        .timers()
        .map_or_else(|| heap.len(domain), |t| t.count(domain))
}

/// Snapshots keyed state and timers (the backend's own timer store when
/// it has one).
pub(crate) fn snapshot_keyed(
    backend: &mut dyn KeyedStateBackend,
    timers: &mut TimerService,
    ctx: &SnapshotCtx<'_>,
) -> Result<OpState, Failure> {
    let mut st = snapshot_state(backend, ctx)?;
    // Timers the backend keeps travel inside its native checkpoint.
    if st.native.is_none() || backend.timers().is_none() {
        st.timers = timer_store(backend, timers).entries()?;
    }
    Ok(st)
}

/// Snapshots keyed state: the backend's native checkpoint where allowed,
/// else a canonical snapshot pinned now.
pub(crate) fn snapshot_state(
    backend: &mut dyn KeyedStateBackend,
    ctx: &SnapshotCtx<'_>,
) -> Result<OpState, Failure> {
    let mut st = OpState::default();
    if ctx.native && ctx.kind == CheckpointKind::Checkpoint {
        st.native = backend.native_checkpoint(ctx.staging)?;
    }
    if st.native.is_none() {
        // Off the processing path: the memory backend pins its tables and
        // the coordinator builds the entries.
        st.deferred = Some(backend.snapshot_deferred()?);
    }
    Ok(st)
}

/// Restores the canonical keyed state and the timers of this sub-task's key
/// groups from every snapshot of the operator (native parts were loaded
/// when the backend was opened) into `backend` and its timer store (or
/// `timers` when it has none).
pub(crate) fn restore_keyed(
    backend: &mut dyn KeyedStateBackend,
    timers: &mut TimerService,
    from: &[&OperatorSnapshot],
) -> Result<(), Failure> {
    restore_state(backend, from)?;
    let range = backend.key_groups();
    let store = timer_store(backend, timers);
    for s in from {
        store.restore(&s.timers, &range)?;
    }
    Ok(())
}

/// Restores the canonical keyed state of this sub-task's key groups.
pub(crate) fn restore_state(
    backend: &mut dyn KeyedStateBackend,
    from: &[&OperatorSnapshot],
) -> Result<(), Failure> {
    let range = backend.key_groups();
    for s in from {
        match &s.keyed {
            Some(KeyedPart::Canonical(k)) => backend.restore(k)?,
            Some(KeyedPart::Streamed(k)) => restore_streamed(backend, k, &range)?,
            _ => {}
        }
    }
    Ok(())
}

/// Restores keyed state from a state file a chunk at a time, reading only
/// the chunks that hold this backend's key groups.
fn restore_streamed(
    backend: &mut dyn KeyedStateBackend,
    k: &weir_checkpoint::StreamedKeyed,
    range: &std::ops::RangeInclusive<u16>,
) -> Result<(), Failure> {
    // The states first: a sub-task none of whose key groups has entries
    // still registers them (with their codecs and TTLs).
    let mut chunk = weir_state::KeyedSnapshot {
        states: k.states.clone(),
        entries: Vec::new(),
    };
    backend.restore(&chunk)?;
    weir_checkpoint::read_chunks(k, range, |entries| -> Result<(), Failure> {
        chunk.entries = entries;
        backend.restore(&chunk)?;
        Ok(())
    })
}
/// One step of a chain. What an operator produces goes into an
/// [`Emitter`], which passes it on downstream a batch at a time.
pub(crate) trait Operator: Send {
    /// Processes a batch.
    fn process(&mut self, input: &Batch, out: &mut Emitter<'_>) -> Result<(), Stop>;
    /// Called when the operator's event-time watermark advances (to
    /// `i64::MAX` at the end of input).
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Emitter<'_>) -> Result<(), Stop> {
        Ok(())
    }
    /// Whether the operator has processing-time work pending (then
    /// `on_processing_time` is called).
    fn wants_processing_time(&self) -> bool {
        false
    }
    /// Called as processing time passes (every few milliseconds while the
    /// sub-task runs).
    fn on_processing_time(&mut self, _now: i64, _out: &mut Emitter<'_>) -> Result<(), Stop> {
        Ok(())
    }
    /// After the end of input, for an operator whose work goes on past it
    /// (a stateful-functions stage whose messages have not settled): does
    /// a little of that work and says whether it is done. The sub-task
    /// takes checkpoints between calls; `finish` follows.
    fn drain(&mut self, _out: &mut Emitter<'_>) -> Result<bool, Stop> {
        Ok(true)
    }
    /// Called once at the end of input.
    fn finish(&mut self, _out: &mut Emitter<'_>) -> Result<(), Stop> {
        Ok(())
    }
    /// Snapshots the operator's state (at a checkpoint barrier).
    fn snapshot(&mut self, _ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        Ok(OpState::default())
    }
    /// Restores state from the snapshots of this operator that concern
    /// this sub-task (before the first record).
    fn restore(&mut self, _from: &[&OperatorSnapshot]) -> Result<(), Failure> {
        Ok(())
    }
    /// Restores later stage `stage` (1…) of the chain this operator runs
    /// from that stage's own snapshots.
    fn restore_stage(&mut self, stage: usize, _from: &[&OperatorSnapshot]) -> Result<(), Failure> {
        Err(Failure::internal(format!(
            "stage {stage} restored into an operator that runs no chain"
        )))
    }
    /// The stage of the chain this operator runs whose failure stopped it
    /// (0: the operator's own function).
    fn failed_stage(&self) -> usize {
        0
    }
    /// Checkpoint `checkpoint` completed (every sub-task acknowledged it
    /// and its metadata is written): commit what it covers.
    fn notify_checkpoint_complete(&mut self, _checkpoint: u64) -> Result<(), Stop> {
        Ok(())
    }
    /// The job is cancelled: drop uncommitted work.
    fn abort(&mut self) {}

    /// What the operator's Wasm guest calls took (none without a guest).
    fn call_stats(&self) -> Option<weir_wasm::CallStats> {
        None
    }
}

pub(crate) fn bad(e: weir_wire::WireError) -> Failure {
    CallError::BadResult(e.to_string()).into()
}
