//! Sources and sinks with bad input: missing files, empty directories,
//! malformed JSON lines under both policies, and data generators.

use weir_tests::*;

const JSON_JOB: &str = r#"
name = "json"
[parameters]
input = ""
output = ""
[components]
ua = "UA"
[[sources]]
id = "events"
kind = "file"
path = "${input}"
format = "json"
on_malformed = "POLICY"
[[operators]]
id = "activity"
component = "ua"
function = "user-activity"
kind = "keyed-process"
input = { from = "events", exchange = "key-by", key_field = "user" }
[[sinks]]
id = "out"
kind = "file"
path = "${output}/good"
format = "json"
input = "activity"
DEAD
"#;

const DEAD: &str = r#"
[[sinks]]
id = "dead-letters"
kind = "file"
path = "${output}/dead"
format = "json"
input = { from = "events", output = "malformed" }
"#;

fn json_job(dir: &std::path::Path, policy: &str, input: &str) -> weir_core::JobGraph {
    let text = JSON_JOB
        .replace("UA", &component("user_activity").display().to_string())
        .replace("POLICY", policy)
        .replace("DEAD", if policy == "dead-letter" { DEAD } else { "" });
    job(
        &text,
        dir,
        &[
            ("input", input),
            ("output", dir.join("out").to_str().expect("utf8")),
        ],
        Some(2),
    )
}

const EVENTS: &str = "{\"user\":\"a\",\"url\":\"/1\"}\n{\"user\":\"b\",\"url\":\"/2\"}\n{\"user\": \"a\", oops\n\n{\"user\":\"a\",\"url\":\"/3\"}\n";

#[test]
fn malformed_json_fails_with_file_and_line_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, EVENTS).expect("write");
    let graph = json_job(dir.path(), "fail", input.to_str().expect("utf8"));
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(e.contains("operator 'events'"), "{e}");
    assert!(
        e.contains(&format!("malformed JSON at {}:3", input.display())),
        "{e}"
    );
}

#[test]
fn malformed_json_goes_to_the_dead_letter_output_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, EVENTS).expect("write");
    let graph = json_job(dir.path(), "dead-letter", input.to_str().expect("utf8"));
    run(&graph).expect("runs");
    let good = output_lines(&dir.path().join("out/good"));
    assert_eq!(good.len(), 3, "{good:?}");
    let dead = output_lines(&dir.path().join("out/dead"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    let v: serde_json::Value = serde_json::from_str(&dead[0]).expect("json");
    assert_eq!(v["line"], 3);
    assert_eq!(v["text"], "{\"user\": \"a\", oops");
    assert_eq!(v["file"], input.display().to_string());
}

#[test]
fn missing_input_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.jsonl");
    let graph = json_job(dir.path(), "fail", missing.to_str().expect("utf8"));
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(
        e.contains("operator 'events'") && e.contains("cannot read") && e.contains("nope.jsonl"),
        "{e}"
    );
}

#[test]
fn empty_directory_and_unmatched_glob_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    for input in [
        empty.display().to_string(),
        format!("{}/*.jsonl", dir.path().display()),
    ] {
        let graph = json_job(dir.path(), "fail", &input);
        let e = run(&graph).expect_err("must fail").to_string();
        assert!(e.contains("no input files"), "{e}");
    }
}

#[test]
fn glob_reads_every_matching_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = String::new();
    for i in 0..5 {
        let text = format!("{{\"user\":\"u{i}\",\"url\":\"/x\"}}\n").repeat(i + 1);
        std::fs::write(dir.path().join(format!("e{i}.jsonl")), &text).expect("write");
        all.push_str(&text);
    }
    std::fs::write(dir.path().join("ignored.txt"), "not json").expect("write");
    let graph = json_job(
        dir.path(),
        "fail",
        &format!("{}/e*.jsonl", dir.path().display()),
    );
    let summary = run(&graph).expect("runs");
    assert_eq!(summary.node("events").expect("source").records_out, 15);
    assert_eq!(output_lines(&dir.path().join("out/good")).len(), 15);
}

#[test]
fn datagen_words_are_deterministic_and_counted_exactly() {
    let text = r#"
name = "gen"
[components]
wc = "WC"
[[sources]]
id = "gen"
kind = "datagen"
generator = "words"
count = 2000
seed = 9
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "gen"
[[sinks]]
id = "out"
kind = "file"
path = "OUT"
input = "tokenize"
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut outputs = Vec::new();
    for (run_no, p) in [1u32, 3, 3].into_iter().enumerate() {
        let out = dir.path().join(format!("out{run_no}"));
        let t = text
            .replace("WC", &component("wordcount").display().to_string())
            .replace("OUT", &out.display().to_string());
        let summary = run(&job(&t, dir.path(), &[], Some(p))).expect("runs");
        assert_eq!(
            summary.node("gen").expect("gen").records_out,
            2000,
            "count at parallelism {p}"
        );
        let mut lines = output_lines(&out);
        lines.sort();
        outputs.push(lines);
    }
    // Every sub-task seeds its own stream: the same parallelism and seed
    // give the same records.
    assert!(!outputs[1].is_empty());
    assert_eq!(outputs[1], outputs[2]);
}

#[test]
fn a_fresh_run_refuses_an_output_directory_with_earlier_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let graph = weir_core::JobGraph::load(
        &root().join("functions-examples/wordcount/wordcount.toml"),
        &weir_core::graph::Overrides {
            parameters: vec![("output".into(), out.to_string_lossy().into_owned())],
            ..Default::default()
        },
    )
    .expect("valid");
    run(&graph).expect("the first run");
    let first = output_lines(&out);
    assert!(!first.is_empty());
    std::fs::write(out.join("notes.txt"), "mine").expect("write");
    let e = run(&graph).expect_err("refused").to_string();
    assert!(
        e.contains("is not empty (notes.txt, part-0-0.txt)") && e.contains("--overwrite"),
        "{e}"
    );
    assert_eq!(output_lines(&out), first, "nothing was touched");
    let overwrite = weir_runtime::RunOptions {
        overwrite: true,
        ..weir_runtime::RunOptions::default()
    };
    weir_runtime::run_job(&graph, &runtime(), &overwrite).expect("replaces");
    assert_eq!(output_lines(&out), first);
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).expect("kept"),
        "mine",
        "--overwrite replaces part files only"
    );
}
