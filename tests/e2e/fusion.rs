//! Fused chained calls (`[sandbox] fuse_chained_calls`): `tally → sort-out
//! → sequence` of one component run in one guest call per batch, and the
//! job means the same as with a call per function: the same records, side
//! outputs, dead letters, timers, per-node counts, operator state across a
//! restart; only the calls differ.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use weir_runtime::{InjectedFault, JobSummary, RunOptions, run_job};
use weir_tests::*;

/// `lines → key-words → (key-by) tally → sort-out → sequence → out`, with
/// sort-out's `long` side output and dead letters in sinks of their own.
fn job_text(source: &str, fuse: bool, extra: &str) -> String {
    format!(
        r#"
name = "fusion"
parallelism = 2
[components]
h = "{}"
[sandbox]
fuse_chained_calls = {fuse}
{extra}
{source}
[[operators]]
id = "key-words"
component = "h"
function = "key-words"
kind = "flat-map"
input = "lines"
[[operators]]
id = "tally"
component = "h"
function = "tally"
kind = "keyed-process"
input = {{ from = "key-words", exchange = "key-by" }}
[[operators]]
id = "sort-out"
component = "h"
function = "sort-out"
kind = "flat-map"
input = "tally"
on_error = "dead-letter"
[[operators]]
id = "sequence"
component = "h"
function = "sequence"
kind = "map"
input = "sort-out"
[[sinks]]
id = "out"
kind = "file"
path = "out"
input = "sequence"
[[sinks]]
id = "long"
kind = "file"
path = "long"
input = {{ from = "sort-out", output = "long" }}
[[sinks]]
id = "dead"
kind = "file"
path = "dead"
input = {{ from = "sort-out", output = "dead-letter" }}
"#,
        component("hostile").display()
    )
}

const FILE_SOURCE: &str = r#"
[[sources]]
id = "lines"
kind = "file"
path = "in.txt""#;

/// Lines of words from a small vocabulary (some "bad", some long).
fn text() -> String {
    let vocab = [
        "cat",
        "dog",
        "badger",
        "ox",
        "extraordinarily",
        "sun",
        "bad",
        "elephantine",
        "moon",
    ];
    let mut x: u64 = 7;
    let mut out = String::new();
    for _ in 0..600 {
        for i in 0..5 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i > 0 {
                out.push(' ');
            }
            out.push_str(vocab[(x >> 33) as usize % vocab.len()]);
        }
        out.push('\n');
    }
    out
}

/// What each sink must hold, computed from the words: (main values,
/// `long` values, dead-lettered values).
fn expected(words: &[&str]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut tallied = Vec::new();
    for w in words {
        let n = counts.entry(w).or_default();
        *n += 1;
        tallied.push(format!("{w}={n}"));
    }
    tallied.extend(counts.iter().map(|(w, n)| format!("{w} final={n}")));
    let (mut main, mut long, mut dead) = (Vec::new(), Vec::new(), Vec::new());
    for v in tallied {
        if v.contains("bad") {
            dead.push(v);
        } else if v.len() > 12 {
            long.push(v);
        } else {
            main.push(v);
        }
    }
    for v in [&mut main, &mut long, &mut dead] {
        v.sort();
    }
    (main, long, dead)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The values of `sequence`'s output, after checking that each sub-task
/// numbered its records 1, 2, … without gaps or repeats.
fn sequenced_values(dir: &Path) -> Vec<String> {
    let mut numbers: HashMap<String, Vec<u64>> = HashMap::new();
    let mut values = Vec::new();
    for line in output_lines(dir) {
        let (tag, value) = line.split_once(' ').unwrap_or_else(|| panic!("{line}"));
        let (subtask, n) = tag.split_once(':').unwrap_or_else(|| panic!("{line}"));
        let n: u64 = n.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        numbers.entry(subtask.to_owned()).or_default().push(n);
        values.push(value.to_owned());
    }
    for (subtask, mut ns) in numbers {
        ns.sort_unstable();
        let want: Vec<u64> = (1..=ns.len() as u64).collect();
        assert_eq!(ns, want, "sub-task {subtask} numbers its records");
    }
    sorted(values)
}

/// The records each dead letter carried, after checking who set it aside.
fn dead_values(dir: &Path) -> Vec<String> {
    sorted(
        output_lines(dir)
            .iter()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
                assert_eq!(v["operator"], "sort-out", "{v}");
                assert_eq!(v["kind"], "user", "{v}");
                v["value"].as_str().unwrap_or_default().to_owned()
            })
            .collect(),
    )
}

