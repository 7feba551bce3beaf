//! Watermarks per Kafka partition, with idleness (sans-IO).
//!
//! Each partition's watermark trails its highest timestamp by the bound
//! (+1 ms), as the file source's per-file watermarks. The reader's
//! watermark is the minimum over the partitions that are neither finished
//! (bounded sources) nor idle. A partition is idle when it has had no
//! record for the idle timeout; a partition that never had one holds the
//! watermark at its minimum until then. When every partition is idle, the
//! partitions that had records still count with their own progress (an
//! empty partition going idle at the same moment as the last busy one
//! must not leave the watermark at its minimum), and the runtime marks the
//! reader idle after its idle timeout.

use std::time::{Duration, Instant};
use weir_connectors::MIN_WATERMARK;

struct Partition {
    topic: String,
    partition: i32,
    max_ts: i64,
    last_record: Instant,
    finished: bool,
}

/// The watermarks of a reader's partitions.
pub struct PartitionWatermarks {
    bound: i64,
    idle_after: Option<Duration>,
    partitions: Vec<Partition>,
}

impl PartitionWatermarks {
    /// Watermarks trailing timestamps by `max_out_of_orderness_ms`;
    /// partitions without records for `idle_after` stop counting.
    pub fn new(max_out_of_orderness_ms: u64, idle_after: Option<Duration>) -> Self {
        PartitionWatermarks {
            bound: i64::try_from(max_out_of_orderness_ms).unwrap_or(i64::MAX),
            idle_after,
            partitions: Vec::new(),
        }
    }

    /// Adds a partition (at `now`), if it is new.
    pub fn add(&mut self, topic: &str, partition: i32, now: Instant) {
        if self.find(topic, partition).is_none() {
            self.partitions.push(Partition {
                topic: topic.to_owned(),
                partition,
                max_ts: MIN_WATERMARK,
                last_record: now,
                finished: false,
            });
        }
    }

    fn find(&mut self, topic: &str, partition: i32) -> Option<&mut Partition> {
        self.partitions
            .iter_mut()
            .find(|p| p.partition == partition && p.topic == topic)
    }

    /// Notes a record of `partition` with timestamp `ts`, read at `now`.
    pub fn observe(&mut self, topic: &str, partition: i32, ts: i64, now: Instant) {
        if let Some(p) = self.find(topic, partition) {
            p.max_ts = p.max_ts.max(ts);
            p.last_record = now;
        }
    }

    /// Notes that a bounded partition was read to its end.
    pub fn finish(&mut self, topic: &str, partition: i32) {
        if let Some(p) = self.find(topic, partition) {
            p.finished = true;
        }
    }

    fn idle(&self, p: &Partition, now: Instant) -> bool {
        self.idle_after
            .is_some_and(|d| now.saturating_duration_since(p.last_record) >= d)
    }

    /// The reader's watermark at `now`: the minimum over the partitions
    /// that are live and not idle. When every live partition is idle, the
    /// minimum over those that had records (nothing holds the others' own
    /// progress back then); `None` when none had any.
    pub fn watermark(&self, now: Instant) -> Option<i64> {
        let live = || self.partitions.iter().filter(|p| !p.finished);
        if live().next().is_none() {
            return Some(i64::MAX);
        }
        let own = |p: &Partition| {
            if p.max_ts == MIN_WATERMARK {
                MIN_WATERMARK
            } else {
                p.max_ts.saturating_sub(self.bound).saturating_sub(1)
            }
        };
        live()
            .filter(|p| !self.idle(p, now))
            .map(own)
            .min()
            .or_else(|| live().filter(|p| p.max_ts != MIN_WATERMARK).map(own).min())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_live_partition_sets_the_watermark() {
        let t0 = Instant::now();
        let mut w = PartitionWatermarks::new(10, None);
        w.add("t", 0, t0);
        w.add("t", 1, t0);
        w.observe("t", 0, 1_000, t0);
        assert_eq!(
            w.watermark(t0),
            Some(MIN_WATERMARK),
            "partition 1 has no record yet"
        );
        w.observe("t", 1, 400, t0);
        assert_eq!(w.watermark(t0), Some(389));
        w.observe("t", 1, 2_000, t0);
        assert_eq!(w.watermark(t0), Some(989));
        w.finish("t", 0);
        assert_eq!(w.watermark(t0), Some(1_989));
        w.finish("t", 1);
        assert_eq!(w.watermark(t0), Some(i64::MAX));
    }

    #[test]
    fn idle_partitions_stop_holding_the_watermark_back() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(5);
        let mut w = PartitionWatermarks::new(0, Some(Duration::from_secs(2)));
        w.add("a", 0, t0);
        w.add("b", 0, t0);
        w.observe("a", 0, 100, t0);
        w.observe("b", 0, 50, t0);
        assert_eq!(w.watermark(t0), Some(49));
        w.observe("a", 0, 300, later);
        assert_eq!(w.watermark(later), Some(299), "b is idle");
        assert_eq!(
            w.watermark(later + Duration::from_secs(3)),
            Some(49),
            "both idle: each one's own progress"
        );
        let mut empty = PartitionWatermarks::new(0, Some(Duration::from_secs(1)));
        empty.add("c", 0, t0);
        assert_eq!(empty.watermark(later), None, "idle without records");
        w.observe("b", 0, 60, later + Duration::from_secs(3));
        assert_eq!(
            w.watermark(later + Duration::from_secs(3)),
            Some(59),
            "a record makes a partition active again"
        );
    }
}
