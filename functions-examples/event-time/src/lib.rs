//! Event-time functions. `probe` passes each record on together with the
//! event time it carries and the operator's watermark when it was processed:
//! `{"ts": 1000, "watermark": 899, "value": "<the record>"}`.

use serde::{Deserialize, Serialize};
use weir_sdk::{Context, Json, MapFunction, Result};

/// What `probe` emits.
#[derive(Serialize, Deserialize)]
pub struct Probed {
    /// The record's event timestamp, if any.
    pub ts: Option<i64>,
    /// The operator's watermark when the record was processed.
    pub watermark: i64,
    /// The record's value as text.
    pub value: String,
}

/// Shows timestamps and watermarks.
#[derive(Default)]
pub struct Probe;

impl MapFunction for Probe {
    type In = String;
    type Out = Json<Probed>;

    fn map(&mut self, value: String, ctx: &Context<'_>) -> Result<Json<Probed>> {
        Ok(Json(Probed {
            ts: ctx.timestamp(),
            watermark: ctx.watermark(),
            value,
        }))
    }
}

weir_sdk::export_functions! {
    "probe" => map(Probe),
}
