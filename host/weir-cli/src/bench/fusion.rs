//! `weir bench wordcount --whole-job --fusion`: the WordCount job file as
//! users run it, with chained calls fused (`count → format` in one guest
//! call per batch) against one call per function, alternately in the same
//! run; every run's output checked against plain Rust's updates.

use super::process::{digest_output, run_weir};
use super::wordcount::{WholeJob, corpus_file, native_digest};
use anyhow::{Result, bail};
use std::ffi::OsString;

/// The fastest run of one side.
struct Best {
    wall: f64,
    cpu: f64,
    peak_rss: u64,
}

/// Runs both sides `b.runs` times each, alternately, and reports each
/// side's best and the fused side's ratio to the other.
pub(super) fn fusion(b: &WholeJob) -> Result<()> {
    let corpus = match &b.corpus {
        Some(c) => c.clone(),
        None => corpus_file(b.size_mb, &b.data_dir)?,
    }
    .canonicalize()?;
    let job = b.examples.join("wordcount/wordcount.toml");
    let out = b.data_dir.join("fusion-out");
    let want = native_digest(&corpus)?;
    let mut best: [Option<Best>; 2] = [None, None];
    for run in 0..b.runs {
        for (side, fuse) in ["true", "false"].into_iter().enumerate() {
            let _ = std::fs::remove_dir_all(&out);
            let args: Vec<OsString> = vec![
                "run".into(),
                job.clone().into(),
                "--input".into(),
                corpus.clone().into(),
                "--output".into(),
                out.clone().into(),
                "--quiet".into(),
                "--fuse-chained-calls".into(),
                fuse.into(),
            ];
            let p = run_weir(b.weir.as_deref(), &args)?;
            if digest_output(&out)? != want {
                bail!(
                    "the job's output (fuse_chained_calls = {fuse}) differs from the native updates"
                );
            }
            let wall = p.wall.as_secs_f64();
            eprintln!("run {}: fuse_chained_calls = {fuse}: {wall:.3} s", run + 1);
            if best[side].as_ref().is_none_or(|m| wall < m.wall) {
                best[side] = Some(Best {
                    wall,
                    cpu: p.cpu,
                    peak_rss: p.peak_rss,
                });
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    let [Some(fused), Some(apart)] = best else {
        bail!("no runs");
    };
    println!(
        "WordCount as users run it (`weir run wordcount.toml`, file in, every update to files), `count → format` fused into one guest call per batch against a call per function; {} updates, parallelism 1, best of {}",
        want.0, b.runs
    );
    println!(
        "  {:<28} {:>8} {:>8} {:>10}",
        "", "wall s", "cpu s", "peak RSS"
    );
    for (name, m) in [
        ("fused (default)", &fused),
        ("one call per function", &apart),
    ] {
        println!(
            "  {:<28} {:>8.3} {:>8.2} {:>9.1}M",
            name,
            m.wall,
            m.cpu,
            m.peak_rss as f64 / (1 << 20) as f64
        );
    }
    println!(
        "  fused / one call per function: {:.3} wall, {:.3} cpu",
        fused.wall / apart.wall,
        fused.cpu / apart.cpu
    );
    Ok(())
}
