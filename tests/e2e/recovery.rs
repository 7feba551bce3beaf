//! Recovery inside one process: a failing sub-task restarts the job from
//! its latest checkpoint under the restart strategy; a failure that keeps
//! coming exhausts it; a damaged newest checkpoint falls back to an older
//! one, output still exactly once.

use std::path::Path;
use std::sync::Arc;
use weir_runtime::{InjectedFault, RunOptions, run_job};
use weir_tests::*;

/// Stateful WordCount over generated words, checkpointing every 50 ms.
fn job_text(rate: &str) -> String {
    format!(
        r#"
name = "recovery"
parallelism = 2
[components]
wc = "{}"
[checkpointing]
interval_ms = 50
dir = "chk"
[restart]
strategy = "fixed-delay"
attempts = 3
delay_ms = 10
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 8000
seed = 9
{rate}
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "wc"
function = "count-with-state"
kind = "keyed-process"
input = {{ from = "tokenize", exchange = "key-by" }}
[[sinks]]
id = "out"
kind = "file"
path = "out"
input = "count"
"#,
        component("wordcount").display()
    )
}

fn sorted(dir: &Path) -> Vec<String> {
    let mut v = output_lines(dir);
    v.sort();
    v
}

fn reference(dir: &Path) -> Vec<String> {
    let d = dir.join("reference");
    std::fs::create_dir_all(&d).expect("mkdir");
    let mut g = job(&job_text(""), &d, &[], None);
    g.checkpointing = None;
    run(&g).unwrap_or_else(|e| panic!("job failed: {e}"));
    sorted(&d.join("out"))
}