/// Records in and out, and guest calls, of `node`.
fn node(summary: &JobSummary, id: &str) -> (u64, u64, u64) {
    let n = summary
        .nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id}"));
    (n.records_in, n.records_out, n.wasm_calls)
}

#[test]
fn fused_calls_give_the_same_records_side_outputs_dead_letters_and_counts() {
    let input = text();
    let words: Vec<&str> = input.split_whitespace().collect();
    let (main, long, dead) = expected(&words);
    let distinct = words.iter().collect::<std::collections::HashSet<_>>().len() as u64;
    let total = words.len() as u64;
    let mut counts = Vec::new();
    for fuse in [true, false] {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        std::fs::write(dir.join("in.txt"), &input).expect("write");
        let summary = run(&job(&job_text(FILE_SOURCE, fuse, ""), dir, &[], None))
            .unwrap_or_else(|e| panic!("fuse={fuse}: {e}"));
        assert_eq!(sequenced_values(&dir.join("out")), main, "fuse={fuse}");
        assert_eq!(sorted(output_lines(&dir.join("long"))), long, "fuse={fuse}");
        assert_eq!(dead_values(&dir.join("dead")), dead, "fuse={fuse}");
        let (tally, sort_out, sequence) = (
            node(&summary, "tally"),
            node(&summary, "sort-out"),
            node(&summary, "sequence"),
        );
        // Every node counts its own records, fused or not.
        assert_eq!((tally.0, tally.1), (total, total + distinct), "fuse={fuse}");
        assert_eq!(sort_out.0, total + distinct, "fuse={fuse}");
        let sorted_out = (main.len() + long.len() + dead.len()) as u64;
        assert_eq!(sort_out.1, sorted_out, "fuse={fuse}");
        assert_eq!(sequence.0, main.len() as u64, "fuse={fuse}");
        assert_eq!(sequence.1, main.len() as u64, "fuse={fuse}");
        // Fused, the chain's calls all go to its first node.
        assert!(tally.2 > 0, "fuse={fuse}: {tally:?}");
        if fuse {
            assert_eq!((sort_out.2, sequence.2), (0, 0), "one call runs all three");
        } else {
            assert!(
                sort_out.2 > 0 && sequence.2 > 0,
                "{sort_out:?} {sequence:?}"
            );
        }
        counts.push((
            tally.0, tally.1, sort_out.0, sort_out.1, sequence.0, sequence.1,
        ));
    }
    assert_eq!(counts[0], counts[1]);
}

const DATAGEN_SOURCE: &str = r#"
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 6000
seed = 5"#;

const RECOVERY: &str = r#"
[checkpointing]
interval_ms = 50
dir = "chk"
[restart]
strategy = "fixed-delay"
attempts = 3
delay_ms = 10"#;

/// The datagen job without checkpoints or faults, one call per function,
/// under `dir/reference`; returns that directory.
fn reference_run(dir: &Path) -> std::path::PathBuf {
    let reference = dir.join("reference");
    std::fs::create_dir_all(&reference).expect("mkdir");
    run(&job(
        &job_text(DATAGEN_SOURCE, false, ""),
        &reference,
        &[],
        None,
    ))
    .unwrap_or_else(|e| panic!("reference: {e}"));
    reference
}

