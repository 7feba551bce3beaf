//! The Kafka source reader.

use crate::assign::{Topics, owner};
use crate::client::{Closing, REQUEST_TIMEOUT, config, kafka_error, pairs, user_error};
use crate::partitions::PartitionWatermarks;
use base64::Engine;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_checkpoint::{KafkaPartitionState, SourceState};
use weir_connectors::{ConnectorError, SourceReader, SourceStatus};
use weir_core::Outputs;
use weir_core::kafka_spec::{KafkaFormat, KafkaSourceSpec, KafkaStart, parse_topic_partition};
use weir_core::spec::{MALFORMED_OUTPUT, MalformedPolicy};
use weir_wire::NO_TIMESTAMP;

/// How long one poll waits for a first record.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// Partition discovery of unbounded sources, unless set.
const DEFAULT_DISCOVERY: Duration = Duration::from_secs(10);

/// What a reader is: its settings, which of the source's readers it is,
/// and where a restored job left the source's partitions.
pub struct ReaderContext<'a> {
    /// The source's settings.
    pub spec: &'a KafkaSourceSpec,
    /// This reader's index.
    pub subtask: u32,
    /// The source's readers.
    pub parallelism: u32,
    /// Every partition's position in the snapshot restored from (all
    /// readers' together), if any.
    pub restored: Option<Vec<KafkaPartitionState>>,
}

/// One partition this reader owns.
struct Owned {
    topic: String,
    partition: i32,
    next_offset: i64,
    end_offset: Option<i64>,
    done: bool,
}

/// Reads the partitions it owns from their positions, as records.
pub struct KafkaReader {
    /// Shared so that a polled message (which borrows the consumer) can be
    /// handled by `&mut self` methods.
    consumer: Arc<Closing<BaseConsumer>>,
    topics: Topics,
    spec: KafkaSourceSpec,
    subtask: u32,
    parallelism: u32,
    owned: Vec<Owned>,
    restored: Vec<KafkaPartitionState>,
    fresh: bool,
    watermarks: Option<PartitionWatermarks>,
    discovery: Option<Duration>,
    last_discovery: Instant,
    /// Whether the partitions were looked up before (later ones start at
    /// their earliest offset, not at the configured start).
    discovered: bool,
    /// Positions at the latest checkpoint, committed to the group when a
    /// checkpoint completes.
    last_position: RefCell<Vec<KafkaPartitionState>>,
}

