//! The later stages of a fused chain, as seen by the operator that runs the
//! chain (a keyed or stateless Wasm operator whose instance is a
//! `weir:function/chain`): their part of each result (stage markers, side
//! outputs, failed records, the last stage's main output), their
//! watermarks, and their operator state.

use super::{Emitter, Outcomes, Rejected, bad, operator_states};
use crate::failure::Failure;
use weir_checkpoint::OperatorSnapshot;
use weir_wasm::{CallError, FunctionInstance};
use weir_wire::{Entries, Entry};

/// The stages after the first of a fused chain (stage `k` is
/// `outcomes[k - 1]`).
pub(crate) struct Stages {
    outcomes: Vec<Outcomes>,
    /// (sub-task, parallelism), for restoring operator state.
    position: (u32, u32),
    /// The stage whose result or call failed last (0: the first).
    failed: usize,
}

fn bad_result(message: String) -> Failure {
    CallError::BadResult(message).into()
}

impl Stages {
    /// The later stages of a chain, each with its own outcomes.
    pub(crate) fn new(outcomes: Vec<Outcomes>, position: (u32, u32)) -> Self {
        Stages {
            outcomes,
            position,
            failed: 0,
        }
    }

    /// The stage that failed last, for attributing the failure.
    pub(crate) fn failed(&self) -> usize {
        self.failed
    }

    /// Notes the stage a failed call named.
    pub(crate) fn call_failed(&mut self, instance: &FunctionInstance) {
        self.failed = instance.failed_stage().unwrap_or(0);
    }

    /// Applies the rest of a chained result, from the marker of stage
    /// `first` on: every later stage must report, in order.
    pub(crate) fn apply(
        &mut self,
        first: (u32, u32, u64),
        entries: &mut Entries<'_>,
        out: &mut Emitter<'_>,
    ) -> Result<(), Failure> {
        let last = self.outcomes.len();
        let mut current = 0;
        let mut marker = Some(first);
        loop {
            if let Some((stage, records, bytes)) = marker.take() {
                if stage as usize != current + 1 || current == last {
                    self.failed = current;
                    return Err(bad_result(format!(
                        "a chained call reported stage {stage} after stage {current} (the chain has {} stages)",
                        last + 1
                    )));
                }
                current = stage as usize;
                let s = &mut out.stages[current - 1];
                s.records_in += u64::from(records);
                s.bytes_in += bytes;
            }
            let Some(e) = entries.next() else { break };
            let e = e.map_err(bad)?;
            self.failed = current;
            match e {
                Entry::Stage {
                    stage,
                    records,
                    bytes,
                } => marker = Some((stage, records, bytes)),
                Entry::Main(r) if current == last => out.main.push_ref(&r),
                Entry::Side { output, record } => {
                    self.outcomes[current - 1].check_side(output)?;
                    out.stages[current - 1].out.side(output).push_ref(&record);
                }
                Entry::StageFailed {
                    kind,
                    message,
                    record,
                } => {
                    let rejected = Rejected {
                        ts: record.ts,
                        key: record.key,
                        value: record.value,
                        timer: false,
                    };
                    let stage_out = &mut out.stages[current - 1].out;
                    self.outcomes[current - 1].failed(stage_out, kind, message, &rejected)?;
                }
                _ => {
                    return Err(bad_result(format!(
                        "stage {current} of a chained call returned an entry a stateless function cannot (a main record before the last stage, a state or timer operation, or an unlocated failure)"
                    )));
                }
            }
        }
        if current != last {
            self.failed = current;
            return Err(bad_result(format!(
                "a chained call ended after stage {current} of {last}"
            )));
        }
        self.failed = 0;
        Ok(())
    }

    /// The later stages now see `watermark` (after the first stage acted on
    /// it, as chained operators hear it one after another).
    pub(crate) fn advance(&self, instance: &mut FunctionInstance, watermark: i64) {
        for k in 1..=self.outcomes.len() {
            instance.set_stage_watermark(k, watermark);
        }
    }

    /// Restores stage `stage`'s operator state from its snapshots.
    pub(crate) fn restore(
        &mut self,
        instance: &mut FunctionInstance,
        stage: usize,
        from: &[&OperatorSnapshot],
    ) -> Result<(), Failure> {
        let states = operator_states(from, self.position.0, self.position.1);
        if states.is_empty() {
            return Ok(());
        }
        instance.restore_stage(stage, &states).map_err(|e| {
            self.failed = stage;
            Failure::from(e)
        })
    }
}

/// An operator that may run a chain: restores later stage `stage`, or
/// fails when it runs none.
pub(crate) fn restore_stage(
    stages: Option<&mut Stages>,
    instance: &mut FunctionInstance,
    stage: usize,
    from: &[&OperatorSnapshot],
) -> Result<(), Failure> {
    match stages {
        Some(s) => s.restore(instance, stage, from),
        None => Err(Failure::internal(
            "a stage restored into an operator that runs no chain",
        )),
    }
}

/// An operator that may run a chain: the later stages' part of a result
/// starting at a stage marker, or an error when it runs none.
pub(crate) fn apply_stages(
    stages: Option<&mut Stages>,
    first: (u32, u32, u64),
    entries: &mut Entries<'_>,
    out: &mut Emitter<'_>,
) -> Result<(), Failure> {
    match stages {
        Some(s) => s.apply(first, entries, out),
        None => Err(bad_result(
            "the function returned a chained call's stage entry, but it runs alone".into(),
        )),
    }
}
