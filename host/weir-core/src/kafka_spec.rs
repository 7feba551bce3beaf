//! Job-file settings of the Kafka source and sink (`kind = "kafka"`).

use crate::params::substitute;
use crate::spec::{EventTimeSpec, Inputs, MalformedPolicy};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Kafka source settings: the partitions of its topics are its splits,
/// spread over its parallel readers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// Unique node id.
    pub id: String,
    /// Parallel readers.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// `host:port[,host:port…]` of the brokers.
    pub bootstrap_servers: String,
    /// Topics to read (or `topic_pattern`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression over topic names (instead of `topics`); topics
    /// that appear later are picked up by partition discovery.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// Consumer group: where offsets are committed on checkpoint completion
    /// (for monitoring; positions live in checkpoints) and where
    /// `start = "committed"` reads them.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Where a fresh run starts in each partition.
    #[serde(default)]
    pub start: KafkaStart,
    /// `start = "timestamp"`: the first record at or after this time (ms).
    #[serde(default)]
    pub start_timestamp_ms: Option<i64>,
    /// `start = "offsets"`: `"<topic>:<partition>" = offset`; partitions
    /// not named start at the earliest offset.
    #[serde(default)]
    pub start_offsets: BTreeMap<String, i64>,
    /// Stop at the end offsets seen when the reader starts, so the job
    /// finishes (Flink's `setBounded(OffsetsInitializer.latest())`).
    #[serde(default)]
    pub bounded: bool,
    /// How record values are read.
    #[serde(default)]
    pub format: KafkaFormat,
    /// What to do with a value that does not parse (json) or is not UTF-8
    /// (text).
    #[serde(default)]
    pub on_malformed: MalformedPolicy,
    /// Event time: `field` of a JSON value, otherwise the Kafka record's
    /// timestamp. Watermarks are kept per partition.
    #[serde(default)]
    pub event_time: Option<EventTimeSpec>,
    /// How often partitions are looked up for new ones, ms (0: never;
    /// default 10 s, never for bounded sources).
    #[serde(default)]
    pub discovery_interval_ms: Option<u64>,
    /// Further librdkafka consumer settings (`security.protocol`, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// Where a fresh Kafka source starts reading a partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaStart {
    /// The earliest offset still in the log.
    #[default]
    Earliest,
    /// The end of the log when the reader starts.
    Latest,
    /// The group's committed offset (earliest where none is committed).
    Committed,
    /// The first record at or after `start_timestamp_ms`.
    Timestamp,
    /// Explicit offsets (`start_offsets`).
    Offsets,
}

/// How Kafka record values become records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaFormat {
    /// The value as UTF-8 text.
    #[default]
    Text,
    /// The value as one JSON document.
    Json,
    /// The value's bytes as they are.
    Raw,
    /// A JSON object with everything about the record: `topic`,
    /// `partition`, `offset`, `timestamp`, `key` and `value` (UTF-8 text,
    /// else base64 in `key_base64` / `value_base64`) and `headers`.
    Envelope,
}

/// Kafka sink settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSpec {
    /// Unique node id.
    pub id: String,
    /// Input(s).
    pub input: Inputs,
    /// Parallel writers.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// `host:port[,host:port…]` of the brokers.
    pub bootstrap_servers: String,
    /// The topic written.
    pub topic: String,
    /// What a failure may do to the output.
    #[serde(default)]
    pub delivery_guarantee: DeliveryGuarantee,
    /// How records become Kafka records.
    #[serde(default)]
    pub format: KafkaSinkFormat,
    /// Exactly-once: the prefix of the transactional ids (one per
    /// sub-task: `<prefix>-<subtask>`); default `weir-<job>-<sink id>`.
    /// Two jobs writing at the same time need different prefixes.
    #[serde(default)]
    pub transactional_id_prefix: Option<String>,
    /// Further librdkafka producer settings.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// How a Kafka sink turns records into Kafka records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaSinkFormat {
    /// The value as it is, the record key as the key, to the sink's topic.
    #[default]
    Value,
    /// The value is a JSON object naming `topic`, `partition`, `key` (or
    /// `key_base64`), `value` (text, other JSON written as JSON, `null`: a
    /// tombstone; or `value_base64`), `headers` and `timestamp`; each is
    /// optional.
    Envelope,
}

