//! Canonical snapshots of a RocksDB database: every entry of every state,
//! decoded from the column families' key layout.

use crate::{MemoryBudget, cf_name, cf_options, decode_elements, options, scan_options, storage};
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode};
use std::path::PathBuf;
use weir_state::{EntrySink, StateDesc, StateEntry, StateError, StateKind};

/// Every entry of `states` (by id) in `db`, in key-group order.
pub(crate) fn entries(db: &DB, states: &[StateDesc]) -> Result<Vec<StateEntry>, StateError> {
    let mut entries = Vec::new();
    stream(db, states, &mut |e| {
        entries.push(e);
        Ok(())
    })?;
    entries.sort_by_key(StateEntry::key_group);
    Ok(entries)
}

/// Hands every entry of `states` (by id) in `db` to `sink`, state by
/// state, in key-group order within each.
pub(crate) fn stream(
    db: &DB,
    states: &[StateDesc],
    sink: &mut EntrySink<'_>,
) -> Result<(), StateError> {
    for (i, d) in states.iter().enumerate() {
        let state = i as u32;
        let name = cf_name(&d.name);
        let cf = db
            .cf_handle(&name)
            .ok_or_else(|| StateError::Storage(format!("no column family {name}")))?;
        for item in db.iterator_cf_opt(cf, scan_options(), IteratorMode::Start) {
            let (k, v) = item.map_err(storage)?;
            if k.len() < 2 {
                return Err(StateError::Storage("corrupt key".into()));
            }
            let kg = u16::from_be_bytes([k[0], k[1]]);
            match d.kind {
                StateKind::Value => sink(StateEntry::Value {
                    kg,
                    state,
                    key: k[2..].to_vec(),
                    value: v.to_vec(),
                })?,
                StateKind::List => sink(StateEntry::List {
                    kg,
                    state,
                    key: k[2..].to_vec(),
                    values: decode_elements(&v)?,
                })?,
                StateKind::Map => {
                    if k.len() < 6 {
                        return Err(StateError::Storage("corrupt map key".into()));
                    }
                    let len = u32::from_be_bytes([k[2], k[3], k[4], k[5]]) as usize;
                    if k.len() < 6 + len {
                        return Err(StateError::Storage("corrupt map key".into()));
                    }
                    sink(StateEntry::Map {
                        kg,
                        state,
                        key: k[6..6 + len].to_vec(),
                        user_key: k[6 + len..].to_vec(),
                        value: v.to_vec(),
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// A checkpoint of the database pinned for a snapshot; removed when
/// dropped, whether it was read or not (its checkpoint failed).
pub(crate) struct Pinned(pub(crate) PathBuf);

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Streams a pinned checkpoint of the database to `sink` (opened
/// read-only, with the merge operator lists need).
pub(crate) fn read_pinned(
    pinned: &Pinned,
    states: &[StateDesc],
    budget: &MemoryBudget,
    sink: &mut EntrySink<'_>,
) -> Result<(), StateError> {
    let cfs = states
        .iter()
        .map(|d| ColumnFamilyDescriptor::new(cf_name(&d.name), cf_options(Some(d.kind), budget)));
    let db = DB::open_cf_descriptors_read_only(&options(budget), &pinned.0, cfs, false)
        .map_err(storage)?;
    stream(&db, states, sink)
}
