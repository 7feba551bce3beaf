//! Keyed Wasm functions (reduce, aggregate, keyed process) with their keyed
//! state and timers.

use super::fused::{apply_stages, restore_stage};
use super::sizing::CallSizer;
use super::{
    Emitter, OpState, Operator, Outcomes, Rejected, SnapshotCtx, Stages, bad, operator_states,
    restore_keyed, snapshot_keyed, timer_count, timer_store,
};
use crate::clock::Clock;
use crate::exchange::Stop;
use crate::failure::Failure;
use hashbrown::HashTable;
use std::sync::Arc;
use weir_core::Batch;
use weir_core::keygroup::key_group;
use weir_state::{HashedKey, StateKind, TimerService, ValueSlot, key_hash};
use weir_wasm::{CallError, FunctionInstance, KeyedScope, StateBinding};
use weir_wire::{Entries, Entry, GroupWriter, domain};

/// Timers fired per call.
const TIMERS_PER_CALL: usize = 4096;
/// Due timers taken from the store at a time (then called in chunks).
const TIMERS_PER_ROUND: usize = 16 * TIMERS_PER_CALL;

/// Timers registered while firing that are due at once, beyond those due
/// when the firing began, before the job is failed: a function whose timers
/// keep registering due timers would otherwise never yield.
const MAX_REFIRED_TIMERS: usize = 1_000_000;

/// A keyed function in Wasm. Its keyed state lives in the backend held by
/// the instance's store; its timers here.
pub(crate) struct WasmKeyed {
    instance: FunctionInstance,
    max_parallelism: u32,
    /// Declared ids of the value states, in the order groups carry them.
    value_states: Vec<u32>,
    timers: TimerService,
    clock: Arc<dyn Clock>,
    watermark: i64,
    buffer: Vec<u8>,
    scratch: Vec<u8>,
    /// (sub-task, parallelism), for restoring operator state.
    position: (u32, u32),
    sizer: CallSizer,
    outcomes: Outcomes,
    /// Where the items of the last call went: group `g` holds items
    /// `order[start[g]..start[g] + counts[g]]`.
    layout: Layout,
    /// The hash of each group's key (its key slot in the call).
    hashes: Vec<u64>,
    /// Where the backend found each (key slot, declared state) value read
    /// for the call: `value_slots[slot * bindings + state]`.
    value_slots: Vec<ValueSlot>,
    /// The round of due timers being fired (kept for its buffers).
    due: weir_state::DueTimers,
    /// The later stages when the instance runs a chain.
    stages: Option<Stages>,
}

/// The grouping of the last call's items.
#[derive(Default)]
struct Layout {
    start: Vec<u32>,
    counts: Vec<u32>,
    order: Vec<u32>,
}

impl Layout {
    /// The item index of record `index` of group `slot`, if there is one.
    fn item(&self, slot: u32, index: u32) -> Option<usize> {
        let (slot, index) = (slot as usize, index as usize);
        let count = *self.counts.get(slot)? as usize;
        if index >= count {
            return None;
        }
        let at = *self.start.get(slot)? as usize + index;
        self.order.get(at).map(|&i| i as usize)
    }
}

/// Which export a keyed call goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyedCall {
    Records,
    Timers,
}

/// One item of a keyed call: key, timestamp, value.
type Item<'a> = (&'a [u8], i64, &'a [u8]);

impl WasmKeyed {
    pub(crate) fn new(
        instance: FunctionInstance,
        max_parallelism: u32,
        clock: Arc<dyn Clock>,
        position: (u32, u32),
        outcomes: Outcomes,
    ) -> Self {
        let value_states = value_state_ids(&instance);
        WasmKeyed {
            instance,
            max_parallelism,
            value_states,
            timers: TimerService::default(),
            clock,
            watermark: i64::MIN,
            buffer: Vec::new(),
            scratch: Vec::new(),
            position,
            sizer: CallSizer::default(),
            outcomes,
            layout: Layout::default(),
            hashes: Vec::new(),
            value_slots: Vec::new(),
            due: weir_state::DueTimers::default(),
            stages: None,
        }
    }

    /// Runs the later stages of a chain too (the instance is a chain).
    pub(crate) fn with_stages(mut self, stages: Stages) -> Self {
        self.stages = Some(stages);
        self
    }

