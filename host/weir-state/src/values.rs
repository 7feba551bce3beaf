//! The in-memory backend's value-state tables.
//!
//! Each entry is one allocation holding the key and the value (a first
//! write used to allocate them separately), filed in a `hashbrown` table
//! with the key's full hash beside it: growing the table never rereads
//! keys, a probe compares hashes before bytes, and a value read for update
//! can be written back through its bucket ([`ValueSlot`]) without a second
//! lookup.

use crate::hashed::{HashedKey, ValueSlot};
use hashbrown::HashTable;

/// A key and its value in one allocation: `[key length u32 LE][key][value]`.
#[derive(Clone)]
pub(crate) struct ValueEntry(Box<[u8]>);

impl ValueEntry {
    fn new(key: &[u8], value: &[u8]) -> Self {
        let mut b = Vec::with_capacity(4 + key.len() + value.len());
        b.extend_from_slice(&(key.len() as u32).to_le_bytes());
        b.extend_from_slice(key);
        b.extend_from_slice(value);
        ValueEntry(b.into_boxed_slice())
    }

    #[inline]
    fn key_len(&self) -> usize {
        let mut n = [0u8; 4];
        n.copy_from_slice(&self.0[..4]);
        u32::from_le_bytes(n) as usize
    }

    /// The entry's key.
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        &self.0[4..4 + self.key_len()]
    }

    /// The entry's value.
    #[inline]
    pub(crate) fn value(&self) -> &[u8] {
        &self.0[4 + self.key_len()..]
    }

    /// Replaces the value: in place when the length is unchanged (fixed
    /// width counters and accumulators), else in a new allocation.
    #[inline]
    fn set(&mut self, value: &[u8]) {
        let at = 4 + self.key_len();
        if self.0.len() - at == value.len() {
            self.0[at..].copy_from_slice(value);
        } else {
            *self = ValueEntry::new(self.key(), value);
        }
    }
}

/// One key group's values of one state.
#[derive(Clone, Default)]
pub(crate) struct ValueTable {
    table: HashTable<(u64, ValueEntry)>,
}

impl ValueTable {
    #[inline]
    fn bucket(&self, k: HashedKey<'_>) -> Option<usize> {
        self.table
            .find_bucket_index(k.hash(), |(h, e)| *h == k.hash() && e.key() == k.key())
    }

    /// The value of `k`, with the bucket it is in.
    #[inline]
    pub(crate) fn get(&self, k: HashedKey<'_>) -> Option<(&[u8], ValueSlot)> {
        let i = self.bucket(k)?;
        let (_, e) = self.table.get_bucket(i)?;
        Some((e.value(), ValueSlot(i as u32 + 1)))
    }

    /// Sets the value of `k`, through `slot` when it still holds `k`.
    #[inline]
    pub(crate) fn put(&mut self, k: HashedKey<'_>, slot: ValueSlot, value: &[u8]) {
        if let Some(i) = slot.0.checked_sub(1)
            && let Some((h, e)) = self.table.get_bucket_mut(i as usize)
            && *h == k.hash()
            && e.key() == k.key()
        {
            e.set(value);
            return;
        }
        let same = |(h, e): &(u64, ValueEntry)| *h == k.hash() && e.key() == k.key();
        if let Some((_, e)) = self.table.find_mut(k.hash(), same) {
            e.set(value);
            return;
        }
        let entry = (k.hash(), ValueEntry::new(k.key(), value));
        self.table.insert_unique(k.hash(), entry, |e| e.0);
    }

    /// Removes `k`, returning its entry.
    #[inline]
    pub(crate) fn remove(&mut self, k: HashedKey<'_>) -> Option<ValueEntry> {
        let i = self.bucket(k)?;
        let entry = self.table.get_bucket_entry(i).ok()?;
        Some(entry.remove().0.1)
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ValueEntry> {
        self.table.iter().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_set_read_replaced_and_removed() {
        let mut t = ValueTable::default();
        let (a, b) = (HashedKey::new(b"a"), HashedKey::new(b"bb"));
        assert!(t.get(a).is_none());
        t.put(a, ValueSlot::NONE, b"1");
        t.put(b, ValueSlot::NONE, b"");
        let (v, slot) = t.get(a).expect("a");
        assert_eq!(v, b"1");
        t.put(a, slot, b"2");
        assert_eq!(t.get(a).map(|x| x.0), Some(&b"2"[..]));
        t.put(a, slot, b"longer");
        assert_eq!(t.get(a).map(|x| x.0), Some(&b"longer"[..]));
        assert_eq!(t.get(b).map(|x| x.0), Some(&b""[..]));
        assert_eq!(t.len(), 2);
        let e = t.remove(a).expect("removed");
        assert_eq!((e.key(), e.value()), (&b"a"[..], &b"longer"[..]));
        assert!(t.get(a).is_none() && t.remove(a).is_none());
        assert_eq!(t.len(), 1);
    }

    /// A slot is a hint: one made stale by growth, removal or a slot of
    /// another key writes the right key all the same.
    #[test]
    fn stale_slots_write_the_right_key() {
        let mut t = ValueTable::default();
        let keys: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        t.put(HashedKey::new(&keys[0]), ValueSlot::NONE, b"x");
        let (_, slot0) = t.get(HashedKey::new(&keys[0])).expect("0");
        for k in &keys[1..] {
            // Every insert through key 0's slot: growth moves key 0.
            t.put(HashedKey::new(k), slot0, k);
        }
        t.put(HashedKey::new(&keys[0]), slot0, b"y");
        assert_eq!(t.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            let want: &[u8] = if i == 0 { b"y" } else { k };
            assert_eq!(t.get(HashedKey::new(k)).map(|x| x.0), Some(want));
        }
        let (_, slot5) = t.get(HashedKey::new(&keys[5])).expect("5");
        t.remove(HashedKey::new(&keys[5]));
        t.put(HashedKey::new(&keys[6]), slot5, b"six");
        assert!(t.get(HashedKey::new(&keys[5])).is_none());
        assert_eq!(
            t.get(HashedKey::new(&keys[6])).map(|x| x.0),
            Some(&b"six"[..])
        );
        assert_eq!(t.len(), keys.len() - 1);
    }
}
