//! Where an operator puts what it produces: a batch's worth at a time is
//! passed on downstream while the operator works, so a function that fans
//! out, a million timers firing at once or a big window firing never pile
//! up in memory.

use crate::exchange::Stop;
use weir_core::Outputs;

/// What a later stage of a fused chain did in the calls of one pass: its
/// main output went on to the next stage inside the guest; the rest is
/// here, kept apart so that it counts and routes as that node's.
#[derive(Default)]
pub(crate) struct StageOut {
    /// Records the stage received.
    pub(crate) records_in: u64,
    /// Their frame bytes.
    pub(crate) bytes_in: u64,
    /// Its side outputs (dead letters included; `main` stays empty).
    pub(crate) out: Outputs,
}

/// Where an emitter passes what was produced: the operator's own outputs
/// (for a fused chain, the last stage's main output) and, for a fused
/// chain, each later stage's part.
pub(crate) type Downstream<'a> = dyn FnMut(Outputs, &mut [StageOut]) -> Result<(), Stop> + 'a;

/// Collects an operator's outputs and passes them on in batches.
pub(crate) struct Emitter<'a> {
    out: Outputs,
    /// The later stages of a fused chain (none otherwise).
    pub(crate) stages: Vec<StageOut>,
    flush_bytes: usize,
    downstream: &'a mut Downstream<'a>,
}

fn side_bytes(out: &Outputs) -> usize {
    out.side.iter().map(|(_, b)| b.byte_len()).sum::<usize>()
}

impl<'a> Emitter<'a> {
    /// An emitter passing batches of about `flush_bytes` to `downstream`,
    /// for an operator running `stages` later stages of a chain.
    pub(crate) fn new(
        flush_bytes: usize,
        stages: usize,
        downstream: &'a mut Downstream<'a>,
    ) -> Self {
        Emitter {
            out: Outputs::default(),
            stages: (0..stages).map(|_| StageOut::default()).collect(),
            flush_bytes,
            downstream,
        }
    }

    fn bytes(&self) -> usize {
        self.out.main.byte_len()
            + side_bytes(&self.out)
            + self
                .stages
                .iter()
                .map(|s| side_bytes(&s.out))
                .sum::<usize>()
    }

    /// Passes what was produced on once it is a batch's worth (operators
    /// call this after each guest call).
    pub(crate) fn pass_on_if_full(&mut self) -> Result<(), Stop> {
        if self.bytes() >= self.flush_bytes {
            self.pass_on()
        } else {
            Ok(())
        }
    }

    /// Passes on everything produced so far.
    pub(crate) fn pass_on(&mut self) -> Result<(), Stop> {
        if self.out.is_empty()
            && self
                .stages
                .iter()
                .all(|s| s.records_in == 0 && s.out.is_empty())
        {
            return Ok(());
        }
        (self.downstream)(std::mem::take(&mut self.out), &mut self.stages)
    }
}

impl std::ops::Deref for Emitter<'_> {
    type Target = Outputs;
    fn deref(&self) -> &Outputs {
        &self.out
    }
}

impl std::ops::DerefMut for Emitter<'_> {
    fn deref_mut(&mut self) -> &mut Outputs {
        &mut self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_go_on_in_batches() {
        let mut passed: Vec<usize> = Vec::new();
        let mut sink = |o: Outputs, _: &mut [StageOut]| {
            passed.push(o.main.len() + o.side.iter().map(|(_, b)| b.len()).sum::<usize>());
            Ok(())
        };
        let mut e = Emitter::new(100, 0, &mut sink);
        for _ in 0..10 {
            e.main.push(0, b"k", &[0; 20]);
            e.side("late").push(0, b"k", &[0; 20]);
            if e.pass_on_if_full().is_err() {
                panic!("the sink accepts everything");
            }
        }
        assert!(e.pass_on().is_ok());
        drop(e);
        assert_eq!(passed.iter().sum::<usize>(), 20);
        assert!(passed.len() >= 4, "{passed:?}");
    }
}
