//! Event time: timestamps from sources, watermarks per file and across
//! chains and exchanges, and that no record is made late by another file's
//! progress.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use weir_tests::*;

const JOB: &str = r#"
name = "event-time"
[components]
et = "ET"
[[sources]]
id = "events"
kind = "file"
path = "INPUT"
format = "json"
parallelism = SOURCE_P
event_time = { field = "ts", max_out_of_orderness_ms = BOUND, sequential_files = SEQ }
[[operators]]
id = "probe"
component = "et"
function = "probe"
kind = "map"
input = EDGE
parallelism = PROBE_P
[[sinks]]
id = "out"
kind = "file"
path = "OUTPUT"
format = "json"
input = "probe"
parallelism = PROBE_P
"#;

struct Probe {
    ts: i64,
    watermark: i64,
}

/// Runs the probe job; returns what each probe sub-task saw, in order.
fn probe(
    dir: &std::path::Path,
    source_p: u32,
    probe_p: u32,
    bound: u64,
    edge: &str,
    sequential: bool,
) -> BTreeMap<String, Vec<Probe>> {
    let out = dir.join("out");
    let text = JOB
        .replace("ET", &component("event_time").display().to_string())
        .replace("INPUT", &dir.join("in").display().to_string())
        .replace("OUTPUT", &out.display().to_string())
        .replace("SOURCE_P", &source_p.to_string())
        .replace("PROBE_P", &probe_p.to_string())
        .replace("BOUND", &bound.to_string())
        .replace("EDGE", edge)
        .replace("SEQ", &sequential.to_string());
    run(&job(&text, dir, &[], None)).unwrap_or_else(|e| panic!("job failed: {e}"));
    let mut per_task = BTreeMap::new();
    for entry in std::fs::read_dir(&out).expect("out") {
        let path = entry.expect("entry").path();
        let seen = std::fs::read_to_string(&path)
            .expect("part")
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                Probe {
                    ts: v["ts"].as_i64().expect("ts"),
                    watermark: v["watermark"].as_i64().expect("watermark"),
                }
            })
            .collect();
        per_task.insert(path.display().to_string(), seen);
    }
    per_task
}

fn write_events(dir: &std::path::Path, name: &str, ts: impl Iterator<Item = i64>) -> usize {
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    let mut text = String::new();
    let mut n = 0;
    for t in ts {
        text.push_str(&json!({"ts": t, "pad": "x".repeat(20)}).to_string());
        text.push('\n');
        n += 1;
    }
    std::fs::write(dir.join("in").join(name), text).expect("write");
    n
}

fn assert_on_time_and_progressing(seen: &BTreeMap<String, Vec<Probe>>, total: usize) {
    let all: Vec<&Probe> = seen.values().flatten().collect();
    assert_eq!(all.len(), total, "every record arrives");
    for p in &all {
        assert!(
            p.ts > p.watermark,
            "record at {} arrived behind watermark {}",
            p.ts,
            p.watermark
        );
    }
    for (task, s) in seen {
        assert!(
            s.windows(2).all(|w| w[0].watermark <= w[1].watermark),
            "{task}: watermark went back"
        );
    }
    // Watermarks follow the data through the graph: records late in event
    // time are processed under a watermark past the middle of event time.
    let max_ts = all.iter().map(|p| p.ts).max().expect("records");
    let max_wm = all.iter().map(|p| p.watermark).max().expect("records");
    assert!(
        max_wm > max_ts / 2,
        "highest watermark seen {max_wm}, highest timestamp {max_ts}"
    );
}

#[test]
fn overlapping_files_read_one_after_another_drop_nothing() {
    // One reader reads both files; the second starts back at time zero.
    let dir = tempfile::tempdir().expect("tempdir");
    let n = write_events(dir.path(), "a.jsonl", 0..30_000)
        + write_events(dir.path(), "b.jsonl", 0..30_000);
    let seen = probe(dir.path(), 1, 1, 0, "\"events\"", true);
    assert_on_time_and_progressing(&seen, n);
    // While a was read, the unread b held the watermark at its minimum.
    let all: Vec<&Probe> = seen.values().flatten().collect();
    assert!(all[..30_000].iter().all(|p| p.watermark == i64::MIN));
}

