//! Runtime behaviour: backpressure from a slow operator, cancellation, unions
//! and broadcast edges.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir_runtime::{RunOptions, run_job};
use weir_tests::*;

const JOB: &str = r#"
name = "backpressure"
[components]
h = "HOSTILE"
[[sources]]
id = "numbers"
kind = "datagen"
generator = "sequence"
[[operators]]
id = "slow"
component = "h"
function = "slow"
kind = "map"
input = { from = "numbers", exchange = "rebalance" }
[[sinks]]
id = "out"
kind = "discard"
input = "slow"
"#;

#[test]
fn slow_operator_backpressures_an_unbounded_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = job(
        &JOB.replace("HOSTILE", &component("hostile").display().to_string()),
        dir.path(),
        &[],
        Some(1),
    );
    let seen: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let cancel = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        batch_bytes: 4096,
        channel_capacity: 2,
        progress_interval: Duration::from_millis(200),
        on_progress: Some({
            let seen = seen.clone();
            let cancel = cancel.clone();
            Arc::new(move |p| {
                let mut s = seen.lock().expect("lock");
                s.push((p.source_records, p.sink_records));
                if s.len() >= 8 {
                    cancel.store(true, Ordering::Relaxed);
                }
            })
        }),
        cancel: Some(cancel.clone()),
        ..RunOptions::default()
    };
    let e = run_job(&graph, &runtime(), &options).expect_err("cancelled");
    assert!(e.to_string().contains("cancelled"), "{e}");
    let seen = seen.lock().expect("lock");
    let (source, sink) = *seen.last().expect("progress was reported");
    assert!(sink > 100, "the slow operator made progress: {seen:?}");
    // A 4 KiB batch holds ~200 sequence records; two queued batches, one in
    // the operator, one being built and one at the sink bound the lead.
    let lead = source - sink;
    assert!(
        lead < 2_000,
        "source ran {lead} records ahead of the sink: {seen:?}"
    );
}

#[test]
fn union_of_two_sources_delivers_every_record_once() {
    let text = r#"
name = "union"
[components]
wc = "WC"
[[sources]]
id = "a"
kind = "datagen"
generator = "sequence"
count = 5000
parallelism = 2
[[sources]]
id = "b"
kind = "datagen"
generator = "sequence"
count = 3000
parallelism = 3
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = ["a", { from = "b", exchange = "rebalance" }]
parallelism = 2
[[operators]]
id = "format"
component = "wc"
function = "format"
kind = "flat-map"
input = "tokenize"
parallelism = 2
[[sinks]]
id = "out"
kind = "file"
path = "OUT"
input = "format"
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let t = text
        .replace("WC", &component("wordcount").display().to_string())
        .replace("OUT", &out.display().to_string());
    let summary = run(&job(&t, dir.path(), &[], None)).expect("runs");
    assert_eq!(summary.node("tokenize").expect("t").records_in, 8000);
    let got = sorted_numbers(output_lines(&out).iter().map(String::as_str));
    let mut want: Vec<u64> = (0..5000).chain(0..3000).collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn broadcast_gives_every_sub_task_every_record() {
    let text = r#"
name = "broadcast"
[components]
wc = "WC"
[[sources]]
id = "numbers"
kind = "datagen"
generator = "sequence"
count = 2000
parallelism = 2
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = { from = "numbers", exchange = "broadcast" }
parallelism = 3
[[operators]]
id = "format"
component = "wc"
function = "format"
kind = "flat-map"
input = "tokenize"
parallelism = 3
[[sinks]]
id = "out"
kind = "file"
path = "OUT"
input = "format"
parallelism = 3
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let t = text
        .replace("WC", &component("wordcount").display().to_string())
        .replace("OUT", &out.display().to_string());
    let summary = run(&job(&t, dir.path(), &[], None)).expect("runs");
    assert_eq!(summary.node("tokenize").expect("t").records_in, 3 * 2000);
    let want: Vec<u64> = (0..2000).collect();
    let mut parts: Vec<_> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").path())
        .collect();
    parts.sort();
    assert_eq!(parts.len(), 3, "{parts:?}");
    for part in parts {
        let text = std::fs::read_to_string(&part).expect("part");
        let got = sorted_numbers(text.lines());
        assert_eq!(got, want, "{} holds every record once", part.display());
    }
}

/// The numbers of WordCount lines `(<n>,1)`, sorted.
fn sorted_numbers<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<u64> {
    let mut v: Vec<u64> = lines
        .map(|l| {
            l.strip_prefix('(')
                .and_then(|l| l.strip_suffix(",1)"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad line {l:?}"))
        })
        .collect();
    v.sort_unstable();
    v
}
