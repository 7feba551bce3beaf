//! WordCount against an independently computed count, at parallelism 1 and 4.

use std::collections::HashMap;
use weir_tests::*;

const JOB: &str = r#"
name = "wordcount-test"
[parameters]
input = ""
output = ""
[components]
wc = "WC"
[[sources]]
id = "lines"
kind = "file"
path = "${input}"
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "wc"
function = "FUNCTION"
kind = "KIND"
input = { from = "tokenize", exchange = "key-by" }
FORMAT
[[sinks]]
id = "out"
kind = "file"
path = "${output}"
input = "LAST"
"#;

const FORMAT: &str = r#"
[[operators]]
id = "format"
component = "wc"
function = "format"
kind = "flat-map"
input = "count"
"#;

fn job_text(with_state: bool) -> String {
    let wc = component("wordcount").display().to_string();
    let t = JOB.replace("WC", &wc);
    if with_state {
        t.replace("FUNCTION", "count-with-state")
            .replace("KIND", "keyed-process")
            .replace("FORMAT", "")
            .replace("LAST", "count")
    } else {
        t.replace("FUNCTION", "count")
            .replace("KIND", "reduce")
            .replace("FORMAT", FORMAT)
            .replace("LAST", "format")
    }
}

/// A corpus in several files, with the generator's text and edge cases:
/// CRLF, blank lines, non-ASCII letters, digits and underscores, no final
/// newline.
fn corpus(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for i in 0..3u64 {
        let mut buf = Vec::new();
        weir_connectors::corpus::write_corpus(&mut buf, 300_000, 10 + i).expect("corpus");
        let mut text = String::from_utf8(buf).expect("utf8");
        text.push_str(
            "Café CAFÉ naïve x_1 __init__ 2024 a1b2\r\n\r\n\nend-of-file without newline",
        );
        std::fs::write(dir.join(format!("in-{i}.txt")), &text).expect("write");
        all.push_str(&text);
        all.push('\n');
    }
    all
}

/// Checks every "(word,count)" update: for each word the counts emitted are
/// exactly 1..=n, where n is the reference count.
fn check(lines: &[String], reference: &HashMap<String, u64>) {
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for l in lines {
        let inner = l
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("bad line {l:?}"));
        let (w, c) = inner.rsplit_once(',').expect("word,count");
        seen.entry(w.to_owned())
            .or_default()
            .push(c.parse().expect("count"));
    }
    assert_eq!(seen.len(), reference.len(), "distinct words");
    for (w, n) in reference {
        let mut counts = seen
            .remove(w)
            .unwrap_or_else(|| panic!("word {w:?} missing"));
        counts.sort_unstable();
        let want: Vec<u64> = (1..=*n).collect();
        assert_eq!(counts, want, "updates for {w:?}");
    }
}

fn run_wordcount(with_state: bool, parallelism: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let text = corpus(&input);
    let reference = reference_counts(&text);
    let total: u64 = reference.values().sum();
    let out = dir.path().join("out");
    let graph = job(
        &job_text(with_state),
        dir.path(),
        &[
            ("input", input.to_str().expect("utf8 path")),
            ("output", out.to_str().expect("utf8 path")),
        ],
        Some(parallelism),
    );
    let summary = run(&graph).unwrap_or_else(|e| panic!("job failed: {e}"));
    assert_eq!(summary.node("count").expect("count").records_in, total);
    let lines = output_lines(&out);
    assert_eq!(lines.len() as u64, total, "one update per token");
    check(&lines, &reference);
    let parts = std::fs::read_dir(&out).expect("out").count();
    assert_eq!(
        parts, parallelism as usize,
        "one part file per sink sub-task"
    );
}

#[test]
fn reduce_wordcount_matches_reference_at_parallelism_1() {
    run_wordcount(false, 1);
}

#[test]
fn reduce_wordcount_matches_reference_at_parallelism_4() {
    run_wordcount(false, 4);
}

#[test]
fn value_state_wordcount_matches_reference_at_parallelism_1() {
    run_wordcount(true, 1);
}

#[test]
fn value_state_wordcount_matches_reference_at_parallelism_4() {
    run_wordcount(true, 4);
}

/// Loads a job file shipped in `functions-examples/wordcount`.
fn shipped(name: &str, params: &[(&str, &str)], parallelism: u32) -> weir_core::JobGraph {
    weir_core::JobGraph::load(
        &root().join("functions-examples/wordcount").join(name),
        &weir_core::graph::Overrides {
            parameters: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            parallelism: Some(parallelism),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name} must be valid: {e}"))
}

#[test]
fn shipped_job_file_runs_on_the_sample_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let graph = shipped(
        "wordcount.toml",
        &[("output", out.to_str().expect("utf8"))],
        2,
    );
    run(&graph).expect("runs");
    let reference = reference_counts(weir_connectors::SAMPLE_TEXT);
    check(&output_lines(&out), &reference);
}

#[test]
fn filter_keeps_only_long_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.txt");
    let mut buf = Vec::new();
    weir_connectors::corpus::write_corpus(&mut buf, 200_000, 77).expect("corpus");
    std::fs::write(&input, &buf).expect("write");
    let out = dir.path().join("out");
    let graph = shipped(
        "wordcount-long-words.toml",
        &[
            ("input", input.to_str().expect("utf8")),
            ("output", out.to_str().expect("utf8")),
            ("min_length", "7"),
        ],
        2,
    );
    run(&graph).expect("runs");
    let mut reference = reference_counts(&String::from_utf8(buf).expect("utf8"));
    reference.retain(|w, _| w.len() >= 7);
    assert!(!reference.is_empty());
    check(&output_lines(&out), &reference);
}

#[test]
fn map_renders_json_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let graph = shipped(
        "wordcount-json.toml",
        &[("output", out.to_str().expect("utf8"))],
        2,
    );
    run(&graph).expect("runs");
    let lines: Vec<String> = output_lines(&out)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            format!("({},{})", v["word"].as_str().expect("word"), v["count"])
        })
        .collect();
    check(&lines, &reference_counts(weir_connectors::SAMPLE_TEXT));
}
