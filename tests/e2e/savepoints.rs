//! Savepoints: stop a running job with one, resume it at another
//! parallelism, on the other backend, or with a new build of a function;
//! incompatible state is refused before the job starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::spec::StateBackendKind;
use weir_runtime::{JobHandle, RunOptions, run_job};
use weir_tests::*;

/// Stateful WordCount over generated words: (word,count) for every word.
fn wordcount_job(dir: &Path, component: &Path, function: &str, rate: bool) -> String {
    format!(
        r#"
name = "savepoints"
[components]
wc = "{}"
counter = "{}"
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 12000
seed = 5
{}
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "counter"
function = "{function}"
kind = "keyed-process"
input = {{ from = "tokenize", exchange = "key-by" }}
[[sinks]]
id = "out"
kind = "file"
path = "{}"
input = "count"
"#,
        wordcount_component().display(),
        component.display(),
        if rate { "rate = 8000.0" } else { "" },
        dir.join("out").display()
    )
}

fn wordcount_component() -> PathBuf {
    component("wordcount")
}

/// Runs the job until its sources have read `records`, then stops it with
/// a savepoint; returns the savepoint's path.
fn run_until_savepoint(
    graph: &weir_core::JobGraph,
    restore: Option<&Path>,
    records: u64,
    savepoints: &Path,
) -> PathBuf {
    let handle = Arc::new(JobHandle::default());
    let options = RunOptions {
        handle: Some(handle.clone()),
        restore: restore.map(Path::to_owned),
        ..RunOptions::default()
    };
    let g = graph.clone();
    let rt = runtime();
    let job = std::thread::spawn(move || run_job(&g, &rt, &options));
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.status().source_records < records {
        assert!(Instant::now() < deadline, "the job does not progress");
        assert!(!job.is_finished(), "the job ended before the savepoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    let reply = handle.savepoint(savepoints.to_owned(), true);
    let path = reply
        .recv_timeout(Duration::from_secs(30))
        .expect("a reply")
        .expect("a savepoint");
    let summary = job
        .join()
        .expect("no panic")
        .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert_eq!(
        summary.stopped_with_savepoint.as_deref(),
        Some(path.as_path())
    );
    path
}

fn sorted_output(dir: &Path) -> Vec<String> {
    let mut v = output_lines(dir);
    v.sort();
    v
}

/// The failure-free, unscaled run at parallelism 2.
fn reference(dir: &Path) -> Vec<String> {
    let d = dir.join("reference");
    std::fs::create_dir_all(&d).expect("mkdir");
    let g = job(
        &wordcount_job(&d, &wordcount_component(), "count-with-state", false),
        &d,
        &[],
        Some(2),
    );
    run(&g).unwrap_or_else(|e| panic!("job failed: {e}"));
    sorted_output(&d.join("out"))
}

fn with(dir: &Path, p: u32, backend: StateBackendKind) -> weir_core::JobGraph {
    let mut g = job(
        &wordcount_job(dir, &wordcount_component(), "count-with-state", true),
        dir,
        &[],
        Some(p),
    );
    g.state_backend = backend;
    g
}

#[test]
fn rescaling_through_savepoints_2_then_3_then_1_equals_the_unscaled_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    let sp = dir.join("savepoints");
    let s1 = run_until_savepoint(&with(dir, 2, StateBackendKind::Memory), None, 3000, &sp);
    let s2 = run_until_savepoint(
        &with(dir, 3, StateBackendKind::Memory),
        Some(&s1),
        3000,
        &sp,
    );
    let g = with(dir, 1, StateBackendKind::Memory);
    let summary = run_job(
        &g,
        &runtime(),
        &RunOptions {
            restore: Some(s2),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert!(summary.node("lines").expect("source").records_out < 12000);
    assert_eq!(sorted_output(&dir.join("out")), want);
}

#[test]
fn switching_backends_through_savepoints_keeps_the_state() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    let sp = dir.join("savepoints");
    let s1 = run_until_savepoint(&with(dir, 2, StateBackendKind::Memory), None, 3000, &sp);
    let s2 = run_until_savepoint(
        &with(dir, 3, StateBackendKind::Rocksdb),
        Some(&s1),
        3000,
        &sp,
    );
    run_job(
        &with(dir, 2, StateBackendKind::Memory),
        &runtime(),
        &RunOptions {
            restore: Some(s2),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert_eq!(sorted_output(&dir.join("out")), want);
}

#[test]
fn a_new_build_of_a_function_continues_its_state() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    let sp = dir.join("savepoints");
    let s1 = run_until_savepoint(&with(dir, 2, StateBackendKind::Memory), None, 4000, &sp);
    // The new build renders word=count; its state is the old count.
    let v2 = job(
        &wordcount_job(
            dir,
            &component("state_evolution"),
            "count-with-state",
            false,
        ),
        dir,
        &[],
        Some(2),
    );
    run_job(
        &v2,
        &runtime(),
        &RunOptions {
            restore: Some(s1),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    // Per word: the old build's counts then the new build's, together
    // exactly the reference's 1..n.
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let (mut old, mut new) = (0, 0);
    for l in output_lines(&dir.join("out")) {
        let (w, c) = match l.strip_prefix('(') {
            Some(rest) => {
                old += 1;
                let (w, c) = rest.trim_end_matches(')').rsplit_once(',').expect("(w,c)");
                (w.to_owned(), c)
            }
            None => {
                new += 1;
                let (w, c) = l.rsplit_once('=').expect("w=c");
                (w.to_owned(), c)
            }
        };
        counts.entry(w).or_default().push(c.parse().expect("count"));
    }
    assert!(
        old > 0 && new > 0,
        "both builds wrote output: {old} / {new}"
    );
    let mut want_counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for l in &want {
        let (w, c) = l[1..l.len() - 1].rsplit_once(',').expect("(w,c)");
        want_counts
            .entry(w.to_owned())
            .or_default()
            .push(c.parse().expect("count"));
    }
    for v in counts.values_mut().chain(want_counts.values_mut()) {
        v.sort_unstable();
    }
    assert_eq!(counts, want_counts);
}

#[test]
fn incompatible_state_is_refused_before_the_job_starts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let sp = dir.join("savepoints");
    let s1 = run_until_savepoint(&with(dir, 2, StateBackendKind::Memory), None, 2000, &sp);
    let committed = output_lines(&dir.join("out")).len();
    for (function, expect) in [
        ("count-as-text", "written as u64"),
        ("count-as-map", "is a Value state, not a Map state"),
    ] {
        let mut g = job(
            &wordcount_job(dir, &component("state_evolution"), function, false),
            dir,
            &[],
            Some(2),
        );
        // Even with restarts allowed, this fails at once.
        g.restart = weir_core::spec::RestartSpec::FixedDelay {
            attempts: 5,
            delay_ms: 1000,
        };
        let started = Instant::now();
        let e = run_job(
            &g,
            &runtime(),
            &RunOptions {
                restore: Some(s1.clone()),
                ..RunOptions::default()
            },
        )
        .expect_err("incompatible");
        assert!(started.elapsed() < Duration::from_secs(5), "no restarts");
        let msg = e.to_string();
        assert!(
            msg.contains("operator 'count'") && msg.contains(expect),
            "{msg}"
        );
        assert_eq!(
            output_lines(&dir.join("out")).len(),
            committed,
            "nothing new committed"
        );
    }
    // An operator the job no longer has is refused unless allowed.
    let mut g = job(
        &wordcount_job(dir, &wordcount_component(), "count-with-state", false)
            .replace("id = \"count\"", "id = \"counter\"")
            .replace("input = \"count\"", "input = \"counter\""),
        dir,
        &[],
        Some(2),
    );
    let e = run_job(
        &g,
        &runtime(),
        &RunOptions {
            restore: Some(s1.clone()),
            ..RunOptions::default()
        },
    )
    .expect_err("unknown operator");
    assert!(e.to_string().contains("state for operator 'count'"), "{e}");
    g.restart = weir_core::spec::RestartSpec::None;
    run_job(
        &g,
        &runtime(),
        &RunOptions {
            restore: Some(s1),
            allow_non_restored_state: true,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("allowed: {e}"));
}

#[test]
fn damaged_savepoints_give_clear_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let sp = dir.join("savepoints");
    let s1 = run_until_savepoint(&with(dir, 2, StateBackendKind::Memory), None, 1000, &sp);
    let g = with(dir, 2, StateBackendKind::Memory);
    let attempt = |path: &Path| {
        run_job(
            &g,
            &runtime(),
            &RunOptions {
                restore: Some(path.to_owned()),
                ..RunOptions::default()
            },
        )
        .expect_err("damaged")
        .to_string()
    };
    let file_of = |suffix: &str| {
        std::fs::read_dir(&s1)
            .expect("savepoint")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.to_string_lossy();
                name.contains("op-count-") && name.ends_with(suffix)
            })
            .unwrap_or_else(|| panic!("a count {suffix} file"))
    };
    // A truncated state file, then a state file damaged in place.
    let state = file_of(".state");
    let good = std::fs::read(&state).expect("read");
    std::fs::write(&state, &good[..good.len() - 10]).expect("truncate");
    let e = attempt(&s1);
    assert!(
        e.contains("cannot restore") && e.contains("truncated") && e.contains(".state"),
        "{e}"
    );
    let mut flipped = good.clone();
    flipped[good.len() - 20] ^= 0x08;
    std::fs::write(&state, &flipped).expect("flip");
    let e = attempt(&s1);
    assert!(
        e.contains("cannot restore") && e.contains("checksum"),
        "{e}"
    );
    std::fs::write(&state, &good).expect("repair");
    // A truncated snapshot file.
    let snap = file_of(".snap");
    let bytes = std::fs::read(&snap).expect("read");
    std::fs::write(&snap, &bytes[..bytes.len() / 2]).expect("truncate");
    let e = attempt(&s1);
    assert!(
        e.contains("cannot restore") && e.contains("truncated"),
        "{e}"
    );
    // Metadata that is not JSON.
    std::fs::write(s1.join("_metadata"), b"{\"format\": 1, \"job\"").expect("damage");
    let e = attempt(&s1);
    assert!(e.contains("_metadata") && e.contains("corrupt"), "{e}");
    // Not a savepoint at all.
    let e = attempt(&dir.join("nowhere"));
    assert!(
        e.contains("no usable checkpoint") && e.contains("no such directory"),
        "{e}"
    );
}

#[test]
fn a_failed_stop_with_savepoint_is_reported_and_the_job_goes_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let want = reference(dir);
    let g = job(
        &wordcount_job(dir, &wordcount_component(), "count-with-state", true),
        dir,
        &[],
        Some(2),
    );
    let handle = Arc::new(JobHandle::default());
    let options = RunOptions {
        handle: Some(handle.clone()),
        // The savepoint is the job's first barrier: writing it fails.
        failing_checkpoints: vec![1],
        ..RunOptions::default()
    };
    let rt = runtime();
    let running = std::thread::spawn(move || run_job(&g, &rt, &options));
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.status().source_records < 3000 {
        assert!(Instant::now() < deadline, "the job does not progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let e = handle
        .savepoint(dir.join("savepoints"), true)
        .recv_timeout(Duration::from_secs(30))
        .expect("a reply")
        .expect_err("the savepoint fails");
    assert!(e.contains("injected failure"), "{e}");
    let summary = running
        .join()
        .expect("no panic")
        .unwrap_or_else(|e| panic!("job failed: {e}"));
    assert!(summary.stopped_with_savepoint.is_none());
    // The part files handed to the failed savepoint were committed at the
    // end like the rest: nothing lost, nothing twice.
    assert_eq!(sorted_output(&dir.join("out")), want);
    let left = std::fs::read_dir(dir.join("savepoints")).map_or(0, |d| d.count());
    assert_eq!(left, 0, "the failed savepoint's directory is removed");
}
