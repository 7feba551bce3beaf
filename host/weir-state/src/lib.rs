//! Keyed state backends.
//!
//! Keyed state is addressed by (key group, state, key[, user key]) so that it
//! can be snapshotted and redistributed by key group when a job is rescaled.
//! A backend serves one operator sub-task and owns a contiguous range of key
//! groups. This crate has the trait and the in-memory backend; RocksDB
//! implements the same trait.

mod due;
mod hashed;
mod memory;
mod snapshot;
mod timers;
pub mod ttl;
mod values;

pub use due::DueTimers;
pub use hashed::{HashedKey, ValueSlot, key_hash};
pub use memory::MemoryBackend;
pub use snapshot::{KeyedSnapshot, StateDesc, StateEntry, TimerEntry, Ttl};

pub use timers::{Timer, TimerService, TimerStore};

use std::ops::RangeInclusive;

/// An immutable data file of a native checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// Its name in the staging directory.
    pub name: String,
    /// Where the checkpoint store already has it (relative to its shared
    /// directory), when the backend was restored from it; new files are
    /// uploaded under the backend instance's own directory.
    pub existing: Option<String>,
}

/// A backend's own checkpoint: files in a local staging directory that the
/// checkpoint copies (only files it does not have yet: incremental).
#[derive(Debug, Clone)]
pub struct NativeCheckpoint {
    /// The staging directory holding the files.
    pub dir: std::path::PathBuf,
    /// A name unique to this backend instance: new shared files go under
    /// it (file names are only unique within one instance).
    pub instance: String,
    /// Immutable data files (RocksDB SSTs), shared between checkpoints.
    pub shared: Vec<SharedFile>,
    /// Small files owned by this checkpoint (MANIFEST, CURRENT, OPTIONS).
    pub private: Vec<String>,
    /// The registered states.
    pub states: Vec<StateDesc>,
    /// The key groups the backend holds.
    pub key_groups: (u16, u16),
}

/// Entries of a map state: (user key, value) pairs ordered by user key.
pub type MapEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The kind of a registered state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StateKind {
    /// One value per key.
    Value,
    /// A list per key.
    List,
    /// A map per key.
    Map,
}

/// A state registered with a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateId(pub u32);

/// A state access that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state was registered with another kind.
    #[error("state '{name}' is a {registered:?} state, not a {requested:?} state")]
    KindMismatch {
        /// State name.
        name: String,
        /// Kind it has.
        registered: StateKind,
        /// Kind asked for.
        requested: StateKind,
    },
    /// The id was never registered, or used with the wrong kind.
    #[error("unknown state id {0:?} for this access")]
    UnknownState(StateId),
    /// The key group is not owned by this backend.
    #[error("key group {key_group} is outside this sub-task's range {start}..={end}")]
    KeyGroupOutOfRange {
        /// Requested key group.
        key_group: u16,
        /// First owned.
        start: u16,
        /// Last owned.
        end: u16,
    },
    /// The storage failed (RocksDB, disk).
    #[error("state storage failed: {0}")]
    Storage(String),
    /// A restored state does not match what the function declares now.
    #[error("state '{name}': {message}")]
    Incompatible {
        /// State name.
        name: String,
        /// How it differs.
        message: String,
    },
}

/// Receives a snapshot's entries one at a time.
pub type EntrySink<'a> = dyn FnMut(StateEntry) -> Result<(), StateError> + 'a;

