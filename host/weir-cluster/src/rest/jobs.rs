//! The jobs part of the REST API: lists, details, vertices, cancel,
//! savepoints and stop, checkpoints, exceptions.

use super::{Answer, ApiError, Shared, accepted, jobs_of, ok};
use crate::coordinator::{Cluster, JobEntry, JobState, SavepointOp};
use crate::ids::vertex_id;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use weir_core::plan::Chain;

pub(super) fn find_job(c: &Cluster, jid: &str) -> Result<Arc<JobEntry>, ApiError> {
    c.job(jid)
        .ok_or_else(|| ApiError::new(404, format!("Job {jid} not found")))
}

pub(super) async fn jobs(State(c): State<Shared>) -> Answer {
    let list: Vec<Value> = jobs_of(&c)
        .iter()
        .map(|j| json!({"id": j.id, "status": j.state().name()}))
        .collect();
    ok(json!({ "jobs": list }))
}

/// Counts of sub-task states, as Flink lists them.
fn task_counts(state: &str, n: u32, upper: bool) -> Value {
    let names = [
        "CREATED",
        "SCHEDULED",
        "DEPLOYING",
        "RUNNING",
        "FINISHED",
        "CANCELING",
        "CANCELED",
        "FAILED",
        "RECONCILING",
        "INITIALIZING",
    ];
    let mut m = serde_json::Map::new();
    for name in names {
        let v = if name == state { n } else { 0 };
        let k = if upper {
            name.to_owned()
        } else {
            name.to_lowercase()
        };
        m.insert(k, json!(v));
    }
    Value::Object(m)
}

/// What state the sub-tasks of a job in `state` are in.
fn task_state(state: JobState) -> &'static str {
    match state {
        JobState::Created | JobState::Restarting => "CREATED",
        JobState::Running => "RUNNING",
        JobState::Finished => "FINISHED",
        JobState::Failed => "FAILED",
        JobState::Cancelling => "CANCELING",
        JobState::Canceled => "CANCELED",
    }
}

pub(super) fn total_tasks(j: &JobEntry) -> u32 {
    j.plan.chains.iter().map(|c| c.parallelism).sum()
}

fn duration_of(j: &JobEntry, end: i64) -> i64 {
    let until = if end > 0 {
        end
    } else {
        crate::coordinator::jobs_now_ms()
    };
    until - j.start_ms
}

pub(super) async fn jobs_overview(State(c): State<Shared>) -> Answer {
    let list: Vec<Value> = jobs_of(&c)
        .iter()
        .map(|j| {
            let (state, end, modified) = j
                .inner
                .lock()
                .map(|i| (i.state, i.end_ms, i.last_modification))
                .unwrap_or((JobState::Failed, -1, 0));
            let mut tasks = task_counts(task_state(state), total_tasks(j), false);
            tasks["total"] = json!(total_tasks(j));
            json!({
                "jid": j.id, "name": j.name, "start-time": j.start_ms, "end-time": end,
                "duration": duration_of(j, end), "state": state.name(),
                "last-modification": modified, "tasks": tasks,
            })
        })
        .collect();
    ok(json!({ "jobs": list }))
}

/// A chain's vertex name, as Flink writes it ("a -> b").
pub(super) fn vertex_name(j: &JobEntry, chain: &Chain) -> String {
    chain
        .nodes
        .iter()
        .map(|&n| j.graph.nodes[n].id.as_str())
        .collect::<Vec<_>>()
        .join(" -> ")
}

pub(super) fn chain_vertex_id(j: &JobEntry, chain: &Chain) -> String {
    vertex_id(&vertex_name(j, chain))
}

/// One sub-task of a chain as the REST API shows it: the counters of its
/// head node (records in, time) and of its last node (records out), and
/// where it runs.
#[derive(Debug, Clone, Default)]
pub(super) struct ChainTask {
    pub(super) head: weir_proto::v1::Counter,
    pub(super) last: weir_proto::v1::Counter,
    pub(super) head_rates: crate::coordinator::metrics::Rates,
    pub(super) last_rates: crate::coordinator::metrics::Rates,
    pub(super) reported: bool,
    pub(super) worker: Option<String>,
}

