//! Windows on a keyed stream, run by the host around a Wasm window
//! function (Flink's `WindowOperator`).
//!
//! The host assigns records to windows, keeps each window's accumulator
//! (reduce, aggregate) or elements (process-window) in the keyed state
//! backend under a (key, window) composite key, merges session windows,
//! and fires windows with timers: at the window's max timestamp it emits,
//! `allowed_lateness` later it clears. A record whose windows are all past
//! their lateness goes to the `late` side output. A late record within the
//! lateness updates its window and fires it again (one update per window
//! per batch). Processing-time windows fire on the clock, and at the end
//! of input.

mod composite;
mod sessions;

pub(crate) use composite::{composite, split_composite};

use super::{
    Emitter, OpState, Operator, Outcomes, Rejected, SnapshotCtx, bad, restore_keyed,
    snapshot_keyed, timer_count, timer_store,
};
use crate::clock::Clock;
use crate::exchange::Stop;
use crate::failure::Failure;
use foldhash::HashMap;
use sessions::Session;
use std::sync::Arc;
use weir_core::Batch;
use weir_core::keygroup::key_group;
use weir_core::window::{LATE_OUTPUT, TimeWindow, WindowDef, WindowTime};
use weir_state::{HashedKey, KeyedStateBackend, StateId, StateKind, TimerService, ValueSlot};
use weir_wasm::{CallError, FunctionInstance, WindowCall};
use weir_wire::{Entries, Entry, NO_TIMESTAMP, WindowGroupWriter, domain};

/// Largest input of one accumulate, emit or merge call; bigger ones are
/// split.
const MAX_CALL_BYTES: usize = 256 * 1024;

/// Window timers handled per round of firing.
const TIMERS_PER_ROUND: usize = 4096;

/// Backend state names (reserved: functions cannot declare `weir.*`).
const ACC_STATE: &str = "weir.window.acc";
const CONTENTS_STATE: &str = "weir.window.contents";
const SESSIONS_STATE: &str = "weir.window.sessions";

/// One (key, window) of a call.
struct Slot {
    kg: u16,
    /// Range of the key in `Slots::keys`.
    key: (u32, u32),
    /// Where the window's contents live.
    state: TimeWindow,
    /// The window's extent (differs from `state` for merged sessions).
    actual: TimeWindow,
    /// Emitting also removes the window's contents (its last firing).
    take: bool,
    /// The hash of the composite key and where its accumulator was read
    /// (so the accumulate call's write skips the lookup).
    found: Option<(u64, ValueSlot)>,
}

/// The (key, window) pairs of one call, keys copied into one arena.
#[derive(Default)]
struct Slots {
    keys: Vec<u8>,
    slots: Vec<Slot>,
}

impl Slots {
    fn clear(&mut self) {
        self.keys.clear();
        self.slots.clear();
    }

    fn push(&mut self, kg: u16, key: &[u8], state: TimeWindow, actual: TimeWindow) -> usize {
        self.push_slot(kg, key, state, actual, false)
    }

    fn push_slot(
        &mut self,
        kg: u16,
        key: &[u8],
        state: TimeWindow,
        actual: TimeWindow,
        take: bool,
    ) -> usize {
        let s = self.keys.len() as u32;
        self.keys.extend_from_slice(key);
        self.slots.push(Slot {
            kg,
            key: (s, self.keys.len() as u32),
            state,
            actual,
            take,
            found: None,
        });
        self.slots.len() - 1
    }

    fn key(&self, i: usize) -> &[u8] {
        let (s, e) = self.slots[i].key;
        &self.keys[s as usize..e as usize]
    }
}

/// A window operator.
pub(crate) struct WasmWindow {
    instance: FunctionInstance,
    def: WindowDef,
    /// Reduce / aggregate (an accumulator per window) or process-window
    /// (the elements).
    incremental: bool,
    backend: Box<dyn KeyedStateBackend>,
    acc: StateId,
    contents: StateId,
    sessions: StateId,
    timers: TimerService,
    max_parallelism: u32,
    clock: Arc<dyn Clock>,
    watermark: i64,
    buf: Vec<u8>,
    ck: Vec<u8>,
    scratch: Vec<u8>,
    assigned: Vec<TimeWindow>,
    slots: Slots,
    outcomes: Outcomes,
}

