//! Batch drivers for keyed functions: one key group at a time, with the
//! group's value states in the thread's [`Scope`](crate::state::Scope).

use super::Out;
use super::transform::{Batch, failed};
use crate::state::SCOPE;
use crate::{
    AggregateFunction, Collector, Data, Error, KeyedProcessFunction, OpenContext, ReduceFunction,
    Result, TimeDomain, ValueState,
};
use std::marker::PhantomData;
use weir_wire::GroupReader;

/// One key group handed to a keyed function.
pub(crate) struct Group<'a, 'b> {
    /// The group's position in the batch.
    pub(crate) slot: u32,
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
        out: &mut Out,
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
        _out: &mut Out,
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

/// A reduce function, and a spare buffer for encoding its value.
pub(crate) struct Reduce<F>(pub(crate) F, pub(crate) Vec<u8>);

impl<F: ReduceFunction> KeyedOp for Reduce<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _acc: ValueState<F::T> = ctx.value_state(ACC);
        self.0.open(ctx)
    }

    /// Reduces each record into the key's value; a record the function
    /// fails on is reported and leaves the value as it was.
    fn process_group(
        &mut self,
        _batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Out,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        let mut acc = read_acc::<F::T>()?;
        // Whether `scratch` holds the encoding of `acc`.
        let mut encoded = false;
        for i in 0..group.records as usize {
            let (ts, v) = group.reader.record().map_err(wire)?;
            let spare = &mut self.1;
            let step = F::T::decode(v).and_then(|value| {
                let next = match acc.take() {
                    None => value,
                    Some(a) => self.0.reduce(a, value)?,
                };
                spare.clear();
                next.encode(spare)?;
                Ok(next)
            });
            match step {
                Ok(next) => {
                    std::mem::swap(scratch, &mut self.1);
                    encoded = true;
                    out.main(ts, group.key, scratch);
                    acc = Some(next);
                }
                Err(e) => {
                    failed(out, group.slot, i, &e);
                    if acc.is_none() {
                        // The function consumed the value: take it back.
                        acc = if encoded {
                            Some(F::T::decode(scratch)?)
                        } else {
                            read_acc::<F::T>()?
                        };
                    }
                }
            }
        }
        if encoded {
            write_acc(scratch);
        }
        Ok(())
    }
}

/// An aggregate function, and a spare buffer for encoding its accumulator.
pub(crate) struct Aggregate<F>(pub(crate) F, pub(crate) Vec<u8>);

impl<F: AggregateFunction> KeyedOp for Aggregate<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let _acc: ValueState<F::Acc> = ctx.value_state(ACC);
        self.0.open(ctx)
    }

    /// Adds each record to the key's accumulator; a record the function
    /// fails on is reported and leaves the accumulator as it was.
    fn process_group(
        &mut self,
        _batch: &Batch<'_>,
        group: Group<'_, '_>,
        out: &mut Out,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        let mut acc = match read_acc::<F::Acc>()? {
            Some(acc) => Some(acc),
            None => Some(self.0.create_accumulator()?),
        };
        // The encoding of `acc` after the last record that succeeded.
        let mut encoded = false;
        for i in 0..group.records as usize {
            let (ts, v) = group.reader.record().map_err(wire)?;
            let mark = out.mark();
            let spare = &mut self.1;
            let step = F::In::decode(v).and_then(|value| {
                let current = acc.take().ok_or_else(|| Error::msg("no accumulator"))?;
                let next = self.0.add(value, current)?;
                let result = self.0.get_result(&next)?;
                out.try_main_with(ts, group.key, |buf| result.encode(buf))?;
                spare.clear();
                next.encode(spare)?;
                Ok(next)
            });
            match step {
                Ok(next) => {
                    std::mem::swap(scratch, &mut self.1);
                    encoded = true;
                    acc = Some(next);
                }
                Err(e) => {
                    out.truncate(mark);
                    failed(out, group.slot, i, &e);
                    if acc.is_none() {
                        acc = Some(if encoded {
                            F::Acc::decode(scratch)?
                        } else {
                            match read_acc::<F::Acc>()? {
                                Some(a) => a,
                                None => self.0.create_accumulator()?,
                            }
                        });
                    }
                }
            }
        }
        if encoded {
            write_acc(scratch);
        }
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
        out: &mut Out,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        for i in 0..group.records as usize {
            let (ts, v) = group.reader.record().map_err(wire)?;
            let mark = out.mark();
            let done = F::In::decode(v).and_then(|value| {
                let ctx = batch.context(group.key, ts);
                let mut collector = Collector {
                    out: &mut *out,
                    scratch: &mut *scratch,
                    key: group.key,
                    ts,
                    _t: PhantomData,
                };
                self.0.process_element(value, &ctx, &mut collector)
            });
            if let Err(e) = done {
                // Its outputs go; state it changed before failing stays.
                out.truncate(mark);
                failed(out, group.slot, i, &e);
            }
        }
        Ok(())
    }

    fn fire_group(&mut self, batch: &Batch<'_>, group: Group<'_, '_>, out: &mut Out) -> Result<()> {
        let mut scratch = Vec::new();
        for i in 0..group.records as usize {
            let (time, d) = group.reader.record().map_err(wire)?;
            let domain = match d {
                [weir_wire::domain::EVENT_TIME] => TimeDomain::EventTime,
                [weir_wire::domain::PROCESSING_TIME] => TimeDomain::ProcessingTime,
                _ => return Err(Error::decode("unknown timer domain")),
            };
            let mut ctx = batch.context(group.key, time);
            ctx.domain = Some(domain);
            let mark = out.mark();
            let mut collector = Collector {
                out: &mut *out,
                scratch: &mut scratch,
                key: group.key,
                ts: time,
                _t: PhantomData,
            };
            if let Err(e) = self.0.on_timer(time, &ctx, &mut collector) {
                out.truncate(mark);
                failed(out, group.slot, i, &e);
            }
        }
        Ok(())
    }
}
