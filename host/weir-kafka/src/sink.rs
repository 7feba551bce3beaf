//! The Kafka sink writer.

use crate::client::{REQUEST_TIMEOUT, config, kafka_error, pairs};
use crate::commit::{Transactional, send_all};
use crate::committer::Committer;
use rdkafka::ClientContext;
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use weir_checkpoint::{KafkaEpoch, KafkaTransactions, SinkState};
use weir_connectors::{ConnectorError, SinkWriter};
use weir_core::kafka_spec::{DeliveryGuarantee, KafkaSinkFormat, KafkaSinkSpec};
use weir_core::{Batch, ErrorDomain};

/// Counts failed deliveries and keeps the first error.
#[derive(Default)]
pub struct Deliveries {
    failed: AtomicU64,
    first: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first.lock()
                && first.is_none()
            {
                *first = Some(e.to_string());
            }
        }
    }
}

impl Deliveries {
    /// An error if any record failed to arrive.
    fn check(&self) -> Result<(), ConnectorError> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = self.first.lock().ok().and_then(|f| f.clone());
        Err(ConnectorError::Service {
            domain: ErrorDomain::External,
            message: format!(
                "Kafka: {failed} records were not delivered (first: {})",
                first.unwrap_or_default()
            ),
        })
    }
}

/// Which sink sub-task this is.
pub struct SinkContext<'a> {
    /// The sink's settings.
    pub spec: &'a KafkaSinkSpec,
    /// The job's name (part of the default transactional id prefix).
    pub job: &'a str,
    /// This sub-task.
    pub subtask: u32,
}

/// Exactly-once: the epochs not committed yet and the current one.
struct Epochs {
    committer: Option<Committer>,
    /// Every epoch not known to be committed (in order of sequence).
    state: KafkaTransactions,
    current: Batch,
    next_seq: i64,
    /// The highest sequence handed to the committer.
    sent: i64,
}

impl Epochs {
    /// Drops the epochs up to `committed` from the state.
    fn committed(&mut self, committed: Option<i64>) {
        if let Some(c) = committed {
            self.state.epochs.retain(|e| e.seq > c);
        }
    }

    /// Takes in what the committer finished, without waiting.
    fn settle(&mut self) -> Result<(), ConnectorError> {
        let done = match &mut self.committer {
            Some(c) => c.poll()?,
            None => None,
        };
        self.committed(done);
        Ok(())
    }
}

enum Mode {
    Direct(ThreadedProducer<Deliveries>),
    Transactional(Box<Epochs>),
}

/// Writes records to a topic with the configured delivery guarantee.
pub struct KafkaSink {
    topic: String,
    envelope: bool,
    guarantee: DeliveryGuarantee,
    mode: Mode,
}

/// The transactional id of a sink sub-task.
pub fn transactional_id(ctx: &SinkContext<'_>) -> String {
    let prefix = ctx
        .spec
        .transactional_id_prefix
        .clone()
        .unwrap_or_else(|| format!("weir-{}-{}", ctx.job, ctx.spec.id));
    format!("{prefix}-{}", ctx.subtask)
}

impl KafkaSink {
    /// Connects. Exactly-once opens the sub-task's transactional producer
    /// (fencing earlier ones) and continues the epoch sequence after the
    /// last committed one.
    pub fn open(ctx: SinkContext<'_>) -> Result<KafkaSink, ConnectorError> {
        let spec = ctx.spec;
        let user = pairs(&spec.properties);
        let envelope = spec.format == KafkaSinkFormat::Envelope;
        let mode = match spec.delivery_guarantee {
            DeliveryGuarantee::ExactlyOnce => {
                let id = transactional_id(&ctx);
                let tx = Transactional::open(
                    &spec.bootstrap_servers,
                    &user,
                    &id,
                    &spec.topic,
                    envelope,
                )?;
                let next_seq = tx.committed_seq()? + 1;
                let committer = Committer::start(tx, format!("kafka-commit-{}", ctx.subtask))?;
                Mode::Transactional(Box::new(Epochs {
                    committer: Some(committer),
                    sent: next_seq - 1,
                    state: KafkaTransactions {
                        bootstrap_servers: spec.bootstrap_servers.clone(),
                        properties: user,
                        transactional_id: id,
                        topic: spec.topic.clone(),
                        envelope,
                        epochs: Vec::new(),
                    },
                    current: Batch::default(),
                    next_seq,
                }))
            }
            g => {
                let idempotent = if g == DeliveryGuarantee::AtLeastOnce {
                    "true"
                } else {
                    "false"
                };
                let p: ThreadedProducer<Deliveries> = config(
                    &spec.bootstrap_servers,
                    &[
                        ("enable.idempotence", idempotent),
                        ("partitioner", "murmur2_random"),
                        ("linger.ms", "5"),
                    ],
                    user,
                )
                .create_with_context(Deliveries::default())
                .map_err(|e| kafka_error("cannot create a producer", e))?;
                crate::assign::topic_partitions(p.client(), &spec.topic)?;
                Mode::Direct(p)
            }
        };
        Ok(KafkaSink {
            topic: spec.topic.clone(),
            envelope,
            guarantee: spec.delivery_guarantee,
            mode,
        })
    }

    fn flush(p: &ThreadedProducer<Deliveries>) -> Result<(), ConnectorError> {
        p.flush(REQUEST_TIMEOUT)
            .map_err(|e| kafka_error("cannot flush", e))?;
        p.context().check()
    }
}

impl SinkWriter for KafkaSink {
    fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        match &mut self.mode {
            Mode::Direct(p) => {
                send_all(p, &self.topic, self.envelope, batch)?;
                p.context().check()
            }
            Mode::Transactional(e) => {
                e.current.extend_from(batch);
                e.settle()
            }
        }
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        match &mut self.mode {
            Mode::Direct(p) => Self::flush(p),
            // Commits in flight end first; the last epoch is in the final
            // snapshot, which the job commits when it ends.
            Mode::Transactional(e) => {
                let done = match &mut e.committer {
                    Some(c) => c.wait_all()?,
                    None => None,
                };
                e.committed(done);
                Ok(())
            }
        }
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Option<SinkState>, ConnectorError> {
        match &mut self.mode {
            Mode::Direct(p) => {
                if self.guarantee == DeliveryGuarantee::AtLeastOnce {
                    Self::flush(p)?;
                }
                Ok(None)
            }
            Mode::Transactional(e) => {
                e.settle()?;
                let records = std::mem::take(&mut e.current);
                if !records.is_empty() {
                    e.state.epochs.push(KafkaEpoch {
                        checkpoint,
                        seq: e.next_seq,
                        records: records.into_bytes(),
                    });
                    e.next_seq += 1;
                }
                Ok(Some(SinkState {
                    dir: String::new(),
                    next_part: 0,
                    pending: Vec::new(),
                    kafka: Some(e.state.clone()),
                }))
            }
        }
    }

    /// Hands the epochs the checkpoint covers to the committer; they stay
    /// in the snapshots until it has committed them.
    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        let Mode::Transactional(e) = &mut self.mode else {
            return Ok(());
        };
        e.settle()?;
        let Some(c) = &mut e.committer else {
            return Ok(());
        };
        for epoch in &e.state.epochs {
            if epoch.checkpoint <= checkpoint && epoch.seq > e.sent {
                c.send(epoch.clone())?;
                e.sent = epoch.seq;
            }
        }
        Ok(())
    }

    fn abort(&mut self) {
        if let Mode::Transactional(e) = &mut self.mode {
            // An open transaction is aborted by the next producer of the
            // same id (fencing); the committer ends with its channel.
            e.committer = None;
        }
    }
}