impl WasmWindow {
    pub(crate) fn new(
        instance: FunctionInstance,
        def: WindowDef,
        incremental: bool,
        mut backend: Box<dyn KeyedStateBackend>,
        max_parallelism: u32,
        clock: Arc<dyn Clock>,
        outcomes: Outcomes,
    ) -> Result<Self, Failure> {
        let acc = backend.register(ACC_STATE, StateKind::Value)?;
        let contents = backend.register(CONTENTS_STATE, StateKind::List)?;
        let sessions = backend.register(SESSIONS_STATE, StateKind::Value)?;
        Ok(WasmWindow {
            instance,
            def,
            incremental,
            backend,
            acc,
            contents,
            sessions,
            timers: TimerService::default(),
            max_parallelism,
            clock,
            watermark: i64::MIN,
            buf: Vec::new(),
            ck: Vec::new(),
            scratch: Vec::new(),
            assigned: Vec::new(),
            slots: Slots::default(),
            outcomes,
        })
    }

    fn event_time(&self) -> bool {
        self.def.time == WindowTime::Event
    }

    fn timer_domain(&self) -> u8 {
        if self.event_time() {
            domain::EVENT_TIME
        } else {
            domain::PROCESSING_TIME
        }
    }

    /// Whether a window is past its allowed lateness (event time only).
    fn is_late(&self, w: &TimeWindow) -> bool {
        self.event_time()
            && w.max_timestamp().saturating_add(self.def.allowed_lateness) <= self.watermark
    }

    /// The times a window's timers are set for: firing, and cleanup when
    /// it differs.
    fn timer_times(&self, w: &TimeWindow) -> (i64, Option<i64>) {
        let fire = w.max_timestamp();
        let cleanup = fire.saturating_add(self.def.allowed_lateness);
        (fire, (cleanup != fire).then_some(cleanup))
    }

    fn set_timers(
        &mut self,
        kg: u16,
        key: &[u8],
        w: TimeWindow,
        register: bool,
    ) -> Result<(), Failure> {
        composite(&mut self.ck, key, w);
        let d = self.timer_domain();
        let (fire, cleanup) = self.timer_times(&w);
        // A window already past the watermark fires on its records at
        // once (see `process`); a fire timer would fire it twice (Flink's
        // `EventTimeTrigger` registers none either).
        let fire = (!register || !self.event_time() || fire > self.watermark).then_some(fire);
        let timers = timer_store(self.backend.as_mut(), &mut self.timers);
        for t in fire.into_iter().chain(cleanup) {
            if register {
                timers.register(d, t, kg, &self.ck)?;
            } else {
                timers.delete(d, t, kg, &self.ck)?;
            }
        }
        Ok(())
    }

    fn load_sessions(&mut self, kg: u16, key: &[u8]) -> Result<Vec<Session>, Failure> {
        self.scratch.clear();
        if !self
            .backend
            .value_get_into(kg, self.sessions, key, &mut self.scratch)?
        {
            return Ok(Vec::new());
        }
        sessions::decode(&self.scratch).ok_or_else(|| {
            Failure::internal(format!(
                "corrupt session windows for key '{}'",
                String::from_utf8_lossy(key)
            ))
        })
    }

    fn store_sessions(&mut self, kg: u16, key: &[u8], s: &[Session]) -> Result<(), Failure> {
        if s.is_empty() {
            self.backend.value_delete(kg, self.sessions, key)?;
        } else {
            sessions::encode(s, &mut self.scratch);
            self.backend
                .value_put(kg, self.sessions, key, &self.scratch)?;
        }
        Ok(())
    }

