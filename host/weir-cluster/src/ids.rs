//! Ids as Flink writes them: 32 lower-case hex digits.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh random id (job, worker, request): 128 bits from the process's
/// randomly seeded hasher, the time and a counter. Unique, not secret.
pub fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u64(n);
        h.write_u128(now);
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// The stable id of a job vertex (a node of the graph), from its node id.
pub fn vertex_id(node_id: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(node_id.as_bytes()))
}

/// Whether `s` looks like an id (32 hex digits).
pub fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_vertex_ids_stable() {
        let a = random_id();
        assert!(is_id(&a), "{a}");
        assert_ne!(a, random_id());
        assert_eq!(vertex_id("count"), vertex_id("count"));
        assert_ne!(vertex_id("count"), vertex_id("format"));
        assert!(is_id(&vertex_id("count")));
        assert!(!is_id("xyz"));
    }
}
