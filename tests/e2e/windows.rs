//! Windows: tumbling, sliding and session windows with reduce, aggregate
//! and process-window functions, against a simple reference model, on
//! shuffled out-of-order input at parallelism 1 and 4; late data with
//! allowed lateness and the late side output; processing-time windows
//! under an injected clock.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use weir_runtime::{ManualClock, RunOptions, run_job};
use weir_tests::*;

const JOB: &str = r#"
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

/// Which window, in the reference model.
#[derive(Clone, Copy)]
enum Assign {
    Tumbling(i64),
    Sliding(i64, i64),
    Session(i64),
}

impl Assign {
    fn toml(&self, lateness: i64) -> String {
        match self {
            Assign::Tumbling(s) => format!(
                "{{ type = \"tumbling\", size_ms = {s}, allowed_lateness_ms = {lateness} }}"
            ),
            Assign::Sliding(s, l) => format!(
                "{{ type = \"sliding\", size_ms = {s}, slide_ms = {l}, allowed_lateness_ms = {lateness} }}"
            ),
            Assign::Session(g) => {
                format!("{{ type = \"session\", gap_ms = {g}, allowed_lateness_ms = {lateness} }}")
            }
        }
    }

    /// Windows of a timestamp, written from the definitions (not the
    /// runtime's code): start = ts - ((ts mod slide) + slide) mod slide.
    fn windows(&self, ts: i64) -> Vec<(i64, i64)> {
        match *self {
            Assign::Tumbling(size) => {
                let start = ts - ts.rem_euclid(size);
                vec![(start, start + size)]
            }
            Assign::Sliding(size, slide) => {
                let last = ts - ts.rem_euclid(slide);
                (0..)
                    .map(|k| last - k * slide)
                    .take_while(|s| *s > ts - size)
                    .map(|s| (s, s + size))
                    .collect()
            }
            Assign::Session(gap) => vec![(ts, ts + gap)],
        }
    }
}

/// How the job's window function is set up.
#[derive(Clone, Copy)]
enum Func {
    /// `window_aggregate(CountAgg, RenderWindowCount)` as an aggregate.
    Aggregate,
    /// `one` → `count-reduce` (reduce) → `render-count`.
    Reduce,
    /// `count-elements` (process-window).
    Process,
}

/// A streaming reference: records in order, each processed under the
/// watermark that preceded it; windows fire when the watermark reaches
/// their last millisecond, late records within the allowed lateness fire
/// their window again, later ones go to the late output.
struct Model {
    assign: Assign,
    lateness: i64,
    wm: i64,
    /// Open windows per key: (start, end) → count.
    open: BTreeMap<String, BTreeMap<(i64, i64), u64>>,
    /// Pending timers: (time, key, window, is_cleanup).
    timers: BTreeSet<(i64, String, (i64, i64), bool)>,
    out: Vec<(String, i64, i64, u64)>,
    late: Vec<String>,
}

impl Model {
    fn new(assign: Assign, lateness: i64) -> Self {
        Model {
            assign,
            lateness,
            wm: i64::MIN,
            open: BTreeMap::new(),
            timers: BTreeSet::new(),
            out: Vec::new(),
            late: Vec::new(),
        }
    }

    fn record(&mut self, ts: i64, word: &str, line: &str) {
        // `word` is the key: a word, or a user.
        let mut any = false;
        for w in self.assign.windows(ts) {
            if w.1 - 1 + self.lateness <= self.wm {
                continue;
            }
            any = true;
            let open = self.open.entry(word.to_owned()).or_default();
            let (w, count) = if let Assign::Session(_) = self.assign {
                // Merge every session this one overlaps or touches.
                let parts: Vec<(i64, i64)> = open
                    .keys()
                    .copied()
                    .filter(|p| p.0 <= w.1 && p.1 >= w.0)
                    .collect();
                let mut merged = w;
                let mut count = 1;
                for p in parts {
                    merged = (merged.0.min(p.0), merged.1.max(p.1));
                    count += open.remove(&p).unwrap_or(0);
                    self.timers.retain(|t| !(t.1 == word && t.2 == p));
                }
                open.insert(merged, count);
                (merged, count)
            } else {
                let c = open.entry(w).or_insert(0);
                *c += 1;
                (w, *c)
            };
            let max = w.1 - 1;
            if max > self.wm {
                self.timers.insert((max, word.to_owned(), w, false));
            } else {
                self.out.push((word.to_owned(), w.0, w.1, count));
            }
            self.timers
                .insert((max + self.lateness, word.to_owned(), w, true));
        }
        if !any {
            self.late.push(line.to_owned());
        }
    }

