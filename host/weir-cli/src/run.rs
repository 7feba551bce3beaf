//! `weir run` and `weir validate`.

use crate::control::Registration;
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use weir_core::JobGraph;
use weir_core::args as params;
use weir_core::graph::{NodeKind, Overrides};
use weir_runtime::{JobHandle, RunOptions, human_bytes, run_job};
use weir_wasm::Runtime;

fn load(
    job: &Path,
    parallelism: Option<u32>,
    args: &[String],
) -> Result<(JobGraph, params::Trailing)> {
    let mut t = params::parse(args)?;
    let overrides = Overrides {
        parameters: std::mem::take(&mut t.params),
        parallelism: t.parallelism.or(parallelism),
        checkpoint_interval: t.checkpoint_interval,
        checkpoint_dir: t.checkpoint_dir.clone(),
        state_backend: t.state_backend,
        state_memory_mb: t.state_memory_mb,
        fuse_chained_calls: t.fuse_chained_calls,
    };
    let graph = if is_module(job) {
        module_job(job, &overrides)?
    } else {
        JobGraph::load(job, &overrides)?
    };
    Ok((graph, t))
}

/// Whether `path` is a StateFun module file rather than a job file.
fn is_module(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// The job that runs a StateFun module: its file ingresses, its functions
/// and its file egresses (see `weir_statefun::job`).
pub(crate) fn module_job(path: &Path, overrides: &Overrides) -> Result<JobGraph> {
    let params: std::collections::BTreeMap<String, String> =
        overrides.parameters.iter().cloned().collect();
    // File paths keep their `${name}` parameters in the job, so that paths
    // given on the command line resolve against the current directory as
    // in job files.
    let module = weir_statefun::module::Module::load(path, &params)?;
    let absolute = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let text = weir_statefun::job::job_text(&absolute, &module, &params)?;
    let base = absolute.parent().unwrap_or(Path::new(".")).to_owned();
    Ok(JobGraph::from_toml(&text, path, &base, overrides)?)
}

/// Runs a job, printing progress and a summary on standard error.
pub fn run(job: &Path, parallelism: Option<u32>, quiet: bool, args: &[String]) -> Result<()> {
    let (graph, t) = load(job, parallelism, args)?;
    let quiet = quiet || t.quiet;
    if t.restore.is_some() && t.from_savepoint.is_some() {
        bail!("give either --restore or --from-savepoint, not both");
    }
    let rt = Runtime::new().context("starting the Wasm runtime")?;
    let mut options = RunOptions {
        restore: t.restore.clone().or(t.from_savepoint.clone()),
        allow_non_restored_state: t.allow_non_restored_state,
        overwrite: t.overwrite,
        ..RunOptions::default()
    };
    let handle = Arc::new(JobHandle::default());
    options.handle = Some(handle.clone());
    let savepoint_dir = match (&t.savepoint_dir, &graph.checkpointing) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => c.dir.join("savepoints"),
        (None, None) => PathBuf::from("savepoints"),
    };
    let savepoint_dir = weir_checkpoint::absolute(&savepoint_dir).unwrap_or(savepoint_dir);
    // Without the control endpoint the job still runs; it just cannot be
    // listed or savepointed from outside.
    let registration = match Registration::start(&graph.name, job, handle, savepoint_dir) {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("warning: no control endpoint for this job: {e:#}");
            None
        }
    };
    if let (false, Some(r)) = (quiet, &registration) {
        eprintln!(
            "job '{}' running as {} (weir savepoint {} / weir stop --savepoint {})",
            graph.name, r.id, r.id, r.id
        );
    }
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
            let mut line = format!(
                "[{:>6.1}s] {} records read, {:.0} records/s",
                p.elapsed.as_secs_f64(),
                p.source_records,
                p.records_per_second
            );
            let c = &p.checkpoints;
            if c.completed > 0 {
                line.push_str(&format!(
                    ", {} checkpoints (last {} ms, {})",
                    c.completed,
                    c.last_duration.map_or(0, |d| d.as_millis()),
                    human_bytes(c.last_bytes)
                ));
            }
            if p.restarts > 0 {
                line.push_str(&format!(", {} restarts", p.restarts));
            }
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
    drop(registration);
    if tty && printed.load(Ordering::Relaxed) {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            if !quiet {
                eprint!("{summary}");
            }
            if let Some(p) = &summary.stopped_with_savepoint {
                println!("{}", p.display());
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
    let limits = weir_runtime::sandbox_limits(&graph);
    let mut problems = Vec::new();
    for node in &graph.nodes {
        if let NodeKind::Operator(op) = &node.kind {
            match rt.load(&op.component_path, &limits) {
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
