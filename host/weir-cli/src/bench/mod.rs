//! `weir bench`: a job against the same pipeline written as plain native
//! Rust, measured in the same process run.

mod cluster;
mod distinct;
mod fusion;
mod kafka;
mod languages;
mod process;
mod rescale;
mod state;
mod statefun;
mod tokenizer;
mod windows;
mod windows_job;
mod wordcount;

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Which benchmark.
#[derive(Subcommand)]
pub enum Which {
    /// Streaming WordCount (tokenize, key by word, count, format) over a
    /// generated corpus with a Zipf word distribution, at parallelism 1.
    Wordcount {
        /// Corpus size in MB.
        #[arg(long, default_value_t = 100)]
        size_mb: u64,
        /// Repetitions; the best of each side is reported.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// The wordcount component.
        #[arg(
            long,
            default_value = "functions-examples/target/wasm32-wasip2/release/wordcount.wasm"
        )]
        component: PathBuf,
        /// Where generated corpora are kept between runs.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
        /// Use this text file instead of the generated corpus.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Instead: the example job file as users run it (`weir run`, file
        /// output, process start to exit) against plain Rust doing the
        /// same work in this process.
        #[arg(long)]
        whole_job: bool,
        /// With --whole-job: the examples directory (job files, components).
        #[arg(long, default_value = "functions-examples")]
        examples: PathBuf,
        /// With --whole-job: the `weir` binary to run (default this one),
        /// to measure another build the same way.
        #[arg(long)]
        weir: Option<PathBuf>,
        /// Instead: the `tokenize` function alone, called on batches of
        /// the corpus's lines, against the same tokenizer in plain Rust.
        #[arg(long, conflicts_with = "whole_job")]
        tokenizer: bool,
        /// With --whole-job: the job with chained calls fused against one
        /// call per function (`--fuse-chained-calls false`), alternately.
        #[arg(long, requires = "whole_job")]
        fusion: bool,
    },
    /// WordCount on the memory and RocksDB backends, with and without
    /// checkpoints every second: throughput, checkpoint durations and sizes.
    State {
        /// Corpus size in MB.
        #[arg(long, default_value_t = 100)]
        size_mb: u64,
        /// Copies of the corpus read one after another (a longer run).
        #[arg(long, default_value_t = 4)]
        copies: u32,
        /// Repetitions; the best of each variant is reported.
        #[arg(long, default_value_t = 2)]
        runs: u32,
        /// The wordcount component.
        #[arg(
            long,
            default_value = "functions-examples/target/wasm32-wasip2/release/wordcount.wasm"
        )]
        component: PathBuf,
        /// Where generated corpora are kept between runs.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
        /// Instead: WordCount over this many distinct words, each variant a
        /// whole `weir run` process (time, peak RSS, bytes per key).
        #[arg(long)]
        distinct_keys: Option<u64>,
        /// With --distinct-keys: the RocksDB memory budgets to run (MiB;
        /// by default the default budget only; with --savepoint-rescale,
        /// the first).
        #[arg(long, value_delimiter = ',')]
        memory_mb: Vec<u32>,
        /// With --distinct-keys: the `weir` binary to run (default this
        /// one), to compare another build.
        #[arg(long)]
        weir: Option<PathBuf>,
        /// With --distinct-keys: leave out the memory backend.
        #[arg(long)]
        rocksdb_only: bool,
        /// With --distinct-keys: a discard sink instead of files.
        #[arg(long)]
        discard: bool,
        /// With --distinct-keys: the examples directory (job files and
        /// built components).
        #[arg(long, default_value = "functions-examples")]
        examples: PathBuf,
        /// With --distinct-keys: instead, stop a RocksDB run at parallelism
        /// 1 with a savepoint once every word is counted and resume it at
        /// this parallelism (peak RSS of both processes, output checked).
        #[arg(long)]
        savepoint_rescale: Option<u32>,
    },
    /// WordCount at parallelism 2 on two workers (in this process, gRPC
    /// over loopback) against the embedded runner at parallelism 2.
    Cluster {
        /// Corpus size in MB.
        #[arg(long, default_value_t = 100)]
        size_mb: u64,
        /// Repetitions after a warm-up; the best of each side is reported.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// The wordcount component.
        #[arg(
            long,
            default_value = "functions-examples/target/wasm32-wasip2/release/wordcount.wasm"
        )]
        component: PathBuf,
        /// Where generated corpora are kept between runs.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
    },
    /// WordCount with each guest language's functions (Rust, Python,
    /// JavaScript): the example job files as users run them, every run's
    /// output checked, tokens per second and the ratio to the Rust guest.
    Languages {
        /// Corpus size in MB.
        #[arg(long, default_value_t = 5)]
        size_mb: u64,
        /// Repetitions after the first (compiling) run; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Guest languages, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "rust,python,js")]
        languages: Vec<String>,
        /// The examples directory (job files, projects).
        #[arg(long, default_value = "functions-examples")]
        examples: PathBuf,
        /// Where generated corpora are kept between runs.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
    },
    /// Stateful Functions: a counter function (two states, an egress
    /// message per invocation) as a remote StateFun Python SDK endpoint and
    /// as an in-process Wasm component, messages per second of each.
    Statefun {
        /// Messages in all.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Distinct addresses they go to.
        #[arg(long, default_value_t = 1000)]
        ids: u64,
        /// Repetitions; the best of each side is reported.
        #[arg(long, default_value_t = 2)]
        runs: u32,
        /// Parallelism of the functions stage.
        #[arg(long, default_value_t = 1)]
        parallelism: u32,
        /// The counter as a Wasm component.
        #[arg(
            long,
            default_value = "functions-examples/target/wasm32-wasip2/release/statefun_counter.wasm"
        )]
        component: PathBuf,
        /// The counter written with the StateFun Python SDK.
        #[arg(long, default_value = "functions-examples/statefun-counter/counter.py")]
        server: PathBuf,
        /// The Python with apache-flink-statefun and aiohttp (default: the
        /// venv scripts/setup-statefun-sdks makes).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Where generated inputs are kept.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
    },
    /// Kafka -> WordCount -> Kafka (the example job) at parallelism 1 and
    /// 2, at-least-once and exactly-once, against file -> WordCount ->
    /// files, with checkpoints every second. Needs a running broker
    /// (`scripts/kafka start <dir>` prints its address).
    Kafka {
        /// The broker (`host:port`).
        #[arg(long)]
        bootstrap: String,
        /// Corpus size in MB.
        #[arg(long, default_value_t = 20)]
        size_mb: u64,
        /// Repetitions; the best of each variant is reported.
        #[arg(long, default_value_t = 2)]
        runs: u32,
        /// Partitions of the input and output topics.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// The examples directory (job files and built components).
        #[arg(long, default_value = "functions-examples")]
        examples: PathBuf,
        /// Where generated corpora are kept between runs.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
    },
    /// A keyed 1 s tumbling event-time window count over `<ts> <word>`
    /// events in four time-overlapping partitions, at parallelism 1.
    Windows {
        /// Events in all (split over four partitions).
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Repetitions; the best of each side is reported.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// The windows component.
        #[arg(
            long,
            default_value = "functions-examples/target/wasm32-wasip2/release/windows.wasm"
        )]
        component: PathBuf,
        /// Where generated inputs are kept between runs.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
        /// Instead: the example job file as users run it (`weir run`, file
        /// output, process start to exit) against plain Rust doing the
        /// same work in this process.
        #[arg(long)]
        whole_job: bool,
        /// With --whole-job: the examples directory (job files, components).
        #[arg(long, default_value = "functions-examples")]
        examples: PathBuf,
        /// With --whole-job: the `weir` binary to run (default this one),
        /// to measure another build the same way.
        #[arg(long)]
        weir: Option<PathBuf>,
    },
}

