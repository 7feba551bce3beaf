//! Batch drivers for keyed functions: one key group at a time, with the
//! group's value states in the thread's [`Scope`](crate::state::Scope).

use super::transform::{Batch, at_record};
use crate::state::SCOPE;
use crate::{
    AggregateFunction, Collector, Data, Error, KeyedProcessFunction, OpenContext, ReduceFunction,
    Result, TimeDomain, ValueState,
};
use std::marker::PhantomData;
use weir_wire::GroupReader;

/// One key group handed to a keyed function.
pub(crate) struct Group<'a, 'b> {
    pub(crate) key: &'a [u8],
    pub(crate) records: u32,
    pub(crate) reader: &'b mut GroupReader<'a>,
}

/// A keyed function behind a uniform batch interface.
pub(crate) trait KeyedOp {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()>;
    fn process_group(
        &mut self,
        batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<()>;

    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn restore_state(&mut self, _states: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }

    /// Fires the due timers of one key (only keyed process functions
    /// register timers).
    fn fire_group(
        &mut self,
        _batch: &Batch<'_>,
        _group: Group<'_, '_>,
        _out: &mut Vec<u8>,
    ) -> Result<()> {
        Err(Error::msg("this kind of function has no timers"))
    }
}

fn wire(e: weir_wire::WireError) -> Error {
    Error::decode(e)
}

/// Name of the accumulator state of reduce and aggregate functions.
const ACC: &str = "weir.acc";

/// Decodes the accumulator (state id 0) of the current key.
fn read_acc<T: Data>() -> Result<Option<T>> {
    SCOPE.with(|s| match s.borrow().values.first() {
        Some(Some(bytes)) => T::decode(bytes).map(Some),
        _ => Ok(None),
    })
}

/// Stores the encoded accumulator (state id 0) of the current key.
fn write_acc(bytes: &[u8]) {
    SCOPE.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(v) = s.values.first_mut() {
            let buf = v.get_or_insert_with(Vec::new);
            buf.clear();
            buf.extend_from_slice(bytes);
            s.dirty[0] = true;
        }
    })
}

pub(crate) struct Reduce<F>(pub(crate) F);

impl<F: ReduceFunction> KeyedOp for Reduce<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _acc: ValueState<F::T> = ctx.value_state(ACC);
        self.0.open(ctx)
    }

    fn process_group(
        &mut self,
        _batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        let mut acc = read_acc::<F::T>()?;
        for i in 0..group.records as usize {
            let (ts, v) = group.reader.record().map_err(wire)?;
            let value = F::T::decode(v).map_err(|e| at_record(i, e))?;
            let next = match acc.take() {
                None => value,
                Some(a) => self.0.reduce(a, value).map_err(|e| at_record(i, e))?,
            };
            scratch.clear();
            next.encode(scratch);
            weir_wire::put_main(out, ts, group.key, scratch);
            acc = Some(next);
        }
        if acc.is_some() {
            write_acc(scratch);
        }
        Ok(())
    }
}

pub(crate) struct Aggregate<F>(pub(crate) F);

impl<F: AggregateFunction> KeyedOp for Aggregate<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _acc: ValueState<F::Acc> = ctx.value_state(ACC);
        self.0.open(ctx)
    }

    fn process_group(
        &mut self,
        _batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        let mut acc = match read_acc::<F::Acc>()? {
            Some(acc) => acc,
            None => self.0.create_accumulator()?,
        };
        for i in 0..group.records as usize {
            let (ts, v) = group.reader.record().map_err(wire)?;
            let value = F::In::decode(v).map_err(|e| at_record(i, e))?;
            acc = self.0.add(value, acc).map_err(|e| at_record(i, e))?;
            let result = self.0.get_result(&acc).map_err(|e| at_record(i, e))?;
            weir_wire::put_main_with(out, ts, group.key, |buf| result.encode(buf));
        }
        scratch.clear();
        acc.encode(scratch);
        write_acc(scratch);
        Ok(())
    }
}

pub(crate) struct Process<F>(pub(crate) F);

impl<F: KeyedProcessFunction> KeyedOp for Process<F> {
    super::transform::operator_state!();

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.0.open(ctx)
    }

    fn process_group(
        &mut self,
        batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        for i in 0..group.records as usize {
            let (ts, v) = group.reader.record().map_err(wire)?;
            let value = F::In::decode(v).map_err(|e| at_record(i, e))?;
            let ctx = batch.context(group.key, ts);
            let mut collector = Collector {
                out,
                scratch,
                key: group.key,
                ts,
                _t: PhantomData,
            };
            self.0
                .process_element(value, &ctx, &mut collector)
                .map_err(|e| at_record(i, e))?;
        }
        Ok(())
    }

    fn fire_group(
        &mut self,
        batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut scratch = Vec::new();
        for _ in 0..group.records {
            let (time, d) = group.reader.record().map_err(wire)?;
            let domain = match d {
                [weir_wire::domain::EVENT_TIME] => TimeDomain::EventTime,
                [weir_wire::domain::PROCESSING_TIME] => TimeDomain::ProcessingTime,
                _ => return Err(Error::decode("unknown timer domain")),
            };
            let mut ctx = batch.context(group.key, time);
            ctx.domain = Some(domain);
            let mut collector = Collector {
                out,
                scratch: &mut scratch,
                key: group.key,
                ts: time,
                _t: PhantomData,
            };
            self.0.on_timer(time, &ctx, &mut collector)?;
        }
        Ok(())
    }
}
