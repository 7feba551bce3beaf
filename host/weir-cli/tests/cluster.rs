//! The cluster as users run it: `weir cluster start` (a coordinator and
//! worker processes), `weir submit`, the REST API, workers killed with
//! SIGKILL and replaced with `weir cluster add-worker`. Every process a
//! test starts is stopped when it ends, also when it fails.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

use std::time::{Duration, Instant};

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
    c.assert_ok(&o, "submit");
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

#[test]
fn workers_killed_with_sigkill_during_checkpoints_lose_and_repeat_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = generated_job(tmp.path());
    // The failure-free reference, on the embedded runner.
    let reference = tmp.path().join("reference");
    reference_run(&job, &reference);

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
