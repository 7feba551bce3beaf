//! The checkpoints part of the REST API: statistics with history and
//! summary, the job's checkpoint configuration, and checkpoints triggered
//! now.

use super::jobs::{find_job, running_job};
use super::{Answer, ApiError, Shared, accepted, ok};
use crate::coordinator::{CheckpointOp, JobEntry};
use axum::extract::{Path, State};
use serde_json::{Value, json};
use weir_runtime::{CheckpointRecord, CheckpointStats, CheckpointStatus};

/// A location as Flink shows it: `file:/path`, or the `s3://` URL.
pub(super) fn location(p: &std::path::Path) -> String {
    if weir_checkpoint::is_remote(p) {
        p.display().to_string()
    } else {
        format!("file:{}", p.display())
    }
}

/// One entry of the history, as Flink writes it.
fn record_json(r: &CheckpointRecord) -> Value {
    let (class, status) = match r.status {
        CheckpointStatus::InProgress => ("in_progress", "IN_PROGRESS"),
        CheckpointStatus::Completed => ("completed", "COMPLETED"),
        CheckpointStatus::Failed => ("failed", "FAILED"),
    };
    let mut v = json!({
        "className": class, "id": r.id, "status": status, "is_savepoint": r.savepoint,
        "savepointFormat": if r.savepoint { json!("CANONICAL") } else { Value::Null },
        "trigger_timestamp": r.triggered_ms, "latest_ack_timestamp": r.latest_ack_ms,
        "checkpointed_size": r.bytes, "state_size": r.bytes,
        "end_to_end_duration": r.duration_ms, "alignment_buffered": 0, "processed_data": 0,
        "persisted_data": 0, "num_subtasks": r.tasks, "num_acknowledged_subtasks": r.acknowledged,
        "checkpoint_type": if r.savepoint { "SAVEPOINT" } else { "CHECKPOINT" }, "tasks": {},
    });
    v["external_path"] = json!(r.path.as_deref().map(location));
    v["discarded"] = json!(false);
    match r.status {
        CheckpointStatus::Completed => {}
        CheckpointStatus::Failed => {
            v["failure_timestamp"] = json!(r.triggered_ms + r.duration_ms as i64);
            v["failure_message"] = json!(r.failure);
        }
        CheckpointStatus::InProgress => {}
    }
    v
}

/// Flink's statistics of a value over completed checkpoints.
fn distribution(values: &[u64]) -> Value {
    let mut s = values.to_vec();
    s.sort_unstable();
    let quantile = |q: f64| -> f64 {
        if s.is_empty() {
            return 0.0;
        }
        // Linear interpolation between the closest ranks.
        let pos = q * (s.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        s[lo] as f64 + (s[hi] as f64 - s[lo] as f64) * (pos - lo as f64)
    };
    let sum: u64 = s.iter().sum();
    json!({
        "min": s.first().copied().unwrap_or(0), "max": s.last().copied().unwrap_or(0),
        "avg": if s.is_empty() { 0 } else { sum / s.len() as u64 },
        "p50": quantile(0.5), "p90": quantile(0.9), "p95": quantile(0.95),
        "p99": quantile(0.99), "p999": quantile(0.999),
    })
}

/// `GET /jobs/:jid/checkpoints`: counts, summary (over the checkpoints the
/// history holds), latest of each kind, and the history, newest first.
pub(super) async fn checkpoints(State(c): State<Shared>, Path(jid): Path<String>) -> Answer {
    let j = find_job(&c, &jid)?;
    ok(statistics(&j.handle.status().checkpoints))
}

fn statistics(s: &CheckpointStats) -> Value {
    let completed: Vec<&CheckpointRecord> = s
        .history
        .iter()
        .filter(|r| r.status == CheckpointStatus::Completed)
        .collect();
    let sizes: Vec<u64> = completed.iter().map(|r| r.bytes).collect();
    let durations: Vec<u64> = completed.iter().map(|r| r.duration_ms).collect();
    let latest = |pick: &dyn Fn(&CheckpointRecord) -> bool| {
        s.history
            .iter()
            .rev()
            .find(|r| pick(r))
            .map_or(Value::Null, record_json)
    };
    let restored = s.last_restored.as_ref().map_or(Value::Null, |r| {
        json!({
            "id": r.id, "restore_timestamp": r.at_ms, "is_savepoint": r.savepoint,
            "external_path": location(&r.path),
        })
    });
    json!({
        "counts": {
            "restored": s.restored,
            "total": s.completed + s.failed + s.savepoints + s.in_progress() as u64,
            "in_progress": s.in_progress(),
            "completed": s.completed + s.savepoints,
            "failed": s.failed,
        },
        "summary": {
            "checkpointed_size": distribution(&sizes), "state_size": distribution(&sizes),
            "end_to_end_duration": distribution(&durations),
            "alignment_buffered": distribution(&[]), "processed_data": distribution(&[]),
            "persisted_data": distribution(&[]),
        },
        "latest": {
            "completed": latest(&|r| !r.savepoint && r.status == CheckpointStatus::Completed),
            "savepoint": latest(&|r| r.savepoint && r.status == CheckpointStatus::Completed),
            "failed": latest(&|r| r.status == CheckpointStatus::Failed),
            "restored": restored,
        },
        "history": s.history.iter().rev().map(record_json).collect::<Vec<_>>(),
    })
}

/// `GET /jobs/:jid/checkpoints/details/:cpid`: one checkpoint of the
/// history.
pub(super) async fn checkpoint_details(
    State(c): State<Shared>,
    Path((jid, id)): Path<(String, String)>,
) -> Answer {
    let j = find_job(&c, &jid)?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::new(400, format!("'{id}' is not a checkpoint id")))?;
    let s = j.handle.status().checkpoints;
    let r = s
        .history
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::new(404, format!("checkpoint {id} is not in the history")))?;
    ok(record_json(r))
}

