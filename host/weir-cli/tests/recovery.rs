//! Exactly-once recovery of the `weir` process: a job checkpointing every
//! second is killed with SIGKILL at random moments, again and again, and
//! resumed each time with `weir run --restore`; its committed output must
//! equal a failure-free run's, with no record lost or repeated. Once for
//! the memory backend, once for RocksDB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

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

fn committed_lines(out: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(out).expect("output").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).expect("part file");
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines.sort();
    lines
}

fn has_checkpoint(chk: &Path) -> bool {
    std::fs::read_dir(chk)
        .is_ok_and(|rd| rd.flatten().any(|e| e.path().join("_metadata").is_file()))
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

fn run_args(job: &Path, out: &Path, chk: &Path, backend: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "run".into(),
        job.display().to_string(),
        "--output".into(),
        out.display().to_string(),
        "--checkpoint-interval".into(),
        "1s".into(),
        "--checkpoint-dir".into(),
        chk.display().to_string(),
        "--state-backend".into(),
        backend.into(),
        "--quiet".into(),
    ];
    if has_checkpoint(chk) {
        a.push("--restore".into());
        a.push(chk.display().to_string());
    }
    a
}

fn kill_and_resume(backend: &str, seed: u64) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let job = job(dir);
    let weir = env!("CARGO_BIN_EXE_weir");
    let runtime_dir = dir.join("run");

    // The failure-free run.
    let reference = dir.join("reference");
    let o = Command::new(weir)
        .args(["run", &job.display().to_string(), "--quiet", "--output"])
        .arg(&reference)
        .env("WEIR_RUNTIME_DIR", &runtime_dir)
        .output()
        .expect("weir runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = committed_lines(&reference);
    // WordCount's own invariant, independent of the job: each word's
    // updates are (w,1), (w,2), ... (w,n).
    let mut per_word: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for l in &want {
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
    assert!(
        want.len() > 1_000_000,
        "a long enough job: {} updates",
        want.len()
    );

    // Killed at random moments, resumed each time.
    let out = dir.join("out");
    let chk = dir.join("chk");
    let mut rng = Lcg(seed);
    let mut kills = 0;
    let started = Instant::now();
    while kills < 20 {
        let mut child = Command::new(weir)
            .args(run_args(&job, &out, &chk, backend))
            .env("WEIR_RUNTIME_DIR", &runtime_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weir starts");
        let wait = Duration::from_millis(400 + rng.next(2000));
        std::thread::sleep(wait);
        match child.try_wait().expect("status") {
            Some(status) => {
                let o = child.wait_with_output().expect("output");
                assert!(status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                panic!("the job finished after {kills} kills: make it longer");
            }
            None => {
                child.kill().expect("SIGKILL");
                let _ = child.wait();
                kills += 1;
            }
        }
    }
    // The last run goes to the end.
    let o = Command::new(weir)
        .args(run_args(&job, &out, &chk, backend))
        .env("WEIR_RUNTIME_DIR", &runtime_dir)
        .output()
        .expect("weir runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = committed_lines(&out);
    assert_eq!(
        got.len(),
        want.len(),
        "{backend}: {} committed updates, the failure-free run has {} ({kills} kills in {:.0?})",
        got.len(),
        want.len(),
        started.elapsed()
    );
    assert!(
        got == want,
        "{backend}: committed output differs from the failure-free run"
    );
    // No uncommitted leftovers once the job finished.
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "uncommitted files left: {hidden:?}");
}

#[test]
fn sigkill_twenty_times_memory_backend_output_is_exactly_once() {
    kill_and_resume("memory", 7);
}

#[test]
fn sigkill_twenty_times_rocksdb_backend_output_is_exactly_once() {
    kill_and_resume("rocksdb", 11);
}
