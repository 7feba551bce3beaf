//! Value-state writes held in memory before they reach RocksDB.
//!
//! A keyed function typically reads a key's value and writes it back, and
//! hot keys are written again and again. Sending each write to RocksDB
//! costs a memtable insert at a random position (a skiplist walk with a
//! cache miss per level), and with many distinct keys that walk is most of
//! the time. Here writes are kept in a bounded hash map, read back from it
//! by later lookups, and written to the database in key order as one
//! batch when the map reaches its size or before anything reads the
//! database as a whole (snapshots, checkpoints, counts). Inserting sorted
//! keys lets the skiplist reuse most of the previous insert's path, and a
//! hot key reaches the database once per flush instead of once per write.
//!
//! The size is part of the process's memory budget (see [`crate::budget`]).

use foldhash::fast::FixedState;
use rocksdb::{DB, WriteBatch, WriteOptions};
use std::collections::HashMap;
use weir_state::{StateError, StateId};

/// What an entry costs beside its bytes: the map's slot, the two
/// allocations' headers and rounding (measured roughly, to keep the bound
/// honest rather than exact).
const ENTRY_OVERHEAD: usize = 96;

/// Buffered value writes: `state | kg | key` → the new value, or `None`
/// for a deletion.
pub(crate) struct WriteBuffer {
    entries: HashMap<Vec<u8>, Option<Vec<u8>>, FixedState>,
    bytes: usize,
    capacity: usize,
}

/// What a lookup in the buffer found.
pub(crate) enum Buffered<'a> {
    /// The key was written: its value.
    Value(&'a [u8]),
    /// The key was deleted.
    Deleted,
    /// Not in the buffer: ask the database.
    Absent,
}

impl WriteBuffer {
    /// An empty buffer that flushes past `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        WriteBuffer {
            entries: HashMap::with_hasher(FixedState::default()),
            bytes: 0,
            capacity,
        }
    }

    /// The bytes held now (approximate, as counted against the capacity).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The buffered write of `key` (`state | kg | key`, see
    /// [`buffer_key`]), if any.
    pub(crate) fn get(&self, key: &[u8]) -> Buffered<'_> {
        match self.entries.get(key) {
            Some(Some(v)) => Buffered::Value(v),
            Some(None) => Buffered::Deleted,
            None => Buffered::Absent,
        }
    }

    /// Records a write (`None` deletes); returns whether the buffer is now
    /// over its capacity and should be flushed.
    pub(crate) fn write(&mut self, key: &[u8], value: Option<&[u8]>) -> bool {
        let added = value.map_or(0, <[u8]>::len);
        if let Some(slot) = self.entries.get_mut(key) {
            let old = slot.as_ref().map_or(0, Vec::len);
            match (slot.as_mut(), value) {
                // Reuse the allocation of a value written before.
                (Some(buf), Some(v)) => {
                    buf.clear();
                    buf.extend_from_slice(v);
                }
                (_, v) => *slot = v.map(<[u8]>::to_vec),
            }
            self.bytes = self.bytes - old + added;
        } else {
            self.bytes += key.len() + added + ENTRY_OVERHEAD;
            self.entries.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        }
        self.bytes > self.capacity
    }

    /// Writes every buffered entry to `db` in key order, as one batch, and
    /// empties the buffer. `cf_of` names the column family of a state.
    pub(crate) fn flush<'c>(
        &mut self,
        db: &DB,
        write: &WriteOptions,
        cf_of: impl Fn(StateId) -> Result<&'c rocksdb::ColumnFamily, StateError>,
    ) -> Result<(), StateError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let mut all: Vec<(Vec<u8>, Option<Vec<u8>>)> = self.entries.drain().collect();
        self.bytes = 0;
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut batch = WriteBatch::default();
        let mut current: Option<(u32, &rocksdb::ColumnFamily)> = None;
        for (k, v) in &all {
            let (state, plain) = split_key(k)?;
            let cf = match current {
                Some((s, cf)) if s == state => cf,
                _ => {
                    let cf = cf_of(StateId(state))?;
                    current = Some((state, cf));
                    cf
                }
            };
            match v {
                Some(v) => batch.put_cf(cf, plain, v),
                None => batch.delete_cf(cf, plain),
            }
        }
        db.write_opt(batch, write)
            .map_err(|e| StateError::Storage(e.to_string()))
    }
}

/// `state | kg | key` into `out` (cleared first): the buffer's key; the
/// database's key is the part after the first four bytes.
pub(crate) fn buffer_key(out: &mut Vec<u8>, state: StateId, kg: u16, key: &[u8]) {
    out.clear();
    out.extend_from_slice(&state.0.to_be_bytes());
    out.extend_from_slice(&kg.to_be_bytes());
    out.extend_from_slice(key);
}

fn split_key(k: &[u8]) -> Result<(u32, &[u8]), StateError> {
    match k.split_first_chunk::<4>() {
        Some((state, plain)) => Ok((u32::from_be_bytes(*state), plain)),
        None => Err(StateError::Storage("corrupt buffered key".into())),
    }
}
