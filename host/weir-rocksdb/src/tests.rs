//! The RocksDB backend against the in-memory backend as a model: the same
//! random operations give the same state; checkpoints restore exactly.

use super::*;
use weir_state::MemoryBackend;
use weir_state::StateEntry;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A small budget, as a test process would have.
fn budget() -> Arc<MemoryBudget> {
    MemoryBudget::new(MIN_MEMORY_MB, 2).expect("budget")
}

fn canonical(b: &dyn KeyedStateBackend) -> Vec<StateEntry> {
    let mut e = b.snapshot().expect("snapshot").entries;
    e.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    e
}

/// Applies the same random operations to both backends.
fn random_ops(backends: &mut [&mut dyn KeyedStateBackend], n: usize, seed: u64) {
    let mut rng = Lcg(seed);
    let ids: Vec<Vec<StateId>> = backends
        .iter_mut()
        .map(|b| {
            vec![
                b.register("v", StateKind::Value).expect("v"),
                b.register("l", StateKind::List).expect("l"),
                b.register("m", StateKind::Map).expect("m"),
            ]
        })
        .collect();
    for _ in 0..n {
        let kg = rng.next(8) as u16;
        let key = vec![b'k', rng.next(5) as u8];
        let uk = vec![rng.next(4) as u8];
        let val = vec![rng.next(256) as u8; rng.next(3) as usize];
        let op = rng.next(9);
        for (b, id) in backends.iter_mut().zip(&ids) {
            match op {
                0 => b.value_put(kg, id[0], &key, &val).expect("put"),
                1 => b.value_delete(kg, id[0], &key).expect("delete"),
                2 | 3 => b.list_add(kg, id[1], &key, &val).expect("add"),
                4 => b
                    .list_update(kg, id[1], &key, vec![val.clone()])
                    .expect("update"),
                5 => b.map_put(kg, id[2], &key, &uk, &val).expect("map put"),
                6 => b.map_remove(kg, id[2], &key, &uk).expect("map remove"),
                7 => b.clear(kg, id[2], &key).expect("clear map"),
                _ => b.clear(kg, id[1], &key).expect("clear list"),
            }
        }
    }
    // Reads agree too.
    let mut outs = Vec::new();
    for (b, id) in backends.iter().zip(&ids) {
        let mut o = Vec::new();
        for kg in 0..8u16 {
            for k in 0..5u8 {
                let key = [b'k', k];
                let mut v = Vec::new();
                let has = b.value_get_into(kg, id[0], &key, &mut v).expect("get");
                o.push(format!(
                    "{kg} {k} {has} {v:?} {:?} {:?}",
                    b.list_get(kg, id[1], &key).expect("list"),
                    b.map_entries(kg, id[2], &key).expect("entries")
                ));
            }
        }
        outs.push(o);
    }
    assert_eq!(outs[0], outs[1]);
}

#[test]
fn behaves_like_the_memory_backend() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut mem = MemoryBackend::new(0..=7);
    let mut rdb =
        RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget()).expect("open");
    random_ops(&mut [&mut mem, &mut rdb], 3000, 1);
    assert_eq!(canonical(&mem), canonical(&rdb));
    assert_eq!(mem.key_count(), rdb.key_count());
}

/// Stages, then "uploads" a native checkpoint the way the coordinator
/// does: SST files into `shared` (once), the rest into `chk/private`.
fn upload(n: &NativeCheckpoint, shared: &Path, chk: &Path) -> RocksDbFiles {
    let own = shared.join(&n.instance);
    std::fs::create_dir_all(&own).expect("shared");
    std::fs::create_dir_all(chk.join("private")).expect("private");
    let mut files = Vec::new();
    for f in &n.shared {
        let rel = f
            .existing
            .clone()
            .unwrap_or_else(|| format!("{}/{}", n.instance, f.name));
        if !shared.join(&rel).exists() {
            std::fs::copy(n.dir.join(&f.name), shared.join(&rel)).expect("copy");
        }
        files.push(rel);
    }
    for p in &n.private {
        std::fs::copy(n.dir.join(p), chk.join("private").join(p)).expect("copy");
    }
    RocksDbFiles {
        key_groups: n.key_groups,
        shared: files,
        private: n.private.clone(),
        private_dir: "private".into(),
        states: n.states.clone(),
    }
}

/// Takes a native checkpoint of `rdb`, uploads it under `dir` and opens a
/// new backend (`dir/db2`) restored from it.
fn checkpoint_and_reopen(
    rdb: &mut RocksDbBackend,
    dir: &Path,
    range: RangeInclusive<u16>,
) -> RocksDbBackend {
    let shared = dir.join("shared");
    let cp = rdb
        .native_checkpoint(&dir.join("staging"))
        .expect("checkpoint")
        .expect("native");
    let files = upload(&cp, &shared, &dir.join("cp"));
    let restore = Restore {
        files,
        checkpoint_dir: dir.join("cp"),
        shared_dir: shared,
    };
    RocksDbBackend::open(&dir.join("db2"), range, Some(&restore), &budget()).expect("restore")
}

