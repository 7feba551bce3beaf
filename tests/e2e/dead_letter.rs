//! Errors drive behaviour: a record a function fails on (an error it
//! returns, a value it cannot decode) or the host cannot route (no key
//! field, no event timestamp) fails the job at once by default, and with
//! `on_error = "dead-letter"` goes to the operator's `dead-letter` side
//! output, with the operator and the error, while the job goes on.

use std::path::Path;
use weir_tests::*;

/// Every dead letter in `dir`, parsed.
fn letters(dir: &Path) -> Vec<serde_json::Value> {
    output_lines(dir)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn records_a_map_fails_on_go_to_dead_letter_and_the_job_goes_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "ok\nbad one\nmore\nbad two\nlast\n").expect("write");
    let text = format!(
        r#"
name = "dead-letters"
[components]
h = "{}"
[[sources]]
id = "lines"
kind = "file"
path = "in.txt"
[[operators]]
id = "check"
component = "h"
function = "fail"
kind = "map"
input = "lines"
on_error = "dead-letter"
[[sinks]]
id = "good"
kind = "file"
path = "good"
input = "check"
[[sinks]]
id = "bad"
kind = "file"
path = "bad"
input = {{ from = "check", output = "dead-letter" }}
"#,
        component("hostile").display()
    );
    run(&job(&text, dir, &[], Some(2))).expect("the job goes on");
    assert_eq!(
        sorted(output_lines(&dir.join("good"))),
        vec!["last", "more", "ok"]
    );
    let mut bad = letters(&dir.join("bad"));
    bad.sort_by_key(|v| v["value"].as_str().map(str::to_owned));
    assert_eq!(bad.len(), 2, "{bad:?}");
    for (v, line) in bad.iter().zip(["bad one", "bad two"]) {
        assert_eq!(v["operator"], "check");
        assert_eq!(v["kind"], "user");
        assert_eq!(v["value"], line);
        assert_eq!(
            v["error"].as_str(),
            Some(format!("refusing record '{line}'").as_str())
        );
        assert!(v["subtask"].as_u64().is_some_and(|s| s < 2), "{v}");
    }
}

#[test]
fn by_default_a_failed_record_fails_the_job_at_once_naming_the_record() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "ok\nbad one\n").expect("write");
    let text = format!(
        r#"
name = "strict"
[components]
h = "{}"
[checkpointing]
interval_ms = 50
dir = "chk"
[[sources]]
id = "lines"
kind = "file"
path = "in.txt"
[[operators]]
id = "check"
component = "h"
function = "fail"
kind = "map"
input = "lines"
[[sinks]]
id = "good"
kind = "discard"
input = "check"
"#,
        component("hostile").display()
    );
    let e = run(&job(&text, dir, &[], Some(1)))
        .expect_err("fails")
        .to_string();
    assert!(
        e.contains("operator 'check' (sub-task 1/1)")
            && e.contains("on record 'bad one': refusing record 'bad one'")
            && e.contains("not restarted"),
        "{e}"
    );
}

#[test]
fn a_reduce_keeps_its_value_past_a_record_it_cannot_decode() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // Lines of eight bytes decode as little-endian u64s; "bad" does not.
    let mut input = Vec::new();
    for line in [
        &[1u8, 0, 0, 0, 0, 0, 0, 0][..],
        b"bad",
        &[2, 0, 0, 0, 0, 0, 0, 0],
    ] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    std::fs::write(dir.join("in.txt"), input).expect("write");
    let text = format!(
        r#"
name = "sums"
[components]
wc = "{}"
[[sources]]
id = "numbers"
kind = "file"
path = "in.txt"
[[operators]]
id = "sum"
component = "wc"
function = "count"
kind = "reduce"
input = {{ from = "numbers", exchange = "key-by" }}
on_error = "dead-letter"
[[operators]]
id = "format"
component = "wc"
function = "format"
kind = "flat-map"
input = "sum"
[[sinks]]
id = "out"
kind = "file"
path = "out"
input = "format"
[[sinks]]
id = "bad"
kind = "file"
path = "bad"
input = {{ from = "sum", output = "dead-letter" }}
"#,
        component("wordcount").display()
    );
    run(&job(&text, dir, &[], Some(1))).expect("runs");
    assert_eq!(output_lines(&dir.join("out")), vec!["(,1)", "(,3)"]);
    let bad = letters(&dir.join("bad"));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["kind"], "decode");
    assert_eq!(bad[0]["value"], "bad");
    assert!(
        bad[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("expected 8 bytes")),
        "{}",
        bad[0]
    );
}

