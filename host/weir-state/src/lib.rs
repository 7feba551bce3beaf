//! Keyed state backends.
//!
//! Keyed state is addressed by (key group, state, key[, user key]) so that it
//! can be snapshotted and redistributed by key group when a job is rescaled.
//! A backend serves one operator sub-task and owns a contiguous range of key
//! groups. This crate has the trait and the in-memory backend; RocksDB
//! implements the same trait.

mod memory;
mod timers;

pub use memory::MemoryBackend;
pub use timers::{Timer, TimerService};

use std::ops::RangeInclusive;

/// Entries of a map state: (user key, value) pairs ordered by user key.
pub type MapEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The kind of a registered state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Keyed state storage for one operator sub-task.
pub trait KeyedStateBackend: Send {
    /// The key groups this backend owns.
    fn key_groups(&self) -> RangeInclusive<u16>;

    /// Registers a state by name (idempotent for the same name and kind).
    fn register(&mut self, name: &str, kind: StateKind) -> Result<StateId, StateError>;

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
}
