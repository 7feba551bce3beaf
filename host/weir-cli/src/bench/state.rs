//! State backends and checkpoints: the WordCount job on the memory and
//! RocksDB backends, with and without checkpoints every second, in the
//! same run.

use super::wordcount::{corpus_file, wordcount_job};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_core::graph::Checkpointing;
use weir_core::spec::StateBackendKind;
use weir_runtime::{CheckpointStats, RunOptions, human_bytes, run_job};
use weir_wasm::Runtime;

struct Variant {
    backend: StateBackendKind,
    checkpoints: bool,
}

struct Result1 {
    wall: Duration,
    tokens: u64,
    stats: CheckpointStats,
    total_checkpoint_ms: u64,
    sizes: Vec<u64>,
}

/// The input: `copies` links to the same corpus in one directory (a
/// longer run without a larger file).
fn input(size_mb: u64, copies: u32, data_dir: &Path) -> Result<PathBuf> {
    let corpus = corpus_file(size_mb, data_dir)?.canonicalize()?;
    let dir = data_dir.join(format!("state-{size_mb}mb-x{copies}"));
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir)?;
        for i in 0..copies {
            let link = dir.join(format!("copy-{i}.txt"));
            if std::fs::hard_link(&corpus, &link).is_err() {
                std::fs::copy(&corpus, &link)
                    .with_context(|| format!("creating {}", link.display()))?;
            }
        }
    }
    Ok(dir)
}

/// Checkpoint durations and sizes from the metadata left in `dir`.
fn checkpoint_facts(dir: &Path) -> (u64, Vec<u64>) {
    let mut total = 0;
    let mut sizes = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(text) = std::fs::read(e.path().join("_metadata"))
                && let Ok(m) = serde_json::from_slice::<serde_json::Value>(&text)
            {
                total += m["duration_ms"].as_u64().unwrap_or(0);
                sizes.push(m["bytes"].as_u64().unwrap_or(0));
            }
        }
    }
    (total, sizes)
}

pub(super) fn state(
    size_mb: u64,
    copies: u32,
    runs: u32,
    component: &Path,
    data_dir: &Path,
) -> Result<()> {
    if !component.is_file() {
        bail!(
            "component {} not found: build it with `weir build functions-examples`",
            component.display()
        );
    }
    let input = input(size_mb, copies, data_dir)?;
    let component = component.canonicalize()?;
    let rt = Runtime::new()?;
    rt.load(&component, &weir_wasm::InstanceConfig::default())?;
    let variants = [
        Variant {
            backend: StateBackendKind::Memory,
            checkpoints: false,
        },
        Variant {
            backend: StateBackendKind::Memory,
            checkpoints: true,
        },
        Variant {
            backend: StateBackendKind::Rocksdb,
            checkpoints: false,
        },
        Variant {
            backend: StateBackendKind::Rocksdb,
            checkpoints: true,
        },
    ];
    let mut best: Vec<Option<Result1>> = variants.iter().map(|_| None).collect();
    for run in 0..runs {
        for (i, v) in variants.iter().enumerate() {
            let mut graph = wordcount_job(&component, &input)?;
            graph.state_backend = v.backend;
            let chk = tempfile::Builder::new()
                .prefix("weir-bench-chk-")
                .tempdir_in(data_dir)?;
            // Keep every checkpoint, to report on all of them.
            graph.checkpointing = v.checkpoints.then(|| Checkpointing {
                interval: Duration::from_secs(1),
                dir: chk.path().to_owned(),
                retain: 1000,
                timeout: weir_core::graph::DEFAULT_CHECKPOINT_TIMEOUT,
                tolerable_failures: 0,
            });
            let work = tempfile::Builder::new()
                .prefix("weir-bench-state-")
                .tempdir_in(data_dir)?;
            let t = Instant::now();
            let summary = run_job(
                &graph,
                &rt,
                &RunOptions {
                    work_dir: Some(work.path().to_owned()),
                    ..RunOptions::default()
                },
            )
            .map_err(|f| anyhow::anyhow!("{f}"))?;
            let wall = t.elapsed();
            let (total_checkpoint_ms, sizes) = checkpoint_facts(chk.path());
            eprintln!(
                "run {}: {} {} checkpoints: {:.3} s",
                run + 1,
                v.backend.name(),
                if v.checkpoints { "with" } else { "without" },
                wall.as_secs_f64()
            );
            let r = Result1 {
                wall,
                tokens: summary.node("count").map_or(0, |n| n.records_in),
                stats: summary.checkpoints,
                total_checkpoint_ms,
                sizes,
            };
            if best[i].as_ref().is_none_or(|b| r.wall < b.wall) {
                best[i] = Some(r);
            }
        }
    }
    let rate = |r: &Result1| r.tokens as f64 / r.wall.as_secs_f64();
    let Some(base) = best[0].as_ref() else {
        bail!("no runs");
    };
    let base_rate = rate(base);
    println!(
        "State benchmark: WordCount over {copies} x {size_mb} MB ({} tokens), parallelism 1, best of {runs}",
        base.tokens
    );
    println!(
        "  {:<8} {:<12} {:>8} {:>14} {:>9} {:>12} {:>14} {:>22}",
        "backend",
        "checkpoints",
        "wall s",
        "tokens/s",
        "vs base",
        "checkpoints",
        "avg duration",
        "sizes (first / last)"
    );
    for (v, r) in variants.iter().zip(&best) {
        let Some(r) = r else { continue };
        let n = r.sizes.len() as u64;
        println!(
            "  {:<8} {:<12} {:>8.3} {:>14.0} {:>8.1}% {:>12} {:>14} {:>22}",
            v.backend.name(),
            if v.checkpoints { "every 1 s" } else { "none" },
            r.wall.as_secs_f64(),
            rate(r),
            100.0 * rate(r) / base_rate,
            if v.checkpoints {
                r.stats.completed.to_string()
            } else {
                "-".into()
            },
            r.total_checkpoint_ms
                .checked_div(n)
                .map_or_else(|| "-".into(), |avg| format!("{avg} ms")),
            match (r.sizes.first(), r.sizes.last()) {
                (Some(a), Some(b)) if v.checkpoints =>
                    format!("{} / {}", human_bytes(*a), human_bytes(*b)),
                _ => "-".into(),
            }
        );
    }
    Ok(())
}
