//! Hostile and broken components: each fails its job with a clear error
//! naming the operator, the sub-task and the cause; the host lives on and
//! other jobs keep running.

use std::path::Path;
use std::time::{Duration, Instant};
use weir_tests::*;

const JOB: &str = r#"
name = "hostile"
[components]
evil = "EVIL"
[sandbox]
memory_limit_mb = 32
call_timeout_ms = 300
[[sources]]
id = "lines"
kind = "file"
path = "INPUT"
[[operators]]
id = "evil"
component = "evil"
function = "FUNCTION"
kind = "KIND"
input = "lines"
[[sinks]]
id = "out"
kind = "discard"
input = "evil"
"#;

fn hostile_job(
    dir: &Path,
    component_path: &Path,
    function: &str,
    kind: &str,
    p: u32,
) -> weir_core::JobGraph {
    let input = dir.join("in.txt");
    std::fs::write(&input, "ok\nboom\nbad\nmore\n").expect("write");
    let text = JOB
        .replace("EVIL", &component_path.display().to_string())
        .replace("INPUT", &input.display().to_string())
        .replace("FUNCTION", function)
        .replace("KIND", kind);
    let text = if kind == "keyed-process" {
        text.replace(
            "input = \"lines\"",
            "input = { from = \"lines\", exchange = \"key-by\" }",
        )
    } else {
        text
    };
    job(&text, dir, &[], Some(p))
}

fn failure(function: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = hostile_job(dir.path(), &component("hostile"), function, "map", 1);
    let t = Instant::now();
    let e = run(&graph).expect_err("hostile job must fail").to_string();
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "failing took {:?}",
        t.elapsed()
    );
    assert!(e.contains("operator 'evil' (sub-task 1/1)"), "{e}");
    e
}

#[test]
fn infinite_loop_hits_the_call_deadline() {
    let e = failure("spin");
    assert!(e.contains("exceeded its deadline of 300 ms"), "{e}");
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let e = failure("memory-bomb");
    assert!(e.contains("exceeded its memory limit of 32 MiB"), "{e}");
}

#[test]
fn deep_recursion_overflows_the_stack_safely() {
    let e = failure("recurse");
    assert!(e.contains("overflowed its stack"), "{e}");
}

#[test]
fn panic_is_reported_with_its_message() {
    let e = failure("panic");
    assert!(
        e.contains("panicked") && e.contains("the record said boom"),
        "{e}"
    );
}

#[test]
fn function_error_is_reported_with_its_message() {
    let e = failure("fail");
    assert!(e.contains("refusing record 'bad'"), "{e}");
    assert!(e.contains("user error"), "{e}");
}

#[test]
fn failing_sub_task_is_named_at_parallelism_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = hostile_job(dir.path(), &component("hostile"), "panic", "map", 2);
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(
        e.contains("operator 'evil' (sub-task ") && e.contains("/2)"),
        "{e}"
    );
}

#[test]
fn component_of_the_wrong_world_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = hostile_job(dir.path(), &component("not-a-function"), "x", "map", 1);
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(
        e.contains("operator 'evil'") && e.contains("is not a Weir function component"),
        "{e}"
    );
}

#[test]
fn corrupt_and_truncated_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm this is not really wasm").expect("write");
    let truncated = dir.path().join("truncated.wasm");
    let real = std::fs::read(component("wordcount")).expect("read");
    std::fs::write(&truncated, &real[..real.len() / 2]).expect("write");
    for f in [&garbage, &truncated] {
        let graph = hostile_job(dir.path(), f, "tokenize", "flat-map", 1);
        let e = run(&graph).expect_err("must fail").to_string();
        assert!(e.contains("is not a valid WebAssembly component"), "{e}");
    }
}

#[test]
fn wrong_kind_and_unknown_function_are_refused_before_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let graph = hostile_job(dir.path(), &component("wordcount"), "tokenize", "map", 1);
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(
        e.contains("is a flat-map, but the job uses it as a map"),
        "{e}"
    );
    let graph = hostile_job(dir.path(), &component("wordcount"), "nope", "map", 1);
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(
        e.contains("has no function 'nope'") && e.contains("tokenize (flat-map)"),
        "{e}"
    );
}

