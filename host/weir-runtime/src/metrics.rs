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

    /// (records in, records out) of each sub-task.
    pub(crate) fn per_subtask(&self) -> Vec<(u64, u64)> {
        self.records_in
            .iter()
            .zip(&self.records_out)
            .map(|(i, o)| (i.load(Ordering::Relaxed), o.load(Ordering::Relaxed)))
            .collect()
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
    /// Checkpoints so far.
    pub checkpoints: crate::CheckpointStats,
    /// Restarts after failures so far.
    pub restarts: u32,
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
    /// Per node, in topological order (of the last attempt).
    pub nodes: Vec<NodeSummary>,
    /// Checkpoints taken.
    pub checkpoints: crate::CheckpointStats,
    /// Restarts after failures.
    pub restarts: u32,
    /// Set when the job was stopped with a savepoint: its path.
    pub stopped_with_savepoint: Option<std::path::PathBuf>,
}

impl JobSummary {
    /// The summary of node `id`.
    pub fn node(&self, id: &str) -> Option<&NodeSummary> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl std::fmt::Display for JobSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.stopped_with_savepoint {
            Some(p) => writeln!(
                f,
                "job '{}' stopped with savepoint {} after {:.3} s",
                self.name,
                p.display(),
                self.duration.as_secs_f64()
            )?,
            None => writeln!(
                f,
                "job '{}' finished in {:.3} s",
                self.name,
                self.duration.as_secs_f64()
            )?,
        }
        let c = &self.checkpoints;
        if c.completed > 0 || self.restarts > 0 {
            writeln!(
                f,
                "  checkpoints: {} completed{}; restarts: {}",
                c.completed,
                match (c.last_duration, c.last_id) {
                    (Some(d), Some(id)) => format!(
                        ", last #{id} took {} ms and wrote {}",
                        d.as_millis(),
                        human_bytes(c.last_bytes)
                    ),
                    _ => String::new(),
                },
                self.restarts
            )?;
        }
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

/// Bytes for people: "812 B", "3.4 MiB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}