/// Runs a benchmark.
pub fn run(which: Which) -> Result<()> {
    match which {
        Which::Wordcount {
            size_mb,
            runs,
            data_dir,
            corpus,
            whole_job: true,
            examples,
            weir,
            fusion,
            ..
        } => {
            let b = wordcount::WholeJob {
                size_mb,
                runs: runs.max(1),
                examples,
                weir,
                data_dir,
                corpus,
            };
            if fusion {
                fusion::fusion(&b)
            } else {
                wordcount::whole_job(&b)
            }
        }
        Which::Wordcount {
            size_mb,
            runs,
            component,
            data_dir,
            corpus,
            tokenizer: true,
            ..
        } => {
            let corpus = match corpus {
                Some(c) => c,
                None => wordcount::corpus_file(size_mb, &data_dir)?,
            };
            tokenizer::tokenizer(&component, &corpus, runs.max(1))
        }
        Which::Wordcount {
            size_mb,
            runs,
            component,
            data_dir,
            corpus,
            ..
        } => wordcount::wordcount(size_mb, runs.max(1), &component, &data_dir, corpus),
        Which::Windows {
            events,
            runs,
            data_dir,
            whole_job: true,
            examples,
            weir,
            ..
        } => windows_job::whole_job(&windows_job::WholeJob {
            events,
            runs: runs.max(1),
            examples,
            weir,
            data_dir,
        }),
        Which::Windows {
            events,
            runs,
            component,
            data_dir,
            ..
        } => windows::windows(events, runs.max(1), &component, &data_dir),
        Which::Cluster {
            size_mb,
            runs,
            component,
            data_dir,
        } => cluster::cluster(size_mb, runs.max(1), &component, &data_dir),
        Which::Languages {
            size_mb,
            runs,
            languages,
            examples,
            data_dir,
        } => languages::languages(&languages::Languages {
            size_mb,
            runs: runs.max(1),
            examples,
            data_dir,
            languages,
        }),
        Which::Statefun {
            messages,
            ids,
            runs,
            parallelism,
            component,
            server,
            python,
            data_dir,
        } => statefun::statefun(&statefun::StatefunBench {
            messages: messages.max(1),
            ids: ids.max(1),
            runs: runs.max(1),
            parallelism: parallelism.max(1),
            component,
            server,
            python,
            data_dir,
        }),
        Which::Kafka {
            bootstrap,
            size_mb,
            runs,
            partitions,
            examples,
            data_dir,
        } => kafka::kafka(&kafka::KafkaBench {
            bootstrap,
            size_mb: size_mb.max(1),
            runs: runs.max(1),
            partitions: partitions.max(1),
            examples,
            data_dir,
        }),
        Which::State {
            distinct_keys: Some(keys),
            memory_mb,
            rocksdb_only,
            discard,
            weir,
            examples,
            data_dir,
            savepoint_rescale,
            ..
        } => {
            let b = distinct::DistinctBench {
                keys: keys.max(1),
                memory_mb,
                weir,
                memory_backend: !rocksdb_only,
                discard,
                examples,
                data_dir,
            };
            match savepoint_rescale {
                Some(p) => rescale::savepoint_rescale(&b, p.max(1)),
                None => distinct::distinct(&b),
            }
        }
        Which::State {
            size_mb,
            copies,
            runs,
            component,
            data_dir,
            ..
        } => state::state(size_mb, copies.max(1), runs.max(1), &component, &data_dir),
    }
}

