//! Timers in RocksDB, as Flink's RocksDB timer service: one column family
//! ordered by (domain, time, key group, key), so a window job with tens of
//! millions of keyed timers stays within the memory budget, firing stays
//! in time order, and native checkpoints carry the timers with the state.
//!
//! Key: `domain u8 | time (i64 with its sign bit flipped, big-endian) |
//! kg u16 | key`; the value is empty. The number of timers per domain is
//! kept in memory (counted at open), and so is a floor: a key below which
//! the domain has no timer. Fired timers leave deletion markers at the
//! front of the key space until compaction drops them; seeking from the
//! floor instead of the domain's start skips them (a queue in RocksDB
//! otherwise walks every marker on each poll).

use crate::{RocksDbBackend, storage};
use rocksdb::{DB, Direction, IteratorMode, WriteBatch};
use weir_state::{StateError, Timer, TimerEntry, TimerStore};

/// The column family of the timers.
pub(crate) const TIMERS_CF: &str = "weir:timers";

/// What the backend keeps in memory about its timers.
#[derive(Debug, Default)]
pub(crate) struct TimerIndex {
    counts: [usize; 2],
    /// Per domain, a key no timer of the domain is below (none: the
    /// domain's start).
    floors: [Option<Vec<u8>>; 2],
}

fn encode(domain: u8, time: i64, kg: u16, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(11 + key.len());
    k.push(domain);
    k.extend_from_slice(&((time as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&kg.to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn decode(k: &[u8]) -> Result<(u8, i64, u16, &[u8]), StateError> {
    if k.len() < 11 {
        return Err(StateError::Storage("corrupt timer key".into()));
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&k[1..9]);
    let time = (u64::from_be_bytes(t) ^ (1 << 63)) as i64;
    Ok((k[0], time, u16::from_be_bytes([k[9], k[10]]), &k[11..]))
}

impl TimerIndex {
    /// Counts the timers of an opened (restored) database.
    pub(crate) fn load(db: &DB) -> Result<Self, StateError> {
        let mut index = TimerIndex::default();
        let cf = timers_cf(db)?;
        for item in db.iterator_cf_opt(cf, crate::scan_options(), IteratorMode::Start) {
            let (k, _) = item.map_err(storage)?;
            let (domain, ..) = decode(&k)?;
            if let Some(c) = index.counts.get_mut(usize::from(domain)) {
                *c += 1;
            }
        }
        Ok(index)
    }
}

fn timers_cf(db: &DB) -> Result<&rocksdb::ColumnFamily, StateError> {
    db.cf_handle(TIMERS_CF)
        .ok_or_else(|| StateError::Storage(format!("no column family {TIMERS_CF}")))
}

fn check_domain(domain: u8) -> Result<usize, StateError> {
    if domain < 2 {
        Ok(usize::from(domain))
    } else {
        Err(StateError::Storage(format!("timer domain {domain}")))
    }
}

impl TimerStore for RocksDbBackend {
    fn register(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) -> Result<(), StateError> {
        let d = check_domain(domain)?;
        let cf = timers_cf(&self.db)?;
        let k = encode(domain, time, kg, key);
        if self.db.get_pinned_cf(cf, &k).map_err(storage)?.is_none() {
            self.db
                .put_cf_opt(cf, &k, [], &self.write)
                .map_err(storage)?;
            self.timer_index.counts[d] += 1;
            // Below the floor: the next poll starts here.
            let floor = &mut self.timer_index.floors[d];
            if floor.as_ref().is_some_and(|f| k < *f) {
                *floor = Some(k);
            }
        }
        Ok(())
    }

    fn delete(&mut self, domain: u8, time: i64, kg: u16, key: &[u8]) -> Result<(), StateError> {
        let d = check_domain(domain)?;
        let cf = timers_cf(&self.db)?;
        let k = encode(domain, time, kg, key);
        if self.db.get_pinned_cf(cf, &k).map_err(storage)?.is_some() {
            self.db
                .delete_cf_opt(cf, &k, &self.write)
                .map_err(storage)?;
            self.timer_index.counts[d] -= 1;
        }
        Ok(())
    }

    fn pop_due(&mut self, domain: u8, upto: i64, max: usize) -> Result<Vec<Timer>, StateError> {
        let d = check_domain(domain)?;
        if self.timer_index.counts[d] == 0 || max == 0 {
            return Ok(Vec::new());
        }
        let cf = timers_cf(&self.db)?;
        let mut due = Vec::new();
        let mut batch = WriteBatch::default();
        let start = self.timer_index.floors[d]
            .clone()
            .unwrap_or_else(|| vec![domain]);
        // Where the next poll may start: the first key left, or the
        // domain's end.
        let mut next_floor = vec![domain + 1];
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, _) = item.map_err(storage)?;
            let (dom, time, kg, key) = decode(&k)?;
            if dom != domain || time > upto || due.len() == max {
                next_floor = k.to_vec();
                break;
            }
            due.push((time, kg, Box::<[u8]>::from(key)));
            batch.delete_cf(cf, &k);
        }
        self.db.write_opt(batch, &self.write).map_err(storage)?;
        self.timer_index.counts[d] -= due.len();
        self.timer_index.floors[d] = Some(next_floor);
        Ok(due)
    }

    fn count(&self, domain: u8) -> usize {
        self.timer_index
            .counts
            .get(usize::from(domain))
            .copied()
            .unwrap_or(0)
    }

    fn entries(&mut self) -> Result<Vec<TimerEntry>, StateError> {
        let cf = timers_cf(&self.db)?;
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf_opt(cf, crate::scan_options(), IteratorMode::Start)
        {
            let (k, _) = item.map_err(storage)?;
            let (domain, time, kg, key) = decode(&k)?;
            out.push(TimerEntry {
                domain,
                time,
                kg,
                key: key.to_vec(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_by_domain_then_time_negative_times_included() {
        let mut keys = [
            encode(1, -5, 0, b"a"),
            encode(0, 10, 3, b"b"),
            encode(0, -1, 9, b"c"),
            encode(0, i64::MIN, 0, b""),
            encode(0, 10, 2, b"z"),
        ];
        keys.sort();
        let decoded: Vec<(u8, i64, u16)> = keys
            .iter()
            .map(|k| {
                let (d, t, kg, _) = decode(k).expect("decode");
                (d, t, kg)
            })
            .collect();
        assert_eq!(
            decoded,
            [
                (0, i64::MIN, 0),
                (0, -1, 9),
                (0, 10, 2),
                (0, 10, 3),
                (1, -5, 0)
            ]
        );
        assert!(decode(b"short").is_err());
    }
}
