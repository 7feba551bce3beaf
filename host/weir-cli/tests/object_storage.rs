//! Checkpoints, savepoints and uploaded bundles on object storage, against
//! a real S3-compatible server (moto) started by each test: RocksDB's
//! incremental checkpoints upload each file once, a cluster keeps its
//! checkpoints, savepoints and bundles there and resumes a job stopped
//! with a savepoint on S3 exactly where it stopped, and a wrong endpoint
//! fails the job at once with the store's words. (The SIGKILL test with
//! `--restore s3://...` is in `recovery.rs`.)

mod common;

use common::moto::Moto;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The shared files a checkpoint's `_metadata` references.
fn shared_of(moto: &Moto, key: &str) -> Vec<String> {
    let m: Value = serde_json::from_slice(&moto.get(key)).expect("metadata JSON");
    m["shared"]
        .as_array()
        .expect("shared")
        .iter()
        .map(|v| v.as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn rocksdb_checkpoints_on_s3_upload_each_file_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let moto = Moto::start();
    let job = generated_job_sized(tmp.path(), 40_000, 8000.0);
    // Every checkpoint is retained, so that the reuse asserted below does
    // not depend on how many checkpoints a slow machine completes after
    // RocksDB's last compaction.
    let mut text = std::fs::read_to_string(&job).expect("job file");
    text.push_str(&format!(
        "[checkpointing]\ninterval_ms = 300\ndir = \"{}\"\nretain = 1000\n",
        moto.url("incremental")
    ));
    std::fs::write(&job, text).expect("job file");
    let out = tmp.path().join("out");
    let o = weir()
        .arg("run")
        .arg(&job)
        .args(["--quiet", "--parallelism", "1", "--output"])
        .arg(&out)
        .args(["--state-backend", "rocksdb"])
        .envs(moto.env())
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Every file under shared/ was PUT exactly once, however many
    // checkpoints referenced it (moto logs each request it served).
    let mut puts: BTreeMap<String, u32> = BTreeMap::new();
    for line in moto.requests() {
        if let Some(key) = line.strip_prefix("PUT /weir-test/incremental/shared/") {
            *puts.entry(key.to_owned()).or_default() += 1;
        }
    }
    assert!(!puts.is_empty(), "no shared file uploaded");
    assert!(puts.values().all(|n| *n == 1), "uploaded again: {puts:?}");
    // And some were referenced by more than one retained checkpoint: a
    // later checkpoint reused them instead of uploading them.
    let metadata: Vec<String> = moto
        .list("incremental")
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with("/_metadata"))
        .collect();
    assert!(metadata.len() >= 2, "{metadata:?}");
    let sets: Vec<BTreeSet<String>> = metadata
        .iter()
        .map(|k| shared_of(&moto, k).into_iter().collect())
        .collect();
    assert!(
        sets.windows(2)
            .any(|w| w[0].intersection(&w[1]).next().is_some()),
        "no file shared between checkpoints: {sets:?}"
    );
    // Each referenced file is there, with the size RocksDB wrote.
    let objects: BTreeMap<String, u64> = moto.list("incremental/shared").into_iter().collect();
    for rel in sets.iter().flatten() {
        let key = format!("incremental/shared/{rel}");
        assert!(objects.get(&key).is_some_and(|n| *n > 0), "{key} missing");
    }
    // The output is WordCount's, complete.
    let counts = final_counts(&committed_lines(&out));
    assert!(!counts.is_empty());
}

