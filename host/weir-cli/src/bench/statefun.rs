//! `weir bench statefun`: the same stateful function (a counter per
//! address: two states, an egress message per invocation) served by a
//! remote endpoint written with the published StateFun Python SDK and as
//! an in-process Wasm component, each behind the same module file and
//! ingress; messages per second of both in the same run, and the egress of
//! each checked against totals computed here.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::graph::Overrides;
use weir_runtime::{RunOptions, run_job};
use weir_wasm::Runtime;

/// What the benchmark runs.
pub(super) struct StatefunBench {
    pub(super) messages: u64,
    pub(super) ids: u64,
    pub(super) runs: u32,
    pub(super) parallelism: u32,
    pub(super) component: PathBuf,
    pub(super) server: PathBuf,
    pub(super) python: Option<PathBuf>,
    pub(super) data_dir: PathBuf,
}

/// The address id and amount of message `i`.
fn message(i: u64, ids: u64) -> (String, i64) {
    let id = i.wrapping_mul(2_654_435_761) % ids;
    (format!("c{id}"), ((i * 7919) % 1000) as i64)
}

/// Writes the ingress file; returns each id's expected (count, total).
fn write_input(path: &Path, messages: u64, ids: u64) -> Result<HashMap<String, (u64, i64)>> {
    let mut w = BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut expected: HashMap<String, (u64, i64)> = HashMap::new();
    for i in 0..messages {
        let (id, amount) = message(i, ids);
        writeln!(
            w,
            r#"{{"target":"bench/counter/{id}","type":"io.statefun.types/long","value":{amount}}}"#
        )?;
        let e = expected.entry(id).or_default();
        e.0 += 1;
        e.1 += amount;
    }
    w.flush()?;
    Ok(expected)
}

/// The module: the counter served by `functions`, file ingress and egress.
fn write_module(path: &Path, functions: &str, input: &Path, output: &Path) -> Result<()> {
    let text = format!(
        "{functions}---\nkind: weir.io/file-ingress.v1\nspec:\n  id: amounts\n  path: {}\n---\nkind: weir.io/file-egress.v1\nspec:\n  id: bench/totals\n  path: {}\n",
        input.display(),
        output.display()
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Checks the egress: one line per message, and each id's last line has
/// the count and total computed from the input.
fn check_egress(dir: &Path, expected: &HashMap<String, (u64, i64)>, messages: u64) -> Result<()> {
    let mut lines = 0u64;
    let mut last: HashMap<String, (u64, i64)> = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            lines += 1;
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("egress line {line:?} is not JSON"))?;
            let value = &v["value"];
            let (Some(id), Some(n), Some(total)) = (
                value["id"].as_str(),
                value["n"].as_u64(),
                value["total"].as_i64(),
            ) else {
                bail!("egress line {line:?} is not a counter total");
            };
            let e = last.entry(id.to_owned()).or_insert((0, 0));
            if n > e.0 {
                *e = (n, total);
            }
        }
    }
    if lines != messages {
        bail!("{lines} egress lines for {messages} messages");
    }
    if &last != expected {
        bail!("the egress totals differ from the totals of the input");
    }
    Ok(())
}

/// A Python SDK server, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    fn start(python: &Path, script: &Path) -> Result<(Server, u16)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        let mut server = Server(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.0.try_wait()? {
                bail!("the Python server exited ({status}) before listening");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the Python server did not listen within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok((server, port))
    }

    /// CPU seconds the server used so far.
    fn cpu_seconds(&self) -> Option<f64> {
        super::proc_stats::cpu_seconds_of(&self.0.id().to_string())
    }
}

/// The venv `scripts/setup-statefun-sdks` makes.
fn default_python() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("weir-tools/venv-statefun/bin/python")
}

