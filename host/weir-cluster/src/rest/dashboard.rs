//! The web dashboard: static files compiled into the binary (no CDN, no
//! build step), the page at `/` and its assets under `/dashboard/`.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The files, by name, with their content types.
const FILES: &[(&str, &str, &str)] = &[
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/api.js"),
    ),
    (
        "graph.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/graph.js"),
    ),
    (
        "job.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/job.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/pages.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
    (
        "uplot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/uplot.iife.min.js"),
    ),
    (
        "uplot.min.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/uplot.min.css"),
    ),
];

const INDEX: &str = include_str!("dashboard/index.html");

/// `GET /`.
pub(super) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /dashboard/:file`.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => super::ApiError::new(404, format!("no dashboard file {file}")).into_response(),
    }
}
