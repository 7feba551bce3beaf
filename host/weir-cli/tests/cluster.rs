//! The cluster as users run it: `weir cluster start` (a coordinator and
//! worker processes), `weir submit`, the REST API, workers killed with
//! SIGKILL and replaced with `weir cluster add-worker`. Every process a
//! test starts is stopped when it ends, also when it fails.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

fn wordcount_wasm() -> PathBuf {
    let c = root().join("functions-examples/target/wasm32-wasip2/release/wordcount.wasm");
    assert!(
        c.is_file(),
        "build the example functions first (scripts/test does)"
    );
    c
}

/// A local cluster in `dir`, stopped (every process) when dropped.
struct Cluster {
    dir: PathBuf,
    url: String,
}

impl Cluster {
    fn start(dir: &Path, workers: u32, slots: u32) -> Cluster {
        Self::start_with(dir, workers, slots, &[])
    }

    fn start_with(dir: &Path, workers: u32, slots: u32, extra: &[&str]) -> Cluster {
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

    fn get_text(&self, path: &str) -> String {
        let mut r = ureq::get(format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        r.body_mut().read_to_string().expect("body")
    }

    fn get(&self, path: &str) -> Value {
        let mut r = ureq::get(format!("{}{path}", self.url))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON")
    }

    fn worker_pids(&self) -> Vec<(PathBuf, i32)> {
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
    fn kill_worker(&self, pid_file: &Path, pid: i32) {
        let s = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(s.success());
        let _ = std::fs::remove_file(pid_file);
    }

    fn add_worker(&self, slots: u32) {
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

    fn log_tail(&self) -> String {
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

fn submit(c: &Cluster, job: &Path, args: &[&str]) -> std::process::Output {
    weir()
        .arg("submit")
        .arg(job)
        .args(["--coordinator", &c.url, "--wait"])
        .args(args)
        .output()
        .expect("weir submit")
}

fn committed_lines(out: &Path) -> Vec<String> {
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
fn final_counts(lines: &[String]) -> BTreeMap<String, u64> {
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

#[test]
fn wordcount_on_three_workers_equals_an_independent_count_with_sub_tasks_on_several_workers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("input.txt");
    let mut text = String::new();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut x: u64 = 7;
    for _ in 0..20_000 {
        let mut line = Vec::new();
        for _ in 0..6 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let w = format!("w{}", (x >> 33) % 500);
            *expected.entry(w.clone()).or_default() += 1;
            line.push(w);
        }
        text.push_str(&line.join(" "));
        text.push('\n');
    }
    std::fs::write(&input, text).expect("input");
    let c = Cluster::start(tmp.path(), 3, 2);
    assert_eq!(c.get("/overview")["taskmanagers"], 3);
    let out = tmp.path().join("out");
    let o = submit(
        &c,
        &root().join("functions-examples/wordcount/wordcount.toml"),
        &[
            "--parallelism",
            "4",
            "--input",
            &input.display().to_string(),
            "--output",
            &out.display().to_string(),
        ],
    );
    assert!(
        o.status.success(),
        "submit: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.log_tail()
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let id = stdout.lines().last().expect("a job id").trim().to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let lines = committed_lines(&out);
    assert_eq!(
        lines.len() as u64,
        expected.values().sum::<u64>(),
        "one update per word read"
    );
    assert_eq!(final_counts(&lines), expected);

    let job = c.get(&format!("/jobs/{id}"));
    assert_eq!(job["state"], "FINISHED");
    let mut workers_used = std::collections::BTreeSet::new();
    for v in job["vertices"].as_array().expect("vertices") {
        assert_eq!(v["parallelism"], 4);
        let vid = v["id"].as_str().expect("vertex id");
        let detail = c.get(&format!("/jobs/{id}/vertices/{vid}"));
        for s in detail["subtasks"].as_array().expect("subtasks") {
            workers_used.insert(s["taskmanager-id"].as_str().expect("tm").to_owned());
        }
    }
    assert!(workers_used.len() >= 2, "sub-tasks on {workers_used:?}");
    let sink_vertex = job["vertices"]
        .as_array()
        .and_then(|v| v.last())
        .expect("last vertex");
    assert_eq!(
        sink_vertex["metrics"]["write-records"].as_u64(),
        Some(0),
        "a sink writes no records downstream"
    );
    let source_vertex = &job["vertices"][0];
    assert_eq!(
        source_vertex["metrics"]["write-records"].as_u64(),
        Some(expected.values().sum::<u64>()),
        "tokenize emitted one record per word"
    );
    logs_are_served_as_json_lines(&c, &id, &workers_used);
}

/// Every line of a log is a JSON object; its messages.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The coordinator's log and each worker's, through the REST API: JSON
/// lines, the workers' sub-task lines inside a span naming the job, the
/// operator and the sub-task.
fn logs_are_served_as_json_lines(
    c: &Cluster,
    id: &str,
    workers: &std::collections::BTreeSet<String>,
) {
    let coordinator = json_lines(&c.get_text("/jobmanager/log"));
    assert!(
        coordinator.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(id) && m.contains("finished"))),
        "the coordinator logged the job's end"
    );
    assert_eq!(
        c.get("/jobmanager/logs")["logs"][0]["name"],
        "coordinator.log"
    );
    let mut spans = Vec::new();
    for w in workers {
        for l in json_lines(&c.get_text(&format!("/taskmanagers/{w}/log"))) {
            if l["fields"]["message"] == "sub-task running" {
                spans.push(l["span"].clone());
            }
        }
    }
    // One line for each sub-task of each vertex.
    let tasks: u64 = c.get(&format!("/jobs/{id}"))["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .filter_map(|v| v["parallelism"].as_u64())
        .sum();
    assert_eq!(spans.len() as u64, tasks, "{spans:?}");
    for s in &spans {
        assert_eq!(s["name"], "subtask", "{s}");
        assert_eq!(s["job"], "wordcount", "{s}");
        assert!(s["operator"].is_string() && s["subtask"].is_number(), "{s}");
    }
    let r = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(format!("{}/taskmanagers/nobody/log", c.url))
        .call()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 404);
}

/// WordCount with a `ValueState` over a rate-limited generator, so the
/// job runs long enough for workers to die under it.
fn generated_job(dir: &Path) -> PathBuf {
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
count = 160000
rate = 4000.0
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

#[test]
fn workers_killed_with_sigkill_during_checkpoints_lose_and_repeat_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = generated_job(tmp.path());
    // The failure-free reference, on the embedded runner.
    let reference = tmp.path().join("reference");
    let o = weir()
        .arg("run")
        .arg(&job)
        .args(["--quiet", "--output"])
        .arg(&reference)
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let c = Cluster::start(tmp.path(), 3, 2);
    let out = tmp.path().join("out");
    let chk = tmp.path().join("chk");
    let mut child = weir()
        .arg("submit")
        .arg(&job)
        .args([
            "--coordinator",
            &c.url,
            "--wait",
            "--checkpoint-interval",
            "1s",
        ])
        .arg("--checkpoint-dir")
        .arg(&chk)
        .arg("--output")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("submit");
    let guard = KillOnDrop(&mut child);
    // Before the first checkpoint, during later ones, and twice in a row.
    let schedule = [600u64, 2300, 2200, 300, 2600, 1900];
    let started = Instant::now();
    let mut kills = 0;
    let mut x: u64 = 99;
    for wait in schedule {
        std::thread::sleep(Duration::from_millis(wait));
        let pids = c.worker_pids();
        if pids.is_empty() {
            break;
        }
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (file, pid) = &pids[(x >> 33) as usize % pids.len()];
        c.kill_worker(file, *pid);
        kills += 1;
        c.add_worker(2);
    }
    let status = guard.wait_for(Duration::from_secs(180));
    let (stdout, stderr) = status.1;
    assert!(
        status.0,
        "the job did not finish: {stderr}\n{}",
        c.log_tail()
    );
    let id = stdout.lines().last().unwrap_or_default().trim().to_owned();
    let job_info = c.get(&format!("/jobs/{id}"));
    assert_eq!(job_info["state"], "FINISHED");
    let exceptions = c.get(&format!("/jobs/{id}/exceptions"));
    eprintln!(
        "{kills} workers killed in {:.1?}; {} restarts",
        started.elapsed(),
        stderr.matches("RESTARTING").count()
    );
    let checkpoints = c.get(&format!("/jobs/{id}/checkpoints"));
    assert!(
        checkpoints["counts"]["completed"].as_u64() > Some(0),
        "{checkpoints}"
    );
    let failures: Vec<&str> = exceptions["exceptionHistory"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["stacktrace"].as_str())
        .collect();
    assert!(
        failures.iter().filter(|f| f.contains("was lost")).count() >= 2,
        "the kills made the attempts fail: {failures:?}"
    );
    let got = committed_lines(&out);
    let want = committed_lines(&reference);
    assert_eq!(
        got.len(),
        want.len(),
        "as many updates as the failure-free run"
    );
    assert!(
        got == want,
        "the committed updates differ from the failure-free run's"
    );
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "uncommitted files left: {hidden:?}");
}

/// A child process killed if the test ends before it does.
struct KillOnDrop<'a>(&'a mut std::process::Child);

impl KillOnDrop<'_> {
    /// Waits for the child; (success, (stdout, stderr)).
    fn wait_for(self, timeout: Duration) -> (bool, (String, String)) {
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

#[test]
fn the_rest_api_answers_bad_requests_with_flink_errors_and_keeps_serving() {
    let tmp = tempfile::tempdir().expect("tmp");
    let c = Cluster::start(tmp.path(), 1, 1);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let cases: Vec<(&str, &str, Option<&[u8]>, u16)> = vec![
        ("GET", "/jobs/00000000000000000000000000000000", None, 404),
        ("GET", "/no/such/endpoint", None, 404),
        ("POST", "/jars/nope_x.zip/run", Some(b"{}"), 404),
        ("POST", "/jars/upload", Some(b"not multipart"), 400),
        ("POST", "/registry/bad name", Some(b"\0asm...."), 400),
        ("POST", "/registry/fine", Some(b"not wasm"), 400),
    ];
    let mut seen: HashMap<String, u16> = HashMap::new();
    for (method, path, body, want) in cases {
        let url = format!("{}{}", c.url, path.replace(' ', "%20"));
        let r = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            (_, Some(b)) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b),
            _ => agent.post(&url).send_empty(),
        };
        let mut r = r.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let v: Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON");
        assert_eq!(status, want, "{method} {path}: {v}");
        assert!(
            v["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {v}"
        );
        seen.insert(path.to_owned(), status);
    }
    assert_eq!(c.get("/overview")["taskmanagers"], 1, "still serving");
}

#[test]
fn a_job_runs_a_component_uploaded_to_the_registry_by_name_and_by_digest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let c = Cluster::start(tmp.path(), 1, 2);
    let o = weir()
        .arg("upload")
        .arg(wordcount_wasm())
        .args(["--name", "wc", "--coordinator", &c.url])
        .output()
        .expect("upload");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let digest = reference
        .strip_prefix("registry:wc@")
        .unwrap_or_else(|| panic!("{reference}"))
        .to_owned();
    assert_eq!(digest.len(), 64, "a sha256: {digest}");
    let input = tmp.path().join("in.txt");
    std::fs::write(&input, "to be or not to be\nthat is the question\n").expect("input");
    let expected: BTreeMap<String, u64> = [
        ("be", 2),
        ("is", 1),
        ("not", 1),
        ("or", 1),
        ("question", 1),
        ("that", 1),
        ("the", 1),
        ("to", 2),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_owned(), n))
    .collect();
    for (i, name) in ["registry:wc".to_owned(), format!("registry:wc@{digest}")]
        .iter()
        .enumerate()
    {
        let text =
            std::fs::read_to_string(root().join("functions-examples/wordcount/wordcount.toml"))
                .expect("job")
                .replace(
                    "wordcount = \"../target/wasm32-wasip2/release/wordcount.wasm\"",
                    &format!("wordcount = \"{name}\""),
                );
        assert!(
            text.contains(name.as_str()),
            "the job file names the registry"
        );
        let job = tmp.path().join(format!("registry-{i}.toml"));
        std::fs::write(&job, text).expect("job file");
        let out = tmp.path().join(format!("out-{i}"));
        let o = submit(
            &c,
            &job,
            &[
                "--input",
                &input.display().to_string(),
                "--output",
                &out.display().to_string(),
            ],
        );
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(final_counts(&committed_lines(&out)), expected, "{name}");
    }
    // An unknown name is refused when submitted, naming the fix.
    let text = std::fs::read_to_string(root().join("functions-examples/wordcount/wordcount.toml"))
        .expect("job")
        .replace(
            "wordcount = \"../target/wasm32-wasip2/release/wordcount.wasm\"",
            "wordcount = \"registry:nothing\"",
        );
    let job = tmp.path().join("unknown.toml");
    std::fs::write(&job, text).expect("job file");
    let o = submit(&c, &job, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("weir upload"), "{err}");
}

/// A process stopped (SIGKILL) when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_cluster_with_a_token_refuses_changes_and_workers_without_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let token = tmp.path().join("token");
    std::fs::write(&token, "t0k3n-for-this-test\n").expect("token");
    let c = Cluster::start_with(
        tmp.path(),
        2,
        1,
        &["--auth-token-file", &token.display().to_string()],
    );
    // Both workers registered and beat over gRPC with the token; reads
    // stay open.
    assert_eq!(c.get("/overview")["taskmanagers"], 2);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let denied = |r: Result<ureq::http::Response<ureq::Body>, ureq::Error>| {
        let mut r = r.expect("answered");
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let v: Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON");
        assert!(
            v["errors"][0].as_str().is_some_and(|m| m.contains("token")),
            "{v}"
        );
    };
    let u = &c.url;
    let jid = "00000000000000000000000000000000";
    denied(
        agent
            .patch(format!("{u}/jobs/{jid}?mode=cancel"))
            .send_empty(),
    );
    denied(
        agent
            .post(format!("{u}/jobs/{jid}/savepoints"))
            .header("Authorization", "Bearer wrong")
            .send_empty(),
    );
    denied(agent.post(format!("{u}/jars/upload")).send_empty());
    // With the token, the request gets through (to a 404: no such job).
    let r = agent
        .patch(format!("{u}/jobs/{jid}?mode=cancel"))
        .header("Authorization", "Bearer t0k3n-for-this-test")
        .send_empty()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 404);

    // A submission without the token is refused; with it, WordCount runs
    // across both workers (the data plane carries the token too).
    let input = tmp.path().join("in.txt");
    std::fs::write(&input, "a b a\nc a b\n").expect("input");
    let out = tmp.path().join("out");
    let job = root().join("functions-examples/wordcount/wordcount.toml");
    let args = [
        "--parallelism",
        "2",
        "--input",
        &input.display().to_string(),
        "--output",
        &out.display().to_string(),
    ];
    let o = submit(&c, &job, &args);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("token"),
        "{o:?}"
    );
    let o = weir()
        .arg("submit")
        .arg(&job)
        .args(["--coordinator", u, "--wait"])
        .args(args)
        .env("WEIR_AUTH_TOKEN_FILE", &token)
        .output()
        .expect("submit");
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.log_tail()
    );
    let counts = final_counts(&committed_lines(&out));
    let expected: BTreeMap<String, u64> = [("a", 3), ("b", 2), ("c", 1)]
        .map(|(w, n)| (w.to_owned(), n))
        .into();
    assert_eq!(counts, expected);

    // A worker without the token is refused at registration.
    let rpc: Value = serde_json::from_str(
        &std::fs::read_to_string(c.dir.join("coordinator/addresses.json")).expect("addresses"),
    )
    .expect("JSON");
    let log = tmp.path().join("intruder.log");
    let _intruder = Killed(
        weir()
            .args([
                "--log-file",
                &log.display().to_string(),
                "worker",
                "--coordinator",
            ])
            .arg(rpc["rpc"].as_str().expect("rpc"))
            .arg("--data-dir")
            .arg(tmp.path().join("intruder"))
            .env_remove("WEIR_AUTH_TOKEN_FILE")
            .spawn()
            .expect("worker"),
    );
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("refused this worker")) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no refusal logged"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        c.get("/overview")["taskmanagers"],
        2,
        "the intruder is not a worker"
    );
}
