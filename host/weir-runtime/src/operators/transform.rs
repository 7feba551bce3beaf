//! Stateless Wasm functions: map, flat-map, filter.

use super::{OpState, Operator, SnapshotCtx, bad, operator_states};
use crate::clock::Clock;
use crate::failure::Failure;
use std::sync::Arc;
use weir_core::{Batch, Outputs};
use weir_wasm::{CallError, FunctionInstance};
use weir_wire::{Entries, Entry};

/// A map, flat-map or filter in Wasm.
pub(crate) struct WasmTransform {
    instance: FunctionInstance,
    clock: Arc<dyn Clock>,
    watermark: i64,
    /// (sub-task, parallelism), for restoring operator state.
    position: (u32, u32),
}

impl WasmTransform {
    pub(crate) fn new(
        instance: FunctionInstance,
        clock: Arc<dyn Clock>,
        position: (u32, u32),
    ) -> Self {
        WasmTransform {
            instance,
            clock,
            watermark: i64::MIN,
            position,
        }
    }
}

impl Operator for WasmTransform {
    fn process(&mut self, input: &Batch, out: &mut Outputs) -> Result<(), Failure> {
        if input.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let result = self
            .instance
            .process_batch(input.bytes(), self.watermark, now)?;
        for e in Entries::new(&result) {
            match e.map_err(bad)? {
                Entry::Main(r) => out.main.push_ref(&r),
                Entry::Side { output, record } => out.side(output).push_ref(&record),
                _ => {
                    return Err(CallError::BadResult(
                        "a stateless function returned a state or timer operation".into(),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Outputs) -> Result<(), Failure> {
        self.watermark = watermark;
        Ok(())
    }

    fn snapshot(&mut self, _ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        Ok(OpState {
            operator_state: self.instance.snapshot_state()?,
            ..OpState::default()
        })
    }

    fn restore(&mut self, from: &[&weir_checkpoint::OperatorSnapshot]) -> Result<(), Failure> {
        let states = operator_states(from, self.position.0, self.position.1);
        if !states.is_empty() {
            self.instance.restore_state(&states)?;
        }
        Ok(())
    }
}
