//! Checkpoints and savepoints: the coordinator, the sub-tasks' side
//! (writing their snapshots where they run), and restoring a job from a
//! snapshot.

mod coordinator;
mod host;
pub(crate) mod persist;
mod restore;

pub(crate) use coordinator::{CheckpointPolicy, Coordinator, JobFacts};
pub use coordinator::{
    CheckpointRecord, CheckpointReply, CheckpointStats, CheckpointStatus, Command, RestoredFrom,
    SavepointRequest,
};
pub use host::Report;
pub(crate) use host::TaskHost;
pub use persist::{PersistedOp, Target};
pub(crate) use restore::RestorePlan;
