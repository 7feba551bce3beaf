//! What operators of a cluster look at, on the in-process cluster: the
//! backpressure of a source held back by a slow consumer, checkpoints
//! asked for over REST, Flink's metric endpoints and the Prometheus
//! exposition, checked against what the jobs did and against the shapes of
//! a real Flink 1.20.3 (tests/golden/flink-rest/).

use crate::cluster::{call, golden, rest, s, same_shape, slow_job};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use weir_cluster::mini::MiniCluster;

fn wait_running(c: &MiniCluster, id: &str) {
    let started = Instant::now();
    while !c.running(id) {
        assert!(started.elapsed() < Duration::from_secs(30), "not RUNNING");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn vertex_ids(c: &MiniCluster, id: &str) -> Vec<String> {
    rest(&format!("{}/jobs/{id}", c.rest_url))["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_owned())
        .collect()
}

fn cancel(c: &MiniCluster, id: &str) {
    let (status, _) = call(
        "PATCH",
        &format!("{}/jobs/{id}?mode=cancel", c.rest_url),
        None,
    );
    assert_eq!(status, 202);
    let outcome = c.wait(id, Duration::from_secs(30)).expect("ends");
    assert_eq!(outcome.state, "CANCELED");
}

/// Polls `f` until it gives a value, for up to `secs` seconds.
fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_source_held_back_by_a_slow_consumer_shows_high_backpressure() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 2, 1).expect("cluster");
    // An unbounded-rate generator into a consumer that takes about 1000
    // records a second: the generator spends nearly all its time waiting
    // for room, the consumer nearly all its time working.
    let job = slow_job(tmp.path(), 50_000_000, None, "slow");
    let id = cluster.submit(&job, &[]).expect("submitted");
    wait_running(&cluster, &id);
    let v = vertex_ids(&cluster, &id);
    let u = &cluster.rest_url;
    // Both source sub-tasks high (the second may report its first rate a
    // beat after the first).
    let bp = eventually(20, "high backpressure at every source sub-task", || {
        let bp = rest(&format!("{u}/jobs/{id}/vertices/{}/backpressure", v[0]));
        let all_high = bp["subtasks"]
            .as_array()
            .is_some_and(|s| s.iter().all(|st| st["backpressureLevel"] == "high"));
        (bp["backpressureLevel"] == "high" && all_high).then_some(bp)
    });
    let mut problems = Vec::new();
    same_shape(
        &golden("jobs_JID_vertices_V0_backpressure.json"),
        &bp,
        "backpressure",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let subtasks = bp["subtasks"].as_array().expect("subtasks");
    assert_eq!(subtasks.len(), 2, "one entry per source sub-task");
    for st in subtasks {
        let ratio = st["ratio"].as_f64().expect("ratio");
        let sum = ratio
            + st["idleRatio"].as_f64().unwrap_or(0.0)
            + st["busyRatio"].as_f64().unwrap_or(0.0);
        assert!(ratio > 0.5, "{st}");
        assert!((sum - 1.0).abs() < 0.02, "the ratios add up to one: {st}");
    }
    let consumer = rest(&format!("{u}/jobs/{id}/vertices/{}/backpressure", v[1]));
    let busy = consumer["subtasks"][0]["busyRatio"].as_f64().expect("busy");
    assert!(busy > 0.5, "the slow consumer is busy: {consumer}");
    assert_eq!(consumer["subtasks"][0]["backpressureLevel"], "ok");
    // The same through Flink's metric names.
    let m = rest(&format!(
        "{u}/jobs/{id}/vertices/{}/metrics?get=0.backPressuredTimeMsPerSecond,1.isBackPressured",
        v[0]
    ));
    let value = |i: usize| -> f64 {
        m[i]["value"]
            .as_str()
            .and_then(|x| x.parse().ok())
            .expect("value")
    };
    assert!(value(0) > 500.0, "{m}");
    assert_eq!(value(1), 1.0, "{m}");
    // And on Prometheus.
    let p = scrape(u);
    let ratios: Vec<f64> = p
        .iter()
        .filter(|(k, _)| {
            k.starts_with("weir_backpressured_ratio{") && k.contains(r#"operator="gen""#)
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(ratios.len(), 2, "{ratios:?}");
    assert!(ratios.iter().all(|r| *r > 0.5), "{ratios:?}");
    cancel(&cluster, &id);
}

#[test]
fn a_checkpoint_asked_for_over_rest_completes_and_shows_in_the_statistics() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 1, 2).expect("cluster");
    let u = cluster.rest_url.clone();
    let chk = tmp.path().join("chk");
    let job = slow_job(tmp.path(), 1_000_000, Some(2000.0), "slow");
    // Periodic checkpoints an hour apart (60m): only the one asked for is taken.
    let args = s(&[
        "--checkpoint-interval",
        "60m",
        "--checkpoint-dir",
        &chk.display().to_string(),
    ]);
    let id = cluster.submit(&job, &args).expect("submitted");
    wait_running(&cluster, &id);
    let mut problems = Vec::new();
    let mut check = |file: &str, got: &Value| same_shape(&golden(file), got, file, &mut problems);
    let (status, config) = call("GET", &format!("{u}/jobs/{id}/checkpoints/config"), None);
    assert_eq!(status, 200);
    check("jobs_JID_checkpoints_config.json", &config);
    assert_eq!(config["interval"], 3_600_000);
    let (status, trigger) = call(
        "POST",
        &format!("{u}/jobs/{id}/checkpoints"),
        Some(r#"{"checkpointType": "FULL"}"#),
    );
    assert_eq!(status, 202, "{trigger}");
    check("jobs_JID_checkpoints_POST.json", &trigger);
    let rid = trigger["request-id"]
        .as_str()
        .expect("request id")
        .to_owned();
    let done = eventually(30, "the checkpoint to complete", || {
        let (_, v) = call("GET", &format!("{u}/jobs/{id}/checkpoints/{rid}"), None);
        (v["status"]["id"] == "COMPLETED").then_some(v)
    });
    check("jobs_JID_checkpoints_RID.json", &done);
    let cp = done["operation"]["checkpointId"]
        .as_u64()
        .expect("checkpoint id");
    let stats = rest(&format!("{u}/jobs/{id}/checkpoints"));
    check("jobs_JID_checkpoints.json", &stats);
    assert_eq!(stats["counts"]["completed"], 1, "{stats}");
    assert_eq!(stats["latest"]["completed"]["id"], cp);
    let entry = &stats["history"][0];
    assert_eq!(
        (entry["id"].as_u64(), entry["status"].as_str()),
        (Some(cp), Some("COMPLETED"))
    );
    assert_eq!(entry["num_acknowledged_subtasks"], entry["num_subtasks"]);
    let path = entry["external_path"]
        .as_str()
        .and_then(|p| p.strip_prefix("file:"))
        .expect("path");
    assert!(Path::new(path).join("_metadata").is_file(), "{path}");
    let details = rest(&format!("{u}/jobs/{id}/checkpoints/details/{cp}"));
    assert_eq!(details["id"], cp);
    // A bad checkpoint type is refused; a job without storage cannot
    // checkpoint.
    let (status, e) = call(
        "POST",
        &format!("{u}/jobs/{id}/checkpoints"),
        Some(r#"{"checkpointType": "INCREMENTAL-ISH"}"#),
    );
    assert_eq!(status, 400, "{e}");
    assert!(
        e["errors"][0]
            .as_str()
            .is_some_and(|m| m.contains("checkpointType")),
        "{e}"
    );
    // The metric endpoints and the worker page, in Flink's shapes.
    let v = vertex_ids(&cluster, &id);
    check(
        "jobs_JID_vertices_V0_metrics-list.json",
        &rest(&format!("{u}/jobs/{id}/vertices/{}/metrics", v[0])),
    );
    let agg = rest(&format!(
        "{u}/jobs/{id}/vertices/{}/subtasks/metrics?get=numRecordsIn,numRecordsOut&agg=sum,max",
        v[1]
    ));
    check("subtasks-metrics-agg.json", &agg);
    check(
        "jobs_JID_metrics.json",
        &rest(&format!("{u}/jobs/{id}/metrics")),
    );
    let job_metrics = rest(&format!(
        "{u}/jobs/{id}/metrics?get=numberOfCompletedCheckpoints,lastCompletedCheckpointId"
    ));
    assert_eq!(job_metrics[0]["value"], "1", "{job_metrics}");
    assert_eq!(job_metrics[1]["value"], cp.to_string(), "{job_metrics}");
    let workers = rest(&format!("{u}/taskmanagers"));
    let wid = workers["taskmanagers"][0]["id"]
        .as_str()
        .expect("worker id")
        .to_owned();
    let worker = rest(&format!("{u}/taskmanagers/{wid}"));
    check("taskmanagers_TM.json", &worker);
    // Every sub-task of the job runs on the one worker: the generator's
    // two and the one of the chain "work -> out", in two shared slots.
    assert_eq!(
        worker["subtasks"].as_array().map(Vec::len),
        Some(3),
        "{worker}"
    );
    assert_eq!(
        worker["allocatedSlots"].as_array().map(Vec::len),
        Some(2),
        "{worker}"
    );
    let (status, _) = call("GET", &format!("{u}/taskmanagers/nobody"), None);
    assert_eq!(status, 404);
    assert!(
        problems.is_empty(),
        "shapes differ from Flink's:\n{}",
        problems.join("\n")
    );
    cancel(&cluster, &id);
}

/// A scrape of `/metrics`: each sample (`name{labels}`) with its value,
/// after checking every sample has its family's `# TYPE` line.
fn scrape(url: &str) -> BTreeMap<String, f64> {
    let mut r = ureq::get(format!("{url}/metrics")).call().expect("scrape");
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    let text = r.body_mut().read_to_string().expect("body");
    let mut typed = std::collections::HashSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap_or_default().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let series = series.strip_suffix("{}").unwrap_or(series);
        let name = series.split('{').next().unwrap_or_default();
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(typed.contains(family), "no # TYPE for {name}");
        assert!(name.starts_with("weir_"), "{line}");
        samples.insert(series.to_owned(), value.parse::<f64>().expect("a number"));
    }
    samples
}

/// The sum of the samples of `name` whose labels contain all of `labels`.
fn sum(p: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    p.iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{name}{{")) && labels.iter().all(|l| k.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn prometheus_metrics_count_what_a_finished_job_did() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cluster = MiniCluster::start(&tmp.path().join("mini"), 2, 2).expect("cluster");
    let chk = tmp.path().join("chk");
    // About a millisecond a record in the map: the job runs a few
    // checkpoint intervals.
    const COUNT: u64 = 1500;
    let job = slow_job(tmp.path(), COUNT, None, "slow");
    let args = s(&[
        "--checkpoint-interval",
        "100ms",
        "--checkpoint-dir",
        &chk.display().to_string(),
    ]);
    let id = cluster.submit(&job, &args).expect("submitted");
    let outcome = cluster.wait(&id, Duration::from_secs(60)).expect("ends");
    assert_eq!(outcome.state, "FINISHED");
    let p = scrape(&cluster.rest_url);
    let job = format!(r#"job_id="{id}""#);
    assert_eq!(p.get(r#"weir_jobs{state="FINISHED"}"#), Some(&1.0), "{p:?}");
    assert_eq!(p.get("weir_workers"), Some(&2.0));
    assert_eq!(p.get("weir_slots"), Some(&4.0));
    // What the generator made went through every operator once.
    let count = COUNT as f64;
    assert_eq!(
        sum(&p, "weir_records_out_total", &[&job, r#"operator="gen""#]),
        count
    );
    assert_eq!(
        sum(&p, "weir_records_in_total", &[&job, r#"operator="work""#]),
        count
    );
    assert_eq!(
        sum(&p, "weir_records_in_total", &[&job, r#"operator="out""#]),
        count
    );
    assert!(sum(&p, "weir_bytes_out_total", &[&job, r#"operator="gen""#]) >= count);
    // The map ran in Wasm: its calls were counted and timed.
    assert!(sum(&p, "weir_wasm_calls_total", &[&job, r#"operator="work""#]) >= 1.0);
    assert!(sum(&p, "weir_guest_memory_bytes", &[&job, r#"operator="work""#]) > 0.0);
    // Checkpoints, the final one included, as the REST API counts them.
    let stats = rest(&format!("{}/jobs/{id}/checkpoints", cluster.rest_url));
    let completed = stats["counts"]["completed"].as_f64().expect("completed");
    assert!(completed >= 1.0);
    assert_eq!(
        sum(&p, "weir_checkpoints_completed_total", &[&job]),
        completed
    );
    assert!(sum(&p, "weir_checkpoint_size_bytes", &[&job]) > 0.0);
    let labelled = p
        .keys()
        .filter(|k| k.contains(&job) && k.contains(r#"job="slow""#))
        .count();
    assert!(labelled > 10, "series carry the job's name and id");
}