/// Each sub-task of chain `c`, from the job's latest metrics.
pub(super) fn chain_tasks(j: &JobEntry, c: usize) -> Vec<ChainTask> {
    let chain = &j.plan.chains[c];
    let placements = j
        .inner
        .lock()
        .map(|i| i.placements.clone())
        .unwrap_or_default();
    let head = chain.nodes[0] as u32;
    let last = chain.nodes[chain.nodes.len() - 1] as u32;
    let metrics = j.metrics.lock().ok();
    (0..chain.parallelism)
        .map(|s| {
            let mut t = ChainTask {
                worker: placements.get(&(c, s)).cloned(),
                ..ChainTask::default()
            };
            if let Some(m) = &metrics {
                if let Some(h) = m.get(head, s) {
                    t.head = h.latest;
                    t.head_rates = h.rates;
                    t.reported = true;
                }
                if let Some(l) = m.get(last, s) {
                    t.last = l.latest;
                    t.last_rates = l.rates;
                }
            }
            t
        })
        .collect()
}

/// Flink's metrics of a vertex or sub-task: records and bytes at the
/// chain's ends, times of its head.
fn metrics_of(tasks: &[&ChainTask]) -> Value {
    let sum = |f: &dyn Fn(&ChainTask) -> u64| -> u64 { tasks.iter().map(|t| f(t)).sum() };
    let busy = |t: &ChainTask| {
        t.head
            .running_ms
            .saturating_sub(t.head.idle_ms + t.head.backpressured_ms)
    };
    json!({
        "read-bytes": sum(&|t| t.head.bytes_in), "read-bytes-complete": true,
        "write-bytes": sum(&|t| t.last.bytes_out), "write-bytes-complete": true,
        "read-records": sum(&|t| t.head.records_in), "read-records-complete": true,
        "write-records": sum(&|t| t.last.records_out), "write-records-complete": true,
        "accumulated-backpressured-time": sum(&|t| t.head.backpressured_ms),
        "accumulated-idle-time": sum(&|t| t.head.idle_ms),
        "accumulated-busy-time": sum(&busy) as f64,
    })
}

pub(super) async fn job(State(c): State<Shared>, Path(jid): Path<String>) -> Answer {
    let j = find_job(&c, &jid)?;
    let (state, end, timestamps, waiting) = j
        .inner
        .lock()
        .map(|i| (i.state, i.end_ms, i.timestamps.clone(), i.waiting.clone()))
        .map_err(|_| ApiError::new(500, "poisoned"))?;
    let ts_state = task_state(state);
    let mut vertices = Vec::new();
    let mut nodes = Vec::new();
    for (ci, chain) in j.plan.chains.iter().enumerate() {
        let tasks = chain_tasks(&j, ci);
        let id = chain_vertex_id(&j, chain);
        vertices.push(json!({
            "id": id, "slotSharingGroupId": vertex_id("default"),
            "name": vertex_name(&j, chain), "maxParallelism": j.graph.max_parallelism,
            "parallelism": chain.parallelism, "status": ts_state,
            "start-time": j.start_ms, "end-time": end, "duration": duration_of(&j, end),
            "tasks": task_counts(ts_state, chain.parallelism, true),
            "metrics": metrics_of(&tasks.iter().collect::<Vec<_>>()),
        }));
        let inputs: Vec<Value> = chain
            .inputs
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let from = j.plan.chain_of[j.graph.edges[i.edge].from];
                json!({
                    "num": n, "id": chain_vertex_id(&j, &j.plan.chains[from]),
                    "ship_strategy": match i.exchange {
                        weir_core::spec::Exchange::KeyBy => "HASH",
                        weir_core::spec::Exchange::Forward => "FORWARD",
                        weir_core::spec::Exchange::Rebalance => "REBALANCE",
                        weir_core::spec::Exchange::Broadcast => "BROADCAST",
                    },
                    "exchange": "pipelined_bounded",
                })
            })
            .collect();
        nodes.push(json!({
            "id": id, "parallelism": chain.parallelism, "operator": "", "operator_strategy": "",
            "description": vertex_name(&j, chain), "inputs": inputs, "optimizer_properties": {},
        }));
    }
    let mut ts = serde_json::Map::new();
    for name in [
        "RECONCILING",
        "INITIALIZING",
        "CREATED",
        "CANCELLING",
        "RESTARTING",
        "CANCELED",
        "FAILED",
        "FAILING",
        "SUSPENDED",
        "RUNNING",
        "FINISHED",
    ] {
        let at = timestamps
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, t)| *t);
        ts.insert(name.to_owned(), json!(at));
    }
    let total = total_tasks(&j);
    ok(json!({
        "jid": j.id, "name": j.name, "isStoppable": false, "state": state.name(),
        "job-type": "STREAMING", "start-time": j.start_ms, "end-time": end,
        "duration": duration_of(&j, end), "maxParallelism": j.graph.max_parallelism,
        "now": crate::coordinator::jobs_now_ms(), "timestamps": ts, "vertices": vertices,
        "status-counts": task_counts(ts_state, total, true),
        "plan": {"jid": j.id, "name": j.name, "type": "STREAMING", "nodes": nodes},
        // Weir's own: why a job is not running yet.
        "status-message": waiting,
    }))
}

