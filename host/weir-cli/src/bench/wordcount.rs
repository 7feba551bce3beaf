//! WordCount: the Wasm job against the same pipeline in plain Rust.

use super::{BestOf, measure};
use anyhow::{Context, Result, bail};
use foldhash::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use weir_core::JobGraph;
use weir_core::builder::{JobBuilder, key_by};
use weir_core::graph::Overrides;
use weir_core::spec::{FunctionKind, RecordFormat};
use weir_runtime::{RunOptions, run_job};
use weir_wasm::Runtime;

pub(super) fn corpus_file(size_mb: u64, data_dir: &Path) -> Result<PathBuf> {
    let path = data_dir.join(format!("wordcount-{size_mb}mb-seed1.txt"));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    eprintln!("generating a {size_mb} MB corpus at {} ...", path.display());
    let tmp = path.with_extension("tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::new(file);
    weir_connectors::corpus::write_corpus(&mut w, size_mb * 1_000_000, 1)
        .and_then(|_| std::io::Write::flush(&mut w))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Writes `(word,count)`: the same routine as the Wasm example's `format`.
fn render(line: &mut String, word: &[u8], count: u64) {
    line.clear();
    line.push('(');
    match std::str::from_utf8(word) {
        Ok(w) => line.push_str(w),
        Err(_) => line.push_str(&String::from_utf8_lossy(word)),
    }
    line.push(',');
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = count;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        line.push(char::from(d));
    }
    line.push(')');
}

/// The same pipeline as the Wasm job, as a Rust programmer would write it:
/// read lines, tokenize, count per word in a hash map, format "(word,count)"
/// for every token, and hand it to a sink that only sums lengths.
fn native_wordcount(path: &Path) -> Result<(u64, u64)> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::default();
    let mut line = Vec::new();
    let mut word = Vec::new();
    let mut formatted = String::new();
    let mut tokens = 0u64;
    let mut sink_bytes = 0u64;
    let mut emit = |word: &mut Vec<u8>, tokens: &mut u64, sink_bytes: &mut u64| {
        let c = match counts.get_mut(word.as_slice()) {
            Some(c) => c,
            None => counts.entry(word.clone()).or_insert(0),
        };
        *c += 1;
        render(&mut formatted, word, *c);
        *sink_bytes += formatted.len() as u64;
        *tokens += 1;
        word.clear();
    };
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        for &b in text.as_bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                word.push(b.to_ascii_lowercase());
            } else if !word.is_empty() {
                emit(&mut word, &mut tokens, &mut sink_bytes);
            }
        }
        if !word.is_empty() {
            emit(&mut word, &mut tokens, &mut sink_bytes);
        }
    }
    Ok((tokens, sink_bytes))
}

pub(super) fn wordcount_job(component: &Path, corpus: &Path) -> Result<JobGraph> {
    Ok(JobBuilder::new("bench-wordcount")
        .parallelism(1)
        .component("wordcount", component)
        .file_source("lines", corpus, RecordFormat::Text)
        .operator(
            "tokenize",
            "wordcount",
            "tokenize",
            FunctionKind::FlatMap,
            "lines",
        )
        .operator(
            "count",
            "wordcount",
            "count",
            FunctionKind::Reduce,
            key_by("tokenize"),
        )
        .operator(
            "format",
            "wordcount",
            "format",
            FunctionKind::FlatMap,
            "count",
        )
        .discard_sink("out", "format")
        .build(&Overrides::default())?)
}

pub(super) fn wordcount(
    size_mb: u64,
    runs: u32,
    component: &Path,
    data_dir: &Path,
    corpus: Option<PathBuf>,
) -> Result<()> {
    if !component.is_file() {
        bail!(
            "component {} not found: build it with `weir build functions-examples`",
            component.display()
        );
    }
    let corpus = match corpus {
        Some(c) => c,
        None => corpus_file(size_mb, data_dir)?,
    };
    let bytes = std::fs::metadata(&corpus)?.len();
    let component = component.canonicalize()?;
    let corpus = corpus.canonicalize()?;
    let graph = wordcount_job(&component, &corpus)?;
    let rt = Runtime::new()?;
    let compile = Instant::now();
    let origin = rt
        .load(&component, &weir_wasm::InstanceConfig::default())?
        .origin();
    let compile = compile.elapsed();

    let mut best = BestOf::default();
    for run in 0..runs {
        let n = measure(|| native_wordcount(&corpus).map(|(t, _)| t))?;
        let w = measure(|| {
            let summary =
                run_job(&graph, &rt, &RunOptions::default()).map_err(|f| anyhow::anyhow!("{f}"))?;
            Ok(summary.node("count").map_or(0, |n| n.records_in))
        })?;
        if n.tokens != w.tokens {
            bail!(
                "token counts differ: native {} vs wasm {}",
                n.tokens,
                w.tokens
            );
        }
        best.add(run, n, w);
    }
    let (n, w) = best.best()?;
    println!(
        "WordCount benchmark: {:.1} MB corpus, {} tokens, parallelism 1, best of {runs}",
        bytes as f64 / 1e6,
        n.tokens
    );
    println!(
        "  component load (once, not in timings): {:.0} ms ({})",
        compile.as_secs_f64() * 1e3,
        match origin {
            weir_wasm::Origin::Compiled => "compiled",
            weir_wasm::Origin::Cache => "from the compiled-component cache",
        }
    );
    super::report("tokens", &n, &w);
    Ok(())
}

