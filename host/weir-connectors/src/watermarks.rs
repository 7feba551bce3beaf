//! Watermarks of one source reader.
//!
//! A reader's records come from partitions (files). Within a partition,
//! timestamps are out of order by at most a bound, so the partition's
//! watermark is its highest timestamp minus the bound minus 1 ms. The
//! reader's watermark is the minimum over the partitions it has not
//! finished — including partitions it has not started, which hold it at
//! the minimum. So a reader that reads time-overlapping files one after
//! another never lets the first file's progress make the second file's
//! records late.

use std::path::{Path, PathBuf};

/// The watermark before any record.
pub const MIN_WATERMARK: i64 = i64::MIN;

struct Partition {
    path: PathBuf,
    max_ts: i64,
    splits_left: usize,
}

/// Tracks a reader's watermark over its partitions.
pub struct WatermarkTracker {
    bound: i64,
    partitions: Vec<Partition>,
}

impl WatermarkTracker {
    /// A tracker for the files of `splits` (one partition per file).
    pub fn new<'a>(
        files: impl IntoIterator<Item = &'a Path>,
        max_out_of_orderness_ms: u64,
    ) -> Self {
        let mut partitions: Vec<Partition> = Vec::new();
        for f in files {
            match partitions.iter_mut().find(|p| p.path == f) {
                Some(p) => p.splits_left += 1,
                None => partitions.push(Partition {
                    path: f.to_owned(),
                    max_ts: MIN_WATERMARK,
                    splits_left: 1,
                }),
            }
        }
        WatermarkTracker {
            bound: i64::try_from(max_out_of_orderness_ms).unwrap_or(i64::MAX),
            partitions,
        }
    }

    fn partition(&mut self, path: &Path) -> Option<&mut Partition> {
        self.partitions.iter_mut().find(|p| p.path == path)
    }

    /// Notes a record's timestamp in the partition `path`.
    pub fn observe(&mut self, path: &Path, ts: i64) {
        if let Some(p) = self.partition(path) {
            p.max_ts = p.max_ts.max(ts);
        }
    }

    /// Notes that one split of `path` was read to its end.
    pub fn split_done(&mut self, path: &Path) {
        if let Some(p) = self.partition(path) {
            p.splits_left = p.splits_left.saturating_sub(1);
        }
    }

    /// The reader's watermark now.
    pub fn watermark(&self) -> i64 {
        self.partitions
            .iter()
            .filter(|p| p.splits_left > 0)
            .map(|p| {
                if p.max_ts == MIN_WATERMARK {
                    MIN_WATERMARK
                } else {
                    p.max_ts.saturating_sub(self.bound).saturating_sub(1)
                }
            })
            .min()
            .unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_partitions_hold_the_watermark_back() {
        let a = Path::new("a");
        let b = Path::new("b");
        let mut t = WatermarkTracker::new([a, b], 10);
        assert_eq!(t.watermark(), MIN_WATERMARK);
        t.observe(a, 1000);
        assert_eq!(t.watermark(), MIN_WATERMARK, "b is not read yet");
        t.split_done(a);
        assert_eq!(t.watermark(), MIN_WATERMARK, "b has no record yet");
        t.observe(b, 50);
        assert_eq!(t.watermark(), 39);
        t.split_done(b);
        assert_eq!(t.watermark(), i64::MAX);
    }

    #[test]
    fn splits_of_one_file_form_one_partition() {
        let a = Path::new("a");
        let mut t = WatermarkTracker::new([a, a], 0);
        t.observe(a, 7);
        t.split_done(a);
        assert_eq!(
            t.watermark(),
            6,
            "the next split of the same file continues it"
        );
    }
}
