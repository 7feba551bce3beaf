//! Weir's embedded runner: runs a [`JobGraph`] as parallel sub-tasks in one
//! process.
//!
//! Each chain of the [`PhysicalPlan`] runs as one thread per sub-task.
//! Sub-tasks exchange batches through bounded channels, so a slow operator
//! backpressures its sources. Keyed exchanges route records by key group.
//! Bounded inputs end with an end-of-input marker that flows through the
//! graph; the job finishes when every sub-task has finished. The first
//! failure cancels the job and is reported with the operator, the sub-task
//! and the cause.
//!
//! [`JobGraph`]: weir_core::JobGraph
//! [`PhysicalPlan`]: weir_core::plan::PhysicalPlan

mod checkpoint;
mod clock;
mod control;
mod deploy;
mod exchange;
mod failure;
mod fuse;
mod gate;
mod handle;
mod job;
mod metrics;
mod operators;
mod remote;
mod restart;
mod setup;
mod sink_commit;
mod task;

pub use checkpoint::{
    CheckpointRecord, CheckpointStats, CheckpointStatus, Command, PersistedOp, Report,
    RestoredFrom, SavepointRequest, Target,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use control::{Barrier, TaskId};
pub use deploy::{DeploySpec, Deployment, Ended, Failer, Restore, all_channels, all_tasks};
pub use failure::JobFailure;
pub use handle::{JobHandle, JobStatus};
pub use job::{
    AttemptSpec, Executor, InjectedFault, LocalExecutor, ProgressFn, RunOptions, node_kind,
    run_job, run_job_on,
};
pub use metrics::{JobSummary, NodeSummary, Progress, SubtaskMetrics, human_bytes};
pub use remote::{ChannelKey, CreditHook, FrameError, InEnd, Next, OutEnd, is_end};
pub use setup::sandbox_limits;
/// What the RocksDB memory budgets of this process hold now (metrics).
pub use weir_rocksdb::{BudgetUsage, usage as rocksdb_memory};
