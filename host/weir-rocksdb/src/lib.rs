//! Keyed state in an embedded RocksDB: state larger than memory, and
//! incremental checkpoints.
//!
//! One database per operator sub-task, one column family per state. Keys
//! start with the key group (big-endian), so a sub-task's state is ordered
//! by key group:
//!
//! - value and list state: `kg | key`;
//! - map state: `kg | len(key) u32 | key | user key`, one RocksDB entry per
//!   map entry (reads and writes touch only that entry);
//! - list state is appended with a merge operator (no read-modify-write):
//!   the stored value is the elements, each `u32 length | bytes`.
//!
//! Checkpoints use RocksDB's own checkpoints (a flush and hard links); the
//! immutable SST files are uploaded once and shared by later checkpoints.

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, WriteOptions,
};
mod budget;
mod pending;
mod timers;

pub use budget::{BudgetUsage, MIN_MEMORY_MB, MemoryBudget, usage};
use pending::{Buffered, WriteBuffer, buffer_key};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_checkpoint::RocksDbFiles;
use weir_state::{
    KeyedSnapshot, KeyedStateBackend, MapEntries, NativeCheckpoint, SharedFile, StateDesc,
    StateError, StateId, StateKind,
};

/// A checkpoint in RocksDB's format to open the database from.
#[derive(Debug, Clone)]
pub struct Restore {
    /// The files.
    pub files: RocksDbFiles,
    /// The checkpoint's directory (private files).
    pub checkpoint_dir: PathBuf,
    /// The store's shared directory (SST files).
    pub shared_dir: PathBuf,
}

fn storage(e: impl std::fmt::Display) -> StateError {
    StateError::Storage(e.to_string())
}

fn cf_name(state: &str) -> String {
    format!("state:{state}")
}

/// Concatenates list elements: the stored value and every appended operand.
fn list_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let mut out = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for op in operands {
        out.extend_from_slice(op);
    }
    Some(out)
}

fn options(budget: &MemoryBudget) -> Options {
    let mut o = budget.options();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_merge_operator_associative("weir-list-append", list_merge);
    // One writer per database.
    o.set_allow_concurrent_memtable_write(false);
    o
}

/// Options of a state's column family. Value states do not update in
/// place: in-place updates make every put seek its key first, and the
/// write buffer ([`pending`]) already keeps hot keys from piling up
/// versions in the memtable.
fn cf_options(_kind: Option<StateKind>, budget: &MemoryBudget) -> Options {
    options(budget)
}

/// Reads for whole-database scans (snapshots): they do not push the
/// blocks point lookups need out of the shared cache.
fn scan_options() -> ReadOptions {
    let mut r = ReadOptions::default();
    r.fill_cache(false);
    r
}

fn encode_element(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(v);
}

fn decode_elements(mut b: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(StateError::Storage("corrupt list state".into()));
        }
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if b.len() < 4 + n {
            return Err(StateError::Storage("corrupt list state".into()));
        }
        out.push(b[4..4 + n].to_vec());
        b = &b[4 + n..];
    }
    Ok(out)
}

struct Registered {
    desc: StateDesc,
    cf: String,
}

/// Keyed state of one operator sub-task in RocksDB.
pub struct RocksDbBackend {
    db: DB,
    dir: PathBuf,
    range: RangeInclusive<u16>,
    states: Vec<Registered>,
    write: WriteOptions,
    instance: String,
    /// SST files restored from a checkpoint: name → path in the store.
    restored: HashMap<String, String>,
    key: Vec<u8>,
    /// Pinned snapshots taken so far (names their directories).
    pinned: std::cell::Cell<u64>,
    /// The process's RocksDB memory budget, which this database shares.
    budget: Arc<MemoryBudget>,
    /// Value writes not yet in the database (flushed before anything
    /// reads the database as a whole).
    pending: RefCell<WriteBuffer>,
    /// What is kept in memory about the timers (their column family holds
    /// them).
    timer_index: timers::TimerIndex,
}