#[test]
fn records_without_their_key_field_or_unfit_for_the_aggregate_go_to_dead_letter() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("clicks.txt"),
        [
            r#"{"user":"u1","url":"/a"}"#,
            r#"{"user":"u1","url":"/b"}"#,
            r#"{"url":"/nobody"}"#,
            "not json at all",
            r#"{"user":"u2"}"#,
            r#"{"user":"u2","url":"/c"}"#,
            r#"{"user":"u1","url":"/a"}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let text = format!(
        r#"
name = "clicks"
[components]
activity = "{}"
[[sources]]
id = "clicks"
kind = "file"
path = "clicks.txt"
[[operators]]
id = "per-user"
component = "activity"
function = "clicks-per-user"
kind = "aggregate"
input = {{ from = "clicks", exchange = "key-by", key_field = "user" }}
on_error = "dead-letter"
[[sinks]]
id = "out"
kind = "file"
path = "out"
format = "json"
input = "per-user"
[[sinks]]
id = "bad"
kind = "file"
path = "bad"
input = {{ from = "per-user", output = "dead-letter" }}
"#,
        component("user_activity").display()
    );
    run(&job(&text, dir, &[], Some(2))).expect("runs");
    let out: Vec<serde_json::Value> = output_lines(&dir.join("out"))
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(out.len(), 4, "{out:?}");
    let last_u1 = out
        .iter()
        .filter(|v| v["user"] == "u1")
        .map(|v| v["clicks"].as_u64().unwrap_or(0))
        .max();
    assert_eq!(last_u1, Some(3));
    let u2: Vec<_> = out.iter().filter(|v| v["user"] == "u2").collect();
    assert_eq!(u2.len(), 1, "the bad u2 click counts for nothing");
    assert_eq!(u2[0]["clicks"], 1);
    let mut bad = letters(&dir.join("bad"));
    bad.sort_by_key(|v| v["value"].as_str().map(str::to_owned));
    let got: Vec<(&str, &str)> = bad
        .iter()
        .map(|v| {
            (
                v["kind"].as_str().unwrap_or("?"),
                v["value"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("rejected", "not json at all"),
            ("rejected", r#"{"url":"/nobody"}"#),
            ("decode", r#"{"user":"u2"}"#),
        ]
    );
    assert!(bad.iter().all(|v| v["operator"] == "per-user"));
    assert!(
        bad[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no such field")),
        "{}",
        bad[1]
    );
}

#[test]
fn an_event_time_window_sets_aside_records_without_timestamps() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "1000 apple\n2000 pear\n").expect("write");
    let text = format!(
        r#"
name = "untimed"
[components]
win = "{}"
[[sources]]
id = "lines"
kind = "file"
path = "in.txt"
[[operators]]
id = "words"
component = "win"
function = "word-key"
kind = "flat-map"
input = "lines"
[[operators]]
id = "counts"
component = "win"
function = "count-words"
kind = "aggregate"
input = {{ from = "words", exchange = "key-by" }}
window = {{ type = "tumbling", size_ms = 1000 }}
on_error = "dead-letter"
[[sinks]]
id = "out"
kind = "discard"
input = "counts"
[[sinks]]
id = "bad"
kind = "file"
path = "bad"
input = {{ from = "counts", output = "dead-letter" }}
"#,
        component("windows").display()
    );
    run(&job(&text, dir, &[], Some(1))).expect("runs");
    let bad = letters(&dir.join("bad"));
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad.iter().all(|v| {
        v["kind"] == "rejected"
            && v["timestamp"].is_null()
            && v["error"]
                .as_str()
                .is_some_and(|e| e.contains("without an event timestamp"))
    }));
}

#[test]
fn side_outputs_nobody_declares_are_refused_before_the_job_starts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "x\n").expect("write");
    let text = |output: &str, on_error: &str| {
        format!(
            r#"
name = "misrouted"
[components]
h = "{}"
[[sources]]
id = "lines"
kind = "file"
path = "in.txt"
[[operators]]
id = "check"
component = "h"
function = "fail"
kind = "map"
input = "lines"
{on_error}
[[sinks]]
id = "out"
kind = "discard"
input = {{ from = "check", output = "{output}" }}
"#,
            component("hostile").display()
        )
    };
    let e = run(&job(&text("late-users", ""), dir, &[], Some(1)))
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("reads side output 'late-users', which function 'fail'")
            && e.contains("does not declare (it declares: none)"),
        "{e}"
    );
    let e = weir_core::JobGraph::from_toml(
        &text("dead-letter", ""),
        Path::new("misrouted.toml"),
        dir,
        &weir_core::graph::Overrides::default(),
    )
    .expect_err("invalid")
    .to_string();
    assert!(
        e.contains("sends nothing to 'dead-letter' unless it sets on_error = \"dead-letter\""),
        "{e}"
    );
    let e = weir_core::JobGraph::from_toml(
        &text("late", ""),
        Path::new("misrouted.toml"),
        dir,
        &weir_core::graph::Overrides::default(),
    )
    .expect_err("invalid")
    .to_string();
    assert!(e.contains("only window operators"), "{e}");
}
