//! Shared job control: cancellation and the first failure.

use crate::failure::JobFailure;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What every sub-task of a job shares.
#[derive(Default)]
pub(crate) struct Control {
    cancelled: AtomicBool,
    failure: Mutex<Option<JobFailure>>,
}

impl Control {
    /// Whether the job is being torn down.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
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

    /// The first failure, if any.
    pub(crate) fn take_failure(&self) -> Option<JobFailure> {
        self.failure.lock().ok().and_then(|mut s| s.take())
    }
}
