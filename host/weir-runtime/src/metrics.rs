//! Record counters per node and sub-task, progress, and the run summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one node's sub-tasks.
pub(crate) struct NodeCounters {
    pub(crate) records_in: Vec<AtomicU64>,
    pub(crate) records_out: Vec<AtomicU64>,
}

impl NodeCounters {
    pub(crate) fn new(parallelism: u32) -> Self {
        NodeCounters {
            records_in: (0..parallelism).map(|_| AtomicU64::new(0)).collect(),
            records_out: (0..parallelism).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn add_in(&self, subtask: u32, n: usize) {
        self.records_in[subtask as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_out(&self, subtask: u32, n: usize) {
        self.records_out[subtask as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn total_in(&self) -> u64 {
        self.records_in
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn total_out(&self) -> u64 {
        self.records_out
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }
}

/// A snapshot of a running job, for progress displays.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Time since start.
    pub elapsed: Duration,
    /// Records read by all sources so far.
    pub source_records: u64,
    /// Source records per second over the last interval.
    pub records_per_second: f64,
    /// Records received by all sinks so far.
    pub sink_records: u64,
}

/// What one node did in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    /// Node id.
    pub id: String,
    /// "source", "sink" or the function kind.
    pub kind: String,
    /// Parallel sub-tasks.
    pub parallelism: u32,
    /// Records received.
    pub records_in: u64,
    /// Records emitted (main and side outputs).
    pub records_out: u64,
}

/// The outcome of a finished job.
#[derive(Debug, Clone)]
pub struct JobSummary {
    /// Job name.
    pub name: String,
    /// Wall-clock time.
    pub duration: Duration,
    /// Per node, in topological order.
    pub nodes: Vec<NodeSummary>,
}

impl JobSummary {
    /// The summary of node `id`.
    pub fn node(&self, id: &str) -> Option<&NodeSummary> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl std::fmt::Display for JobSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "job '{}' finished in {:.3} s",
            self.name,
            self.duration.as_secs_f64()
        )?;
        writeln!(
            f,
            "  {:<20} {:<14} {:>4} {:>14} {:>14}",
            "node", "kind", "par", "records in", "records out"
        )?;
        for n in &self.nodes {
            writeln!(
                f,
                "  {:<20} {:<14} {:>4} {:>14} {:>14}",
                n.id, n.kind, n.parallelism, n.records_in, n.records_out
            )?;
        }
        Ok(())
    }
}
