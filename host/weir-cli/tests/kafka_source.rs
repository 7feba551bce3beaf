//! The Kafka source against a real Apache Kafka broker (`scripts/kafka`,
//! one broker per test, stopped when the test ends): per-partition
//! watermarks over partitions overlapping in time, an idle partition,
//! start offsets and the envelope format, partitions added while a job
//! runs and offsets committed to the group, a topic that does not exist,
//! and malformed records under the dead-letter policy.

mod common;

use common::committed_lines;
use common::kafka::{Broker, Record, Running, assert_ok, spawn_logged, weir};
use common::{root, wordcount_wasm};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A job file reading `topic` into a file sink (`out`), with extra source
/// settings.
fn read_job(dir: &Path, broker: &Broker, topic: &str, source_extra: &str) -> PathBuf {
    let text = format!(
        r#"
name = "kafka-read"
[components]
wc = "{wc}"
[[sources]]
id = "lines"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["{topic}"]
bounded = true
{source_extra}
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[sinks]]
id = "out"
kind = "file"
path = "out"
input = "tokenize"
"#,
        wc = wordcount_wasm().display(),
        bs = broker.bootstrap,
    );
    let path = dir.join("read.toml");
    std::fs::write(&path, text).expect("job file");
    path
}

#[test]
fn a_topic_that_does_not_exist_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    let job = read_job(dir, &broker, "no-such-topic", "");
    let started = Instant::now();
    let o = weir(dir)
        .args(["run", &job.display().to_string(), "--quiet"])
        .output()
        .expect("weir runs");
    assert!(!o.status.success(), "a missing topic must fail the job");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("topic 'no-such-topic' does not exist"),
        "unclear error: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it took {:?}",
        started.elapsed()
    );
    // A sink's topic too, with either guarantee.
    broker.create_topic("present", 1);
    for guarantee in ["at-least-once", "exactly-once"] {
        let text = format!(
            r#"
name = "kafka-absent-{guarantee}"
[[sources]]
id = "in"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["present"]
bounded = true
[[sinks]]
id = "out"
kind = "kafka"
bootstrap_servers = "{bs}"
topic = "absent"
delivery_guarantee = "{guarantee}"
input = "in"
"#,
            bs = broker.bootstrap
        );
        let job = dir.join(format!("absent-{guarantee}.toml"));
        std::fs::write(&job, text).expect("job");
        let o = weir(dir)
            .args(["run", &job.display().to_string(), "--quiet"])
            .output()
            .expect("weir runs");
        assert!(
            !o.status.success(),
            "{guarantee}: a missing topic must fail the job"
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("topic 'absent' does not exist"),
            "{guarantee}: unclear error: {err}"
        );
    }
}

/// JSON records that do not parse go to the `malformed` side output with
/// where they were; the good ones flow on; nothing is lost.
#[test]
fn malformed_json_records_become_dead_letters_and_the_rest_flows_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("events", 2);
    let values: Vec<Vec<u8>> = (0..200)
        .map(|i| match i % 10 {
            3 => format!("{{\"n\": {i}").into_bytes(),
            7 => vec![b'{', 0xff, b'}'],
            _ => format!("{{\"n\": {i}}}").into_bytes(),
        })
        .collect();
    let records: Vec<Record<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i % 2) as i32, None, None, v.as_slice()))
        .collect();
    broker.produce("events", &records);
    let text = format!(
        r#"
name = "kafka-malformed"
[[sources]]
id = "events"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["events"]
bounded = true
format = "json"
on_malformed = "dead-letter"
[[sinks]]
id = "good"
kind = "file"
path = "good"
input = "events"
[[sinks]]
id = "bad"
kind = "file"
path = "bad"
input = {{ from = "events", output = "malformed" }}
"#,
        bs = broker.bootstrap
    );
    let job = dir.join("malformed.toml");
    std::fs::write(&job, text).expect("job");
    let o = weir(dir)
        .args(["run", &job.display().to_string(), "--quiet"])
        .output()
        .expect("weir runs");
    assert_ok(&o, "the job");
    let good = committed_lines(&dir.join("good"));
    let bad = committed_lines(&dir.join("bad"));
    assert_eq!(good.len(), 160, "{good:?}");
    assert_eq!(bad.len(), 40, "{bad:?}");
    let mut bad_ns: Vec<i64> = Vec::new();
    for l in &bad {
        let v: serde_json::Value = serde_json::from_str(l).expect("dead letter is JSON");
        assert_eq!(v["topic"], "events");
        assert!(v["offset"].is_i64() && v["partition"].is_i64(), "{l}");
        assert!(!v["error"].as_str().unwrap_or_default().is_empty(), "{l}");
        let text = v["text"].as_str().unwrap_or_default();
        if let Some(n) = text.strip_prefix("{\"n\": ") {
            bad_ns.push(n.parse().expect("number"));
        }
    }
    bad_ns.sort();
    let want: Vec<i64> = (0..200).filter(|i| i % 10 == 3).collect();
    assert_eq!(bad_ns, want);
}

