//! Keyed timers: unique per (domain, key, time), fired in time order.
//!
//! Timers are keyed state: each carries its key group, so they can be
//! snapshotted and redistributed with the rest of a sub-task's state.
//! Timers are bucketed by time: windows register one timer per key for the
//! same few times, so a hash set per time is much cheaper than one ordered
//! set over all timers. Within a time the order is unspecified (as in
//! Flink) but reproducible: the sets hash with a fixed seed. A bucket keeps
//! its keys in one buffer, so registering a timer allocates nothing of its
//! own, and a due bucket moves to the firing operator whole.

use crate::StateError;
use crate::due::DueTimers;
use foldhash::fast::FixedState;
use hashbrown::HashTable;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

/// A timer: its time, key group and key.
pub type Timer = (i64, u16, Box<[u8]>);

/// One timer of a bucket: its key is `keys[start..start + len]`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    kg: u16,
    start: usize,
    len: usize,
}

/// The timers of one time.
#[derive(Debug, Default)]
struct Bucket {
    keys: Vec<u8>,
    set: HashTable<Slot>,
    /// Key bytes of live timers (the rest of `keys` was deleted).
    live_bytes: usize,
}

impl Slot {
    /// This timer's key, in its bucket's `keys`.
    #[inline]
    fn key<'k>(&self, keys: &'k [u8]) -> &'k [u8] {
        &keys[self.start..self.start + self.len]
    }

    /// Whether this is the timer of (`kg`, `key`), hashed to `hash`.
    #[inline]
    fn is(&self, keys: &[u8], hash: u64, kg: u16, key: &[u8]) -> bool {
        self.hash == hash && self.kg == kg && self.key(keys) == key
    }
}

/// Fixed seed: the order within a time is the same from run to run.
fn timer_hash(kg: u16, key: &[u8]) -> u64 {
    FixedState::with_seed(0).hash_one((kg, key))
}

impl Bucket {
    /// Adds a timer; false if it was there.
    fn insert(&mut self, kg: u16, key: &[u8]) -> bool {
        let hash = timer_hash(kg, key);
        let Bucket { keys, set, .. } = self;
        if set.find(hash, |s| s.is(keys, hash, kg, key)).is_some() {
            return false;
        }
        let start = keys.len();
        keys.extend_from_slice(key);
        set.insert_unique(
            hash,
            Slot {
                hash,
                kg,
                start,
                len: key.len(),
            },
            |s| s.hash,
        );
        self.live_bytes += key.len();
        true
    }

    /// Removes a timer; false if it was not there.
    fn remove(&mut self, kg: u16, key: &[u8]) -> bool {
        let hash = timer_hash(kg, key);
        let Bucket { keys, set, .. } = self;
        let Ok(entry) = set.find_entry(hash, |s| s.is(keys, hash, kg, key)) else {
            return false;
        };
        entry.remove();
        self.live_bytes -= key.len();
        if self.keys.len() > 4096 && self.keys.len() > 2 * self.live_bytes {
            self.compact();
        }
        true
    }

    /// Drops the bytes of deleted timers' keys.
    fn compact(&mut self) {
        let mut keys = Vec::with_capacity(self.live_bytes);
        for s in self.set.iter_mut() {
            let start = keys.len();
            keys.extend_from_slice(s.key(&self.keys));
            s.start = start;
        }
        self.keys = keys;
    }

    fn len(&self) -> usize {
        self.set.len()
    }
}

#[derive(Debug, Default)]
struct Domain {
    buckets: BTreeMap<i64, Bucket>,
    len: usize,
}

/// The timers of one operator sub-task, per domain (0 event time, 1
/// processing time).
#[derive(Debug, Default)]
pub struct TimerService {
    domains: [Domain; 2],
}

impl TimerService {
    fn domain(&mut self, domain: u8) -> Option<&mut Domain> {
        self.domains.get_mut(usize::from(domain))
    }

    /// Registers a timer; registering an existing one changes nothing.
    pub fn register(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) {
        if let Some(d) = self.domain(domain)
            && d.buckets.entry(time).or_default().insert(kg, key)
        {
            d.len += 1;
        }
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) {
        if let Some(d) = self.domain(domain)
            && let Some(bucket) = d.buckets.get_mut(&time)
            && bucket.remove(kg, key)
        {
            d.len -= 1;
            if bucket.len() == 0 {
                d.buckets.remove(&time);
            }
        }
    }

    /// Removes and returns up to `max` timers with time ≤ `upto`, earliest
    /// first.
    pub fn pop_due(&mut self, domain: u8, upto: i64, max: usize) -> Vec<Timer> {
        let mut due = DueTimers::default();
        self.pop_due_into(domain, upto, max, &mut due);
        due.iter().map(|(t, kg, k)| (t, kg, k.into())).collect()
    }