    /// Groups items by key (first-appearance order, item order within a
    /// key) and writes the keyed input buffer with each key's value states.
    fn build_groups(&mut self, items: &[Item<'_>], now: i64) -> Result<(), Failure> {
        // Each key is hashed once: the hash groups the batch, and the
        // backend's lookups reuse it.
        let mut index: HashTable<u32> = HashTable::with_capacity(items.len().min(4096));
        let mut group_of: Vec<u32> = Vec::with_capacity(items.len());
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        let hashes = &mut self.hashes;
        hashes.clear();
        for &(key, _, _) in items {
            let h = key_hash(key);
            let found = index
                .find(h, |&g| hashes[g as usize] == h && keys[g as usize] == key)
                .copied();
            let g = match found {
                Some(g) => g,
                None => {
                    let g = keys.len() as u32;
                    index.insert_unique(h, g, |&g| hashes[g as usize]);
                    keys.push(key);
                    hashes.push(h);
                    counts.push(0);
                    g
                }
            };
            counts[g as usize] += 1;
            group_of.push(g);
        }
        // Counting sort of items by group.
        let Layout {
            start,
            counts: kept_counts,
            order,
        } = &mut self.layout;
        start.clear();
        let mut acc = 0;
        for c in &counts {
            start.push(acc);
            acc += c;
        }
        order.clear();
        order.resize(items.len(), 0);
        let mut fill = start.clone();
        for (i, &g) in group_of.iter().enumerate() {
            order[fill[g as usize] as usize] = i as u32;
            fill[g as usize] += 1;
        }
        *kept_counts = counts;
        let (start, counts, order) = (&self.layout.start, &self.layout.counts, &self.layout.order);

        let scope = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::user("keyed function without keyed state"))?;
        scope.clear_slots();
        scope.now = now;
        self.buffer.clear();
        let per_slot = scope.bindings.len();
        self.value_slots.clear();
        self.value_slots
            .resize(keys.len() * per_slot, ValueSlot::NONE);
        for (g, key) in keys.iter().enumerate() {
            let kg = key_group(key, self.max_parallelism);
            let hashed = HashedKey::prehashed(key, self.hashes[g]);
            scope.push_slot(kg, key);
            let mut w = GroupWriter::start(&mut self.buffer, key);
            for &declared in &self.value_states {
                let binding = scope.bindings[declared as usize];
                self.scratch.clear();
                let (found, slot) = scope.backend.value_get_for_update(
                    kg,
                    binding.id,
                    hashed,
                    &mut self.scratch,
                )?;
                self.value_slots[g * per_slot + declared as usize] = slot;
                match (found, binding.ttl) {
                    (false, _) => w.state(&mut self.buffer, None),
                    (true, None) => w.state(&mut self.buffer, Some(&self.scratch)),
                    (true, Some(ttl)) => match weir_state::ttl::live(&self.scratch, &ttl, now) {
                        Some(v) => {
                            w.state(&mut self.buffer, Some(v));
                            if ttl.refresh_on_read {
                                let fresh = weir_state::ttl::stamped(now, v);
                                scope.backend.value_put(kg, binding.id, key, &fresh)?;
                            }
                        }
                        None => {
                            scope.backend.value_delete(kg, binding.id, key)?;
                            w.state(&mut self.buffer, None);
                        }
                    },
                }
            }
            w.begin_records(&mut self.buffer);
            let s = start[g] as usize;
            for &i in &order[s..s + counts[g] as usize] {
                let (_, ts, value) = items[i as usize];
                w.record(&mut self.buffer, ts, value);
            }
            w.finish(&mut self.buffer);
        }
        Ok(())
    }

