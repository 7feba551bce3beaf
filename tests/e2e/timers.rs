//! Timers of keyed process functions: deduplication, deletion, ordering,
//! firing on watermarks and at the end of input, processing-time timers
//! under an injected clock, and Flink's StartEndDuration against a model.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use weir_core::spec::StateBackendKind;
use weir_runtime::{ManualClock, RunOptions, run_job};
use weir_tests::*;

const PROBE_JOB: &str = r#"
name = "timers"
[components]
et = "ET"
[[sources]]
id = "commands"
kind = "file"
path = "INPUT"
format = "json"
event_time = { field = "ts" }
parallelism = 1
[[operators]]
id = "timers"
component = "et"
function = "timer-probe"
kind = "keyed-process"
input = { from = "commands", exchange = "key-by", key_field = "key" }
[[sinks]]
id = "out"
kind = "file"
path = "OUTPUT"
format = "json"
input = "timers"
"#;

fn fired(out: &std::path::Path) -> BTreeMap<String, Vec<(i64, i64)>> {
    let mut m: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for l in output_lines(out) {
        let v: Value = serde_json::from_str(&l).expect("json");
        m.entry(v["key"].as_str().expect("key").to_owned())
            .or_default()
            .push((
                v["timer"].as_i64().expect("t"),
                v["watermark"].as_i64().expect("wm"),
            ));
    }
    m
}

#[test]
fn event_timers_deduplicate_delete_order_and_fire_at_end_of_input() {
    event_timers_probe(StateBackendKind::Memory);
}

#[test]
fn event_timers_in_rocksdb_deduplicate_delete_order_and_fire_at_end_of_input() {
    event_timers_probe(StateBackendKind::Rocksdb);
}

fn event_timers_probe(backend: StateBackendKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cmds = [
        ("a", "register", 100, 1),
        ("a", "register", 100, 2),
        ("a", "register", 50, 3),
        ("a", "register", 300, 4),
        ("a", "delete", 300, 5),
        ("a", "register", 7000, 6),
        ("b", "register", 150, 7),
        ("b", "register", 80, 8),
        ("c", "noop", 0, 1000),
    ];
    let text: String = cmds
        .iter()
        .map(|(k, op, t, ts)| json!({"key": k, "op": op, "t": t, "ts": ts}).to_string() + "\n")
        .collect();
    let input = dir.path().join("cmds.jsonl");
    std::fs::write(&input, text).expect("write");
    let out = dir.path().join("out");
    let t = PROBE_JOB
        .replace("ET", &component("event_time").display().to_string())
        .replace("INPUT", &input.display().to_string())
        .replace("OUTPUT", &out.display().to_string());
    // One record per batch, so the watermark advances between records.
    let options = RunOptions {
        batch_bytes: 1,
        ..RunOptions::default()
    };
    let mut g = job(&t, dir.path(), &[], Some(2));
    g.state_backend = backend;
    run_job(&g, &runtime(), &options).unwrap_or_else(|e| panic!("job failed: {e}"));
    let got = fired(&out);
    // The watermark reaches 999 after the commands: timers up to it fire
    // then, in time order per key, once each; 300 was deleted; 7000 fires
    // only when the end of input takes the watermark to +inf.
    let want: BTreeMap<String, Vec<(i64, i64)>> = [
        (
            "a".to_owned(),
            vec![(50, 999), (100, 999), (7000, i64::MAX)],
        ),
        ("b".to_owned(), vec![(80, 999), (150, 999)]),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

#[test]
fn processing_time_timers_follow_the_injected_clock() {
    let text = r#"
name = "pt-timers"
[components]
et = "ET"
[[sources]]
id = "commands"
kind = "file"
path = "INPUT"
format = "json"
[[sources]]
id = "keepalive"
kind = "datagen"
generator = "sequence"
count = 40
rate = 20
[[operators]]
id = "timers"
component = "et"
function = "timer-probe"
kind = "keyed-process"
input = [{ from = "commands", exchange = "key-by", key_field = "key" }, { from = "keepalive", exchange = "key-by" }]
[[sinks]]
id = "out"
kind = "file"
path = "OUTPUT"
format = "json"
input = "timers"
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let cmds = [
        json!({"key": "a", "op": "register-pt", "t": 1500}),
        json!({"key": "a", "op": "register-pt", "t": 2500}),
        json!({"key": "b", "op": "register-pt", "t": 1200}),
        json!({"key": "b", "op": "delete-pt", "t": 1200}),
        json!({"key": "c", "op": "register-pt", "t": 1800}),
    ];
    let input = dir.path().join("cmds.jsonl");
    std::fs::write(
        &input,
        cmds.iter()
            .map(|c| c.to_string() + "\n")
            .collect::<String>(),
    )
    .expect("write");
    let out = dir.path().join("out");
    let t = text
        .replace("ET", &component("event_time").display().to_string())
        .replace("INPUT", &input.display().to_string())
        .replace("OUTPUT", &out.display().to_string());
    let graph = job(&t, dir.path(), &[], Some(2));
    let clock = Arc::new(ManualClock::new(1000));
    let mover = {
        let clock = clock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            clock.set(2000);
        })
    };
    let options = RunOptions {
        clock: clock.clone(),
        ..RunOptions::default()
    };
    run_job(&graph, &runtime(), &options).unwrap_or_else(|e| panic!("job failed: {e}"));
    mover.join().expect("mover");
    let mut got: Vec<(String, i64, String, i64)> = output_lines(&out)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["key"].as_str().expect("key").to_owned(),
                v["timer"].as_i64().expect("t"),
                v["domain"].as_str().expect("domain").to_owned(),
                v["processing_time"].as_i64().expect("pt"),
            )
        })
        .collect();
    got.sort();
    // At 2000: 1500 and 1800 are due; 2500 is not (and processing-time
    // timers do not fire at the end of input); 1200 was deleted.
    assert_eq!(
        got,
        vec![
            ("a".into(), 1500, "processing".into(), 2000),
            ("c".into(), 1800, "processing".into(), 2000),
        ]
    );
}