    fn advance(&mut self, wm: i64) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        // Firings first, then cleanups (a window's cleanup is never before
        // its firing).
        let due: Vec<_> = self.timers.iter().filter(|t| t.0 <= wm).cloned().collect();
        for t in &due {
            self.timers.remove(t);
        }
        for (_, key, w, cleanup) in &due {
            if !cleanup && let Some(c) = self.open.get(key).and_then(|o| o.get(w)) {
                self.out.push((key.clone(), w.0, w.1, *c));
            }
        }
        for (_, key, w, cleanup) in &due {
            if *cleanup && let Some(o) = self.open.get_mut(key) {
                o.remove(w);
            }
        }
    }
}

/// Runs the model on one file read in order, the watermark trailing the
/// highest timestamp by `bound` + 1 ms after each record.
fn model_run(lines: &[(i64, String)], assign: Assign, lateness: i64, bound: i64) -> Model {
    let mut m = Model::new(assign, lateness);
    let mut max = i64::MIN;
    for (ts, word) in lines {
        m.record(*ts, word, &format!("{ts} {word}"));
        max = max.max(*ts);
        m.advance(max - bound - 1);
    }
    m.advance(i64::MAX);
    m
}

/// A little deterministic PRNG (the tests must not depend on a crate's
/// sequence).
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

const WORDS: [&str; 12] = [
    "ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay", "kiwi", "lynx",
];

/// `n` lines per file, timestamps multiples of 10, shuffled within blocks
/// of 8 (so at most 70 ms out of order: never late under a 100 ms bound).
fn shuffled_files(dir: &Path, files: usize, n: usize, seed: u64) -> Vec<(i64, String)> {
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

struct Setup {
    assign: Assign,
    func: Func,
    lateness: i64,
    bound: i64,
    src_p: u32,
    win_p: u32,
}

/// Runs the window job; returns the emitted (word, window start, count)
/// and the late lines, both sorted.
fn run_windows(
    dir: &Path,
    s: &Setup,
    options: RunOptions,
) -> (Vec<(String, i64, u64)>, Vec<String>) {
    let out = dir.join("out");
    let late = dir.join("late");
    let (func, kind, pre, win_input, post, result) = match s.func {
        Func::Aggregate => ("count-words", "aggregate", "", "words", "", "win"),
        Func::Process => ("count-elements", "process-window", "", "words", "", "win"),
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
fn sorted(v: Vec<(String, i64, i64, u64)>) -> Vec<(String, i64, u64)> {
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
    for p in [1, 4] {
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
        let graph = shipped(
            "tumbling-word-count.toml",
            &[
                ("input", &input.display().to_string()),
                ("output", &out.display().to_string()),
            ],
            p,
        );
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
        assert_eq!(got, want, "parallelism {p}");
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
    for p in [1, 4] {
        let out = dir.path().join(format!("out-{p}"));
        let late = dir.path().join(format!("late-{p}"));
        let graph = shipped(
            "session-clicks.toml",
            &[
                ("input", &input.display().to_string()),
                ("output", &out.display().to_string()),
                ("late", &late.display().to_string()),
            ],
            p,
        );
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
        assert_eq!(got, want, "sessions at parallelism {p}");
        let mut got_late = output_lines(&late);
        got_late.sort();
        assert_eq!(got_late, want_late, "late clicks at parallelism {p}");
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
        });
        let summary = run(&g).unwrap_or_else(|e| panic!("job failed: {e}"));
        assert!(summary.node("win").expect("win").records_out > 0);
        let last = weir_checkpoint::CheckpointStore::latest(&dir.path().join("chk"))
            .expect("the final checkpoint");
        assert!(last.metadata.job_finished);
        for snap in last.snapshots.iter().filter(|s| s.operator == "win") {
            let Some(weir_checkpoint::KeyedPart::Canonical(k)) = &snap.keyed else {
                panic!("canonical keyed state expected");
            };
            assert!(
                k.entries.is_empty() && snap.timers.is_empty(),
                "{:?}: {} entries, {} timers left in sub-task {}",
                s.assign.toml(s.lateness),
                k.entries.len(),
                snap.timers.len(),
                snap.subtask
            );
        }
    }
}
