//! Stateful Functions in the tests: functions written with the published
//! StateFun Python SDK, served by aiohttp from the venv that
//! `scripts/setup-test-deps` makes (killed when dropped), the ledger app's
//! input, and its reference, computed here from the input alone.

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_STATEFUN_PYTHON") {
        return PathBuf::from(p);
    }
    super::tool_cache().join("venv-statefun/bin/python")
}

/// A Python function server, killed when dropped.
pub struct PyFunctions {
    child: Child,
    /// Its endpoint URL.
    pub url: String,
}

impl PyFunctions {
    /// Serves `tests/statefun/<script>` on a free port.
    pub fn start(script: &str) -> PyFunctions {
        Self::start_env(script, &[])
    }

    /// [`PyFunctions::start`] with environment variables for the script.
    pub fn start_env(script: &str, env: &[(&str, String)]) -> PyFunctions {
        let py = python();
        assert!(
            py.is_file(),
            "{} is missing: run scripts/setup-test-deps (or set WEIR_STATEFUN_PYTHON)",
            py.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/statefun")
            .join(script);
        let child = Command::new(py)
            .arg(path)
            .arg(port.to_string())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .expect("python starts");
        let server = PyFunctions {
            child,
            url: format!("http://127.0.0.1:{port}/statefun"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{script} did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

impl Drop for PyFunctions {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The module of the ledger app: its endpoint, a file ingress and a file
/// egress, with `${input}` and `${output}` parameters.
pub fn ledger_module(dir: &Path, url: &str) -> PathBuf {
    let text = format!(
        r#"kind: io.statefun.endpoints.v2/http
spec:
  functions: example/*
  urlPathTemplate: {url}
  maxNumBatchRequests: 50
  transport:
    type: io.statefun.transports.v1/async
    call: 30s
    connect: 5s
---
kind: weir.io/file-ingress.v1
spec:
  id: example/amounts
  path: ${{input}}
---
kind: weir.io/file-egress.v1
spec:
  id: example/out
  path: ${{output}}
"#
    );
    let path = dir.join("module.yaml");
    std::fs::write(&path, text).expect("module");
    path
}

/// Ingress lines for `users` users, each sent an even number of amounts
/// (so that every "late" message is cancelled), shuffled across users.
pub fn ledger_input(dir: &Path, users: u32, seed: u64) -> (PathBuf, Vec<(String, i64)>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut queues: Vec<(String, u32)> = (0..users)
        .map(|u| (format!("u{u}"), 2 * rng.random_range(1..=15u32)))
        .collect();
    let mut sent = Vec::new();
    while !queues.is_empty() {
        let i = rng.random_range(0..queues.len());
        let amount = rng.random_range(1..=1000i64);
        sent.push((queues[i].0.clone(), amount));
        queues[i].1 -= 1;
        if queues[i].1 == 0 {
            queues.swap_remove(i);
        }
    }
    let text: String = sent
        .iter()
        .map(|(u, a)| {
            format!(
                "{}\n",
                json!({"target": format!("example/user/{u}"), "type": "io.statefun.types/long", "value": a})
            )
        })
        .collect();
    let path = dir.join("amounts.jsonl");
    std::fs::write(&path, text).expect("input");
    (path, sent)
}

/// What the ledger's egress must hold, as sorted compact JSON values:
/// every user line and reminder exactly, every region count 1..=n with
/// its final sum on the last (the sums in between depend on the order in
/// which users' amounts reach a region, so only the last is fixed).
pub fn ledger_reference(sent: &[(String, i64)]) -> (Vec<String>, BTreeMap<String, (u64, i64)>) {
    let mut lines = Vec::new();
    let mut users: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut regions: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for (u, a) in sent {
        let e = users.entry(u).or_default();
        e.0 += 1;
        e.1 += a;
        lines.push(json!({"user": u, "count": e.0, "total": e.1}).to_string());
        if e.0 % 10 == 0 {
            lines.push(json!({"user": u, "reminder": e.0}).to_string());
        }
        let n: u32 = u[1..].parse().expect("user number");
        let r = regions.entry((n % 5).to_string()).or_default();
        r.0 += 1;
        r.1 += a;
    }
    lines.sort();
    (lines, regions)
}

/// Checks committed egress lines against the reference.
pub fn check_ledger(egress: &[String], sent: &[(String, i64)]) {
    let (want_users, want_regions) = ledger_reference(sent);
    let mut users = Vec::new();
    let mut regions: BTreeMap<String, Vec<(u64, i64)>> = BTreeMap::new();
    for l in egress {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["egress"], "example/out", "{l}");
        assert_eq!(v["type"], "example/Json", "{l}");
        let value = &v["value"];
        assert!(
            value.get("late").is_none(),
            "a cancelled message was delivered: {l}"
        );
        if let Some(r) = value.get("region").and_then(Value::as_str) {
            let n = value["n"].as_u64().expect("n");
            let s = value["sum"].as_i64().expect("sum");
            regions.entry(r.to_owned()).or_default().push((n, s));
        } else {
            users.push(value.to_string());
        }
    }
    users.sort();
    assert_eq!(users.len(), want_users.len(), "user lines");
    assert!(
        users == want_users,
        "the user lines differ from the reference"
    );
    assert_eq!(regions.len(), want_regions.len());
    for (r, (n, sum)) in &want_regions {
        let mut got = regions.remove(r).unwrap_or_default();
        got.sort_unstable();
        let counts: Vec<u64> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            counts,
            (1..=*n).collect::<Vec<u64>>(),
            "region {r}: each count once"
        );
        assert_eq!(got.last().map(|g| g.1), Some(*sum), "region {r}: final sum");
    }
}

/// The published StateFun SDKs that the examples in
/// `functions-examples/statefun` are written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    Python,
    JavaScript,
    Java,
    Go,
}

impl Sdk {
    /// The name of the example's subdirectory (and of the runner's argument).
    pub fn dir(self) -> &'static str {
        match self {
            Sdk::Python => "python",
            Sdk::JavaScript => "javascript",
            Sdk::Java => "java",
            Sdk::Go => "go",
        }
    }
}

/// A free port on the loopback interface (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The last lines of a log file.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Waits until `port` accepts connections, failing if `child` ends first.
fn wait_for_port(child: &mut Child, port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before listening:\n{}",
                log_tail(log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 60 s:\n{}",
            log_tail(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A function server of one of the StateFun examples, written with one of
/// the SDKs and served as its users serve it (aiohttp, Node's http,
/// Undertow, net/http), as `scripts/setup-statefun-sdks` installed and
/// built it; killed when dropped. Its output goes to `log`.
pub struct FunctionServer {
    child: Child,
    /// Its endpoint URL.
    pub url: String,
    /// Its standard output and error.
    pub log: PathBuf,
}

impl FunctionServer {
    /// Serves `functions-examples/statefun/<example>/<sdk>` on a free port,
    /// logging to a file in `dir`.
    pub fn example(example: &str, sdk: Sdk, dir: &Path) -> FunctionServer {
        let src = super::root()
            .join("functions-examples/statefun")
            .join(example)
            .join(sdk.dir());
        let built = super::tool_cache().join("statefun-sdks").join(example);
        let port = free_port();
        let (program, needs) = match sdk {
            Sdk::Python => (python(), None),
            Sdk::JavaScript => (
                PathBuf::from("node"),
                Some(built.join("javascript/node_modules")),
            ),
            Sdk::Java => (
                PathBuf::from("java"),
                Some(built.join(format!("java/{example}.jar"))),
            ),
            Sdk::Go => {
                let bin = built.join(format!("go/{example}"));
                (bin.clone(), Some(bin))
            }
        };
        let installed = needs.as_deref().unwrap_or(&program);
        assert!(
            installed.exists(),
            "{} is missing: run scripts/setup-statefun-sdks {}",
            installed.display(),
            sdk.dir()
        );
        let mut cmd = Command::new(&program);
        match sdk {
            Sdk::Python => {
                cmd.arg(src.join("functions.py"));
            }
            Sdk::JavaScript => {
                cmd.arg(src.join("functions.js"))
                    .env("NODE_PATH", built.join("javascript/node_modules"));
            }
            Sdk::Java => {
                cmd.arg("-jar")
                    .arg(built.join(format!("java/{example}.jar")));
            }
            Sdk::Go => {}
        }
        let log = dir.join(format!("{example}-{}.log", sdk.dir()));
        let out = std::fs::File::create(&log).expect("server log");
        let err = out.try_clone().expect("server log");
        let child = cmd
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        let mut server = FunctionServer {
            child,
            url: format!("http://127.0.0.1:{port}/statefun"),
            log,
        };
        let what = format!("the {example} {} server", sdk.dir());
        wait_for_port(&mut server.child, port, &what, &server.log);
        server
    }
}

impl Drop for FunctionServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `weir run module.yaml` of a module with a playground ingress and
/// egress, its `${functions-url}`, `${ingress-port}` and `${egress-port}`
/// given on the command line; killed when dropped.
pub struct PlaygroundJob {
    child: Child,
    agent: ureq::Agent,
    pub ingress: u16,
    pub egress: u16,
    /// Weir's standard output and error.
    pub log: PathBuf,
}

impl PlaygroundJob {
    /// Starts the job, and waits until its ingress accepts connections.
    pub fn start(module: &Path, functions_url: &str, dir: &Path) -> PlaygroundJob {
        let (ingress, egress) = (free_port(), free_port());
        let log = dir.join("weir.log");
        let out = std::fs::File::create(&log).expect("weir log");
        let err = out.try_clone().expect("weir log");
        let child = super::weir()
            .arg("run")
            .arg(module)
            .args(["--functions-url", functions_url])
            .args(["--ingress-port", &ingress.to_string()])
            .args(["--egress-port", &egress.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("weir run");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut job = PlaygroundJob {
            child,
            agent,
            ingress,
            egress,
            log,
        };
        wait_for_port(&mut job.child, ingress, "weir run", &job.log);
        job
    }

    /// Fails, with Weir's log, if the job has ended.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("weir run ended ({status}):\n{}", log_tail(&self.log));
        }
    }

    /// `PUT /<address>` with `Content-Type: application/vnd.<typename>`;
    /// fails unless the ingress accepts it.
    pub fn put(&mut self, address: &str, typename: &str, body: &str) {
        let r = self
            .agent
            .put(format!("http://127.0.0.1:{}/{address}", self.ingress))
            .header("content-type", format!("application/vnd.{typename}"))
            .send(body);
        match r {
            Ok(r) if r.status() == 200 => {}
            Ok(mut r) => {
                let text = r.body_mut().read_to_string().unwrap_or_default();
                panic!(
                    "PUT /{address}: {} {text}\n{}",
                    r.status(),
                    log_tail(&self.log)
                );
            }
            Err(e) => {
                self.assert_running();
                panic!("PUT /{address}: {e}\n{}", log_tail(&self.log));
            }
        }
    }

    /// `GET /<topic>`: one message's payload, or `None` when there is none
    /// now (404); fails on any other answer.
    pub fn get(&mut self, topic: &str) -> Option<String> {
        let r = self
            .agent
            .get(format!("http://127.0.0.1:{}/{topic}", self.egress))
            .call();
        match r {
            Ok(mut r) if r.status() == 200 => {
                Some(r.body_mut().read_to_string().expect("a UTF-8 payload"))
            }
            Ok(r) if r.status() == 404 => None,
            Ok(r) => panic!("GET /{topic}: {}\n{}", r.status(), log_tail(&self.log)),
            Err(e) => {
                self.assert_running();
                panic!("GET /{topic}: {e}\n{}", log_tail(&self.log));
            }
        }
    }

    /// The next message of `topic`, waiting up to `timeout` for it.
    pub fn next(&mut self, topic: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.get(topic) {
                return m;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "no message on '{topic}' within {timeout:?}\n{}",
                log_tail(&self.log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails if `topic` gets a message within `quiet` (none is expected).
    pub fn assert_no_more(&mut self, topic: &str, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        while Instant::now() < deadline {
            if let Some(m) = self.get(topic) {
                panic!("an unexpected message on '{topic}': {m}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PlaygroundJob {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
