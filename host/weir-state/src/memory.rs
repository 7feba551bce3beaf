//! Keyed state in hash maps on the heap: the fastest backend, bounded by
//! memory.
//!
//! Each state keeps one hash map per key group behind an `Arc`, shared
//! copy-on-write with snapshots: taking a snapshot only clones the `Arc`s,
//! and the copying into canonical entries happens later on another thread
//! (`snapshot_deferred`). A key group written while a snapshot still holds
//! it is copied once (`Arc::make_mut`), as Flink's copy-on-write state
//! table does per entry.

use crate::hashed::{HashedKey, ValueSlot};
use crate::values::ValueTable;
use crate::{
    KeyedSnapshot, KeyedStateBackend, StateDesc, StateEntry, StateError, StateId, StateKind,
};
use foldhash::HashMap;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

type Key = Box<[u8]>;
type UserMap = BTreeMap<Vec<u8>, Vec<u8>>;
/// One state's entries, one shared map per key group.
type Groups<V> = Vec<Arc<HashMap<Key, V>>>;

#[derive(Clone)]
enum Table {
    Value(Vec<Arc<ValueTable>>),
    List(Groups<Vec<Vec<u8>>>),
    Map(Groups<UserMap>),
}

struct Registered {
    desc: StateDesc,
    table: Table,
}

/// In-memory keyed state for one operator sub-task.
pub struct MemoryBackend {
    range: RangeInclusive<u16>,
    states: Vec<Registered>,
}

/// Tables with at least this many entries are freed on a thread of their
/// own when the backend is dropped.
const FREE_ASIDE_ENTRIES: usize = 100_000;

/// Freeing millions of small entries one by one took a fifth of a
/// WordCount run over 5 M distinct words (glibc's `free` and
/// `malloc_consolidate`), after its last record. Large tables go to a
/// thread of their own, so the sub-task ends without waiting; a process
/// that exits meanwhile leaves the freeing to the operating system.
impl Drop for MemoryBackend {
    fn drop(&mut self) {
        if self.key_count() < FREE_ASIDE_ENTRIES {
            return;
        }
        let states = std::mem::take(&mut self.states);
        // Without a thread they are freed here, as before.
        let _ = std::thread::Builder::new()
            .name("weir-free-state".into())
            .spawn(move || drop(states));
    }
}

impl MemoryBackend {
    /// A backend owning the key groups `range`.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        MemoryBackend {
            range,
            states: Vec::new(),
        }
    }

    fn slot(&self, kg: u16) -> Result<usize, StateError> {
        if self.range.contains(&kg) {
            Ok(usize::from(kg - self.range.start()))
        } else {
            Err(StateError::KeyGroupOutOfRange {
                key_group: kg,
                start: *self.range.start(),
                end: *self.range.end(),
            })
        }
    }

    fn table(&self, state: StateId) -> Result<&Table, StateError> {
        self.states
            .get(state.0 as usize)
            .map(|r| &r.table)
            .ok_or(StateError::UnknownState(state))
    }

    fn table_mut(&mut self, state: StateId) -> Result<&mut Table, StateError> {
        self.states
            .get_mut(state.0 as usize)
            .map(|r| &mut r.table)
            .ok_or(StateError::UnknownState(state))
    }
}

fn groups<T: Default>(n: usize) -> Vec<Arc<T>> {
    (0..n).map(|_| Arc::new(T::default())).collect()
}

/// The key group's table, to write (copied first if a snapshot shares it).
#[inline]
fn w<T: Clone>(t: &mut [Arc<T>], g: usize) -> &mut T {
    Arc::make_mut(&mut t[g])
}