#[test]
fn a_cluster_keeps_checkpoints_savepoints_and_bundles_on_s3_and_resumes_from_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let moto = Moto::start();
    let job = generated_job_sized(tmp.path(), 60_000, 10000.0);
    // The failure-free reference, on the embedded runner.
    let reference = tmp.path().join("reference");
    reference_run(&job, &reference);

    let mut env = moto.env();
    env.push(("WEIR_STORAGE_DIR", moto.url("cluster")));
    let c = Cluster::start_env(tmp.path(), 2, 2, &[], &env);
    let out = tmp.path().join("out");
    let submitted = weir()
        .arg("submit")
        .arg(&job)
        .args(["--coordinator", &c.url, "--checkpoint-interval", "500ms"])
        .arg("--output")
        .arg(&out)
        .output()
        .expect("submit");
    c.assert_ok(&submitted, "submit");
    let stdout = String::from_utf8_lossy(&submitted.stdout).into_owned();
    let jid = stdout.lines().last().expect("job id").trim().to_owned();

    // Checkpoints complete, on S3 under the cluster's storage.
    let started = Instant::now();
    let latest = loop {
        let v = c.get(&format!("/jobs/{jid}/checkpoints"));
        if v["counts"]["completed"].as_u64().unwrap_or(0) >= 2 {
            break v["latest"]["completed"]["external_path"]
                .as_str()
                .expect("path")
                .to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoints: {v}\n{}",
            c.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let prefix = format!("s3://weir-test/cluster/checkpoints/{jid}/chk-");
    assert!(latest.starts_with(&prefix), "{latest}");
    let key = latest.trim_start_matches("s3://weir-test/");
    assert!(
        moto.list(key)
            .iter()
            .any(|(k, _)| k.ends_with("/_metadata")),
        "{key} on S3"
    );
    // The bundle went to S3 too, under its digest.
    let blobs = moto.list("cluster/blobs");
    assert!(
        blobs
            .iter()
            .any(|(k, n)| k.len() == "cluster/blobs/".len() + 64 && *n > 0),
        "{blobs:?}"
    );

    // Stop with a savepoint: its location is on S3, and it is complete.
    let mut r = ureq::post(format!("{}/jobs/{jid}/stop", c.url))
        .header("Content-Type", "application/json")
        .send("{}")
        .expect("stop");
    let rid: Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON");
    let rid = rid["request-id"].as_str().expect("request-id").to_owned();
    let started = Instant::now();
    let location = loop {
        let v = c.get(&format!("/jobs/{jid}/savepoints/{rid}"));
        if v["status"]["id"] == "COMPLETED" {
            break v["operation"]["location"]
                .as_str()
                .unwrap_or_else(|| panic!("failed: {v}"))
                .to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        location.starts_with("s3://weir-test/cluster/"),
        "{location}"
    );
    let sp_key = location.trim_start_matches("s3://weir-test/");
    let sp = moto.list(sp_key);
    assert!(sp.iter().any(|(k, _)| k.ends_with("/_metadata")), "{sp:?}");
    assert!(sp.iter().any(|(k, _)| k.ends_with(".snap")), "{sp:?}");

    // Resumed from the savepoint on S3 into the same output: the updates
    // are the failure-free run's, none lost or repeated.
    let o = weir()
        .arg("submit")
        .arg(&job)
        .args(["--coordinator", &c.url, "--wait", "--from-savepoint"])
        .arg(&location)
        .arg("--output")
        .arg(&out)
        .output()
        .expect("submit");
    c.assert_ok(&o, "resume from the savepoint");
    assert_eq!(committed_lines(&out), committed_lines(&reference));
}

#[test]
fn a_wrong_endpoint_or_bucket_fails_the_job_at_once_with_the_stores_words() {
    let tmp = tempfile::tempdir().expect("tmp");
    let moto = Moto::start();
    let input = tmp.path().join("in.txt");
    std::fs::write(&input, "a b\n").expect("input");
    let job = root().join("functions-examples/wordcount/wordcount.toml");
    let run = |location: &str, env: Vec<(&str, String)>| {
        weir()
            .arg("run")
            .arg(&job)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(tmp.path().join("out"))
            .args(["--checkpoint-interval", "1s", "--checkpoint-dir", location])
            .envs(env)
            .output()
            .expect("weir run")
    };
    // No such bucket.
    let o = run("s3://no-such-bucket/x", moto.env());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("s3://no-such-bucket/x") && err.contains("object storage"),
        "{err}"
    );
    // A store Weir does not speak is refused before anything runs.
    let o = run("gs://bucket/x", moto.env());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("'gs://' is not supported"), "{err}");
    // Nothing listening at the endpoint (moto's port, now closed).
    let mut env = moto.env();
    let endpoint = moto.endpoint.clone();
    drop(moto);
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", endpoint));
    let started = Instant::now();
    let o = run("s3://weir-test/x", env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("s3://weir-test/x"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(
        !tmp.path().join("out").exists()
            || std::fs::read_dir(tmp.path().join("out"))
                .expect("out")
                .next()
                .is_none(),
        "nothing written"
    );
}
