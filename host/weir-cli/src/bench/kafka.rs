//! Kafka → WordCount → Kafka (`functions-examples/wordcount/wordcount-kafka.toml`)
//! at parallelism 1 and 2, with at-least-once and exactly-once output,
//! against the same WordCount from a file to files in the same run, all
//! with checkpoints every second. Needs a broker (`scripts/kafka start`).

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_core::JobGraph;
use weir_core::graph::NodeKind;
use weir_core::graph::Overrides;
use weir_core::kafka_spec::DeliveryGuarantee;
use weir_core::spec::SinkSpec;
use weir_runtime::{RunOptions, run_job};
use weir_wasm::Runtime;

/// What the Kafka benchmark is given.
pub(super) struct KafkaBench {
    pub bootstrap: String,
    pub size_mb: u64,
    pub runs: u32,
    pub partitions: i32,
    pub examples: PathBuf,
    pub data_dir: PathBuf,
}

#[derive(Clone, Copy)]
enum Output {
    Files,
    Kafka(DeliveryGuarantee),
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Files => "file -> file",
            Output::Kafka(DeliveryGuarantee::ExactlyOnce) => "kafka exactly-once",
            Output::Kafka(DeliveryGuarantee::AtLeastOnce) => "kafka at-least-once",
            Output::Kafka(DeliveryGuarantee::None) => "kafka none",
        }
    }
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("Kafka admin client")
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in rt.block_on(admin(bootstrap)?.create_topics([&new], &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow!("cannot create topic {t}: {e}"))?;
    }
    Ok(())
}

/// Produces the lines of `file` round robin over the partitions; returns
/// how many.
fn produce_lines(bootstrap: &str, topic: &str, partitions: i32, file: &Path) -> Result<u64> {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut n = 0u64;
    for line in std::io::BufReader::new(std::fs::File::open(file)?).lines() {
        let line = line?;
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
            .partition((n % partitions as u64) as i32)
            .payload(line.as_bytes());
        loop {
            match p.send(r) {
                Ok(()) => break,
                Err((_, back)) => {
                    r = back;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
        n += 1;
    }
    p.flush(Duration::from_secs(120))?;
    Ok(n)
}

/// Records a `read_committed` consumer sees in `topic`, to its end.
fn count_committed(bootstrap: &str, topic: &str) -> Result<u64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "weir-bench-count")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut left = std::collections::BTreeSet::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)?;
            left.insert(p.id());
        }
    }
    c.assign(&tpl)?;
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !left.is_empty() {
        if Instant::now() > deadline {
            bail!("counting {topic} took over 5 minutes");
        }
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => n += 1,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                left.remove(&p);
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(n)
}

struct Run {
    wall: Duration,
    tokens: u64,
}

/// One run of `output` at `parallelism`; the output is checked: every
/// token's update arrives (once, read_committed, for Kafka).
fn run_once(b: &KafkaBench, ctx: &RunCtx<'_>, output: Output, parallelism: u32) -> Result<Run> {
    let work = tempfile::Builder::new()
        .prefix("weir-bench-kafka-")
        .tempdir_in(&b.data_dir)?;
    let out_topic = format!("bench-out-{}", ctx.serial());
    let (job, params) = match output {
        Output::Files => (
            b.examples.join("wordcount/wordcount.toml"),
            vec![
                ("input".to_owned(), ctx.corpus.display().to_string()),
                (
                    "output".to_owned(),
                    work.path().join("out").display().to_string(),
                ),
            ],
        ),
        Output::Kafka(_) => {
            create_topic(&b.bootstrap, &out_topic, b.partitions)?;
            (
                b.examples.join("wordcount/wordcount-kafka.toml"),
                vec![
                    ("bootstrap".to_owned(), b.bootstrap.clone()),
                    ("input-topic".to_owned(), ctx.topic.to_owned()),
                    ("output-topic".to_owned(), out_topic.clone()),
                ],
            )
        }
    };
    let mut graph = JobGraph::load(
        &job,
        &Overrides {
            parameters: params,
            parallelism: Some(parallelism),
            checkpoint_interval: Some(Duration::from_secs(1)),
            checkpoint_dir: Some(work.path().join("chk")),
            ..Overrides::default()
        },
    )?;
    if let Output::Kafka(g) = output {
        for node in &mut graph.nodes {
            if let NodeKind::Sink(SinkSpec::Kafka(k)) = &mut node.kind {
                k.delivery_guarantee = g;
            }
        }
    }
    let t = Instant::now();
    let summary = run_job(
        &graph,
        ctx.rt,
        &RunOptions {
            work_dir: Some(work.path().to_owned()),
            ..RunOptions::default()
        },
    )
    .map_err(|f| anyhow!("{f}"))?;
    let wall = t.elapsed();
    let tokens = summary.node("count").map_or(0, |n| n.records_in);
    if let Output::Kafka(_) = output {
        let seen = count_committed(&b.bootstrap, &out_topic)?;
        if seen != tokens {
            bail!(
                "{}: the output topic has {seen} updates for {tokens} tokens",
                output.name()
            );
        }
    }
    Ok(Run { wall, tokens })
}