type WriteEntries = Box<dyn FnOnce(&mut EntrySink<'_>) -> Result<(), StateError> + Send>;

/// A pinned snapshot (see [`KeyedStateBackend::snapshot_deferred`]): its
/// states now, its entries streamed when [`DeferredSnapshot::stream`]
/// runs, so that a snapshot larger than memory never has to be held whole.
pub struct DeferredSnapshot {
    states: Vec<StateDesc>,
    write: WriteEntries,
}

impl DeferredSnapshot {
    /// A snapshot of `states` whose entries `write` produces later, state
    /// by state and in key-group order within each state.
    pub fn new(
        states: Vec<StateDesc>,
        write: impl FnOnce(&mut EntrySink<'_>) -> Result<(), StateError> + Send + 'static,
    ) -> Self {
        DeferredSnapshot {
            states,
            write: Box::new(write),
        }
    }

    /// A snapshot built already.
    pub fn ready(snapshot: KeyedSnapshot) -> Self {
        let KeyedSnapshot { states, entries } = snapshot;
        Self::new(states, move |sink| entries.into_iter().try_for_each(sink))
    }

    /// The registered states.
    pub fn states(&self) -> &[StateDesc] {
        &self.states
    }

    /// Hands every entry to `sink`; returns the states.
    pub fn stream(self, sink: &mut EntrySink<'_>) -> Result<Vec<StateDesc>, StateError> {
        (self.write)(sink)?;
        Ok(self.states)
    }

    /// Every entry, in memory (small states and tests).
    pub fn collect(self) -> Result<KeyedSnapshot, StateError> {
        let mut entries = Vec::new();
        let states = self.stream(&mut |e| {
            entries.push(e);
            Ok(())
        })?;
        Ok(KeyedSnapshot { states, entries })
    }
}

/// Keyed state storage for one operator sub-task.
pub trait KeyedStateBackend: Send {
    /// The key groups this backend owns.
    fn key_groups(&self) -> RangeInclusive<u16>;

    /// Registers a state by name (idempotent for the same name and kind).
    fn register(&mut self, name: &str, kind: StateKind) -> Result<StateId, StateError> {
        self.register_desc(&StateDesc::new(name, kind))
    }

    /// Registers a state with its full descriptor. A state restored under
    /// the same name must have the same kind and codec.
    fn register_desc(&mut self, desc: &StateDesc) -> Result<StateId, StateError>;

    /// The registered states, by id.
    fn states(&self) -> Vec<StateDesc>;

    /// Every entry, in the canonical form (full snapshot; savepoints, and
    /// checkpoints of backends without a native format).
    fn snapshot(&self) -> Result<KeyedSnapshot, StateError>;

    /// A canonical snapshot whose copying can happen later, on another
    /// thread: the backend pins the current state now (cheaply, where it
    /// can) and the closure builds the entries. By default the snapshot is
    /// taken eagerly.
    fn snapshot_deferred(&self) -> Result<DeferredSnapshot, StateError> {
        Ok(DeferredSnapshot::ready(self.snapshot()?))
    }

    /// Loads the entries of `snapshot` that belong to this backend's key
    /// groups, registering its states.
    fn restore(&mut self, snapshot: &KeyedSnapshot) -> Result<(), StateError> {
        let declared = self.states();
        let mut ids = Vec::with_capacity(snapshot.states.len());
        for d in &snapshot.states {
            // The snapshot says how the state is stored; the function (if
            // it registered first) how it is declared now.
            if let Some(now) = declared.iter().find(|c| c.name == d.name) {
                check_compatible(&mut d.clone(), now)?;
            }
            ids.push(self.register_desc(d)?);
        }
        let range = self.key_groups();
        for e in &snapshot.entries {
            if !range.contains(&e.key_group()) {
                continue;
            }
            let id = *ids
                .get(e.state() as usize)
                .ok_or(StateError::UnknownState(StateId(e.state())))?;
            match e {
                StateEntry::Value { kg, key, value, .. } => self.value_put(*kg, id, key, value)?,
                StateEntry::List {
                    kg, key, values, ..
                } => self.list_update(*kg, id, key, values.clone())?,
                StateEntry::Map {
                    kg,
                    key,
                    user_key,
                    value,
                    ..
                } => self.map_put(*kg, id, key, user_key, value)?,
            }
        }
        Ok(())
    }

    /// Appends the value of `key` to `out`; returns whether it exists.
    fn value_get_into(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError>;
    /// Sets the value of `key`.
    fn value_put(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError>;
    /// Removes the value of `key`.
    fn value_delete(&mut self, kg: u16, state: StateId, key: &[u8]) -> Result<(), StateError>;

    /// Reads the value of `key` for an update later in the same batch:
    /// appends it to `out` and returns whether it exists, with a slot that
    /// lets [`KeyedStateBackend::value_put_at`] skip its lookup (backends
    /// without slots return [`ValueSlot::NONE`]).
    fn value_get_for_update(
        &self,
        kg: u16,
        state: StateId,
        key: HashedKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(bool, ValueSlot), StateError> {
        let found = self.value_get_into(kg, state, key.key(), out)?;
        Ok((found, ValueSlot::NONE))
    }

    /// Sets the value of `key` through a slot from
    /// [`KeyedStateBackend::value_get_for_update`]; a stale slot costs a
    /// lookup, never a wrong write.
    fn value_put_at(
        &mut self,
        kg: u16,
        state: StateId,
        key: HashedKey<'_>,
        _slot: ValueSlot,
        value: &[u8],
    ) -> Result<(), StateError> {
        self.value_put(kg, state, key.key(), value)
    }

    /// [`KeyedStateBackend::value_take_into`] of a key hashed already.
    fn value_take_hashed(
        &mut self,
        kg: u16,
        state: StateId,
        key: HashedKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        self.value_take_into(kg, state, key.key(), out)
    }

    /// Removes the value of `key`, appending it to `out`; returns whether
    /// it existed.
    fn value_take_into(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        let found = self.value_get_into(kg, state, key, out)?;
        if found {
            self.value_delete(kg, state, key)?;
        }
        Ok(found)
    }

    /// All elements of the list of `key`.
    fn list_get(&self, kg: u16, state: StateId, key: &[u8]) -> Result<Vec<Vec<u8>>, StateError>;
    /// Appends to the list of `key`.
    fn list_add(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError>;
    /// Replaces the list of `key` (empty removes it).
    fn list_update(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        values: Vec<Vec<u8>>,
    ) -> Result<(), StateError>;

    /// The value under `user_key` in the map of `key`.
    fn map_get(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError>;
    /// Sets `user_key` in the map of `key`.
    fn map_put(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError>;
    /// Removes `user_key` from the map of `key`.
    fn map_remove(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
    ) -> Result<(), StateError>;
    /// All entries of the map of `key`, ordered by user key bytes.
    fn map_entries(&self, kg: u16, state: StateId, key: &[u8]) -> Result<MapEntries, StateError>;
    /// Removes the whole map (or list, or value) of `key`.
    fn clear(&mut self, kg: u16, state: StateId, key: &[u8]) -> Result<(), StateError>;

    /// Number of keys with state, over all states (for metrics and tests).
    fn key_count(&self) -> usize;

    /// The backend's own timer store, when it keeps the timers of its
    /// operator itself (RocksDB: in a column family, inside its native
    /// checkpoints); `None`: the operator keeps them in memory.
    fn timers_mut(&mut self) -> Option<&mut dyn TimerStore> {
        None
    }

    /// [`KeyedStateBackend::timers_mut`], to read.
    fn timers(&self) -> Option<&dyn TimerStore> {
        None
    }

    /// For a checkpoint: the backend's own incremental format, written into
    /// `staging`, or `None` when it has none (the checkpoint then takes the
    /// canonical [`KeyedStateBackend::snapshot`]).
    fn native_checkpoint(
        &mut self,
        _staging: &std::path::Path,
    ) -> Result<Option<NativeCheckpoint>, StateError> {
        Ok(None)
    }
}

/// Checks that a state declared again (by a new build of a function, or
/// after a restore) matches the registered one; fills in what the earlier
/// registration did not know (a codec, a TTL setting).
pub fn check_compatible(registered: &mut StateDesc, new: &StateDesc) -> Result<(), StateError> {
    if registered.kind != new.kind {
        return Err(StateError::KindMismatch {
            name: new.name.clone(),
            registered: registered.kind,
            requested: new.kind,
        });
    }
    if !registered.codec.is_empty() && !new.codec.is_empty() && registered.codec != new.codec {
        return Err(StateError::Incompatible {
            name: new.name.clone(),
            message: format!(
                "its values were written as {} and the function now reads them as {}; keep the type, or migrate the state under a new name",
                registered.codec, new.codec
            ),
        });
    }
    if registered.ttl.is_some() != new.ttl.is_some() {
        return Err(StateError::Incompatible {
            name: new.name.clone(),
            message: format!(
                "it was stored {} a time-to-live and is now declared {} one; entries cannot be converted",
                if registered.ttl.is_some() {
                    "with"
                } else {
                    "without"
                },
                if new.ttl.is_some() { "with" } else { "without" },
            ),
        });
    }
    if registered.codec.is_empty() {
        registered.codec = new.codec.clone();
    }
    registered.ttl = new.ttl;
    Ok(())
}
