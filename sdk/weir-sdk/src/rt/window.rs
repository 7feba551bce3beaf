//! Batch drivers for window functions: fold, merge and emit one window
//! group at a time.

use super::Out;
use super::transform::{Batch, at_record};
use crate::{
    AggregateFunction, Collector, Data, Error, OpenContext, ProcessWindowFunction, ReduceFunction,
    Result, Window,
};
use std::marker::PhantomData;
use weir_wire::{WindowGroup, WindowGroupReader};

/// A window function behind a uniform batch interface.
pub(crate) trait WindowOp {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()>;
    /// Folds the group's records into its accumulator; writes the new
    /// accumulator's encoding to `acc`.
    fn accumulate(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()>;
    /// Merges the group's records (accumulators) into its accumulator.
    fn merge(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()>;
    /// Emits the window's result.
    fn emit(
        &mut self,
        batch: &Batch<'_>,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        out: &mut Out,
    ) -> Result<()>;
}

fn wire(e: weir_wire::WireError) -> Error {
    Error::decode(e)
}

fn window_of(g: &WindowGroup<'_>) -> Window {
    Window {
        start: g.start,
        end: g.end,
    }
}

fn no_accumulator(what: &str) -> Error {
    Error::msg(format!(
        "a process-window function keeps its elements on the host; it cannot {what}"
    ))
}

/// Reduces the group's records (values or accumulators: for a reduce they
/// are the same type) into its accumulator.
fn reduce_into<F: ReduceFunction>(
    f: &mut F,
    group: &WindowGroup<'_>,
    reader: &mut WindowGroupReader<'_>,
) -> Result<Option<F::T>> {
    let mut acc = group.acc.map(F::T::decode).transpose()?;
    for i in 0..group.records as usize {
        let (_, v) = reader.record().map_err(wire)?;
        let value = F::T::decode(v).map_err(|e| at_record(i, e))?;
        acc = Some(match acc.take() {
            None => value,
            Some(a) => f.reduce(a, value).map_err(|e| at_record(i, e))?,
        });
    }
    Ok(acc)
}

fn aggregate_into<F: AggregateFunction>(
    f: &mut F,
    group: &WindowGroup<'_>,
    reader: &mut WindowGroupReader<'_>,
    merge: bool,
) -> Result<F::Acc> {
    let mut acc = match group.acc {
        Some(bytes) => F::Acc::decode(bytes)?,
        None => f.create_accumulator()?,
    };
    for i in 0..group.records as usize {
        let (_, v) = reader.record().map_err(wire)?;
        acc = if merge {
            let other = F::Acc::decode(v).map_err(|e| at_record(i, e))?;
            f.merge(acc, other)?
        } else {
            let value = F::In::decode(v).map_err(|e| at_record(i, e))?;
            f.add(value, acc).map_err(|e| at_record(i, e))?
        };
    }
    Ok(acc)
}

fn skip_records(group: &WindowGroup<'_>, reader: &mut WindowGroupReader<'_>) -> Result<()> {
    for _ in 0..group.records {
        reader.record().map_err(wire)?;
    }
    Ok(())
}

/// Runs a process-window function on `elements`.
fn process<P: ProcessWindowFunction>(
    p: &mut P,
    batch: &Batch<'_>,
    group: &WindowGroup<'_>,
    elements: Vec<P::In>,
    out: &mut Out,
) -> Result<()> {
    let window = window_of(group);
    let ts = window.max_timestamp();
    let ctx = batch.context(group.key, ts);
    let mut scratch = Vec::new();
    let mut collector = Collector {
        out,
        scratch: &mut scratch,
        key: group.key,
        ts,
        _t: PhantomData,
    };
    p.process(window, elements, &ctx, &mut collector)
}

pub(crate) struct ReduceWindow<F>(pub(crate) F);

impl<F: ReduceFunction> WindowOp for ReduceWindow<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn accumulate(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(a) = reduce_into(&mut self.0, group, reader)? {
            a.encode(acc)?;
        }
        Ok(())
    }

    fn merge(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()> {
        self.accumulate(group, reader, acc)
    }

    fn emit(
        &mut self,
        _batch: &Batch<'_>,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        out: &mut Out,
    ) -> Result<()> {
        skip_records(group, reader)?;
        if let Some(bytes) = group.acc {
            // The accumulator is the result, already encoded.
            out.main(group.end - 1, group.key, bytes);
        }
        Ok(())
    }
}

pub(crate) struct AggregateWindow<F>(pub(crate) F);

impl<F: AggregateFunction> WindowOp for AggregateWindow<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn accumulate(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()> {
        aggregate_into(&mut self.0, group, reader, false)?.encode(acc)
    }

    fn merge(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()> {
        aggregate_into(&mut self.0, group, reader, true)?.encode(acc)
    }

    fn emit(
        &mut self,
        _batch: &Batch<'_>,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        out: &mut Out,
    ) -> Result<()> {
        skip_records(group, reader)?;
        if let Some(bytes) = group.acc {
            let result = self.0.get_result(&F::Acc::decode(bytes)?)?;
            out.try_main_with(group.end - 1, group.key, |b| result.encode(b))?;
        }
        Ok(())
    }
}

pub(crate) struct ProcessWindow<F>(pub(crate) F);

impl<F: ProcessWindowFunction> WindowOp for ProcessWindow<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn accumulate(
        &mut self,
        _: &WindowGroup<'_>,
        _: &mut WindowGroupReader<'_>,
        _: &mut Vec<u8>,
    ) -> Result<()> {
        Err(no_accumulator("accumulate"))
    }

    fn merge(
        &mut self,
        _: &WindowGroup<'_>,
        _: &mut WindowGroupReader<'_>,
        _: &mut Vec<u8>,
    ) -> Result<()> {
        Err(no_accumulator("merge accumulators"))
    }

    fn emit(
        &mut self,
        batch: &Batch<'_>,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        out: &mut Out,
    ) -> Result<()> {
        let mut elements = Vec::with_capacity(group.records as usize);
        for i in 0..group.records as usize {
            let (_, v) = reader.record().map_err(wire)?;
            elements.push(F::In::decode(v).map_err(|e| at_record(i, e))?);
        }
        process(&mut self.0, batch, group, elements, out)
    }
}

/// An incremental window function whose accumulator has a result.
pub(crate) trait Incremental: WindowOp {
    /// The result type.
    type Out: Data;
    /// The result of a window's accumulator.
    fn result(&mut self, acc: &[u8]) -> Result<Self::Out>;
}

impl<F: AggregateFunction> Incremental for AggregateWindow<F> {
    type Out = F::Out;
    fn result(&mut self, acc: &[u8]) -> Result<F::Out> {
        self.0.get_result(&F::Acc::decode(acc)?)
    }
}

impl<F: ReduceFunction> Incremental for ReduceWindow<F> {
    type Out = F::T;
    fn result(&mut self, acc: &[u8]) -> Result<F::T> {
        F::T::decode(acc)
    }
}

/// An incremental aggregate or reduce whose result a process-window
/// function renders: folds and merges as the incremental function, emits
/// through the window function.
pub(crate) struct Then<I, P>(pub(crate) I, pub(crate) P);

impl<I, P> WindowOp for Then<I, P>
where
    I: Incremental,
    P: ProcessWindowFunction<In = I::Out>,
{
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)?;
        self.1.open(ctx)
    }

    fn accumulate(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()> {
        self.0.accumulate(group, reader, acc)
    }

    fn merge(
        &mut self,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        acc: &mut Vec<u8>,
    ) -> Result<()> {
        self.0.merge(group, reader, acc)
    }

    fn emit(
        &mut self,
        batch: &Batch<'_>,
        group: &WindowGroup<'_>,
        reader: &mut WindowGroupReader<'_>,
        out: &mut Out,
    ) -> Result<()> {
        skip_records(group, reader)?;
        let Some(bytes) = group.acc else {
            return Ok(());
        };
        let result = self.0.result(bytes)?;
        process(&mut self.1, batch, group, vec![result], out)
    }
}