/// Hands the canonical entries of pinned tables to `sink`, state by state
/// and in key-group order within each.
fn stream_entries(
    first: u16,
    tables: &[Table],
    sink: &mut crate::EntrySink<'_>,
) -> Result<(), StateError> {
    for (i, table) in tables.iter().enumerate() {
        let state = i as u32;
        match table {
            Table::Value(t) => {
                for (g, kg) in t.iter().zip(first..) {
                    for e in g.iter() {
                        sink(StateEntry::Value {
                            kg,
                            state,
                            key: e.key().to_vec(),
                            value: e.value().to_vec(),
                        })?;
                    }
                }
            }
            Table::List(t) => {
                for (g, kg) in t.iter().zip(first..) {
                    for (k, v) in g.iter() {
                        sink(StateEntry::List {
                            kg,
                            state,
                            key: k.to_vec(),
                            values: v.clone(),
                        })?;
                    }
                }
            }
            Table::Map(t) => {
                for (g, kg) in t.iter().zip(first..) {
                    for (k, m) in g.iter() {
                        for (uk, v) in m {
                            sink(StateEntry::Map {
                                kg,
                                state,
                                key: k.to_vec(),
                                user_key: uk.clone(),
                                value: v.clone(),
                            })?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

impl KeyedStateBackend for MemoryBackend {
    fn key_groups(&self) -> RangeInclusive<u16> {
        self.range.clone()
    }

    fn register_desc(&mut self, desc: &StateDesc) -> Result<StateId, StateError> {
        if let Some(i) = self.states.iter().position(|s| s.desc.name == desc.name) {
            crate::check_compatible(&mut self.states[i].desc, desc)?;
            return Ok(StateId(i as u32));
        }
        let n = self.range.len();
        let table = match desc.kind {
            StateKind::Value => Table::Value(groups(n)),
            StateKind::List => Table::List(groups(n)),
            StateKind::Map => Table::Map(groups(n)),
        };
        self.states.push(Registered {
            desc: desc.clone(),
            table,
        });
        Ok(StateId(self.states.len() as u32 - 1))
    }

    fn states(&self) -> Vec<StateDesc> {
        self.states.iter().map(|s| s.desc.clone()).collect()
    }

    fn snapshot(&self) -> Result<KeyedSnapshot, StateError> {
        let mut s = self.snapshot_deferred()?.collect()?;
        s.entries.sort_by_key(StateEntry::key_group);
        Ok(s)
    }

    /// Pins the current tables (an `Arc` clone per key group and state);
    /// the entries are produced when the snapshot is streamed.
    fn snapshot_deferred(&self) -> Result<crate::DeferredSnapshot, StateError> {
        let tables: Vec<Table> = self.states.iter().map(|s| s.table.clone()).collect();
        let first = *self.range.start();
        Ok(crate::DeferredSnapshot::new(self.states(), move |sink| {
            stream_entries(first, &tables, sink)
        }))
    }

    #[inline]
    fn value_get_into(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        self.value_get_for_update(kg, state, HashedKey::new(key), out)
            .map(|(found, _)| found)
    }

    #[inline]
    fn value_get_for_update(
        &self,
        kg: u16,
        state: StateId,
        key: HashedKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(bool, ValueSlot), StateError> {
        let g = self.slot(kg)?;
        match self.table(state)? {
            Table::Value(t) => Ok(match t[g].get(key) {
                Some((v, slot)) => {
                    out.extend_from_slice(v);
                    (true, slot)
                }
                None => (false, ValueSlot::NONE),
            }),
            _ => Err(StateError::UnknownState(state)),
        }
    }

    #[inline]
    fn value_put_at(
        &mut self,
        kg: u16,
        state: StateId,
        key: HashedKey<'_>,
        slot: ValueSlot,
        value: &[u8],
    ) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::Value(t) => {
                w(t, g).put(key, slot, value);
                Ok(())
            }
            _ => Err(StateError::UnknownState(state)),
        }
    }

    #[inline]
    fn value_put(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.value_put_at(kg, state, HashedKey::new(key), ValueSlot::NONE, value)
    }

    fn value_delete(&mut self, kg: u16, state: StateId, key: &[u8]) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::Value(t) => {
                w(t, g).remove(HashedKey::new(key));
                Ok(())
            }
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn value_take_into(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        self.value_take_hashed(kg, state, HashedKey::new(key), out)
    }

    fn value_take_hashed(
        &mut self,
        kg: u16,
        state: StateId,
        key: HashedKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::Value(t) => Ok(match w(t, g).remove(key) {
                Some(e) => {
                    out.extend_from_slice(e.value());
                    true
                }
                None => false,
            }),
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn list_get(&self, kg: u16, state: StateId, key: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
        let g = self.slot(kg)?;
        match self.table(state)? {
            Table::List(t) => Ok(t[g].get(key).cloned().unwrap_or_default()),
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn list_add(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::List(t) => {
                let m = w(t, g);
                match m.get_mut(key) {
                    Some(l) => l.push(value.to_vec()),
                    None => {
                        m.insert(key.into(), vec![value.to_vec()]);
                    }
                }
                Ok(())
            }
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn list_update(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        values: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::List(t) => {
                if values.is_empty() {
                    w(t, g).remove(key);
                } else {
                    w(t, g).insert(key.into(), values);
                }
                Ok(())
            }
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn map_get(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        let g = self.slot(kg)?;
        match self.table(state)? {
            Table::Map(t) => Ok(t[g].get(key).and_then(|m| m.get(user_key)).cloned()),
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn map_put(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::Map(t) => {
                w(t, g)
                    .entry(key.into())
                    .or_default()
                    .insert(user_key.to_vec(), value.to_vec());
                Ok(())
            }
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn map_remove(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
    ) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::Map(t) => {
                let groups = w(t, g);
                if let Some(m) = groups.get_mut(key) {
                    m.remove(user_key);
                    if m.is_empty() {
                        groups.remove(key);
                    }
                }
                Ok(())
            }
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn map_entries(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
    ) -> Result<crate::MapEntries, StateError> {
        let g = self.slot(kg)?;
        match self.table(state)? {
            Table::Map(t) => Ok(t[g]
                .get(key)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()),
            _ => Err(StateError::UnknownState(state)),
        }
    }

    fn clear(&mut self, kg: u16, state: StateId, key: &[u8]) -> Result<(), StateError> {
        let g = self.slot(kg)?;
        match self.table_mut(state)? {
            Table::Value(t) => {
                w(t, g).remove(HashedKey::new(key));
            }
            Table::List(t) => {
                w(t, g).remove(key);
            }
            Table::Map(t) => {
                w(t, g).remove(key);
            }
        }
        Ok(())
    }

    fn key_count(&self) -> usize {
        self.states
            .iter()
            .map(|s| match &s.table {
                Table::Value(t) => t.iter().map(|m| m.len()).sum::<usize>(),
                Table::List(t) => t.iter().map(|m| m.len()).sum(),
                Table::Map(t) => t.iter().map(|m| m.len()).sum(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_list_and_map_state_per_key() {
        let mut b = MemoryBackend::new(4..=7);
        let v = b.register("v", StateKind::Value).expect("register");
        let l = b.register("l", StateKind::List).expect("register");
        let m = b.register("m", StateKind::Map).expect("register");
        assert_eq!(b.register("v", StateKind::Value).expect("again"), v);
        assert!(b.register("v", StateKind::List).is_err());

        let mut out = Vec::new();
        assert!(!b.value_get_into(5, v, b"k", &mut out).expect("get"));
        b.value_put(5, v, b"k", b"1").expect("put");
        b.value_put(5, v, b"k", b"22").expect("put");
        assert!(b.value_get_into(5, v, b"k", &mut out).expect("get"));
        assert_eq!(out, b"22");
        out.clear();
        assert!(
            !b.value_get_into(6, v, b"k", &mut out)
                .expect("other key group")
        );

        b.list_add(5, l, b"k", b"a").expect("add");
        b.list_add(5, l, b"k", b"b").expect("add");
        assert_eq!(
            b.list_get(5, l, b"k").expect("get"),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        b.list_update(5, l, b"k", vec![b"c".to_vec()])
            .expect("update");
        assert_eq!(b.list_get(5, l, b"k").expect("get"), vec![b"c".to_vec()]);

        b.map_put(5, m, b"k", b"z", b"1").expect("put");
        b.map_put(5, m, b"k", b"a", b"2").expect("put");
        assert_eq!(
            b.map_get(5, m, b"k", b"z").expect("get"),
            Some(b"1".to_vec())
        );
        assert_eq!(
            b.map_entries(5, m, b"k").expect("entries"),
            vec![
                (b"a".to_vec(), b"2".to_vec()),
                (b"z".to_vec(), b"1".to_vec())
            ]
        );
        b.map_remove(5, m, b"k", b"a").expect("remove");
        assert_eq!(b.map_entries(5, m, b"k").expect("entries").len(), 1);
        assert_eq!(b.key_count(), 3);
        b.clear(5, m, b"k").expect("clear");
        assert_eq!(b.key_count(), 2);
    }

    #[test]
    fn a_deferred_snapshot_is_the_state_when_it_was_taken() {
        let mut b = MemoryBackend::new(0..=3);
        let v = b.register("v", StateKind::Value).expect("register");
        let l = b.register("l", StateKind::List).expect("register");
        let m = b.register("m", StateKind::Map).expect("register");
        for kg in 0..4u16 {
            b.value_put(kg, v, b"k", &[kg as u8]).expect("put");
            b.list_add(kg, l, b"k", b"a").expect("add");
            b.map_put(kg, m, b"k", b"uk", b"1").expect("put");
        }
        let before = b.snapshot().expect("snapshot");
        let deferred = b.snapshot_deferred().expect("pin");
        // Writes after the pin, in every key group and every kind.
        for kg in 0..4u16 {
            b.value_put(kg, v, b"k", b"changed").expect("put");
            b.value_put(kg, v, b"new", b"x").expect("put");
            b.list_add(kg, l, b"k", b"b").expect("add");
            b.map_remove(kg, m, b"k", b"uk").expect("remove");
        }
        b.clear(2, v, b"k").expect("clear");
        // Materialized later, on another thread: the state as pinned.
        let mut pinned = std::thread::spawn(move || deferred.collect())
            .join()
            .expect("thread")
            .expect("snapshot");
        pinned.entries.sort_by_key(StateEntry::key_group);
        assert_eq!(pinned, before);
        // The live state has every write.
        let mut out = Vec::new();
        assert!(b.value_get_into(1, v, b"k", &mut out).expect("get"));
        assert_eq!(out, b"changed");
        assert_eq!(b.list_get(3, l, b"k").expect("get").len(), 2);
        assert_eq!(b.map_get(0, m, b"k", b"uk").expect("get"), None);
        let after = b.snapshot().expect("snapshot");
        assert_ne!(after, before);
    }

    #[test]
    fn foreign_key_group_is_rejected() {
        let mut b = MemoryBackend::new(0..=3);
        let v = b.register("v", StateKind::Value).expect("register");
        assert!(matches!(
            b.value_put(9, v, b"k", b"x"),
            Err(StateError::KeyGroupOutOfRange { key_group: 9, .. })
        ));
    }

    #[test]
    fn snapshot_restores_by_key_group_into_smaller_ranges() {
        let mut b = MemoryBackend::new(0..=7);
        let v = b.register("v", StateKind::Value).expect("register");
        let l = b.register("l", StateKind::List).expect("register");
        let m = b.register("m", StateKind::Map).expect("register");
        for kg in 0..8u16 {
            let key = [kg as u8];
            b.value_put(kg, v, &key, b"x").expect("put");
            b.list_add(kg, l, &key, b"a").expect("add");
            b.list_add(kg, l, &key, b"b").expect("add");
            b.map_put(kg, m, &key, b"uk", b"uv").expect("put");
        }
        let snap = b.snapshot().expect("snapshot");
        assert_eq!(snap.entries.len(), 24);
        assert!(
            snap.entries
                .windows(2)
                .all(|w| w[0].key_group() <= w[1].key_group())
        );

        // Two sub-tasks take over half each; together they hold it all.
        let mut halves = [MemoryBackend::new(0..=3), MemoryBackend::new(4..=7)];
        for h in &mut halves {
            h.restore(&snap).expect("restore");
        }
        assert_eq!(halves[0].key_count() + halves[1].key_count(), b.key_count());
        let l2 = halves[1]
            .register("l", StateKind::List)
            .expect("same state");
        assert_eq!(
            halves[1].list_get(5, l2, &[5]).expect("list"),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert!(matches!(
            halves[1].register("l", StateKind::Map),
            Err(StateError::KindMismatch { .. })
        ));
        let mut json = StateDesc::new("v", StateKind::Value);
        json.codec = "json".into();
        let mut c = MemoryBackend::new(0..=7);
        c.register_desc(&json).expect("first");
        json.codec = "u64".into();
        assert!(matches!(
            c.register_desc(&json),
            Err(StateError::Incompatible { .. })
        ));
    }
}
