//! The cluster in one process (a coordinator and workers on their own
//! ports, gRPC over loopback): it computes what the embedded runner does,
//! ignores messages of stale attempts and epochs, holds a source back when
//! a consumer on another worker is slow, and answers REST requests in the
//! shapes of a real Flink 1.20.3 (the golden files in
//! tests/golden/flink-rest/).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_cluster::mini::MiniCluster;
use weir_proto::v1 as pb;
use weir_tests::*;

pub(crate) fn write_job(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("job file");
    path
}

pub(crate) fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

const WORDCOUNT: &str = r#"
name = "wc-cluster"
[parameters]
input = ""
output = ""
[components]
wc = "WC"
[[sources]]
id = "lines"
kind = "file"
path = "${input}"
[[operators]]
id = "tokenize"
component = "wc"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "wc"
function = "count"
kind = "reduce"
input = { from = "tokenize", exchange = "key-by" }
[[operators]]
id = "format"
component = "wc"
function = "format"
kind = "flat-map"
input = "count"
[[sinks]]
id = "out"
kind = "file"
path = "${output}"
input = "format"
"#;

fn wordcount_job(dir: &Path) -> PathBuf {
    let text = WORDCOUNT.replace("WC", &component("wordcount").display().to_string());
    write_job(dir, "wc.toml", &text)
}

fn input_text() -> String {
    let mut text = String::new();
    let mut x: u64 = 11;
    for _ in 0..5000 {
        let words: Vec<String> = (0..7)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                format!("k{}", (x >> 33) % 300)
            })
            .collect();
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    text
}

#[test]
fn an_in_process_cluster_computes_what_the_embedded_runner_does() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in.txt");
    let text = input_text();
    std::fs::write(&input, &text).expect("input");
    let job = wordcount_job(tmp.path());
    let embedded = tmp.path().join("embedded");
    let graph = weir_core::JobGraph::load(
        &job,
        &weir_core::graph::Overrides {
            parameters: vec![
                ("input".into(), input.display().to_string()),
                ("output".into(), embedded.display().to_string()),
            ],
            parallelism: Some(3),
            ..Default::default()
        },
    )
    .expect("job");
    run(&graph).expect("embedded run");

    let cluster = MiniCluster::start(&tmp.path().join("mini"), 2, 2).expect("cluster");
    let out = tmp.path().join("clustered");
    let id = cluster
        .submit(
            &job,
            &s(&[
                "--parallelism",
                "3",
                "--input",
                &input.display().to_string(),
                "--output",
                &out.display().to_string(),
            ]),
        )
        .expect("submitted");
    let outcome = cluster.wait(&id, Duration::from_secs(120)).expect("ends");
    assert_eq!(outcome.state, "FINISHED", "{:?}", outcome.failures);
    // Each part file interleaves its upstream channels as they come: the
    // same updates, in any order across keys.
    let mut got = output_lines(&out);
    got.sort();
    let mut want = output_lines(&embedded);
    want.sort();
    assert_eq!(got, want, "the same updates");
    let expected = reference_counts(&text);
    let total: u64 = expected.values().sum();
    assert_eq!(got.len() as u64, total, "one update per word");
    assert!(cluster.network_bytes() > 0 || wait_for_bytes(&cluster));
}

/// Network bytes show in the next heartbeats.
fn wait_for_bytes(c: &MiniCluster) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        if c.network_bytes() > 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A generator feeding `slow` (1 ms per record) through a rebalance; the
/// source runs at parallelism 2 and the rest at 1, so source sub-task 1
/// runs on the other worker than its consumer.
pub(crate) fn slow_job(dir: &Path, count: u64, rate: Option<f64>, function: &str) -> PathBuf {
    let rate = rate.map_or(String::new(), |r| format!("rate = {r}"));
    let text = format!(
        r#"
name = "slow"
[parameters]
output = ""
[components]
h = "{}"
[[sources]]
id = "gen"
kind = "datagen"
generator = "words"
count = {count}
{rate}
parallelism = 2
[[operators]]
id = "work"
component = "h"
function = "{function}"
kind = "map"
input = {{ from = "gen", exchange = "rebalance" }}
parallelism = 1
[[sinks]]
id = "out"
kind = "discard"
input = "work"
parallelism = 1
"#,
        component("hostile").display()
    );
    write_job(dir, "slow.toml", &text)
}

pub(crate) fn rest(url: &str) -> Value {
    let mut r = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON")
}