pub(super) async fn vertex(
    State(c): State<Shared>,
    Path((jid, vid)): Path<(String, String)>,
) -> Answer {
    let (j, ci) = job_vertex(&c, &jid, &vid)?;
    let chain = &j.plan.chains[ci];
    let (state, end, attempt) = j
        .inner
        .lock()
        .map(|i| (i.state, i.end_ms, i.attempt))
        .map_err(|_| ApiError::new(500, "poisoned"))?;
    let addrs: HashMap<String, String> = c
        .workers
        .lock()
        .map(|w| w.values().map(|w| (w.id.clone(), w.addr.clone())).collect())
        .unwrap_or_default();
    let subtasks: Vec<Value> = chain_tasks(&j, ci)
        .into_iter()
        .enumerate()
        .map(|(s, t)| {
            let worker = t.worker.clone().unwrap_or_default();
            let endpoint = addrs.get(&worker).cloned().unwrap_or_default();
            let host = endpoint
                .rsplit_once(':')
                .map(|(h, _)| h.to_owned())
                .unwrap_or_default();
            json!({
                "subtask": s, "status": task_state(state), "attempt": attempt,
                "host": host, "endpoint": endpoint,
                "start-time": j.start_ms, "end-time": end, "duration": duration_of(&j, end),
                "metrics": metrics_of(&[&t]), "taskmanager-id": worker,
                "status-duration": status_durations(task_state(state), |_| json!(0), json!(duration_of(&j, end))),
                "start_time": j.start_ms,
            })
        })
        .collect();
    let stat = |key: &str| -> Value {
        let v: Vec<u64> = subtasks
            .iter()
            .map(|s| s["metrics"][key].as_f64().unwrap_or(0.0) as u64)
            .collect();
        aggregate(&v)
    };
    let aggregated = json!({
        "metrics": {
            "read-records": stat("read-records"), "write-records": stat("write-records"),
            "read-bytes": stat("read-bytes"), "write-bytes": stat("write-bytes"),
            "accumulated-backpressured-time": stat("accumulated-backpressured-time"),
            "accumulated-idle-time": stat("accumulated-idle-time"),
            "accumulated-busy-time": stat("accumulated-busy-time"),
        },
        "status-duration": status_durations(
            task_state(state),
            |_| aggregate(&vec![0; subtasks.len()]),
            aggregate(&vec![duration_of(&j, end).max(0) as u64; subtasks.len()]),
        ),
    });
    ok(json!({
        "id": vid, "name": vertex_name(&j, chain), "parallelism": chain.parallelism,
        "maxParallelism": j.graph.max_parallelism, "now": crate::coordinator::jobs_now_ms(),
        "subtasks": subtasks, "aggregated": aggregated,
    }))
}

/// Time spent in each sub-task state Flink lists: `now` for the current
/// one (Weir does not time the short ones before it).
fn status_durations(current: &str, before: impl Fn(&str) -> Value, now: Value) -> Value {
    let mut m = serde_json::Map::new();
    for name in ["CREATED", "SCHEDULED", "DEPLOYING", "INITIALIZING"] {
        m.insert(name.to_owned(), before(name));
    }
    m.insert(current.to_owned(), now);
    Value::Object(m)
}

/// Flink's aggregate of a metric over sub-tasks.
pub(super) fn aggregate(v: &[u64]) -> Value {
    let mut s = v.to_vec();
    s.sort_unstable();
    let pick = |q: f64| -> u64 {
        if s.is_empty() {
            return 0;
        }
        s[((s.len() - 1) as f64 * q).round() as usize]
    };
    let sum: u64 = s.iter().sum();
    json!({
        "min": pick(0.0), "max": pick(1.0), "sum": sum,
        "avg": if s.is_empty() { 0 } else { sum / s.len() as u64 },
        "median": pick(0.5), "p25": pick(0.25), "p75": pick(0.75), "p95": pick(0.95),
    })
}

