//! Operating a cluster as users run it (`weir cluster start`, real
//! processes): a cluster guarded by a token, each worker's own Prometheus
//! endpoint, and a cluster serving only over TLS.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A process stopped (SIGKILL) when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A worker outside the cluster's configuration, logging to
/// `<dir>/<name>.log`: `env` sets (`Some`) or removes (`None`) variables.
/// Its log is returned with it.
fn stray_worker(
    c: &Cluster,
    dir: &std::path::Path,
    name: &str,
    env: &[(&str, Option<&std::path::Path>)],
) -> (Killed, std::path::PathBuf) {
    let rpc: Value = serde_json::from_str(
        &std::fs::read_to_string(c.dir.join("coordinator/addresses.json")).expect("addresses"),
    )
    .expect("JSON");
    let log = dir.join(format!("{name}.log"));
    let mut cmd = weir();
    cmd.args(["--log-file", &log.display().to_string(), "worker"])
        .arg("--coordinator")
        .arg(rpc["rpc"].as_str().expect("rpc"))
        .arg("--data-dir")
        .arg(dir.join(name));
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    (Killed(cmd.spawn().expect("worker")), log)
}

/// Waits (20 s at most) until `log` says `text`.
fn wait_for_log(log: &std::path::Path, text: &str) {
    let started = Instant::now();
    while !std::fs::read_to_string(log).is_ok_and(|t| t.contains(text)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} never said '{text}'",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Submits WordCount over "a b a / c a b" at parallelism 2 with `env`
/// and checks the committed counts.
fn wordcount_across_workers(c: &Cluster, dir: &std::path::Path, env: (&str, &std::path::Path)) {
    let input = dir.join("in.txt");
    std::fs::write(&input, "a b a\nc a b\n").expect("input");
    let out = dir.join("out");
    let job = root().join("functions-examples/wordcount/wordcount.toml");
    let o = weir()
        .arg("submit")
        .arg(&job)
        .args(["--coordinator", &c.url, "--wait", "--parallelism", "2"])
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .env(env.0, env.1)
        .output()
        .expect("submit");
    c.assert_ok(&o, "submit");
    let counts = final_counts(&committed_lines(&out));
    let expected: BTreeMap<String, u64> = [("a", 3), ("b", 2), ("c", 1)]
        .map(|(w, n)| (w.to_owned(), n))
        .into();
    assert_eq!(counts, expected);
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
    wordcount_across_workers(&c, tmp.path(), ("WEIR_AUTH_TOKEN_FILE", &token));

    // A worker without the token is refused at registration.
    let (_intruder, log) = stray_worker(
        &c,
        tmp.path(),
        "intruder",
        &[("WEIR_AUTH_TOKEN_FILE", None)],
    );
    wait_for_log(&log, "refused this worker");
    assert_eq!(
        c.get("/overview")["taskmanagers"],
        2,
        "the intruder is not a worker"
    );
}

/// A worker's Prometheus text, from where it serves it.
fn scrape(agent: &ureq::Agent, dir: &std::path::Path) -> String {
    let addr = std::fs::read_to_string(dir.join("metrics-addr")).expect("metrics-addr");
    agent
        .get(format!("http://{}/metrics", addr.trim()))
        .call()
        .expect("scrape")
        .body_mut()
        .read_to_string()
        .expect("text")
}

/// The value of a worker's gauge `name` (labelled by the worker only).
fn gauge(agent: &ureq::Agent, dir: &std::path::Path, name: &str) -> Option<f64> {
    scrape(agent, dir)
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn each_worker_serves_prometheus_metrics_of_the_sub_tasks_it_runs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let job = generated_job(tmp.path());
    let c = Cluster::start(tmp.path(), 2, 2);
    let out = tmp.path().join("out");
    let mut child = weir()
        .arg("submit")
        .arg(&job)
        .args(["--coordinator", &c.url, "--output"])
        .arg(&out)
        .args(["--state-backend", "rocksdb"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("submit");
    let submitted = KillOnDrop(&mut child);
    let (ok, (stdout, _)) = submitted.wait_for(Duration::from_secs(60));
    assert!(ok, "submitted");
    let id = stdout.lines().last().expect("job id").trim().to_owned();
    let agent = ureq::Agent::new_with_defaults();
    // Every worker, where it runs, counts records of the job's sub-tasks
    // placed on it, labelled with its own id.
    let mut total_out = 0.0;
    let mut budgets = 0.0;
    for n in 1..=2 {
        let dir = c.dir.join(format!("worker-{n}"));
        let wid = std::fs::read_to_string(dir.join("worker-id")).expect("worker id");
        let started = Instant::now();
        let series = loop {
            let text = scrape(&agent, &dir);
            let mine: Vec<(String, f64)> = text
                .lines()
                .filter(|l| l.starts_with("weir_records_out_total{") && l.contains(&id))
                .filter_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    Some((k.to_owned(), v.parse().ok()?))
                })
                .collect();
            if mine
                .iter()
                .any(|(k, v)| k.contains(r#"operator="lines""#) && *v > 0.0)
            {
                break mine;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no records counted on worker-{n}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(
            series
                .iter()
                .all(|(k, _)| k.contains(&format!(r#"worker="{}""#, wid.trim()))),
            "{series:?}"
        );
        // The job's RocksDB budget on this worker: the default 256 MiB
        // where it runs keyed sub-tasks, none where it does not.
        let budget = gauge(&agent, &dir, "weir_rocksdb_memory_budget_bytes");
        assert!(
            budget == Some(f64::from(256u32 << 20)) || budget == Some(0.0),
            "worker-{n}'s RocksDB budget: {budget:?}"
        );
        budgets += budget.unwrap_or(0.0);
        total_out += series
            .iter()
            .filter(|(k, _)| k.contains(r#"operator="lines""#))
            .map(|(_, v)| v)
            .sum::<f64>();
    }
    // The job runs on, and the generator's records were counted. The
    // coordinator says RUNNING once every worker has acknowledged its
    // deployment, which can come after one worker already counts records
    // (opening RocksDB on a loaded machine).
    let started = Instant::now();
    let state = loop {
        let coordinator: Value = c.get(&format!("/jobs/{id}"));
        if coordinator["state"] != "CREATED" || started.elapsed() > Duration::from_secs(30) {
            break coordinator["state"].clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(state, "RUNNING");
    assert!(total_out > 0.0);
    assert!(
        budgets > 0.0,
        "the job's keyed sub-tasks have a RocksDB budget"
    );
    let r = ureq::Agent::new_with_defaults()
        .patch(format!("{}/jobs/{id}?mode=cancel", c.url))
        .send_empty()
        .expect("cancel");
    assert_eq!(r.status().as_u16(), 202);
}

/// A self-signed certificate for 127.0.0.1 and localhost: its PEM file,
/// and its key's.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".into()])
        .expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");
    (cert, key)
}

/// An HTTPS client trusting `ca` only (none: the web's root CAs).
fn https_agent(ca: Option<&std::path::Path>) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let roots = match ca {
        Some(p) => {
            let pem = std::fs::read(p).expect("ca");
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i.expect("PEM") {
                    ureq::tls::PemItem::Certificate(c) => Some(c.to_owned()),
                    _ => None,
                })
                .collect();
            RootCerts::Specific(std::sync::Arc::new(certs))
        }
        None => RootCerts::WebPki,
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .root_certs(roots)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

#[test]
fn a_cluster_with_tls_serves_rest_and_grpc_only_over_tls() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (cert, key) = self_signed(tmp.path());
    let env = [
        ("WEIR_TLS_CERT", cert.display().to_string()),
        ("WEIR_TLS_KEY", key.display().to_string()),
        ("WEIR_TLS_CA", cert.display().to_string()),
    ];
    let c = Cluster::start_env(tmp.path(), 2, 1, &[], &env);
    assert!(c.url.starts_with("https://127.0.0.1:"), "{}", c.url);
    // Both workers registered and beat over gRPC with TLS.
    let trusted = https_agent(Some(&cert));
    let first = overview(&trusted, &c);
    assert_eq!(first["taskmanagers"], 2, "{first}");
    // Plain HTTP gets no answer, and a client that does not trust the
    // certificate refuses the server.
    let plain = c.url.replacen("https://", "http://", 1);
    match ureq::get(format!("{plain}/overview")).call() {
        Err(ureq::Error::StatusCode(s)) => panic!("plain HTTP answered {s}"),
        Err(_) => {}
        Ok(r) => panic!("plain HTTP answered {}", r.status()),
    }
    let e = https_agent(None)
        .get(format!("{}/overview", c.url))
        .call()
        .expect_err("an untrusted certificate");
    assert!(
        e.to_string().to_lowercase().contains("certificate")
            || e.to_string().contains("UnknownIssuer"),
        "{e}"
    );

    // WordCount across both workers: the data plane is TLS too.
    wordcount_across_workers(&c, tmp.path(), ("WEIR_TLS_CA", &cert));

    // A worker without TLS cannot register.
    let (_plain, log) = stray_worker(
        &c,
        tmp.path(),
        "plain-worker",
        &[
            ("WEIR_TLS_CERT", None),
            ("WEIR_TLS_KEY", None),
            ("WEIR_TLS_CA", None),
        ],
    );
    wait_for_log(&log, "cannot register with the coordinator");
    assert_eq!(
        overview(&trusted, &c)["taskmanagers"],
        2,
        "the plain worker is not one"
    );

    // Nor can one with TLS whose certificate the cluster's CA did not
    // sign (gRPC is mutual TLS), though it trusts the coordinator.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).expect("dir");
    let (other_cert, other_key) = self_signed(&other);
    let (_stranger, log) = stray_worker(
        &c,
        tmp.path(),
        "stranger",
        &[
            ("WEIR_TLS_CERT", Some(&other_cert)),
            ("WEIR_TLS_KEY", Some(&other_key)),
            ("WEIR_TLS_CA", Some(&cert)),
        ],
    );
    wait_for_log(&log, "cannot register with the coordinator");
    assert_eq!(
        overview(&trusted, &c)["taskmanagers"],
        2,
        "the stranger is not one"
    );
}

/// `GET /overview` through `agent`.
fn overview(agent: &ureq::Agent, c: &Cluster) -> Value {
    let text = agent
        .get(format!("{}/overview", c.url))
        .call()
        .expect("GET /overview")
        .body_mut()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&text).expect("JSON")
}
