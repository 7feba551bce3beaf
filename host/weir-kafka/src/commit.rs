//! Committing a Kafka sink's epochs: one transaction per epoch, holding
//! the epoch's records and a commit marker.
//!
//! The marker is an offset committed for the consumer group named like the
//! transactional id, on partition 0 of the sink's topic, inside the same
//! transaction: its value is the sequence number of the last epoch
//! committed. So after any failure, reading the marker tells exactly which
//! epochs a checkpoint holds are already in the topic (sequence at or below
//! the marker) and which are not, and committing a checkpoint's epochs can
//! be repeated safely: by the running sink when it hears the checkpoint
//! completed, by the job when it ends, and by a restored job before it
//! starts. Opening the transactional producer (`init_transactions`) fences
//! any older producer of the same id and aborts its open transaction.

use crate::client::{Closing, REQUEST_TIMEOUT, config, kafka_error, user_error};
use crate::envelope::Envelope;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;
use weir_checkpoint::{KafkaEpoch, KafkaTransactions};
use weir_connectors::ConnectorError;
use weir_core::Batch;
use weir_wire::NO_TIMESTAMP;

/// A producer holding a transactional id, and the group metadata of its
/// marker.
pub(crate) struct Transactional {
    pub(crate) producer: ThreadedProducer<crate::sink::Deliveries>,
    marker: Closing<BaseConsumer>,
    topic: String,
    envelope: bool,
}

impl Transactional {
    /// Opens the producer of `transactional_id` (fencing older ones).
    pub(crate) fn open(
        bootstrap: &str,
        properties: &[(String, String)],
        transactional_id: &str,
        topic: &str,
        envelope: bool,
    ) -> Result<Transactional, ConnectorError> {
        let producer: ThreadedProducer<crate::sink::Deliveries> = config(
            bootstrap,
            &[
                ("transactional.id", transactional_id),
                ("enable.idempotence", "true"),
                ("partitioner", "murmur2_random"),
                ("linger.ms", "5"),
            ],
            properties.iter().cloned(),
        )
        .create_with_context(crate::sink::Deliveries::default())
        .map_err(|e| kafka_error("cannot create a transactional producer", e))?;
        crate::assign::topic_partitions(producer.client(), topic)?;
        producer
            .init_transactions(REQUEST_TIMEOUT)
            .map_err(|e| kafka_error(&format!("init transactions of '{transactional_id}'"), e))?;
        let marker: BaseConsumer = config(
            bootstrap,
            &[
                ("group.id", transactional_id),
                ("enable.auto.commit", "false"),
                ("isolation.level", "read_committed"),
            ],
            properties.iter().cloned(),
        )
        .create()
        .map_err(|e| kafka_error("cannot create the marker consumer", e))?;
        Ok(Transactional {
            producer,
            marker: Closing::new(marker),
            topic: topic.to_owned(),
            envelope,
        })
    }