/// Windows over a Kafka topic whose two partitions cover the same time
/// span, read by one reader: each partition keeps its own watermark, so a
/// reader that has read far into one partition does not make the other's
/// records late. Every word's count per 1 s window equals the count
/// computed from the input, and nothing is late.
#[test]
fn per_partition_watermarks_keep_overlapping_partitions_on_time() {
    let windows = root().join("functions-examples/target/wasm32-wasip2/release/windows.wasm");
    assert!(windows.is_file(), "build the example functions first");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("words", 2);
    let words = ["alpha", "beta", "gamma", "delta"];
    let mut values = Vec::new();
    let mut want: BTreeMap<(String, i64), u64> = BTreeMap::new();
    // 20,000 records per partition over the same 20 s, each partition in
    // time order: partition 0 is produced (and read) first.
    for partition in 0..2i32 {
        for i in 0..20_000i64 {
            let ts = 1_700_000_000_000 + i;
            let word = words[((i + i64::from(partition)) % 4) as usize];
            values.push((partition, ts, format!("{ts} {word}")));
            *want.entry((word.to_owned(), ts - ts % 1000)).or_insert(0) += 1;
        }
    }
    let records: Vec<Record<'_>> = values
        .iter()
        .map(|(p, ts, v)| (*p, Some(*ts), None, v.as_bytes()))
        .collect();
    broker.produce("words", &records);
    let text = format!(
        r#"
name = "kafka-windows"
parallelism = 1
[components]
win = "{win}"
[[sources]]
id = "lines"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["words"]
bounded = true
event_time = {{ max_out_of_orderness_ms = 0 }}
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
[[sinks]]
id = "out"
kind = "file"
path = "out"
format = "json"
input = "counts"
[[sinks]]
id = "late"
kind = "file"
path = "late"
input = {{ from = "counts", output = "late" }}
"#,
        win = windows.display(),
        bs = broker.bootstrap
    );
    let job = dir.join("windows.toml");
    std::fs::write(&job, text).expect("job");
    let o = weir(dir)
        .args(["run", &job.display().to_string(), "--quiet"])
        .output()
        .expect("weir runs");
    assert_ok(&o, "the window job");
    let late = committed_lines(&dir.join("late"));
    assert!(
        late.is_empty(),
        "{} late records, e.g. {:?}",
        late.len(),
        late.first()
    );
    let mut got: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for l in committed_lines(&dir.join("out")) {
        let v: serde_json::Value = serde_json::from_str(&l).expect("JSON");
        let key = (
            v["word"].as_str().expect("word").to_owned(),
            v["window_start"].as_i64().expect("start"),
        );
        let prev = got.insert(key, v["count"].as_u64().expect("count"));
        assert!(prev.is_none(), "a window fired twice: {l}");
    }
    assert_eq!(got, want);
}