pub(super) async fn cancel_job(
    State(c): State<Shared>,
    Path(jid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let j = find_job(&c, &jid)?;
    match q.get("mode").map(String::as_str) {
        None | Some("cancel") => {}
        Some(m) => {
            return Err(ApiError::new(
                400,
                format!("mode '{m}' is not supported (only cancel)"),
            ));
        }
    }
    if !j.state().is_terminal() {
        j.set_state(JobState::Cancelling);
        j.handle.cancel();
    }
    accepted(json!({}))
}

fn body_json(body: &axum::body::Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("the request body is not JSON: {e}")))
}

/// Job `jid` and the chain of its vertex `vid`.
pub(super) fn job_vertex(
    c: &Cluster,
    jid: &str,
    vid: &str,
) -> Result<(Arc<JobEntry>, usize), ApiError> {
    let j = find_job(c, jid)?;
    let ci = j
        .plan
        .chains
        .iter()
        .position(|ch| chain_vertex_id(&j, ch) == vid)
        .ok_or_else(|| ApiError::new(404, format!("vertex {vid} not found in job {jid}")))?;
    Ok((j, ci))
}

pub(super) fn running_job(c: &Cluster, jid: &str, what: &str) -> Result<Arc<JobEntry>, ApiError> {
    let j = find_job(c, jid)?;
    if j.state().is_terminal() {
        return Err(ApiError::new(
            409,
            format!("job {jid} is {}: no {what} can be taken", j.state().name()),
        ));
    }
    Ok(j)
}

/// Starts a savepoint of a running job: the directory from the body's
/// `dir_field`, stopping the job after it when `stop` says so.
fn start_savepoint(
    c: &Cluster,
    jid: &str,
    body: &axum::body::Bytes,
    dir_field: &str,
    stop: impl Fn(&Value) -> bool,
) -> Answer {
    let j = running_job(c, jid, "savepoint")?;
    let b = body_json(body)?;
    let dir = b
        .get(dir_field)
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from);
    let rid = crate::coordinator::savepoint(&j, dir, stop(&b));
    accepted(json!({ "request-id": rid }))
}

/// `POST /jobs/:jid/savepoints` (Flink's `SavepointTriggerRequestBody`).
pub(super) async fn trigger_savepoint(
    State(c): State<Shared>,
    Path(jid): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    start_savepoint(&c, &jid, &body, "target-directory", |b| {
        b.get("cancel-job")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    })
}

/// `POST /jobs/:jid/stop` (Flink's `StopWithSavepointRequestBody`).
pub(super) async fn stop_job(
    State(c): State<Shared>,
    Path(jid): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    start_savepoint(&c, &jid, &body, "targetDirectory", |_| true)
}

pub(super) async fn savepoint_status(
    State(c): State<Shared>,
    Path((jid, rid)): Path<(String, String)>,
) -> Answer {
    let j = find_job(&c, &jid)?;
    let op = j
        .savepoints
        .lock()
        .ok()
        .and_then(|o| o.get(&rid).cloned())
        .ok_or_else(|| ApiError::new(404, format!("no savepoint request {rid} for job {jid}")))?;
    ok(match op {
        SavepointOp::InProgress => json!({"status": {"id": "IN_PROGRESS"}, "operation": null}),
        SavepointOp::Completed(p) => json!({
            "status": {"id": "COMPLETED"},
            "operation": {"location": super::checkpoints::location(&p)},
        }),
        SavepointOp::Failed(e) => json!({
            "status": {"id": "COMPLETED"},
            "operation": {"failure-cause": {"class": "weir.SavepointFailed", "stack-trace": e, "serialized-throwable": null}},
        }),
    })
}

pub(super) async fn exceptions(State(c): State<Shared>, Path(jid): Path<String>) -> Answer {
    let j = find_job(&c, &jid)?;
    let list = j
        .inner
        .lock()
        .map(|i| i.exceptions.clone())
        .unwrap_or_default();
    let entries: Vec<Value> = list
        .iter()
        .rev()
        .map(|(ts, f)| {
            json!({
                "exceptionName": format!("weir.{}", match f.domain {
                    weir_core::ErrorDomain::User => "UserError",
                    weir_core::ErrorDomain::External => "ExternalError",
                    weir_core::ErrorDomain::Internal => "InternalError",
                }),
                "stacktrace": f.to_string(), "timestamp": ts,
                "taskName": f.operator, "location": null, "endpoint": null, "taskManagerId": null,
                "failureLabels": {}, "concurrentExceptions": [],
            })
        })
        .collect();
    let root = list.last();
    ok(json!({
        "root-exception": root.map(|(_, f)| f.to_string()),
        "timestamp": root.map(|(t, _)| t),
        "all-exceptions": [],
        "truncated": false,
        "exceptionHistory": {"entries": entries, "truncated": false},
    }))
}
