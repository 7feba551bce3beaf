//! The shipped window examples against references, validation of window
//! settings, and window state after the end of input.

use super::model::{Assign, Func, Lcg, Model, WORDS};
use super::{JOB, Setup, shuffled_files};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use weir_core::spec::StateBackendKind::{Memory, Rocksdb};
use weir_runtime::{RunOptions, run_job};
use weir_tests::*;

/// Loads a job file shipped in `functions-examples/windows`.
fn shipped(name: &str, params: &[(&str, &str)], parallelism: u32) -> weir_core::JobGraph {
    weir_core::JobGraph::load(
        &root().join("functions-examples/windows").join(name),
        &weir_core::graph::Overrides {
            parameters: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            parallelism: Some(parallelism),
            ..Default::default()
        },
    )
    .expect("valid job file")
}

#[test]
fn tumbling_word_count_example_matches_the_reference_at_parallelism_1_and_4() {
    // RocksDB keeps the window timers in a column family of its own.
    for (p, backend) in [(1, Memory), (4, Memory), (4, Rocksdb)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in");
        std::fs::create_dir_all(&input).expect("mkdir");
        // Three partitions overlapping in time, each shuffled by up to 4 s
        // (the job allows 5 s).
        let mut rng = Lcg(5 + u64::from(p));
        let mut all = Vec::new();
        for f in 0..3 {
            let mut lines: Vec<(i64, String)> = (0..4000)
                .map(|i| (i * 7 + f, WORDS[rng.next(12) as usize].to_owned()))
                .collect();
            for block in lines.chunks_mut(500) {
                for i in (1..block.len()).rev() {
                    let j = rng.next(i as u64 + 1) as usize;
                    block.swap(i, j);
                }
            }
            let text: String = lines.iter().map(|(t, w)| format!("{t} {w}\n")).collect();
            std::fs::write(input.join(format!("p{f}.txt")), text).expect("write");
            all.extend(lines);
        }
        let mut want: BTreeMap<(String, i64), u64> = BTreeMap::new();
        for (ts, w) in &all {
            *want.entry((w.clone(), ts - ts % 1000)).or_default() += 1;
        }
        let out = dir.path().join("out");
        let mut graph = shipped(
            "tumbling-word-count.toml",
            &[
                ("input", &input.display().to_string()),
                ("output", &out.display().to_string()),
            ],
            p,
        );
        graph.state_backend = backend;
        run(&graph).unwrap_or_else(|e| panic!("job failed: {e}"));
        let mut got: BTreeMap<(String, i64), u64> = BTreeMap::new();
        for l in output_lines(&out) {
            let v: Value = serde_json::from_str(&l).expect("json");
            let k = (
                v["word"].as_str().expect("word").to_owned(),
                v["window_start"].as_i64().expect("start"),
            );
            assert!(
                got.insert(k.clone(), v["count"].as_u64().expect("count"))
                    .is_none(),
                "{k:?} fired twice"
            );
        }
        assert_eq!(got, want, "parallelism {p}, {backend:?}");
    }
}

#[test]
fn session_clicks_example_matches_the_reference_with_late_clicks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let minute = 60_000;
    let mut rng = Lcg(42);
    let mut clicks = Vec::new();
    let mut t = 1_700_000_000_000i64;
    for _ in 0..1500 {
        t += rng.next(40) as i64 * 1000;
        let mut ts = t - rng.next(50) as i64 * 1000; // within the minute allowed
        if rng.next(25) == 0 {
            ts -= (2 + rng.next(90) as i64) * minute; // late
        }
        let user = format!("u{}", rng.next(15));
        clicks.push((ts, user));
    }
    let lines: Vec<String> = clicks
        .iter()
        .map(|(ts, u)| format!("{{\"user\": \"{u}\", \"url\": \"/p\", \"ts\": {ts}}}"))
        .collect();
    let input = dir.path().join("clicks.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write");
    let mut model = Model::new(Assign::Session(30 * minute), 0);
    let mut max = i64::MIN;
    for ((ts, user), line) in clicks.iter().zip(&lines) {
        model.record(*ts, user, line);
        max = max.max(*ts);
        model.advance(max - minute - 1);
    }
    model.advance(i64::MAX);
    assert!(!model.late.is_empty(), "some clicks are late");
    let mut want: Vec<(String, i64, i64, u64)> = model.out.clone();
    want.sort();
    let mut want_late = model.late.clone();
    want_late.sort();
    for (p, backend) in [(1, Memory), (4, Memory), (4, Rocksdb)] {
        let out = dir.path().join(format!("out-{p}-{backend:?}"));
        let late = dir.path().join(format!("late-{p}-{backend:?}"));
        let mut graph = shipped(
            "session-clicks.toml",
            &[
                ("input", &input.display().to_string()),
                ("output", &out.display().to_string()),
                ("late", &late.display().to_string()),
            ],
            p,
        );
        graph.state_backend = backend;
        // One record per batch: the watermark moves after every click, so
        // which clicks are late is exact.
        let options = RunOptions {
            batch_bytes: 1,
            ..RunOptions::default()
        };
        run_job(&graph, &runtime(), &options).unwrap_or_else(|e| panic!("job failed: {e}"));
        let mut got: Vec<(String, i64, i64, u64)> = output_lines(&out)
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                (
                    v["user"].as_str().expect("user").to_owned(),
                    v["window_start"].as_i64().expect("start"),
                    v["window_end"].as_i64().expect("end"),
                    v["clicks"].as_u64().expect("clicks"),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "sessions at parallelism {p}, {backend:?}");
        let mut got_late = output_lines(&late);
        got_late.sort();
        assert_eq!(
            got_late, want_late,
            "late clicks at parallelism {p}, {backend:?}"
        );
    }
}