/// Events of 60 keys over two days: START/END pairs with durations from a
/// minute to six hours, some STARTs without END, shuffled by up to 30 s.
fn start_end_events() -> Vec<Value> {
    let mut x: u64 = 4242;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut events: Vec<(i64, Value)> = Vec::new();
    for k in 0..60 {
        let mut t: i64 = (next() % 3_600_000) as i64;
        while t < 48 * 3_600_000 {
            let key = format!("k{k}");
            events.push((t, json!({"key": key, "kind": "START", "ts": t})));
            let d = 60_000 + (next() % (6 * 3_600_000)) as i64;
            if next() % 7 != 0 {
                events.push((t + d, json!({"key": key, "kind": "END", "ts": t + d})));
            }
            t += d + 60_000 + (next() % 3_600_000) as i64;
        }
    }
    events.sort_by_key(|(t, _)| *t);
    // Shuffle locally: swap neighbours less than 30 s apart.
    for i in 1..events.len() {
        if next() % 2 == 0 && events[i].0 - events[i - 1].0 < 30_000 {
            events.swap(i, i - 1);
        }
    }
    events.into_iter().map(|(_, v)| v).collect()
}

/// StartEndDuration, simulated record by record: before each record the
/// timers at or below the watermark fire; after it the watermark is the
/// highest timestamp so far minus one minute minus 1 ms.
/// Returns the durations and how many ENDs found their START cleared.
fn reference(events: &[Value]) -> (Vec<(String, i64)>, usize) {
    const CLEANUP: i64 = 4 * 60 * 60 * 1000;
    let mut start: HashMap<String, i64> = HashMap::new();
    let mut max_ts = i64::MIN;
    let mut out = Vec::new();
    let mut cleared = std::collections::HashSet::new();
    let mut ends_after_cleanup = 0;
    for e in events {
        let wm = if max_ts == i64::MIN {
            i64::MIN
        } else {
            max_ts - 60_001
        };
        start.retain(|k, s| {
            let keep = *s + CLEANUP > wm;
            if !keep {
                cleared.insert(k.clone());
            }
            keep
        });
        let key = e["key"].as_str().expect("key").to_owned();
        let ts = e["ts"].as_i64().expect("ts");
        match e["kind"].as_str() {
            Some("START") => {
                cleared.remove(&key);
                start.insert(key, ts);
            }
            _ => {
                if let Some(s) = start.remove(&key) {
                    out.push((key, ts - s));
                } else if cleared.remove(&key) {
                    ends_after_cleanup += 1;
                }
            }
        }
        max_ts = max_ts.max(ts);
    }
    out.sort();
    (out, ends_after_cleanup)
}

fn run_start_end(parallelism: u32, backend: StateBackendKind) {
    let events = start_end_events();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(
        &input,
        events
            .iter()
            .map(|e| e.to_string() + "\n")
            .collect::<String>(),
    )
    .expect("write");
    let out = dir.path().join("out");
    let mut graph = weir_core::JobGraph::load(
        &root().join("functions-examples/event-time/start-end-duration.toml"),
        &weir_core::graph::Overrides {
            parameters: vec![
                ("input".into(), input.to_string_lossy().into_owned()),
                ("output".into(), out.to_string_lossy().into_owned()),
            ],
            parallelism: Some(parallelism),
            ..Default::default()
        },
    )
    .expect("valid job file");
    // One reader: a reader without a file holds the watermark at its
    // minimum until its end of input arrives, which would make the firing
    // times depend on thread start order.
    graph.state_backend = backend;
    let source = graph.node_index("events").expect("source");
    graph.nodes[source].parallelism = 1;
    // One record per batch: the watermark advances after every record, so
    // the outcome does not depend on batch boundaries.
    let options = RunOptions {
        batch_bytes: 1,
        ..RunOptions::default()
    };
    run_job(&graph, &runtime(), &options).unwrap_or_else(|e| panic!("job failed: {e}"));
    let mut got: Vec<(String, i64)> = output_lines(&out)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["key"].as_str().expect("key").to_owned(),
                v["duration_ms"].as_i64().expect("d"),
            )
        })
        .collect();
    got.sort();
    let (want, ends_after_cleanup) = reference(&events);
    assert!(
        want.len() > 100,
        "a meaningful number of pairs: {}",
        want.len()
    );
    assert!(
        ends_after_cleanup > 10,
        "the cleanup timer matters: {ends_after_cleanup}"
    );
    assert_eq!(got, want);
}

#[test]
fn start_end_duration_matches_the_model_at_parallelism_1() {
    run_start_end(1, StateBackendKind::Memory);
}

#[test]
fn start_end_duration_matches_the_model_at_parallelism_4() {
    run_start_end(4, StateBackendKind::Memory);
}

#[test]
fn start_end_duration_with_timers_in_rocksdb_matches_the_model_at_parallelism_4() {
    run_start_end(4, StateBackendKind::Rocksdb);
}