    /// Calls the function on `items` (grouped by key; records or timers)
    /// and applies its result.
    fn call(
        &mut self,
        items: &[Item<'_>],
        call: KeyedCall,
        out: &mut Emitter<'_>,
    ) -> Result<(), Stop> {
        let now = self.clock.now_ms();
        self.build_groups(items, now)?;
        let result = match call {
            KeyedCall::Records => self
                .instance
                .process_batch(&self.buffer, self.watermark, now),
            KeyedCall::Timers => self.instance.fire_timers(&self.buffer, self.watermark, now),
        }
        .map_err(|e| {
            if let Some(s) = &mut self.stages {
                s.call_failed(&self.instance);
            }
            Failure::from(e)
        })?;
        self.sizer.observe(self.buffer.len(), result.len());
        self.apply(&result, items, call, out)?;
        out.pass_on_if_full()
    }

    /// Applies a result buffer: outputs, value-state mutations, timers,
    /// failed records (of `items`, grouped as `self.layout` says).
    fn apply(
        &mut self,
        result: &[u8],
        items: &[Item<'_>],
        call: KeyedCall,
        out: &mut Emitter<'_>,
    ) -> Result<(), Failure> {
        let (mut state_bytes, mut timers) = (0usize, 0u64);
        let KeyedScope {
            backend,
            bindings,
            slots,
            keys,
            now,
        } = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::user("keyed function without keyed state"))?;
        out.main.reserve(result.len());
        let mut entries = Entries::new(result);
        while let Some(e) = entries.next() {
            match e.map_err(bad)? {
                Entry::Main(r) => out.main.push_ref(&r),
                Entry::Stage {
                    stage,
                    records,
                    bytes,
                } => {
                    let first = (stage, records, bytes);
                    apply_stages(self.stages.as_mut(), first, &mut entries, out)?;
                }
                Entry::StageFailed { .. } => {
                    return Err(CallError::BadResult(
                        "a stage failure came before any stage marker".into(),
                    )
                    .into());
                }
                Entry::Side { output, record } => {
                    self.outcomes.check_side(output)?;
                    out.side(output).push_ref(&record);
                }
                Entry::Failed {
                    slot,
                    index,
                    kind,
                    message,
                } => {
                    let (key, ts, value) = self
                        .layout
                        .item(slot, index)
                        .and_then(|i| items.get(i).copied())
                        .ok_or_else(|| {
                            Failure::from(CallError::BadResult(format!(
                                "the function reported a failure on record {index} of key slot {slot}, which the batch does not have"
                            )))
                        })?;
                    let rejected = Rejected {
                        ts,
                        key,
                        value,
                        timer: call == KeyedCall::Timers,
                    };
                    self.outcomes.failed(out, kind, message, &rejected)?;
                }
                Entry::ValueSet { slot, state, value } => {
                    state_bytes += value.len();
                    let (kg, key, b) = resolve(bindings, slots, keys, slot, state)?;
                    // Resolved above: the slot and state are the call's.
                    let at = slot as usize * bindings.len() + state as usize;
                    let hashed = match self.hashes.get(slot as usize) {
                        Some(&h) => HashedKey::prehashed(key, h),
                        None => HashedKey::new(key),
                    };
                    let found = self.value_slots.get(at).copied().unwrap_or_default();
                    match b.ttl {
                        Some(_) => {
                            self.scratch.clear();
                            weir_state::ttl::stamp(&mut self.scratch, *now, value);
                            backend.value_put_at(kg, b.id, hashed, found, &self.scratch)?;
                        }
                        None => backend.value_put_at(kg, b.id, hashed, found, value)?,
                    }
                }
                Entry::ValueClear { slot, state } => {
                    let (kg, key, b) = resolve(bindings, slots, keys, slot, state)?;
                    backend.value_delete(kg, b.id, key)?;
                }
                Entry::TimerRegister { slot, domain, time } => {
                    timers += 1;
                    let (kg, key) = slot_key(slots, keys, slot)?;
                    timer_store(backend.as_mut(), &mut self.timers)
                        .register(domain, time, kg, key)?;
                }
                Entry::TimerDelete { slot, domain, time } => {
                    let (kg, key) = slot_key(slots, keys, slot)?;
                    timer_store(backend.as_mut(), &mut self.timers)
                        .delete(domain, time, kg, key)?;
                }
            }
        }
        // Budgets are checked after applying: what a call did is bounded
        // by its result, which is bounded by its own budget.
        self.instance.charge_state(state_bytes)?;
        for _ in 0..timers {
            self.instance.charge_timer()?;
        }
        Ok(())
    }

    /// The operator's timers (in the backend, or here).
    fn timers_mut(&mut self) -> Result<&mut dyn weir_state::TimerStore, Failure> {
        let scope = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::internal("keyed function without keyed state"))?;
        Ok(timer_store(scope.backend.as_mut(), &mut self.timers))
    }

    /// How many timers of `domain` are pending.
    fn timer_count(&self, domain: u8) -> usize {
        self.instance
            .scope()
            .map_or(0, |s| timer_count(s.backend.as_ref(), &self.timers, domain))
    }

    /// Fires the timers of `timer_domain` due at `upto`, in time order and
    /// a call's worth at a time, including timers the callbacks register
    /// that are already due.
    fn fire(&mut self, timer_domain: u8, upto: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        let tag: &[u8] = if timer_domain == domain::EVENT_TIME {
            &[domain::EVENT_TIME]
        } else {
            &[domain::PROCESSING_TIME]
        };
        let limit = self
            .timer_count(timer_domain)
            .saturating_add(MAX_REFIRED_TIMERS);
        let mut fired = 0usize;
        loop {
            // The timers due now, earliest first, a round at a time (a
            // round is bounded: RocksDB may hold millions); those the
            // callbacks register that are due already come in a later round.
            let mut due = std::mem::take(&mut self.due);
            due.clear();
            self.timers_mut()?
                .pop_due_into(timer_domain, upto, TIMERS_PER_ROUND, &mut due)
                .map_err(Failure::from)?;
            if due.is_empty() {
                self.due = due;
                return Ok(());
            }
            fired += due.len();
            if fired > limit {
                return Err(Failure::user(format!(
                    "timers kept registering timers that are due at once ({MAX_REFIRED_TIMERS} more than were due)"
                ))
                .into());
            }
            let mut items: Vec<Item<'_>> = Vec::with_capacity(TIMERS_PER_CALL);
            for (t, _, k) in due.iter() {
                items.push((k, t, tag));
                if items.len() == TIMERS_PER_CALL {
                    self.call(&items, KeyedCall::Timers, out)?;
                    items.clear();
                }
            }
            if !items.is_empty() {
                self.call(&items, KeyedCall::Timers, out)?;
            }
            drop(items);
            self.due = due;
        }
    }
}

