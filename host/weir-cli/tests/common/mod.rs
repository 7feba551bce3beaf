//! What the cluster tests share: the `weir` binary, a local cluster
//! started with `weir cluster start` and stopped (every process) when
//! dropped, submitting, reading committed output.
#![allow(dead_code)] // each test binary uses part of it

pub mod kafka;
pub mod moto;
pub mod statefun;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where `scripts/setup-test-deps` installs test tools.
pub fn tool_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("weir-tools")
}

pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

pub fn wordcount_wasm() -> PathBuf {
    let c = root().join("functions-examples/target/wasm32-wasip2/release/wordcount.wasm");
    assert!(
        c.is_file(),
        "build the example functions first (scripts/test does)"
    );
    c
}

/// A local cluster in `dir`, stopped (every process) when dropped.
pub struct Cluster {
    pub dir: PathBuf,
    pub url: String,
}

impl Cluster {
    pub fn start(dir: &Path, workers: u32, slots: u32) -> Cluster {
        Self::start_with(dir, workers, slots, &[])
    }

    pub fn start_with(dir: &Path, workers: u32, slots: u32, extra: &[&str]) -> Cluster {
        Self::start_env(dir, workers, slots, extra, &[])
    }

    /// A cluster whose processes also get `env`.
    pub fn start_env(
        dir: &Path,
        workers: u32,
        slots: u32,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Cluster {
        let dir = dir.join("cluster");
        let mut c = Cluster {
            dir: dir.clone(),
            url: String::new(),
        };
        let o = weir()
            .args(["cluster", "start", "--workers", &workers.to_string()])
            .args(["--slots", &slots.to_string(), "--rest-port", "0", "--dir"])
            .arg(&dir)
            .args(extra)
            .env("WEIR_HEARTBEAT_TIMEOUT_MS", "3000")
            // JSON lines, which the logs test reads through the REST API.
            .env("WEIR_LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("weir cluster start");
        assert!(
            o.status.success(),
            "cluster start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        c.url = std::fs::read_to_string(dir.join("rest-url"))
            .expect("rest-url")
            .trim()
            .to_owned();
        c
    }

    /// Asserts that a command against the cluster succeeded, showing its
    /// standard error and the cluster's log tails if not.
    pub fn assert_ok(&self, o: &std::process::Output, what: &str) {
        assert!(
            o.status.success(),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log_tail()
        );
    }

    pub fn get_text(&self, path: &str) -> String {
        let mut r = ureq::get(format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        r.body_mut().read_to_string().expect("body")
    }

    pub fn get(&self, path: &str) -> Value {
        let mut r = ureq::get(format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON")
    }

    pub fn worker_pids(&self) -> Vec<(PathBuf, i32)> {
        let mut v: Vec<(PathBuf, i32)> = std::fs::read_dir(&self.dir)
            .expect("cluster dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("worker-"))
                    && p.extension().is_some_and(|x| x == "pid")
            })
            .filter_map(|p| {
                let pid = std::fs::read_to_string(&p).ok()?.trim().parse().ok()?;
                Some((p, pid))
            })
            .collect();
        v.sort();
        v
    }

    /// Kills worker process `pid` with SIGKILL.
    pub fn kill_worker(&self, pid_file: &Path, pid: i32) {
        let s = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(s.success());
        let _ = std::fs::remove_file(pid_file);
    }

    pub fn add_worker(&self, slots: u32) {
        let o = weir()
            .args([
                "cluster",
                "add-worker",
                "--slots",
                &slots.to_string(),
                "--dir",
            ])
            .arg(&self.dir)
            .output()
            .expect("add-worker");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.join("log"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("== {}\n", e.path().display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = weir()
            .args(["cluster", "stop", "--dir"])
            .arg(&self.dir)
            .output();
    }
}

pub fn submit(c: &Cluster, job: &Path, args: &[&str]) -> std::process::Output {
    weir()
        .arg("submit")
        .arg(job)
        .args(["--coordinator", &c.url, "--wait"])
        .args(args)
        .output()
        .expect("weir submit")
}

/// Runs `job` on the embedded runner, without failures, into `out`: the
/// reference the cluster's runs are compared with.
pub fn reference_run(job: &Path, out: &Path) {
    let o = weir()
        .arg("run")
        .arg(job)
        .args(["--quiet", "--output"])
        .arg(out)
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

pub fn committed_lines(out: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(out).expect("output").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).expect("part");
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines.sort();
    lines
}

/// The last count of each word in `(word,count)` update lines.
pub fn final_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for l in lines {
        let inner = l.trim_start_matches('(').trim_end_matches(')');
        let (w, n) = inner.rsplit_once(',').expect("(word,count)");
        let n: u64 = n.parse().expect("count");
        let e = m.entry(w.to_owned()).or_insert(0);
        *e = (*e).max(n);
    }
    m
}

/// WordCount with a `ValueState` over a rate-limited generator, so the
/// job runs long enough for workers to die under it.
pub fn generated_job(dir: &Path) -> PathBuf {
    generated_job_sized(dir, 160_000, 4000.0)
}

/// [`generated_job`] with `count` lines at `rate` a second.
pub fn generated_job_sized(dir: &Path, count: u64, rate: f64) -> PathBuf {
    let text = format!(
        r#"
name = "failover"
parallelism = 4
[parameters]
output = "out"
[components]
wc = "{}"
[restart]
strategy = "fixed-delay"
attempts = 100
delay_ms = 200
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = {count}
rate = {rate:?}
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
        wordcount_wasm().display()
    );
    let path = dir.join("failover.toml");
    std::fs::write(&path, text).expect("job file");
    path
}

/// A child process killed if the test ends before it does.
pub struct KillOnDrop<'a>(pub &'a mut std::process::Child);

impl KillOnDrop<'_> {
    /// Waits for the child; (success, (stdout, stderr)).
    pub fn wait_for(self, timeout: Duration) -> (bool, (String, String)) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                let mut out = String::new();
                let mut err = String::new();
                if let Some(mut o) = self.0.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut o, &mut out);
                }
                if let Some(mut e) = self.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.success(), (out, err));
            }
            if started.elapsed() > timeout {
                return (false, (String::new(), "timed out".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A small deterministic random sequence (kill moments).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number in `0..n`.
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The id of the newest complete checkpoint (one with `_metadata`) in the
/// checkpoint directory `chk`, if any.
pub fn newest_checkpoint(chk: &Path) -> Option<u64> {
    std::fs::read_dir(chk)
        .ok()?
        .flatten()
        .filter(|e| e.path().join("_metadata").is_file())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("chk-")?
                .parse()
                .ok()
        })
        .max()
}