#[test]
fn a_fault_in_a_fused_stage_restarts_from_a_checkpoint_with_its_operator_state() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let reference = reference_run(dir);
    let want = sequenced_values(&reference.join("out"));
    let want_long = sorted(output_lines(&reference.join("long")));
    let want_dead = dead_values(&reference.join("dead"));
    assert!(!want.is_empty() && !want_long.is_empty());

    let source = format!("{DATAGEN_SOURCE}\nrate = 20000.0");
    let text = job_text(&source, true, RECOVERY);
    // The fault hits `sequence`, the chain's last stage, part-way.
    let fault = Arc::new(InjectedFault::new("sequence", 20_000));
    let summary = run_job(
        &job(&text, dir, &[], None),
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
    // Exactly once, and `sequence` numbers on from its restored count.
    assert_eq!(sequenced_values(&dir.join("out")), want);
    assert_eq!(sorted(output_lines(&dir.join("long"))), want_long);
    assert_eq!(dead_values(&dir.join("dead")), want_dead);
}

#[test]
fn functions_of_one_file_under_two_component_names_are_not_fused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "cat dog cat\n").expect("write");
    // `sort-out` and `sequence` come from the same file as `tally`, named
    // `h2`: grants are per name, so they get an instance of their own.
    let text = job_text(FILE_SOURCE, true, "")
        .replace(
            "[components]\n",
            &format!(
                "[components]\nh2 = \"{}\"\n",
                component("hostile").display()
            ),
        )
        .replace(
            "component = \"h\"\nfunction = \"sort-out\"",
            "component = \"h2\"\nfunction = \"sort-out\"",
        );
    let summary = run(&job(&text, dir, &[], None)).unwrap_or_else(|e| panic!("{e}"));
    let (tally, sort_out, sequence) = (
        node(&summary, "tally"),
        node(&summary, "sort-out"),
        node(&summary, "sequence"),
    );
    assert!(tally.2 > 0 && sort_out.2 > 0, "{tally:?} {sort_out:?}");
    // `sequence` (also `h`) follows `sort-out`, not `tally`: it runs fused
    // with `sort-out` only if it shares its name, which it does not.
    assert!(sequence.2 > 0, "{sequence:?}");
    assert_eq!(
        sequenced_values(&dir.join("out")),
        expected(&["cat", "dog", "cat"]).0
    );
}

#[test]
fn a_record_a_fused_stage_fails_on_fails_the_job_naming_that_stage() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "cat dog\nbadger\n").expect("write");
    let text = job_text(FILE_SOURCE, true, "")
        .replace("on_error = \"dead-letter\"\n", "")
        .replace(
            "[[sinks]]\nid = \"dead\"\nkind = \"file\"\npath = \"dead\"\ninput = { from = \"sort-out\", output = \"dead-letter\" }\n",
            "",
        );
    let e = run(&job(&text, dir, &[], None)).expect_err("the job fails");
    assert_eq!(e.operator.as_deref(), Some("sort-out"), "{e}");
    assert!(e.message.contains("no bad words: 'badger=1'"), "{e}");
}

#[test]
fn a_checkpoint_of_a_fused_run_restores_into_one_call_per_function() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let reference = reference_run(dir);
    let want = sequenced_values(&reference.join("out"));

    // Fused, the job fails part-way (no restarts) after checkpoints.
    let source = format!("{DATAGEN_SOURCE}\nrate = 20000.0");
    let checkpoints =
        "[checkpointing]\ninterval_ms = 50\ndir = \"chk\"\n[restart]\nstrategy = \"none\"";
    let fault = Arc::new(InjectedFault::new("sequence", 20_000));
    let e = run_job(
        &job(&job_text(&source, true, checkpoints), dir, &[], None),
        &runtime(),
        &RunOptions {
            fault: Some(fault.clone()),
            ..RunOptions::default()
        },
    )
    .expect_err("the fault fails the job");
    assert!(fault.fired() && e.message.contains("injected fault"), "{e}");
    assert_eq!(e.operator.as_deref(), Some("sequence"), "{e}");

    // Resumed from its latest checkpoint with a call per function.
    run_job(
        &job(&job_text(&source, false, checkpoints), dir, &[], None),
        &runtime(),
        &RunOptions {
            restore: Some(dir.join("chk")),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("resumed job failed: {e}"));
    assert_eq!(sequenced_values(&dir.join("out")), want);
}
