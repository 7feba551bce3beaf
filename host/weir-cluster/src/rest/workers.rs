//! Workers (Flink's task managers) and the coordinator itself in the REST
//! API: the list, one worker with its slots and the sub-tasks it runs, and the
//! coordinator's configuration.

use super::jobs::{chain_vertex_id, vertex_name};
use super::{Answer, ApiError, Shared, jobs_of, ok};
use crate::coordinator::WorkerEntry;
use axum::extract::{Path, State};
use serde_json::{Value, json};

/// A worker as Flink lists a task manager.
fn worker_json(w: &WorkerEntry) -> Value {
    let zero = json!({"cpuCores": 0.0, "taskHeapMemory": 0, "taskOffHeapMemory": 0, "managedMemory": 0, "networkMemory": 0, "extendedResources": {}});
    json!({
        "id": w.id,
        "path": format!("grpc://{}", w.addr),
        "dataPort": w.data_port,
        "jmxPort": -1,
        "timeSinceLastHeartbeat": crate::coordinator::jobs_now_ms() - w.last_beat.elapsed().as_millis() as i64,
        "slotsNumber": w.slots,
        "freeSlots": w.free_slots(),
        "totalResource": {"cpuCores": f64::from(w.cpu_cores), "taskHeapMemory": 0, "taskOffHeapMemory": 0, "managedMemory": 0, "networkMemory": 0, "extendedResources": {}},
        "freeResource": zero,
        "hardware": {"cpuCores": w.cpu_cores, "physicalMemory": w.physical_memory, "freeMemory": 0, "managedMemory": 0},
        "memoryConfiguration": {"frameworkHeap": 0, "taskHeap": 0, "frameworkOffHeap": 0, "taskOffHeap": 0, "networkMemory": 0, "managedMemory": 0, "jvmMetaspace": 0, "jvmOverhead": 0, "totalFlinkMemory": 0, "totalProcessMemory": 0},
    })
}

/// `GET /taskmanagers`.
pub(super) async fn workers(State(c): State<Shared>) -> Answer {
    let workers = c
        .workers
        .lock()
        .map_err(|_| ApiError::new(500, "poisoned"))?;
    let list: Vec<Value> = workers
        .values()
        .filter(|w| w.ready)
        .map(worker_json)
        .collect();
    ok(json!({ "taskmanagers": list }))
}

/// `GET /taskmanagers/:id`: the worker, a slot per sub-task it runs
/// (`allocatedSlots`, as Flink), and Weir's `subtasks`: which vertex and
/// sub-task each is.
pub(super) async fn worker(State(c): State<Shared>, Path(id): Path<String>) -> Answer {
    let (mut v, used) = {
        let workers = c
            .workers
            .lock()
            .map_err(|_| ApiError::new(500, "poisoned"))?;
        let w = workers
            .get(&id)
            .ok_or_else(|| ApiError::new(404, format!("no worker {id}")))?;
        (worker_json(w), w.used.clone())
    };
    // A slot per slot a job holds (its sub-tasks share them).
    let mut slots = Vec::new();
    for (job, n) in &used {
        for _ in 0..*n {
            slots.push(json!({"jobId": job, "resource": {"cpuCores": 1.0, "taskHeapMemory": 0, "taskOffHeapMemory": 0, "managedMemory": 0, "networkMemory": 0, "extendedResources": {}}}));
        }
    }
    let mut subtasks = Vec::new();
    let mut guest_memory = 0u64;
    for j in jobs_of(&c) {
        if j.state().is_terminal() {
            continue;
        }
        let placements = j
            .inner
            .lock()
            .map(|i| i.placements.clone())
            .unwrap_or_default();
        let mut mine: Vec<_> = placements
            .iter()
            .filter(|(_, w)| **w == id)
            .map(|(t, _)| *t)
            .collect();
        mine.sort_unstable();
        if let Ok(m) = j.metrics.lock() {
            for (&(node, subtask), s) in m.all() {
                let chain = j.plan.chain_of.get(node as usize).copied();
                if chain.is_some_and(|ch| mine.contains(&(ch, subtask))) {
                    guest_memory += s.latest.guest_memory_bytes;
                }
            }
        }
        for (chain, subtask) in mine {
            let Some(ch) = j.plan.chains.get(chain) else {
                continue;
            };
            subtasks.push(json!({
                "jobId": j.id, "jobName": j.name, "vertexId": chain_vertex_id(&j, ch),
                "vertexName": vertex_name(&j, ch), "subtask": subtask,
            }));
        }
    }
    v["allocatedSlots"] = json!(slots);
    // Flink's JVM figures have no counterpart but the Wasm guests' memory,
    // shown as the heap; the rest are zero.
    let mut metrics = serde_json::Map::new();
    for k in [
        "heapCommitted",
        "heapMax",
        "nonHeapUsed",
        "nonHeapCommitted",
        "nonHeapMax",
        "directCount",
        "directUsed",
        "directMax",
        "mappedCount",
        "mappedUsed",
        "mappedMax",
        "memorySegmentsAvailable",
        "memorySegmentsTotal",
        "nettyShuffleMemorySegmentsAvailable",
        "nettyShuffleMemorySegmentsUsed",
        "nettyShuffleMemorySegmentsTotal",
        "nettyShuffleMemoryAvailable",
        "nettyShuffleMemoryUsed",
        "nettyShuffleMemoryTotal",
    ] {
        metrics.insert(k.to_owned(), json!(0));
    }
    metrics.insert("heapUsed".to_owned(), json!(guest_memory));
    metrics.insert("garbageCollectors".to_owned(), json!([]));
    v["metrics"] = Value::Object(metrics);
    v["subtasks"] = json!(subtasks);
    ok(v)
}