    /// The sequence number of the last epoch committed (0: none yet).
    pub(crate) fn committed_seq(&self) -> Result<i64, ConnectorError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, 0, Offset::Invalid)
            .map_err(|e| kafka_error("partition list", e))?;
        let got = self
            .marker
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .map_err(|e| kafka_error("cannot read the commit marker", e))?;
        Ok(got
            .elements()
            .first()
            .and_then(|e| match e.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Writes one epoch's records and its marker in one transaction.
    pub(crate) fn commit_epoch(&self, epoch: &KafkaEpoch) -> Result<(), ConnectorError> {
        let what = |s: &str| format!("epoch {} ({s})", epoch.seq);
        self.producer
            .begin_transaction()
            .map_err(|e| kafka_error(&what("begin"), e))?;
        let records = Batch::from_bytes(epoch.records.clone())
            .map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
        let sent = send_all(&self.producer, &self.topic, self.envelope, &records).and_then(|()| {
            let mut marker = TopicPartitionList::new();
            marker
                .add_partition_offset(&self.topic, 0, Offset::Offset(epoch.seq))
                .map_err(|e| kafka_error("partition list", e))?;
            let meta = self
                .marker
                .group_metadata()
                .ok_or_else(|| ConnectorError::Service {
                    domain: weir_core::ErrorDomain::Internal,
                    message: "Kafka: the commit marker's consumer has no group metadata".into(),
                })?;
            self.producer
                .send_offsets_to_transaction(&marker, &meta, REQUEST_TIMEOUT)
                .map_err(|e| kafka_error(&what("marker"), e))?;
            self.producer
                .commit_transaction(REQUEST_TIMEOUT)
                .map_err(|e| kafka_error(&what("commit"), e))
        });
        if sent.is_err() {
            let _ = self.producer.abort_transaction(REQUEST_TIMEOUT);
        }
        sent
    }
}

/// Sends every record of `batch` to `topic` (key and timestamp from the
/// record), or where each record's envelope says, waiting while the
/// producer's queue is full.
pub(crate) fn send_all(
    producer: &ThreadedProducer<crate::sink::Deliveries>,
    topic: &str,
    envelope: bool,
    batch: &Batch,
) -> Result<(), ConnectorError> {
    for (i, r) in batch.iter().enumerate() {
        let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
        let ts = (r.ts != NO_TIMESTAMP && r.ts >= 0).then_some(r.ts);
        if envelope {
            send_envelope(producer, topic, r.value, ts)
                .map_err(|e| user_error(format!("record {i} of a batch: {e}")))??;
            continue;
        }
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(r.value);
        if !r.key.is_empty() {
            rec = rec.key(r.key);
        }
        if let Some(ts) = ts {
            rec = rec.timestamp(ts);
        }
        send(producer, rec)?;
    }
    Ok(())
}

/// Sends one record as its envelope says: the outer error is the user's
/// (not an envelope), the inner one the producer's.
fn send_envelope(
    producer: &ThreadedProducer<crate::sink::Deliveries>,
    topic: &str,
    value: &[u8],
    ts: Option<i64>,
) -> Result<Result<(), ConnectorError>, String> {
    let e = Envelope::parse(value)?;
    let key = e.key()?;
    let payload = e.value()?;
    let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(e.topic.as_deref().unwrap_or(topic));
    if let Some(p) = e.partition {
        rec = rec.partition(p);
    }
    if let Some(k) = &key {
        rec = rec.key(k.as_slice());
    }
    if let Some(v) = &payload {
        rec = rec.payload(v.as_slice());
    }
    if let Some(ts) = e.timestamp.or(ts) {
        rec = rec.timestamp(ts);
    }
    if !e.headers.is_empty() {
        let mut hs = OwnedHeaders::new_with_capacity(e.headers.len());
        for (k, v) in &e.headers {
            hs = hs.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        rec = rec.headers(hs);
    }
    Ok(send(producer, rec))
}

/// How long a producer's queue may stay full before the send fails: the
/// brokers take nothing (down, or the transaction is in an error state
/// that only an abort clears). Without a bound a sub-task could wait for
/// ever.
const QUEUE_FULL_LIMIT: Duration = Duration::from_secs(30);

fn send(
    producer: &ThreadedProducer<crate::sink::Deliveries>,
    mut rec: BaseRecord<'_, [u8], [u8]>,
) -> Result<(), ConnectorError> {
    let mut full_since: Option<std::time::Instant> = None;
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                let since = *full_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= QUEUE_FULL_LIMIT {
                    return Err(ConnectorError::Service {
                        domain: weir_core::ErrorDomain::External,
                        message: format!(
                            "Kafka: the producer's queue stayed full for {} s: the brokers take no records",
                            QUEUE_FULL_LIMIT.as_secs()
                        ),
                    });
                }
                rec = back;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((e, _)) => return Err(kafka_error("cannot send a record", e)),
        }
    }
}

/// Commits the epochs of a sink sub-task's checkpointed state that are not
/// committed yet (see the module docs); safe to repeat.
pub fn commit_transactions(t: &KafkaTransactions) -> Result<(), ConnectorError> {
    if t.epochs.is_empty() {
        return Ok(());
    }
    let tx = Transactional::open(
        &t.bootstrap_servers,
        &t.properties,
        &t.transactional_id,
        &t.topic,
        t.envelope,
    )?;
    let done = tx.committed_seq()?;
    for epoch in t.epochs.iter().filter(|e| e.seq > done) {
        tx.commit_epoch(epoch)?;
        tracing::info!(
            transactional_id = t.transactional_id,
            seq = epoch.seq,
            "committed a Kafka transaction of a checkpoint"
        );
    }
    Ok(())
}
