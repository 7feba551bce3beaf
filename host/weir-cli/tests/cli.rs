//! The `weir` binary: commands, exit codes and messages a user sees.
//! Needs the example components (scripts/test builds them).

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("weir runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const WORDCOUNT: &str = "functions-examples/wordcount/wordcount.toml";

#[test]
fn validate_accepts_the_shipped_jobs() {
    for job in [
        WORDCOUNT,
        "functions-examples/wordcount/wordcount-state.toml",
        "functions-examples/wordcount/wordcount-long-words.toml",
        "functions-examples/wordcount/wordcount-json.toml",
        "functions-examples/user-activity/clicks-per-user.toml",
    ] {
        let o = weir(&["validate", job]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{job}: {err}");
        assert!(out.contains("is valid"), "{out}");
    }
}

#[test]
fn run_prints_wordcount_of_the_sample_text() {
    let o = weir(&["run", WORDCOUNT, "--parallelism", "2"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.lines().any(|l| l.ends_with("(question,1)")), "{out}");
    assert!(
        err.contains("finished") && err.contains("records in"),
        "{err}"
    );
}

#[test]
fn unknown_parameter_names_the_declared_ones() {
    let o = weir(&["run", WORDCOUNT, "--inptu", "x"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("unknown job parameter 'inptu'") && err.contains("input, output"),
        "{err}"
    );
}

#[test]
fn missing_input_fails_cleanly() {
    let o = weir(&[
        "run",
        WORDCOUNT,
        "--input",
        "/nonexistent/book.txt",
        "--quiet",
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("operator 'lines'") && err.contains("/nonexistent/book.txt"),
        "{err}"
    );
}

#[test]
fn invalid_job_file_fails_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("bad.toml");
    std::fs::write(&job, "name = \"x\"\nparallelism = \"two\"\n").expect("write");
    let o = weir(&["validate", job.to_str().expect("utf8")]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");
}

#[test]
fn missing_job_file_is_a_clear_error() {
    let o = weir(&["run", "no-such-job.toml"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("cannot read job file no-such-job.toml"),
        "{err}"
    );
}

#[test]
fn help_lists_the_commands() {
    let o = weir(&["--help"]);
    let (out, _) = text(&o);
    for cmd in ["run", "validate", "build", "bench"] {
        assert!(out.contains(cmd), "{out}");
    }
}

/// A running job is listed, takes a savepoint, stops with one, and
/// resumes from it to the same output as an uninterrupted run.
#[test]
fn list_savepoint_stop_and_resume() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let component = root().join("functions-examples/target/wasm32-wasip2/release/wordcount.wasm");
    let job_text = |rate: &str| {
        format!(
            r#"
name = "controlled"
[parameters]
output = "out"
[components]
wc = "{}"
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 30000
seed = 3
{rate}
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
        )
    };
    let slow = dir.join("slow.toml");
    std::fs::write(&slow, job_text("rate = 5000.0")).expect("job");
    let fast = dir.join("fast.toml");
    std::fs::write(&fast, job_text("")).expect("job");
    let rt = dir.join("run");
    let w = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("WEIR_RUNTIME_DIR", &rt)
            .current_dir(dir)
            .output()
            .expect("weir runs")
    };
    let out_ref = dir.join("ref");
    let o = w(&[
        "run",
        "fast.toml",
        "--quiet",
        "--output",
        &out_ref.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);

    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["run", "slow.toml", "--quiet"])
            .env("WEIR_RUNTIME_DIR", &rt)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weir starts"),
    );
    // It appears in the list.
    let mut id = None;
    for _ in 0..100 {
        let (out, _) = text(&w(&["list"]));
        if let Some(line) = out.lines().find(|l| l.contains("controlled")) {
            id = line.split_whitespace().next().map(str::to_owned);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = id.expect("the job is listed");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let o = w(&["savepoint", &id, "--dir", "sp"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let first = PathBuf::from(out.trim());
    assert!(first.join("_metadata").is_file(), "{out}");
    let o = w(&["stop", "--savepoint", &id, "--dir", "sp"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let stopped = PathBuf::from(out.trim());
    assert!(stopped.join("_metadata").is_file(), "{out}");
    let run_out = child.wait_with_output();
    assert!(
        run_out.status.success(),
        "{}",
        String::from_utf8_lossy(&run_out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run_out.stdout).trim(), out.trim());
    let (listed, _) = text(&w(&["list"]));
    assert!(!listed.contains(&id), "{listed}");
    // Unknown ids are clear errors.
    let o = w(&["savepoint", "nosuchjob"]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("no running job with id 'nosuchjob'"));

    let o = w(&[
        "run",
        "fast.toml",
        "--quiet",
        "--from-savepoint",
        out.trim(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let lines = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
            .flat_map(|e| {
                std::fs::read_to_string(e.path())
                    .expect("read")
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(lines(&dir.join("out")), lines(&out_ref));
}

/// A child process, killed if the test ends before it does.
struct Running(std::process::Child);

impl Running {
    /// Waits for the child and collects what it wrote.
    fn wait_with_output(&mut self) -> Output {
        use std::io::Read;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(mut o) = self.0.stdout.take() {
            let _ = o.read_to_end(&mut stdout);
        }
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_end(&mut stderr);
        }
        let status = self.0.wait().expect("the job ends");
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `weir` with `args` in `dir`; returns its output and its peak
/// resident set size in KiB, read from /proc while it ran.
fn weir_measured(dir: &std::path::Path, args: &[&str]) -> (Output, u64) {
    use std::io::Read;
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weir starts"),
    );
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = pipe(
        child
            .0
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = pipe(
        child
            .0
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let status_file = format!("/proc/{}/status", child.0.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(line) = s.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    };
    (output, peak_kib)
}

fn hostile_job(dir: &std::path::Path, function: &str, kind: &str, input: &str) -> PathBuf {
    let component = root().join("functions-examples/target/wasm32-wasip2/release/hostile.wasm");
    let job = dir.join(format!("{function}.toml"));
    std::fs::write(
        &job,
        format!(
            r#"
name = "{function}"
[components]
h = "{}"
[[sources]]
id = "numbers"
kind = "datagen"
generator = "sequence"
count = 100000
[[operators]]
id = "{function}"
component = "h"
function = "{function}"
kind = "{kind}"
input = {input}
[[sinks]]
id = "out"
kind = "discard"
input = "{function}"
"#,
            component.display()
        ),
    )
    .expect("job");
    job
}

/// A guest printing a line per record runs to the end; its lines reach the
/// log, as many as the rate limit lets through, and the rest are counted.
#[test]
fn a_guest_printing_every_record_runs_to_the_end_and_is_logged() {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = hostile_job(tmp.path(), "print", "map", "\"numbers\"");
    let (o, _) = weir_measured(tmp.path(), &["run", &job.display().to_string()]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let summary = err
        .lines()
        .find(|l| l.trim_start().starts_with("print "))
        .unwrap_or_else(|| panic!("no summary line for 'print': {err}"));
    assert!(summary.contains("100000"), "{summary}");
    assert!(
        err.contains("weir::guest: print saw record 0: 0") && err.contains("operator=\"print\""),
        "{err}"
    );
    let logged = err.matches("print saw record").count();
    assert!(
        (100..2000).contains(&logged),
        "{logged} lines logged: the rate limit lets about 100 a second through"
    );
    let dropped: u64 = err
        .lines()
        .filter_map(|l| {
            l.split(" lines of guest output dropped")
                .next()
                .filter(|_| l.contains("dropped"))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()))
        .sum();
    // 100,000 lines to stdout and 100 to stderr, less those logged.
    let stderr_logged = err.matches("print is at record").count() as u64;
    assert_eq!(dropped + logged as u64 + stderr_logged, 100_100, "{err}");
}

/// A guest appending to list state without end fails with the state
/// budget's error, and the host stays small meanwhile.
#[test]
fn unbounded_list_state_fails_on_its_budget_with_bounded_host_memory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = hostile_job(
        tmp.path(),
        "hoard-list",
        "keyed-process",
        "{ from = \"numbers\", exchange = \"key-by\" }",
    );
    let (o, peak_kib) = weir_measured(tmp.path(), &["run", &job.display().to_string()]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("wrote more than 64 MiB of keyed state in one call (budget: sandbox.max_state_write_mb_per_call = 64)"),
        "{err}"
    );
    assert!(
        peak_kib > 0 && peak_kib < 1 << 20,
        "peak RSS {peak_kib} KiB is not under 1 GiB"
    );
}
