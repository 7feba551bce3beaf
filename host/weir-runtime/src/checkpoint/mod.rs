//! Checkpoints and savepoints in the embedded runner: the coordinator,
//! and restoring a job from a snapshot.

mod coordinator;
mod restore;

pub use coordinator::{CheckpointStats, SavepointRequest};
pub(crate) use coordinator::{Coordinator, JobFacts};
pub(crate) use restore::RestorePlan;
