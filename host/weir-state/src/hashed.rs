//! Keys hashed once: a keyed operator hashes each record's key when it
//! groups a batch, and every state lookup of that key reuses the hash.

use foldhash::fast::FixedState;
use std::hash::BuildHasher;
use std::sync::LazyLock;

/// The process's key hasher: seeded at random once per process, so keys
/// chosen to collide cannot be prepared in advance, and the same in every
/// operator and backend of the process (hashes are never stored on disk).
static HASHER: LazyLock<FixedState> = LazyLock::new(|| {
    // `RandomState` draws its keys from the operating system.
    let seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    FixedState::with_seed(seed)
});

/// The hash of a state key, as the in-memory backend files it.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// A key with its hash, computed once.
#[derive(Clone, Copy, Debug)]
pub struct HashedKey<'a> {
    key: &'a [u8],
    hash: u64,
}

impl<'a> HashedKey<'a> {
    /// Hashes `key`.
    #[inline]
    pub fn new(key: &'a [u8]) -> Self {
        HashedKey {
            key,
            hash: key_hash(key),
        }
    }

    /// `key` with its hash from [`key_hash`], computed earlier (a batch
    /// hashes each key once when it groups its records).
    #[inline]
    pub fn prehashed(key: &'a [u8], hash: u64) -> Self {
        debug_assert_eq!(hash, key_hash(key), "a hash from key_hash");
        HashedKey { key, hash }
    }

    /// The key's bytes.
    #[inline]
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The key's hash ([`key_hash`]).
    #[inline]
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// Where a backend found a value read for update, so that the write that
/// follows in the same batch skips its lookup. Only a hint: a backend
/// checks it still holds the same key and looks the key up otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueSlot(pub(crate) u32);

impl ValueSlot {
    /// No slot: the write looks the key up.
    pub const NONE: ValueSlot = ValueSlot(0);
}