/// `GET /jobmanager/config`: the coordinator's settings as key / value
/// pairs.
pub(super) async fn coordinator_config(State(c): State<Shared>) -> Answer {
    let cfg = &c.cfg;
    let pairs = [
        ("rest.address", cfg.rest.to_string()),
        ("rpc.address", cfg.rpc.to_string()),
        ("data.dir", cfg.data_dir.display().to_string()),
        (
            "state.storage.dir",
            cfg.storage_root().display().to_string(),
        ),
        (
            "heartbeat.interval",
            cfg.heartbeat_interval.as_millis().to_string(),
        ),
        (
            "heartbeat.timeout",
            cfg.heartbeat_timeout.as_millis().to_string(),
        ),
        (
            "slot.request.timeout",
            cfg.slot_timeout.as_millis().to_string(),
        ),
        ("epoch", c.epoch.to_string()),
    ];
    ok(Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    ))
}

/// A log as text.
fn text_of(t: crate::logs::Tail) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        t.text,
    )
        .into_response()
}

/// Flink's list of a process's log files.
fn list_of(t: &crate::logs::Tail) -> Value {
    json!({"logs": [{"name": t.name, "size": t.size, "mtime": t.modified_ms}]})
}

fn coordinator_tail(c: &crate::coordinator::Cluster) -> Result<crate::logs::Tail, ApiError> {
    let path = c.cfg.log_file.as_ref().ok_or_else(|| {
        ApiError::new(
            404,
            "the coordinator logs to standard error only (start it with --log-file)",
        )
    })?;
    crate::logs::tail(path, 0)
        .map_err(|e| ApiError::new(500, format!("cannot read {}: {e}", path.display())))
}

/// `GET /jobmanager/log`: the end of the coordinator's log file.
pub(super) async fn coordinator_log(
    State(c): State<Shared>,
) -> Result<axum::response::Response, ApiError> {
    coordinator_tail(&c).map(text_of)
}

/// `GET /jobmanager/logs`.
pub(super) async fn coordinator_logs(State(c): State<Shared>) -> Answer {
    ok(list_of(&coordinator_tail(&c)?))
}

/// The end of worker `id`'s log file, asked of the worker.
async fn worker_tail(
    c: &crate::coordinator::Cluster,
    id: &str,
) -> Result<crate::logs::Tail, ApiError> {
    let mut client = c
        .workers
        .lock()
        .map_err(|_| ApiError::new(500, "poisoned"))?
        .get(id)
        .map(|w| w.client.clone())
        .ok_or_else(|| ApiError::new(404, format!("no worker {id}")))?;
    let mut req = tonic::Request::new(weir_proto::v1::LogRequest { max_bytes: 0 });
    req.set_timeout(std::time::Duration::from_secs(10));
    let t = client
        .read_log(req)
        .await
        .map_err(|e| {
            ApiError::new(
                502,
                format!("worker {id} did not send its log: {}", e.message()),
            )
        })?
        .into_inner();
    if t.name.is_empty() {
        return Err(ApiError::new(
            404,
            format!("worker {id} logs to standard error only (start it with --log-file)"),
        ));
    }
    Ok(crate::logs::Tail {
        name: t.name,
        size: t.size,
        modified_ms: t.modified_ms,
        text: t.text,
    })
}

/// `GET /taskmanagers/:id/log`.
pub(super) async fn worker_log(
    State(c): State<Shared>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    worker_tail(&c, &id).await.map(text_of)
}

/// `GET /taskmanagers/:id/logs`.
pub(super) async fn worker_logs(State(c): State<Shared>, Path(id): Path<String>) -> Answer {
    ok(list_of(&worker_tail(&c, &id).await?))
}
