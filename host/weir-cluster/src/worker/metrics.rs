//! A worker's own Prometheus endpoint: `GET /metrics` with the series of
//! the sub-tasks it runs now (the coordinator's `/metrics` has every
//! worker's; this one lets Prometheus scrape each worker where it runs).

use super::State;
use crate::ClusterError;
use crate::prom::{Exposition, Labels, TaskSample, task_series};
use axum::extract::State as Shared;
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The file in a worker's data directory naming where it serves metrics.
pub const METRICS_ADDR_FILE: &str = "metrics-addr";

/// Binds `addr`, writes the address bound in the data directory, and
/// serves `/metrics` in the background.
pub(super) async fn serve(state: Arc<State>, addr: SocketAddr) -> Result<(), ClusterError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ClusterError::Io(format!("metrics on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| ClusterError::Io(e.to_string()))?;
    std::fs::write(state.data_dir.join(METRICS_ADDR_FILE), local.to_string())
        .map_err(|e| ClusterError::Io(format!("{}: {e}", state.data_dir.display())))?;
    tracing::info!("metrics on http://{local}/metrics");
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(())
}

/// The RocksDB memory budget of the jobs running here, and what its block
/// cache holds (all zero without RocksDB state).
fn rocksdb_series(e: &mut Exposition, worker: &Labels) {
    let u = weir_runtime::rocksdb_memory();
    for (name, help, v) in [
        (
            "rocksdb_memory_budget_bytes",
            "RocksDB memory budget of the running jobs (block cache, memtables and value-write buffers).",
            u.budget_bytes,
        ),
        (
            "rocksdb_block_cache_capacity_bytes",
            "Capacity of the shared RocksDB block cache.",
            u.cache_capacity_bytes,
        ),
        (
            "rocksdb_block_cache_usage_bytes",
            "What the shared RocksDB block cache holds (data, index and filter blocks).",
            u.cache_usage_bytes,
        ),
        (
            "rocksdb_block_cache_pinned_bytes",
            "Pinned part of the shared RocksDB block cache.",
            u.cache_pinned_bytes,
        ),
        (
            "rocksdb_write_buffer_capacity_bytes",
            "Part of the RocksDB budget for value writes held before they reach the databases.",
            u.write_buffer_capacity_bytes,
        ),
    ] {
        e.gauge(name, help, worker, v as f64);
    }
}

async fn metrics(Shared(state): Shared<Arc<State>>) -> axum::response::Response {
    let mut e = Exposition::default();
    let worker: Labels = vec![("worker".into(), state.id.clone())];
    e.counter(
        "network_bytes_out",
        "Frame bytes this worker sent to other workers.",
        &worker,
        state.outgoing.bytes_out.load(Ordering::Relaxed) as f64,
    );
    rocksdb_series(&mut e, &worker);
    let now = crate::coordinator::jobs_now_ms();
    if let Ok(running) = state.running.lock() {
        e.gauge(
            "worker_attempts",
            "Job attempts running on this worker.",
            &worker,
            running.len() as f64,
        );
        for r in running.values() {
            let counters = r.counters.lock().map(|c| c.clone()).unwrap_or_default();
            for c in &counters {
                let n = c.node as usize;
                task_series(
                    &mut e,
                    &TaskSample {
                        job: &r.job_name,
                        job_id: &r.attempt.job_id,
                        operator: r.operators.get(n).map_or("", String::as_str),
                        worker: &state.id,
                        counter: c,
                        rates: None,
                        head: r.heads.get(n).copied().unwrap_or(false),
                        now_ms: now,
                    },
                );
            }
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        e.render(),
    )
        .into_response()
}
