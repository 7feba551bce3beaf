//! One memory budget for every RocksDB database of a process, as Flink's
//! managed memory bounds its RocksDB backend: a single block cache, which
//! also holds the index and filter blocks, and a cap on the memtables of
//! each database, so that what RocksDB keeps in memory does not grow with
//! the number of keys.
//!
//! Debian's librocksdb 7.8 has no write-buffer manager in its C API, so
//! the memtable part of the budget is dealt out as a fixed share per
//! database (`db_write_buffer_size`) instead of being charged to the cache.
//! A sixteenth of the budget goes to the value-write buffers in front of
//! the databases (see [`crate::pending`]).

use rocksdb::{BlockBasedIndexType, BlockBasedOptions, Cache, DataBlockIndexType, Options};
use std::sync::{Arc, Mutex};
use weir_state::StateError;

/// The smallest budget accepted, in MiB.
pub const MIN_MEMORY_MB: u32 = 16;

/// A job's RocksDB memory budget in one process (the embedded runner, or
/// a worker the job runs on).
pub struct MemoryBudget {
    /// Shared by every database (the crate's handle is `Send + Sync`,
    /// and RocksDB's LRU cache is thread-safe).
    cache: Cache,
    total: usize,
    /// The memtable share of each database.
    per_database: usize,
    /// The value-write buffer of each database.
    buffer_per_database: usize,
}

/// What the budget holds now (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetUsage {
    /// The whole budget, bytes.
    pub budget_bytes: u64,
    /// The block cache's capacity, bytes.
    pub cache_capacity_bytes: u64,
    /// What the block cache holds (data, index and filter blocks), bytes.
    pub cache_usage_bytes: u64,
    /// Of that, pinned (in use or pinned level-0 index and filters), bytes.
    pub cache_pinned_bytes: u64,
    /// The value-write buffers' part of the budget, bytes.
    pub write_buffer_capacity_bytes: u64,
}

/// The budgets in use in this process, for metrics.
static LIVE: Mutex<Vec<std::sync::Weak<MemoryBudget>>> = Mutex::new(Vec::new());

impl MemoryBudget {
    /// A budget of `memory_mb` MiB for `databases` databases: half for
    /// the shared block cache, seven sixteenths for the memtables and one
    /// sixteenth for the value-write buffers, each split evenly.
    pub fn new(memory_mb: u32, databases: usize) -> Result<Arc<Self>, StateError> {
        if memory_mb < MIN_MEMORY_MB {
            return Err(StateError::Storage(format!(
                "the RocksDB memory budget is {memory_mb} MiB; it must be at least {MIN_MEMORY_MB}"
            )));
        }
        let total = memory_mb as usize * (1 << 20);
        let cache = Cache::new_lru_cache(total / 2)
            .map_err(|e| StateError::Storage(format!("cannot create the block cache: {e}")))?;
        let per_database = (total / 16 * 7 / databases.max(1)).max(1 << 20);
        let buffer_per_database = (total / 16 / databases.max(1)).max(256 << 10);
        let budget = Arc::new(MemoryBudget {
            cache,
            total,
            per_database,
            buffer_per_database,
        });
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|b| b.strong_count() > 0);
            live.push(Arc::downgrade(&budget));
        }
        Ok(budget)
    }

    /// What this budget holds now.
    pub fn usage(&self) -> BudgetUsage {
        BudgetUsage {
            budget_bytes: self.total as u64,
            cache_capacity_bytes: (self.total / 2) as u64,
            cache_usage_bytes: self.cache.get_usage() as u64,
            cache_pinned_bytes: self.cache.get_pinned_usage() as u64,
            write_buffer_capacity_bytes: (self.total / 16) as u64,
        }
    }

    /// The memtable share of one database, bytes.
    pub fn memtables_per_database(&self) -> usize {
        self.per_database
    }

    /// The value-write buffer of one database, bytes.
    pub fn write_buffer_per_database(&self) -> usize {
        self.buffer_per_database
    }

    /// Database options within the budget: the shared cache for data,
    /// index and filter blocks (bloom filters and hashed data-block
    /// indexes for point lookups), and the database's memtable share.
    pub(crate) fn options(&self) -> Options {
        let mut o = Options::default();
        let mut t = BlockBasedOptions::default();
        t.set_block_cache(&self.cache);
        // Index and filters in the cache, partitioned into small blocks
        // under a pinned top level: a whole-file filter (megabytes per
        // file with millions of keys) evicted by data blocks would be read
        // back and allocated anew for a single lookup.
        t.set_cache_index_and_filter_blocks(true);
        t.set_pin_l0_filter_and_index_blocks_in_cache(true);
        t.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        t.set_partition_filters(true);
        t.set_metadata_block_size(4096);
        t.set_pin_top_level_index_and_filter(true);
        t.set_bloom_filter(10.0, false);
        t.set_data_block_index_type(DataBlockIndexType::BinaryAndHash);
        t.set_data_block_hash_ratio(0.75);
        o.set_block_based_table_factory(&t);
        o.set_memtable_prefix_bloom_ratio(0.02);
        o.set_memtable_whole_key_filtering(true);
        o.set_db_write_buffer_size(self.per_database);
        // One state's memtables may take the database's whole share, in
        // two buffers (one filling while the other is flushed).
        o.set_write_buffer_size((self.per_database / 2).max(256 << 10));
        o.set_max_write_buffer_number(2);
        o
    }
}

/// What every live budget of this process holds now, summed.
pub fn usage() -> BudgetUsage {
    let mut sum = BudgetUsage::default();
    if let Ok(live) = LIVE.lock() {
        for b in live.iter().filter_map(std::sync::Weak::upgrade) {
            let u = b.usage();
            sum.budget_bytes += u.budget_bytes;
            sum.cache_capacity_bytes += u.cache_capacity_bytes;
            sum.cache_usage_bytes += u.cache_usage_bytes;
            sum.cache_pinned_bytes += u.cache_pinned_bytes;
            sum.write_buffer_capacity_bytes += u.write_buffer_capacity_bytes;
        }
    }
    sum
}