impl RocksDbBackend {
    /// Opens a fresh database in `dir` (replacing what is there), or one
    /// restored from a RocksDB checkpoint, within `budget`.
    pub fn open(
        dir: &Path,
        range: RangeInclusive<u16>,
        restore: Option<&Restore>,
        budget: &Arc<MemoryBudget>,
    ) -> Result<Self, StateError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(storage)?;
        }
        std::fs::create_dir_all(dir).map_err(storage)?;
        let mut restored = HashMap::new();
        let mut states = Vec::new();
        if let Some(r) = restore {
            for rel in &r.files.shared {
                let name = Path::new(rel)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| StateError::Storage(format!("bad shared file name {rel}")))?;
                let from = r.shared_dir.join(rel);
                let to = dir.join(&name);
                if std::fs::hard_link(&from, &to).is_err() {
                    std::fs::copy(&from, &to).map_err(|e| {
                        StateError::Storage(format!("cannot restore {}: {e}", from.display()))
                    })?;
                }
                restored.insert(name, rel.clone());
            }
            let private = r.checkpoint_dir.join(&r.files.private_dir);
            for name in &r.files.private {
                std::fs::copy(private.join(name), dir.join(name))
                    .map_err(|e| StateError::Storage(format!("cannot restore {name}: {e}")))?;
            }
            states = r.files.states.clone();
        }
        // Per-operation perf counters cost a thread-local lookup each; this
        // thread owns the database.
        rocksdb::perf::set_perf_stats(rocksdb::perf::PerfStatsLevel::Disable);
        let opts = options(budget);
        let existing = if restore.is_some() {
            DB::list_cf(&opts, dir).map_err(storage)?
        } else {
            Vec::new()
        };
        let kind_of = |cf: &str| {
            states
                .iter()
                .find(|d: &&StateDesc| cf_name(&d.name) == cf)
                .map(|d| d.kind)
        };
        let cfs: Vec<ColumnFamilyDescriptor> = existing
            .iter()
            .filter(|n| n.as_str() != "default")
            .map(|n| ColumnFamilyDescriptor::new(n, cf_options(kind_of(n), budget)))
            .collect();
        let mut db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(storage)?;
        if db.cf_handle(timers::TIMERS_CF).is_none() {
            db.create_cf(timers::TIMERS_CF, &cf_options(None, budget))
                .map_err(storage)?;
        }
        let timer_index = timers::TimerIndex::load(&db)?;
        let mut write = WriteOptions::default();
        // Recovery is from checkpoints, which flush: no write-ahead log.
        write.disable_wal(true);
        let instance = format!(
            "{}-{}-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let mut b = RocksDbBackend {
            db,
            dir: dir.to_owned(),
            range,
            states: Vec::new(),
            write,
            instance,
            restored,
            key: Vec::new(),
            pinned: std::cell::Cell::new(0),
            budget: Arc::clone(budget),
            pending: RefCell::new(WriteBuffer::new(budget.write_buffer_per_database())),
            timer_index,
        };
        for d in &states {
            b.register_desc(d)?;
        }
        Ok(b)
    }

    fn check(&self, kg: u16) -> Result<(), StateError> {
        if self.range.contains(&kg) {
            Ok(())
        } else {
            Err(StateError::KeyGroupOutOfRange {
                key_group: kg,
                start: *self.range.start(),
                end: *self.range.end(),
            })
        }
    }

    fn cf(&self, state: StateId, kind: StateKind) -> Result<&rocksdb::ColumnFamily, StateError> {
        let r = self
            .states
            .get(state.0 as usize)
            .filter(|r| r.desc.kind == kind)
            .ok_or(StateError::UnknownState(state))?;
        self.db
            .cf_handle(&r.cf)
            .ok_or_else(|| StateError::Storage(format!("no column family {}", r.cf)))
    }

    /// `kg | key` into the scratch key.
    fn plain_key(&mut self, kg: u16, key: &[u8]) -> Result<(), StateError> {
        self.check(kg)?;
        self.key.clear();
        self.key.extend_from_slice(&kg.to_be_bytes());
        self.key.extend_from_slice(key);
        Ok(())
    }

    /// `kg | len | key` (the map prefix) into the scratch key.
    fn map_prefix(&mut self, kg: u16, key: &[u8]) -> Result<(), StateError> {
        self.check(kg)?;
        self.key.clear();
        self.key.extend_from_slice(&kg.to_be_bytes());
        self.key
            .extend_from_slice(&(key.len() as u32).to_be_bytes());
        self.key.extend_from_slice(key);
        Ok(())
    }

    /// Buffers a value write (`None` deletes), flushing the buffer when
    /// it is full.
    fn buffer_write(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), StateError> {
        self.check(kg)?;
        self.cf(state, StateKind::Value)?;
        buffer_key(&mut self.key, state, kg, key);
        if self.pending.get_mut().write(&self.key, value) {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Writes the buffered value writes to the database.
    fn flush_pending(&self) -> Result<(), StateError> {
        let mut pending = self
            .pending
            .try_borrow_mut()
            .map_err(|_| StateError::Storage("the write buffer is in use".into()))?;
        pending.flush(&self.db, &self.write, |s| self.cf(s, StateKind::Value))
    }

    /// Sets the value-write buffer's capacity (tests: flushes at any size).
    #[cfg(test)]
    fn set_write_buffer_capacity(&mut self, bytes: usize) {
        self.pending = RefCell::new(WriteBuffer::new(bytes));
    }

    /// What the value-write buffer holds now, bytes.
    pub fn buffered_bytes(&self) -> u64 {
        self.pending.try_borrow().map_or(0, |p| p.bytes() as u64)
    }

    /// The local database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the memtables of every state hold now, bytes (active and
    /// immutable ones not flushed yet).
    pub fn memtable_bytes(&self) -> u64 {
        self.states
            .iter()
            .filter_map(|r| self.db.cf_handle(&r.cf))
            .filter_map(|cf| {
                self.db
                    .property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables")
                    .ok()
                    .flatten()
            })
            .sum()
    }
}

/// The first key after every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl KeyedStateBackend for RocksDbBackend {
    fn key_groups(&self) -> RangeInclusive<u16> {
        self.range.clone()
    }

    fn register_desc(&mut self, desc: &StateDesc) -> Result<StateId, StateError> {
        if let Some(i) = self.states.iter().position(|s| s.desc.name == desc.name) {
            weir_state::check_compatible(&mut self.states[i].desc, desc)?;
            return Ok(StateId(i as u32));
        }
        let cf = cf_name(&desc.name);
        if self.db.cf_handle(&cf).is_none() {
            self.db
                .create_cf(&cf, &cf_options(Some(desc.kind), &self.budget))
                .map_err(storage)?;
        }
        self.states.push(Registered {
            desc: desc.clone(),
            cf,
        });
        Ok(StateId(self.states.len() as u32 - 1))
    }

    fn states(&self) -> Vec<StateDesc> {
        self.states.iter().map(|s| s.desc.clone()).collect()
    }

    fn value_get_into(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        self.check(kg)?;
        let mut k = Vec::with_capacity(6 + key.len());
        buffer_key(&mut k, state, kg, key);
        if let Ok(pending) = self.pending.try_borrow() {
            match pending.get(&k) {
                Buffered::Value(v) => {
                    out.extend_from_slice(v);
                    return Ok(true);
                }
                Buffered::Deleted => return Ok(false),
                Buffered::Absent => {}
            }
        }
        let cf = self.cf(state, StateKind::Value)?;
        match self.db.get_pinned_cf(cf, &k[4..]).map_err(storage)? {
            Some(v) => {
                out.extend_from_slice(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn value_put(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.buffer_write(kg, state, key, Some(value))
    }

    fn value_delete(&mut self, kg: u16, state: StateId, key: &[u8]) -> Result<(), StateError> {
        self.buffer_write(kg, state, key, None)
    }

    fn list_get(&self, kg: u16, state: StateId, key: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
        self.check(kg)?;
        let mut k = Vec::with_capacity(2 + key.len());
        k.extend_from_slice(&kg.to_be_bytes());
        k.extend_from_slice(key);
        let cf = self.cf(state, StateKind::List)?;
        match self.db.get_pinned_cf(cf, &k).map_err(storage)? {
            Some(v) => decode_elements(&v),
            None => Ok(Vec::new()),
        }
    }

    fn list_add(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.plain_key(kg, key)?;
        let mut element = Vec::with_capacity(4 + value.len());
        encode_element(&mut element, value);
        let cf = self.cf(state, StateKind::List)?;
        self.db
            .merge_cf_opt(cf, &self.key, element, &self.write)
            .map_err(storage)
    }

    fn list_update(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        values: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        self.plain_key(kg, key)?;
        let cf = self.cf(state, StateKind::List)?;
        if values.is_empty() {
            return self
                .db
                .delete_cf_opt(cf, &self.key, &self.write)
                .map_err(storage);
        }
        let mut all = Vec::new();
        for v in &values {
            encode_element(&mut all, v);
        }
        self.db
            .put_cf_opt(cf, &self.key, all, &self.write)
            .map_err(storage)
    }

    fn map_get(
        &self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.check(kg)?;
        let mut k = Vec::with_capacity(6 + key.len() + user_key.len());
        k.extend_from_slice(&kg.to_be_bytes());
        k.extend_from_slice(&(key.len() as u32).to_be_bytes());
        k.extend_from_slice(key);
        k.extend_from_slice(user_key);
        let cf = self.cf(state, StateKind::Map)?;
        self.db.get_cf(cf, &k).map_err(storage)
    }

    fn map_put(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        self.map_prefix(kg, key)?;
        self.key.extend_from_slice(user_key);
        let cf = self.cf(state, StateKind::Map)?;
        self.db
            .put_cf_opt(cf, &self.key, value, &self.write)
            .map_err(storage)
    }

    fn map_remove(
        &mut self,
        kg: u16,
        state: StateId,
        key: &[u8],
        user_key: &[u8],
    ) -> Result<(), StateError> {
        self.map_prefix(kg, key)?;
        self.key.extend_from_slice(user_key);
        let cf = self.cf(state, StateKind::Map)?;
        self.db
            .delete_cf_opt(cf, &self.key, &self.write)
            .map_err(storage)
    }

    fn map_entries(&self, kg: u16, state: StateId, key: &[u8]) -> Result<MapEntries, StateError> {
        self.check(kg)?;
        let mut prefix = Vec::with_capacity(6 + key.len());
        prefix.extend_from_slice(&kg.to_be_bytes());
        prefix.extend_from_slice(&(key.len() as u32).to_be_bytes());
        prefix.extend_from_slice(key);
        let cf = self.cf(state, StateKind::Map)?;
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item.map_err(storage)?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push((k[prefix.len()..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn clear(&mut self, kg: u16, state: StateId, key: &[u8]) -> Result<(), StateError> {
        let kind = self
            .states
            .get(state.0 as usize)
            .map(|r| r.desc.kind)
            .ok_or(StateError::UnknownState(state))?;
        if kind == StateKind::Map {
            self.map_prefix(kg, key)?;
            let cf = self.cf(state, kind)?;
            match prefix_end(&self.key) {
                Some(end) => self
                    .db
                    .delete_range_cf_opt(cf, &self.key, &end, &self.write)
                    .map_err(storage),
                None => Err(StateError::Storage("unbounded map prefix".into())),
            }
        } else if kind == StateKind::Value {
            self.buffer_write(kg, state, key, None)
        } else {
            self.plain_key(kg, key)?;
            let cf = self.cf(state, kind)?;
            self.db
                .delete_cf_opt(cf, &self.key, &self.write)
                .map_err(storage)
        }
    }

    fn key_count(&self) -> usize {
        if let Err(e) = self.flush_pending() {
            tracing::warn!("cannot write buffered state before counting keys: {e}");
        }
        let mut n = 0;
        for (i, r) in self.states.iter().enumerate() {
            let Ok(cf) = self.cf(StateId(i as u32), r.desc.kind) else {
                continue;
            };
            let mut last: Option<Vec<u8>> = None;
            let scan = self
                .db
                .iterator_cf_opt(cf, scan_options(), IteratorMode::Start);
            for (k, _) in scan.flatten() {
                let outer = if r.desc.kind == StateKind::Map && k.len() >= 6 {
                    let len = u32::from_be_bytes([k[2], k[3], k[4], k[5]]) as usize;
                    k[..(6 + len).min(k.len())].to_vec()
                } else {
                    k.to_vec()
                };
                if last.as_ref() != Some(&outer) {
                    n += 1;
                    last = Some(outer);
                }
            }
        }
        n
    }

    fn snapshot(&self) -> Result<KeyedSnapshot, StateError> {
        self.flush_pending()?;
        let states = self.states();
        Ok(KeyedSnapshot {
            entries: snapshot::entries(&self.db, &states)?,
            states,
        })
    }

    /// Pins the state with a RocksDB checkpoint (a flush and hard links)
    /// beside the database; streaming the snapshot opens it read-only,
    /// reads the canonical entries and removes it, off the processing
    /// thread.
    fn snapshot_deferred(&self) -> Result<weir_state::DeferredSnapshot, StateError> {
        self.flush_pending()?;
        let n = self.pinned.get();
        self.pinned.set(n + 1);
        let mut name = self.dir.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".pinned-{n}"));
        let pinned = self.dir.with_file_name(name);
        if pinned.exists() {
            std::fs::remove_dir_all(&pinned).map_err(storage)?;
        }
        Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(&pinned))
            .map_err(storage)?;
        let pinned = snapshot::Pinned(pinned);
        let states = self.states();
        let budget = Arc::clone(&self.budget);
        Ok(weir_state::DeferredSnapshot::new(
            states.clone(),
            move |sink| snapshot::read_pinned(&pinned, &states, &budget, sink),
        ))
    }

    fn timers_mut(&mut self) -> Option<&mut dyn weir_state::TimerStore> {
        Some(self)
    }

    fn timers(&self) -> Option<&dyn weir_state::TimerStore> {
        Some(self)
    }

    fn native_checkpoint(
        &mut self,
        staging: &Path,
    ) -> Result<Option<NativeCheckpoint>, StateError> {
        self.flush_pending()?;
        if staging.exists() {
            std::fs::remove_dir_all(staging).map_err(storage)?;
        }
        if let Some(parent) = staging.parent() {
            std::fs::create_dir_all(parent).map_err(storage)?;
        }
        Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(staging))
            .map_err(storage)?;
        let mut shared = Vec::new();
        let mut private = Vec::new();
        for e in std::fs::read_dir(staging).map_err(storage)? {
            let name = e
                .map_err(storage)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".sst") {
                shared.push(SharedFile {
                    existing: self.restored.get(&name).cloned(),
                    name,
                });
            } else {
                private.push(name);
            }
        }
        shared.sort_by(|a, b| a.name.cmp(&b.name));
        private.sort();
        Ok(Some(NativeCheckpoint {
            dir: staging.to_owned(),
            instance: self.instance.clone(),
            shared,
            private,
            states: self.states(),
            key_groups: (*self.range.start(), *self.range.end()),
        }))
    }
}

mod snapshot;
#[cfg(test)]
mod tests;
