//! Key groups: the unit in which keyed state is partitioned and moved.
//!
//! A key hashes to one of `max_parallelism` key groups; a contiguous range of
//! key groups belongs to each parallel sub-task (Flink's scheme). Because the
//! hash and the ranges depend only on the key and the two numbers, state can
//! be redistributed by key group when a job is rescaled. The hash (XXH3-64)
//! is part of the savepoint format: never change it.

use std::ops::RangeInclusive;

/// The largest allowed max parallelism.
pub const MAX_KEY_GROUPS: u32 = 32_768;

/// Default number of key groups.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// The key group of a key.
#[inline]
pub fn key_group(key: &[u8], max_parallelism: u32) -> u16 {
    (xxhash_rust::xxh3::xxh3_64(key) % u64::from(max_parallelism)) as u16
}

/// The sub-task that owns a key group.
#[inline]
pub fn subtask_for_key_group(key_group: u16, max_parallelism: u32, parallelism: u32) -> u32 {
    (u32::from(key_group) * parallelism) / max_parallelism
}

/// The key groups a sub-task owns.
pub fn key_group_range(
    subtask: u32,
    max_parallelism: u32,
    parallelism: u32,
) -> RangeInclusive<u16> {
    let start = (subtask * max_parallelism).div_ceil(parallelism);
    let end = ((subtask + 1) * max_parallelism).div_ceil(parallelism) - 1;
    start as u16..=end as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_all_key_groups_and_match_assignment() {
        for max in [1u32, 7, 128, 1000] {
            for p in 1..=max.min(13) {
                let mut next = 0u32;
                for s in 0..p {
                    let r = key_group_range(s, max, p);
                    assert_eq!(u32::from(*r.start()), next, "max {max} p {p} s {s}");
                    for kg in r.clone() {
                        assert_eq!(subtask_for_key_group(kg, max, p), s);
                    }
                    next = u32::from(*r.end()) + 1;
                }
                assert_eq!(next, max);
            }
        }
    }

    #[test]
    fn key_group_is_stable() {
        // Part of the savepoint format: these values must never change.
        assert_eq!(key_group(b"hello", 128), key_group(b"hello", 128));
        assert_eq!(
            key_group(b"hello", 128) as u64,
            xxhash_rust::xxh3::xxh3_64(b"hello") % 128
        );
    }
}
