//! Guest languages other than Rust: `weir build` of the Python and
//! JavaScript examples, their output against independent computations,
//! and savepoints moving between a Rust function and its ports in a job
//! that mixes all three languages.

mod common;

use common::kafka::{Running, assert_ok, expected_updates, real_text, spawn_logged, weir};
use common::{root, tool_cache};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `weir build <project>` with the shared tools cache, once per project
/// in this test binary; the component path.
fn build(project: &Path) -> PathBuf {
    static BUILT: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(wasm) = built.get(project) {
        return wasm.clone();
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("build")
        .arg(project)
        .env("WEIR_TOOLS_DIR", tool_cache())
        .output()
        .expect("weir build runs");
    assert_ok(&o, &format!("weir build {}", project.display()));
    let out = String::from_utf8_lossy(&o.stdout);
    let wasm = PathBuf::from(out.lines().last().expect("a component path").trim());
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    built.insert(project.to_owned(), wasm.clone());
    wasm
}

/// Every line of the part files in `dir`, sorted.
fn output_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).expect("output dir").flatten() {
        if e.file_name().to_string_lossy().starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).expect("part file");
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines.sort();
    lines
}

fn run_job(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = weir(dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("weir run runs")
}

/// The WordCount example of `language` gives exactly the independent
/// count's updates on real text, and a second process loads its component
/// from the compiled-component cache.
fn wordcount_counts_real_text_exactly_and_reloads_from_the_cache(language: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let project = root().join(format!("functions-examples/wordcount-{language}"));
    build(&project);
    let job = project.join("wordcount.toml");
    let job = job.to_str().expect("utf-8 path");
    let cache = dir.join("cache");

    let text = real_text(400_000);
    std::fs::write(dir.join("in.txt"), &text).expect("input");
    let o = run_job(
        dir,
        &["run", job, "--input", "in.txt", "--output", "out"],
        &[("WEIR_CACHE_DIR", &cache)],
    );
    assert_ok(&o, &format!("the {language} WordCount"));
    assert_eq!(output_lines(&dir.join("out")), expected_updates(&text));

    // The second run loads the compiled component from the cache.
    let small: String = text.chars().take(20_000).collect();
    std::fs::write(dir.join("small.txt"), &small).expect("input");
    let started = Instant::now();
    let o = run_job(
        dir,
        &["run", job, "--input", "small.txt", "--output", "out2"],
        &[("WEIR_CACHE_DIR", &cache)],
    );
    let elapsed = started.elapsed();
    assert_ok(&o, "the second run");
    assert_eq!(output_lines(&dir.join("out2")), expected_updates(&small));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", job, "--input", "small.txt", "--output", "out3"])
        .env("WEIR_CACHE_DIR", &cache)
        .env("WEIR_LOG", "weir_wasm=debug")
        .current_dir(dir)
        .output()
        .expect("weir runs");
    assert_ok(&o, "the third run");
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains(&format!("wordcount-{language}.wasm (Cache)")),
        "the component was not loaded from the cache:\n{log}"
    );
    eprintln!("{language}: a 20 kB run from the compiled-component cache took {elapsed:?}");
}

#[test]
fn python_wordcount_counts_real_text_exactly_and_reloads_from_the_cache() {
    wordcount_counts_real_text_exactly_and_reloads_from_the_cache("python");
}

#[test]
fn js_wordcount_counts_real_text_exactly_and_reloads_from_the_cache() {
    wordcount_counts_real_text_exactly_and_reloads_from_the_cache("js");
}

/// A deterministic stream of user events, in time order per user and
/// roughly in time order overall.
fn session_events() -> Vec<(String, String, i64)> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let gaps = [1_000, 2_000, 5_000, 12_000, 45_000, 90_000];
    let actions = ["click", "view", "buy"];
    let mut clock: Vec<i64> = (0..40).map(|_| next(100_000) as i64).collect();
    let mut events = Vec::new();
    for _ in 0..4_000 {
        let user = next(40) as usize;
        clock[user] += gaps[next(6) as usize];
        let action = actions[next(3) as usize];
        events.push((format!("u{user}"), action.to_owned(), clock[user]));
    }
    events.sort_by_key(|e| e.2);
    events
}

/// Sessions computed directly: a user's events with gaps under 30 s.
fn expected_sessions(events: &[(String, String, i64)]) -> Vec<String> {
    let mut by_user: std::collections::BTreeMap<&str, Vec<(&str, i64)>> = Default::default();
    for (u, a, t) in events {
        by_user.entry(u).or_default().push((a, *t));
    }
    let mut sessions = Vec::new();
    for (user, evs) in by_user {
        let mut current: Option<(i64, i64, u64, std::collections::BTreeMap<&str, u64>)> = None;
        for (action, t) in evs {
            if let Some(s) = current.take_if(|s| t - s.1 >= 30_000) {
                sessions.push(session_json(user, s));
            }
            let s = current.get_or_insert_with(|| (t, t, 0, Default::default()));
            s.1 = t;
            s.2 += 1;
            *s.3.entry(action).or_default() += 1;
        }
        if let Some(s) = current {
            sessions.push(session_json(user, s));
        }
    }
    sessions.sort();
    sessions
}

fn session_json(
    user: &str,
    (start, end, events, actions): (i64, i64, u64, std::collections::BTreeMap<&str, u64>),
) -> String {
    serde_json::json!({"user": user, "start": start, "end": end, "events": events, "actions": actions})
        .to_string()
}

