//! Keyed timers: unique per (domain, key, time), fired in time order.
//!
//! Timers are keyed state: each carries its key group, so they can be
//! snapshotted and redistributed with the rest of a sub-task's state.
//! Timers are bucketed by time: windows register one timer per key for the
//! same few times, so a hash set per time is much cheaper than one ordered
//! set over all timers. Within a time the order is unspecified (as in
//! Flink) but reproducible: the sets hash with a fixed seed.

use crate::StateError;
use foldhash::fast::FixedState;
use std::collections::{BTreeMap, HashSet};

/// A timer: its time, key group and key.
pub type Timer = (i64, u16, Box<[u8]>);

type Bucket = HashSet<(u16, Box<[u8]>), FixedState>;

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
        if let Some(d) = self.domain(domain) {
            let bucket = d
                .buckets
                .entry(time)
                .or_insert_with(|| Bucket::with_capacity_and_hasher(16, FixedState::with_seed(0)));
            if bucket.insert((kg, key.into())) {
                d.len += 1;
            }
        }
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) {
        if let Some(d) = self.domain(domain)
            && let Some(bucket) = d.buckets.get_mut(&time)
            && bucket.remove(&(kg, Box::<[u8]>::from(key)))
        {
            d.len -= 1;
            if bucket.is_empty() {
                d.buckets.remove(&time);
            }
        }
    }

    /// Removes and returns up to `max` timers with time ≤ `upto`, earliest
    /// first.
    pub fn pop_due(&mut self, domain: u8, upto: i64, max: usize) -> Vec<Timer> {
        let Some(d) = self.domain(domain) else {
            return Vec::new();
        };
        let mut due = Vec::new();
        while due.len() < max
            && let Some(mut entry) = d.buckets.first_entry()
            && *entry.key() <= upto
        {
            let time = *entry.key();
            let room = max - due.len();
            if entry.get().len() <= room {
                let bucket = entry.remove();
                d.len -= bucket.len();
                due.extend(bucket.into_iter().map(|(kg, key)| (time, kg, key)));
            } else {
                // Taken out in place: no clone and no second lookup per
                // timer (a window's bucket can hold millions of keys).
                // A dropped `extract_if` keeps what it did not reach.
                let taken = entry.get_mut().extract_if(|_| true).take(room);
                let before = due.len();
                due.extend(taken.map(|(kg, key)| (time, kg, key)));
                d.len -= due.len() - before;
            }
        }
        due
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
            .flat_map(|(&t, b)| b.iter().map(move |(kg, k)| (t, *kg, &k[..])))
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
