//! Typed handles to managed keyed state.
//!
//! State lives in the host's state backend, not in guest memory, so it
//! survives instance restarts and is checkpointed by the host. Value states
//! arrive with each key group and are written back in the batch result;
//! list and map states are read and written through host calls.

use crate::{Data, Error, Result};
use std::cell::RefCell;
use std::marker::PhantomData;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Value,
    List,
    Map,
}

/// A state declared in `open`.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) codec: String,
    pub(crate) ttl: Option<StateTtl>,
}

/// How long a state's entries live (Flink's `StateTtlConfig`), in the
/// host's processing time. Expired entries read as absent and are removed
/// as they are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    /// Lifetime after the last write (or read, with `refresh_on_read`).
    pub duration: std::time::Duration,
    /// Reads keep entries alive too (Flink's `OnReadAndWrite`). A value
    /// state counts as read when its key's records are processed.
    pub refresh_on_read: bool,
}

impl StateTtl {
    /// Entries expire `duration` after they were last written.
    pub fn after_write(duration: std::time::Duration) -> Self {
        StateTtl {
            duration,
            refresh_on_read: false,
        }
    }

    /// Entries expire `duration` after they were last read or written.
    pub fn after_access(duration: std::time::Duration) -> Self {
        StateTtl {
            duration,
            refresh_on_read: true,
        }
    }
}

/// The current key's state while a key group is processed.
#[derive(Default)]
pub(crate) struct Scope {
    pub(crate) active: bool,
    pub(crate) slot: u32,
    /// Value of each declared state id (only value states are used).
    pub(crate) values: Vec<Option<Vec<u8>>>,
    pub(crate) dirty: Vec<bool>,
    /// Timer registrations and deletions: (entry tag, domain, time).
    pub(crate) timers: Vec<(u8, u8, i64)>,
}

thread_local! {
    pub(crate) static SCOPE: RefCell<Scope> = RefCell::new(Scope::default());
}

fn no_scope() -> Error {
    Error::msg("keyed state is only available while a keyed function processes a record")
}

fn with_scope<R>(f: impl FnOnce(&mut Scope) -> Result<R>) -> Result<R> {
    SCOPE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.active {
            return Err(no_scope());
        }
        f(&mut s)
    })
}

/// Records a timer operation for the current key.
pub(crate) fn timer_op(op: u8, domain: u8, time: i64) -> Result<()> {
    with_scope(|s| {
        s.timers.push((op, domain, time));
        Ok(())
    })
}

fn current_slot() -> Result<u32> {
    with_scope(|s| Ok(s.slot))
}

/// A single value per key (Flink's `ValueState`).
pub struct ValueState<T> {
    id: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T: Data> ValueState<T> {
    pub(crate) fn new(id: u32) -> Self {
        ValueState {
            id,
            _t: PhantomData,
        }
    }

    fn index(&self, s: &Scope) -> Result<usize> {
        let i = self.id as usize;
        if i < s.values.len() {
            Ok(i)
        } else {
            Err(no_scope())
        }
    }

    /// The current key's value, if set.
    pub fn get(&self) -> Result<Option<T>> {
        with_scope(|s| {
            let i = self.index(s)?;
            s.values[i].as_deref().map(T::decode).transpose()
        })
    }

    /// Sets the current key's value.
    pub fn set(&self, value: &T) -> Result<()> {
        with_scope(|s| {
            let i = self.index(s)?;
            // Encode after the old value, which stays if encoding fails.
            let was_set = s.values[i].is_some();
            let buf = s.values[i].get_or_insert_with(Vec::new);
            let old = buf.len();
            match value.encode(buf) {
                Ok(()) => {
                    buf.drain(..old);
                    s.dirty[i] = true;
                    Ok(())
                }
                Err(e) => {
                    buf.truncate(old);
                    if !was_set {
                        s.values[i] = None;
                    }
                    Err(e)
                }
            }
        })
    }

    /// Removes the current key's value.
    pub fn clear(&self) -> Result<()> {
        with_scope(|s| {
            let i = self.index(s)?;
            s.values[i] = None;
            s.dirty[i] = true;
            Ok(())
        })
    }
}

/// A list of values per key (Flink's `ListState`).
pub struct ListState<T> {
    id: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T: Data> ListState<T> {
    pub(crate) fn new(id: u32) -> Self {
        ListState {
            id,
            _t: PhantomData,
        }
    }

    /// All elements for the current key, in insertion order.
    pub fn get(&self) -> Result<Vec<T>> {
        let slot = current_slot()?;
        crate::rt::host::list_get(self.id, slot)
            .iter()
            .map(|b| T::decode(b))
            .collect()
    }

    /// Appends an element for the current key.
    pub fn add(&self, value: &T) -> Result<()> {
        let slot = current_slot()?;
        let mut b = Vec::new();
        value.encode(&mut b)?;
        crate::rt::host::list_add(self.id, slot, &b);
        Ok(())
    }

    /// Replaces all elements for the current key.
    pub fn update(&self, values: &[T]) -> Result<()> {
        let slot = current_slot()?;
        let encoded: Vec<Vec<u8>> = values
            .iter()
            .map(|v| {
                let mut b = Vec::new();
                v.encode(&mut b).map(|()| b)
            })
            .collect::<Result<_>>()?;
        crate::rt::host::list_update(self.id, slot, &encoded);
        Ok(())
    }

    /// Removes all elements for the current key.
    pub fn clear(&self) -> Result<()> {
        let slot = current_slot()?;
        crate::rt::host::list_clear(self.id, slot);
        Ok(())
    }
}

/// A map of user keys to values per key (Flink's `MapState`).
pub struct MapState<K, V> {
    id: u32,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Data, V: Data> MapState<K, V> {
    pub(crate) fn new(id: u32) -> Self {
        MapState {
            id,
            _t: PhantomData,
        }
    }

    fn encode_key(key: &K) -> Result<Vec<u8>> {
        let mut b = Vec::new();
        key.encode(&mut b)?;
        Ok(b)
    }

    /// The value under `key` for the current key.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let slot = current_slot()?;
        crate::rt::host::map_get(self.id, slot, &Self::encode_key(key)?)
            .as_deref()
            .map(V::decode)
            .transpose()
    }

    /// Whether `key` is present for the current key.
    pub fn contains(&self, key: &K) -> Result<bool> {
        let slot = current_slot()?;
        Ok(crate::rt::host::map_get(self.id, slot, &Self::encode_key(key)?).is_some())
    }

    /// Sets the value under `key` for the current key.
    pub fn put(&self, key: &K, value: &V) -> Result<()> {
        let slot = current_slot()?;
        let mut v = Vec::new();
        value.encode(&mut v)?;
        crate::rt::host::map_put(self.id, slot, &Self::encode_key(key)?, &v);
        Ok(())
    }

    /// Removes `key` for the current key.
    pub fn remove(&self, key: &K) -> Result<()> {
        let slot = current_slot()?;
        crate::rt::host::map_remove(self.id, slot, &Self::encode_key(key)?);
        Ok(())
    }

    /// All entries for the current key, ordered by encoded key bytes.
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let slot = current_slot()?;
        crate::rt::host::map_entries(self.id, slot)
            .into_iter()
            .map(|(k, v)| Ok((K::decode(&k)?, V::decode(&v)?)))
            .collect()
    }

    /// Removes all entries for the current key.
    pub fn clear(&self) -> Result<()> {
        let slot = current_slot()?;
        crate::rt::host::map_clear(self.id, slot);
        Ok(())
    }
}