impl Operator for WasmKeyed {
    fn call_stats(&self) -> Option<weir_wasm::CallStats> {
        Some(self.instance.stats())
    }

    fn process(&mut self, input: &Batch, out: &mut Emitter<'_>) -> Result<(), Stop> {
        if input.is_empty() {
            return Ok(());
        }
        let mut items: Vec<Item<'_>> = Vec::with_capacity(input.len());
        for r in input.iter() {
            let r = r.map_err(bad)?;
            items.push((r.key, r.ts, r.value));
        }
        if input.byte_len() <= self.sizer.input_bytes() {
            return self.call(&items, KeyedCall::Records, out);
        }
        let mut start = 0;
        while start < items.len() {
            let budget = self.sizer.input_bytes();
            let (mut end, mut bytes) = (start, 0);
            while end < items.len() && (end == start || bytes < budget) {
                bytes += items[end].0.len() + items[end].2.len() + 16;
                end += 1;
            }
            self.call(&items[start..end], KeyedCall::Records, out)?;
            start = end;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        self.watermark = watermark;
        // Later stages of a chain still see the old watermark while the
        // timers fire, as chained operators hear it after this one.
        self.fire(domain::EVENT_TIME, watermark, out)?;
        if let Some(s) = &self.stages {
            s.advance(&mut self.instance, watermark);
        }
        Ok(())
    }

    fn wants_processing_time(&self) -> bool {
        self.timer_count(domain::PROCESSING_TIME) > 0
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        if self.timer_count(domain::PROCESSING_TIME) == 0 {
            return Ok(());
        }
        self.fire(domain::PROCESSING_TIME, now, out)
    }

    fn snapshot(&mut self, ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        let scope = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::internal("keyed function without keyed state"))?;
        let mut st = snapshot_keyed(scope.backend.as_mut(), &mut self.timers, ctx)?;
        let mut states = self.instance.snapshot_stages()?.into_iter();
        st.operator_state = states.next().flatten();
        st.stages = states.collect();
        Ok(st)
    }

    fn restore_stage(
        &mut self,
        stage: usize,
        from: &[&weir_checkpoint::OperatorSnapshot],
    ) -> Result<(), Failure> {
        restore_stage(self.stages.as_mut(), &mut self.instance, stage, from)
    }

    fn failed_stage(&self) -> usize {
        self.stages.as_ref().map_or(0, Stages::failed)
    }

    fn restore(&mut self, from: &[&weir_checkpoint::OperatorSnapshot]) -> Result<(), Failure> {
        let scope = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::internal("keyed function without keyed state"))?;
        restore_keyed(scope.backend.as_mut(), &mut self.timers, from)?;
        let states = operator_states(from, self.position.0, self.position.1);
        if !states.is_empty() {
            self.instance.restore_state(&states)?;
        }
        Ok(())
    }
}

/// Declared ids of a keyed function's value states, in declaration order.
fn value_state_ids(instance: &FunctionInstance) -> Vec<u32> {
    instance
        .scope()
        .map(|s| {
            s.bindings
                .iter()
                .enumerate()
                .filter(|(_, b)| b.kind == StateKind::Value)
                .map(|(i, _)| i as u32)
                .collect()
        })
        .unwrap_or_default()
}

fn slot_key<'k>(
    slots: &[(u16, u32, u32)],
    keys: &'k [u8],
    slot: u32,
) -> Result<(u16, &'k [u8]), Failure> {
    let &(kg, s, e) = slots.get(slot as usize).ok_or_else(|| {
        Failure::from(CallError::BadResult(format!(
            "state or timer operation for unknown key slot {slot}"
        )))
    })?;
    Ok((kg, &keys[s as usize..e as usize]))
}

/// The key group, key and backend state of a value-state mutation.
fn resolve<'k>(
    bindings: &[StateBinding],
    slots: &[(u16, u32, u32)],
    keys: &'k [u8],
    slot: u32,
    state: u32,
) -> Result<(u16, &'k [u8], StateBinding), Failure> {
    let (kg, key) = slot_key(slots, keys, slot)?;
    let binding = bindings
        .get(state as usize)
        .filter(|b| b.kind == StateKind::Value)
        .ok_or_else(|| {
            Failure::from(CallError::BadResult(format!(
                "value-state write to undeclared or non-value state {state}"
            )))
        })?;
    Ok((kg, key, *binding))
}