/// `GET /jobs/:jid/checkpoints/config`.
pub(super) async fn checkpoint_config(State(c): State<Shared>, Path(jid): Path<String>) -> Answer {
    let j = find_job(&c, &jid)?;
    ok(config_of(&j))
}

fn config_of(j: &JobEntry) -> Value {
    let cp = j.graph.checkpointing.as_ref();
    let backend = match j.template.state_backend.as_str() {
        "rocksdb" => "EmbeddedRocksDBStateBackend",
        _ => "HashMapStateBackend",
    };
    json!({
        "mode": "exactly_once",
        // Flink answers 0x7fffffffffffffff when periodic checkpoints are off.
        "interval": cp.map_or(i64::MAX, |c| c.interval.as_millis() as i64),
        "timeout": cp.map_or(weir_core::graph::DEFAULT_CHECKPOINT_TIMEOUT, |c| c.timeout).as_millis() as u64,
        "min_pause": 0, "max_concurrent": 1,
        "externalization": {"enabled": true, "delete_on_cancellation": false},
        "state_backend": backend,
        "checkpoint_storage": if cp.is_some() { "FileSystemCheckpointStorage" } else { "JobManagerCheckpointStorage" },
        "unaligned_checkpoints": false,
        "tolerable_failed_checkpoints": cp.map_or(0, |c| c.tolerable_failures),
        "aligned_checkpoint_timeout": 0, "checkpoints_after_tasks_finish": true,
        "state_changelog_enabled": false, "changelog_periodic_materialization_interval": 600000,
        "changelog_storage": "memory",
        // Weir's own: where checkpoints go and how many are kept.
        "checkpoint_dir": cp.map(|c| location(&c.dir)),
        "retained": cp.map(|c| c.retain),
    })
}

/// `POST /jobs/:jid/checkpoints`: a checkpoint now, whatever the interval
/// (Flink's `CheckpointTriggerRequestBody`; only full checkpoints).
pub(super) async fn trigger_checkpoint(
    State(c): State<Shared>,
    Path(jid): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let j = running_job(&c, &jid, "checkpoint")?;
    if !body.is_empty() {
        let b: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(400, format!("the request body is not JSON: {e}")))?;
        match b.get("checkpointType").and_then(Value::as_str) {
            None | Some("FULL" | "CONFIGURED") => {}
            Some(t) => {
                return Err(ApiError::new(
                    400,
                    format!("checkpointType '{t}' is not supported (FULL or CONFIGURED)"),
                ));
            }
        }
    }
    if j.graph.checkpointing.is_none() {
        return Err(ApiError::new(
            409,
            format!("job {jid} has no checkpoint storage: submit it with --checkpoint-dir"),
        ));
    }
    let rid = crate::coordinator::checkpoint(&j);
    accepted(json!({ "request-id": rid }))
}