#[test]
fn event_time_window_rejects_records_without_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("words.txt"), "alpha\nbeta\n").expect("write");
    let text = format!(
        r#"
name = "no-timestamps"
[components]
win = "{}"
wc = "{}"
[[sources]]
id = "lines"
kind = "file"
path = "words.txt"
[[operators]]
id = "words"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "counts"
component = "wc"
function = "count"
kind = "reduce"
input = {{ from = "words", exchange = "key-by" }}
window = {{ type = "tumbling", size_ms = 1000 }}
[[sinks]]
id = "out"
kind = "discard"
input = "counts"
"#,
        component("windows").display(),
        component("wordcount").display()
    );
    let e = run(&job(&text, dir.path(), &[], None))
        .expect_err("must fail")
        .to_string();
    assert!(
        e.contains("operator 'counts'") && e.contains("without an event timestamp"),
        "{e}"
    );
}

#[test]
fn invalid_windows_are_rejected_before_the_job_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = |kind: &str, window: &str| {
        format!(
            r#"
name = "bad"
[components]
win = "{}"
[[sources]]
id = "gen"
kind = "datagen"
generator = "sequence"
count = 1
[[operators]]
id = "w"
component = "win"
function = "count-elements"
kind = "{kind}"
input = {{ from = "gen", exchange = "key-by" }}
{window}
[[sinks]]
id = "out"
kind = "discard"
input = "w"
"#,
            component("windows").display()
        )
    };
    let err = |text: String| {
        weir_core::JobGraph::from_toml(
            &text,
            Path::new("bad.toml"),
            dir.path(),
            &Default::default(),
        )
        .expect_err("invalid")
        .to_string()
    };
    let e = err(base("process-window", ""));
    assert!(e.contains("needs a window"), "{e}");
    let e = err(base(
        "map",
        "window = { type = \"tumbling\", size_ms = 10 }",
    ));
    assert!(e.contains("cannot run on a window"), "{e}");
    let e = err(base(
        "process-window",
        "window = { type = \"sliding\", size_ms = 10, slide_ms = 20 }",
    ));
    assert!(e.contains("must not exceed"), "{e}");
    let e = err(base(
        "process-window",
        "window = { type = \"session\", size_ms = 10 }",
    ));
    assert!(e.contains("gap_ms"), "{e}");
    let e = err(base(
        "process-window",
        "window = { type = \"tumbling\", size_ms = 10, colour = 1 }",
    ));
    assert!(e.contains("unknown field"), "{e}");
    // The function's real kind is checked against the job when it runs.
    let g = job(
        &base(
            "aggregate",
            "window = { type = \"tumbling\", size_ms = 10 }",
        ),
        dir.path(),
        &[],
        None,
    );
    let e = run(&g).expect_err("kind mismatch").to_string();
    assert!(e.contains("is a process-window"), "{e}");
}

/// Fired windows take their state along: after the input ends, the final
/// checkpoint of a window operator holds no entries and no timers.
#[test]
fn fired_windows_leave_no_state() {
    for (assign, func, lateness) in [
        (Assign::Tumbling(500), Func::Aggregate, 0),
        (Assign::Sliding(1000, 250), Func::Process, 300),
        (Assign::Session(255), Func::Aggregate, 700),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        shuffled_files(dir.path(), 2, 2000, 3);
        let s = Setup {
            assign,
            func,
            lateness,
            bound: 100,
            src_p: 1,
            win_p: 2,
        };
        // The job of `run_windows`, with checkpoints.
        let (func_name, kind) = match func {
            Func::Aggregate => ("count-words", "aggregate"),
            _ => ("count-elements", "process-window"),
        };
        let text = JOB
            .replace("PRE", "")
            .replace("POST", "")
            .replace("WIN_INPUT", "words")
            .replace("RESULT", "win")
            .replace("FUNC", func_name)
            .replace("KIND", kind)
            .replace("WINDOW", &s.assign.toml(s.lateness))
            .replace("WSIZE", "0")
            .replace("WIN_P", &s.win_p.to_string())
            .replace("SRC_P", &s.src_p.to_string())
            .replace("BOUND", &s.bound.to_string())
            .replace("WIN\"", &format!("{}\"", component("windows").display()))
            .replace("INPUT", &dir.path().join("in").display().to_string())
            .replace("OUT", &dir.path().join("out").display().to_string())
            .replace("LATE", &dir.path().join("late").display().to_string());
        let mut g = job(&text, dir.path(), &[], None);
        g.checkpointing = Some(weir_core::graph::Checkpointing {
            interval: std::time::Duration::from_millis(20),
            dir: dir.path().join("chk"),
            retain: 2,
            timeout: weir_core::graph::DEFAULT_CHECKPOINT_TIMEOUT,
            tolerable_failures: 0,
        });
        let summary = run(&g).unwrap_or_else(|e| panic!("job failed: {e}"));
        assert!(summary.node("win").expect("win").records_out > 0);
        let last = weir_checkpoint::CheckpointStore::latest(&dir.path().join("chk"))
            .expect("the final checkpoint");
        assert!(last.metadata.job_finished);
        for snap in last.snapshots.iter().filter(|s| s.operator == "win") {
            let Some(weir_checkpoint::KeyedPart::Streamed(k)) = &snap.keyed else {
                panic!("canonical keyed state in a state file expected");
            };
            let entries: u64 = k.chunks.iter().map(|c| c.entries).sum();
            assert!(
                entries == 0 && snap.timers.is_empty(),
                "{:?}: {} entries, {} timers left in sub-task {}",
                s.assign.toml(s.lateness),
                entries,
                snap.timers.len(),
                snap.subtask
            );
        }
    }
}
