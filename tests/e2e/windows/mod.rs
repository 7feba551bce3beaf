//! Windows: tumbling, sliding and session windows with reduce, aggregate
//! and process-window functions, against a simple reference model, on
//! shuffled out-of-order input at parallelism 1 and 4; late data with
//! allowed lateness and the late side output; processing-time windows
//! under an injected clock.

use serde_json::Value;

use std::path::Path;
use std::sync::Arc;
use weir_runtime::{ManualClock, RunOptions, run_job};
use weir_tests::*;

mod examples;
mod model;

use model::{Assign, Func, Lcg, WORDS, model_run};

pub(crate) const JOB: &str = r#"
name = "windows"
[parameters]
window_size_ms = "WSIZE"
[components]
win = "WIN"
[[sources]]
id = "lines"
kind = "file"
path = "INPUT"
format = "text"
parallelism = SRC_P
event_time = { assigner = { component = "win", function = "leading-timestamp" }, max_out_of_orderness_ms = BOUND }
[[operators]]
id = "words"
component = "win"
function = "word-key"
kind = "flat-map"
input = "lines"
parallelism = SRC_P
PRE
[[operators]]
id = "win"
component = "win"
function = "FUNC"
kind = "KIND"
input = { from = "WIN_INPUT", exchange = "key-by" }
parallelism = WIN_P
window = WINDOW
POST
[[sinks]]
id = "out"
kind = "file"
path = "OUT"
format = "json"
input = "RESULT"
parallelism = WIN_P
[[sinks]]
id = "late"
kind = "file"
path = "LATE"
format = "text"
input = { from = "win", output = "late" }
parallelism = WIN_P
"#;

/// `n` lines per file, timestamps multiples of 10, shuffled within blocks
/// of 8 (so at most 70 ms out of order: never late under a 100 ms bound).
pub(crate) fn shuffled_files(dir: &Path, files: usize, n: usize, seed: u64) -> Vec<(i64, String)> {
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    let mut rng = Lcg(seed);
    let mut all = Vec::new();
    for f in 0..files {
        let mut lines: Vec<(i64, String)> = (0..n)
            .map(|i| {
                let ts = 10 * (i as i64 + 3 * f as i64);
                (ts, WORDS[rng.next(WORDS.len() as u64) as usize].to_owned())
            })
            .collect();
        for block in lines.chunks_mut(8) {
            for i in (1..block.len()).rev() {
                let j = rng.next(i as u64 + 1) as usize;
                block.swap(i, j);
            }
        }
        let text: String = lines.iter().map(|(t, w)| format!("{t} {w}\n")).collect();
        std::fs::write(dir.join("in").join(format!("part-{f}.txt")), text).expect("write");
        all.extend(lines);
    }
    all
}

pub(crate) struct Setup {
    pub(crate) assign: Assign,
    pub(crate) func: Func,
    pub(crate) lateness: i64,
    pub(crate) bound: i64,
    pub(crate) src_p: u32,
    pub(crate) win_p: u32,
}

