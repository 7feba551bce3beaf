//! A job's live metrics on the coordinator: the latest counters of each
//! sub-task of each node, from the workers' beats and final reports, and
//! per-second rates over the last second or so.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weir_proto::v1 as pb;

/// Rates are taken over at least this long.
const RATE_WINDOW: Duration = Duration::from_millis(900);

/// Per-second rates and time ratios of one sub-task of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub(crate) records_in: f64,
    pub(crate) records_out: f64,
    pub(crate) bytes_in: f64,
    pub(crate) bytes_out: f64,
    /// Shares of the sub-task's time (the chain's head node only).
    pub(crate) idle: f64,
    pub(crate) backpressured: f64,
    pub(crate) busy: f64,
}

/// One sub-task of a node: its counters and rates.
#[derive(Debug, Clone)]
pub(crate) struct Sampled {
    pub(crate) latest: pb::Counter,
    pub(crate) rates: Rates,
    /// Where the rates are measured from.
    base: (Instant, pb::Counter),
}

/// The counters of one attempt's sub-tasks, by (node, sub-task).
#[derive(Debug, Default)]
pub(crate) struct JobMetrics {
    attempt: u32,
    tasks: BTreeMap<(u32, u32), Sampled>,
}

fn per_second(now: u64, then: u64, secs: f64) -> f64 {
    now.saturating_sub(then) as f64 / secs
}

fn rates(from: &pb::Counter, to: &pb::Counter, secs: f64) -> Rates {
    let running = to.running_ms.saturating_sub(from.running_ms) as f64;
    let share = |now: u64, then: u64| {
        if running > 0.0 {
            (now.saturating_sub(then) as f64 / running).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let idle = share(to.idle_ms, from.idle_ms);
    let backpressured = share(to.backpressured_ms, from.backpressured_ms);
    Rates {
        records_in: per_second(to.records_in, from.records_in, secs),
        records_out: per_second(to.records_out, from.records_out, secs),
        bytes_in: per_second(to.bytes_in, from.bytes_in, secs),
        bytes_out: per_second(to.bytes_out, from.bytes_out, secs),
        idle,
        backpressured,
        busy: if running > 0.0 {
            (1.0 - idle - backpressured).max(0.0)
        } else {
            0.0
        },
    }
}

impl JobMetrics {
    /// Takes counters of attempt `attempt`: a newer attempt starts afresh
    /// (its sub-tasks count from zero), an older one is ignored.
    pub(crate) fn update(&mut self, attempt: u32, counters: &[pb::Counter], finished: bool) {
        self.update_at(Instant::now(), attempt, counters, finished);
    }

    fn update_at(&mut self, now: Instant, attempt: u32, counters: &[pb::Counter], last: bool) {
        if attempt < self.attempt {
            return;
        }
        if attempt > self.attempt {
            self.attempt = attempt;
            self.tasks.clear();
        }
        for c in counters {
            match self.tasks.get_mut(&(c.node, c.subtask)) {
                None => {
                    self.tasks.insert(
                        (c.node, c.subtask),
                        Sampled {
                            latest: *c,
                            rates: Rates::default(),
                            base: (now, *c),
                        },
                    );
                }
                Some(s) => {
                    let secs = now.duration_since(s.base.0).as_secs_f64();
                    if last {
                        // Ended: nothing more flows.
                        s.rates = Rates::default();
                    } else if secs >= RATE_WINDOW.as_secs_f64() {
                        s.rates = rates(&s.base.1, c, secs);
                        s.base = (now, *c);
                    }
                    s.latest = *c;
                }
            }
        }
    }

    /// Node `node`'s sub-task `subtask`, if it reported.
    pub(crate) fn get(&self, node: u32, subtask: u32) -> Option<&Sampled> {
        self.tasks.get(&(node, subtask))
    }

    /// Every sub-task that reported, by (node, sub-task).
    pub(crate) fn all(&self) -> impl Iterator<Item = (&(u32, u32), &Sampled)> {
        self.tasks.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(records_in: u64, idle_ms: u64, bp_ms: u64, running_ms: u64) -> pb::Counter {
        pb::Counter {
            node: 0,
            subtask: 1,
            records_in,
            idle_ms,
            backpressured_ms: bp_ms,
            running_ms,
            ..Default::default()
        }
    }

    #[test]
    fn rates_come_from_counters_a_second_or_more_apart() {
        let mut m = JobMetrics::default();
        let t0 = Instant::now();
        m.update_at(t0, 0, &[counter(100, 0, 0, 1000)], false);
        // Too soon for a rate: the latest value shows, the rate waits.
        m.update_at(
            t0 + Duration::from_millis(100),
            0,
            &[counter(150, 0, 0, 1100)],
            false,
        );
        let s = m.get(0, 1).expect("reported");
        assert_eq!(s.latest.records_in, 150);
        assert_eq!(s.rates, Rates::default());
        // Two seconds after the first: 400 more records, 500 ms idle and
        // 1000 ms backpressured of 2000 ms running.
        m.update_at(
            t0 + Duration::from_secs(2),
            0,
            &[counter(500, 500, 1000, 3000)],
            false,
        );
        let r = m.get(0, 1).expect("reported").rates;
        assert!((r.records_in - 200.0).abs() < 1e-9, "{r:?}");
        assert!((r.idle - 0.25).abs() < 1e-9, "{r:?}");
        assert!((r.backpressured - 0.5).abs() < 1e-9, "{r:?}");
        assert!((r.busy - 0.25).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn a_newer_attempt_starts_afresh_and_an_older_one_is_ignored() {
        let mut m = JobMetrics::default();
        let t0 = Instant::now();
        m.update_at(t0, 1, &[counter(900, 0, 0, 10)], false);
        m.update_at(t0, 0, &[counter(5, 0, 0, 10)], false);
        assert_eq!(m.get(0, 1).map(|s| s.latest.records_in), Some(900));
        m.update_at(t0, 2, &[], false);
        assert!(m.get(0, 1).is_none(), "attempt 2's sub-tasks count anew");
    }

    #[test]
    fn an_ended_sub_task_keeps_its_counts_and_has_no_rate() {
        let mut m = JobMetrics::default();
        let t0 = Instant::now();
        m.update_at(t0, 0, &[counter(0, 0, 0, 0)], false);
        m.update_at(
            t0 + Duration::from_secs(1),
            0,
            &[counter(1000, 0, 0, 1000)],
            false,
        );
        assert!(m.get(0, 1).expect("reported").rates.records_in > 0.0);
        m.update_at(
            t0 + Duration::from_secs(2),
            0,
            &[counter(1200, 0, 0, 1100)],
            true,
        );
        let s = m.get(0, 1).expect("reported");
        assert_eq!(s.latest.records_in, 1200);
        assert_eq!(s.rates, Rates::default());
    }
}
