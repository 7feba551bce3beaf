//! Host-side operators: Wasm transforms, Wasm keyed functions and sinks.

mod keyed;
mod sink;
mod transform;
mod window;

pub(crate) use keyed::WasmKeyed;
pub(crate) use sink::SinkOperator;
pub(crate) use transform::WasmTransform;
pub(crate) use window::WasmWindow;

use crate::failure::Failure;
use weir_core::{Batch, Outputs};
use weir_wasm::CallError;

/// One step of a chain.
pub(crate) trait Operator: Send {
    /// Processes a batch, appending to `out`.
    fn process(&mut self, input: &Batch, out: &mut Outputs) -> Result<(), Failure>;
    /// Called when the operator's event-time watermark advances (to
    /// `i64::MAX` at the end of input).
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Outputs) -> Result<(), Failure> {
        Ok(())
    }
    /// Called as processing time passes (every few milliseconds while the
    /// sub-task runs).
    fn on_processing_time(&mut self, _now: i64, _out: &mut Outputs) -> Result<(), Failure> {
        Ok(())
    }
    /// Called once at the end of input.
    fn finish(&mut self, _out: &mut Outputs) -> Result<(), Failure> {
        Ok(())
    }
}

pub(crate) fn bad(e: weir_wire::WireError) -> Failure {
    CallError::BadResult(e.to_string()).into()
}