    /// Calls the function and applies a result of accumulators: one
    /// value-state set (state 0) per slot.
    fn call_accumulators(&mut self, call: WindowCall) -> Result<(), Failure> {
        let now = self.clock.now_ms();
        let result = self.instance.window(call, &self.buf, self.watermark, now)?;
        for e in Entries::new(&result) {
            match e.map_err(bad)? {
                Entry::ValueSet {
                    slot,
                    state: 0,
                    value,
                } => {
                    let s = self.slots.slots.get(slot as usize).ok_or_else(|| {
                        Failure::from(CallError::BadResult(format!(
                            "accumulator for unknown window slot {slot}"
                        )))
                    })?;
                    let (kg, sw, found) = (s.kg, s.state, s.found);
                    composite(&mut self.ck, self.slots.key(slot as usize), sw);
                    match found {
                        Some((hash, at)) => {
                            let ck = HashedKey::prehashed(&self.ck, hash);
                            self.backend.value_put_at(kg, self.acc, ck, at, value)?;
                        }
                        None => self.backend.value_put(kg, self.acc, &self.ck, value)?,
                    }
                }
                _ => {
                    return Err(CallError::BadResult(
                        "a window function returned records or state other than accumulators when folding".into(),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Emits the windows of `self.slots` from their stored contents, in
    /// calls of bounded size.
    fn emit_slots(&mut self, out: &mut Emitter<'_>) -> Result<(), Stop> {
        let slots = std::mem::take(&mut self.slots);
        let mut first = 0;
        while first < slots.slots.len() {
            self.buf.clear();
            let mut last = first;
            while last < slots.slots.len() && self.buf.len() < MAX_CALL_BYTES {
                let s = &slots.slots[last];
                let key = slots.key(last);
                composite(&mut self.ck, key, s.state);
                if self.incremental {
                    self.scratch.clear();
                    let has = if s.take {
                        self.backend
                            .value_take_into(s.kg, self.acc, &self.ck, &mut self.scratch)?
                    } else {
                        self.backend
                            .value_get_into(s.kg, self.acc, &self.ck, &mut self.scratch)?
                    };
                    let acc = has.then_some(&self.scratch[..]);
                    let g = WindowGroupWriter::start(
                        &mut self.buf,
                        key,
                        s.actual.start,
                        s.actual.end,
                        acc,
                    );
                    g.finish(&mut self.buf);
                } else {
                    let elements = self.backend.list_get(s.kg, self.contents, &self.ck)?;
                    if s.take {
                        self.backend.clear(s.kg, self.contents, &self.ck)?;
                    }
                    let mut g = WindowGroupWriter::start(
                        &mut self.buf,
                        key,
                        s.actual.start,
                        s.actual.end,
                        None,
                    );
                    for e in &elements {
                        g.raw_record(&mut self.buf, e);
                    }
                    g.finish(&mut self.buf);
                }
                last += 1;
            }
            let now = self.clock.now_ms();
            let result = self
                .instance
                .window(WindowCall::Emit, &self.buf, self.watermark, now)
                .map_err(Failure::from)?;
            for e in Entries::new(&result) {
                match e.map_err(bad)? {
                    Entry::Main(r) => out.main.push_ref(&r),
                    Entry::Side { output, record } => {
                        self.outcomes.check_side(output)?;
                        out.side(output).push_ref(&record);
                    }
                    Entry::Failed { message, .. } => {
                        return Err(Failure::from(CallError::Function(message.to_owned())).into());
                    }
                    _ => {
                        return Err(Failure::from(CallError::BadResult(
                            "a window function returned state operations when emitting".into(),
                        ))
                        .into());
                    }
                }
            }
            out.pass_on_if_full()?;
            first = last;
        }
        self.slots = slots;
        self.slots.clear();
        Ok(())
    }

    /// Removes a window's contents.
    fn clear_window(&mut self, kg: u16, key: &[u8], state: TimeWindow) -> Result<(), Failure> {
        composite(&mut self.ck, key, state);
        if self.incremental {
            self.backend.value_delete(kg, self.acc, &self.ck)?;
        } else {
            self.backend.clear(kg, self.contents, &self.ck)?;
        }
        Ok(())
    }

    /// Moves the contents of `from` into `into` (merged sessions).
    fn absorb(
        &mut self,
        kg: u16,
        key: &[u8],
        into: TimeWindow,
        from: &[TimeWindow],
    ) -> Result<(), Failure> {
        if self.incremental {
            self.buf.clear();
            composite(&mut self.ck, key, into);
            self.scratch.clear();
            let has = self
                .backend
                .value_get_into(kg, self.acc, &self.ck, &mut self.scratch)?;
            let mut others = Vec::new();
            for f in from {
                composite(&mut self.ck, key, *f);
                let mut v = Vec::new();
                if self
                    .backend
                    .value_get_into(kg, self.acc, &self.ck, &mut v)?
                {
                    others.push(v);
                }
                self.backend.value_delete(kg, self.acc, &self.ck)?;
            }
            if others.is_empty() {
                return Ok(());
            }
            if !has {
                // Nothing stored yet under the target: take one over as is.
                let first = others.remove(0);
                composite(&mut self.ck, key, into);
                self.backend.value_put(kg, self.acc, &self.ck, &first)?;
                if others.is_empty() {
                    return Ok(());
                }
                self.scratch = first;
            }
            self.slots.clear();
            self.slots.push(kg, key, into, into);
            let mut g = WindowGroupWriter::start(
                &mut self.buf,
                key,
                into.start,
                into.end,
                Some(&self.scratch),
            );
            for o in &others {
                g.record(&mut self.buf, NO_TIMESTAMP, o);
            }
            g.finish(&mut self.buf);
            self.call_accumulators(WindowCall::Merge)?;
            self.slots.clear();
        } else {
            composite(&mut self.ck, key, into);
            let target = self.ck.clone();
            for f in from {
                composite(&mut self.ck, key, *f);
                let moved = self.backend.list_get(kg, self.contents, &self.ck)?;
                self.backend.clear(kg, self.contents, &self.ck)?;
                for m in &moved {
                    self.backend.list_add(kg, self.contents, &target, m)?;
                }
            }
        }
        Ok(())
    }

    /// Fires and clears the windows whose timers are due at `upto`, a
    /// round of timers at a time.
    fn fire(&mut self, upto: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        let d = self.timer_domain();
        let mut due = weir_state::DueTimers::default();
        loop {
            due.clear();
            timer_store(self.backend.as_mut(), &mut self.timers)
                .pop_due_into(d, upto, TIMERS_PER_ROUND, &mut due)
                .map_err(Failure::from)?;
            if due.is_empty() {
                return Ok(());
            }
            self.fire_round(&due, out)?;
        }
    }

    /// Fires and clears the windows of one round of due timers.
    fn fire_round(
        &mut self,
        due: &weir_state::DueTimers,
        out: &mut Emitter<'_>,
    ) -> Result<(), Stop> {
        let merging = self.def.assigner.is_merging();
        // Windows to clear after the emit: (timer, state window, window).
        let mut cleanups: Vec<(usize, TimeWindow, TimeWindow)> = Vec::new();
        self.slots.clear();
        for (n, (time, kg, ck)) in due.iter().enumerate() {
            let Some((key, actual)) = split_composite(ck) else {
                return Err(Failure::internal("corrupt window timer").into());
            };
            let state = if merging {
                match self
                    .load_sessions(kg, key)?
                    .into_iter()
                    .find(|s| s.window == actual)
                {
                    Some(s) => s.state,
                    None => continue, // the session merged into another
                }
            } else {
                actual
            };
            let (fire, cleanup) = self.timer_times(&actual);
            let is_fire = time == fire;
            let is_cleanup = time == cleanup.unwrap_or(fire);
            // The last firing of a plain window takes its contents along;
            // sessions also leave their key's set, below.
            let take = is_fire && is_cleanup && !merging;
            if is_fire {
                self.slots.push_slot(kg, key, state, actual, take);
            }
            if is_cleanup && !take {
                cleanups.push((n, state, actual));
            }
        }
        if !self.slots.slots.is_empty() {
            self.emit_slots(out)?;
        }
        for (n, state, actual) in cleanups {
            let Some((_, kg, ck)) = due.get(n) else {
                continue;
            };
            let Some((key, _)) = split_composite(ck) else {
                continue;
            };
            self.clear_window(kg, key, state)?;
            if merging {
                let mut s = self.load_sessions(kg, key)?;
                s.retain(|x| x.window != actual);
                self.store_sessions(kg, key, &s)?;
            }
        }
        Ok(())
    }
}

/// One record of a batch.
type Item<'a> = (&'a [u8], i64, &'a [u8]);

impl Operator for WasmWindow {
    fn call_stats(&self) -> Option<weir_wasm::CallStats> {
        Some(self.instance.stats())
    }

    fn process(&mut self, input: &Batch, out: &mut Emitter<'_>) -> Result<(), Stop> {
        if input.is_empty() {
            return Ok(());
        }
        let event = self.event_time();
        let now = self.clock.now_ms();
        let merging = self.def.assigner.is_merging();
        let mut items: Vec<Item<'_>> = Vec::with_capacity(input.len());
        // (record, key group, state window) per assignment.
        let mut pairs: Vec<(u32, u16, TimeWindow)> = Vec::with_capacity(input.len());
        // Per-batch cache of session sets, and where merged state went.
        let mut cache: HashMap<&[u8], (u16, Vec<Session>)> = HashMap::default();
        let mut moved: HashMap<(&[u8], TimeWindow), TimeWindow> = HashMap::default();
        for r in input.iter() {
            let r = r.map_err(bad)?;
            let ts = if event {
                if r.ts == NO_TIMESTAMP {
                    let message = format!(
                        "a record without an event timestamp reached an event-time window (key '{}'); give the source event_time",
                        String::from_utf8_lossy(r.key)
                    );
                    let rejected = Rejected {
                        ts: r.ts,
                        key: r.key,
                        value: r.value,
                        timer: false,
                    };
                    self.outcomes.rejected(out, message, &rejected)?;
                    continue;
                }
                r.ts
            } else {
                now
            };
            let i = items.len() as u32;
            items.push((r.key, r.ts, r.value));
            // Non-merging windows need the key group per group only (below).
            let kg = if merging {
                key_group(r.key, self.max_parallelism)
            } else {
                0
            };
            let mut assigned = std::mem::take(&mut self.assigned);
            assigned.clear();
            self.def.assigner.assign(ts, &mut assigned);
            let mut any = false;
            for &w in &assigned {
                if self.is_late(&w) {
                    continue;
                }
                any = true;
                if !merging {
                    pairs.push((i, kg, w));
                    continue;
                }
                if !cache.contains_key(r.key) {
                    let s = self.load_sessions(kg, r.key)?;
                    cache.insert(r.key, (kg, s));
                }
                let Some((_, set)) = cache.get_mut(r.key) else {
                    continue;
                };
                let m = sessions::add(set, w);
                for a in &m.absorbed {
                    moved.insert((r.key, *a), m.target);
                }
                for old in &m.retired {
                    self.set_timers(kg, r.key, *old, false)?;
                }
                self.set_timers(kg, r.key, m.window, true)?;
                pairs.push((i, kg, m.target));
            }
            self.assigned = assigned;
            if !any {
                out.side(LATE_OUTPUT).push(r.ts, r.key, r.value);
            }
        }

        // Sessions: store the sets, move absorbed contents, and send every
        // record to its session's final state window.
        let mut actual_of: HashMap<(&[u8], TimeWindow), TimeWindow> = HashMap::default();
        if merging {
            let resolve = |key: &[u8], mut w: TimeWindow| {
                while let Some(&next) = moved.get(&(key, w)) {
                    w = next;
                }
                w
            };
            let mut absorbed: Vec<(&[u8], u16, TimeWindow, Vec<TimeWindow>)> = Vec::new();
            for (&(key, from), _) in moved.iter() {
                let kg = cache.get(key).map_or(0, |c| c.0);
                let into = resolve(key, from);
                match absorbed.iter_mut().find(|a| a.0 == key && a.2 == into) {
                    Some(a) => a.3.push(from),
                    None => absorbed.push((key, kg, into, vec![from])),
                }
            }
            absorbed.sort_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)));
            for (key, kg, into, from) in absorbed {
                self.absorb(kg, key, into, &from)?;
            }
            for (key, (kg, set)) in &cache {
                self.store_sessions(*kg, key, set)?;
                for s in set {
                    actual_of.insert((*key, s.state), s.window);
                }
            }
            for p in &mut pairs {
                p.2 = resolve(items[p.0 as usize].0, p.2);
            }
        }

        // Group by (key, state window), first appearance first.
        let mut index: HashMap<(&[u8], TimeWindow), u32> =
            HashMap::with_capacity_and_hasher(pairs.len().min(4096), Default::default());
        let mut group_of: Vec<u32> = Vec::with_capacity(pairs.len());
        let mut firsts: Vec<usize> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        for (n, &(i, _, w)) in pairs.iter().enumerate() {
            let next = counts.len() as u32;
            let g = *index.entry((items[i as usize].0, w)).or_insert(next);
            if g == next {
                firsts.push(n);
                counts.push(0);
            }
            counts[g as usize] += 1;
            group_of.push(g);
        }
        let mut start: Vec<u32> = Vec::with_capacity(counts.len());
        let mut acc_n = 0;
        for c in &counts {
            start.push(acc_n);
            acc_n += c;
        }
        let mut order = vec![0u32; pairs.len()];
        let mut fill = start.clone();
        for (n, &g) in group_of.iter().enumerate() {
            order[fill[g as usize] as usize] = n as u32;
            fill[g as usize] += 1;
        }

        // Fold (or store) each group, noting windows that already fired;
        // accumulate calls are cut at MAX_CALL_BYTES (a record of a sliding
        // window is folded into every window it belongs to).
        self.slots.clear();
        self.buf.clear();
        let mut late_fire: Vec<(u16, Vec<u8>, TimeWindow, TimeWindow)> = Vec::new();
        for (g, &first) in firsts.iter().enumerate() {
            let (i, kg, state) = pairs[first];
            let key = items[i as usize].0;
            let kg = if merging {
                kg
            } else {
                key_group(key, self.max_parallelism)
            };
            let actual = if merging {
                actual_of.get(&(key, state)).copied().unwrap_or(state)
            } else {
                state
            };
            composite(&mut self.ck, key, state);
            let s = start[g] as usize;
            let members = &order[s..s + counts[g] as usize];
            if self.incremental {
                let at = self.slots.push(kg, key, state, actual);
                self.scratch.clear();
                let ck = HashedKey::new(&self.ck);
                let (has, found) = self
                    .backend
                    .value_get_for_update(kg, self.acc, ck, &mut self.scratch)
                    .map_err(Failure::from)?;
                self.slots.slots[at].found = Some((ck.hash(), found));
                let mut w = WindowGroupWriter::start(
                    &mut self.buf,
                    key,
                    actual.start,
                    actual.end,
                    has.then_some(&self.scratch[..]),
                );
                for &n in members {
                    let (_, ts, value) = items[pairs[n as usize].0 as usize];
                    w.record(&mut self.buf, ts, value);
                }
                w.finish(&mut self.buf);
                if !has && !merging {
                    self.set_timers(kg, key, state, true)?;
                }
            } else {
                for &n in members {
                    let (_, ts, value) = items[pairs[n as usize].0 as usize];
                    self.scratch.clear();
                    weir_wire::put_record_frame_body(&mut self.scratch, ts, value);
                    self.backend
                        .list_add(kg, self.contents, &self.ck, &self.scratch)
                        .map_err(Failure::from)?;
                }
                if !merging {
                    self.set_timers(kg, key, state, true)?;
                }
            }
            if self.event_time() && actual.max_timestamp() <= self.watermark {
                late_fire.push((kg, key.to_vec(), state, actual));
            }
            if self.incremental && self.buf.len() >= MAX_CALL_BYTES {
                self.call_accumulators(WindowCall::Accumulate)?;
                self.slots.clear();
                self.buf.clear();
            }
        }
        if self.incremental && !self.slots.slots.is_empty() {
            self.call_accumulators(WindowCall::Accumulate)?;
        }
        self.slots.clear();
        if !late_fire.is_empty() {
            for (kg, key, st, ac) in &late_fire {
                self.slots.push(*kg, key, *st, *ac);
                if self.slots.keys.len() >= MAX_CALL_BYTES {
                    self.emit_slots(out)?;
                }
            }
            self.emit_slots(out)?;
        }
        self.slots.clear();
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        self.watermark = watermark;
        if self.event_time() {
            self.fire(watermark, out)?;
        }
        Ok(())
    }

    fn wants_processing_time(&self) -> bool {
        !self.event_time()
            && timer_count(self.backend.as_ref(), &self.timers, domain::PROCESSING_TIME) > 0
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Emitter<'_>) -> Result<(), Stop> {
        if self.event_time()
            || timer_count(self.backend.as_ref(), &self.timers, domain::PROCESSING_TIME) == 0
        {
            return Ok(());
        }
        self.fire(now, out)
    }

    /// At the end of input, processing-time windows fire too (event-time
    /// ones fired when the watermark went to +∞).
    fn finish(&mut self, out: &mut Emitter<'_>) -> Result<(), Stop> {
        if !self.event_time() {
            self.fire(i64::MAX, out)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, ctx: &SnapshotCtx<'_>) -> Result<OpState, Failure> {
        snapshot_keyed(self.backend.as_mut(), &mut self.timers, ctx)
    }

    fn restore(&mut self, from: &[&weir_checkpoint::OperatorSnapshot]) -> Result<(), Failure> {
        restore_keyed(self.backend.as_mut(), &mut self.timers, from)
    }
}
