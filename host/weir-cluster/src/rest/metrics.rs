//! Metrics in the REST API: a vertex's backpressure and watermarks, Flink's
//! metric endpoints (`?get=`, `?agg=`, `?subtasks=`), and the Prometheus
//! exposition of the coordinator.

use super::jobs::{ChainTask, chain_tasks, find_job, job_vertex};
use super::{Answer, ApiError, Shared, jobs_of, ok};
use crate::coordinator::{Cluster, JobEntry};
use crate::prom::{Exposition, Labels, TaskSample, task_series};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// A metric's value: integers stay exact (Flink answers watermarks of
/// `Long.MIN_VALUE`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn text(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => f.to_string(),
        }
    }
}

fn int(v: u64) -> Num {
    Num::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Flink's backpressure level of a ratio.
fn level(ratio: f64) -> &'static str {
    if ratio <= 0.10 {
        "ok"
    } else if ratio <= 0.5 {
        "low"
    } else {
        "high"
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `GET /jobs/:jid/vertices/:vid/backpressure`: the share of time each
/// sub-task waited for downstream over the last second or so.
pub(super) async fn backpressure(
    State(c): State<Shared>,
    Path((jid, vid)): Path<(String, String)>,
) -> Answer {
    let (j, ci) = job_vertex(&c, &jid, &vid)?;
    let tasks = chain_tasks(&j, ci);
    let mut worst: f64 = 0.0;
    let subtasks: Vec<Value> = tasks
        .iter()
        .enumerate()
        .map(|(s, t)| {
            let r = t.head_rates;
            worst = worst.max(r.backpressured);
            json!({
                "subtask": s, "backpressureLevel": level(r.backpressured),
                "ratio": round3(r.backpressured), "idleRatio": round3(r.idle),
                "busyRatio": round3(r.busy), "backpressure-level": level(r.backpressured),
            })
        })
        .collect();
    let reported = tasks.iter().any(|t| t.reported);
    ok(json!({
        // "deprecated" when there is nothing to measure (Flink's answer for
        // a job not running).
        "status": if reported { "ok" } else { "deprecated" },
        "backpressureLevel": level(worst), "end-timestamp": crate::coordinator::jobs_now_ms(),
        "subtasks": subtasks, "backpressure-level": level(worst),
    }))
}

/// `GET /jobs/:jid/vertices/:vid/watermarks`.
pub(super) async fn watermarks(
    State(c): State<Shared>,
    Path((jid, vid)): Path<(String, String)>,
) -> Answer {
    let (j, ci) = job_vertex(&c, &jid, &vid)?;
    let list: Vec<Value> = chain_tasks(&j, ci)
        .iter()
        .enumerate()
        .filter(|(_, t)| t.reported)
        .map(|(s, t)| {
            json!({"id": format!("{s}.currentInputWatermark"), "value": t.head.watermark.to_string()})
        })
        .collect();
    ok(Value::Array(list))
}

/// The metrics of one sub-task of a chain, by Flink's names: the task's
/// own and each operator's (`<operator>.<name>`).
fn subtask_metrics(j: &JobEntry, ci: usize, t: &ChainTask, s: u32) -> BTreeMap<String, Num> {
    let mut m = BTreeMap::new();
    let h = &t.head;
    let r = t.head_rates;
    let busy_ms = h.running_ms.saturating_sub(h.idle_ms + h.backpressured_ms);
    for (k, v) in [
        ("numRecordsIn", int(h.records_in)),
        ("numRecordsOut", int(t.last.records_out)),
        ("numBytesIn", int(h.bytes_in)),
        ("numBytesOut", int(t.last.bytes_out)),
        ("numRecordsInPerSecond", Num::Float(r.records_in)),
        (
            "numRecordsOutPerSecond",
            Num::Float(t.last_rates.records_out),
        ),
        ("numBytesInPerSecond", Num::Float(r.bytes_in)),
        ("numBytesOutPerSecond", Num::Float(t.last_rates.bytes_out)),
        (
            "backPressuredTimeMsPerSecond",
            Num::Float(r.backpressured * 1000.0),
        ),
        ("idleTimeMsPerSecond", Num::Float(r.idle * 1000.0)),
        ("busyTimeMsPerSecond", Num::Float(r.busy * 1000.0)),
        ("accumulateBackPressuredTimeMs", int(h.backpressured_ms)),
        ("accumulateIdleTimeMs", int(h.idle_ms)),
        ("accumulateBusyTimeMs", int(busy_ms)),
        (
            "isBackPressured",
            Num::Int(i64::from(r.backpressured > 0.5)),
        ),
        ("currentInputWatermark", Num::Int(h.watermark)),
    ] {
        m.insert(k.to_owned(), v);
    }
    let Ok(metrics) = j.metrics.lock() else {
        return m;
    };
    for &node in &j.plan.chains[ci].nodes {
        let Some(op) = metrics.get(node as u32, s) else {
            continue;
        };
        let name = j.graph.nodes[node].id.as_str();
        let c = &op.latest;
        for (k, v) in [
            ("numRecordsIn", int(c.records_in)),
            ("numRecordsOut", int(c.records_out)),
            ("numBytesIn", int(c.bytes_in)),
            ("numBytesOut", int(c.bytes_out)),
            ("numRecordsInPerSecond", Num::Float(op.rates.records_in)),
            ("numRecordsOutPerSecond", Num::Float(op.rates.records_out)),
            ("currentOutputWatermark", Num::Int(c.watermark)),
            ("wasmCalls", int(c.wasm_calls)),
            ("wasmCallTimeUs", int(c.wasm_call_us)),
            ("wasmDeadlineInterrupts", int(c.wasm_timeouts)),
            ("guestMemoryBytes", int(c.guest_memory_bytes)),
        ] {
            m.insert(format!("{name}.{k}"), v);
        }
    }
    m
}

/// Query parameters of the metric endpoints.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct MetricQuery {
    get: Option<String>,
    agg: Option<String>,
    subtasks: Option<String>,
}

fn names(list: &Option<String>) -> Option<Vec<String>> {
    list.as_ref().map(|g| {
        g.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Flink's answer of a metric endpoint: without `get`, the ids available;
/// with it, the values asked for that exist (as strings).
fn answer(values: &BTreeMap<String, Num>, q: &MetricQuery) -> Value {
    match names(&q.get) {
        None => Value::Array(values.keys().map(|k| json!({"id": k})).collect()),
        Some(wanted) => Value::Array(
            wanted
                .iter()
                .filter_map(|k| values.get(k).map(|v| json!({"id": k, "value": v.text()})))
                .collect(),
        ),
    }
}

/// `?subtasks=1,3-5`: the indices asked for (all when absent).
fn subtask_filter(spec: &Option<String>, n: u32) -> Result<Vec<u32>, ApiError> {
    let Some(spec) = spec else {
        return Ok((0..n).collect());
    };
    let bad = || ApiError::new(400, format!("bad subtasks '{spec}': expected e.g. 0,2-3"));
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b {
            return Err(bad());
        }
        out.extend((a..=b).filter(|s| *s < n));
    }
    Ok(out)
}

/// Aggregates of a metric over several sources, as `?agg=` asks.
fn aggregated(per_source: &[BTreeMap<String, Num>], q: &MetricQuery) -> Result<Value, ApiError> {
    let aggs = names(&q.agg).unwrap_or_else(|| {
        ["min", "max", "avg", "sum", "skew"]
            .map(str::to_owned)
            .to_vec()
    });
    for a in &aggs {
        if !["min", "max", "avg", "sum", "skew"].contains(&a.as_str()) {
            return Err(ApiError::new(
                400,
                format!("unknown aggregation '{a}' (min, max, avg, sum, skew)"),
            ));
        }
    }
    let mut all: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for m in per_source {
        for (k, v) in m {
            all.entry(k.as_str()).or_default().push(v.as_f64());
        }
    }
    let Some(wanted) = names(&q.get) else {
        return Ok(Value::Array(all.keys().map(|k| json!({"id": k})).collect()));
    };
    let mut out = Vec::new();
    for k in &wanted {
        let Some(vs) = all.get(k.as_str()) else {
            continue;
        };
        let sum: f64 = vs.iter().sum();
        let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = sum / vs.len() as f64;
        let mut o = serde_json::Map::new();
        o.insert("id".into(), json!(k));
        for a in &aggs {
            let v = match a.as_str() {
                "min" => min,
                "max" => max,
                "avg" => avg,
                "sum" => sum,
                // Flink's skew: how far the maximum is above the average,
                // in percent of the maximum.
                _ if max > 0.0 => (max - avg) / max * 100.0,
                _ => 0.0,
            };
            o.insert(a.clone(), json!(v));
        }
        out.push(Value::Object(o));
    }
    Ok(Value::Array(out))
}

/// `GET /jobs/:jid/vertices/:vid/metrics`: ids `<subtask>.<metric>`.
pub(super) async fn vertex_metrics(
    State(c): State<Shared>,
    Path((jid, vid)): Path<(String, String)>,
    Query(q): Query<MetricQuery>,
) -> Answer {
    let (j, ci) = job_vertex(&c, &jid, &vid)?;
    let mut all = BTreeMap::new();
    for (s, t) in chain_tasks(&j, ci).iter().enumerate() {
        for (k, v) in subtask_metrics(&j, ci, t, s as u32) {
            all.insert(format!("{s}.{k}"), v);
        }
    }
    ok(answer(&all, &q))
}

/// `GET /jobs/:jid/vertices/:vid/subtasks/metrics`: aggregated over
/// sub-tasks.
pub(super) async fn subtasks_metrics(
    State(c): State<Shared>,
    Path((jid, vid)): Path<(String, String)>,
    Query(q): Query<MetricQuery>,
) -> Answer {
    let (j, ci) = job_vertex(&c, &jid, &vid)?;
    let tasks = chain_tasks(&j, ci);
    let pick = subtask_filter(&q.subtasks, tasks.len() as u32)?;
    let per: Vec<BTreeMap<String, Num>> = pick
        .iter()
        .map(|&s| subtask_metrics(&j, ci, &tasks[s as usize], s))
        .collect();
    ok(aggregated(&per, &q)?)
}

/// `GET /jobs/:jid/vertices/:vid/subtasks/:idx/metrics`.
pub(super) async fn subtask_metrics_one(
    State(c): State<Shared>,
    Path((jid, vid, idx)): Path<(String, String, String)>,
    Query(q): Query<MetricQuery>,
) -> Answer {
    let (j, ci) = job_vertex(&c, &jid, &vid)?;
    let tasks = chain_tasks(&j, ci);
    let s: usize = idx
        .parse()
        .ok()
        .filter(|s| *s < tasks.len())
        .ok_or_else(|| ApiError::new(404, format!("vertex {vid} has no sub-task {idx}")))?;
    ok(answer(&subtask_metrics(&j, ci, &tasks[s], s as u32), &q))
}

/// A job's own metrics (Flink's job scope).
fn job_metrics(j: &JobEntry) -> BTreeMap<String, Num> {
    let st = j.handle.status();
    let cp = &st.checkpoints;
    let last = cp
        .history
        .iter()
        .rev()
        .find(|r| r.status == weir_runtime::CheckpointStatus::Completed && !r.savepoint);
    let uptime = crate::coordinator::jobs_now_ms() - j.start_ms;
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("numRestarts", Num::Int(i64::from(st.restarts))),
        ("fullRestarts", Num::Int(i64::from(st.restarts))),
        (
            "uptime",
            Num::Int(if j.state().is_terminal() { 0 } else { uptime }),
        ),
        ("numberOfCompletedCheckpoints", int(cp.completed)),
        ("numberOfFailedCheckpoints", int(cp.failed)),
        (
            "numberOfInProgressCheckpoints",
            int(cp.in_progress() as u64),
        ),
        (
            "totalNumberOfCheckpoints",
            int(cp.completed + cp.failed + cp.in_progress() as u64),
        ),
        (
            "lastCheckpointDuration",
            int(last.map_or(0, |r| r.duration_ms)),
        ),
        ("lastCheckpointSize", int(last.map_or(0, |r| r.bytes))),
        ("lastCheckpointFullSize", int(last.map_or(0, |r| r.bytes))),
        (
            "lastCompletedCheckpointId",
            last.map_or(Num::Int(-1), |r| int(r.id)),
        ),
        (
            "lastCheckpointRestoreTimestamp",
            Num::Int(cp.last_restored.as_ref().map_or(-1, |r| r.at_ms)),
        ),
    ] {
        m.insert(k.to_owned(), v);
    }
    m
}

/// `GET /jobs/:jid/metrics`.
pub(super) async fn job_metrics_endpoint(
    State(c): State<Shared>,
    Path(jid): Path<String>,
    Query(q): Query<MetricQuery>,
) -> Answer {
    let j = find_job(&c, &jid)?;
    ok(answer(&job_metrics(&j), &q))
}

/// The coordinator's own metrics (Flink's JobManager scope).
fn coordinator_metrics(c: &Cluster) -> BTreeMap<String, Num> {
    let (total, free) = c.slots();
    let jobs = jobs_of(c);
    let running = jobs.iter().filter(|j| !j.state().is_terminal()).count();
    BTreeMap::from([
        (
            "numRegisteredTaskManagers".to_owned(),
            int(c.ready_workers() as u64),
        ),
        ("numRunningJobs".to_owned(), int(running as u64)),
        ("taskSlotsTotal".to_owned(), int(u64::from(total))),
        ("taskSlotsAvailable".to_owned(), int(u64::from(free))),
    ])
}

/// `GET /jobmanager/metrics`.
pub(super) async fn coordinator_metrics_endpoint(
    State(c): State<Shared>,
    Query(q): Query<MetricQuery>,
) -> Answer {
    ok(answer(&coordinator_metrics(&c), &q))
}

/// A worker's metrics as the coordinator knows them.
fn worker_metrics(c: &Cluster, id: &str) -> Option<BTreeMap<String, Num>> {
    let workers = c.workers.lock().ok()?;
    let w = workers.get(id)?;
    Some(BTreeMap::from([
        ("Status.Slots.Total".to_owned(), int(u64::from(w.slots))),
        (
            "Status.Slots.Free".to_owned(),
            int(u64::from(w.free_slots())),
        ),
        ("Status.CPU.Cores".to_owned(), int(u64::from(w.cpu_cores))),
        ("Status.Memory.Physical".to_owned(), int(w.physical_memory)),
        (
            "Status.Network.BytesOut".to_owned(),
            int(w.network_bytes_out),
        ),
    ]))
}

/// `GET /taskmanagers/:id/metrics`.
pub(super) async fn worker_metrics_endpoint(
    State(c): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<MetricQuery>,
) -> Answer {
    let m = worker_metrics(&c, &id).ok_or_else(|| ApiError::new(404, format!("no worker {id}")))?;
    ok(answer(&m, &q))
}

/// `GET /metrics`: the Prometheus exposition of the cluster and every
/// job's operator sub-tasks.
pub(super) async fn prometheus(State(c): State<Shared>) -> axum::response::Response {
    let mut e = Exposition::default();
    let none: Labels = Vec::new();
    let (total, free) = c.slots();
    e.gauge(
        "workers",
        "Registered workers.",
        &none,
        c.ready_workers() as f64,
    );
    e.gauge("slots", "Slots of all workers.", &none, f64::from(total));
    e.gauge("slots_available", "Free slots.", &none, f64::from(free));
    let jobs = jobs_of(&c);
    let mut by_state: HashMap<&str, usize> = HashMap::new();
    for j in &jobs {
        *by_state.entry(j.state().name()).or_default() += 1;
    }
    for (state, n) in by_state {
        e.gauge(
            "jobs",
            "Jobs by state.",
            &vec![("state".into(), state.into())],
            n as f64,
        );
    }
    let now = crate::coordinator::jobs_now_ms();
    for j in &jobs {
        job_series(&mut e, j, now);
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

fn job_series(e: &mut Exposition, j: &JobEntry, now: i64) {
    let labels: Labels = vec![
        ("job".into(), j.name.clone()),
        ("job_id".into(), j.id.clone()),
    ];
    let st = j.handle.status();
    let cp = &st.checkpoints;
    e.gauge(
        "job_running",
        "1 while the job is RUNNING.",
        &labels,
        f64::from(u8::from(j.state() == crate::coordinator::JobState::Running)),
    );
    e.counter(
        "job_restarts",
        "Restarts after failures.",
        &labels,
        f64::from(st.restarts),
    );
    e.counter(
        "checkpoints_completed",
        "Completed checkpoints.",
        &labels,
        cp.completed as f64,
    );
    e.counter(
        "checkpoints_failed",
        "Failed checkpoints.",
        &labels,
        cp.failed as f64,
    );
    if let Some(last) = cp
        .history
        .iter()
        .rev()
        .find(|r| r.status == weir_runtime::CheckpointStatus::Completed && !r.savepoint)
    {
        e.gauge(
            "checkpoint_duration_seconds",
            "Duration of the last completed checkpoint.",
            &labels,
            last.duration_ms as f64 / 1e3,
        );
        e.gauge(
            "checkpoint_size_bytes",
            "Bytes the last completed checkpoint wrote.",
            &labels,
            last.bytes as f64,
        );
        e.gauge(
            "state_size_bytes",
            "The job's state, as its last completed checkpoint holds it.",
            &labels,
            last.bytes as f64,
        );
    }
    let placements = j
        .inner
        .lock()
        .map(|i| i.placements.clone())
        .unwrap_or_default();
    let Ok(metrics) = j.metrics.lock() else {
        return;
    };
    for (&(node, subtask), s) in metrics.all() {
        let n = node as usize;
        let Some(chain) = j.plan.chain_of.get(n).copied() else {
            continue;
        };
        let worker = placements.get(&(chain, subtask)).map_or("", String::as_str);
        task_series(
            e,
            &TaskSample {
                job: &j.name,
                job_id: &j.id,
                operator: j.graph.nodes.get(n).map_or("", |x| x.id.as_str()),
                worker,
                counter: &s.latest,
                rates: Some(s.rates),
                head: j.plan.chains[chain].nodes.first() == Some(&n),
                now_ms: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_flinks_thresholds() {
        assert_eq!(level(0.0), "ok");
        assert_eq!(level(0.10), "ok");
        assert_eq!(level(0.11), "low");
        assert_eq!(level(0.5), "low");
        assert_eq!(level(0.51), "high");
    }

    #[test]
    fn subtask_ranges_parse_and_bad_ones_are_refused() {
        let f = |s: &str| subtask_filter(&Some(s.to_owned()), 6).ok();
        assert_eq!(f("0,2-3,5"), Some(vec![0, 2, 3, 5]));
        assert_eq!(
            f("4-9"),
            Some(vec![4, 5]),
            "beyond the parallelism: dropped"
        );
        assert!(f("3-1").is_none());
        assert!(f("x").is_none());
        assert_eq!(subtask_filter(&None, 2).ok(), Some(vec![0, 1]));
    }

    #[test]
    fn aggregates_are_computed_over_the_sources() {
        let per = vec![
            BTreeMap::from([("a".to_owned(), Num::Int(10))]),
            BTreeMap::from([("a".to_owned(), Num::Int(30))]),
        ];
        let q = MetricQuery {
            get: Some("a,missing".into()),
            agg: Some("min,max,avg,sum,skew".into()),
            subtasks: None,
        };
        let v = aggregated(&per, &q).ok();
        assert_eq!(
            v,
            Some(
                json!([{"id": "a", "min": 10.0, "max": 30.0, "avg": 20.0, "sum": 40.0,
                "skew": (30.0 - 20.0) / 30.0 * 100.0}])
            )
        );
        let bad = MetricQuery {
            get: Some("a".into()),
            agg: Some("median".into()),
            subtasks: None,
        };
        assert!(aggregated(&per, &bad).is_err());
    }

    #[test]
    fn values_are_strings_and_ids_list_without_get() {
        let m = BTreeMap::from([
            ("w".to_owned(), Num::Int(i64::MIN)),
            ("r".to_owned(), Num::Float(1.5)),
        ]);
        let all = answer(&m, &MetricQuery::default());
        assert_eq!(all, json!([{"id": "r"}, {"id": "w"}]));
        let got = answer(
            &m,
            &MetricQuery {
                get: Some("w".into()),
                ..MetricQuery::default()
            },
        );
        assert_eq!(got, json!([{"id": "w", "value": "-9223372036854775808"}]));
    }
}