#[test]
fn overlapping_files_read_in_turn_advance_together_and_drop_nothing() {
    // One reader reads three files in turn (the default with event time):
    // the watermark moves before any file ends, and no record is late.
    let dir = tempfile::tempdir().expect("tempdir");
    let n = write_events(dir.path(), "a.jsonl", 0..30_000)
        + write_events(dir.path(), "b.jsonl", 0..30_000)
        + write_events(dir.path(), "c.jsonl", 0..30_000);
    let seen = probe(dir.path(), 1, 1, 0, "\"events\"", false);
    assert_on_time_and_progressing(&seen, n);
    let all: Vec<&Probe> = seen.values().flatten().collect();
    assert!(
        all[..30_000].iter().any(|p| p.watermark > 1000),
        "reading in turn lets the watermark advance within the first third"
    );
}

#[test]
fn watermark_crosses_an_exchange_as_the_minimum_of_the_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    for f in 0..4i64 {
        // Out of order by up to 40 ms within a file; files overlap in time.
        let ts = (0..20_000i64).map(move |i| i * 3 + f * 7 + ((i * 7919) % 41) - 20);
        n += write_events(dir.path(), &format!("f{f}.jsonl"), ts);
    }
    let seen = probe(
        dir.path(),
        2,
        3,
        50,
        "{ from = \"events\", exchange = \"rebalance\" }",
        false,
    );
    assert_eq!(seen.len(), 3);
    assert_on_time_and_progressing(&seen, n);
}

#[test]
fn missing_timestamp_field_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    std::fs::write(
        dir.path().join("in/e.jsonl"),
        "{\"ts\": 1}\n{\"time\": 2}\n",
    )
    .expect("write");
    let out = dir.path().join("out");
    let text = JOB
        .replace("ET", &component("event_time").display().to_string())
        .replace("INPUT", &dir.path().join("in").display().to_string())
        .replace("OUTPUT", &out.display().to_string())
        .replace("SOURCE_P", "1")
        .replace("PROBE_P", "1")
        .replace("BOUND", "0")
        .replace("EDGE", "\"events\"")
        .replace("SEQ", "false");
    let e = run(&job(&text, dir.path(), &[], None))
        .expect_err("must fail")
        .to_string();
    assert!(
        e.contains("e.jsonl:2") && e.contains("no integer timestamp field 'ts'"),
        "{e}"
    );
}

#[test]
fn ingestion_time_stamps_generated_records() {
    let text = r#"
name = "ingestion"
[components]
et = "ET"
[[sources]]
id = "gen"
kind = "datagen"
generator = "sequence"
count = 50000
event_time = {}
[[operators]]
id = "probe"
component = "et"
function = "probe"
kind = "map"
input = { from = "gen", exchange = "rebalance" }
[[sinks]]
id = "out"
kind = "file"
path = "OUTPUT"
format = "json"
input = "probe"
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let before = weir_connectors::now_ms();
    let t = text
        .replace("ET", &component("event_time").display().to_string())
        .replace("OUTPUT", &out.display().to_string());
    run(&job(&t, dir.path(), &[], Some(1))).expect("runs");
    let after = weir_connectors::now_ms();
    let lines = output_lines(&out);
    assert_eq!(lines.len(), 50_000);
    for l in &lines {
        let v: Value = serde_json::from_str(l).expect("json");
        let ts = v["ts"].as_i64().expect("ts");
        assert!(
            (before..=after).contains(&ts),
            "{ts} not in {before}..={after}"
        );
        assert!(v["watermark"].as_i64().expect("wm") < ts);
    }
}