/// What a failure may do to a Kafka sink's output (Flink's
/// `DeliveryGuarantee`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryGuarantee {
    /// Records may be lost or duplicated.
    None,
    /// Every record arrives; a failure may repeat some (the producer is
    /// flushed at each checkpoint).
    #[default]
    AtLeastOnce,
    /// Every record is visible to `read_committed` consumers once: each
    /// checkpoint's records are committed in a Kafka transaction when the
    /// checkpoint completes.
    ExactlyOnce,
}

/// Substitutes parameters in a Kafka source's settings and checks them.
pub(crate) fn check_source(
    k: &mut KafkaSourceSpec,
    params: &BTreeMap<String, String>,
    what: &str,
    problems: &mut Vec<String>,
) {
    k.bootstrap_servers = substitute(&k.bootstrap_servers, params, what, problems);
    for t in &mut k.topics {
        *t = substitute(t, params, what, problems);
    }
    k.topics.retain(|t| !t.is_empty());
    if let Some(g) = &k.group_id {
        k.group_id = Some(substitute(g, params, what, problems));
    }
    if k.bootstrap_servers.trim().is_empty() {
        problems.push(format!("{what}: bootstrap_servers is empty"));
    }
    match (&k.topic_pattern, k.topics.is_empty()) {
        (Some(_), false) => problems.push(format!(
            "{what}: both topics and topic_pattern are set; choose one"
        )),
        (None, true) => problems.push(format!("{what}: no topics and no topic_pattern")),
        _ => {}
    }
    match k.start {
        KafkaStart::Committed if k.group_id.is_none() => {
            problems.push(format!("{what}: start = \"committed\" needs a group_id"))
        }
        KafkaStart::Timestamp if k.start_timestamp_ms.is_none() => problems.push(format!(
            "{what}: start = \"timestamp\" needs start_timestamp_ms"
        )),
        KafkaStart::Offsets if k.start_offsets.is_empty() => {
            problems.push(format!("{what}: start = \"offsets\" needs start_offsets"))
        }
        _ => {}
    }
    for name in k.start_offsets.keys() {
        if parse_topic_partition(name).is_none() {
            problems.push(format!(
                "{what}: start_offsets key '{name}' is not \"<topic>:<partition>\""
            ));
        }
    }
    if let Some(e) = &k.event_time {
        if e.assigner.is_some() {
            problems.push(format!(
                "{what}: a Kafka source takes event time from a field or the record timestamp; event_time.assigner does not apply"
            ));
        }
        if e.field.is_some() && k.format != KafkaFormat::Json {
            problems.push(format!("{what}: event_time.field needs format = \"json\""));
        }
    }
}

/// Substitutes parameters in a Kafka sink's settings and checks them.
pub(crate) fn check_sink(
    k: &mut KafkaSinkSpec,
    params: &BTreeMap<String, String>,
    what: &str,
    problems: &mut Vec<String>,
) {
    k.bootstrap_servers = substitute(&k.bootstrap_servers, params, what, problems);
    k.topic = substitute(&k.topic, params, what, problems);
    if let Some(p) = &k.transactional_id_prefix {
        k.transactional_id_prefix = Some(substitute(p, params, what, problems));
    }
    if k.bootstrap_servers.trim().is_empty() {
        problems.push(format!("{what}: bootstrap_servers is empty"));
    }
    if k.topic.is_empty() {
        problems.push(format!("{what}: topic is empty"));
    }
    if k.properties.contains_key("transactional.id") {
        problems.push(format!(
            "{what}: set transactional_id_prefix, not properties.transactional.id (each sub-task needs its own)"
        ));
    }
}

/// Splits `"<topic>:<partition>"` at its last colon.
pub fn parse_topic_partition(s: &str) -> Option<(&str, i32)> {
    let (topic, partition) = s.rsplit_once(':')?;
    let partition = partition.parse().ok()?;
    (!topic.is_empty() && partition >= 0).then_some((topic, partition))
}
