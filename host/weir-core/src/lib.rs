//! Core types of Weir: job definitions and their validation, the logical
//! and physical graphs, key groups, and how errors are classified.
//!
//! A job file (TOML) is parsed into a [`spec::JobSpec`], checked and resolved
//! into a [`graph::JobGraph`], then turned into a [`plan::PhysicalPlan`]:
//! chains of operators, each run as parallel sub-tasks.

pub mod args;
pub mod batch;
pub mod builder;
pub mod error;
pub mod graph;
pub mod kafka_spec;
pub mod keygroup;
pub mod params;
pub mod plan;
pub mod spec;
mod validate;
pub mod window;

pub use batch::{Batch, Outputs};
pub use error::{ErrorDomain, JobError};
pub use graph::JobGraph;