#[test]
fn other_jobs_go_on_while_a_hostile_one_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spin = hostile_job(dir.path(), &component("hostile"), "spin", "map", 2);
    let hostile = std::thread::spawn(move || run(&spin));
    let out = dir.path().join("out");
    let wc = weir_core::JobGraph::load(
        &root().join("functions-examples/wordcount/wordcount.toml"),
        &weir_core::graph::Overrides {
            parameters: vec![("output".into(), out.to_string_lossy().into_owned())],
            parallelism: Some(2),
            ..Default::default()
        },
    )
    .expect("valid");
    let again = weir_runtime::RunOptions {
        overwrite: true,
        ..weir_runtime::RunOptions::default()
    };
    for _ in 0..3 {
        weir_runtime::run_job(&wc, &runtime(), &again)
            .expect("the good job runs while the hostile one spins");
    }
    let total: usize = output_lines(&out).len();
    assert_eq!(
        total as u64,
        reference_counts(weir_connectors::SAMPLE_TEXT)
            .values()
            .sum::<u64>()
    );
    let e = hostile
        .join()
        .expect("no panic")
        .expect_err("spin fails")
        .to_string();
    assert!(e.contains("deadline"), "{e}");
}

#[test]
fn cancelling_interrupts_a_running_call_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut graph = hostile_job(dir.path(), &component("hostile"), "spin", "map", 1);
    // Without an interrupt the endless loop would run for a minute.
    graph.sandbox.call_timeout = Duration::from_secs(60);
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let options = weir_runtime::RunOptions {
        cancel: Some(cancel.clone()),
        ..weir_runtime::RunOptions::default()
    };
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        Instant::now()
    });
    let e = weir_runtime::run_job(&graph, &runtime(), &options)
        .expect_err("cancelled")
        .to_string();
    let cancelled_at = canceller.join().expect("canceller");
    let stopping = cancelled_at.elapsed();
    assert!(e.contains("cancelled"), "{e}");
    assert!(!e.contains("deadline"), "{e}");
    assert!(
        stopping < Duration::from_secs(5),
        "the spinning call ran on for {stopping:?} after the cancel"
    );
}

#[test]
fn a_guest_sleeping_in_wasi_fails_at_its_deadline_like_a_busy_loop() {
    let t = Instant::now();
    let e = failure("sleep");
    assert!(e.contains("exceeded its deadline of 300 ms"), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the 300 ms deadline stopped an hour's sleep only after {:?}",
        t.elapsed()
    );
}

#[test]
fn cancelling_interrupts_a_guest_sleeping_in_wasi() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut graph = hostile_job(dir.path(), &component("hostile"), "sleep", "map", 1);
    graph.sandbox.call_timeout = Duration::from_secs(60);
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let options = weir_runtime::RunOptions {
        cancel: Some(cancel.clone()),
        ..weir_runtime::RunOptions::default()
    };
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        Instant::now()
    });
    let e = weir_runtime::run_job(&graph, &runtime(), &options)
        .expect_err("cancelled")
        .to_string();
    let stopping = canceller.join().expect("canceller").elapsed();
    assert!(e.contains("cancelled") && !e.contains("deadline"), "{e}");
    assert!(
        stopping < Duration::from_millis(1500),
        "the sleeping call went on for {stopping:?} after the cancel"
    );
}

