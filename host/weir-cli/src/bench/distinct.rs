//! State at scale: WordCount over text whose every word is distinct (the
//! worst case for keyed state, and the everyday one for jobs keyed by user
//! or device id). Each variant runs the example job file as its own `weir
//! run` process (start to exit), so peak RSS is the whole process's; bytes
//! per key compare it with the same job over 1,000 distinct words. Every
//! run's output is checked: each word once, counted once.

use super::process::{ProcessRun, digest_output, run_weir};
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// What `weir bench state --distinct-keys` was asked for.
pub(super) struct DistinctBench {
    /// Distinct words in the input.
    pub keys: u64,
    /// RocksDB memory budgets to run (MiB; none: the default budget).
    pub memory_mb: Vec<u32>,
    /// The `weir` binary to run (another build, to compare).
    pub weir: Option<PathBuf>,
    /// A discard sink instead of files (as the Flink runs it is compared
    /// with); the counts of updates are checked then, not their values.
    pub discard: bool,
    /// Whether the memory backend runs too.
    pub memory_backend: bool,
    /// The repository's functions-examples directory.
    pub examples: PathBuf,
    /// Where inputs and outputs go.
    pub data_dir: PathBuf,
}

/// The `i`th distinct word: 14 lower-case letters, a bijection of `i`
/// (an odd multiplier permutes u64), so words are distinct and unordered.
pub(super) fn word(i: u64, out: &mut String) {
    let mut k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    out.clear();
    for _ in 0..14 {
        out.push(char::from(b'a' + (k % 26) as u8));
        k /= 26;
    }
}

/// The order-independent digest of the expected output: every word once
/// with count 1, as `(word,1)` lines.
pub(super) struct Expected {
    lines: u64,
    digest: u64,
}

/// Writes `keys` distinct words, ten per line (kept between runs).
pub(super) fn input(keys: u64, data_dir: &Path) -> Result<(PathBuf, Expected)> {
    let path = data_dir.join(format!("distinct-{keys}.txt"));
    let mut digest = 0u64;
    let mut w = String::new();
    let mut line = String::new();
    let write = !path.is_file();
    let mut out = if write {
        std::fs::create_dir_all(data_dir)?;
        eprintln!("generating {keys} distinct words at {} ...", path.display());
        let f = std::fs::File::create(path.with_extension("tmp"))?;
        Some(BufWriter::with_capacity(1 << 20, f))
    } else {
        None
    };
    for i in 0..keys {
        word(i, &mut w);
        line.clear();
        line.push('(');
        line.push_str(&w);
        line.push_str(",1)");
        digest = digest.wrapping_add(xxh3_64(line.as_bytes()));
        if let Some(out) = &mut out {
            out.write_all(w.as_bytes())?;
            out.write_all(if i % 10 == 9 { b"\n" } else { b" " })?;
        }
    }
    if let Some(mut out) = out {
        out.write_all(b"\n")?;
        out.flush()?;
        drop(out);
        std::fs::rename(path.with_extension("tmp"), &path)?;
    }
    Ok((
        path,
        Expected {
            lines: keys,
            digest,
        },
    ))
}

/// Checks the job's output directory against the expected updates.
fn check_output(dir: &Path, want: &Expected) -> Result<()> {
    let (lines, digest) = digest_output(dir)?;
    if lines != want.lines || digest != want.digest {
        bail!(
            "wrong output in {}: {lines} updates (want {}), digest {digest:x} (want {:x})",
            dir.display(),
            want.lines,
            want.digest
        );
    }
    Ok(())
}

/// WordCount with a discard sink: the example's pipeline and component.
fn discard_job(b: &DistinctBench) -> Result<PathBuf> {
    let component = b
        .examples
        .join("target/wasm32-wasip2/release/wordcount.wasm")
        .canonicalize()
        .context("the wordcount component (scripts/build-examples)")?;
    let path = b.data_dir.join("wordcount-discard.toml");
    let text = format!(
        r#"name = "wordcount-discard"
parallelism = 1
max_parallelism = 128

[parameters]
input = ""

[components]
wordcount = "{}"

[[sources]]
id = "lines"
kind = "file"
path = "${{input}}"
format = "text"

[[operators]]
id = "tokenize"
component = "wordcount"
function = "tokenize"
kind = "flat-map"
input = "lines"

[[operators]]
id = "count"
component = "wordcount"
function = "count"
kind = "reduce"
input = {{ from = "tokenize", exchange = "key-by" }}

[[operators]]
id = "format"
component = "wordcount"
function = "format"
kind = "flat-map"
input = "count"

[[sinks]]
id = "out"
kind = "discard"
input = "format"
"#,
        component.display()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Checks the summary of a discard run: the sink took one update per word.
fn check_discarded(stderr: &str, want: &Expected) -> Result<()> {
    let got = stderr
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"out") && f.get(1) == Some(&"sink"))
                .then(|| f.get(3).and_then(|n| n.parse::<u64>().ok()))
                .flatten()
        })
        .context("no sink line in the job's summary")?;
    if got != want.lines {
        bail!("the sink took {got} updates, want {}", want.lines);
    }
    Ok(())
}