#[test]
fn the_value_write_buffer_flushing_at_any_size_behaves_like_the_memory_backend() {
    for (capacity, seed) in [(0, 2), (300, 3), (4_000, 4), (1 << 20, 5)] {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut mem = MemoryBackend::new(0..=7);
        let mut rdb =
            RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget()).expect("open");
        rdb.set_write_buffer_capacity(capacity);
        random_ops(&mut [&mut mem, &mut rdb], 2000, seed);
        assert!(
            rdb.buffered_bytes() as usize <= capacity.max(1) + 200,
            "capacity {capacity}: {} bytes buffered",
            rdb.buffered_bytes()
        );
        assert_eq!(mem.key_count(), rdb.key_count(), "capacity {capacity}");
        assert_eq!(rdb.buffered_bytes(), 0, "counting keys flushed the buffer");
        random_ops(&mut [&mut mem, &mut rdb], 500, seed + 10);
        assert_eq!(canonical(&mem), canonical(&rdb), "capacity {capacity}");
    }
}

#[test]
fn buffered_writes_are_in_checkpoints_and_deferred_snapshots() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rdb =
        RocksDbBackend::open(&tmp.path().join("db"), 0..=3, None, &budget()).expect("open");
    let v = rdb.register("v", StateKind::Value).expect("v");
    rdb.value_put(1, v, b"kept", b"1").expect("put");
    rdb.value_put(2, v, b"gone", b"2").expect("put");
    rdb.value_delete(2, v, b"gone").expect("delete");
    assert!(rdb.buffered_bytes() > 0, "the writes are buffered");
    let deferred = rdb.snapshot_deferred().expect("pin");
    rdb.value_put(1, v, b"later", b"3").expect("put");
    let pinned = deferred.collect().expect("materialize");
    let keys: Vec<_> = pinned.entries.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(keys.len(), 1, "only the kept key: {keys:?}");
    let back = checkpoint_and_reopen(&mut rdb, tmp.path(), 0..=3);
    let mut out = Vec::new();
    assert!(back.value_get_into(1, v, b"later", &mut out).expect("get"));
    assert_eq!(out, b"3");
    assert!(!back.value_get_into(2, v, b"gone", &mut out).expect("get"));
    assert_eq!(back.key_count(), 2);
}

#[test]
fn native_checkpoints_restore_exactly_and_share_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let shared = tmp.path().join("shared");
    let mut rdb =
        RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget()).expect("open");
    let mut mem = MemoryBackend::new(0..=7);
    random_ops(&mut [&mut mem, &mut rdb], 2000, 2);

    let first = rdb
        .native_checkpoint(&tmp.path().join("staging1"))
        .expect("checkpoint")
        .expect("native");
    let files1 = upload(&first, &shared, &tmp.path().join("chk1"));
    let restored = RocksDbBackend::open(
        &tmp.path().join("db2"),
        0..=7,
        Some(&Restore {
            files: files1.clone(),
            checkpoint_dir: tmp.path().join("chk1"),
            shared_dir: shared.clone(),
        }),
        &budget(),
    )
    .expect("restore");
    assert_eq!(canonical(&restored), canonical(&mem));

    // A restored database's next checkpoint reuses the uploaded files.
    let mut restored = restored;
    let mut mem2 = MemoryBackend::new(0..=7);
    mem2.restore(&mem.snapshot().expect("snapshot"))
        .expect("restore");
    random_ops(&mut [&mut mem2, &mut restored], 50, 3);
    let second = restored
        .native_checkpoint(&tmp.path().join("staging2"))
        .expect("checkpoint")
        .expect("native");
    assert!(
        second.shared.iter().any(|f| f.existing.is_some()),
        "unchanged SST files are not uploaded again"
    );
    let files2 = upload(&second, &shared, &tmp.path().join("chk2"));
    let again = RocksDbBackend::open(
        &tmp.path().join("db3"),
        0..=7,
        Some(&Restore {
            files: files2,
            checkpoint_dir: tmp.path().join("chk2"),
            shared_dir: shared.clone(),
        }),
        &budget(),
    )
    .expect("restore");
    assert_eq!(canonical(&again), canonical(&mem2));
}

#[test]
fn canonical_snapshots_move_between_backends_and_ranges() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rdb =
        RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget()).expect("open");
    let mut mem = MemoryBackend::new(0..=7);
    random_ops(&mut [&mut mem, &mut rdb], 1500, 4);
    let snap = rdb.snapshot().expect("snapshot");
    let mut low = MemoryBackend::new(0..=3);
    let mut high =
        RocksDbBackend::open(&tmp.path().join("high"), 4..=7, None, &budget()).expect("open");
    low.restore(&snap).expect("restore");
    high.restore(&snap).expect("restore");
    let mut both = canonical(&low);
    both.extend(canonical(&high));
    both.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(both, canonical(&mem));
}