/// Records the source's sub-tasks emitted and the consumer took, from
/// the REST API.
fn flow(c: &MiniCluster, id: &str) -> (Vec<u64>, u64) {
    let job = rest(&format!("{}/jobs/{id}", c.rest_url));
    let vertices = job["vertices"].as_array().expect("vertices").clone();
    let source = vertices[0]["id"].as_str().expect("id").to_owned();
    let consumer = vertices[1]["id"].as_str().expect("id").to_owned();
    let sv = rest(&format!("{}/jobs/{id}/vertices/{source}", c.rest_url));
    let out: Vec<u64> = sv["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["metrics"]["write-records"].as_u64().unwrap_or(0))
        .collect();
    let cv = rest(&format!("{}/jobs/{id}/vertices/{consumer}", c.rest_url));
    let taken = cv["subtasks"][0]["metrics"]["read-records"]
        .as_u64()
        .unwrap_or(0);
    (out, taken)
}

#[test]
fn a_slow_consumer_on_one_worker_holds_back_a_source_on_another() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 2, 1).expect("cluster");
    let job = slow_job(tmp.path(), 50_000_000, None, "slow");
    let id = cluster.submit(&job, &[]).expect("submitted");
    let started = Instant::now();
    while !cluster.running(&id) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (out, taken) = flow(&cluster, &id);
    // The generator alone makes millions of records a second; held back
    // by the consumer (about 1000 records a second) through credits, each
    // source sub-task is ahead of it by at most its queues: a writer
    // buffer, a local queue and, for the remote one, the credits granted
    // (8 batches of ~64 KiB, ~1000 short lines each, per queue).
    let bound = 3 * 8 * 1200 + 5000;
    eprintln!("after 3 s: sources emitted {out:?}, the consumer took {taken}");
    assert!(taken > 100, "the consumer works: {taken}");
    let remote_source_ahead = out[1].saturating_sub(taken);
    assert!(
        out.iter().all(|&o| o < taken + bound),
        "sources {out:?} ran ahead of the consumer ({taken}) by more than {bound}"
    );
    assert!(remote_source_ahead < bound);
    // Held back, not stopped.
    assert!(out.iter().all(|&o| o > 0), "{out:?}");
    let r = ureq::Agent::new_with_defaults()
        .patch(format!("{}/jobs/{id}?mode=cancel", cluster.rest_url))
        .send_empty()
        .expect("cancel");
    assert_eq!(r.status().as_u16(), 202);
    let outcome = cluster.wait(&id, Duration::from_secs(30)).expect("ends");
    assert_eq!(outcome.state, "CANCELED");
}

#[test]
fn reports_and_commands_of_stale_attempts_or_epochs_are_ignored() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 2, 1).expect("cluster");
    let job = slow_job(tmp.path(), 4000, Some(1000.0), "slow");
    let id = cluster.submit(&job, &[]).expect("submitted");
    let started = Instant::now();
    while !cluster.running(&id) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let attempt = cluster.attempt(&id).expect("attempt");
    let epoch = cluster.epoch();
    let forged = |attempt: u32, epoch: u64| pb::Reports {
        attempt: Some(pb::Attempt {
            job_id: id.clone(),
            attempt,
            epoch,
        }),
        worker_id: "0".repeat(32),
        reports: vec![pb::Report {
            r: Some(pb::report::R::Failed("forged failure".into())),
        }],
    };
    let rpc = format!("http://{}", cluster.rpc);
    let workers = cluster.worker_addrs();
    let rejected = cluster
        .block_on(async {
            let mut c = pb::coordinator_client::CoordinatorClient::connect(rpc)
                .await
                .expect("connect");
            // A later attempt, and the current one of an older epoch.
            c.report(forged(attempt + 1, epoch)).await.expect("report");
            c.report(forged(attempt, epoch - 1)).await.expect("report");
            // A worker id the attempt does not run on.
            c.report(forged(attempt, epoch)).await.expect("report");
            let mut rejected = 0;
            for w in workers {
                let mut wc = pb::worker_client::WorkerClient::connect(format!("http://{w}"))
                    .await
                    .expect("worker");
                let stop = pb::CommandRequest {
                    attempt: Some(pb::Attempt {
                        job_id: id.clone(),
                        attempt,
                        epoch: epoch - 1,
                    }),
                    c: Some(pb::command_request::C::Stop(true)),
                };
                if let Err(s) = wc.command(stop).await {
                    assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s}");
                    rejected += 1;
                }
            }
            rejected
        })
        .expect("runtime");
    assert_eq!(rejected, 2, "both workers refuse an old epoch's command");
    let outcome = cluster.wait(&id, Duration::from_secs(60)).expect("ends");
    assert_eq!(outcome.state, "FINISHED", "{:?}", outcome.failures);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert!(
        cluster.stale_reports(&id) >= 2,
        "stale reports were seen and dropped: {}",
        cluster.stale_reports(&id)
    );
}

