//! Weir as a cluster: a coordinator (REST API, workers' slots, jobs and
//! their checkpoints) and workers (sub-tasks, the data plane between
//! them), over gRPC. The embedded runner's code runs on both sides: the
//! coordinator drives the runtime's checkpoint coordinator through a
//! [`coordinator::ClusterExecutor`], workers run a
//! [`weir_runtime::Deployment`] per attempt.

pub mod auth;
pub mod blobs;
pub mod bundle;
pub mod convert;
pub mod coordinator;
pub mod data;
pub mod ids;
mod logs;
pub mod mini;
mod prom;
mod rest;
pub mod tls;
pub mod worker;

/// Why a coordinator or worker cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A bad address or setting.
    #[error("{0}")]
    Config(String),
    /// A socket or file failed.
    #[error("{0}")]
    Io(String),
}

/// A digest of what a job graph runs (its nodes, their parallelism and
/// wiring), so a worker that built a different graph refuses to deploy.
pub fn fingerprint(graph: &weir_core::JobGraph) -> String {
    let mut text = format!("{}|{}|", graph.name, graph.max_parallelism);
    for n in &graph.nodes {
        text.push_str(&format!(
            "{}:{}:{};",
            n.id,
            n.parallelism,
            weir_runtime::node_kind(&n.kind)
        ));
    }
    for e in &graph.edges {
        text.push_str(&format!(
            "{}>{}:{:?}:{:?};",
            e.from, e.to, e.exchange, e.output
        ));
    }
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
}
