//! The function traits users implement.

use crate::{Collector, Context, Data, OpenContext, Result};

/// One record in, one record out (Flink's `MapFunction`).
pub trait MapFunction: Default + 'static {
    /// Input type.
    type In: Data;
    /// Output type.
    type Out: Data;
    /// Called once per instance before the first record.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Transforms one record.
    fn map(&mut self, value: Self::In, ctx: &Context<'_>) -> Result<Self::Out>;

    /// This instance's own state for a checkpoint, beyond keyed state
    /// (Flink's `CheckpointedFunction`): encode it however you like, e.g.
    /// with [`crate::Bin`]. Called at every checkpoint and savepoint.
    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// After `open`, when the job resumes from a snapshot: the states of
    /// the instances this one takes over (its own at the same
    /// parallelism; an even share of them after rescaling).
    fn restore_state(&mut self, _states: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }
}

/// One record in, any number out (Flink's `FlatMapFunction`).
pub trait FlatMapFunction: Default + 'static {
    /// Input type.
    type In: Data;
    /// Output type.
    type Out: Data;
    /// The side outputs this function emits to with
    /// [`Collector::side_output`]: a job can route only declared ones, and
    /// emitting to an undeclared one fails the call.
    const SIDE_OUTPUTS: &'static [&'static str] = &[];
    /// Called once per instance before the first record.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Emits zero or more records for one input record.
    fn flat_map(
        &mut self,
        value: Self::In,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Self::Out>,
    ) -> Result<()>;

    /// This instance's own state for a checkpoint, beyond keyed state
    /// (Flink's `CheckpointedFunction`): encode it however you like, e.g.
    /// with [`crate::Bin`]. Called at every checkpoint and savepoint.
    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// After `open`, when the job resumes from a snapshot: the states of
    /// the instances this one takes over (its own at the same
    /// parallelism; an even share of them after rescaling).
    fn restore_state(&mut self, _states: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }
}

/// Keeps the records for which it returns true (Flink's `FilterFunction`).
/// Kept records pass through unchanged, bytes and all.
pub trait FilterFunction: Default + 'static {
    /// Record type.
    type T: Data;
    /// Called once per instance before the first record.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Whether to keep the record.
    fn filter(&mut self, value: &Self::T, ctx: &Context<'_>) -> Result<bool>;

    /// This instance's own state for a checkpoint, beyond keyed state
    /// (Flink's `CheckpointedFunction`): encode it however you like, e.g.
    /// with [`crate::Bin`]. Called at every checkpoint and savepoint.
    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// After `open`, when the job resumes from a snapshot: the states of
    /// the instances this one takes over (its own at the same
    /// parallelism; an even share of them after rescaling).
    fn restore_state(&mut self, _states: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }
}

/// Combines the records of each key pairwise (Flink's `ReduceFunction` on a
/// keyed stream). Emits the reduced value after every input record; the
/// running value lives in managed keyed state.
pub trait ReduceFunction: Default + 'static {
    /// Record and result type.
    type T: Data;
    /// Called once per instance before the first record.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Combines the value so far with the next record.
    fn reduce(&mut self, acc: Self::T, value: Self::T) -> Result<Self::T>;
}

/// Folds the records of each key into an accumulator (Flink's
/// `AggregateFunction` on a keyed stream). Emits the result after every input
/// record; the accumulator lives in managed keyed state.
pub trait AggregateFunction: Default + 'static {
    /// Input type.
    type In: Data;
    /// Accumulator type (kept in state).
    type Acc: Data;
    /// Output type.
    type Out: Data;
    /// Called once per instance before the first record.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// A new, empty accumulator.
    fn create_accumulator(&mut self) -> Result<Self::Acc>;
    /// Adds one record to the accumulator.
    fn add(&mut self, value: Self::In, acc: Self::Acc) -> Result<Self::Acc>;
    /// The result for an accumulator.
    fn get_result(&mut self, acc: &Self::Acc) -> Result<Self::Out>;
    /// Merges two accumulators. Needed only by merging (session) windows;
    /// the default fails, so that a session job cannot silently drop half
    /// of a merged window.
    fn merge(&mut self, _a: Self::Acc, _b: Self::Acc) -> Result<Self::Acc> {
        Err(crate::Error::msg(
            "this aggregate function does not implement merge, which session windows need",
        ))
    }
}