/// The least work the WordCount job file does, in plain Rust: read lines,
/// tokenize, count per word, render every update as `(word,count)` and
/// hand it to `each`. Returns the number of tokens.
fn native_updates(path: &Path, mut each: impl FnMut(&str) -> Result<()>) -> Result<u64> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::default();
    let (mut line, mut word, mut formatted) = (Vec::new(), Vec::new(), String::new());
    let mut tokens = 0u64;
    let mut emit = |word: &mut Vec<u8>| -> Result<()> {
        let c = match counts.get_mut(word.as_slice()) {
            Some(c) => c,
            None => counts.entry(word.clone()).or_insert(0),
        };
        *c += 1;
        render(&mut formatted, word, *c);
        tokens += 1;
        word.clear();
        each(&formatted)
    };
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        for &b in &line {
            if b.is_ascii_alphanumeric() || b == b'_' {
                word.push(b.to_ascii_lowercase());
            } else if !word.is_empty() {
                emit(&mut word)?;
            }
        }
        if !word.is_empty() {
            emit(&mut word)?;
        }
    }
    Ok(tokens)
}

/// The updates a WordCount job must write for `corpus`: their number and
/// order-independent digest, as [`super::process::digest_output`] reads a
/// job's output.
pub(super) fn native_digest(corpus: &Path) -> Result<(u64, u64)> {
    let mut want = (0u64, 0u64);
    native_updates(corpus, |l| {
        want.0 += 1;
        want.1 = want
            .1
            .wrapping_add(xxhash_rust::xxh3::xxh3_64(l.as_bytes()));
        Ok(())
    })?;
    Ok(want)
}

/// The native side of `--whole-job`: the job's updates written to `out`,
/// one per line, buffered.
fn native_to_file(corpus: &Path, out: &Path) -> Result<u64> {
    let mut w = BufWriter::with_capacity(256 * 1024, std::fs::File::create(out)?);
    let tokens = native_updates(corpus, |l| {
        w.write_all(l.as_bytes())?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    w.flush()?;
    Ok(tokens)
}

/// What `weir bench wordcount --whole-job` measures.
pub(super) struct WholeJob {
    pub size_mb: u64,
    pub runs: u32,
    pub examples: PathBuf,
    /// The `weir` binary to measure (default this one).
    pub weir: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub corpus: Option<PathBuf>,
}

/// The WordCount job file as users run it (`weir run`, file in, file out,
/// process start to exit) against the least work the job needs in plain
/// Rust in this process; best of `runs` each; the job's output checked
/// against the native updates.
pub(super) fn whole_job(b: &WholeJob) -> Result<()> {
    let corpus = match &b.corpus {
        Some(c) => c.clone(),
        None => corpus_file(b.size_mb, &b.data_dir)?,
    }
    .canonicalize()?;
    let job = b.examples.join("wordcount/wordcount.toml");
    let native_out = b.data_dir.join("whole-job-native.txt");
    let job_out = b.data_dir.join("whole-job-out");
    let want = native_digest(&corpus)?;
    let (n, w) = super::process::best_of(
        &super::process::WholeRun {
            weir: b.weir.as_deref(),
            job: &job,
            input: &corpus,
            out: &job_out,
            want,
            runs: b.runs,
        },
        || native_to_file(&corpus, &native_out),
    )?;
    let _ = std::fs::remove_file(&native_out);
    println!(
        "WordCount as users run it: `weir run wordcount.toml` (file in, every update to files, process start to exit) against plain Rust doing the same in this process; {} tokens, parallelism 1, best of {}",
        n.tokens, b.runs
    );
    super::report("tokens", &n, &w);
    Ok(())
}
