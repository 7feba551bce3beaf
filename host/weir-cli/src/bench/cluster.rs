//! WordCount at parallelism 2 on a cluster of two workers (in this
//! process, talking gRPC over loopback) against the embedded runner at
//! parallelism 2, in the same run: what the cluster's transport costs.

use super::wordcount::corpus_file;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};
use weir_cluster::mini::MiniCluster;
use weir_core::JobGraph;
use weir_core::graph::Overrides;
use weir_runtime::{RunOptions, run_job};
use weir_wasm::Runtime;

fn job_text(component: &Path, corpus: &Path) -> String {
    format!(
        r#"
name = "bench-cluster-wordcount"
parallelism = 2
[components]
wc = "{}"
[[sources]]
id = "lines"
kind = "file"
path = "{}"
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
input = {{ from = "tokenize", exchange = "key-by" }}
[[operators]]
id = "format"
component = "wc"
function = "format"
kind = "flat-map"
input = "count"
[[sinks]]
id = "out"
kind = "discard"
input = "format"
"#,
        component.display(),
        corpus.display()
    )
}

pub(super) fn cluster(size_mb: u64, runs: u32, component: &Path, data_dir: &Path) -> Result<()> {
    if !component.is_file() {
        bail!(
            "component {} not found: build it with `weir build functions-examples`",
            component.display()
        );
    }
    let corpus = corpus_file(size_mb, data_dir)?.canonicalize()?;
    let component = component.canonicalize()?;
    let bytes = std::fs::metadata(&corpus)?.len();
    let tmp = tempfile::tempdir()?;
    let job = tmp.path().join("wordcount.toml");
    std::fs::write(&job, job_text(&component, &corpus))?;
    let graph = JobGraph::load(&job, &Overrides::default())?;
    let rt = Runtime::new()?;
    let mini =
        MiniCluster::start(&tmp.path().join("cluster"), 2, 1).context("starting the cluster")?;

    let mut embedded: Option<(Duration, u64)> = None;
    let mut clustered: Option<(Duration, u64)> = None;
    // One more run of each first, so both compile the component once.
    for run in 0..=runs {
        let t = Instant::now();
        let summary =
            run_job(&graph, &rt, &RunOptions::default()).map_err(|f| anyhow::anyhow!("{f}"))?;
        let e = t.elapsed();
        let tokens = summary.node("count").map_or(0, |n| n.records_in);

        let before = settled_bytes(&mini);
        let t = Instant::now();
        let id = mini.submit(&job, &[]).map_err(|e| anyhow::anyhow!(e))?;
        let outcome = mini
            .wait(&id, Duration::from_secs(3600))
            .map_err(|e| anyhow::anyhow!(e))?;
        let c = t.elapsed();
        if outcome.state != "FINISHED" {
            bail!(
                "the cluster run ended {}: {:?}",
                outcome.state,
                outcome.failures
            );
        }
        let sent = settled_bytes(&mini) - before;
        eprintln!(
            "run {run}{}: embedded {:.3} s, cluster {:.3} s, {sent} network bytes",
            if run == 0 { " (warm-up)" } else { "" },
            e.as_secs_f64(),
            c.as_secs_f64()
        );
        if run == 0 {
            continue;
        }
        if embedded.is_none_or(|b| e < b.0) {
            embedded = Some((e, tokens));
        }
        if clustered.is_none_or(|b| c < b.0) {
            clustered = Some((c, sent));
        }
    }
    let (Some((e, tokens)), Some((c, sent))) = (embedded, clustered) else {
        bail!("no runs");
    };
    println!(
        "Cluster WordCount benchmark: {:.1} MB corpus, {tokens} tokens, parallelism 2, best of {runs}",
        bytes as f64 / 1e6
    );
    println!(
        "  embedded runner (parallelism 2):         {:.3} s, {:.0} tokens/s",
        e.as_secs_f64(),
        tokens as f64 / e.as_secs_f64()
    );
    println!(
        "  cluster, 2 workers x 1 slot (gRPC):      {:.3} s, {:.0} tokens/s",
        c.as_secs_f64(),
        tokens as f64 / c.as_secs_f64()
    );
    println!(
        "  cluster / embedded throughput: {:.1} %",
        100.0 * e.as_secs_f64() / c.as_secs_f64()
    );
    println!(
        "  network: {sent} frame bytes between workers, {:.2} bytes per token ({:.1} MB per corpus MB)",
        sent as f64 / tokens.max(1) as f64,
        sent as f64 / bytes as f64
    );
    Ok(())
}

/// The workers' frame bytes once their heartbeats caught up.
fn settled_bytes(mini: &MiniCluster) -> u64 {
    let mut last = mini.network_bytes();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = mini.network_bytes();
        if now == last {
            return now;
        }
        last = now;
    }
}
