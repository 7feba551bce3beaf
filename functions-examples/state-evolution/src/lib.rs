//! State across versions of a function.
//!
//! - `count-with-state`: a new build of `wordcount`'s `count-with-state`.
//!   It keeps the same state (`count`, a `u64` value state) and renders
//!   `word=count` instead of `(word,count)`: resumed from a savepoint of
//!   the old build, it continues every word's count.
//! - `count-as-text` and `count-as-map`: builds that changed the state's
//!   type or kind; a savepoint of the old build is refused with a message
//!   saying so.
//! - `ttl-probe`: value, list and map state with a time-to-live; for each
//!   record, reports what the current key still has, then writes.
//! - `sequence-numbers`: numbers the records each instance sees
//!   (`<instance>:<n> <record>`), keeping the count as operator state, so
//!   that numbering continues without gaps or repeats after a recovery.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use weir_sdk::{
    Collector, Context, Error, Json, KeyedProcessFunction, ListState, MapFunction, MapState,
    OpenContext, Result, StateTtl, ValueState,
};

/// Numbers records per instance; the count is operator state.
#[derive(Default)]
pub struct SequenceNumbers {
    n: u64,
}

impl MapFunction for SequenceNumbers {
    type In = String;
    type Out = String;

    fn map(&mut self, value: String, ctx: &Context<'_>) -> Result<String> {
        self.n += 1;
        Ok(format!("{}:{} {value}", ctx.task().subtask_index, self.n))
    }

    fn snapshot_state(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(Some(self.n.to_le_bytes().to_vec()))
    }

    /// After rescaling an instance may take over several counts: it goes on
    /// from the largest.
    fn restore_state(&mut self, states: Vec<Vec<u8>>) -> Result<()> {
        for s in states {
            let bytes: [u8; 8] = s
                .as_slice()
                .try_into()
                .map_err(|_| Error::msg("operator state is not a u64"))?;
            self.n = self.n.max(u64::from_le_bytes(bytes));
        }
        Ok(())
    }
}

/// Counts per key, rendering `word=count`.
#[derive(Default)]
pub struct CountV2 {
    count: Option<ValueState<u64>>,
}

impl KeyedProcessFunction for CountV2 {
    type In = u64;
    type Out = String;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.count = Some(ctx.value_state("count"));
        Ok(())
    }

    fn process_element(
        &mut self,
        n: u64,
        ctx: &Context<'_>,
        out: &mut Collector<'_, String>,
    ) -> Result<()> {
        let state = self
            .count
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        let count = state.get()?.unwrap_or(0) + n;
        state.set(&count)?;
        out.collect(&format!("{}={count}", ctx.key_str().unwrap_or("?")))
    }
}

/// Declares `count` as text: incompatible with a `u64` count.
#[derive(Default)]
pub struct CountAsText {
    count: Option<ValueState<String>>,
}

impl KeyedProcessFunction for CountAsText {
    type In = u64;
    type Out = String;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.count = Some(ctx.value_state("count"));
        Ok(())
    }

    fn process_element(
        &mut self,
        _: u64,
        _: &Context<'_>,
        _: &mut Collector<'_, String>,
    ) -> Result<()> {
        Ok(())
    }
}

/// Declares `count` as a map: incompatible with a value state.
#[derive(Default)]
pub struct CountAsMap {
    count: Option<MapState<String, u64>>,
}

impl KeyedProcessFunction for CountAsMap {
    type In = u64;
    type Out = String;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.count = Some(ctx.map_state("count"));
        Ok(())
    }

    fn process_element(
        &mut self,
        _: u64,
        _: &Context<'_>,
        _: &mut Collector<'_, String>,
    ) -> Result<()> {
        Ok(())
    }
}

/// A record for `ttl-probe`.
#[derive(Serialize, Deserialize)]
pub struct Probe {
    /// The key.
    pub key: String,
    /// A value to store.
    pub v: u64,
}

/// What `ttl-probe` saw before writing.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Seen {
    /// The key.
    pub key: String,
    /// The value state.
    pub value: Option<u64>,
    /// The list state.
    pub list: Vec<u64>,
    /// The map state's entries.
    pub map: Vec<(u64, u64)>,
    /// The refresh-on-read value state.
    pub touched: Option<u64>,
}

/// Value, list and map state that expire 1 s after their last write (and
/// one that reads keep alive).
#[derive(Default)]
pub struct TtlProbe {
    value: Option<ValueState<u64>>,
    list: Option<ListState<u64>>,
    map: Option<MapState<u64, u64>>,
    touched: Option<ValueState<u64>>,
}

impl KeyedProcessFunction for TtlProbe {
    type In = Json<Probe>;
    type Out = Json<Seen>;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        let second = Duration::from_secs(1);
        self.value = Some(ctx.value_state_with_ttl("value", StateTtl::after_write(second)));
        self.list = Some(ctx.list_state_with_ttl("list", StateTtl::after_write(second)));
        self.map = Some(ctx.map_state_with_ttl("map", StateTtl::after_write(second)));
        self.touched = Some(ctx.value_state_with_ttl("touched", StateTtl::after_access(second)));
        Ok(())
    }

    fn process_element(
        &mut self,
        Json(p): Json<Probe>,
        _: &Context<'_>,
        out: &mut Collector<'_, Json<Seen>>,
    ) -> Result<()> {
        let (Some(value), Some(list), Some(map), Some(touched)) =
            (&self.value, &self.list, &self.map, &self.touched)
        else {
            return Err(Error::msg("not opened"));
        };
        out.collect(&Json(Seen {
            key: p.key.clone(),
            value: value.get()?,
            list: list.get()?,
            map: map.entries()?,
            touched: touched.get()?,
        }))?;
        if p.v > 0 {
            value.set(&p.v)?;
            list.add(&p.v)?;
            map.put(&p.v, &p.v)?;
            if touched.get()?.is_none() {
                touched.set(&p.v)?;
            }
        }
        Ok(())
    }
}

weir_sdk::export_functions! {
    "count-with-state" => keyed_process(CountV2),
    "count-as-text" => keyed_process(CountAsText),
    "count-as-map" => keyed_process(CountAsMap),
    "ttl-probe" => keyed_process(TtlProbe),
    "sequence-numbers" => map(SequenceNumbers),
}
