//! `weir run` and `weir validate`.

use crate::params;
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use weir_core::JobGraph;
use weir_core::graph::{NodeKind, Overrides};
use weir_runtime::{RunOptions, run_job};
use weir_wasm::Runtime;

fn load(job: &Path, parallelism: Option<u32>, args: &[String]) -> Result<(JobGraph, bool)> {
    let t = params::parse(args)?;
    let graph = JobGraph::load(
        job,
        &Overrides {
            parameters: t.params,
            parallelism: t.parallelism.or(parallelism),
        },
    )?;
    Ok((graph, t.quiet))
}

/// Runs a job, printing progress and a summary on standard error.
pub fn run(job: &Path, parallelism: Option<u32>, quiet: bool, args: &[String]) -> Result<()> {
    let (graph, quiet2) = load(job, parallelism, args)?;
    let quiet = quiet || quiet2;
    let rt = Runtime::new().context("starting the Wasm runtime")?;
    let mut options = RunOptions::default();
    let tty = std::io::stderr().is_terminal();
    let printed = Arc::new(AtomicBool::new(false));
    if !quiet {
        let printed = printed.clone();
        options.progress_interval = if tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        };
        options.on_progress = Some(Arc::new(move |p| {
            let line = format!(
                "[{:>6.1}s] {} records read, {:.0} records/s",
                p.elapsed.as_secs_f64(),
                p.source_records,
                p.records_per_second
            );
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}   ")
            } else {
                writeln!(err, "{line}")
            };
            printed.store(true, Ordering::Relaxed);
        }));
    }
    let result = run_job(&graph, &rt, &options);
    if tty && printed.load(Ordering::Relaxed) {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            if !quiet {
                eprint!("{summary}");
            }
            Ok(())
        }
        Err(f) => bail!("job '{}' failed: {f}", graph.name),
    }
}

/// Validates a job file and its components.
pub fn validate(job: &Path, args: &[String]) -> Result<()> {
    let (graph, _) = load(job, None, args)?;
    let rt = Runtime::new().context("starting the Wasm runtime")?;
    let mut problems = Vec::new();
    for node in &graph.nodes {
        if let NodeKind::Operator(op) = &node.kind {
            match rt.load(&op.component_path) {
                Ok(c) => {
                    if let Err(m) = c.check_function(&op.function, op.kind) {
                        problems.push(format!("operator '{}': {m}", node.id));
                    }
                }
                Err(e) => problems.push(format!("operator '{}': {e}", node.id)),
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "invalid job '{}':\n  - {}",
            graph.name,
            problems.join("\n  - ")
        );
    }
    println!(
        "job '{}' is valid: {} nodes, max parallelism {}",
        graph.name,
        graph.nodes.len(),
        graph.max_parallelism
    );
    Ok(())
}