/// Processes the records of a keyed stream with managed keyed state (Flink's
/// `KeyedProcessFunction`). Declare states in `open`; their handles read and
/// write the state of the current key.
pub trait KeyedProcessFunction: Default + 'static {
    /// Input type.
    type In: Data;
    /// Output type.
    type Out: Data;
    /// The side outputs this function emits to with
    /// [`Collector::side_output`]: a job can route only declared ones, and
    /// emitting to an undeclared one fails the call.
    const SIDE_OUTPUTS: &'static [&'static str] = &[];
    /// Called once per instance before the first record; declare state here.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Processes one record of the current key.
    fn process_element(
        &mut self,
        value: Self::In,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Self::Out>,
    ) -> Result<()>;

    /// Called when a timer of the current key fires; `timestamp` is the
    /// timer's time and `ctx.time_domain()` says which clock. Outputs carry
    /// the timer's time as their timestamp.
    fn on_timer(
        &mut self,
        _timestamp: i64,
        _ctx: &Context<'_>,
        _out: &mut Collector<'_, Self::Out>,
    ) -> Result<()> {
        Ok(())
    }

    /// This instance's own state for a checkpoint, beyond keyed state
    /// (Flink's `CheckpointedFunction`): encode it however you like, e.g.
    /// with [`crate::Bin`]. Called at every checkpoint and savepoint.
    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// After `open`, when the job resumes from a snapshot: the states of
    /// the instances this one takes over (its own at the same
    /// parallelism; an even share of them after rescaling).
    fn restore_state(&mut self, _states: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }
}

/// A window: the half-open interval `[start, end)` of event or processing
/// time, in ms (Flink's `TimeWindow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// First millisecond in the window.
    pub start: i64,
    /// First millisecond after the window.
    pub end: i64,
}

impl Window {
    /// The last millisecond in the window: the timestamp of its results.
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }
}

/// Sees all elements of a window of one key at once, with the window's
/// bounds (Flink's `ProcessWindowFunction`). The host keeps the elements in
/// keyed state until the window fires. To pre-aggregate instead, combine an
/// [`AggregateFunction`] with a process-window function whose input is the
/// aggregate's result: `window_aggregate(MyAgg, MyWindowFn)` in
/// [`crate::export_functions!`] (Flink's `aggregate(agg, windowFunction)`).
pub trait ProcessWindowFunction: Default + 'static {
    /// Element type.
    type In: Data;
    /// Output type.
    type Out: Data;
    /// The side outputs this function emits to with
    /// [`Collector::side_output`]: a job can route only declared ones, and
    /// emitting to an undeclared one fails the call.
    const SIDE_OUTPUTS: &'static [&'static str] = &[];
    /// Called once per instance before the first window.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Called when the window fires (again on each late firing, with the
    /// late elements included). `ctx.key()` is the key; outputs carry the
    /// window's max timestamp.
    fn process(
        &mut self,
        window: Window,
        elements: Vec<Self::In>,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Self::Out>,
    ) -> Result<()>;
}

/// Gives each record its event timestamp as a source reads it (Flink's
/// `TimestampAssigner`). A job names it in a source's
/// `event_time = { assigner = { component, function } }`; the source then
/// tracks watermarks per partition from these timestamps.
pub trait TimestampAssigner: Default + 'static {
    /// Record type (as the source reads it: `String` for text lines).
    type In: Data;
    /// Called once per instance before the first record.
    fn open(&mut self, _ctx: &mut OpenContext<'_>) -> Result<()> {
        Ok(())
    }
    /// The record's event time in ms since the epoch. `current` is the
    /// timestamp it has (ingestion time), if any.
    fn extract_timestamp(&mut self, value: &Self::In, current: Option<i64>) -> Result<i64>;
}