/// `GET /jobs/:jid/checkpoints/:triggerid`.
pub(super) async fn checkpoint_status(
    State(c): State<Shared>,
    Path((jid, rid)): Path<(String, String)>,
) -> Answer {
    let j = find_job(&c, &jid)?;
    let op = j
        .checkpoint_ops
        .lock()
        .ok()
        .and_then(|o| o.get(&rid).cloned())
        .ok_or_else(|| ApiError::new(404, format!("no checkpoint request {rid} for job {jid}")))?;
    ok(match op {
        CheckpointOp::InProgress => json!({"status": {"id": "IN_PROGRESS"}, "operation": null}),
        CheckpointOp::Completed(id) => {
            json!({"status": {"id": "COMPLETED"}, "operation": {"checkpointId": id}})
        }
        CheckpointOp::Failed(e) => json!({
            "status": {"id": "COMPLETED"},
            "operation": {"failure-cause": {"class": "weir.CheckpointFailed", "stack-trace": e, "serialized-throwable": null}},
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_interpolate_like_flink() {
        let d = distribution(&[10, 20, 30, 40]);
        assert_eq!(d["min"], 10);
        assert_eq!(d["max"], 40);
        assert_eq!(d["avg"], 25);
        assert_eq!(d["p50"], 25.0);
        assert!((d["p90"].as_f64().unwrap_or(0.0) - 37.0).abs() < 1e-9);
        let empty = distribution(&[]);
        assert_eq!(
            (empty["min"].clone(), empty["p99"].clone()),
            (json!(0), json!(0.0))
        );
    }

    fn record(id: u64, status: CheckpointStatus, savepoint: bool, bytes: u64) -> CheckpointRecord {
        CheckpointRecord {
            id,
            savepoint,
            status,
            triggered_ms: 1000 * id as i64,
            latest_ack_ms: 0,
            duration_ms: 10 * id,
            bytes,
            acknowledged: 2,
            tasks: 2,
            path: Some(std::path::PathBuf::from(format!("/c/chk-{id}"))),
            failure: (status == CheckpointStatus::Failed).then(|| "expired".to_owned()),
        }
    }

    #[test]
    fn statistics_count_each_kind_and_list_the_newest_first() {
        let mut s = CheckpointStats::default();
        s.completed = 2;
        s.failed = 1;
        s.savepoints = 1;
        s.history = vec![
            record(1, CheckpointStatus::Completed, false, 100),
            record(2, CheckpointStatus::Failed, false, 0),
            record(3, CheckpointStatus::Completed, true, 300),
            record(4, CheckpointStatus::Completed, false, 200),
            record(5, CheckpointStatus::InProgress, false, 0),
        ];
        let v = statistics(&s);
        assert_eq!(
            v["counts"],
            json!({"restored": 0, "total": 5, "in_progress": 1, "completed": 3, "failed": 1})
        );
        assert_eq!(v["latest"]["completed"]["id"], 4);
        assert_eq!(v["latest"]["savepoint"]["id"], 3);
        assert_eq!(v["latest"]["savepoint"]["checkpoint_type"], "SAVEPOINT");
        assert_eq!(v["latest"]["failed"]["failure_message"], "expired");
        assert_eq!(v["latest"]["restored"], Value::Null);
        let ids: Vec<u64> = v["history"]
            .as_array()
            .map(|h| h.iter().filter_map(|r| r["id"].as_u64()).collect())
            .unwrap_or_default();
        assert_eq!(ids, vec![5, 4, 3, 2, 1]);
        assert_eq!(v["summary"]["state_size"]["max"], 300);
        assert_eq!(v["summary"]["state_size"]["min"], 100);
        assert_eq!(v["history"][0]["className"], "in_progress");
        assert_eq!(v["history"][1]["external_path"], "file:/c/chk-4");
    }
}