/// Runs the WordCount job file as its own process.
fn run_job(b: &DistinctBench, input: &Path, out: &Path, state: &[String]) -> Result<ProcessRun> {
    let _ = std::fs::remove_dir_all(out);
    let job = if b.discard {
        discard_job(b)?
    } else {
        b.examples.join("wordcount/wordcount.toml")
    };
    let mut args: Vec<OsString> = vec!["run".into(), job.into(), "--input".into(), input.into()];
    args.extend(state.iter().map(OsString::from));
    if !b.discard {
        args.extend(["--output".into(), out.into(), "--quiet".into()]);
    }
    run_weir(b.weir.as_deref(), &args)
}

struct Variant {
    name: String,
    args: Vec<String>,
}

fn variants(b: &DistinctBench) -> Vec<Variant> {
    let mut v = Vec::new();
    if b.memory_backend {
        v.push(Variant {
            name: "memory".into(),
            args: vec!["--state-backend".into(), "memory".into()],
        });
    }
    if b.memory_mb.is_empty() {
        v.push(Variant {
            name: "rocksdb, default budget".into(),
            args: vec!["--state-backend".into(), "rocksdb".into()],
        });
    }
    for mb in &b.memory_mb {
        v.push(Variant {
            name: format!("rocksdb, {mb} MiB budget"),
            args: vec![
                "--state-backend".into(),
                "rocksdb".into(),
                "--state-memory-mb".into(),
                mb.to_string(),
            ],
        });
    }
    v
}

/// Checks a run's output (files) or its sink's count (discard).
fn check(b: &DistinctBench, out: &Path, m: &ProcessRun, want: &Expected) -> Result<()> {
    if b.discard {
        check_discarded(&m.stderr, want)
    } else {
        check_output(out, want)
    }
}

/// Runs the benchmark and prints its table.
pub(super) fn distinct(b: &DistinctBench) -> Result<()> {
    let (small, small_want) = input(1000, &b.data_dir)?;
    let (big, want) = input(b.keys, &b.data_dir)?;
    let out = b.data_dir.join("distinct-out");
    println!(
        "State at scale: WordCount over {} distinct words (each once), parallelism 1, {}, whole `weir run` processes",
        b.keys,
        if b.discard {
            "discard sink (updates counted)"
        } else {
            "file output checked"
        }
    );
    println!(
        "  {:<26} {:>9} {:>8} {:>14} {:>12} {:>12} {:>14}",
        "backend", "wall s", "cpu s", "keys/s", "peak RSS", "base RSS", "bytes per key"
    );
    for v in variants(b) {
        let base = run_job(b, &small, &out, &v.args)?;
        check(b, &out, &base, &small_want)?;
        let m = run_job(b, &big, &out, &v.args)?;
        check(b, &out, &m, &want)?;
        let per_key = m.peak_rss.saturating_sub(base.peak_rss) as f64 / b.keys as f64;
        println!(
            "  {:<26} {:>9.2} {:>8.2} {:>14.0} {:>12} {:>12} {:>14.1}",
            v.name,
            m.wall.as_secs_f64(),
            m.cpu,
            b.keys as f64 / m.wall.as_secs_f64(),
            super::mib(Some(m.peak_rss)),
            super::mib(Some(base.peak_rss)),
            per_key
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_letters() {
        let mut seen = std::collections::HashSet::new();
        let mut w = String::new();
        for i in 0..100_000 {
            word(i, &mut w);
            assert!(w.bytes().all(|c| c.is_ascii_lowercase()) && w.len() == 14);
            assert!(seen.insert(w.clone()), "word {i} repeats");
        }
    }
}
