//! Where a function puts its output.

use crate::{Data, Result};
use std::marker::PhantomData;

/// Collects a function's output records into the batch result.
///
/// Records keep the input record's key and timestamp unless a method says
/// otherwise.
pub struct Collector<'a, T> {
    pub(crate) out: &'a mut crate::rt::Out,
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) key: &'a [u8],
    pub(crate) ts: i64,
    pub(crate) _t: PhantomData<fn(&T)>,
}

impl<T: Data> Collector<'_, T> {
    #[inline(always)]
    fn emit(&mut self, key: &[u8], ts: i64, value: &T) -> Result<()> {
        self.out.try_main_with(ts, key, |buf| value.encode(buf))
    }

    /// Emits a record to the main output.
    #[inline]
    pub fn collect(&mut self, value: &T) -> Result<()> {
        let key = self.key;
        self.emit(key, self.ts, value)
    }

    /// Emits a record with a new key (what a downstream `key_by` uses).
    #[inline]
    pub fn collect_keyed(&mut self, key: &[u8], value: &T) -> Result<()> {
        self.emit(key, self.ts, value)
    }

    /// Emits a record with a new event timestamp (ms).
    pub fn collect_with_timestamp(&mut self, ts: i64, value: &T) -> Result<()> {
        let key = self.key;
        self.emit(key, ts, value)
    }

    /// Emits a record to the side output `output`, which the function
    /// declares in `SIDE_OUTPUTS`. A job routes it with
    /// `input = { from = "<operator>", output = "<name>" }`.
    pub fn side_output<S: Data>(&mut self, output: &str, value: &S) -> Result<()> {
        if output.len() > u16::MAX as usize {
            return Err(crate::Error::msg("side output name too long"));
        }
        self.scratch.clear();
        value.encode(self.scratch)?;
        weir_wire::put_side(&mut self.out.buf, output, self.ts, self.key, self.scratch);
        Ok(())
    }
}
