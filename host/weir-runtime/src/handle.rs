//! A handle on a running job for its operator: savepoints, stopping,
//! status. The CLI's local control endpoint forwards to it.

use crate::checkpoint::{CheckpointReply, CheckpointStats, SavepointRequest};
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a running job reports about itself.
#[derive(Debug, Clone, Default)]
pub struct JobStatus {
    /// Records read by the sources so far (this attempt).
    pub source_records: u64,
    /// Checkpoints so far.
    pub checkpoints: CheckpointStats,
    /// Restarts so far.
    pub restarts: u32,
}

/// Controls one running job from outside its threads.
pub struct JobHandle {
    requests: (Sender<SavepointRequest>, Receiver<SavepointRequest>),
    checkpoints: (Sender<CheckpointReply>, Receiver<CheckpointReply>),
    cancel: AtomicBool,
    status: Mutex<JobStatus>,
}

impl Default for JobHandle {
    fn default() -> Self {
        JobHandle {
            requests: unbounded(),
            checkpoints: unbounded(),
            cancel: AtomicBool::new(false),
            status: Mutex::new(JobStatus::default()),
        }
    }
}

impl JobHandle {
    /// Asks for a savepoint under `dir` (and to stop the job after it);
    /// the receiver gets the savepoint's path or why it failed.
    pub fn savepoint(&self, dir: PathBuf, stop: bool) -> Receiver<Result<PathBuf, String>> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let _ = self.requests.0.send(SavepointRequest { dir, stop, reply });
        rx
    }

    /// Asks for a checkpoint now, outside the interval; the receiver gets
    /// its id once complete, or why it failed.
    pub fn checkpoint(&self) -> Receiver<Result<u64, String>> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let _ = self.checkpoints.0.send(reply);
        rx
    }

    /// Cancels the job (no savepoint).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether cancellation was asked for.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The latest status.
    pub fn status(&self) -> JobStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn set_status(&self, s: JobStatus) {
        if let Ok(mut slot) = self.status.lock() {
            *slot = s;
        }
    }

    pub(crate) fn take_requests(&self) -> Vec<SavepointRequest> {
        self.requests.1.try_iter().collect()
    }

    pub(crate) fn take_checkpoint_requests(&self) -> Vec<CheckpointReply> {
        self.checkpoints.1.try_iter().collect()
    }
}
