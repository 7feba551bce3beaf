//! Exactly-once recovery of the `weir` process: a job checkpointing every
//! second is killed with SIGKILL at random moments, again and again, and
//! resumed each time with `weir run --restore`; its committed output must
//! equal a failure-free run's, with no record lost or repeated. Once for
//! the memory backend, once for RocksDB, and once with the checkpoints on
//! a real S3-compatible server (moto).

mod common;

use common::moto::Moto;
use common::{committed_lines, root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// WordCount with a `ValueState` (emits the updated count of every
/// word) over a rate-limited generator, so the job runs long enough to be
/// killed many times.
fn job(dir: &Path) -> PathBuf {
    let component = root().join("functions-examples/target/wasm32-wasip2/release/wordcount.wasm");
    assert!(
        component.is_file(),
        "build the example functions first (scripts/test does)"
    );
    let text = format!(
        r#"
name = "recovery"
parallelism = 2
[parameters]
output = "out"
[components]
wc = "{}"
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 300000
rate = 10000.0
seed = 42
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "wc"
function = "count-with-state"
kind = "keyed-process"
input = {{ from = "tokenize", exchange = "key-by" }}
[[sinks]]
id = "out"
kind = "file"
path = "${{output}}"
input = "count"
"#,
        component.display()
    );
    let path = dir.join("recovery.toml");
    std::fs::write(&path, text).expect("job file");
    path
}

fn has_checkpoint(chk: &Path) -> bool {
    std::fs::read_dir(chk)
        .is_ok_and(|rd| rd.flatten().any(|e| e.path().join("_metadata").is_file()))
}

/// Where the killed runs keep their checkpoints.
struct Storage<'a> {
    /// A directory or `s3://` URL (`--checkpoint-dir`, `--restore`).
    location: String,
    /// What the `weir` processes need to reach it.
    env: Vec<(&'static str, String)>,
    /// Whether a complete checkpoint is there, seen from outside Weir.
    has_checkpoint: &'a dyn Fn() -> bool,
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `weir run` of `job` writing each of `outputs` (job parameters) to the
/// directory of that name under `dir`, restoring when a checkpoint exists.
fn run_args(job: &Path, dir: &Path, outputs: &[&str], chk: &Storage, backend: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), job.display().to_string()];
    for o in outputs {
        a.push(format!("--{o}"));
        a.push(dir.join(o).display().to_string());
    }
    a.extend([
        "--checkpoint-interval".into(),
        "1s".into(),
        "--checkpoint-dir".into(),
        chk.location.clone(),
        "--state-backend".into(),
        backend.into(),
        "--quiet".into(),
    ]);
    if (chk.has_checkpoint)() {
        a.push("--restore".into());
        a.push(chk.location.clone());
    }
    a
}