impl KafkaReader {
    /// Connects, finds the partitions this reader owns and where each
    /// starts, and assigns them.
    pub fn open(ctx: ReaderContext<'_>) -> Result<KafkaReader, ConnectorError> {
        let spec = ctx.spec;
        let group = spec
            .group_id
            .clone()
            .unwrap_or_else(|| format!("weir-{}", spec.id));
        let consumer: BaseConsumer = config(
            &spec.bootstrap_servers,
            &[
                ("group.id", group.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "earliest"),
                ("isolation.level", "read_committed"),
                ("fetch.wait.max.ms", "100"),
            ],
            pairs(&spec.properties),
        )
        .create()
        .map_err(|e| kafka_error("cannot create a consumer", e))?;
        let discovery = match spec.discovery_interval_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None if spec.bounded => None,
            None => Some(DEFAULT_DISCOVERY),
        };
        let watermarks = spec.event_time.as_ref().map(|e| {
            PartitionWatermarks::new(
                e.max_out_of_orderness_ms,
                e.idle_timeout_ms.map(Duration::from_millis),
            )
        });
        let mut reader = KafkaReader {
            consumer: Arc::new(Closing::new(consumer)),
            topics: Topics::new(&spec.topics, spec.topic_pattern.as_deref())?,
            spec: spec.clone(),
            subtask: ctx.subtask,
            parallelism: ctx.parallelism,
            owned: Vec::new(),
            fresh: ctx.restored.is_none(),
            restored: ctx.restored.unwrap_or_default(),
            watermarks,
            discovery,
            last_discovery: Instant::now(),
            discovered: false,
            last_position: RefCell::new(Vec::new()),
        };
        reader.discover()?;
        Ok(reader)
    }

    /// Looks up the partitions; takes on the new ones this reader owns.
    fn discover(&mut self) -> Result<(), ConnectorError> {
        self.last_discovery = Instant::now();
        let all = self.topics.partitions(&self.consumer)?;
        let first = !self.discovered;
        self.discovered = true;
        let mut added = false;
        for (topic, partition) in all {
            if owner(&topic, partition, self.parallelism) != self.subtask
                || self
                    .owned
                    .iter()
                    .any(|o| o.partition == partition && o.topic == topic)
            {
                continue;
            }
            let owned = self.start_of(&topic, partition, first)?;
            if let Some(w) = &mut self.watermarks {
                w.add(&topic, partition, Instant::now());
                if owned.done {
                    w.finish(&topic, partition);
                }
            }
            tracing::info!(
                topic,
                partition,
                offset = owned.next_offset,
                "reading partition"
            );
            self.owned.push(owned);
            added = true;
        }
        if added || first {
            self.assign()?;
        }
        Ok(())
    }

    /// Where a newly owned partition starts: its restored position, else
    /// the configured start (at the first discovery of a fresh run) or
    /// the earliest offset (partitions that appeared later).
    fn start_of(&self, topic: &str, partition: i32, first: bool) -> Result<Owned, ConnectorError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(|e| kafka_error(&format!("offsets of {topic}:{partition}"), e))?;
        let restored = self
            .restored
            .iter()
            .find(|r| r.partition == partition && r.topic == topic);
        let (next_offset, end_offset) = match restored {
            Some(r) => (r.next_offset, r.end_offset),
            None => {
                let start = if self.fresh && first {
                    self.configured_start(topic, partition, low, high)?
                } else {
                    low
                };
                (start, self.spec.bounded.then_some(high))
            }
        };
        Ok(Owned {
            topic: topic.to_owned(),
            partition,
            next_offset,
            end_offset,
            done: end_offset.is_some_and(|end| next_offset >= end),
        })
    }

    fn configured_start(
        &self,
        topic: &str,
        partition: i32,
        low: i64,
        high: i64,
    ) -> Result<i64, ConnectorError> {
        let one = |offset: Offset| -> Result<TopicPartitionList, ConnectorError> {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, partition, offset)
                .map_err(|e| kafka_error("partition list", e))?;
            Ok(tpl)
        };
        let found = |tpl: TopicPartitionList, none: i64| {
            tpl.elements()
                .first()
                .and_then(|e| match e.offset() {
                    Offset::Offset(n) => Some(n),
                    Offset::End => Some(high),
                    _ => None,
                })
                .unwrap_or(none)
        };
        Ok(match self.spec.start {
            KafkaStart::Earliest => low,
            KafkaStart::Latest => high,
            KafkaStart::Committed => {
                let tpl = self
                    .consumer
                    .committed_offsets(one(Offset::Invalid)?, REQUEST_TIMEOUT)
                    .map_err(|e| kafka_error("committed offsets", e))?;
                found(tpl, low)
            }
            KafkaStart::Timestamp => {
                let ts = self.spec.start_timestamp_ms.unwrap_or(0);
                let tpl = self
                    .consumer
                    .offsets_for_times(one(Offset::Offset(ts))?, REQUEST_TIMEOUT)
                    .map_err(|e| kafka_error("offsets for a timestamp", e))?;
                found(tpl, high)
            }
            KafkaStart::Offsets => self
                .spec
                .start_offsets
                .iter()
                .find(|(k, _)| parse_topic_partition(k) == Some((topic, partition)))
                .map_or(low, |(_, o)| *o),
        }
        .clamp(low, high))
    }

    /// Assigns the unfinished owned partitions at their positions.
    fn assign(&mut self) -> Result<(), ConnectorError> {
        let mut tpl = TopicPartitionList::new();
        for o in self.owned.iter().filter(|o| !o.done) {
            tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.next_offset))
                .map_err(|e| kafka_error("partition list", e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| kafka_error("cannot assign partitions", e))
    }

    fn owned_index(&self, topic: &str, partition: i32) -> Option<usize> {
        self.owned
            .iter()
            .position(|o| o.partition == partition && o.topic == topic)
    }

    /// A partition was read to its end (bounded): stop reading it.
    fn finish_partition(&mut self, i: usize) -> Result<(), ConnectorError> {
        let o = &mut self.owned[i];
        if o.done {
            return Ok(());
        }
        o.done = true;
        if let Some(end) = o.end_offset {
            o.next_offset = o.next_offset.max(end);
        }
        if let Some(w) = &mut self.watermarks {
            w.finish(&o.topic, o.partition);
        }
        tracing::info!(
            topic = o.topic,
            partition = o.partition,
            "partition read to its end"
        );
        self.assign()
    }

    /// The consumer reached the end of partition `partition` (of some
    /// topic: librdkafka names only the number).
    fn at_end(&mut self, partition: i32) -> Result<(), ConnectorError> {
        let same: Vec<usize> = (0..self.owned.len())
            .filter(|&i| self.owned[i].partition == partition && !self.owned[i].done)
            .collect();
        let positions = self.consumer.position().ok();
        for i in same.iter().copied() {
            let o = &self.owned[i];
            let Some(end) = o.end_offset else { continue };
            let at = positions
                .as_ref()
                .and_then(|p| p.find_partition(&o.topic, o.partition))
                .and_then(|e| match e.offset() {
                    Offset::Offset(n) => Some(n),
                    _ => None,
                })
                .unwrap_or(o.next_offset);
            // The end of the log is at or past where it ended at start;
            // with one partition of that number there is no doubt whose end
            // it is.
            if at.max(o.next_offset) >= end || same.len() == 1 {
                self.finish_partition(i)?;
            }
        }
        Ok(())
    }

    /// Turns one Kafka record into a record (or a dead letter).
    fn push(&mut self, m: &BorrowedMessage<'_>, out: &mut Outputs) -> Result<(), ConnectorError> {
        let topic = m.topic();
        let partition = m.partition();
        let Some(i) = self.owned_index(topic, partition) else {
            return Ok(());
        };
        let offset = m.offset();
        if offset < self.owned[i].next_offset {
            return Ok(());
        }
        if let Some(end) = self.owned[i].end_offset
            && offset >= end
        {
            return self.finish_partition(i);
        }
        self.owned[i].next_offset = offset + 1;
        let kafka_ts = m.timestamp().to_millis();
        let value = m.payload().unwrap_or_default();
        let key = m.key().unwrap_or_default();
        let by_field = self
            .spec
            .event_time
            .as_ref()
            .and_then(|e| e.field.as_deref());
        let converted = match self.spec.format {
            KafkaFormat::Raw => Ok((Cow::Borrowed(value), None)),
            KafkaFormat::Text => std::str::from_utf8(value)
                .map(|_| (Cow::Borrowed(value), None))
                .map_err(|e| format!("not UTF-8 text: {e}")),
            KafkaFormat::Json => json_value(value, by_field),
            KafkaFormat::Envelope => Ok((Cow::Owned(envelope(m)), None)),
        };
        let (bytes, field_ts): (Cow<'_, [u8]>, Option<i64>) = match converted {
            Ok(v) => v,
            Err(error) => return self.malformed(m, error, out),
        };
        let ts = match (&self.spec.event_time, field_ts) {
            (None, _) => NO_TIMESTAMP,
            (Some(_), Some(ts)) => ts,
            (Some(_), None) => kafka_ts.unwrap_or_else(weir_connectors::now_ms),
        };
        if let Some(w) = &mut self.watermarks
            && ts != NO_TIMESTAMP
        {
            w.observe(topic, partition, ts, Instant::now());
        }
        out.main.push(ts, key, &bytes);
        if let Some(end) = self.owned[i].end_offset
            && offset + 1 >= end
        {
            self.finish_partition(i)?;
        }
        Ok(())
    }

    fn malformed(
        &mut self,
        m: &BorrowedMessage<'_>,
        error: String,
        out: &mut Outputs,
    ) -> Result<(), ConnectorError> {
        let at = format!("{}:{} offset {}", m.topic(), m.partition(), m.offset());
        match self.spec.on_malformed {
            MalformedPolicy::Fail => Err(user_error(format!("malformed record at {at}: {error}"))),
            MalformedPolicy::DeadLetter => {
                let dead = serde_json::json!({
                    "topic": m.topic(),
                    "partition": m.partition(),
                    "offset": m.offset(),
                    "error": error,
                    "text": String::from_utf8_lossy(m.payload().unwrap_or_default()),
                });
                out.side(MALFORMED_OUTPUT)
                    .push(NO_TIMESTAMP, &[], dead.to_string().as_bytes());
                Ok(())
            }
        }
    }

    fn all_done(&self) -> bool {
        self.spec.bounded && self.owned.iter().all(|o| o.done)
    }

    /// Handles one poll result; `false` when there was nothing.
    fn take(
        &mut self,
        polled: Option<Result<BorrowedMessage<'_>, KafkaError>>,
        out: &mut Outputs,
    ) -> Result<bool, ConnectorError> {
        match polled {
            None => Ok(false),
            Some(Ok(m)) => self.push(&m, out).map(|()| true),
            Some(Err(KafkaError::PartitionEOF(p))) => self.at_end(p).map(|()| true),
            Some(Err(e)) => {
                // librdkafka retries by itself; most errors are passing
                // (a broker restarting), so they are logged, not fatal.
                tracing::warn!("Kafka consumer: {e}");
                Ok(false)
            }
        }
    }
}