/// Runs the window job; returns the emitted (word, window start, count)
/// and the late lines, both sorted.
pub(crate) fn run_windows(
    dir: &Path,
    s: &Setup,
    options: RunOptions,
) -> (Vec<(String, i64, u64)>, Vec<String>) {
    let out = dir.join("out");
    let late = dir.join("late");
    let (func, kind, pre, win_input, post, result) = match s.func {
        Func::Aggregate => ("count-words", "aggregate", "", "words", "", "win"),
        Func::Process => ("count-elements", "process-window", "", "words", "", "win"),
        Func::ReduceRendered => (
            "count-reduce-rendered",
            "reduce",
            "[[operators]]\nid = \"one\"\ncomponent = \"win\"\nfunction = \"one\"\nkind = \"map\"\ninput = \"words\"\nparallelism = SRC_P\n",
            "one",
            "",
            "win",
        ),
        Func::Reduce => (
            "count-reduce",
            "reduce",
            "[[operators]]\nid = \"one\"\ncomponent = \"win\"\nfunction = \"one\"\nkind = \"map\"\ninput = \"words\"\nparallelism = SRC_P\n",
            "one",
            "[[operators]]\nid = \"render\"\ncomponent = \"win\"\nfunction = \"render-count\"\nkind = \"map\"\ninput = \"win\"\nparallelism = WIN_P\n",
            "render",
        ),
    };
    let size = match s.assign {
        Assign::Tumbling(size) | Assign::Sliding(size, _) => size,
        Assign::Session(_) => 0,
    };
    let text = JOB
        .replace("PRE", pre)
        .replace("POST", post)
        .replace("WIN_INPUT", win_input)
        .replace("RESULT", result)
        .replace("FUNC", func)
        .replace("KIND", kind)
        .replace("WINDOW", &s.assign.toml(s.lateness))
        .replace("WSIZE", &size.to_string())
        .replace("WIN_P", &s.win_p.to_string())
        .replace("SRC_P", &s.src_p.to_string())
        .replace("BOUND", &s.bound.to_string())
        .replace("WIN\"", &format!("{}\"", component("windows").display()))
        .replace("INPUT", &dir.join("in").display().to_string())
        .replace("OUT", &out.display().to_string())
        .replace("LATE", &late.display().to_string());
    run_job(&job(&text, dir, &[], None), &runtime(), &options)
        .unwrap_or_else(|e| panic!("job failed: {e}"));
    let mut got: Vec<(String, i64, u64)> = output_lines(&out)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["word"].as_str().expect("word").to_owned(),
                v["window_start"].as_i64().expect("start"),
                v["count"].as_u64().expect("count"),
            )
        })
        .collect();
    got.sort();
    let mut late = output_lines(&late);
    late.sort();
    (got, late)
}

/// The model's emissions as (key, window start, count), sorted.
pub(crate) fn sorted(v: Vec<(String, i64, i64, u64)>) -> Vec<(String, i64, u64)> {
    let mut v: Vec<_> = v.into_iter().map(|(k, s, _, c)| (k, s, c)).collect();
    v.sort();
    v
}

/// Out-of-order input within the bound: no record is late, every window
/// fires exactly once with all of its records.
fn check_in_order_enough(assign: Assign, func: Func) {
    for (src_p, win_p) in [(1, 1), (2, 4)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = shuffled_files(dir.path(), 4, 1500, 11 + u64::from(win_p));
        let mut sorted_lines = lines.clone();
        sorted_lines.sort();
        // In timestamp order nothing is late: the model gives the exact
        // final windows.
        let want = model_run(&sorted_lines, assign, 0, 0);
        assert!(want.late.is_empty());
        let (got, late) = run_windows(
            dir.path(),
            &Setup {
                assign,
                func,
                lateness: 0,
                bound: 100,
                src_p,
                win_p,
            },
            RunOptions::default(),
        );
        assert!(late.is_empty(), "nothing is late: {late:?}");
        assert_eq!(got, sorted(want.out), "parallelism {src_p}/{win_p}");
    }
}

#[test]
fn tumbling_aggregate_matches_the_reference() {
    check_in_order_enough(Assign::Tumbling(1000), Func::Aggregate);
}

#[test]
fn sliding_reduce_matches_the_reference() {
    check_in_order_enough(Assign::Sliding(1000, 250), Func::Reduce);
}

#[test]
fn session_reduce_rendered_by_a_window_function_merges_and_matches_the_reference() {
    check_in_order_enough(Assign::Session(255), Func::ReduceRendered);
}

#[test]
fn sliding_process_window_matches_the_reference() {
    check_in_order_enough(Assign::Sliding(600, 200), Func::Process);
}

#[test]
fn session_process_window_matches_the_reference() {
    // Timestamps are multiples of 10, so no record lands exactly on a
    // session's end: merging does not depend on arrival order.
    check_in_order_enough(Assign::Session(255), Func::Process);
}

#[test]
fn session_aggregate_merges_accumulators() {
    check_in_order_enough(Assign::Session(255), Func::Aggregate);
}