#[test]
fn a_deferred_snapshot_is_the_state_when_it_was_taken() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut mem = MemoryBackend::new(0..=7);
    let mut rdb =
        RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget()).expect("open");
    random_ops(&mut [&mut mem, &mut rdb], 2000, 3);
    let want = canonical(&rdb);
    let deferred = rdb.snapshot_deferred().expect("pin");
    // More writes after the pin (lists through the merge operator too).
    random_ops(&mut [&mut mem, &mut rdb], 2000, 4);
    let mut got = std::thread::spawn(move || deferred.collect())
        .join()
        .expect("thread")
        .expect("read the pinned state")
        .entries;
    got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(got, want);
    assert_ne!(canonical(&rdb), want, "the live state moved on");
    // The pinned copy is gone once read, and also when never read.
    let dropped = rdb.snapshot_deferred().expect("pin");
    drop(dropped);
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["db"]);
}

#[test]
fn memtables_and_block_cache_stay_within_the_budget() {
    let tmp = tempfile::tempdir().expect("tmp");
    let budget = MemoryBudget::new(MIN_MEMORY_MB, 1).expect("budget");
    let share = budget.memtables_per_database() as u64;
    let mut rdb = RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget).expect("open");
    let v = rdb.register("v", StateKind::Value).expect("v");
    // About 4x the memtable share of distinct keys: RocksDB must flush.
    let n = 400_000u32;
    let value = [7u8; 64];
    let mut peak = 0;
    for i in 0..n {
        let key = format!("key-{i:09}");
        rdb.value_put((i % 8) as u16, v, key.as_bytes(), &value)
            .expect("put");
        if i % 5_000 == 0 {
            peak = peak.max(rdb.memtable_bytes());
        }
    }
    assert!(
        peak <= share + share / 4,
        "memtables peaked at {peak} bytes, over the database's share of {share}"
    );
    let mut out = Vec::new();
    for i in (0..n).step_by(3) {
        let key = format!("key-{i:09}");
        out.clear();
        assert!(
            rdb.value_get_into((i % 8) as u16, v, key.as_bytes(), &mut out)
                .expect("get"),
            "key {i} is there"
        );
        assert_eq!(out, value);
    }
    let u = budget.usage();
    assert!(
        u.cache_usage_bytes > 0 && u.cache_usage_bytes <= u.cache_capacity_bytes,
        "block cache use {u:?}"
    );
    assert!(
        crate::usage().budget_bytes >= u.budget_bytes,
        "the process-wide sum includes this budget"
    );
}

#[test]
fn timers_in_rocksdb_behave_like_the_in_memory_timers_and_travel_in_native_checkpoints() {
    use weir_state::{TimerService, TimerStore};
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rdb =
        RocksDbBackend::open(&tmp.path().join("db"), 0..=7, None, &budget()).expect("open");
    let mut heap = TimerService::default();
    let mut rng = Lcg(11);
    let sorted = |mut v: Vec<weir_state::Timer>| {
        v.sort();
        v
    };
    for round in 0..40 {
        for _ in 0..50 {
            let (d, t, kg) = (
                rng.next(2) as u8,
                rng.next(60) as i64 - 20,
                rng.next(8) as u16,
            );
            let key = [b'k', rng.next(6) as u8];
            let stores: [&mut dyn TimerStore; 2] = [&mut heap, &mut rdb];
            for s in stores {
                if rng.0.is_multiple_of(4) {
                    s.delete(d, t, kg, &key).expect("delete");
                } else {
                    s.register(d, t, kg, &key).expect("register");
                }
            }
        }
        for d in 0..2u8 {
            assert_eq!(TimerStore::count(&heap, d), rdb.count(d), "round {round}");
        }
        // Due timers come earliest first, in bounded rounds, the same set.
        let upto = round - 10;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        loop {
            let r = TimerStore::pop_due(&mut rdb, 0, upto, 7).expect("pop");
            assert!(r.len() <= 7);
            assert!(r.windows(2).all(|w| w[0].0 <= w[1].0), "time order {r:?}");
            assert!(
                b.last()
                    .is_none_or(|l: &weir_state::Timer| r.first().is_none_or(|f| l.0 <= f.0))
            );
            if r.is_empty() {
                break;
            }
            b.extend(r);
        }
        a.extend(heap.pop_due(0, upto, usize::MAX));
        assert_eq!(sorted(a), sorted(b), "round {round}");
    }
    let mut want = TimerStore::entries(&mut heap).expect("entries");
    want.sort_by(|x, y| (x.domain, x.time, x.kg, &x.key).cmp(&(y.domain, y.time, y.kg, &y.key)));
    assert_eq!(
        rdb.entries().expect("entries"),
        want,
        "canonical timers in key order"
    );
    // A native checkpoint carries them; the restored backend counts them.
    KeyedStateBackend::register(&mut rdb, "v", StateKind::Value).expect("v");
    let mut back = checkpoint_and_reopen(&mut rdb, tmp.path(), 0..=7);
    assert_eq!(back.entries().expect("entries"), want);
    for d in 0..2u8 {
        assert_eq!(back.count(d), TimerStore::count(&heap, d));
    }
    // Timers are not keyed state entries.
    assert!(back.snapshot().expect("snapshot").entries.is_empty());
}
