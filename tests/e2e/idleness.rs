//! Source idleness: a source that stops producing is marked idle after its
//! `idle_timeout_ms`, so the operators it feeds take their watermark from
//! the other inputs alone and event-time windows keep firing; without the
//! timeout the quiet source holds every window back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir_runtime::{Progress, RunOptions, run_job};
use weir_tests::*;

/// `busy` produces 2,000 sequence numbers per second; `quiet` produces one
/// record at the start and then nothing for ~17 minutes. Both are stamped
/// with ingestion time; every number is its own key, so each record
/// becomes one result of a 50 ms tumbling window.
const JOB: &str = r#"
name = "idleness"
[components]
wc = "WC"
[[sources]]
id = "busy"
kind = "datagen"
generator = "sequence"
rate = 2000.0
event_time = { max_out_of_orderness_ms = 0 }
[[sources]]
id = "quiet"
kind = "datagen"
generator = "sequence"
rate = 0.001
event_time = { max_out_of_orderness_ms = 0 IDLE }
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = [{ from = "busy", exchange = "rebalance" }, { from = "quiet", exchange = "rebalance" }]
[[operators]]
id = "count"
component = "wc"
function = "count"
kind = "reduce"
input = { from = "tokenize", exchange = "key-by" }
window = { type = "tumbling", size_ms = 50 }
[[sinks]]
id = "out"
kind = "discard"
input = "count"
"#;

/// Runs the job until `stop` says so (or 20 s pass) and returns the last
/// progress report.
fn run_until(idle: &str, stop: impl Fn(&Progress) -> bool + Send + Sync + 'static) -> Progress {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = JOB
        .replace("WC", &component("wordcount").display().to_string())
        .replace("IDLE", idle);
    let graph = job(&text, dir.path(), &[], None);
    let last: Arc<Mutex<Option<Progress>>> = Arc::default();
    let cancel = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        progress_interval: Duration::from_millis(100),
        on_progress: Some({
            let last = last.clone();
            let cancel = cancel.clone();
            Arc::new(move |p: &Progress| {
                if stop(p) || p.elapsed > Duration::from_secs(20) {
                    cancel.store(true, Ordering::Relaxed);
                }
                *last.lock().expect("lock") = Some(p.clone());
            })
        }),
        cancel: Some(cancel),
        ..RunOptions::default()
    };
    let e = run_job(&graph, &runtime(), &options).expect_err("runs until cancelled");
    assert!(e.to_string().contains("cancelled"), "{e}");
    let last = last.lock().expect("lock").clone();
    last.expect("progress was reported")
}

#[test]
fn an_idle_source_does_not_hold_back_the_windows_of_the_others() {
    let p = run_until(", idle_timeout_ms = 100", |p| p.sink_records >= 2_000);
    assert!(
        p.sink_records >= 2_000,
        "windows kept firing while `quiet` was idle: {p:?}"
    );
}

#[test]
fn without_an_idle_timeout_a_quiet_source_holds_the_watermark() {
    // The control for the test above: the same job for as long as it took
    // there (2,000+ records), with no timeout. Only windows that closed
    // before `quiet`'s one record (its watermark) can fire.
    let p = run_until("", |p| p.source_records >= 4_000);
    assert!(p.source_records >= 4_000, "{p:?}");
    assert!(
        p.sink_records < 200,
        "a quiet source without idleness must hold windows back: {p:?}"
    );
}
