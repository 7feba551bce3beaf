//! Helpers for Weir's end-to-end tests: the shared runtime, the built
//! example components, job files, and independent reference computations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use weir_core::JobGraph;
use weir_core::graph::Overrides;
use weir_runtime::{JobFailure, JobSummary, RunOptions, run_job};
use weir_wasm::Runtime;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// A built example component, by crate file name (`wordcount`, `hostile`...).
pub fn component(name: &str) -> PathBuf {
    let p = root()
        .join("functions-examples/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: build the example functions first (scripts/test does, or `cargo run --release -p weir-cli -- build functions-examples`)",
        p.display()
    );
    p
}

/// One runtime for the whole test binary (components compile once).
pub fn runtime() -> Arc<Runtime> {
    static RT: OnceLock<Arc<Runtime>> = OnceLock::new();
    RT.get_or_init(|| Runtime::new().expect("runtime starts"))
        .clone()
}

/// Parses a job from text; relative paths resolve against `dir`.
pub fn job(text: &str, dir: &Path, params: &[(&str, &str)], parallelism: Option<u32>) -> JobGraph {
    JobGraph::from_toml(
        text,
        Path::new("test-job.toml"),
        dir,
        &Overrides {
            parameters: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            parallelism,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("job must be valid: {e}"))
}

/// Runs a job with default options.
pub fn run(graph: &JobGraph) -> Result<JobSummary, JobFailure> {
    run_job(graph, &runtime(), &RunOptions::default())
}

/// Every line of every part file in `dir`.
pub fn output_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("part file")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Reference tokenizer: maximal runs of ASCII letters, digits and `_`,
/// lower-cased; every other byte separates.
pub fn reference_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Reference word count.
pub fn reference_counts(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for t in reference_tokens(text) {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}