/// The sessions example of `language` (value and map state, event-time
/// timers) against sessions computed directly from the events.
fn sessions_match_a_direct_computation(language: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let project = root().join(format!("functions-examples/sessions-{language}"));
    build(&project);
    let events = session_events();
    let input: String = events
        .iter()
        .map(|(u, a, t)| format!("{{\"user\":\"{u}\",\"action\":\"{a}\",\"ts\":{t}}}\n"))
        .collect();
    std::fs::write(dir.join("events.jsonl"), input).expect("input");
    let job = project.join("sessions.toml");
    let o = run_job(
        dir,
        &[
            "run",
            job.to_str().expect("utf-8"),
            "--input",
            "events.jsonl",
            "--output",
            "out",
        ],
        &[],
    );
    assert_ok(&o, &format!("the {language} sessions job"));
    // Compare as JSON values, whatever the key order of the output.
    let got: Vec<String> = {
        let mut v: Vec<String> = output_lines(&dir.join("out"))
            .iter()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .expect("a JSON line")
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    let want = expected_sessions(&events);
    assert!(want.len() > 1_000, "the events make many sessions");
    assert_eq!(got, want);
}

#[test]
fn python_sessions_with_state_and_timers_match_a_direct_computation() {
    sessions_match_a_direct_computation("python");
}

#[test]
fn js_sessions_with_state_and_timers_match_a_direct_computation() {
    sessions_match_a_direct_computation("js");
}

/// WordCount over generated words; `components` maps each operator to a
/// component file.
fn mixed_job(rate: &str, tokenize: &Path, count: &Path, format: &Path) -> String {
    format!(
        r#"
name = "mixed"
[parameters]
output = "out"
[components]
tokenizer = "{}"
counter = "{}"
formatter = "{}"
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 30000
seed = 11
{rate}
[[operators]]
id = "tokenize"
component = "tokenizer"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "counter"
function = "count"
kind = "reduce"
input = {{ from = "tokenize", exchange = "key-by" }}
[[operators]]
id = "format"
component = "formatter"
function = "format"
kind = "flat-map"
input = "count"
[[sinks]]
id = "out"
kind = "file"
path = "${{output}}"
input = "format"
"#,
        tokenize.display(),
        count.display(),
        format.display()
    )
}

/// Starts the slow job and stops it with a savepoint part way; returns the
/// savepoint's path.
fn stop_with_savepoint(dir: &Path, job: &str) -> String {
    let log = dir.join("slow.log");
    let child: Running = spawn_logged(weir(dir).args(["run", job, "--quiet"]), &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let o = weir(dir).arg("list").output().expect("weir list");
        let listed = String::from_utf8_lossy(&o.stdout).into_owned();
        if let Some(line) = listed.lines().find(|l| l.contains("mixed")) {
            break line.split_whitespace().next().expect("an id").to_owned();
        }
        assert!(Instant::now() < deadline, "the job is never listed");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(1500));
    let o = weir(dir)
        .args(["stop", "--savepoint", &id, "--dir", "sp"])
        .output()
        .expect("weir stop");
    assert_ok(&o, "weir stop --savepoint");
    child.wait_ok(&log);
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn a_rust_savepoint_resumes_with_the_python_port_in_a_job_of_three_languages() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let rust = common::wordcount_wasm();
    let python = build(&root().join("functions-examples/wordcount-python"));
    let js = build(&root().join("functions-examples/wordcount-js"));
    std::fs::write(
        dir.join("all-rust.toml"),
        mixed_job("", &rust, &rust, &rust),
    )
    .expect("job");
    let o = run_job(
        dir,
        &["run", "all-rust.toml", "--quiet", "--output", "reference"],
        &[],
    );
    assert_ok(&o, "the uninterrupted Rust run");
    let reference = output_lines(&dir.join("reference"));

    std::fs::write(
        dir.join("slow.toml"),
        mixed_job("rate = 8000.0", &rust, &rust, &rust),
    )
    .expect("job");
    let savepoint = stop_with_savepoint(dir, "slow.toml");
    let before = output_lines(&dir.join("out")).len();
    assert!(
        before > 0 && before < reference.len(),
        "the savepoint falls part way ({before} of {} updates)",
        reference.len()
    );

    // Python tokenizer and counter (restoring the Rust reduce's `weir.acc`),
    // JavaScript formatter: one job, three languages over its life.
    std::fs::write(dir.join("mixed.toml"), mixed_job("", &python, &python, &js)).expect("job");
    let o = run_job(
        dir,
        &[
            "run",
            "mixed.toml",
            "--quiet",
            "--from-savepoint",
            &savepoint,
        ],
        &[],
    );
    assert_ok(&o, "the resumed mixed job");
    assert_eq!(output_lines(&dir.join("out")), reference);

    // A port that reads the accumulator with another codec is refused.
    let json_port = dir.join("json-port");
    std::fs::create_dir_all(&json_port).expect("project dir");
    std::fs::write(
        json_port.join("app.py"),
        "import weir\nfrom weir import codecs\n\n\
         @weir.reduce(codec=codecs.JSON)\ndef count(a, b):\n    return a + b\n",
    )
    .expect("app.py");
    let json_wasm = build(&json_port);
    std::fs::write(
        dir.join("refused.toml"),
        mixed_job("", &rust, &json_wasm, &rust),
    )
    .expect("job");
    let o = run_job(
        dir,
        &[
            "run",
            "refused.toml",
            "--quiet",
            "--output",
            "refused",
            "--from-savepoint",
            &savepoint,
        ],
        &[],
    );
    assert!(!o.status.success(), "a codec change must be refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("weir.acc") && err.contains("written as u64") && err.contains("as json"),
        "the refusal names the state and both codecs: {err}"
    );
}
