//! Host-side operators: Wasm transforms, Wasm keyed functions and sinks.

use crate::failure::Failure;
use foldhash::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use weir_connectors::SinkWriter;
use weir_core::keygroup::key_group;
use weir_core::{Batch, Outputs};
use weir_state::StateKind;
use weir_wasm::{CallError, FunctionInstance, KeyedScope, StateBinding};
use weir_wire::{Entries, Entry, GroupWriter};

/// One step of a chain.
pub(crate) trait Operator: Send {
    /// Processes a batch, appending to `out`.
    fn process(&mut self, input: &Batch, out: &mut Outputs) -> Result<(), Failure>;
    /// Called when the operator's event-time watermark advances (to
    /// `i64::MAX` at the end of input).
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Outputs) -> Result<(), Failure> {
        Ok(())
    }
    /// Called once at the end of input.
    fn finish(&mut self, _out: &mut Outputs) -> Result<(), Failure> {
        Ok(())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn bad(e: weir_wire::WireError) -> Failure {
    CallError::BadResult(e.to_string()).into()
}

/// A map, flat-map or filter in Wasm.
pub(crate) struct WasmTransform {
    pub(crate) instance: FunctionInstance,
    pub(crate) watermark: i64,
}

impl Operator for WasmTransform {
    fn process(&mut self, input: &Batch, out: &mut Outputs) -> Result<(), Failure> {
        if input.is_empty() {
            return Ok(());
        }
        let result = self
            .instance
            .process_batch(input.bytes(), self.watermark, now_ms())?;
        for e in Entries::new(&result) {
            match e.map_err(bad)? {
                Entry::Main(r) => out.main.push_ref(&r),
                Entry::Side { output, record } => out.side(output).push_ref(&record),
                Entry::ValueSet { .. } | Entry::ValueClear { .. } => {
                    return Err(CallError::BadResult(
                        "a stateless function returned a state write".into(),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Outputs) -> Result<(), Failure> {
        self.watermark = watermark;
        Ok(())
    }
}

/// A reduce, aggregate or keyed process function in Wasm, with its keyed
/// state in the backend held by the instance's store.
pub(crate) struct WasmKeyed {
    pub(crate) instance: FunctionInstance,
    pub(crate) max_parallelism: u32,
    /// Declared ids of the value states, in the order groups carry them.
    pub(crate) value_states: Vec<u32>,
    watermark: i64,
    buffer: Vec<u8>,
    scratch: Vec<u8>,
}

impl WasmKeyed {
    pub(crate) fn new(mut instance: FunctionInstance, max_parallelism: u32) -> Self {
        let value_states = instance
            .scope_mut()
            .map(|s| {
                s.bindings
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.kind == StateKind::Value)
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .unwrap_or_default();
        WasmKeyed {
            instance,
            max_parallelism,
            value_states,
            watermark: i64::MIN,
            buffer: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Groups the batch by key (first-appearance order, record order kept
    /// within a key) and writes the keyed input buffer with each key's value
    /// states.
    fn build_input(&mut self, input: &Batch) -> Result<(), Failure> {
        let mut records: Vec<(i64, &[u8])> = Vec::with_capacity(input.len());
        let mut group_of: Vec<u32> = Vec::with_capacity(input.len());
        let mut index: HashMap<&[u8], u32> =
            HashMap::with_capacity_and_hasher(input.len().min(4096), Default::default());
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        for r in input.iter() {
            let r = r.map_err(bad)?;
            let next = keys.len() as u32;
            let g = *index.entry(r.key).or_insert(next);
            if g == next {
                keys.push(r.key);
                counts.push(0);
            }
            counts[g as usize] += 1;
            group_of.push(g);
            records.push((r.ts, r.value));
        }
        // Counting sort of records by group.
        let mut start: Vec<u32> = Vec::with_capacity(counts.len());
        let mut acc = 0;
        for c in &counts {
            start.push(acc);
            acc += c;
        }
        let mut order: Vec<u32> = vec![0; records.len()];
        let mut fill = start.clone();
        for (i, &g) in group_of.iter().enumerate() {
            order[fill[g as usize] as usize] = i as u32;
            fill[g as usize] += 1;
        }

        let scope = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::user("keyed function without keyed state"))?;
        scope.clear_slots();
        self.buffer.clear();
        for (g, key) in keys.iter().enumerate() {
            let kg = key_group(key, self.max_parallelism);
            scope.push_slot(kg, key);
            let mut w = GroupWriter::start(&mut self.buffer, key);
            for &declared in &self.value_states {
                let id = scope.bindings[declared as usize].id;
                self.scratch.clear();
                if scope
                    .backend
                    .value_get_into(kg, id, key, &mut self.scratch)?
                {
                    w.state(&mut self.buffer, Some(&self.scratch));
                } else {
                    w.state(&mut self.buffer, None);
                }
            }
            w.begin_records(&mut self.buffer);
            let s = start[g] as usize;
            for &i in &order[s..s + counts[g] as usize] {
                let (ts, value) = records[i as usize];
                w.record(&mut self.buffer, ts, value);
            }
            w.finish(&mut self.buffer);
        }
        Ok(())
    }
}

impl Operator for WasmKeyed {
    fn process(&mut self, input: &Batch, out: &mut Outputs) -> Result<(), Failure> {
        if input.is_empty() {
            return Ok(());
        }
        self.build_input(input)?;
        let result = self
            .instance
            .process_batch(&self.buffer, self.watermark, now_ms())?;
        let KeyedScope {
            backend,
            bindings,
            slots,
            keys,
        } = self
            .instance
            .scope_mut()
            .ok_or_else(|| Failure::user("keyed function without keyed state"))?;
        for e in Entries::new(&result) {
            match e.map_err(bad)? {
                Entry::Main(r) => out.main.push_ref(&r),
                Entry::Side { output, record } => out.side(output).push_ref(&record),
                Entry::ValueSet { slot, state, value } => {
                    let (kg, key, id) = resolve(bindings, slots, keys, slot, state)?;
                    backend.value_put(kg, id, key, value)?;
                }
                Entry::ValueClear { slot, state } => {
                    let (kg, key, id) = resolve(bindings, slots, keys, slot, state)?;
                    backend.value_delete(kg, id, key)?;
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Outputs) -> Result<(), Failure> {
        self.watermark = watermark;
        Ok(())
    }
}

/// The key group, key and backend state of a value-state mutation.
fn resolve<'k>(
    bindings: &[StateBinding],
    slots: &[(u16, u32, u32)],
    keys: &'k [u8],
    slot: u32,
    state: u32,
) -> Result<(u16, &'k [u8], weir_state::StateId), Failure> {
    let &(kg, s, e) = slots.get(slot as usize).ok_or_else(|| {
        Failure::from(CallError::BadResult(format!(
            "state write for unknown key slot {slot}"
        )))
    })?;
    let binding = bindings
        .get(state as usize)
        .filter(|b| b.kind == StateKind::Value)
        .ok_or_else(|| {
            Failure::from(CallError::BadResult(format!(
                "value-state write to undeclared or non-value state {state}"
            )))
        })?;
    Ok((kg, &keys[s as usize..e as usize], binding.id))
}

/// A sink at the end of a chain.
pub(crate) struct SinkOperator {
    pub(crate) writer: Box<dyn SinkWriter>,
}

impl Operator for SinkOperator {
    fn process(&mut self, input: &Batch, _out: &mut Outputs) -> Result<(), Failure> {
        self.writer.write(input)?;
        Ok(())
    }

    fn finish(&mut self, _out: &mut Outputs) -> Result<(), Failure> {
        self.writer.finish()?;
        Ok(())
    }
}
