//! Keyed timers: unique per (domain, key, time), fired in time order.
//!
//! Timers are keyed state: each carries its key group, so they can be
//! snapshotted and redistributed with the rest of a sub-task's state.
//! Timers are bucketed by time: windows register one timer per key for the
//! same few times, so a hash set per time is much cheaper than one ordered
//! set over all timers. Within a time the order is unspecified (as in
//! Flink) but reproducible: the sets hash with a fixed seed.

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

    /// Removes and returns the timers with time ≤ `upto`, earliest first.
    pub fn pop_due(&mut self, domain: u8, upto: i64) -> Vec<Timer> {
        let Some(d) = self.domain(domain) else {
            return Vec::new();
        };
        let mut due = Vec::new();
        while d.buckets.first_key_value().is_some_and(|(&t, _)| t <= upto) {
            if let Some((time, bucket)) = d.buckets.pop_first() {
                d.len -= bucket.len();
                due.extend(bucket.into_iter().map(|(kg, key)| (time, kg, key)));
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
        let due = t.pop_due(0, 25);
        assert_eq!(due, vec![(10, 2, Box::<[u8]>::from(&b"b"[..]))]);
        assert_eq!(t.pop_due(0, i64::MAX).len(), 1);
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
            .pop_due(0, 7)
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
}
