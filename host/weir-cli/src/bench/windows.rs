//! Windows: a keyed 1 s tumbling event-time window count over `<ts> <word>`
//! events in four time-overlapping partitions, as a Wasm job and as plain
//! Rust.

use super::{BestOf, measure};
use anyhow::{Context, Result, bail};
use foldhash::HashMap;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;
use weir_core::JobGraph;
use weir_core::builder::{JobBuilder, key_by};
use weir_core::graph::Overrides;
use weir_core::spec::{
    EventTimeSpec, FileSourceSpec, FunctionKind, FunctionRef, MalformedPolicy, RecordFormat,
    SourceSpec,
};
use weir_core::window::{WindowSpec, WindowTime, WindowType};
use weir_runtime::{RunOptions, run_job};
use weir_wasm::Runtime;

const PARTITIONS: u64 = 4;
/// Events per ms of event time in each partition.
const PER_MS: u64 = 2;
/// How far timestamps run behind within a partition, and the watermark
/// bound.
const BOUND_MS: u64 = 2000;
const WINDOW_MS: i64 = 1000;
/// Both sides read this much of a partition before turning to the next.
const CHUNK_BYTES: usize = 64 * 1024;

/// The four partition files, generated once per size.
pub(super) fn inputs(events: u64, data_dir: &Path) -> Result<PathBuf> {
    let dir = data_dir.join(format!("windows-{events}-seed1"));
    if dir.is_dir() {
        return Ok(dir);
    }
    let tmp = data_dir.join(format!("windows-{events}-seed1.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    eprintln!(
        "generating {events} events in {PARTITIONS} partitions at {} ...",
        dir.display()
    );
    for p in 0..PARTITIONS {
        let path = tmp.join(format!("part-{p}.txt"));
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = BufWriter::new(file);
        // Partitions overlap in time: each starts within the first second.
        weir_connectors::corpus::write_timestamped_words(
            &mut w,
            events / PARTITIONS,
            PER_MS,
            1_000_000 + p as i64 * 250,
            BOUND_MS,
            p + 1,
        )
        .and_then(|_| std::io::Write::flush(&mut w))
        .with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::rename(&tmp, &dir)?;
    Ok(dir)
}

fn window_job(component: &Path, dir: &Path) -> Result<JobGraph> {
    Ok(JobBuilder::new("bench-windows")
        .parallelism(1)
        .component("win", component)
        .source(SourceSpec::File(FileSourceSpec {
            id: "lines".into(),
            parallelism: None,
            path: dir.to_string_lossy().into_owned(),
            format: RecordFormat::Text,
            fallback: None,
            max_line_bytes: None,
            on_malformed: MalformedPolicy::Fail,
            event_time: Some(EventTimeSpec {
                field: None,
                max_out_of_orderness_ms: BOUND_MS,
                idle_timeout_ms: None,
                assigner: Some(FunctionRef {
                    component: "win".into(),
                    function: "leading-timestamp".into(),
                }),
                sequential_files: false,
            }),
        }))
        .operator("words", "win", "word-key", FunctionKind::FlatMap, "lines")
        .window_operator(
            "counts",
            "win",
            "count-words",
            FunctionKind::Aggregate,
            key_by("words"),
            WindowSpec {
                kind: WindowType::Tumbling,
                size_ms: Some(WINDOW_MS as u64),
                slide_ms: None,
                gap_ms: None,
                offset_ms: 0,
                time: WindowTime::Event,
                allowed_lateness_ms: 0,
            },
        )
        .discard_sink("out", "counts")
        .build(&Overrides::default())?)
}

/// What the window function renders (the same fields and serialiser as the
/// Wasm example).
#[derive(serde::Serialize)]
struct WordCount<'a> {
    word: &'a str,
    window_start: i64,
    count: u64,
}

struct Partition {
    reader: BufReader<std::fs::File>,
    max_ts: i64,
    done: bool,
}

/// The same job in plain Rust, one thread: partitions read in turn in
/// chunks, a watermark per partition (highest timestamp minus the bound
/// minus 1 ms) and their minimum, a hash map of counts per window, and
/// every window rendered as JSON once the watermark passes its end and
/// handed to `each`. Returns (events, results, rendered bytes).
pub(super) fn native_windows(
    dir: &Path,
    each: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<(u64, u64, u64)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut parts = files
        .iter()
        .map(|f| {
            Ok(Partition {
                reader: BufReader::with_capacity(256 * 1024, std::fs::File::open(f)?),
                max_ts: i64::MIN,
                done: false,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut windows: BTreeMap<i64, HashMap<Box<str>, u64>> = BTreeMap::new();
    let (mut events, mut results, mut bytes) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    let mut rendered = Vec::new();
    let mut fire = |windows: &mut BTreeMap<i64, HashMap<Box<str>, u64>>, wm: i64| -> Result<()> {
        while let Some(entry) = windows.first_entry() {
            if *entry.key() + WINDOW_MS - 1 > wm {
                break;
            }
            let start = *entry.key();
            for (word, count) in entry.remove() {
                rendered.clear();
                let r = WordCount {
                    word: &word,
                    window_start: start,
                    count,
                };
                serde_json::to_writer(&mut rendered, &r)?;
                bytes += rendered.len() as u64;
                results += 1;
                each(&rendered)?;
            }
        }
        Ok(())
    };
    let watermark = |parts: &[Partition]| {
        parts
            .iter()
            .filter(|p| !p.done)
            .map(|p| {
                if p.max_ts == i64::MIN {
                    i64::MIN
                } else {
                    p.max_ts - BOUND_MS as i64 - 1
                }
            })
            .min()
            .unwrap_or(i64::MAX)
    };
    while parts.iter().any(|p| !p.done) {
        for i in 0..parts.len() {
            let p = &mut parts[i];
            if p.done {
                continue;
            }
            let mut read = 0;
            while read < CHUNK_BYTES {
                line.clear();
                let n = p.reader.read_line(&mut line)?;
                if n == 0 {
                    p.done = true;
                    break;
                }
                read += n;
                let text = line.trim_end();
                let Some((ts, word)) = text.split_once(' ') else {
                    bail!("bad line '{text}'");
                };
                let ts: i64 = ts.parse().with_context(|| format!("bad line '{text}'"))?;
                p.max_ts = p.max_ts.max(ts);
                let counts = windows.entry(ts - ts.rem_euclid(WINDOW_MS)).or_default();
                match counts.get_mut(word) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(word.into(), 1);
                    }
                }
                events += 1;
            }
            // Like the reader: the watermark after every chunk.
            fire(&mut windows, watermark(&parts))?;
        }
    }
    fire(&mut windows, i64::MAX)?;
    Ok((events, results, bytes))
}

pub(super) fn windows(events: u64, runs: u32, component: &Path, data_dir: &Path) -> Result<()> {
    if !component.is_file() {
        bail!(
            "component {} not found: build it with `weir build functions-examples`",
            component.display()
        );
    }
    let dir = inputs(events, data_dir)?.canonicalize()?;
    let component = component.canonicalize()?;
    let graph = window_job(&component, &dir)?;
    let rt = Runtime::new()?;
    let compile = Instant::now();
    let origin = rt
        .load(&component, &weir_wasm::InstanceConfig::default())?
        .origin();
    let compile = compile.elapsed();

    let mut best = BestOf::default();
    let mut results = (0, 0);
    for run in 0..runs {
        let mut native_results = 0;
        let n = measure(|| {
            let (events, r, _) = native_windows(&dir, &mut |_| Ok(()))?;
            native_results = r;
            Ok(events)
        })?;
        let mut wasm_results = 0;
        let w = measure(|| {
            let summary =
                run_job(&graph, &rt, &RunOptions::default()).map_err(|f| anyhow::anyhow!("{f}"))?;
            wasm_results = summary.node("out").map_or(0, |n| n.records_in);
            Ok(summary.node("counts").map_or(0, |n| n.records_in))
        })?;
        if n.tokens != w.tokens || native_results != wasm_results {
            bail!(
                "the two sides differ: native {} events, {native_results} window results; wasm {} events, {wasm_results} window results",
                n.tokens,
                w.tokens
            );
        }
        results = (native_results, wasm_results);
        best.add(run, n, w);
    }
    let (n, w) = best.best()?;
    println!(
        "Window benchmark: {} events in {PARTITIONS} time-overlapping partitions, 1 s tumbling event-time windows, {} window results, parallelism 1, best of {runs}",
        n.tokens, results.0
    );
    println!(
        "  component load (once, not in timings): {:.0} ms ({})",
        compile.as_secs_f64() * 1e3,
        match origin {
            weir_wasm::Origin::Compiled => "compiled",
            weir_wasm::Origin::Cache => "from the compiled-component cache",
        }
    );
    super::report("events", &n, &w);
    Ok(())
}
