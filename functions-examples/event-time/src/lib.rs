//! Event-time functions.
//!
//! - `probe` passes each record on with the event time it carries and the
//!   operator's watermark when it was processed:
//!   `{"ts": 1000, "watermark": 899, "value": "<the record>"}`.
//! - `start-end-duration` is Flink's StartEndDuration: START and END events
//!   per key; on END it emits END − START; an event-time timer four hours
//!   after START clears a START that never got its END.
//!   In: `{"key": "k1", "kind": "START", "ts": 1000}`;
//!   out: `{"key": "k1", "duration_ms": 500}`.
//! - `timer-probe` registers and deletes timers as its input says and
//!   reports every timer that fires (for testing timer semantics).

use serde::{Deserialize, Serialize};
use weir_sdk::{
    Collector, Context, Error, Json, KeyedProcessFunction, MapFunction, OpenContext, Result,
    TimeDomain, ValueState,
};

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

/// A START or END event.
#[derive(Serialize, Deserialize)]
pub struct Event {
    /// The key.
    pub key: String,
    /// "START" or "END".
    pub kind: String,
    /// Event time, ms.
    pub ts: i64,
}

/// The time between a key's START and END.
#[derive(Serialize, Deserialize)]
pub struct Duration {
    /// The key.
    pub key: String,
    /// END − START, ms.
    pub duration_ms: i64,
}

/// How long a START waits for its END.
pub const CLEANUP_AFTER_MS: i64 = 4 * 60 * 60 * 1000;

/// Flink's StartEndDuration.
#[derive(Default)]
pub struct StartEndDuration {
    start: Option<ValueState<i64>>,
}

impl KeyedProcessFunction for StartEndDuration {
    type In = Json<Event>;
    type Out = Json<Duration>;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.start = Some(ctx.value_state("start"));
        Ok(())
    }

    fn process_element(
        &mut self,
        Json(e): Json<Event>,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Json<Duration>>,
    ) -> Result<()> {
        let start = self
            .start
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        match e.kind.as_str() {
            "START" => {
                // A newer START replaces one that never got its END.
                if let Some(previous) = start.get()? {
                    ctx.delete_event_time_timer(previous + CLEANUP_AFTER_MS)?;
                }
                start.set(&e.ts)?;
                ctx.register_event_time_timer(e.ts + CLEANUP_AFTER_MS)?;
            }
            "END" => {
                if let Some(s) = start.get()? {
                    out.collect(&Json(Duration {
                        key: e.key,
                        duration_ms: e.ts - s,
                    }))?;
                    start.clear()?;
                    ctx.delete_event_time_timer(s + CLEANUP_AFTER_MS)?;
                }
            }
            other => return Err(Error::msg(format!("unknown event kind '{other}'"))),
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _ctx: &Context<'_>,
        _out: &mut Collector<'_, Json<Duration>>,
    ) -> Result<()> {
        // No END within four hours: forget the START this timer was set for.
        let start = self
            .start
            .as_ref()
            .ok_or_else(|| Error::msg("not opened"))?;
        if start.get()? == Some(timestamp - CLEANUP_AFTER_MS) {
            start.clear()?;
        }
        Ok(())
    }
}

/// A command for `timer-probe`.
#[derive(Serialize, Deserialize)]
pub struct TimerCommand {
    /// Operation: register, delete, register-pt, delete-pt, or noop.
    pub op: String,
    /// The timer's time.
    #[serde(default)]
    pub t: i64,
}

/// What `timer-probe` emits when a timer fires.
#[derive(Serialize, Deserialize)]
pub struct Fired {
    /// The key.
    pub key: String,
    /// The timer's time.
    pub timer: i64,
    /// "event" or "processing".
    pub domain: String,
    /// The watermark when it fired.
    pub watermark: i64,
    /// The processing time when it fired.
    pub processing_time: i64,
}

/// Registers and deletes timers as told; reports firings.
#[derive(Default)]
pub struct TimerProbe;

impl KeyedProcessFunction for TimerProbe {
    type In = String;
    type Out = Json<Fired>;

    fn process_element(
        &mut self,
        value: String,
        ctx: &Context<'_>,
        _out: &mut Collector<'_, Json<Fired>>,
    ) -> Result<()> {
        // Records that are not commands (e.g. a clock-keeping stream) are
        // ignored.
        let Ok(cmd) = serde_json::from_str::<TimerCommand>(&value) else {
            return Ok(());
        };
        match cmd.op.as_str() {
            "register" => ctx.register_event_time_timer(cmd.t),
            "delete" => ctx.delete_event_time_timer(cmd.t),
            "register-pt" => ctx.register_processing_time_timer(cmd.t),
            "delete-pt" => ctx.delete_processing_time_timer(cmd.t),
            _ => Ok(()),
        }
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        ctx: &Context<'_>,
        out: &mut Collector<'_, Json<Fired>>,
    ) -> Result<()> {
        out.collect(&Json(Fired {
            key: ctx.key_str().unwrap_or_default().to_owned(),
            timer: timestamp,
            domain: match ctx.time_domain() {
                Some(TimeDomain::ProcessingTime) => "processing".into(),
                _ => "event".into(),
            },
            watermark: ctx.watermark(),
            processing_time: ctx.processing_time(),
        }))
    }
}

weir_sdk::export_functions! {
    "probe" => map(Probe),
    "start-end-duration" => keyed_process(StartEndDuration),
    "timer-probe" => keyed_process(TimerProbe),
}
