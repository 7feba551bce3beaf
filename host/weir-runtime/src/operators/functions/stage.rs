//! What the sub-tasks of one stateful-functions stage share in an
//! attempt: the mesh, and the count that tells when a bounded stage is
//! done (no message anywhere, no delayed message pending, every input
//! ended).

use super::mesh::Mesh;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering::SeqCst};

/// A stage's shared parts.
pub(crate) struct Stage {
    pub(crate) mesh: Mesh,
    pub(crate) quiet: Quiet,
}

impl Stage {
    /// The shared parts of a stage with `parallelism` sub-tasks.
    pub(crate) fn new(parallelism: u32) -> Stage {
        Stage {
            mesh: Mesh::new(parallelism),
            quiet: Quiet {
                outstanding: AtomicI64::new(0),
                ended: AtomicU32::new(0),
                with_timers: AtomicU32::new(0),
                parallelism,
            },
        }
    }
}

/// Work left in a stage. A message counts from when it is made (read from
/// the input, sent by a function, restored) until the response to it is
/// applied, so that the count reaches zero only when nothing can make
/// another; delayed messages count through the sub-tasks holding timers,
/// raised before the invocation that set them is counted done.
pub(crate) struct Quiet {
    outstanding: AtomicI64,
    ended: AtomicU32,
    with_timers: AtomicU32,
    parallelism: u32,
}

impl Quiet {
    /// `n` messages were made.
    pub(crate) fn made(&self, n: usize) {
        self.outstanding.fetch_add(n as i64, SeqCst);
    }

    /// `n` messages were applied (or set aside).
    pub(crate) fn applied(&self, n: usize) {
        self.outstanding.fetch_sub(n as i64, SeqCst);
    }

    /// A sub-task's input ended.
    pub(crate) fn input_ended(&self) {
        self.ended.fetch_add(1, SeqCst);
    }

    /// A sub-task now holds timers (`true`) or holds none any more.
    pub(crate) fn timers(&self, holding: bool) {
        if holding {
            self.with_timers.fetch_add(1, SeqCst);
        } else {
            self.with_timers.fetch_sub(1, SeqCst);
        }
    }

    /// Whether the stage is done: every input ended, and no message or
    /// delayed message is left anywhere.
    pub(crate) fn is_done(&self) -> bool {
        self.ended.load(SeqCst) >= self.parallelism
            && self.outstanding.load(SeqCst) == 0
            && self.with_timers.load(SeqCst) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_only_when_ended_and_nothing_is_left() {
        let s = Stage::new(2);
        let q = &s.quiet;
        q.made(1);
        q.input_ended();
        q.input_ended();
        assert!(!q.is_done(), "a message is out");
        // Its invocation sets a delayed message before it is counted done.
        q.timers(true);
        q.applied(1);
        assert!(!q.is_done(), "a delayed message is pending");
        q.made(1);
        q.timers(false);
        assert!(!q.is_done(), "the delayed message is out");
        q.applied(1);
        assert!(q.is_done());
    }
}
