//! A savepoint of many distinct keys on RocksDB, resumed at another
//! parallelism: the peak RSS of the process that takes it and of the one
//! that restores it, and the output of both checked together against what
//! an unscaled run writes.
//!
//! The first job reads the distinct-word corpus at parallelism 1 beside a
//! slow generator that keeps it running; once every line is read it is
//! stopped with a savepoint (every word's count in it). The second job
//! resumes from the savepoint at the new parallelism and reads the corpus
//! once more through a new source, so every restored count must go from 1
//! to 2: a key lost in the savepoint or restored into the wrong sub-task
//! shows as a wrong update.

use super::distinct::{DistinctBench, input, word};
use super::process::{ProcessRun, digest_output_where, run_weir_while};
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use xxhash_rust::xxh3::xxh3_64;

/// The generator's rate (lines a second): how many of the lines read are
/// its own, about.
const TICK_RATE: f64 = 0.5;

/// A job file of the bench: `sources` TOML, then WordCount's operators
/// over `inputs`, file output.
fn job_file(
    dir: &Path,
    name: &str,
    component: &Path,
    sources: &str,
    inputs: &str,
) -> Result<PathBuf> {
    let text = format!(
        r#"name = "{name}"
parallelism = 1
max_parallelism = 128

[parameters]
input = ""
output = ""

[components]
wordcount = "{}"

[state]
backend = "rocksdb"

{sources}
[[operators]]
id = "tokenize"
component = "wordcount"
function = "tokenize"
kind = "flat-map"
input = {inputs}

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
kind = "file"
path = "${{output}}"
input = "format"
"#,
        component.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

const WORDS: &str = r#"[[sources]]
id = "words"
kind = "file"
path = "${input}"
format = "text"
"#;

/// `weir` with this bench's private runtime directory (where `weir list`
/// finds the job).
fn weir_command(b: &DistinctBench, runtime: &Path) -> Result<Command> {
    let exe = match &b.weir {
        Some(w) => w.clone(),
        None => std::env::current_exe()?,
    };
    let mut c = Command::new(exe);
    c.env("WEIR_RUNTIME_DIR", runtime);
    Ok(c)
}

/// The listed job's id and the records its sources read so far.
fn progress(b: &DistinctBench, runtime: &Path, name: &str) -> Result<Option<(String, u64)>> {
    let o = weir_command(b, runtime)?.arg("list").output()?;
    let text = String::from_utf8_lossy(&o.stdout);
    Ok(text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&name))
            .then(|| Some((f.first()?.to_string(), f.get(4)?.parse().ok()?)))
            .flatten()
    }))
}

/// What the first run left: the savepoint and how long stopping took.
struct Stopped {
    savepoint: PathBuf,
    stop: Duration,
}

/// Runs the first job until every corpus line is read, then stops it with
/// a savepoint.
fn first_run(
    b: &DistinctBench,
    work: &Path,
    corpus: &Path,
    lines: u64,
) -> Result<(ProcessRun, Stopped)> {
    let component = component(b)?;
    let tick = format!(
        "[[sources]]\nid = \"tick\"\nkind = \"datagen\"\ngenerator = \"sequence\"\nrate = {TICK_RATE:?}\n"
    );
    let job = job_file(
        work,
        "rescale-first",
        &component,
        &format!("{WORDS}\n{tick}"),
        r#"["words", "tick"]"#,
    )?;
    let runtime = work.join("runtime");
    std::fs::create_dir_all(&runtime)?;
    let args = run_args(b, &job, corpus, work, &[]);
    let started = Instant::now();
    let mut last_poll = Instant::now();
    let mut stopped: Option<Stopped> = None;
    let env = [("WEIR_RUNTIME_DIR", runtime.as_os_str())];
    let run = run_weir_while(b.weir.as_deref(), &args, &env, || {
        if stopped.is_some() || last_poll.elapsed() < Duration::from_millis(500) {
            return Ok(());
        }
        last_poll = Instant::now();
        let Some((id, read)) = progress(b, &runtime, "rescale-first")? else {
            return Ok(());
        };
        // About this many of the lines read are the generator's; the
        // savepoint's key count below says how many words it holds (the
        // second run reads any line the first did not).
        let ticks = (started.elapsed().as_secs_f64() * TICK_RATE) as u64;
        if read < lines + ticks {
            return Ok(());
        }
        let t = Instant::now();
        let o = weir_command(b, &runtime)?
            .args(["stop", "--savepoint", &id, "--dir"])
            .arg(work.join("savepoints"))
            .output()?;
        if !o.status.success() {
            bail!(
                "weir stop --savepoint: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let path = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        stopped = Some(Stopped {
            savepoint: PathBuf::from(path),
            stop: t.elapsed(),
        });
        Ok(())
    })?;
    let stopped = stopped.context("the first job ended before it was stopped")?;
    Ok((run, stopped))
}