/// Resource use of the process, from /proc.
mod proc_stats {
    /// Resets the peak RSS (VmHWM); false where the kernel refuses.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// Peak resident set size in bytes.
    pub fn peak_rss() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// User + system CPU seconds of the process so far.
    pub fn cpu_seconds() -> Option<f64> {
        cpu_seconds_of("self")
    }

    /// User + system CPU seconds so far of process `pid` ("self": this
    /// one).
    pub fn cpu_seconds_of(pid: &str) -> Option<f64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &s[s.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11)?.parse().ok()?;
        let stime: f64 = f.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }
}

struct Measured {
    wall: Duration,
    cpu: f64,
    peak_rss: Option<u64>,
    tokens: u64,
}

/// Each side's fastest run so far.
#[derive(Default)]
struct BestOf {
    native: Option<Measured>,
    wasm: Option<Measured>,
}

impl BestOf {
    /// Prints run `run`'s times and keeps each side's faster run.
    fn add(&mut self, run: u32, native: Measured, wasm: Measured) {
        eprintln!(
            "run {}: native {:.3} s, wasm {:.3} s",
            run + 1,
            native.wall.as_secs_f64(),
            wasm.wall.as_secs_f64()
        );
        for (best, m) in [(&mut self.native, native), (&mut self.wasm, wasm)] {
            if best.as_ref().is_none_or(|b| m.wall < b.wall) {
                *best = Some(m);
            }
        }
    }

    /// The fastest native and Wasm runs.
    fn best(self) -> Result<(Measured, Measured)> {
        match (self.native, self.wasm) {
            (Some(n), Some(w)) => Ok((n, w)),
            _ => anyhow::bail!("no runs"),
        }
    }
}

fn measure(f: impl FnOnce() -> Result<u64>) -> Result<Measured> {
    proc_stats::reset_peak();
    let cpu0 = proc_stats::cpu_seconds().unwrap_or(0.0);
    let t = Instant::now();
    let tokens = f()?;
    let wall = t.elapsed();
    Ok(Measured {
        wall,
        cpu: proc_stats::cpu_seconds().unwrap_or(0.0) - cpu0,
        peak_rss: proc_stats::peak_rss(),
        tokens,
    })
}

fn mib(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| {
        format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
    })
}

/// Prints the comparison table of one benchmark.
fn report(unit: &str, native: &Measured, wasm: &Measured) {
    let rate = |m: &Measured| m.tokens as f64 / m.wall.as_secs_f64();
    let cpu_rate = |m: &Measured| m.tokens as f64 / m.cpu.max(1e-9);
    println!(
        "  {:<8} {:>10} {:>16} {:>10} {:>20} {:>12}",
        "",
        "wall s",
        format!("{unit}/s"),
        "cpu s",
        format!("{unit} per cpu-s"),
        "peak RSS"
    );
    for (name, m) in [("native", native), ("wasm", wasm)] {
        println!(
            "  {:<8} {:>10.3} {:>16.0} {:>10.2} {:>20.0} {:>12}",
            name,
            m.wall.as_secs_f64(),
            rate(m),
            m.cpu,
            cpu_rate(m),
            mib(m.peak_rss)
        );
    }
    println!(
        "  wasm / native throughput (wall): {:.1} %",
        100.0 * rate(wasm) / rate(native)
    );
    println!(
        "  wasm / native throughput (per cpu-second): {:.1} %",
        100.0 * cpu_rate(wasm) / cpu_rate(native)
    );
}
