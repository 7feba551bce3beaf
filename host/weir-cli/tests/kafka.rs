//! The Kafka source and sink against a real Apache Kafka broker
//! (`scripts/kafka`, one broker per test, stopped when the test ends):
//! exactly-once WordCount under SIGKILL and `--restore`, per-partition
//! watermarks, rescaling through a savepoint, a broker restart during a
//! job, a topic that does not exist, and malformed records.

mod common;

use common::kafka::{Broker, Record};
use common::{committed_lines, root, wordcount_wasm};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Reference tokenizer (the WordCount example's rule): maximal runs of
/// ASCII letters, digits and `_`, lower-cased.
fn reference_counts(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for t in text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
    {
        *m.entry(t.to_ascii_lowercase()).or_insert(0) += 1;
    }
    m
}

/// Every update WordCount must emit once: `(w,1)` … `(w,n)` per word.
fn expected_updates(text: &str) -> Vec<String> {
    let mut v: Vec<String> = reference_counts(text)
        .into_iter()
        .flat_map(|(w, n)| (1..=n).map(move |i| format!("({w},{i})")))
        .collect();
    v.sort();
    v
}

/// Real English text (the licence texts Debian ships), repeated to about
/// `bytes`.
fn real_text(bytes: usize) -> String {
    let mut base = String::new();
    if let Ok(rd) = std::fs::read_dir("/usr/share/common-licenses") {
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if let Ok(t) = std::fs::read_to_string(&f) {
                base.push_str(&t);
            }
        }
    }
    if base.is_empty() {
        base = std::fs::read_to_string(root().join("host/weir-connectors/src/sample.txt"))
            .expect("sample text");
    }
    let mut text = String::with_capacity(bytes + base.len());
    while text.len() < bytes {
        text.push_str(&base);
    }
    text
}