/// A JSON value checked (and its event-time field read).
fn json_value<'a>(
    value: &'a [u8],
    field: Option<&str>,
) -> Result<(Cow<'a, [u8]>, Option<i64>), String> {
    match field {
        None => serde_json::from_slice::<serde::de::IgnoredAny>(value)
            .map(|_| (Cow::Borrowed(value), None))
            .map_err(|e| e.to_string()),
        Some(f) => {
            let v: serde_json::Value = serde_json::from_slice(value).map_err(|e| e.to_string())?;
            let ts = v
                .get(f)
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| format!("no integer field '{f}' (the event time)"))?;
            Ok((Cow::Borrowed(value), Some(ts)))
        }
    }
}

/// The record with its metadata as one JSON object.
fn envelope(m: &BorrowedMessage<'_>) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut o = serde_json::Map::new();
    o.insert("topic".into(), m.topic().into());
    o.insert("partition".into(), m.partition().into());
    o.insert("offset".into(), m.offset().into());
    o.insert("timestamp".into(), m.timestamp().to_millis().into());
    for (name, bytes) in [("key", m.key()), ("value", m.payload())] {
        match bytes.map(std::str::from_utf8) {
            None => {
                o.insert(name.into(), serde_json::Value::Null);
            }
            Some(Ok(text)) => {
                o.insert(name.into(), text.into());
            }
            Some(Err(_)) => {
                o.insert(
                    format!("{name}_base64"),
                    b64.encode(bytes.unwrap_or_default()).into(),
                );
            }
        }
    }
    let mut headers = serde_json::Map::new();
    if let Some(hs) = m.headers() {
        for h in hs.iter() {
            let v = h
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .map_or(serde_json::Value::Null, Into::into);
            headers.insert(h.key.to_owned(), v);
        }
    }
    o.insert("headers".into(), headers.into());
    serde_json::Value::Object(o).to_string().into_bytes()
}

