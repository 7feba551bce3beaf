//! Stateless Wasm functions: map, flat-map, filter.

use super::fused::{apply_stages, restore_stage};
use super::sizing::{CallSizer, frames_until};
use super::{
    Emitter, OpState, Operator, Outcomes, Rejected, SnapshotCtx, Stages, bad, operator_states,
};
use crate::clock::Clock;
use crate::exchange::Stop;
use crate::failure::Failure;
use std::sync::Arc;
use weir_core::Batch;
use weir_wasm::{CallError, FunctionInstance};
use weir_wire::{Entries, Entry, Records};

/// A map, flat-map or filter in Wasm, or a chain of them in one instance.
pub(crate) struct WasmTransform {
    instance: FunctionInstance,
    clock: Arc<dyn Clock>,
    watermark: i64,
    /// (sub-task, parallelism), for restoring operator state.
    position: (u32, u32),
    sizer: CallSizer,
    outcomes: Outcomes,
    /// The later stages when the instance runs a chain.
    stages: Option<Stages>,
}

impl WasmTransform {
    pub(crate) fn new(
        instance: FunctionInstance,
        clock: Arc<dyn Clock>,
        position: (u32, u32),
        outcomes: Outcomes,
    ) -> Self {
        WasmTransform {
            instance,
            clock,
            watermark: i64::MIN,
            position,
            sizer: CallSizer::default(),
            outcomes,
            stages: None,
        }
    }

    /// Runs the later stages of a chain too (the instance is a chain).
    pub(crate) fn with_stages(mut self, stages: Stages) -> Self {
        self.stages = Some(stages);
        self
    }
}

impl WasmTransform {
    /// Calls the function on `frames` (whole records) and emits its result.
    fn call(&mut self, frames: &[u8], out: &mut Emitter<'_>) -> Result<(), Stop> {
        let now = self.clock.now_ms();
        let result = self
            .instance
            .process_batch(frames, self.watermark, now)
            .map_err(|e| {
                if let Some(s) = &mut self.stages {
                    s.call_failed(&self.instance);
                }
                Failure::from(e)
            })?;
        self.sizer.observe(frames.len(), result.len());
        // Offsets of the input's records, made when a record failed.
        let mut starts: Option<Vec<usize>> = None;
        out.main.reserve(result.len());
        let mut entries = Entries::new(&result);
        while let Some(e) = entries.next() {
            match e.map_err(bad)? {
                Entry::Main(r) => out.main.push_ref(&r),
                Entry::Side { output, record } => {
                    self.outcomes.check_side(output)?;
                    out.side(output).push_ref(&record);
                }
                Entry::Failed {
                    index,
                    kind,
                    message,
                    ..
                } => {
                    let starts = match &mut starts {
                        Some(s) => s,
                        None => starts.insert(record_starts(frames)?),
                    };
                    let r = starts
                        .get(index as usize)
                        .and_then(|&at| Records::new(&frames[at..]).next())
                        .ok_or_else(|| {
                            Failure::from(CallError::BadResult(format!(
                                "the function reported a failure on record {index}, which the batch does not have"
                            )))
                        })?
                        .map_err(bad)?;
                    let rejected = Rejected {
                        ts: r.ts,
                        key: r.key,
                        value: r.value,
                        timer: false,
                    };
                    self.outcomes.failed(out, kind, message, &rejected)?;
                }
                Entry::Stage {
                    stage,
                    records,
                    bytes,
                } => {
                    let first = (stage, records, bytes);
                    apply_stages(self.stages.as_mut(), first, &mut entries, out)?;
                }
                _ => {
                    return Err(Failure::from(CallError::BadResult(
                        "a stateless function returned a state or timer operation".into(),
                    ))
                    .into());
                }
            }
        }
        out.pass_on_if_full()
    }
}

/// The offset of every record of `frames`.
fn record_starts(frames: &[u8]) -> Result<Vec<usize>, Failure> {
    let mut at = 0;
    let mut starts = Vec::new();
    for r in Records::new(frames) {
        starts.push(at);
        at += r.map_err(bad)?.frame.len();
    }
    Ok(starts)
}

impl Operator for WasmTransform {
    fn call_stats(&self) -> Option<weir_wasm::CallStats> {
        Some(self.instance.stats())
    }

    fn process(&mut self, input: &Batch, out: &mut Emitter<'_>) -> Result<(), Stop> {
        let frames = input.bytes();
        let mut start = 0;
        while start < frames.len() {
            let end = frames_until(frames, start, self.sizer.input_bytes()).map_err(bad)?;
            self.call(&frames[start..end], out)?;
            start = end;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Emitter<'_>) -> Result<(), Stop> {
        self.watermark = watermark;
        if let Some(s) = &self.stages {
            s.advance(&mut self.instance, watermark);
        }
        Ok(())
    }

    fn snapshot(&mut self, _ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        let mut states = self.instance.snapshot_stages()?.into_iter();
        Ok(OpState {
            operator_state: states.next().flatten(),
            stages: states.collect(),
            ..OpState::default()
        })
    }

    fn restore_stage(
        &mut self,
        stage: usize,
        from: &[&weir_checkpoint::OperatorSnapshot],
    ) -> Result<(), Failure> {
        restore_stage(self.stages.as_mut(), &mut self.instance, stage, from)
    }

    fn failed_stage(&self) -> usize {
        self.stages.as_ref().map_or(0, Stages::failed)
    }

    fn restore(&mut self, from: &[&weir_checkpoint::OperatorSnapshot]) -> Result<(), Failure> {
        let states = operator_states(from, self.position.0, self.position.1);
        if !states.is_empty() {
            self.instance.restore_state(&states)?;
        }
        Ok(())
    }
}