/// Checks that `ours` has every field `flink`'s JSON has, with the same
/// JSON type (recursively; arrays by their first element; Flink's nulls
/// say nothing about the type).
pub(crate) fn same_shape(flink: &Value, ours: &Value, at: &str, problems: &mut Vec<String>) {
    match (flink, ours) {
        (Value::Null, _) => {}
        (Value::Object(f), Value::Object(o)) => {
            for (k, fv) in f {
                match o.get(k) {
                    Some(ov) => same_shape(fv, ov, &format!("{at}.{k}"), problems),
                    None => problems.push(format!("{at}.{k} is missing")),
                }
            }
        }
        (Value::Array(f), Value::Array(o)) => {
            if let (Some(fv), Some(ov)) = (f.first(), o.first()) {
                same_shape(fv, ov, &format!("{at}[0]"), problems);
            }
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (f, o) => problems.push(format!("{at}: Flink has {f}, Weir {o}")),
    }
}

pub(crate) fn golden(name: &str) -> Value {
    let path = root().join("tests/golden/flink-rest").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON")
}

pub(crate) fn call(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("PATCH", _) => agent.patch(url).send_empty(),
        (_, Some(b)) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(b.as_bytes()),
        _ => agent.post(url).send_empty(),
    };
    let mut r = r.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn the_rest_api_answers_in_flink_shapes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 1, 2).expect("cluster");
    let u = cluster.rest_url.clone();
    let chk = tmp.path().join("chk");
    let job = slow_job(tmp.path(), 40_000, Some(2000.0), "slow");
    let id = cluster
        .submit(
            &job,
            &s(&[
                "--checkpoint-interval",
                "200ms",
                "--checkpoint-dir",
                &chk.display().to_string(),
            ]),
        )
        .expect("submitted");
    let started = Instant::now();
    while !cluster.running(&id) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Wait for a completed checkpoint.
    let started = Instant::now();
    loop {
        let (_, v) = call("GET", &format!("{u}/jobs/{id}/checkpoints"), None);
        if v["counts"]["completed"].as_u64() > Some(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no checkpoint: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let problems = std::cell::RefCell::new(Vec::new());
    let check = |file: &str, method: &str, path: &str, body: Option<&str>, status: u16| {
        let (got_status, got) = call(method, &format!("{u}{path}"), body);
        assert_eq!(got_status, status, "{method} {path}: {got}");
        same_shape(&golden(file), &got, file, &mut problems.borrow_mut());
        got
    };
    check("config.json", "GET", "/config", None, 200);
    check("overview.json", "GET", "/overview", None, 200);
    check("taskmanagers.json", "GET", "/taskmanagers", None, 200);
    check("jobs.json", "GET", "/jobs", None, 200);
    check("jobs_overview.json", "GET", "/jobs/overview", None, 200);
    let details = check("jobs_JID.json", "GET", &format!("/jobs/{id}"), None, 200);
    let vid = details["vertices"][0]["id"]
        .as_str()
        .expect("vertex")
        .to_owned();
    check(
        "jobs_JID_vertices_V0.json",
        "GET",
        &format!("/jobs/{id}/vertices/{vid}"),
        None,
        200,
    );
    check(
        "jobs_JID_checkpoints.json",
        "GET",
        &format!("/jobs/{id}/checkpoints"),
        None,
        200,
    );
    check(
        "jobs_JID_exceptions.json",
        "GET",
        &format!("/jobs/{id}/exceptions"),
        None,
        200,
    );
    check(
        "error-unknown-job.json",
        "GET",
        "/jobs/00000000000000000000000000000000",
        None,
        404,
    );
    let sp_dir = tmp.path().join("sp").display().to_string();
    let trigger = check(
        "jobs_JID_savepoints_POST.json",
        "POST",
        &format!("/jobs/{id}/savepoints"),
        Some(&format!(
            r#"{{"target-directory": "{sp_dir}", "cancel-job": false}}"#
        )),
        202,
    );
    let rid = trigger["request-id"]
        .as_str()
        .expect("request id")
        .to_owned();
    let started = Instant::now();
    loop {
        let (_, v) = call("GET", &format!("{u}/jobs/{id}/savepoints/{rid}"), None);
        if v["status"]["id"] == "COMPLETED" {
            same_shape(
                &golden("jobs_JID_savepoints_RID_completed.json"),
                &v,
                "savepoint completed",
                &mut problems.borrow_mut(),
            );
            let loc = v["operation"]["location"].as_str().expect("location");
            let path = loc.strip_prefix("file:").expect("a file: location");
            assert!(Path::new(path).join("_metadata").is_file(), "{path}");
            break;
        }
        same_shape(
            &golden("jobs_JID_savepoints_RID_inprogress.json"),
            &v,
            "savepoint in progress",
            &mut problems.borrow_mut(),
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{v}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = call("PATCH", &format!("{u}/jobs/{id}?mode=cancel"), None);
    assert_eq!(status, 202);
    assert_eq!(body, serde_json::json!({}), "as jobs_JID_PATCH_cancel.body");
    let outcome = cluster.wait(&id, Duration::from_secs(30)).expect("ends");
    assert_eq!(outcome.state, "CANCELED");
    check("overview_after.json", "GET", "/overview", None, 200);
    check(
        "jobs_overview_after.json",
        "GET",
        "/jobs/overview",
        None,
        200,
    );
    let problems = problems.into_inner();
    assert!(
        problems.is_empty(),
        "shapes differ from Flink's:\n{}",
        problems.join("\n")
    );
}

/// WordCount with a `ValueState` over a rate-limited generator.
fn stateful_job(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
name = "resumable"
parallelism = 2
[parameters]
output = ""
[components]
wc = "{}"
[[sources]]
id = "lines"
kind = "datagen"
generator = "words"
count = 40000
rate = 8000.0
seed = 7
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
        component("wordcount").display()
    );
    write_job(dir, "resumable.toml", &text)
}

#[test]
fn stop_with_savepoint_and_resume_at_another_parallelism_on_the_cluster_is_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = stateful_job(tmp.path());
    let reference = tmp.path().join("reference");
    let graph = weir_core::JobGraph::load(
        &job,
        &weir_core::graph::Overrides {
            parameters: vec![("output".into(), reference.display().to_string())],
            ..Default::default()
        },
    )
    .expect("job");
    run(&graph).expect("reference run");

    let cluster = MiniCluster::start(&tmp.path().join("mini"), 2, 2).expect("cluster");
    let u = cluster.rest_url.clone();
    let out = tmp.path().join("out").display().to_string();
    let id = cluster
        .submit(&job, &s(&["--output", &out]))
        .expect("submitted");
    let started = Instant::now();
    while !cluster.running(&id) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sp_dir = tmp.path().join("sp").display().to_string();
    let (status, v) = call(
        "POST",
        &format!("{u}/jobs/{id}/stop"),
        Some(&format!(
            r#"{{"targetDirectory": "{sp_dir}", "drain": false}}"#
        )),
    );
    assert_eq!(status, 202, "{v}");
    let rid = v["request-id"].as_str().expect("request id").to_owned();
    let savepoint = loop {
        let (_, v) = call("GET", &format!("{u}/jobs/{id}/savepoints/{rid}"), None);
        if v["status"]["id"] == "COMPLETED" {
            let loc = v["operation"]["location"]
                .as_str()
                .unwrap_or_else(|| panic!("savepoint failed: {v}"));
            break loc.trim_start_matches("file:").to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let first = cluster.wait(&id, Duration::from_secs(30)).expect("stops");
    assert_eq!(
        first.state, "FINISHED",
        "a stopped job is FINISHED, as in Flink"
    );
    let partial = output_lines(Path::new(&out)).len();
    let total = output_lines(&reference).len();
    assert!(
        partial > 0 && partial < total,
        "stopped midway: {partial} of {total} updates"
    );
    let resumed = cluster
        .submit(
            &job,
            &s(&[
                "--output",
                &out,
                "--from-savepoint",
                &savepoint,
                "--parallelism",
                "3",
            ]),
        )
        .expect("resubmitted");
    let second = cluster
        .wait(&resumed, Duration::from_secs(120))
        .expect("ends");
    assert_eq!(second.state, "FINISHED", "{:?}", second.failures);
    let mut got = output_lines(Path::new(&out));
    got.sort();
    let mut want = output_lines(&reference);
    want.sort();
    assert_eq!(got.len(), want.len(), "every update once over both runs");
    assert!(
        got == want,
        "the updates differ from the uninterrupted run's"
    );
}

#[test]
fn a_job_without_enough_slots_waits_and_says_why() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 1, 1).expect("cluster");
    let job = slow_job(tmp.path(), 1000, None, "slow");
    let id = cluster.submit(&job, &[]).expect("submitted");
    let u = cluster.rest_url.clone();
    let started = Instant::now();
    let message = loop {
        let (_, v) = call("GET", &format!("{u}/jobs/{id}"), None);
        if let Some(m) = v["status-message"].as_str() {
            assert_eq!(v["state"], "CREATED", "{v}");
            break m.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        message.contains("waiting for 2 free slots (1 free of 1)"),
        "{message}"
    );
    let (status, _) = call("PATCH", &format!("{u}/jobs/{id}?mode=cancel"), None);
    assert_eq!(status, 202);
    let outcome = cluster.wait(&id, Duration::from_secs(10)).expect("ends");
    assert_eq!(outcome.state, "CANCELED");
}