fn weir(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weir"));
    c.env("WEIR_RUNTIME_DIR", dir.join("run")).current_dir(dir);
    c
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A child process, killed if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn has_checkpoint(chk: &Path) -> bool {
    std::fs::read_dir(chk)
        .is_ok_and(|rd| rd.flatten().any(|e| e.path().join("_metadata").is_file()))
}

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

fn wordcount_kafka_args(broker: &Broker, chk: &Path) -> Vec<String> {
    let job = root().join("functions-examples/wordcount/wordcount-kafka.toml");
    let mut a: Vec<String> = vec!["run".into(), job.display().to_string()];
    for (k, v) in [
        ("--bootstrap", broker.bootstrap.as_str()),
        ("--input-topic", "lines"),
        ("--output-topic", "counts"),
        ("--checkpoint-interval", "1s"),
    ] {
        a.push(k.into());
        a.push(v.into());
    }
    a.push("--checkpoint-dir".into());
    a.push(chk.display().to_string());
    a.push("--quiet".into());
    if has_checkpoint(chk) {
        a.push("--restore".into());
        a.push(chk.display().to_string());
    }
    a
}

/// The bar: real text in a 4-partition topic, `wordcount-kafka.toml`
/// killed with SIGKILL at random moments and resumed with `--restore`
/// until it finishes; a `read_committed` consumer of the output topic sees
/// every `(word,count)` update exactly once.
#[test]
fn wordcount_kafka_killed_with_sigkill_and_restored_commits_every_update_once() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("lines", 4);
    broker.create_topic("counts", 4);
    let text = real_text(20 << 20);
    broker.produce_lines("lines", 4, &text);
    let chk = dir.join("chk");
    let mut rng = Lcg(0x006b_6166_6b61);
    let mut kills = 0;
    let mut kills_after_checkpoint = 0;
    let started = Instant::now();
    let finished = loop {
        let restoring = has_checkpoint(&chk);
        let mut child = Running(
            weir(dir)
                .args(wordcount_kafka_args(&broker, &chk))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("weir starts"),
        );
        let wait = Instant::now() + Duration::from_millis(700 + rng.next(2500));
        let status = loop {
            if let Some(s) = child.0.try_wait().expect("status") {
                break Some(s);
            }
            if Instant::now() >= wait {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        match status {
            Some(s) => {
                let mut err = String::new();
                if let Some(mut e) = child.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                assert!(s.success(), "run after {kills} kills: {err}");
                break true;
            }
            None if kills < 12 => {
                child.0.kill().expect("SIGKILL");
                let _ = child.0.wait();
                kills += 1;
                kills_after_checkpoint += usize::from(restoring);
            }
            None => break false,
        }
    };
    if !finished {
        let o = weir(dir)
            .args(wordcount_kafka_args(&broker, &chk))
            .output()
            .expect("weir runs");
        assert_ok(&o, "the last run");
    }
    eprintln!(
        "{kills} kills ({kills_after_checkpoint} of restored runs) in {:.0?}",
        started.elapsed()
    );
    assert!(
        kills >= 3,
        "only {kills} kills: the job is too short to test recovery"
    );
    assert!(
        kills_after_checkpoint >= 1,
        "no restored run was killed: recovery from a checkpoint was not exercised"
    );
    let mut got = broker.read_committed("counts");
    got.sort();
    let want = expected_updates(&text);
    assert_eq!(got.len(), want.len(), "updates seen once each");
    assert!(
        got == want,
        "the committed output differs from the reference"
    );
}

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

/// WordCount at parallelism 2 stopped with a savepoint part way and
/// resumed from it at parallelism 3: the four partitions' offsets, the
/// counts and the sink's transactions all carry over; every update is
/// in the output once.
#[test]
fn rescaling_through_a_savepoint_commits_every_update_once() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("lines", 4);
    broker.create_topic("counts", 4);
    let text = real_text(20 << 20);
    broker.produce_lines("lines", 4, &text);
    let job = root().join("functions-examples/wordcount/wordcount-kafka.toml");
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = vec![
            "run".into(),
            job.display().to_string(),
            "--bootstrap".into(),
            broker.bootstrap.clone(),
            "--input-topic".into(),
            "lines".into(),
            "--output-topic".into(),
            "counts".into(),
            "--checkpoint-interval".into(),
            "1s".into(),
            "--checkpoint-dir".into(),
            dir.join("chk").display().to_string(),
            "--quiet".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let log = dir.join("first.log");
    let first = spawn_logged(weir(dir).args(args(&["--parallelism", "2"])), &log);
    let mut id = None;
    for _ in 0..200 {
        let o = weir(dir).arg("list").output().expect("list");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        if let Some(line) = out.lines().find(|l| l.contains("wordcount-kafka")) {
            id = line.split_whitespace().next().map(str::to_owned);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = id.expect("the job is listed");
    std::thread::sleep(Duration::from_millis(1000));
    let o = weir(dir)
        .args(["stop", "--savepoint", &id, "--dir", "sp"])
        .output()
        .expect("stop");
    assert_ok(&o, "stop with a savepoint");
    let savepoint = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    first.wait_ok(&log);
    let partial = broker.read_committed("counts").len();
    assert!(
        partial > 0 && partial < expected_updates(&text).len(),
        "the savepoint must fall part way ({partial} updates before it)"
    );
    let o = weir(dir)
        .args(args(&[
            "--parallelism",
            "3",
            "--from-savepoint",
            &savepoint,
        ]))
        .output()
        .expect("weir runs");
    assert_ok(&o, "the run resumed at parallelism 3");
    let mut got = broker.read_committed("counts");
    got.sort();
    let want = expected_updates(&text);
    assert_eq!(got.len(), want.len(), "updates seen once each");
    assert!(
        got == want,
        "the committed output differs from the reference"
    );
}

/// The broker is restarted while WordCount runs: the job rides it out (or
/// restarts from its checkpoint) and the output is still exactly once.
#[test]
fn a_broker_restart_during_a_job_loses_and_repeats_nothing() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("lines", 2);
    broker.create_topic("counts", 2);
    let text = real_text(20 << 20);
    broker.produce_lines("lines", 2, &text);
    let chk = dir.join("chk");
    let log = dir.join("job.log");
    let mut job = spawn_logged(weir(dir).args(wordcount_kafka_args(&broker, &chk)), &log);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        job.0.try_wait().expect("status").is_none(),
        "the job ended before the broker restarted: make the input longer"
    );
    broker.restart();
    job.wait_ok(&log);
    let mut got = broker.read_committed("counts");
    got.sort();
    let want = expected_updates(&text);
    assert_eq!(got.len(), want.len(), "updates seen once each");
    assert!(
        got == want,
        "the committed output differs from the reference"
    );
}

/// Starts `cmd` with its standard error in `log`.
fn spawn_logged(cmd: &mut Command, log: &Path) -> Running {
    let err = std::fs::File::create(log).expect("log file");
    Running(
        cmd.stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("weir starts"),
    )
}

impl Running {
    /// Waits (up to 5 minutes) for the process to end and asserts that it
    /// succeeded, showing `log` if not.
    fn wait_ok(mut self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(s) = self.0.try_wait().expect("status") {
                let err = std::fs::read_to_string(log).unwrap_or_default();
                assert!(s.success(), "the job failed: {err}");
                return;
            }
            assert!(Instant::now() < deadline, "the job ran over 5 minutes");
            std::thread::sleep(Duration::from_millis(50));
        }
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
