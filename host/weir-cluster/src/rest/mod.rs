//! The coordinator's REST API, on Flink's paths with Flink's JSON field
//! names for the endpoints Weir serves. Errors are
//! `{"errors": [...]}` with a 4xx/5xx status.

mod checkpoints;
mod dashboard;
mod jars;
mod jobs;
mod metrics;
mod workers;

use crate::coordinator::{Cluster, JobEntry, JobState};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) type Shared = Arc<Cluster>;

/// What a failed request answers.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "errors": [self.message] }))).into_response()
    }
}

pub(crate) type Answer = Result<Response, ApiError>;

pub(crate) fn ok(v: Value) -> Answer {
    Ok(Json(v).into_response())
}

pub(crate) fn accepted(v: Value) -> Answer {
    Ok((StatusCode::ACCEPTED, Json(v)).into_response())
}

/// The REST routes.
pub(crate) fn router(cluster: Shared) -> Router {
    Router::new()
        .route("/config", get(config))
        .route("/overview", get(overview))
        .route("/taskmanagers", get(workers::workers))
        .route(
            "/jars/upload",
            post(jars::upload).layer(DefaultBodyLimit::max(
                crate::bundle::MAX_BUNDLE_BYTES as usize,
            )),
        )
        .route("/jars", get(jars::jars))
        .route("/jars/{jarid}/run", post(jars::run_jar))
        .route("/jobs", get(jobs::jobs))
        .route("/jobs/overview", get(jobs::jobs_overview))
        .route("/jobs/{jid}", get(jobs::job).patch(jobs::cancel_job))
        .route("/jobs/{jid}/vertices/{vid}", get(jobs::vertex))
        .route("/jobs/{jid}/savepoints", post(jobs::trigger_savepoint))
        .route("/jobs/{jid}/savepoints/{rid}", get(jobs::savepoint_status))
        .route("/jobs/{jid}/stop", post(jobs::stop_job))
        .route(
            "/jobs/{jid}/checkpoints",
            get(checkpoints::checkpoints).post(checkpoints::trigger_checkpoint),
        )
        .route(
            "/jobs/{jid}/checkpoints/config",
            get(checkpoints::checkpoint_config),
        )
        .route(
            "/jobs/{jid}/checkpoints/details/{cpid}",
            get(checkpoints::checkpoint_details),
        )
        .route(
            "/jobs/{jid}/checkpoints/{rid}",
            get(checkpoints::checkpoint_status),
        )
        .route("/jobs/{jid}/exceptions", get(jobs::exceptions))
        .route(
            "/jobs/{jid}/vertices/{vid}/backpressure",
            get(metrics::backpressure),
        )
        .route(
            "/jobs/{jid}/vertices/{vid}/watermarks",
            get(metrics::watermarks),
        )
        .route(
            "/jobs/{jid}/vertices/{vid}/metrics",
            get(metrics::vertex_metrics),
        )
        .route(
            "/jobs/{jid}/vertices/{vid}/subtasks/metrics",
            get(metrics::subtasks_metrics),
        )
        .route(
            "/jobs/{jid}/vertices/{vid}/subtasks/{idx}/metrics",
            get(metrics::subtask_metrics_one),
        )
        .route("/jobs/{jid}/metrics", get(metrics::job_metrics_endpoint))
        .route(
            "/jobmanager/metrics",
            get(metrics::coordinator_metrics_endpoint),
        )
        .route("/jobmanager/config", get(workers::coordinator_config))
        .route("/jobmanager/log", get(workers::coordinator_log))
        .route("/jobmanager/logs", get(workers::coordinator_logs))
        .route("/taskmanagers/{id}", get(workers::worker))
        .route("/taskmanagers/{id}/log", get(workers::worker_log))
        .route("/taskmanagers/{id}/logs", get(workers::worker_logs))
        .route(
            "/taskmanagers/{id}/metrics",
            get(metrics::worker_metrics_endpoint),
        )
        .route("/metrics", get(metrics::prometheus))
        .route("/", get(dashboard::index))
        .route("/dashboard/{file}", get(dashboard::asset))
        .route("/v1/overview", get(overview))
        .route("/registry", get(jars::registry_list))
        .route(
            "/registry/{name}",
            post(jars::registry_put).layer(DefaultBodyLimit::max(
                crate::bundle::MAX_BUNDLE_BYTES as usize,
            )),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            cluster.clone(),
            require_token,
        ))
        .layer(axum::middleware::map_response(errors_as_json))
        .with_state(cluster)
}

/// With a token configured, a request that changes something (any method
/// but GET and HEAD), or any request when reads are guarded too, needs
/// `Authorization: Bearer <token>`. The dashboard's static files stay
/// open: they hold no data.
async fn require_token(
    State(c): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &c.cfg.auth else {
        return next.run(request).await;
    };
    let read = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let path = request.uri().path();
    let page = path == "/" || path.starts_with("/dashboard/");
    let guarded = !read || (c.cfg.auth_reads && !page);
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !guarded || token.accepts(presented) {
        return next.run(request).await;
    }
    let mut r = ApiError::new(
        401,
        "this cluster needs its auth token: send Authorization: Bearer <token>",
    )
    .into_response();
    r.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    r
}

/// Rejections of axum's extractors (a bad multipart body, a bad query)
/// come as plain text: they are answered in Flink's error shape too.
async fn errors_as_json(r: Response) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let text = match axum::body::to_bytes(r.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => e.to_string(),
    };
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    (status, Json(json!({ "errors": [message] }))).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(404, "Not found: no such REST endpoint")
}

fn version() -> String {
    format!("weir-{}", env!("CARGO_PKG_VERSION"))
}

async fn config() -> Answer {
    ok(json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": version(),
        "flink-revision": version(),
        "features": {"web-submit": true, "web-cancel": true, "web-rescale": false, "web-history": false},
    }))
}

pub(crate) fn jobs_of(c: &Cluster) -> Vec<Arc<JobEntry>> {
    c.jobs.lock().map(|j| j.clone()).unwrap_or_default()
}

async fn overview(State(c): State<Shared>) -> Answer {
    let (total, free) = c.slots();
    let jobs = jobs_of(&c);
    let count = |s: JobState| jobs.iter().filter(|j| j.state() == s).count();
    let running = jobs.iter().filter(|j| !j.state().is_terminal()).count();
    ok(json!({
        "taskmanagers": c.ready_workers(),
        "slots-total": total,
        "slots-available": free,
        "jobs-running": running,
        "jobs-finished": count(JobState::Finished),
        "jobs-cancelled": count(JobState::Canceled),
        "jobs-failed": count(JobState::Failed),
        "flink-version": version(),
        "flink-commit": env!("CARGO_PKG_VERSION"),
    }))
}