#[test]
fn a_guest_blocked_reading_a_granted_fifo_fails_at_its_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    let fifo = shared.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    std::fs::write(dir.path().join("requests.txt"), "read /data/fifo\n").expect("write");
    let text = format!(
        r#"
name = "fifo"
[components]
probe = "{}"
[sandbox]
call_timeout_ms = 300
[sandbox.grants.probe]
dirs = [{{ host = "shared", guest = "/data" }}]
[[sources]]
id = "requests"
kind = "file"
path = "requests.txt"
[[operators]]
id = "reach"
component = "probe"
function = "reach"
kind = "map"
input = "requests"
[[sinks]]
id = "out"
kind = "discard"
input = "reach"
"#,
        component("hostile").display()
    );
    let t = Instant::now();
    let e = run(&job(&text, dir.path(), &[], Some(1)))
        .expect_err("nobody writes the FIFO")
        .to_string();
    assert!(e.contains("exceeded its deadline of 300 ms"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn unbounded_list_state_hits_the_state_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut graph = hostile_job(
        dir.path(),
        &component("hostile"),
        "hoard-list",
        "keyed-process",
        1,
    );
    graph.sandbox.budgets.state_write_bytes_per_call = 8 << 20;
    let e = run(&graph).expect_err("hoarding fails").to_string();
    assert!(
        e.contains("operator 'evil' (sub-task 1/1)")
            && e.contains(
                "wrote more than 8 MiB of keyed state in one call (budget: sandbox.max_state_write_mb_per_call = 8)"
            ),
        "{e}"
    );
}

/// The records a node received, from a job summary.
fn records_in(summary: &weir_runtime::JobSummary, node: &str) -> u64 {
    summary
        .nodes
        .iter()
        .find(|n| n.id == node)
        .map(|n| n.records_in)
        .unwrap_or_else(|| panic!("no node '{node}'"))
}

#[test]
fn a_million_timers_due_at_the_end_fire_within_the_default_guest_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"
name = "reminders"
[components]
wc = "{}"
h = "{}"
[[sources]]
id = "numbers"
kind = "datagen"
generator = "sequence"
count = 1000000
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "numbers"
[[operators]]
id = "remind"
component = "h"
function = "remind-every-key"
kind = "keyed-process"
input = {{ from = "tokenize", exchange = "key-by" }}
[[sinks]]
id = "out"
kind = "discard"
input = "remind"
"#,
        component("wordcount").display(),
        component("hostile").display()
    );
    let graph = job(&text, dir.path(), &[], Some(1));
    assert_eq!(graph.sandbox.memory_limit_bytes, 64 << 20);
    let summary = run(&graph).expect("a million timers fire");
    assert_eq!(records_in(&summary, "out"), 1_000_000);
}

#[test]
fn a_thousandfold_fan_out_runs_within_the_default_guest_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.txt");
    let lines: String = (0..3000).map(|i| format!("line number {i:06}\n")).collect();
    std::fs::write(&input, &lines).expect("write");
    let text = format!(
        r#"
name = "fan-out"
[components]
h = "{}"
[[sources]]
id = "lines"
kind = "file"
path = "{}"
[[operators]]
id = "fan-out"
component = "h"
function = "fan-out"
kind = "flat-map"
input = "lines"
[[sinks]]
id = "out"
kind = "discard"
input = "fan-out"
"#,
        component("hostile").display(),
        input.display()
    );
    let graph = job(&text, dir.path(), &[], Some(1));
    let summary = run(&graph).expect("the fan-out runs");
    assert_eq!(records_in(&summary, "out"), 3_000_000);
}

/// A component written without the SDK breaks the result format and the
/// state calls in every way: each breakage fails its job with a clear
/// error naming the operator, and the host lives on.
#[test]
fn a_component_breaking_the_format_gets_clear_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "garbage",
            "map",
            "malformed result: malformed batch at byte 0: a known entry tag",
        ),
        ("huge-length", "map", "length-prefixed bytes"),
        (
            "truncated",
            "map",
            "the function returned a malformed result",
        ),
        (
            "undeclared-side-output",
            "map",
            "emitted to side output 'secret', which it does not declare (it declares: declared)",
        ),
        ("bad-utf8-side-output", "map", "a UTF-8 side output name"),
        (
            "failure-out-of-range",
            "map",
            "reported a failure on record 1000000, which the batch does not have",
        ),
        (
            "bad-state-id",
            "keyed-process",
            "value-state write to undeclared or non-value state 99",
        ),
        ("bad-slot", "keyed-process", "unknown key slot 1000000"),
        (
            "host-bad-slot",
            "keyed-process",
            "key slot 999 is not part of the current batch",
        ),
        (
            "host-bad-state",
            "keyed-process",
            "state id 42 was never declared",
        ),
        (
            "host-wrong-kind",
            "keyed-process",
            "is a List state, used as Map",
        ),
        (
            "timer-flood",
            "keyed-process",
            "registered more than 100000 timers in one call (budget: sandbox.max_timers_per_call = 100000)",
        ),
        (
            "too-many-states",
            "keyed-process",
            "declares 100 keyed states (budget: sandbox.max_states = 64)",
        ),
    ];
    for (function, kind, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let graph = hostile_job(dir.path(), &component("hostile_raw"), function, kind, 1);
        let e = run(&graph)
            .expect_err("a broken function fails its job")
            .to_string();
        assert!(
            e.contains("operator 'evil'") && e.contains(want),
            "{function}: {e}"
        );
    }
}
