//! Processing time: the system clock, or a clock tests move by hand.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of processing time, in ms since the epoch.
pub trait Clock: Send + Sync {
    /// The current processing time.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        weir_connectors::now_ms()
    }
}

/// A clock that only moves when told to: deterministic processing time for
/// tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> Self {
        ManualClock(AtomicI64::new(ms))
    }

    /// Sets the time.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
