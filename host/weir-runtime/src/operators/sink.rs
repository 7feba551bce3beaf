//! A sink at the end of a chain.

use super::{Emitter, OpState, Operator, SnapshotCtx};
use crate::exchange::Stop;
use crate::failure::Failure;
use weir_connectors::SinkWriter;
use weir_core::Batch;

/// Hands batches to a connector's writer.
pub(crate) struct SinkOperator {
    pub(crate) writer: Box<dyn SinkWriter>,
}

impl Operator for SinkOperator {
    fn process(&mut self, input: &Batch, _out: &mut Emitter<'_>) -> Result<(), Stop> {
        self.writer.write(input).map_err(Failure::from)?;
        Ok(())
    }

    fn finish(&mut self, _out: &mut Emitter<'_>) -> Result<(), Stop> {
        self.writer.finish().map_err(Failure::from)?;
        Ok(())
    }

    fn snapshot(&mut self, ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        Ok(OpState {
            sink: self.writer.snapshot(ctx.checkpoint)?,
            ..OpState::default()
        })
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), Stop> {
        self.writer
            .notify_checkpoint_complete(checkpoint)
            .map_err(Failure::from)?;
        Ok(())
    }

    fn abort(&mut self) {
        self.writer.abort();
    }
}
