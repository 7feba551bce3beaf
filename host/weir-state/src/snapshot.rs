//! Keyed state in its canonical form: backend-independent, addressed by
//! key group, so that a snapshot can be restored on either backend and at
//! any parallelism (each sub-task keeps the entries of its key groups).

use crate::StateKind;
use serde::{Deserialize, Serialize};

/// Time-to-live of a state's entries (Flink's `StateTtlConfig`), measured
/// in processing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ttl {
    /// How long an entry lives after its last update, ms.
    pub millis: u64,
    /// Reads refresh the entry too (`OnReadAndWrite`), not only writes.
    pub refresh_on_read: bool,
}

/// A state as a function declared it: what snapshots record and restores
/// check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDesc {
    /// Name, unique per operator.
    pub name: String,
    /// Value, list or map.
    pub kind: StateKind,
    /// Time-to-live, if any.
    pub ttl: Option<Ttl>,
    /// What the values are (the SDK's codec name, e.g. `u64`, `json`);
    /// empty when unknown. A restore refuses a different codec.
    pub codec: String,
}

impl StateDesc {
    /// A descriptor without TTL or codec.
    pub fn new(name: &str, kind: StateKind) -> Self {
        StateDesc {
            name: name.to_owned(),
            kind,
            ttl: None,
            codec: String::new(),
        }
    }
}

/// One entry of keyed state. `state` indexes [`KeyedSnapshot::states`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateEntry {
    /// The value of a key.
    Value {
        /// Key group.
        kg: u16,
        /// State index.
        state: u32,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// The list of a key.
    List {
        /// Key group.
        kg: u16,
        /// State index.
        state: u32,
        /// Key.
        key: Vec<u8>,
        /// Elements in order.
        values: Vec<Vec<u8>>,
    },
    /// One entry of the map of a key.
    Map {
        /// Key group.
        kg: u16,
        /// State index.
        state: u32,
        /// Key.
        key: Vec<u8>,
        /// Map key.
        user_key: Vec<u8>,
        /// Map value.
        value: Vec<u8>,
    },
}

impl StateEntry {
    /// The entry's key group.
    pub fn key_group(&self) -> u16 {
        match self {
            StateEntry::Value { kg, .. }
            | StateEntry::List { kg, .. }
            | StateEntry::Map { kg, .. } => *kg,
        }
    }

    /// The entry's state index.
    pub fn state(&self) -> u32 {
        match self {
            StateEntry::Value { state, .. }
            | StateEntry::List { state, .. }
            | StateEntry::Map { state, .. } => *state,
        }
    }
}

/// All keyed state of one backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedSnapshot {
    /// Registered states.
    pub states: Vec<StateDesc>,
    /// Entries, ordered by key group.
    pub entries: Vec<StateEntry>,
}

/// A pending timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerEntry {
    /// 0 event time, 1 processing time.
    pub domain: u8,
    /// When it fires, ms.
    pub time: i64,
    /// Key group.
    pub kg: u16,
    /// Key.
    pub key: Vec<u8>,
}