/// One file, read one record per batch: the watermark sequence is exact,
/// so late firings and the late output can be predicted record by record.
fn check_late_data(assign: Assign, func: Func, lateness: i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    let mut rng = Lcg(99);
    let lines: Vec<(i64, String)> = (0..1200)
        .map(|i| {
            let mut ts = 10 * i as i64 + rng.next(30) as i64;
            if rng.next(10) == 0 {
                ts -= rng.next(2500) as i64; // late: some within the lateness, some not
            }
            (ts.max(0), WORDS[rng.next(5) as usize].to_owned())
        })
        .collect();
    let text: String = lines.iter().map(|(t, w)| format!("{t} {w}\n")).collect();
    std::fs::write(dir.path().join("in/events.txt"), text).expect("write");
    let bound = 50;
    let want = model_run(&lines, assign, lateness, bound);
    assert!(
        !want.late.is_empty(),
        "the data has records beyond the lateness"
    );
    for win_p in [1, 4] {
        let (got, late) = run_windows(
            dir.path(),
            &Setup {
                assign,
                func,
                lateness,
                bound,
                src_p: 1,
                win_p,
            },
            RunOptions {
                batch_bytes: 1,
                // The same directories at each parallelism.
                overwrite: true,
                ..RunOptions::default()
            },
        );
        let mut want_late = want.late.clone();
        want_late.sort();
        assert_eq!(late, want_late, "late output at parallelism {win_p}");
        assert_eq!(
            got,
            sorted(want.out.clone()),
            "results at parallelism {win_p}"
        );
    }
}

#[test]
fn tumbling_late_data_refires_within_lateness_and_goes_to_the_side_output_after() {
    check_late_data(Assign::Tumbling(1000), Func::Aggregate, 800);
}

#[test]
fn tumbling_without_lateness_drops_every_late_record_to_the_side_output() {
    check_late_data(Assign::Tumbling(500), Func::Process, 0);
}

#[test]
fn sliding_late_data_matches_the_reference() {
    check_late_data(Assign::Sliding(1000, 500), Func::Process, 600);
}

#[test]
fn session_late_data_merges_and_refires() {
    check_late_data(Assign::Session(300), Func::Aggregate, 1000);
}

#[test]
fn processing_time_windows_follow_the_injected_clock_and_fire_at_end_of_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    // Event timestamps are far apart; processing time is frozen, so every
    // record falls into the one processing-time window of the clock.
    let text: String = (0..300)
        .map(|i| format!("{} {}\n", i * 100_000, WORDS[i % 3]))
        .collect();
    std::fs::write(dir.path().join("in/events.txt"), text).expect("write");
    let clock = Arc::new(ManualClock::new(1_234_567));
    let job_text = JOB
        .replace("PRE", "")
        .replace("POST", "")
        .replace("WIN_INPUT", "words")
        .replace("RESULT", "win")
        .replace("FUNC", "count-words")
        .replace("KIND", "aggregate")
        .replace(
            "WINDOW",
            "{ type = \"tumbling\", size_ms = 1000, time = \"processing\" }",
        )
        .replace("WSIZE", "1000")
        .replace("WIN_P", "2")
        .replace("SRC_P", "1")
        .replace("BOUND", "0")
        .replace("WIN\"", &format!("{}\"", component("windows").display()))
        .replace("INPUT", &dir.path().join("in").display().to_string())
        .replace("OUT", &dir.path().join("out").display().to_string())
        .replace("LATE", &dir.path().join("late").display().to_string());
    run_job(
        &job(&job_text, dir.path(), &[], None),
        &runtime(),
        &RunOptions {
            clock,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("job failed: {e}"));
    let mut got: Vec<(String, i64, u64)> = output_lines(&dir.path().join("out"))
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["word"].as_str().expect("word").to_owned(),
                v["window_start"].as_i64().expect("start"),
                v["count"].as_u64().expect("count"),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("ant".to_owned(), 1_234_000, 100),
            ("bee".to_owned(), 1_234_000, 100),
            ("cat".to_owned(), 1_234_000, 100)
        ]
    );
}