/// A child process, killed if the test ends before it does.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `job` once without failures into `reference/<output>`, then kills
/// it with SIGKILL 20 times at random moments, resuming each time with
/// `--restore`, and lets the last run finish into `<output>`; returns, per
/// output, the reference's and the killed runs' committed lines (sorted).
/// The killed runs checkpoint into `chk` (a directory `chk` under `dir`
/// when none).
fn kill_and_resume(
    dir: &Path,
    job: &Path,
    outputs: &[&str],
    backend: &str,
    seed: u64,
    chk: Option<&Storage>,
) -> Vec<(Vec<String>, Vec<String>)> {
    let weir = env!("CARGO_BIN_EXE_weir");
    let runtime_dir = dir.join("run");

    // The failure-free run.
    let reference = dir.join("reference");
    let mut args = vec![
        "run".to_owned(),
        job.display().to_string(),
        "--quiet".into(),
    ];
    for o in outputs {
        args.push(format!("--{o}"));
        args.push(reference.join(o).display().to_string());
    }
    let o = Command::new(weir)
        .args(&args)
        .env("WEIR_RUNTIME_DIR", &runtime_dir)
        .output()
        .expect("weir runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Killed at random moments, resumed each time.
    let local = dir.join("chk");
    let local_storage = Storage {
        location: local.display().to_string(),
        env: Vec::new(),
        has_checkpoint: &|| has_checkpoint(&local),
    };
    let chk = chk.unwrap_or(&local_storage);
    let mut rng = Lcg(seed);
    let mut kills = 0;
    let started = Instant::now();
    while kills < 20 {
        let mut child = Running(
            Command::new(weir)
                .args(run_args(job, dir, outputs, chk, backend))
                .env("WEIR_RUNTIME_DIR", &runtime_dir)
                .envs(chk.env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("weir starts"),
        );
        let wait = Duration::from_millis(400 + rng.next(2000));
        std::thread::sleep(wait);
        match child.0.try_wait().expect("status") {
            Some(status) => {
                let mut err = String::new();
                if let Some(mut e) = child.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                assert!(status.success(), "{err}");
                panic!("the job finished after {kills} kills: make it longer");
            }
            None => {
                child.0.kill().expect("SIGKILL");
                let _ = child.0.wait();
                kills += 1;
            }
        }
    }
    // The last run goes to the end.
    let o = Command::new(weir)
        .args(run_args(job, dir, outputs, chk, backend))
        .env("WEIR_RUNTIME_DIR", &runtime_dir)
        .envs(chk.env.iter().cloned())
        .output()
        .expect("weir runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("{backend}: {kills} kills in {:.0?}", started.elapsed());
    outputs
        .iter()
        .map(|o| {
            let out = dir.join(o);
            // No uncommitted leftovers once the job finished.
            let hidden: Vec<_> = std::fs::read_dir(&out)
                .expect("out")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
                .collect();
            assert!(hidden.is_empty(), "uncommitted files left: {hidden:?}");
            (committed_lines(&reference.join(o)), committed_lines(&out))
        })
        .collect()
}

/// WordCount's own invariant, independent of the job: each word's updates
/// are (w,1), (w,2), ... (w,n).
fn check_word_counts(lines: &[String]) {
    let mut per_word: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for l in lines {
        let inner = l.trim_start_matches('(').trim_end_matches(')');
        let (w, c) = inner.rsplit_once(',').expect("(word,count)");
        per_word
            .entry(w)
            .or_default()
            .push(c.parse().expect("count"));
    }
    for (w, mut counts) in per_word {
        counts.sort_unstable();
        assert!(
            counts.iter().enumerate().all(|(i, c)| *c == i as u64 + 1),
            "word {w}: {counts:?}"
        );
    }
}

fn wordcount_exactly_once(backend: &str, seed: u64, chk: Option<&Storage>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = job(tmp.path());
    let [(want, got)] = &kill_and_resume(tmp.path(), &job, &["output"], backend, seed, chk)[..]
    else {
        panic!("one output");
    };
    check_word_counts(want);
    assert!(
        want.len() > 1_000_000,
        "a long enough job: {} updates",
        want.len()
    );
    assert_eq!(
        got.len(),
        want.len(),
        "{backend}: {} committed updates, the failure-free run has {}",
        got.len(),
        want.len()
    );
    assert!(
        got == want,
        "{backend}: committed output differs from the failure-free run"
    );
}

#[test]
fn sigkill_twenty_times_memory_backend_output_is_exactly_once() {
    wordcount_exactly_once("memory", 7, None);
}

#[test]
fn sigkill_twenty_times_rocksdb_backend_output_is_exactly_once() {
    wordcount_exactly_once("rocksdb", 11, None);
}

/// The bar of object storage: checkpoints on S3 (a real moto server),
/// every run resumed from `--restore s3://...`, the RocksDB backend's
/// incremental files uploaded there too.
#[test]
fn sigkill_twenty_times_checkpoints_on_s3_output_is_exactly_once() {
    let moto = Moto::start();
    let mut env = moto.env();
    // RocksDB's files go up in parts (multipart uploads), as large ones do.
    env.push(("WEIR_S3_MULTIPART_BYTES", "2048".into()));
    let storage = Storage {
        location: moto.url("wordcount/chk"),
        env,
        has_checkpoint: &|| moto.has_checkpoint("wordcount/chk"),
    };
    wordcount_exactly_once("rocksdb", 13, Some(&storage));
    let multipart = moto
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.contains("/shared/") && r.contains("uploads"))
        .count();
    assert!(multipart > 0, "no multipart upload");
    // What is left there: the retained checkpoints, complete, and the
    // RocksDB files they share.
    let objects = moto.list("wordcount/chk");
    let metadata: Vec<&String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with("/_metadata"))
        .collect();
    assert!(!metadata.is_empty(), "no checkpoint on S3: {objects:?}");
    assert!(
        objects.iter().any(|(k, _)| k.contains("/shared/")),
        "RocksDB's shared files: {objects:?}"
    );
}

/// Numbers 0..300000 at 10,000 a second; multiples of 7 fail the function
/// and go to the dead-letter sink.
#[test]
fn sigkill_twenty_times_dead_letters_are_exactly_once_too() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let component = root().join("functions-examples/target/wasm32-wasip2/release/hostile.wasm");
    let text = format!(
        r#"
name = "sevens"
parallelism = 2
[parameters]
output = "out"
rejected = "rejected"
[components]
h = "{}"
[[sources]]
id = "numbers"
kind = "datagen"
generator = "sequence"
count = 300000
rate = 10000.0
[[operators]]
id = "check"
component = "h"
function = "refuse-sevens"
kind = "map"
input = "numbers"
on_error = "dead-letter"
[[sinks]]
id = "out"
kind = "file"
path = "${{output}}"
input = "check"
[[sinks]]
id = "rejected"
kind = "file"
path = "${{rejected}}"
input = {{ from = "check", output = "dead-letter" }}
"#,
        component.display()
    );
    let job = dir.join("sevens.toml");
    std::fs::write(&job, text).expect("job file");
    let results = kill_and_resume(dir, &job, &["output", "rejected"], "memory", 5, None);
    let [(want_out, got_out), (want_bad, got_bad)] = &results[..] else {
        panic!("two outputs");
    };
    // Independently: every number once, in the output or rejected.
    let mut expect_out: Vec<String> = (0..300_000u64)
        .filter(|n| n % 7 != 0)
        .map(|n| n.to_string())
        .collect();
    expect_out.sort();
    assert_eq!(want_out, &expect_out);
    assert_eq!(got_out, &expect_out, "the output is exactly once");
    let mut rejected: Vec<u64> = got_bad
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a dead letter");
            assert_eq!(v["operator"], "check");
            v["value"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("value")
        })
        .collect();
    rejected.sort_unstable();
    let expect_bad: Vec<u64> = (0..300_000u64).filter(|n| n % 7 == 0).collect();
    assert_eq!(rejected, expect_bad, "every dead letter exactly once");
    assert_eq!(want_bad.len(), got_bad.len());
}