#[test]
fn an_injected_fault_restarts_from_the_latest_checkpoint_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    let g = job(&job_text("rate = 20000.0"), dir, &[], None);
    let fault = Arc::new(InjectedFault::new("count", 40_000));
    let summary = run_job(
        &g,
        &runtime(),
        &RunOptions {
            fault: Some(fault.clone()),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert!(fault.fired(), "the fault happened");
    assert_eq!(summary.restarts, 1);
    assert!(
        summary.checkpoints.completed > 1,
        "{:?}",
        summary.checkpoints
    );
    assert_eq!(sorted(&dir.join("out")), want);
}

/// Runs the recovery job with checkpoints `failing` failing to write and
/// `tolerable` failures in a row allowed; returns the number of restarts.
fn run_with_failing_checkpoints(dir: &Path, tolerable: u32, failing: Vec<u64>) -> u32 {
    let text = job_text("rate = 20000.0").replace(
        "dir = \"chk\"",
        &format!("dir = \"chk\"\ntolerable_failures = {tolerable}"),
    );
    let summary = run_job(
        &job(&text, dir, &[], None),
        &runtime(),
        &RunOptions {
            failing_checkpoints: failing,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert!(
        summary.checkpoints.completed > 2,
        "{:?}",
        summary.checkpoints
    );
    summary.restarts
}

#[test]
fn tolerated_checkpoint_failures_lose_no_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    // Checkpoints 2 and 3 fail; the sink output they were handed is
    // committed by checkpoint 4 instead, and the job never restarts.
    assert_eq!(run_with_failing_checkpoints(dir, 2, vec![2, 3]), 0);
    assert_eq!(sorted(&dir.join("out")), want);
}

#[test]
fn one_failed_checkpoint_too_many_restarts_the_job_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    assert_eq!(run_with_failing_checkpoints(dir, 2, vec![2, 3, 4]), 1);
    assert_eq!(sorted(&dir.join("out")), want);
}

fn poison_job(dir: &std::path::Path) -> weir_core::JobGraph {
    std::fs::write(dir.join("in.txt"), "1\n2\nboom\n").expect("write");
    let text = format!(
        r#"
name = "poison"
[components]
h = "{}"
[checkpointing]
interval_ms = 20
dir = "chk"
[restart]
strategy = "exponential-backoff"
attempts = 2
initial_delay_ms = 1
[[sources]]
id = "in"
kind = "file"
path = "in.txt"
[[operators]]
id = "parse"
component = "h"
function = "panic"
kind = "map"
input = "in"
[[sinks]]
id = "out"
kind = "discard"
input = "parse"
"#,
        component("hostile").display()
    );
    job(&text, dir, &[], None)
}

#[test]
fn a_user_error_fails_the_job_without_restarts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let started = std::time::Instant::now();
    let e = run(&poison_job(tmp.path())).expect_err("poison");
    let msg = e.to_string();
    assert!(
        msg.contains("operator 'parse'") && msg.contains("the record said boom"),
        "{msg}"
    );
    assert!(msg.contains("not restarted: a user error"), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_failure_that_keeps_coming_exhausts_the_restart_strategy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut graph = poison_job(tmp.path());
    std::fs::write(tmp.path().join("in.txt"), "1\n2\n3\n").expect("write");
    graph.restart = weir_core::spec::RestartSpec::ExponentialBackoff {
        attempts: 2,
        initial_delay_ms: 1,
        max_delay_ms: None,
        multiplier: None,
    };
    let options = RunOptions {
        fault: Some(Arc::new(InjectedFault::every_attempt("parse", 1))),
        ..RunOptions::default()
    };
    let e = run_job(&graph, &runtime(), &options).expect_err("keeps failing");
    let msg = e.to_string();
    assert!(
        msg.contains("operator 'parse'")
            && msg.contains("injected fault")
            && msg.contains("no restarts left after 2"),
        "{msg}"
    );
}

#[test]
fn a_checkpoint_stuck_behind_a_slow_operator_expires_and_fails_the_attempt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // `slow` takes 1 ms per record; a 4 KiB batch holds ~400 numbers, so
    // a barrier queued behind one waits ~0.4 s: longer than the timeout.
    let text = format!(
        r#"
name = "stuck"
[components]
h = "{}"
[checkpointing]
interval_ms = 20
dir = "chk"
timeout_ms = 100
[restart]
strategy = "fixed-delay"
attempts = 1
delay_ms = 1
[[sources]]
id = "numbers"
kind = "datagen"
generator = "sequence"
[[operators]]
id = "slow"
component = "h"
function = "slow"
kind = "map"
input = {{ from = "numbers", exchange = "rebalance" }}
[[sinks]]
id = "out"
kind = "discard"
input = "slow"
"#,
        component("hostile").display()
    );
    let options = RunOptions {
        batch_bytes: 4096,
        channel_capacity: 2,
        ..RunOptions::default()
    };
    let started = std::time::Instant::now();
    let e = run_job(&job(&text, dir, &[], None), &runtime(), &options).expect_err("expires");
    let msg = e.to_string();
    assert!(msg.contains("expired after 100 ms"), "{msg}");
    assert!(msg.contains("no restarts left after 1"), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // Expired checkpoints leave nothing behind but the last attempt's.
    let left: Vec<_> = std::fs::read_dir(dir.join("chk"))
        .expect("chk")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("chk-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_unreadable_newest_checkpoint_falls_back_to_an_older_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    // A full run: its newest checkpoint is the final one.
    let mut g = job(&job_text("rate = 40000.0"), dir, &[], None);
    if let Some(c) = &mut g.checkpointing {
        c.retain = 10;
    }
    let summary = run(&g).unwrap_or_else(|e| panic!("job failed: {e}"));
    assert!(
        summary.checkpoints.completed >= 3,
        "{:?}",
        summary.checkpoints
    );
    assert_eq!(sorted(&dir.join("out")), want);
    // Damage the two newest checkpoints; the restore uses the third and
    // replays from there: the output stays exactly once.
    let chk = dir.join("chk");
    let mut ids: Vec<_> = std::fs::read_dir(&chk)
        .expect("chk")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("_metadata").is_file())
        .collect();
    ids.sort();
    let newest = ids.pop().expect("one");
    std::fs::write(newest.join("_metadata"), b"garbage").expect("damage");
    let second = ids.pop().expect("two");
    let snap = std::fs::read_dir(&second)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".snap"))
        .expect("a snapshot");
    let mut bytes = std::fs::read(&snap).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, bytes).expect("damage");
    run_job(
        &g,
        &runtime(),
        &RunOptions {
            restore: Some(chk.clone()),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert_eq!(sorted(&dir.join("out")), want);
    // With every checkpoint damaged, the error says why each was refused.
    for d in std::fs::read_dir(&chk).expect("chk").flatten() {
        let m = d.path().join("_metadata");
        if m.is_file() {
            std::fs::write(&m, b"{").expect("damage");
        }
    }
    let e = run_job(
        &g,
        &runtime(),
        &RunOptions {
            restore: Some(chk),
            ..RunOptions::default()
        },
    )
    .expect_err("nothing usable")
    .to_string();
    assert!(
        e.contains("no usable checkpoint") && e.contains("corrupt"),
        "{e}"
    );
}

#[test]
fn state_ttl_expires_entries_in_processing_time() {
    for backend in [
        weir_core::spec::StateBackendKind::Memory,
        weir_core::spec::StateBackendKind::Rocksdb,
    ] {
        ttl_on(backend);
    }
}

fn ttl_on(backend: weir_core::spec::StateBackendKind) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let text = format!(
        r#"
name = "ttl"
[components]
s = "{}"
[[sources]]
id = "in"
kind = "file"
path = "in.jsonl"
format = "json"
[[operators]]
id = "probe"
component = "s"
function = "ttl-probe"
kind = "keyed-process"
input = {{ from = "in", exchange = "key-by", key_field = "key" }}
[[sinks]]
id = "out"
kind = "file"
path = "out"
format = "json"
input = "probe"
"#,
        component("state_evolution").display()
    );
    // The clock moves 600 ms each time the probe reads it: once per
    // one-record batch.
    let mut g = job(&text, dir, &[], None);
    g.state_backend = backend;
    let ticking = Arc::new(TickingClock::new(10_000, 600));
    std::fs::write(
        dir.join("in.jsonl"),
        [1, 0, 0, 0, 2, 0]
            .iter()
            .map(|v| format!("{{\"key\": \"a\", \"v\": {v}}}\n"))
            .collect::<String>(),
    )
    .expect("write");
    run_job(
        &g,
        &runtime(),
        &RunOptions {
            clock: ticking.clone(),
            batch_bytes: 1,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    let seen: Vec<serde_json::Value> = output_lines(&dir.join("out"))
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(seen.len(), 6);
    let values: Vec<Option<u64>> = seen.iter().map(|s| s["value"].as_u64()).collect();
    let lists: Vec<usize> = seen
        .iter()
        .map(|s| s["list"].as_array().map_or(0, Vec::len))
        .collect();
    let touched: Vec<Option<u64>> = seen.iter().map(|s| s["touched"].as_u64()).collect();
    // The clock moves 600 ms per batch; entries live 1 s after a write.
    assert_eq!(
        values,
        vec![None, Some(1), None, None, None, Some(2)],
        "{backend:?}: {seen:?}"
    );
    assert_eq!(lists, vec![0, 1, 0, 0, 0, 1], "{seen:?}");
    // Reads keep `touched` alive: it outlives the others.
    assert_eq!(touched[1], Some(1));
    assert_eq!(touched[2], Some(1), "read at +600 ms refreshed it");
    assert_eq!(touched[3], Some(1), "and again");
    assert_eq!(touched[5], Some(1), "still alive 3 s after its write");
}

/// A clock that moves `step` ms every time the operator reads it for a
/// batch: deterministic time passing between one-record batches.
struct TickingClock {
    now: std::sync::atomic::AtomicI64,
    step: i64,
}

impl TickingClock {
    fn new(start: i64, step: i64) -> Self {
        TickingClock {
            now: std::sync::atomic::AtomicI64::new(start),
            step,
        }
    }
}

impl weir_runtime::Clock for TickingClock {
    fn now_ms(&self) -> i64 {
        self.now
            .fetch_add(self.step, std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn operator_state_of_a_function_survives_recovery() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let text = format!(
        r#"
name = "numbered"
parallelism = 2
[components]
s = "{}"
[checkpointing]
interval_ms = 30
dir = "chk"
[restart]
strategy = "fixed-delay"
attempts = 2
[[sources]]
id = "seq"
kind = "datagen"
generator = "sequence"
count = 20000
rate = 40000.0
[[operators]]
id = "numbered"
component = "s"
function = "sequence-numbers"
kind = "map"
input = "seq"
[[sinks]]
id = "out"
kind = "file"
path = "out"
input = "numbered"
"#,
        component("state_evolution").display()
    );
    let g = job(&text, dir, &[], None);
    let fault = Arc::new(InjectedFault::new("numbered", 9_000));
    let summary = run_job(
        &g,
        &runtime(),
        &RunOptions {
            fault: Some(fault.clone()),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert!(fault.fired() && summary.restarts == 1);
    let mut numbers: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut values = Vec::new();
    for l in output_lines(&dir.join("out")) {
        let (tag, v) = l.split_once(' ').expect("<instance>:<n> <value>");
        let (inst, n) = tag.split_once(':').expect("instance:n");
        numbers
            .entry(inst.to_owned())
            .or_default()
            .push(n.parse().expect("n"));
        values.push(v.parse::<u64>().expect("value"));
    }
    values.sort_unstable();
    assert_eq!(
        values,
        (0..20000).collect::<Vec<u64>>(),
        "every record once"
    );
    for (inst, mut ns) in numbers {
        ns.sort_unstable();
        assert_eq!(
            ns,
            (1..=ns.len() as u64).collect::<Vec<_>>(),
            "instance {inst} numbers without gaps or repeats"
        );
    }
}
