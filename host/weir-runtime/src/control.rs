//! Shared job control: cancellation, the first failure, checkpoint
//! triggers for the sources, and the channel on which sub-tasks report to
//! the checkpoint coordinator.

use crate::failure::JobFailure;
use crossbeam_channel::Sender;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use weir_checkpoint::{CheckpointKind, OperatorSnapshot};
use weir_state::NativeCheckpoint;

/// A checkpoint barrier: its id and whether it is a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint id.
    pub id: u64,
    /// Checkpoint or savepoint.
    pub kind: CheckpointKind,
}

/// A sub-task: (chain, sub-task index).
pub type TaskId = (usize, u32);

/// One operator's part of a sub-task's acknowledgement.
pub(crate) struct OpAck {
    pub(crate) snapshot: OperatorSnapshot,
    /// RocksDB files to copy into the checkpoint (then `snapshot.keyed`
    /// is filled in by the coordinator).
    pub(crate) native: Option<NativeCheckpoint>,
    /// Canonical keyed state pinned at the barrier, streamed into the
    /// checkpoint's state file by the coordinator (off the processing
    /// thread).
    pub(crate) deferred: Option<weir_state::DeferredSnapshot>,
    /// Canonical keyed state streamed already into a local file (a
    /// finished sub-task's final state, copied into every checkpoint
    /// taken after it finished).
    pub(crate) spilled: Option<std::sync::Arc<crate::checkpoint::persist::Spilled>>,
}

impl OpAck {
    /// An acknowledgement of a snapshot that is complete already.
    pub(crate) fn complete(snapshot: OperatorSnapshot) -> Self {
        OpAck {
            snapshot,
            native: None,
            deferred: None,
            spilled: None,
        }
    }
}

/// What sub-tasks tell the coordinator.
pub(crate) enum TaskEvent {
    /// A sub-task snapshotted its operators for checkpoint `id`.
    Ack {
        id: u64,
        task: TaskId,
        ops: Vec<OpAck>,
    },
    /// A sub-task finished its input; this is its state from now on.
    Finished { task: TaskId, ops: Vec<OpAck> },
}

/// What every sub-task of a job shares.
pub(crate) struct Control {
    /// Shared with every function instance, whose running calls it
    /// interrupts.
    cancelled: std::sync::Arc<AtomicBool>,
    failure: Mutex<Option<JobFailure>>,
    setup_failed: AtomicBool,
    barrier_id: AtomicU64,
    barrier: Mutex<Option<Barrier>>,
    /// The latest completed checkpoint (0: none yet).
    completed: AtomicU64,
    events: Option<Sender<TaskEvent>>,
    fault: Option<std::sync::Arc<crate::job::InjectedFault>>,
}

impl Control {
    /// Control for a job; `events` reaches the checkpoint coordinator
    /// (none without checkpoints).
    pub(crate) fn new(
        events: Option<Sender<TaskEvent>>,
        fault: Option<std::sync::Arc<crate::job::InjectedFault>>,
    ) -> Self {
        Control {
            cancelled: std::sync::Arc::new(AtomicBool::new(false)),
            failure: Mutex::new(None),
            setup_failed: AtomicBool::new(false),
            barrier_id: AtomicU64::new(0),
            barrier: Mutex::new(None),
            completed: AtomicU64::new(0),
            events,
            fault,
        }
    }

    /// Whether a fault is to be injected at all (tests).
    #[inline]
    pub(crate) fn has_fault(&self) -> bool {
        self.fault.is_some()
    }

    /// Whether an injected fault strikes `operator`, which has now
    /// received `records` records (once per run of the process).
    pub(crate) fn fault_due(&self, operator: &str, records: u64) -> bool {
        self.fault.as_ref().is_some_and(|f| {
            f.operator == operator
                && records >= f.after_records
                && (!f.fired.swap(true, Ordering::SeqCst) || f.every_attempt)
        })
    }

    /// Whether the job is being torn down.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The cancellation flag, for function instances to watch.
    pub(crate) fn cancel_flag(&self) -> std::sync::Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// Cancels without a failure (user request).
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Records a failure (the first one wins) and cancels the job.
    pub(crate) fn fail(&self, f: JobFailure) {
        if let Ok(mut slot) = self.failure.lock()
            && slot.is_none()
        {
            *slot = Some(f);
        }
        self.cancel();
    }

    /// Records a failure while a sub-task was set up (opening functions,
    /// restoring state): restarting cannot fix it.
    pub(crate) fn fail_setup(&self, f: JobFailure) {
        self.setup_failed.store(true, Ordering::SeqCst);
        self.fail(f);
    }

    /// Whether a sub-task failed while it was set up.
    pub(crate) fn setup_failed(&self) -> bool {
        self.setup_failed.load(Ordering::SeqCst)
    }

    /// The first failure, if any, left in place.
    pub(crate) fn peek_failure(&self) -> Option<JobFailure> {
        self.failure.lock().ok().and_then(|s| s.clone())
    }

    /// The first failure, if any.
    pub(crate) fn take_failure(&self) -> Option<JobFailure> {
        self.failure.lock().ok().and_then(|mut s| s.take())
    }

    /// Asks the sources to inject `barrier`.
    pub(crate) fn trigger(&self, barrier: Barrier) {
        if let Ok(mut b) = self.barrier.lock() {
            *b = Some(barrier);
        }
        self.barrier_id.store(barrier.id, Ordering::Release);
    }

    /// The latest triggered barrier, if newer than `seen`.
    pub(crate) fn barrier_after(&self, seen: u64) -> Option<Barrier> {
        if self.barrier_id.load(Ordering::Acquire) <= seen {
            return None;
        }
        self.barrier.lock().ok().and_then(|b| *b)
    }

    /// Checkpoint `id` completed: sub-tasks tell their operators.
    pub(crate) fn notify_complete(&self, id: u64) {
        self.completed.fetch_max(id, Ordering::AcqRel);
    }

    /// The latest completed checkpoint, if newer than `seen`.
    #[inline]
    pub(crate) fn completed_after(&self, seen: u64) -> Option<u64> {
        let c = self.completed.load(Ordering::Acquire);
        (c > seen).then_some(c)
    }

    /// Reports to the coordinator (nothing without checkpoints).
    pub(crate) fn report(&self, event: TaskEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }
}
