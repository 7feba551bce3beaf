//! The compiled-component cache on disk: a second runtime (a second run of
//! `weir`) loads components without compiling them, a damaged entry is
//! recompiled, and the cache stays within its size bound.

use weir_tests::*;
use weir_wasm::{CacheConfig, InstanceConfig, Origin, Runtime};

fn cached_runtime(dir: &std::path::Path, max_bytes: u64) -> std::sync::Arc<Runtime> {
    Runtime::with_cache(Some(CacheConfig {
        dir: dir.to_owned(),
        max_bytes,
    }))
    .expect("runtime")
}

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "cwasm"));
    v
}

#[test]
fn a_second_runtime_loads_components_from_the_cache() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = InstanceConfig::default();
    let first = cached_runtime(tmp.path(), 1 << 30)
        .load(&component("wordcount"), &config)
        .expect("loads");
    assert_eq!(first.origin(), Origin::Compiled);
    assert_eq!(entries(tmp.path()).len(), 1);
    let second = cached_runtime(tmp.path(), 1 << 30)
        .load(&component("wordcount"), &config)
        .expect("loads");
    assert_eq!(second.origin(), Origin::Cache);
    assert_eq!(first.functions(), second.functions());
    eprintln!(
        "wordcount.wasm: compiled in {:?}, loaded from the cache in {:?}",
        first.load_time(),
        second.load_time()
    );

    // The cached component runs jobs.
    let out = tmp.path().join("out");
    let graph = weir_core::JobGraph::load(
        &root().join("functions-examples/wordcount/wordcount.toml"),
        &weir_core::graph::Overrides {
            parameters: vec![("output".into(), out.to_string_lossy().into_owned())],
            ..Default::default()
        },
    )
    .expect("valid");
    let rt = cached_runtime(tmp.path(), 1 << 30);
    weir_runtime::run_job(&graph, &rt, &weir_runtime::RunOptions::default()).expect("runs");
    assert_eq!(
        output_lines(&out).len() as u64,
        reference_counts(weir_connectors::SAMPLE_TEXT)
            .values()
            .sum::<u64>()
    );
}

#[test]
fn a_damaged_cache_entry_is_compiled_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = InstanceConfig::default();
    cached_runtime(tmp.path(), 1 << 30)
        .load(&component("hostile"), &config)
        .expect("loads");
    let all = entries(tmp.path());
    let [entry] = &all[..] else {
        panic!("one entry: {all:?}");
    };
    let mut bytes = std::fs::read(entry).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(entry, &bytes).expect("damage");
    let again = cached_runtime(tmp.path(), 1 << 30)
        .load(&component("hostile"), &config)
        .expect("recompiles");
    assert_eq!(again.origin(), Origin::Compiled);
    let third = cached_runtime(tmp.path(), 1 << 30)
        .load(&component("hostile"), &config)
        .expect("loads");
    assert_eq!(third.origin(), Origin::Cache, "the entry was replaced");
}

#[test]
fn the_cache_keeps_within_its_size_bound() {
    let config = InstanceConfig::default();
    let names = ["wordcount", "hostile", "windows"];
    // The size of each entry, cached without a bound.
    let sizes_dir = tempfile::tempdir().expect("tmp");
    let unbounded = cached_runtime(sizes_dir.path(), 1 << 30);
    for n in names {
        unbounded.load(&component(n), &config).expect("loads");
    }
    let sizes: Vec<u64> = entries(sizes_dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).expect("entry").len())
        .collect();
    assert_eq!(sizes.len(), 3);
    // Room for the biggest entry, not for all three.
    let bound = sizes.iter().max().copied().unwrap_or(0) + 1;
    assert!(sizes.iter().sum::<u64>() > bound);
    let tmp = tempfile::tempdir().expect("tmp");
    let bounded = cached_runtime(tmp.path(), bound);
    for n in names {
        bounded.load(&component(n), &config).expect("loads");
    }
    let left = entries(tmp.path());
    let total: u64 = left
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(total <= bound, "{total} bytes in {left:?}, bound {bound}");
    assert!(!left.is_empty() && left.len() < 3, "{left:?}");
}