    /// Moves up to `max` timers with time ≤ `upto` into `due`, earliest
    /// first: a whole due bucket's keys move over without a copy.
    pub fn pop_due_into(&mut self, domain: u8, upto: i64, max: usize, due: &mut DueTimers) {
        let Some(d) = self.domain(domain) else {
            return;
        };
        let mut taken = 0;
        while taken < max
            && let Some(mut entry) = d.buckets.first_entry()
            && *entry.key() <= upto
        {
            let time = *entry.key();
            let room = max - taken;
            if entry.get().len() <= room {
                let bucket = entry.remove();
                d.len -= bucket.len();
                taken += bucket.len();
                let slots = bucket.set.into_iter().map(|s| (time, s.kg, s.start, s.len));
                due.extend_from(bucket.keys, slots);
            } else {
                // Taken out in place (a window's bucket can hold millions
                // of keys); a dropped `extract_if` keeps what it did not
                // reach.
                let bucket = entry.get_mut();
                let Bucket {
                    keys,
                    set,
                    live_bytes,
                } = bucket;
                for s in set.extract_if(|_| true).take(room) {
                    due.push(time, s.kg, s.key(keys));
                    *live_bytes -= s.len;
                    taken += 1;
                    d.len -= 1;
                }
            }
        }
    }

    /// The earliest pending time in a domain.
    pub fn next_time(&self, domain: u8) -> Option<i64> {
        self.domains
            .get(usize::from(domain))
            .and_then(|d| d.buckets.first_key_value().map(|(&t, _)| t))
    }

    /// Number of pending timers in a domain.
    pub fn len(&self, domain: u8) -> usize {
        self.domains.get(usize::from(domain)).map_or(0, |d| d.len)
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.domains.iter().all(|d| d.len == 0)
    }

    /// Every pending timer of a domain, in time order (for snapshots).
    pub fn iter(&self, domain: u8) -> impl Iterator<Item = (i64, u16, &[u8])> {
        self.domains
            .get(usize::from(domain))
            .into_iter()
            .flat_map(|d| d.buckets.iter())
            .flat_map(|(&t, b)| b.set.iter().map(move |s| (t, s.kg, s.key(&b.keys))))
    }
}

/// Where a keyed operator's timers live: in memory ([`TimerService`]), or
/// in the state backend (RocksDB keeps them in a column family, so a job
/// with tens of millions of keyed timers stays within its memory budget).
pub trait TimerStore {
    /// Registers a timer; registering an existing one changes nothing.
    fn register(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) -> Result<(), StateError>;
    /// Deletes a timer, if present.
    fn delete(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) -> Result<(), StateError>;
    /// Removes and returns up to `max` timers with time ≤ `upto`, earliest
    /// first.
    fn pop_due(&mut self, domain: u8, upto: i64, max: usize) -> Result<Vec<Timer>, StateError>;
    /// Moves up to `max` timers with time ≤ `upto` into `due`, earliest
    /// first (what firing operators use: no allocation per timer where the
    /// store can help it).
    fn pop_due_into(
        &mut self,
        domain: u8,
        upto: i64,
        max: usize,
        due: &mut DueTimers,
    ) -> Result<(), StateError> {
        for (time, kg, key) in self.pop_due(domain, upto, max)? {
            due.push(time, kg, &key);
        }
        Ok(())
    }
    /// Number of pending timers in a domain.
    fn count(&self, domain: u8) -> usize;
    /// Every pending timer, for a canonical snapshot.
    fn entries(&mut self) -> Result<Vec<crate::TimerEntry>, StateError>;
    /// Registers the timers of `entries` whose key group is in `range`.
    fn restore(
        &mut self,
        entries: &[crate::TimerEntry],
        range: &std::ops::RangeInclusive<u16>,
    ) -> Result<(), StateError> {
        for t in entries.iter().filter(|t| range.contains(&t.kg)) {
            self.register(t.domain, t.time, t.kg, &t.key)?;
        }
        Ok(())
    }
}

impl TimerStore for TimerService {
    fn register(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) -> Result<(), StateError> {
        TimerService::register(self, domain, time, kg, key);
        Ok(())
    }
    fn delete(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) -> Result<(), StateError> {
        TimerService::delete(self, domain, time, kg, key);
        Ok(())
    }
    fn pop_due(&mut self, domain: u8, upto: i64, max: usize) -> Result<Vec<Timer>, StateError> {
        Ok(TimerService::pop_due(self, domain, upto, max))
    }
    fn pop_due_into(
        &mut self,
        domain: u8,
        upto: i64,
        max: usize,
        due: &mut DueTimers,
    ) -> Result<(), StateError> {
        TimerService::pop_due_into(self, domain, upto, max, due);
        Ok(())
    }
    fn count(&self, domain: u8) -> usize {
        self.len(domain)
    }
    fn entries(&mut self) -> Result<Vec<crate::TimerEntry>, StateError> {
        Ok(self.snapshot())
    }
}

