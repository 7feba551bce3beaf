//! Where an operator puts what it produces: a batch's worth at a time is
//! passed on downstream while the operator works, so a function that fans
//! out, a million timers firing at once or a big window firing never pile
//! up in memory.

use crate::exchange::Stop;
use weir_core::Outputs;

/// Collects an operator's outputs and passes them on in batches.
pub(crate) struct Emitter<'a> {
    out: Outputs,
    flush_bytes: usize,
    downstream: &'a mut dyn FnMut(Outputs) -> Result<(), Stop>,
}

impl<'a> Emitter<'a> {
    /// An emitter passing batches of about `flush_bytes` to `downstream`.
    pub(crate) fn new(
        flush_bytes: usize,
        downstream: &'a mut dyn FnMut(Outputs) -> Result<(), Stop>,
    ) -> Self {
        Emitter {
            out: Outputs::default(),
            flush_bytes,
            downstream,
        }
    }

    fn bytes(&self) -> usize {
        self.out.main.byte_len()
            + self
                .out
                .side
                .iter()
                .map(|(_, b)| b.byte_len())
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
        if self.out.is_empty() {
            return Ok(());
        }
        (self.downstream)(std::mem::take(&mut self.out))
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
        let mut sink = |o: Outputs| {
            passed.push(o.main.len() + o.side.iter().map(|(_, b)| b.len()).sum::<usize>());
            Ok(())
        };
        let mut e = Emitter::new(100, &mut sink);
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
