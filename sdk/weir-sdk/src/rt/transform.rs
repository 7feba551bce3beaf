//! Batch drivers for stateless transforms.

use super::Out;
use crate::{
    Collector, Context, Data, Error, FilterFunction, FlatMapFunction, MapFunction, OpenContext,
    Result, TaskInfo, TimestampAssigner,
};
use std::marker::PhantomData;
use weir_wire::Records;

/// Facts for one batch call.
pub(crate) struct Batch<'a> {
    pub(crate) task: &'a TaskInfo,
    pub(crate) watermark: i64,
    pub(crate) processing_time: i64,
}

impl<'a> Batch<'a> {
    pub(crate) fn context(&self, key: &'a [u8], ts: i64) -> Context<'a> {
        Context {
            task: self.task,
            key,
            timestamp: ts,
            watermark: self.watermark,
            processing_time: self.processing_time,
            domain: None,
        }
    }
}

/// A stateless function behind a uniform batch interface.
pub(crate) trait TransformOp {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()>;
    fn process(&mut self, batch: &Batch<'_>, input: &[u8], out: &mut Out) -> Result<()>;
    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn restore_state(&mut self, _states: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }
}

/// Forwards the operator-state hooks to the user's function.
macro_rules! operator_state {
    () => {
        fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
            self.0.snapshot_state()
        }
        fn restore_state(&mut self, states: Vec<Vec<u8>>) -> Result<()> {
            self.0.restore_state(states)
        }
    };
}
pub(crate) use operator_state;

pub(crate) fn at_record(i: usize, e: Error) -> Error {
    Error {
        kind: e.kind,
        message: format!("record {i} of the batch: {}", e.message),
    }
}

fn wire(e: weir_wire::WireError) -> Error {
    Error::decode(e)
}

std::thread_local! {
    /// Failed-record entries written so far (a chained call looks for
    /// failures only in results that have some).
    pub(crate) static FAILURES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Failed-record entries written so far.
pub(crate) fn failures() -> u64 {
    FAILURES.with(std::cell::Cell::get)
}

/// Reports that the function failed on record `index` of `slot`: the
/// host fails the job or sets the record aside, as the job says; either
/// way the batch goes on. What the record produced before the error was
/// removed by the caller.
pub(crate) fn failed(out: &mut Out, slot: u32, index: usize, e: &Error) {
    FAILURES.with(|f| f.set(f.get() + 1));
    let kind = match e.kind {
        crate::error::ErrorKind::User => weir_wire::failure::USER,
        crate::error::ErrorKind::Decode => weir_wire::failure::DECODE,
    };
    weir_wire::put_failed(&mut out.buf, slot, index as u32, kind, &e.message);
}

pub(crate) struct Map<F>(pub(crate) F);
pub(crate) struct FlatMap<F>(pub(crate) F);
/// A filter, and the value its records are decoded into (one allocation
/// for the batch, not one per record).
pub(crate) struct Filter<F: FilterFunction>(pub(crate) F, pub(crate) Option<F::T>);
/// A timestamp assigner, and the value its records are decoded into.
pub(crate) struct Timestamps<F: TimestampAssigner>(pub(crate) F, pub(crate) Option<F::In>);

/// Decodes `bytes` into `spare`, reusing the value decoded before.
#[inline]
fn decode_reusing<'s, T: Data>(bytes: &[u8], spare: &'s mut Option<T>) -> Result<&'s T> {
    match spare {
        Some(v) => {
            T::decode_into(bytes, v)?;
            Ok(v)
        }
        None => Ok(spare.insert(T::decode(bytes)?)),
    }
}

impl<F: MapFunction> TransformOp for Map<F> {
    operator_state!();

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn process(&mut self, batch: &Batch<'_>, input: &[u8], out: &mut Out) -> Result<()> {
        for (i, r) in Records::new(input).enumerate() {
            let r = r.map_err(wire)?;
            let mapped = F::In::decode(r.value).and_then(|value| {
                let ctx = batch.context(r.key, r.ts);
                let result = self.0.map(value, &ctx)?;
                out.try_main_with(r.ts, r.key, |buf| result.encode(buf))
            });
            if let Err(e) = mapped {
                failed(out, 0, i, &e);
            }
        }
        Ok(())
    }
}

impl<F: FlatMapFunction> TransformOp for FlatMap<F> {
    operator_state!();

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn process(&mut self, batch: &Batch<'_>, input: &[u8], out: &mut Out) -> Result<()> {
        let mut scratch = Vec::new();
        for (i, r) in Records::new(input).enumerate() {
            let r = r.map_err(wire)?;
            let mark = out.mark();
            let done = F::In::decode(r.value).and_then(|value| {
                let ctx = batch.context(r.key, r.ts);
                let mut collector = Collector {
                    out: &mut *out,
                    scratch: &mut scratch,
                    key: r.key,
                    ts: r.ts,
                    _t: PhantomData,
                };
                self.0.flat_map(value, &ctx, &mut collector)
            });
            if let Err(e) = done {
                out.truncate(mark);
                failed(out, 0, i, &e);
            }
        }
        Ok(())
    }
}

impl<F: FilterFunction> TransformOp for Filter<F> {
    operator_state!();

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn process(&mut self, batch: &Batch<'_>, input: &[u8], out: &mut Out) -> Result<()> {
        for (i, r) in Records::new(input).enumerate() {
            let r = r.map_err(wire)?;
            let keep = decode_reusing(r.value, &mut self.1).and_then(|value| {
                let ctx = batch.context(r.key, r.ts);
                self.0.filter(value, &ctx)
            });
            match keep {
                Ok(true) => out.main(r.ts, r.key, r.value),
                Ok(false) => {}
                Err(e) => failed(out, 0, i, &e),
            }
        }
        Ok(())
    }
}

impl<F: TimestampAssigner> TransformOp for Timestamps<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    /// Writes one little-endian i64 per record: its event time.
    fn process(&mut self, _batch: &Batch<'_>, input: &[u8], out: &mut Out) -> Result<()> {
        for (i, r) in Records::new(input).enumerate() {
            let r = r.map_err(wire)?;
            let value = decode_reusing(r.value, &mut self.1).map_err(|e| at_record(i, e))?;
            let ts = self
                .0
                .extract_timestamp(value, r.timestamp())
                .map_err(|e| at_record(i, e))?;
            out.buf.extend_from_slice(&ts.to_le_bytes());
        }
        Ok(())
    }
}