/// Resumes from the savepoint at `parallelism`, reading the corpus again.
fn second_run(
    b: &DistinctBench,
    work: &Path,
    corpus: &Path,
    s: &Stopped,
    parallelism: u32,
) -> Result<ProcessRun> {
    let component = component(b)?;
    let again = WORDS.replace("id = \"words\"", "id = \"again\"");
    let job = job_file(
        work,
        "rescale-second",
        &component,
        &format!("{WORDS}\n{again}"),
        r#"["words", "again"]"#,
    )?;
    let resume: [OsString; 5] = [
        "--from-savepoint".into(),
        s.savepoint.clone().into(),
        "--allow-non-restored-state".into(),
        "--parallelism".into(),
        parallelism.to_string().into(),
    ];
    let args = run_args(b, &job, corpus, work, &resume);
    run_weir_while(b.weir.as_deref(), &args, &[], || Ok(()))
}

/// `weir run <job>` over the corpus into `<work>/out`, with `more`, and
/// `--state-memory-mb` when a budget was asked for (the first one).
fn run_args(
    b: &DistinctBench,
    job: &Path,
    corpus: &Path,
    work: &Path,
    more: &[OsString],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "run".into(),
        job.into(),
        "--input".into(),
        corpus.into(),
        "--output".into(),
        work.join("out").into(),
        "--quiet".into(),
    ];
    args.extend(more.iter().cloned());
    if let Some(mb) = b.memory_mb.first() {
        args.extend(["--state-memory-mb".into(), mb.to_string().into()]);
    }
    args
}

fn component(b: &DistinctBench) -> Result<PathBuf> {
    b.examples
        .join("target/wasm32-wasip2/release/wordcount.wasm")
        .canonicalize()
        .context("the wordcount component (scripts/build-examples)")
}

/// The output's lines (both runs write into one directory, as a user
/// resuming a job does), leaving out the generator's words (numbers):
/// their count and order-independent digest.
fn digest_words(dir: &Path) -> Result<(u64, u64)> {
    digest_output_where(dir, |l| {
        !l.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
    })
}

/// What an unscaled run writes: every word counted to 1, then to 2.
fn expected(keys: u64) -> (u64, u64) {
    let mut digest = 0u64;
    let mut w = String::new();
    for i in 0..keys {
        word(i, &mut w);
        for n in ["1", "2"] {
            let line = format!("({w},{n})");
            digest = digest.wrapping_add(xxh3_64(line.as_bytes()));
        }
    }
    (keys * 2, digest)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Keyed state entries of operator `count` in the savepoint (from its
/// state files' chunk index).
fn savepoint_keys(savepoint: &Path) -> Result<u64> {
    let loaded = weir_checkpoint::CheckpointStore::load(savepoint)?;
    Ok(loaded
        .snapshots
        .iter()
        .filter(|s| s.operator == "count")
        .filter_map(|s| match &s.keyed {
            Some(weir_checkpoint::KeyedPart::Streamed(k)) => {
                Some(k.chunks.iter().map(|c| c.entries).sum::<u64>())
            }
            // Written by a build before state files (`--weir`).
            Some(weir_checkpoint::KeyedPart::Canonical(k)) => Some(k.entries.len() as u64),
            _ => None,
        })
        .sum())
}

/// Runs the benchmark and prints its table.
pub(super) fn savepoint_rescale(b: &DistinctBench, parallelism: u32) -> Result<()> {
    let (corpus, _) = input(b.keys, &b.data_dir)?;
    let lines = b.keys.div_ceil(10);
    let work = b.data_dir.join("rescale");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    println!(
        "Savepoint and rescale: WordCount over {} distinct words on RocksDB ({}), stopped with a savepoint at parallelism 1, resumed at {parallelism}, whole `weir run` processes",
        b.keys,
        b.memory_mb
            .first()
            .map_or("default budget".to_owned(), |mb| format!("{mb} MiB budget"))
    );
    let (first, stopped) = first_run(b, &work, &corpus, lines)?;
    let in_savepoint = savepoint_keys(&stopped.savepoint)?;
    let second = second_run(b, &work, &corpus, &stopped, parallelism)?;
    let got = digest_words(&work.join("out"))?;
    let want = expected(b.keys);
    if got != want {
        bail!(
            "the two runs' output differs from an unscaled run's: {} updates (want {}), digest {:x} (want {:x})",
            got.0,
            want.0,
            got.1,
            want.1
        );
    }
    println!("  {:<40} {:>9} {:>12}", "run", "wall s", "peak RSS");
    println!(
        "  {:<40} {:>9.2} {:>12}",
        "p=1, until stopped with a savepoint",
        first.wall.as_secs_f64(),
        super::mib(Some(first.peak_rss))
    );
    println!(
        "  {:<40} {:>9.2} {:>12}",
        format!("resumed at p={parallelism}, corpus again"),
        second.wall.as_secs_f64(),
        super::mib(Some(second.peak_rss))
    );
    println!(
        "  savepoint: {in_savepoint} keys (words and the generator's numbers), {:.1} MiB on disk, stop with savepoint took {:.2} s; output of both runs checked ({} updates)",
        dir_bytes(&stopped.savepoint) as f64 / f64::from(1 << 20),
        stopped.stop.as_secs_f64(),
        want.0
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
