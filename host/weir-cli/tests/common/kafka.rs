//! A real Apache Kafka broker for a test (`scripts/kafka`), stopped when
//! dropped, and the clients the tests use around it: topics, a producer
//! of input lines, a `read_committed` consumer of output.

use super::root;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A record to produce: partition, timestamp (ms), key, value.
pub type Record<'a> = (i32, Option<i64>, Option<&'a [u8]>, &'a [u8]);

/// A record a consumer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub key: Option<String>,
    pub value: String,
    pub headers: Vec<(String, Option<String>)>,
}

/// A broker of its own for one test.
pub struct Broker {
    state: PathBuf,
    pub bootstrap: String,
}

fn script() -> PathBuf {
    super::root().join("scripts/kafka")
}

impl Broker {
    /// Starts a fresh broker with its data under `dir`. A start that fails
    /// (another test's broker took the free port it picked, say) is tried
    /// again, twice, before the test fails.
    pub fn start(dir: &Path) -> Broker {
        let state = dir.join("kafka");
        let mut errors = Vec::new();
        for _ in 0..3 {
            let o = Command::new(script())
                .arg("start")
                .arg(&state)
                .output()
                .expect("scripts/kafka start");
            if o.status.success() {
                let out = String::from_utf8_lossy(&o.stdout);
                let bootstrap = out
                    .lines()
                    .last()
                    .expect("bootstrap address")
                    .trim()
                    .to_owned();
                return Broker { state, bootstrap };
            }
            errors.push(format!(
                "exit {:?}: {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ));
            let _ = Command::new(script()).arg("stop").arg(&state).output();
        }
        panic!("scripts/kafka start failed 3 times:\n{}", errors.join("\n"));
    }

    /// Stops the broker and starts it again on the same port and data.
    pub fn restart(&self) {
        let o = Command::new(script())
            .arg("restart")
            .arg(&self.state)
            .output()
            .expect("scripts/kafka restart");
        assert!(
            o.status.success(),
            "scripts/kafka restart: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    /// An admin client and a runtime to wait on its answers.
    fn admin(&self) -> (AdminClient<DefaultClientContext>, tokio::runtime::Runtime) {
        let admin = self.config().create().expect("admin");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        (admin, rt)
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let (admin, rt) = self.admin();
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let res = rt
            .block_on(admin.create_topics([&new], &AdminOptions::new()))
            .expect("create topics");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    /// Grows `topic` to `total` partitions.
    pub fn add_partitions(&self, topic: &str, total: usize) {
        let (admin, rt) = self.admin();
        let grow = NewPartitions::new(topic, total);
        let res = rt
            .block_on(admin.create_partitions([&grow], &AdminOptions::new()))
            .expect("create partitions");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("grow topic {t}: {e}"));
        }
    }

    /// The offset `group` committed for a partition, if any.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        let c: BaseConsumer = self
            .config()
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Invalid)
            .expect("tpl");
        let got = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        got.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(n) => Some(n),
            _ => None,
        })
    }

    /// Commits `offset` for `group` on a partition.
    pub fn commit(&self, group: &str, topic: &str, partition: i32, offset: i64) {
        let c: BaseConsumer = self
            .config()
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .expect("tpl");
        c.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .expect("commit");
    }

    /// Produces `records` (partition, timestamp ms, key, value) and waits
    /// until all are acknowledged.
    pub fn produce(&self, topic: &str, records: &[Record<'_>]) {
        self.produce_with_headers(topic, records, |_| None);
    }

    /// Produces `records`, the `i`th with the header `headers(i)` if any.
    pub fn produce_with_headers(
        &self,
        topic: &str,
        records: &[Record<'_>],
        headers: impl Fn(usize) -> Option<(String, String)>,
    ) {
        let p: BaseProducer = self
            .config()
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("producer");
        for (i, (partition, ts, key, value)) in records.iter().enumerate() {
            let mut r: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(topic).partition(*partition).payload(*value);
            if let Some((k, v)) = headers(i) {
                r = r.headers(rdkafka::message::OwnedHeaders::new().insert(
                    rdkafka::message::Header {
                        key: &k,
                        value: Some(v.as_bytes()),
                    },
                ));
            }
            if let Some(k) = key {
                r = r.key(k);
            }
            if let Some(ts) = ts {
                r = r.timestamp(*ts);
            }
            loop {
                match p.send(r) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        r = back;
                        p.poll(Duration::from_millis(10));
                    }
                }
            }
            p.poll(Duration::ZERO);
        }
        p.flush(Duration::from_secs(60)).expect("flush");
    }

    /// Produces text lines spread round robin over `partitions`.
    pub fn produce_lines(&self, topic: &str, partitions: i32, text: &str) {
        let records: Vec<Record<'_>> = text
            .lines()
            .enumerate()
            .map(|(i, l)| ((i as i32) % partitions, None, None, l.as_bytes()))
            .collect();
        self.produce(topic, &records);
    }

    /// Every value in `topic` a `read_committed` consumer sees, read until
    /// every partition reports its end (no open transaction may hold the
    /// topic then: call it once the writers are done).
    pub fn read_committed(&self, topic: &str) -> Vec<String> {
        self.read_committed_records(topic)
            .into_iter()
            .map(|r| r.value)
            .collect()
    }

    /// Like `read_committed`, with each record's partition, key and
    /// headers.
    pub fn read_committed_records(&self, topic: &str) -> Vec<Read> {
        let c: BaseConsumer = self
            .config()
            .set("group.id", "weir-test-reader")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .expect("consumer");
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let mut tpl = TopicPartitionList::new();
        let mut left = std::collections::BTreeSet::new();
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("tpl");
                left.insert(p.id());
            }
        }
        assert!(!left.is_empty(), "topic {topic} has no partitions");
        c.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !left.is_empty() {
            assert!(Instant::now() < deadline, "reading {topic} took over 120 s");
            match c.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(m)) => out.push(Read {
                    partition: m.partition(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    headers: m
                        .headers()
                        .map(|hs| {
                            hs.iter()
                                .map(|h| {
                                    (
                                        h.key.to_owned(),
                                        h.value.map(|v| String::from_utf8_lossy(v).into_owned()),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }),
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    left.remove(&p);
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
            }
        }
        out
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.state).output();
    }
}

// What the Kafka tests share besides the broker.

/// Reference tokenizer (the WordCount example's rule): maximal runs of
/// ASCII letters, digits and `_`, lower-cased.
pub fn reference_counts(text: &str) -> HashMap<String, u64> {
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
pub fn expected_updates(text: &str) -> Vec<String> {
    let mut v: Vec<String> = reference_counts(text)
        .into_iter()
        .flat_map(|(w, n)| (1..=n).map(move |i| format!("({w},{i})")))
        .collect();
    v.sort();
    v
}

/// Real English text (the licence texts Debian ships), repeated to about
/// `bytes`.
pub fn real_text(bytes: usize) -> String {
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

pub fn weir(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weir"));
    c.env("WEIR_RUNTIME_DIR", dir.join("run")).current_dir(dir);
    c
}

pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A child process, killed if the test ends before it does.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its standard error in `log`.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Running {
    let err = std::fs::File::create(log).expect("log file");
    Running(
        cmd.stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("weir starts"),
    )
}

/// The stacks of a hung process's threads, from gdb when it is installed
/// (the process is killed on drop afterwards anyway).
fn thread_stacks(pid: u32) -> String {
    let o = Command::new("gdb")
        .args([
            "-batch",
            "-p",
            &pid.to_string(),
            "-ex",
            "thread apply all bt 15",
        ])
        .stdin(Stdio::null())
        .output();
    match o {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let frames: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("Thread ") || l.starts_with('#'))
                .take(400)
                .collect();
            frames.join("\n")
        }
        Err(e) => format!("(no gdb: {e})"),
    }
}

impl Running {
    /// Waits (up to 5 minutes) for the process to end and asserts that it
    /// succeeded, showing `log` if not.
    pub fn wait_ok(mut self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(s) = self.0.try_wait().expect("status") {
                let err = std::fs::read_to_string(log).unwrap_or_default();
                assert!(s.success(), "the job failed: {err}");
                return;
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "the job ran over 5 minutes; its log ends:\n{}\nits threads:\n{}",
                    tail.join("\n"),
                    thread_stacks(self.0.id())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