/// One timed run of `module`; its wall time, and CPU seconds of this
/// process and of the server.
fn run_once(
    b: &StatefunBench,
    rt: &Arc<Runtime>,
    module: &Path,
    output: &Path,
    server: Option<&Server>,
) -> Result<(Duration, f64, f64)> {
    let _ = std::fs::remove_dir_all(output);
    let overrides = Overrides {
        parallelism: Some(b.parallelism),
        ..Overrides::default()
    };
    let graph = crate::run::module_job(module, &overrides)?;
    let server_cpu = || server.and_then(Server::cpu_seconds).unwrap_or(0.0);
    let (cpu0, scpu0) = (
        super::proc_stats::cpu_seconds().unwrap_or(0.0),
        server_cpu(),
    );
    let t = Instant::now();
    run_job(&graph, rt, &RunOptions::default()).map_err(|f| anyhow::anyhow!("{f}"))?;
    let wall = t.elapsed();
    let cpu = super::proc_stats::cpu_seconds().unwrap_or(0.0) - cpu0;
    Ok((wall, cpu, server_cpu() - scpu0))
}

pub(super) fn statefun(b: &StatefunBench) -> Result<()> {
    let python = b.python.clone().unwrap_or_else(default_python);
    for (what, p) in [
        ("component", &b.component),
        ("server", &b.server),
        ("python", &python),
    ] {
        if !p.is_file() {
            bail!(
                "{what} {} not found (weir build functions-examples; scripts/setup-statefun-sdks)",
                p.display()
            );
        }
    }
    let dir = b.data_dir.join("statefun");
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let input = dir.join(format!("amounts-{}-{}.jsonl", b.messages, b.ids));
    let expected = write_input(&input, b.messages, b.ids)?;
    let (server, port) = Server::start(&python, &b.server)?;
    let remote = dir.join("remote.yaml");
    let local = dir.join("wasm.yaml");
    let out_remote = dir.join("out-remote");
    let out_wasm = dir.join("out-wasm");
    write_module(
        &remote,
        &format!(
            "kind: io.statefun.endpoints.v2/http\nspec:\n  functions: bench/*\n  urlPathTemplate: http://127.0.0.1:{port}/statefun\n"
        ),
        &input,
        &out_remote,
    )?;
    write_module(
        &local,
        &format!(
            "kind: weir.io/wasm-functions.v1\nspec:\n  functions: bench/*\n  component: {}\n",
            b.component.canonicalize()?.display()
        ),
        &input,
        &out_wasm,
    )?;
    let rt = Runtime::new()?;
    let mut best: [Option<(Duration, f64, f64)>; 2] = [None, None];
    for run in 0..b.runs {
        let r = run_once(b, &rt, &remote, &out_remote, Some(&server))?;
        check_egress(&out_remote, &expected, b.messages).context("remote Python")?;
        let w = run_once(b, &rt, &local, &out_wasm, None)?;
        check_egress(&out_wasm, &expected, b.messages).context("Wasm")?;
        eprintln!(
            "run {}: remote Python {:.2} s, Wasm {:.2} s",
            run + 1,
            r.0.as_secs_f64(),
            w.0.as_secs_f64()
        );
        for (slot, m) in best.iter_mut().zip([r, w]) {
            if slot.is_none_or(|s| m.0 < s.0) {
                *slot = Some(m);
            }
        }
    }
    let [Some(r), Some(w)] = best else {
        bail!("no runs");
    };
    println!(
        "Stateful Functions benchmark: {} messages to {} addresses of bench/counter (two states, an egress message each), parallelism {}, best of {}; egress checked against the input's totals",
        b.messages, b.ids, b.parallelism, b.runs
    );
    println!(
        "  {:<16} {:>8} {:>14} {:>12} {:>14}",
        "", "wall s", "messages/s", "weir cpu s", "server cpu s"
    );
    let rate = |m: &(Duration, f64, f64)| b.messages as f64 / m.0.as_secs_f64();
    for (name, m) in [("remote Python", &r), ("Wasm in-process", &w)] {
        println!(
            "  {:<16} {:>8.2} {:>14.0} {:>12.2} {:>14.2}",
            name,
            m.0.as_secs_f64(),
            rate(m),
            m.1,
            m.2
        );
    }
    println!(
        "  Wasm / remote Python: {:.1}x the messages per second",
        rate(&w) / rate(&r)
    );
    Ok(())
}
