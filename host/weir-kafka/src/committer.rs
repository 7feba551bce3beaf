//! Commits an exactly-once sink's epochs on a thread of its own, so the
//! sub-task goes on with the next epoch while Kafka acknowledges the last
//! one. Epochs are committed in the order they are handed over; the sink
//! keeps each in its snapshots until the committer reports it done.

use crate::commit::Transactional;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use weir_checkpoint::KafkaEpoch;
use weir_connectors::ConnectorError;

/// The committing thread and its channels. Dropping it waits for the
/// epoch being committed (the rest stay in the checkpoints, whose restore
/// or completion commits them), so that nothing commits with the sub-task's
/// transactional id after the sub-task is gone: a commit racing the job's
/// own would fence it.
pub(crate) struct Committer {
    to: Option<mpsc::Sender<KafkaEpoch>>,
    from: mpsc::Receiver<Result<i64, ConnectorError>>,
    in_flight: usize,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Committer {
    /// Starts the thread that owns `tx`.
    pub(crate) fn start(tx: Transactional, name: String) -> Result<Committer, ConnectorError> {
        let (to, work) = mpsc::channel::<KafkaEpoch>();
        let (done, from) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                for epoch in work {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = tx.commit_epoch(&epoch).map(|()| epoch.seq);
                    let failed = result.is_err();
                    if done.send(result).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| ConnectorError::Service {
                domain: weir_core::ErrorDomain::Internal,
                message: format!("cannot start the Kafka committer: {e}"),
            })?;
        Ok(Committer {
            to: Some(to),
            from,
            in_flight: 0,
            thread: Some(thread),
            stop,
        })
    }

    /// Hands an epoch over.
    pub(crate) fn send(&mut self, epoch: KafkaEpoch) -> Result<(), ConnectorError> {
        let sent = self.to.as_ref().is_some_and(|to| to.send(epoch).is_ok());
        if !sent {
            // The thread ended after a failure: report it.
            return self.wait_all().and(Err(stopped()));
        }
        self.in_flight += 1;
        Ok(())
    }

    /// The highest sequence number committed since the last call, without
    /// waiting; the committer's failure, if it failed.
    pub(crate) fn poll(&mut self) -> Result<Option<i64>, ConnectorError> {
        let mut last = None;
        while self.in_flight > 0 {
            match self.from.try_recv() {
                Ok(r) => {
                    self.in_flight -= 1;
                    last = Some(r?);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return Err(stopped()),
            }
        }
        Ok(last)
    }

    /// Waits until every epoch handed over is committed; the highest
    /// sequence number committed meanwhile.
    pub(crate) fn wait_all(&mut self) -> Result<Option<i64>, ConnectorError> {
        let mut last = None;
        while self.in_flight > 0 {
            let r = self.from.recv().map_err(|_| stopped())?;
            self.in_flight -= 1;
            last = Some(r?);
        }
        Ok(last)
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn stopped() -> ConnectorError {
    ConnectorError::Service {
        domain: weir_core::ErrorDomain::Internal,
        message: "Kafka: the committer thread stopped".into(),
    }
}