impl SourceReader for KafkaReader {
    fn poll(
        &mut self,
        out: &mut Outputs,
        max_bytes: usize,
    ) -> Result<SourceStatus, ConnectorError> {
        if self
            .discovery
            .is_some_and(|d| self.last_discovery.elapsed() >= d)
        {
            self.discover()?;
        }
        if self.all_done() {
            return Ok(SourceStatus::Finished);
        }
        let consumer = Arc::clone(&self.consumer);
        let mut got = self.take(consumer.poll(POLL_WAIT), out)?;
        while out.main.byte_len() < max_bytes && got {
            got = self.take(consumer.poll(Duration::ZERO), out)?;
        }
        Ok(if out.main.is_empty() && out.side.is_empty() {
            if self.all_done() {
                SourceStatus::Finished
            } else {
                SourceStatus::Idle(Duration::ZERO)
            }
        } else {
            SourceStatus::More
        })
    }

    /// `None` when every partition is idle and none had records: the
    /// reader holds nothing back (the runtime marks it idle after its idle
    /// timeout).
    fn watermark(&self) -> Option<i64> {
        self.watermarks.as_ref()?.watermark(Instant::now())
    }

    fn idle_timeout(&self) -> Option<Duration> {
        let configured = self
            .spec
            .event_time
            .as_ref()
            .and_then(|e| e.idle_timeout_ms)
            .map(Duration::from_millis);
        if self.owned.is_empty() && self.spec.event_time.is_some() {
            // A reader with no partition (more readers than partitions)
            // must not hold the watermark back.
            return Some(configured.unwrap_or(Duration::ZERO));
        }
        configured
    }

    fn position(&self) -> Option<SourceState> {
        let states: Vec<KafkaPartitionState> = self
            .owned
            .iter()
            .map(|o| KafkaPartitionState {
                topic: o.topic.clone(),
                partition: o.partition,
                next_offset: o.next_offset,
                end_offset: o.end_offset,
            })
            .collect();
        *self.last_position.borrow_mut() = states.clone();
        Some(SourceState::Kafka(states))
    }

    /// Commits the offsets of the latest checkpoint to the group (for
    /// monitoring; restores use the checkpoint's own).
    fn notify_checkpoint_complete(&mut self, _checkpoint: u64) {
        if self.spec.group_id.is_none() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for p in self.last_position.borrow().iter() {
            if tpl
                .add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next_offset))
                .is_err()
            {
                return;
            }
        }
        if tpl.count() > 0
            && let Err(e) = self.consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!("Kafka: cannot commit offsets to the group: {e}");
        }
    }
}