impl TimerService {
    /// Every pending timer, for a snapshot.
    pub fn snapshot(&self) -> Vec<crate::TimerEntry> {
        let mut out = Vec::with_capacity(self.len(0) + self.len(1));
        for domain in 0..2u8 {
            out.extend(self.iter(domain).map(|(time, kg, key)| crate::TimerEntry {
                domain,
                time,
                kg,
                key: key.to_vec(),
            }));
        }
        out
    }

    /// Registers the timers of `entries` whose key group is in `range`.
    pub fn restore(
        &mut self,
        entries: &[crate::TimerEntry],
        range: &std::ops::RangeInclusive<u16>,
    ) {
        for t in entries {
            if range.contains(&t.kg) {
                self.register(t.domain, t.time, t.kg, &t.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_are_unique_ordered_and_deletable() {
        let mut t = TimerService::default();
        t.register(0, 30, 1, b"a");
        t.register(0, 10, 2, b"b");
        t.register(0, 10, 2, b"b");
        t.register(0, 20, 1, b"a");
        t.register(1, 5, 1, b"a");
        t.delete(0, 20, 1, b"a");
        t.delete(0, 99, 1, b"a");
        assert_eq!(t.len(0), 2);
        assert_eq!(t.next_time(0), Some(10));
        let due = t.pop_due(0, 25, usize::MAX);
        assert_eq!(due, vec![(10, 2, Box::<[u8]>::from(&b"b"[..]))]);
        assert_eq!(t.pop_due(0, i64::MAX, usize::MAX).len(), 1);
        assert_eq!(t.len(1), 1, "domains are separate");
        assert!(!t.is_empty());
    }

    #[test]
    fn same_time_fires_every_timer_once() {
        let mut t = TimerService::default();
        for k in [&b"c"[..], b"a", b"b", b"a"] {
            t.register(0, 7, 3, k);
        }
        t.register(0, 7, 1, b"z");
        let mut keys: Vec<(u16, Vec<u8>)> = t
            .pop_due(0, 7, usize::MAX)
            .into_iter()
            .map(|(_, kg, k)| (kg, k.to_vec()))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                (1, b"z".to_vec()),
                (3, b"a".to_vec()),
                (3, b"b".to_vec()),
                (3, b"c".to_vec())
            ]
        );
        assert!(t.is_empty());
    }

    /// Many deletes in one time compact its key buffer; what is left is
    /// exactly what a plain set says, through partial and whole rounds.
    #[test]
    fn a_bucket_after_many_deletes_holds_exactly_the_live_timers() {
        let mut t = TimerService::default();
        let mut want = std::collections::BTreeSet::new();
        for i in 0..20_000u32 {
            let key = format!("key-{i}");
            t.register(0, 7, (i % 5) as u16, key.as_bytes());
            want.insert(((i % 5) as u16, key.into_bytes()));
            if i % 3 != 0 {
                let key = format!("key-{}", i / 2);
                let kg = ((i / 2) % 5) as u16;
                t.delete(0, 7, kg, key.as_bytes());
                want.remove(&(kg, key.into_bytes()));
            }
        }
        assert_eq!(t.len(0), want.len());
        let mut got = std::collections::BTreeSet::new();
        let mut due = DueTimers::default();
        loop {
            due.clear();
            t.pop_due_into(0, 7, 999, &mut due);
            if due.is_empty() {
                break;
            }
            assert!(due.len() <= 999);
            for (time, kg, key) in due.iter() {
                assert_eq!(time, 7);
                assert!(got.insert((kg, key.to_vec())), "fired twice");
            }
        }
        assert_eq!(got, want);
        assert!(t.is_empty());
    }

    #[test]
    fn due_timers_come_in_rounds_of_at_most_max() {
        let mut t = TimerService::default();
        for k in 0..10u8 {
            t.register(0, 5, 1, &[k]);
        }
        t.register(0, 3, 1, b"early");
        t.register(0, 9, 1, b"late");
        let first = t.pop_due(0, 6, 4);
        assert_eq!(first.len(), 4);
        assert_eq!(first[0], (3, 1, Box::<[u8]>::from(&b"early"[..])));
        let mut rest = Vec::new();
        loop {
            let round = t.pop_due(0, 6, 4);
            if round.is_empty() {
                break;
            }
            assert!(round.len() <= 4);
            rest.extend(round);
        }
        assert_eq!(first.len() + rest.len(), 11, "every due timer once");
        let mut keys: Vec<_> = first
            .iter()
            .chain(&rest)
            .map(|(_, _, k)| k.clone())
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 11);
        assert_eq!(t.len(0), 1, "the later timer stays");
    }
}
