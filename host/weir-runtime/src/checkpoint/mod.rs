//! Checkpoints and savepoints: the coordinator, the sub-tasks' side
//! (writing their snapshots where they run), and restoring a job from a
//! snapshot.

mod coordinator;
mod host;
mod persist;
mod restore;

pub(crate) use coordinator::{CheckpointPolicy, Command, Coordinator, JobFacts};
pub use coordinator::{CheckpointStats, SavepointRequest};
pub(crate) use host::{Report, TaskHost};
pub(crate) use restore::RestorePlan;