struct RunCtx<'a> {
    rt: &'a std::sync::Arc<Runtime>,
    corpus: &'a Path,
    topic: &'a str,
    serial: std::cell::Cell<u32>,
}

impl RunCtx<'_> {
    fn serial(&self) -> u32 {
        let s = self.serial.get();
        self.serial.set(s + 1);
        s
    }
}

pub(super) fn kafka(b: &KafkaBench) -> Result<()> {
    let component = b
        .examples
        .join("target/wasm32-wasip2/release/wordcount.wasm");
    if !component.is_file() {
        bail!(
            "component {} not found: build it with `weir build functions-examples`",
            component.display()
        );
    }
    let corpus = super::wordcount::corpus_file(b.size_mb, &b.data_dir)?.canonicalize()?;
    let rt = Runtime::new()?;
    rt.load(
        &component.canonicalize()?,
        &weir_wasm::InstanceConfig::default(),
    )?;
    let topic = format!("bench-lines-{}", std::process::id());
    create_topic(&b.bootstrap, &topic, b.partitions)?;
    let lines = produce_lines(&b.bootstrap, &topic, b.partitions, &corpus)?;
    let ctx = RunCtx {
        rt: &rt,
        corpus: &corpus,
        topic: &topic,
        serial: std::cell::Cell::new(std::process::id() * 100),
    };
    let outputs = [
        Output::Files,
        Output::Kafka(DeliveryGuarantee::AtLeastOnce),
        Output::Kafka(DeliveryGuarantee::ExactlyOnce),
    ];
    println!(
        "Kafka benchmark: WordCount over {} MB ({lines} lines in {} partitions), checkpoints every 1 s, best of {}",
        b.size_mb, b.partitions, b.runs
    );
    println!(
        "  {:<4} {:<22} {:>8} {:>12} {:>14} {:>14}",
        "par", "source -> sink", "wall s", "lines/s", "tokens/s", "vs file"
    );
    for parallelism in [1u32, 2] {
        let mut best: Vec<Option<Run>> = outputs.iter().map(|_| None).collect();
        for _ in 0..b.runs {
            for (i, o) in outputs.iter().enumerate() {
                let r = run_once(b, &ctx, *o, parallelism)?;
                eprintln!(
                    "p={parallelism} {}: {:.3} s",
                    o.name(),
                    r.wall.as_secs_f64()
                );
                if best[i].as_ref().is_none_or(|x| r.wall < x.wall) {
                    best[i] = Some(r);
                }
            }
        }
        let Some(base) = best[0].as_ref().map(|r| r.wall.as_secs_f64()) else {
            bail!("no runs");
        };
        for (o, r) in outputs.iter().zip(&best) {
            let Some(r) = r else { continue };
            let s = r.wall.as_secs_f64();
            println!(
                "  {:<4} {:<22} {:>8.3} {:>12.0} {:>14.0} {:>13.1}%",
                parallelism,
                o.name(),
                s,
                lines as f64 / s,
                r.tokens as f64 / s,
                100.0 * base / s
            );
        }
    }
    Ok(())
}
