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
