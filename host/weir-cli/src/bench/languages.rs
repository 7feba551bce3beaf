//! `weir bench languages`: the WordCount job with each guest language's
//! tokenizer, counter and formatter, as users run it (`weir run`, file in,
//! every update to files, process start to exit), against the Rust guest
//! and plain native Rust in the same run.

use super::process::{ProcessRun, digest_output, run_weir_env};
use super::wordcount::{corpus_file, native_digest};
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `weir bench languages` measures.
pub(super) struct Languages {
    pub size_mb: u64,
    pub runs: u32,
    pub examples: PathBuf,
    pub data_dir: PathBuf,
    pub languages: Vec<String>,
}

/// A language's WordCount: its project and job file under the examples.
fn example(examples: &Path, language: &str) -> Result<(Option<PathBuf>, PathBuf)> {
    let (project, job) = match language {
        "rust" => (None, examples.join("wordcount/wordcount.toml")),
        "python" | "js" => {
            let p = examples.join(format!("wordcount-{language}"));
            (Some(p.clone()), p.join("wordcount.toml"))
        }
        other => bail!("no WordCount example for '{other}' (rust, python, js)"),
    };
    Ok((project, job))
}

/// The best run of one language, and its first (compiling) run.
struct Result1 {
    language: String,
    first: ProcessRun,
    best: ProcessRun,
}

fn run_job(job: &Path, corpus: &Path, out: &Path, cache: &Path) -> Result<ProcessRun> {
    let _ = std::fs::remove_dir_all(out);
    let args: Vec<OsString> = vec![
        "run".into(),
        job.into(),
        "--input".into(),
        corpus.into(),
        "--output".into(),
        out.into(),
        "--quiet".into(),
    ];
    run_weir_env(None, &args, &[("WEIR_CACHE_DIR", cache.as_os_str())])
}

/// Runs each language's WordCount `runs` times after a first run that
/// compiles its component into a fresh cache; checks every run's output
/// against the native updates.
pub(super) fn languages(b: &Languages) -> Result<()> {
    let corpus = corpus_file(b.size_mb, &b.data_dir)?.canonicalize()?;
    let t = Instant::now();
    let want = native_digest(&corpus)?;
    let native_wall = t.elapsed();
    let cache = b.data_dir.join("languages-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let out = b.data_dir.join("languages-out");
    let mut results = Vec::new();
    for language in &b.languages {
        let (project, job) = example(&b.examples, language)?;
        if let Some(p) = &project {
            eprintln!("building {}", p.display());
            crate::build::build(p, true).with_context(|| format!("building {}", p.display()))?;
        }
        let check = |run: &ProcessRun| -> Result<()> {
            let got = digest_output(&out)?;
            if got != want {
                bail!(
                    "{language}: the output differs from the native updates: {} lines (want {})",
                    got.0,
                    want.0
                );
            }
            eprintln!("{language}: {:.3} s", run.wall.as_secs_f64());
            Ok(())
        };
        let first = run_job(&job, &corpus, &out, &cache)?;
        check(&first)?;
        let mut best: Option<ProcessRun> = None;
        for _ in 0..b.runs {
            let r = run_job(&job, &corpus, &out, &cache)?;
            check(&r)?;
            if best.as_ref().is_none_or(|m| r.wall < m.wall) {
                best = Some(r);
            }
        }
        let best = best.context("no runs")?;
        results.push(Result1 {
            language: language.clone(),
            first,
            best,
        });
    }
    let _ = std::fs::remove_dir_all(&out);
    print_table(want.0, native_wall, &results, b.runs);
    Ok(())
}

fn print_table(tokens: u64, native: std::time::Duration, results: &[Result1], runs: u32) {
    println!(
        "WordCount per guest language: `weir run <language>/wordcount.toml` (file in, every update to files, process start to exit), {tokens} tokens, parallelism 1, best of {runs} after a first run that compiles the component"
    );
    println!(
        "  {:<8} {:>10} {:>14} {:>8} {:>16} {:>10} {:>14} {:>12}",
        "guest",
        "wall s",
        "tokens/s",
        "cpu s",
        "tokens per cpu-s",
        "peak RSS",
        "first run s",
        "vs Rust"
    );
    let rust = results
        .iter()
        .find(|r| r.language == "rust")
        .map(|r| r.best.wall.as_secs_f64());
    for r in results {
        let wall = r.best.wall.as_secs_f64();
        let ratio = rust.map_or("n/a".into(), |rw| format!("{:.1} %", 100.0 * rw / wall));
        println!(
            "  {:<8} {:>10.3} {:>14.0} {:>8.2} {:>16.0} {:>8.1} MiB {:>14.3} {:>12}",
            r.language,
            wall,
            tokens as f64 / wall,
            r.best.cpu,
            tokens as f64 / r.best.cpu.max(1e-9),
            r.best.peak_rss as f64 / (1 << 20) as f64,
            r.first.wall.as_secs_f64(),
            ratio
        );
    }
    println!(
        "  native Rust, the same updates counted in this process (no file): {:.3} s, {:.0} tokens/s",
        native.as_secs_f64(),
        tokens as f64 / native.as_secs_f64()
    );
}
