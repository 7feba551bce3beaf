//! Sizing guest calls: a call's result lives in the guest's memory and
//! then in the host's, so a function that fans out (a flat-map emitting a
//! thousand records per input) gets smaller inputs per call. The sizer
//! learns each function's ratio of result bytes to input bytes and cuts
//! inputs so that results stay near [`TARGET_RESULT`] bytes.

use weir_wire::{Records, WireError};

/// Result bytes a call should produce.
pub(crate) const TARGET_RESULT: usize = 1 << 20;
/// The ratio assumed before the first call: a 1024× fan-out, so the first
/// call of a function gets 1 KiB (a few dozen records).
const INITIAL_RATIO: f64 = 1024.0;
/// Below this ratio a whole batch goes in one call anyway.
const MIN_RATIO: f64 = 1.0 / 64.0;

/// Learns how much a function's results outweigh its inputs.
#[derive(Debug, Clone)]
pub(crate) struct CallSizer {
    ratio: f64,
}

impl Default for CallSizer {
    fn default() -> Self {
        CallSizer {
            ratio: INITIAL_RATIO,
        }
    }
}

impl CallSizer {
    /// Input bytes the next call should take.
    pub(crate) fn input_bytes(&self) -> usize {
        (TARGET_RESULT as f64 / self.ratio) as usize
    }

    /// Records a call: the ratio rises at once and halves at most per
    /// call, so one quiet call does not invite a huge one.
    pub(crate) fn observe(&mut self, input: usize, result: usize) {
        let r = result as f64 / input.max(1) as f64;
        self.ratio = r.max(self.ratio * 0.5).max(MIN_RATIO);
    }
}

/// The end offset of the records of `frames` from `start` that fill about
/// `bytes` (at least one record).
pub(crate) fn frames_until(frames: &[u8], start: usize, bytes: usize) -> Result<usize, WireError> {
    if frames.len() - start <= bytes {
        return Ok(frames.len());
    }
    let mut end = start;
    for r in Records::new(&frames[start..]) {
        end += r?.frame.len();
        if end - start >= bytes {
            break;
        }
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_shrinks_calls_and_quiet_functions_take_whole_batches() {
        let mut s = CallSizer::default();
        assert_eq!(s.input_bytes(), 1 << 10);
        s.observe(1 << 10, 1 << 20);
        assert!(s.input_bytes() <= 1100, "{}", s.input_bytes());
        let mut tokenizer = CallSizer::default();
        let mut calls = 0;
        while tokenizer.input_bytes() < 64 << 10 {
            tokenizer.observe(tokenizer.input_bytes(), tokenizer.input_bytes() * 3);
            calls += 1;
        }
        assert!(
            calls <= 8,
            "a 3x function reaches whole batches after {calls} calls"
        );
        let mut quiet = CallSizer::default();
        for _ in 0..50 {
            quiet.observe(64 << 10, 32 << 10);
        }
        assert!(quiet.input_bytes() >= 1 << 20);
    }

    #[test]
    fn frames_split_on_record_boundaries() {
        let mut buf = Vec::new();
        for i in 0..10u8 {
            weir_wire::put_record(&mut buf, 0, &[], &[i; 10]);
        }
        let frame = buf.len() / 10;
        assert_eq!(frames_until(&buf, 0, 1).expect("ok"), frame);
        assert_eq!(frames_until(&buf, 0, frame * 3).expect("ok"), frame * 3);
        assert_eq!(
            frames_until(&buf, frame, frame * 3 + 1).expect("ok"),
            frame * 5
        );
        assert_eq!(frames_until(&buf, 0, 1 << 20).expect("ok"), buf.len());
    }
}
