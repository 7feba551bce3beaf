//! Prometheus text exposition (`GET /metrics`) of the coordinator and the
//! workers: series named `weir_*`, labelled job / job_id / operator /
//! subtask / worker, built with the `prometheus-client` crate from a
//! snapshot taken at scrape time.

use crate::coordinator::metrics::Rates;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use weir_proto::v1 as pb;

/// A series' labels, in order.
pub(crate) type Labels = Vec<(String, String)>;

type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;
type CounterFamily = Family<Labels, Counter<f64, AtomicU64>>;

/// One scrape's worth of series.
pub(crate) struct Exposition {
    registry: Registry,
    gauges: HashMap<&'static str, GaugeFamily>,
    counters: HashMap<&'static str, CounterFamily>,
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition {
            registry: Registry::with_prefix("weir"),
            gauges: HashMap::new(),
            counters: HashMap::new(),
        }
    }
}

impl Exposition {
    /// Sets gauge `weir_<name>{labels}` to `v`.
    pub(crate) fn gauge(&mut self, name: &'static str, help: &str, labels: &Labels, v: f64) {
        let family = self.gauges.entry(name).or_insert_with(|| {
            let f = GaugeFamily::default();
            // The encoder ends the help text with a full stop itself.
            self.registry
                .register(name, help.trim_end_matches('.'), f.clone());
            f
        });
        family.get_or_create(labels).set(v);
    }

    /// Sets counter `weir_<name>_total{labels}` to `v` (a running total).
    pub(crate) fn counter(&mut self, name: &'static str, help: &str, labels: &Labels, v: f64) {
        let family = self.counters.entry(name).or_insert_with(|| {
            let f = CounterFamily::default();
            self.registry
                .register(name, help.trim_end_matches('.'), f.clone());
            f
        });
        family.get_or_create(labels).inc_by(v);
    }

    /// The text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// One sub-task of one operator, as a scrape sees it.
pub(crate) struct TaskSample<'a> {
    pub(crate) job: &'a str,
    pub(crate) job_id: &'a str,
    pub(crate) operator: &'a str,
    pub(crate) worker: &'a str,
    pub(crate) counter: &'a pb::Counter,
    /// Rates, where the scraper keeps them (the coordinator does).
    pub(crate) rates: Option<Rates>,
    /// Whether the operator heads its chain (it carries the sub-task's
    /// time accounting).
    pub(crate) head: bool,
    /// Now, ms since the epoch (for the watermark lag).
    pub(crate) now_ms: i64,
}

/// The series of one operator sub-task.
pub(crate) fn task_series(e: &mut Exposition, t: &TaskSample<'_>) {
    let c = t.counter;
    let labels: Labels = vec![
        ("job".into(), t.job.into()),
        ("job_id".into(), t.job_id.into()),
        ("operator".into(), t.operator.into()),
        ("subtask".into(), c.subtask.to_string()),
        ("worker".into(), t.worker.into()),
    ];
    e.counter(
        "records_in",
        "Records an operator sub-task received.",
        &labels,
        c.records_in as f64,
    );
    e.counter(
        "records_out",
        "Records an operator sub-task emitted.",
        &labels,
        c.records_out as f64,
    );
    e.counter(
        "bytes_in",
        "Encoded bytes an operator sub-task received.",
        &labels,
        c.bytes_in as f64,
    );
    e.counter(
        "bytes_out",
        "Encoded bytes an operator sub-task emitted.",
        &labels,
        c.bytes_out as f64,
    );
    if let Some(r) = t.rates {
        e.gauge(
            "records_in_per_second",
            "Records received per second, over the last second or so.",
            &labels,
            r.records_in,
        );
        e.gauge(
            "records_out_per_second",
            "Records emitted per second, over the last second or so.",
            &labels,
            r.records_out,
        );
        if t.head {
            e.gauge(
                "backpressured_ratio",
                "Share of the sub-task's time spent waiting for downstream.",
                &labels,
                r.backpressured,
            );
            e.gauge(
                "busy_ratio",
                "Share of the sub-task's time spent working.",
                &labels,
                r.busy,
            );
            e.gauge(
                "idle_ratio",
                "Share of the sub-task's time spent waiting for input.",
                &labels,
                r.idle,
            );
        }
    }
    if t.head {
        e.counter(
            "backpressured_seconds",
            "Time the sub-task waited for downstream to take its output.",
            &labels,
            c.backpressured_ms as f64 / 1e3,
        );
        e.counter(
            "idle_seconds",
            "Time the sub-task waited for input.",
            &labels,
            c.idle_ms as f64 / 1e3,
        );
    }
    if c.watermark > i64::MIN && c.watermark < i64::MAX {
        e.gauge(
            "watermark_ms",
            "The sub-task's event-time watermark, ms since the epoch.",
            &labels,
            c.watermark as f64,
        );
        e.gauge(
            "watermark_lag_ms",
            "How far the watermark is behind the wall clock, ms.",
            &labels,
            (t.now_ms - c.watermark) as f64,
        );
    }
    if c.wasm_calls > 0 {
        e.counter(
            "wasm_calls",
            "Calls into the operator's Wasm guest.",
            &labels,
            c.wasm_calls as f64,
        );
        e.counter(
            "wasm_call_seconds",
            "Time spent in calls into the operator's Wasm guest.",
            &labels,
            c.wasm_call_us as f64 / 1e6,
        );
        e.counter(
            "wasm_deadline_interrupts",
            "Guest calls stopped at their deadline.",
            &labels,
            c.wasm_timeouts as f64,
        );
        e.gauge(
            "guest_memory_bytes",
            "The Wasm guest's linear memory.",
            &labels,
            c.guest_memory_bytes as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_prefixed_labelled_and_typed() {
        let mut e = Exposition::default();
        let c = pb::Counter {
            node: 1,
            subtask: 2,
            records_in: 40,
            idle_ms: 1500,
            watermark: 1_000,
            wasm_calls: 3,
            wasm_call_us: 2_500_000,
            ..Default::default()
        };
        task_series(
            &mut e,
            &TaskSample {
                job: "wc",
                job_id: "ab",
                operator: "count",
                worker: "w1",
                counter: &c,
                rates: Some(Rates {
                    busy: 0.25,
                    ..Rates::default()
                }),
                head: true,
                now_ms: 4_000,
            },
        );
        let text = e.render();
        let labels = r#"{job="wc",job_id="ab",operator="count",subtask="2",worker="w1"}"#;
        for line in [
            "# TYPE weir_records_in counter".to_owned(),
            format!("weir_records_in_total{labels} 40.0"),
            format!("weir_idle_seconds_total{labels} 1.5"),
            format!("weir_busy_ratio{labels} 0.25"),
            format!("weir_watermark_lag_ms{labels} 3000.0"),
            format!("weir_wasm_call_seconds_total{labels} 2.5"),
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line} in\n{text}");
        }
    }
}
