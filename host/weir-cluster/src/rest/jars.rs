//! The jars part of the REST API (bundles: upload, list, run) and Weir's
//! component registry.

use super::{Answer, ApiError, Shared, ok};
use crate::coordinator::Submission;
use crate::ids::random_id;
use axum::extract::{Multipart, Path, Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) async fn upload(State(c): State<Shared>, mut form: Multipart) -> Answer {
    let mut found = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::new(400, format!("bad multipart body: {e}")))?
    {
        if field.name() != Some("jarfile") {
            continue;
        }
        let name = field
            .file_name()
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
            .unwrap_or_else(|| "job.zip".into());
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::new(400, format!("cannot read the upload: {e}")))?;
        found = Some((name, bytes));
    }
    let (name, bytes) =
        found.ok_or_else(|| ApiError::new(400, "no file in multipart field 'jarfile'"))?;
    let cluster = c.clone();
    let jar =
        tokio::task::spawn_blocking(move || crate::coordinator::store_jar(&cluster, &name, &bytes))
            .await
            .map_err(|e| ApiError::new(500, e.to_string()))?
            .map_err(|r| ApiError::new(r.status, r.message))?;
    ok(json!({
        "filename": c.cfg.data_dir.join("jars").join(&jar.id).display().to_string(),
        "status": "success",
    }))
}

pub(super) async fn jars(State(c): State<Shared>) -> Answer {
    let jars = c.jars.lock().map(|j| j.clone()).unwrap_or_default();
    let address = c.rest_url.lock().map(|u| u.clone()).unwrap_or_default();
    let files: Vec<Value> = jars
        .iter()
        .map(|j| {
            json!({
                "id": j.id,
                "name": j.name,
                "uploaded": j.uploaded_ms,
                "sha256": j.digest,
                "entry": j.entries.iter().map(|e| json!({"name": e, "description": null})).collect::<Vec<_>>(),
            })
        })
        .collect();
    ok(json!({ "address": address, "files": files }))
}

/// `POST /jars/:id/run`: the body (or the query) as Flink's
/// `JarRunRequestBody`.
pub(super) async fn run_jar(
    State(c): State<Shared>,
    Path(jarid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Answer {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(400, format!("the request body is not JSON: {e}")))?
    };
    let jar = c
        .jars
        .lock()
        .ok()
        .and_then(|j| j.iter().find(|j| j.id == jarid).cloned())
        .ok_or_else(|| ApiError::new(404, format!("jar {jarid} not found")))?;
    let args: Vec<String> = match body.get("programArgsList") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::new(400, "programArgsList holds strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Null) | None => body
            .get("programArgs")
            .and_then(Value::as_str)
            .or(q.get("programArg").map(String::as_str))
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        Some(_) => return Err(ApiError::new(400, "programArgsList is a list of strings")),
    };
    let parallelism = match body.get("parallelism").or(None) {
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .filter(|p| (1..=32768).contains(p))
                .ok_or_else(|| ApiError::new(400, "parallelism is a number from 1"))?
                as u32,
        ),
        Some(Value::Null) | None => match q.get("parallelism") {
            Some(p) => Some(
                p.parse()
                    .map_err(|_| ApiError::new(400, "parallelism is a number from 1"))?,
            ),
            None => None,
        },
        Some(_) => return Err(ApiError::new(400, "parallelism is a number")),
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let sub = Submission {
        jar,
        entry: text("entryClass").or(q.get("entry-class").cloned()),
        args,
        parallelism,
        savepoint_path: text("savepointPath").or(q.get("savepointPath").cloned()),
        allow_non_restored_state: body
            .get("allowNonRestoredState")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let cluster = c.clone();
    let id = tokio::task::spawn_blocking(move || crate::coordinator::submit(&cluster, sub))
        .await
        .map_err(|e| ApiError::new(500, e.to_string()))?
        .map_err(|r| ApiError::new(r.status, r.message))?;
    ok(json!({ "jobid": id }))
}

pub(super) async fn registry_list(State(c): State<Shared>) -> Answer {
    let reg = c.registry.lock().map(|r| r.clone()).unwrap_or_default();
    let list: Vec<Value> = reg
        .iter()
        .map(|(name, versions)| {
            json!({"name": name, "versions": versions.iter().map(|(d, t)| json!({"digest": d, "uploaded": t})).collect::<Vec<_>>()})
        })
        .collect();
    ok(json!({ "components": list }))
}

pub(super) async fn registry_put(
    State(c): State<Shared>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::new(
            400,
            "a component name is letters, digits, - and _",
        ));
    }
    if body.len() < 8 || &body[..4] != b"\0asm" {
        return Err(ApiError::new(400, "not a WebAssembly component"));
    }
    // The blob may go to object storage: off the async threads.
    let blobs = c.blobs.clone();
    let digest = tokio::task::spawn_blocking(move || blobs.put(&body))
        .await
        .map_err(|e| ApiError::new(500, e.to_string()))?
        .map_err(|e| ApiError::new(500, e.to_string()))?;
    if let Ok(mut r) = c.registry.lock() {
        let versions = r.entry(name.clone()).or_default();
        if !versions.iter().any(|(d, _)| *d == digest) {
            versions.push((digest.clone(), crate::coordinator::jobs_now_ms()));
        }
    }
    ok(json!({"name": name, "digest": digest, "id": random_id()}))
}
