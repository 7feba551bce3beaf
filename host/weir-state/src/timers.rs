//! Keyed timers: unique per (domain, key, time), fired in time order.
//!
//! Timers are keyed state: each carries its key group, so they can be
//! snapshotted and redistributed with the rest of a sub-task's state.

use std::collections::BTreeSet;

/// A timer: its time, key group and key.
pub type Timer = (i64, u16, Box<[u8]>);

/// The timers of one operator sub-task, per domain (0 event time, 1
/// processing time).
#[derive(Debug, Default)]
pub struct TimerService {
    domains: [BTreeSet<Timer>; 2],
}

impl TimerService {
    fn domain(&mut self, domain: u8) -> Option<&mut BTreeSet<Timer>> {
        self.domains.get_mut(usize::from(domain))
    }

    /// Registers a timer; registering an existing one changes nothing.
    pub fn register(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) {
        if let Some(d) = self.domain(domain) {
            d.insert((time, kg, key.into()));
        }
    }

    /// Deletes a timer, if present.
    pub fn delete(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) {
        if let Some(d) = self.domain(domain) {
            d.remove(&(time, kg, Box::<[u8]>::from(key)));
        }
    }

    /// Removes and returns the timers with time ≤ `upto`, earliest first.
    pub fn pop_due(&mut self, domain: u8, upto: i64) -> Vec<Timer> {
        let Some(d) = self.domain(domain) else {
            return Vec::new();
        };
        let mut due = Vec::new();
        while d.first().is_some_and(|t| t.0 <= upto) {
            if let Some(t) = d.pop_first() {
                due.push(t);
            }
        }
        due
    }

    /// Number of pending timers in a domain.
    pub fn len(&self, domain: u8) -> usize {
        self.domains
            .get(usize::from(domain))
            .map_or(0, BTreeSet::len)
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.domains.iter().all(BTreeSet::is_empty)
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
        assert_eq!(t.len(0), 2);
        let due = t.pop_due(0, 25);
        assert_eq!(due, vec![(10, 2, Box::<[u8]>::from(&b"b"[..]))]);
        assert_eq!(t.pop_due(0, i64::MAX).len(), 1);
        assert_eq!(t.len(1), 1, "domains are separate");
        assert!(!t.is_empty());
    }
}