/// An unbounded source with an empty partition: with an idle timeout the
/// empty partition stops holding the watermark back, so windows of the
/// other partition fire while the job runs (written at least once to a
/// Kafka topic, read while the job is still running).
#[test]
fn an_idle_partition_does_not_hold_windows_back() {
    let windows = root().join("functions-examples/target/wasm32-wasip2/release/windows.wasm");
    assert!(windows.is_file(), "build the example functions first");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("words", 2);
    broker.create_topic("windows", 1);
    let values: Vec<(i64, String)> = (0..5_000i64)
        .map(|i| {
            let ts = 1_700_000_000_000 + i;
            (ts, format!("{ts} w{}", i % 3))
        })
        .collect();
    // Everything in partition 0; partition 1 stays empty.
    let records: Vec<Record<'_>> = values
        .iter()
        .map(|(ts, v)| (0, Some(*ts), None, v.as_bytes()))
        .collect();
    broker.produce("words", &records);
    let text = format!(
        r#"
name = "kafka-idle"
parallelism = 1
[components]
win = "{win}"
[[sources]]
id = "lines"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["words"]
event_time = {{ max_out_of_orderness_ms = 0, idle_timeout_ms = 1000 }}
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
[[sinks]]
id = "out"
kind = "kafka"
bootstrap_servers = "{bs}"
topic = "windows"
delivery_guarantee = "at-least-once"
input = "counts"
"#,
        win = windows.display(),
        bs = broker.bootstrap
    );
    let job = dir.join("idle.toml");
    std::fs::write(&job, text).expect("job");
    let _job = Running(
        weir(dir)
            .args(["run", &job.display().to_string(), "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weir starts"),
    );
    // The windows [0 s, 1 s) … [3 s, 4 s) close once the watermark passes
    // them (the last one, up to 4999 ms, stays open: nothing later came).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got: BTreeMap<(String, i64), u64> = BTreeMap::new();
    while got.len() < 12 {
        assert!(
            Instant::now() < deadline,
            "windows did not fire with an empty partition: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
        got.clear();
        for l in broker.read_committed("windows") {
            let v: serde_json::Value = serde_json::from_str(l.as_str()).expect("JSON");
            got.insert(
                (
                    v["word"].as_str().expect("word").to_owned(),
                    v["window_start"].as_i64().expect("start"),
                ),
                v["count"].as_u64().expect("count"),
            );
        }
    }
    for ((word, start), count) in &got {
        let want = (0..5_000i64)
            .filter(|i| {
                let ts = 1_700_000_000_000 + i;
                ts - ts % 1000 == *start && format!("w{}", i % 3) == *word
            })
            .count() as u64;
        assert_eq!(*count, want, "{word} at {start}");
        assert!(*start < 1_700_000_004_000, "the open window fired");
    }
}

/// A bounded job copying `topic` into the directory `out` with `source`
/// settings; the values it wrote, in partition order.
fn copy_topic(dir: &Path, broker: &Broker, topic: &str, source: &str, out: &str) -> Vec<String> {
    let text = format!(
        r#"
name = "kafka-copy"
parallelism = 1
[[sources]]
id = "in"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["{topic}"]
bounded = true
{source}
[[sinks]]
id = "out"
kind = "file"
path = "{out}"
input = "in"
"#,
        bs = broker.bootstrap
    );
    let job = dir.join(format!("{out}.toml"));
    std::fs::write(&job, text).expect("job");
    let o = weir(dir)
        .args(["run", &job.display().to_string(), "--quiet"])
        .output()
        .expect("weir runs");
    assert_ok(&o, out);
    committed_lines(&dir.join(out))
}

/// Where a fresh run starts (explicit offsets, a timestamp, the group's
/// committed offset, the end), and the envelope format with key,
/// timestamp and headers.
#[test]
fn start_offsets_and_the_envelope_format() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("t", 1);
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let records: Vec<Record<'_>> = (0..10)
        .map(|i| {
            (
                0,
                Some(1_000 * (i as i64 + 1)),
                Some(keys[i].as_bytes()),
                values[i].as_bytes(),
            )
        })
        .collect();
    broker.produce_with_headers("t", &records, |i| Some(("h".into(), format!("x{i}"))));
    let v = |r: std::ops::Range<i32>| r.map(|i| format!("v{i}")).collect::<Vec<_>>();

    let got = copy_topic(
        dir,
        &broker,
        "t",
        "start = \"offsets\"\nstart_offsets = { \"t:0\" = 6 }",
        "offsets",
    );
    assert_eq!(got, v(6..10));
    let got = copy_topic(
        dir,
        &broker,
        "t",
        "start = \"timestamp\"\nstart_timestamp_ms = 3000",
        "timestamp",
    );
    assert_eq!(got, v(2..10));
    broker.commit("readers", "t", 0, 4);
    let got = copy_topic(
        dir,
        &broker,
        "t",
        "start = \"committed\"\ngroup_id = \"readers\"",
        "committed",
    );
    assert_eq!(got, v(4..10));
    let got = copy_topic(dir, &broker, "t", "start = \"latest\"", "latest");
    assert!(got.is_empty(), "{got:?}");

    let got = copy_topic(dir, &broker, "t", "format = \"envelope\"", "envelope");
    assert_eq!(got.len(), 10);
    for (i, line) in got.iter().enumerate() {
        let e: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(e["topic"], "t");
        assert_eq!(e["partition"], 0);
        assert_eq!(e["offset"], i as i64);
        assert_eq!(e["timestamp"], 1_000 * (i as i64 + 1));
        assert_eq!(e["key"], format!("k{i}"));
        assert_eq!(e["value"], format!("v{i}"));
        assert_eq!(e["headers"]["h"], format!("x{i}"));
    }
}

/// An unbounded source picks up partitions added while it runs, and
/// commits its offsets to its group as checkpoints complete.
#[test]
fn partitions_added_while_running_are_read_and_offsets_reach_the_group() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("grow", 1);
    broker.create_topic("copied", 1);
    let first: Vec<String> = (0..5).map(|i| format!("a{i}")).collect();
    let records: Vec<Record<'_>> = first
        .iter()
        .map(|v| (0, None, None, v.as_bytes()))
        .collect();
    broker.produce("grow", &records);
    let text = format!(
        r#"
name = "kafka-grow"
parallelism = 2
[[sources]]
id = "in"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["grow"]
group_id = "watchers"
discovery_interval_ms = 500
[[sinks]]
id = "out"
kind = "kafka"
bootstrap_servers = "{bs}"
topic = "copied"
delivery_guarantee = "at-least-once"
input = "in"
"#,
        bs = broker.bootstrap
    );
    let job = dir.join("grow.toml");
    std::fs::write(&job, text).expect("job");
    let log = dir.join("grow.log");
    let _job = spawn_logged(
        weir(dir).args([
            "run",
            &job.display().to_string(),
            "--checkpoint-interval",
            "500ms",
            "--checkpoint-dir",
            "chk",
            "--quiet",
        ]),
        &log,
    );
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = broker.read_committed("copied");
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} records arrived: {}",
                got.len(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    wait_for(5);
    broker.add_partitions("grow", 3);
    let later: Vec<String> = (0..5).map(|i| format!("b{i}")).collect();
    let records: Vec<Record<'_>> = later
        .iter()
        .map(|v| (2, None, None, v.as_bytes()))
        .collect();
    broker.produce("grow", &records);
    let mut got = wait_for(10);
    got.sort();
    let mut want: Vec<String> = first.iter().chain(&later).cloned().collect();
    want.sort();
    assert_eq!(got, want);
    let deadline = Instant::now() + Duration::from_secs(30);
    while broker.committed("watchers", "grow", 0) != Some(5)
        || broker.committed("watchers", "grow", 2) != Some(5)
    {
        assert!(
            Instant::now() < deadline,
            "group offsets: {:?} {:?}",
            broker.committed("watchers", "grow", 0),
            broker.committed("watchers", "grow", 2)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
