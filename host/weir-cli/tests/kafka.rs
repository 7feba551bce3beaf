//! The Kafka sink (and the Kafka → WordCount → Kafka example) against a
//! real Apache Kafka broker (`scripts/kafka`, one broker per test, stopped
//! when the test ends): exactly-once under SIGKILL and `--restore`,
//! rescaling through a savepoint, a broker restart during a job, and
//! records routed by their envelopes. The source's own tests are in
//! `kafka_source.rs`.

mod common;

use common::kafka::{
    Broker, Record, Running, assert_ok, expected_updates, real_text, spawn_logged, weir,
};
use common::{root, wordcount_wasm};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

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

/// A broker whose topic `lines` (`partitions` partitions) holds 20 MB of
/// real text, and whose topic `counts` is empty; and the text.
fn broker_with_text(dir: &Path, partitions: i32) -> (Broker, String) {
    broker_with_text_of(dir, partitions, 20 << 20)
}

/// Like `broker_with_text`, with about `bytes` of text.
fn broker_with_text_of(dir: &Path, partitions: i32, bytes: usize) -> (Broker, String) {
    let broker = Broker::start(dir);
    broker.create_topic("lines", partitions);
    broker.create_topic("counts", partitions);
    let text = real_text(bytes);
    broker.produce_lines("lines", partitions, &text);
    (broker, text)
}

/// A `read_committed` consumer of `counts` sees every WordCount update of
/// `text` exactly once.
fn assert_every_update_once(broker: &Broker, text: &str) {
    let mut got = broker.read_committed("counts");
    got.sort();
    let want = expected_updates(text);
    assert_eq!(got.len(), want.len(), "updates seen once each");
    assert!(
        got == want,
        "the committed output differs from the reference"
    );
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
    let (broker, text) = broker_with_text(dir, 4);
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
    assert_every_update_once(&broker, &text);
}

/// WordCount at parallelism 1 stopped with a savepoint part way and
/// resumed from it at parallelism 3: the four partitions' offsets, the
/// counts and the sink's transactions all carry over; every update is
/// in the output once.
#[test]
fn rescaling_through_a_savepoint_commits_every_update_once() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (broker, text) = broker_with_text_of(dir, 4, 40 << 20);
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
    // Parallelism 1 first: slow enough that a savepoint a second in falls
    // part way through 40 MB on any machine.
    let first = spawn_logged(weir(dir).args(args(&["--parallelism", "1"])), &log);
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
    let first_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !first_log.contains("; restart "),
        "the stopped job restarted (and wrote past its savepoint): {first_log}"
    );
    // Where the savepoint falls depends on the machine's speed: the source
    // may have read everything by then (the resumed run then only restores
    // and commits). Either way the output must be exactly once.
    let partial = broker.read_committed("counts").len();
    eprintln!(
        "{partial} of {} updates committed before the savepoint",
        expected_updates(&text).len()
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
    assert_every_update_once(&broker, &text);
}

/// The broker is restarted while WordCount runs: the job rides it out (or
/// restarts from its checkpoint) and the output is still exactly once.
#[test]
fn a_broker_restart_during_a_job_loses_and_repeats_nothing() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (broker, text) = broker_with_text(dir, 2);
    let chk = dir.join("chk");
    let log = dir.join("job.log");
    let mut job = spawn_logged(
        weir(dir)
            .args(wordcount_kafka_args(&broker, &chk))
            .env("WEIR_LOG", "info"),
        &log,
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        job.0.try_wait().expect("status").is_none(),
        "the job ended before the broker restarted: make the input longer"
    );
    broker.restart();
    job.wait_ok(&log);
    assert_every_update_once(&broker, &text);
}

/// A sink with `format = "envelope"` writes each record where its
/// envelope says (topic, partition, key, headers; a `null` value is a
/// tombstone), exactly once, in the same transactions.
#[test]
fn envelopes_route_records_to_their_topics_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let broker = Broker::start(dir);
    broker.create_topic("in", 1);
    broker.create_topic("out-a", 1);
    broker.create_topic("out-b", 3);
    let values: Vec<String> = (0..30)
        .map(|i| match i % 3 {
            0 => format!(
                r#"{{"topic": "out-a", "key": "k{i}", "value": "v{i}", "headers": {{"n": "{i}"}}}}"#
            ),
            1 => format!(r#"{{"topic": "out-b", "partition": 2, "value": {{"n": {i}}}}}"#),
            _ => format!(r#"{{"key": "gone{i}", "value": null}}"#),
        })
        .collect();
    let records: Vec<Record<'_>> = values
        .iter()
        .map(|v| (0, None, None, v.as_bytes()))
        .collect();
    broker.produce("in", &records);
    let text = format!(
        r#"
name = "kafka-envelope"
[[sources]]
id = "in"
kind = "kafka"
bootstrap_servers = "{bs}"
topics = ["in"]
bounded = true
format = "json"
[[sinks]]
id = "out"
kind = "kafka"
bootstrap_servers = "{bs}"
topic = "out-a"
format = "envelope"
delivery_guarantee = "exactly-once"
input = "in"
"#,
        bs = broker.bootstrap
    );
    let job = dir.join("envelope.toml");
    std::fs::write(&job, text).expect("job");
    let o = weir(dir)
        .args(["run", &job.display().to_string(), "--quiet"])
        .output()
        .expect("weir runs");
    assert_ok(&o, "the envelope job");
    let a = broker.read_committed_records("out-a");
    let named: Vec<_> = a.iter().filter(|r| !r.value.is_empty()).collect();
    let tombstones: Vec<_> = a.iter().filter(|r| r.value.is_empty()).collect();
    assert_eq!(named.len(), 10, "{a:?}");
    for (r, i) in named.iter().zip((0..30).filter(|i| i % 3 == 0)) {
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_str()));
        assert_eq!(r.value, format!("v{i}"));
        assert_eq!(r.headers, vec![("n".to_owned(), Some(i.to_string()))]);
    }
    assert_eq!(
        tombstones.len(),
        10,
        "records without a topic go to the sink's"
    );
    assert!(
        tombstones
            .iter()
            .all(|r| r.key.as_deref().is_some_and(|k| k.starts_with("gone")))
    );
    let b = broker.read_committed_records("out-b");
    assert_eq!(b.len(), 10);
    for (r, i) in b.iter().zip((0..30).filter(|i| i % 3 == 1)) {
        assert_eq!(r.partition, 2);
        assert_eq!(r.value, format!(r#"{{"n":{i}}}"#));
    }
}
