//! Record counters per node and sub-task, progress, and the run summary.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The live counters of one sub-task of a node, on a cache line of their
/// own (sub-tasks run on different threads).
#[repr(align(128))]
pub(crate) struct SubtaskCells {
    records_in: AtomicU64,
    records_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Set by the sub-task now and then (the chain's head node only).
    idle_ns: AtomicU64,
    /// Time blocked in sends that returned, and when the one blocked now
    /// began (0: none), in ns since `base_ns`.
    backpressured_ns: AtomicU64,
    blocked_since: AtomicU64,
    /// When the sub-task started, ns since `base_ns` (0: not yet).
    started: AtomicU64,
    /// The chain's watermark as the node saw it.
    watermark: AtomicI64,
    wasm_calls: AtomicU64,
    wasm_call_ns: AtomicU64,
    wasm_timeouts: AtomicU64,
    guest_memory: AtomicU64,
}

impl Default for SubtaskCells {
    fn default() -> Self {
        SubtaskCells {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            blocked_since: AtomicU64::new(0),
            started: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
            wasm_calls: AtomicU64::new(0),
            wasm_call_ns: AtomicU64::new(0),
            wasm_timeouts: AtomicU64::new(0),
            guest_memory: AtomicU64::new(0),
        }
    }
}

/// What a sub-task of a node did so far: the numbers behind the REST API
/// and the Prometheus metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtaskMetrics {
    /// Records received.
    pub records_in: u64,
    /// Records emitted (main and side outputs).
    pub records_out: u64,
    /// Encoded bytes received.
    pub bytes_in: u64,
    /// Encoded bytes emitted.
    pub bytes_out: u64,
    /// Time the chain's sub-task waited for input (head node only).
    pub idle_ms: u64,
    /// Time it waited for downstream to take output (head node only).
    pub backpressured_ms: u64,
    /// Time since it started (head node only).
    pub running_ms: u64,
    /// The chain's event-time watermark (`i64::MIN` before the first).
    pub watermark: i64,
    /// Calls into the node's Wasm guest.
    pub wasm_calls: u64,
    /// Time spent in them, microseconds.
    pub wasm_call_us: u64,
    /// Calls stopped at their deadline.
    pub wasm_timeouts: u64,
    /// The guest's linear memory, bytes.
    pub guest_memory_bytes: u64,
}

impl Default for SubtaskMetrics {
    fn default() -> Self {
        SubtaskMetrics {
            records_in: 0,
            records_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            idle_ms: 0,
            backpressured_ms: 0,
            running_ms: 0,
            watermark: i64::MIN,
            wasm_calls: 0,
            wasm_call_us: 0,
            wasm_timeouts: 0,
            guest_memory_bytes: 0,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds since a process-wide instant (at least 1, so that 0 can
/// mean "not set").
fn base_ns() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    nanos(BASE.get_or_init(std::time::Instant::now).elapsed()).max(1)
}

/// A sub-task's place in a deployment's counters: (node, sub-task).
type TaskCells = (std::sync::Arc<Vec<NodeCounters>>, usize, u32);

thread_local! {
    /// The cells of the sub-task running on this thread (its chain's head
    /// node), where its sends account the time they wait for room.
    static CURRENT: std::cell::RefCell<Option<TaskCells>> =
        const { std::cell::RefCell::new(None) };
}

/// Makes this thread's sends account their waiting to the cells of
/// `node`'s sub-task `subtask`, which starts now.
pub(crate) fn enter_task(counters: std::sync::Arc<Vec<NodeCounters>>, node: usize, subtask: u32) {
    counters[node].cells[subtask as usize]
        .started
        .store(base_ns(), Ordering::Relaxed);
    CURRENT.with(|c| *c.borrow_mut() = Some((counters, node, subtask)));
}

/// This thread's sub-task ended.
pub(crate) fn leave_task() {
    CURRENT.with(|c| *c.borrow_mut() = None);
}

/// Runs `f` on this thread's sub-task cells, if any.
fn with_current(f: impl FnOnce(&SubtaskCells)) {
    CURRENT.with(|c| {
        if let Some((counters, node, subtask)) = c.borrow().as_ref() {
            f(&counters[*node].cells[*subtask as usize]);
        }
    });
}

/// A send on this thread starts waiting for room.
pub(crate) fn blocked() {
    with_current(|c| c.blocked_since.store(base_ns(), Ordering::Relaxed));
}

/// The send waiting for room got it, after `waited`.
pub(crate) fn unblocked(waited: Duration) {
    with_current(|c| {
        c.backpressured_ns
            .fetch_add(nanos(waited), Ordering::Relaxed);
        c.blocked_since.store(0, Ordering::Relaxed);
    });
}

/// Counters of one node's sub-tasks.
pub(crate) struct NodeCounters {
    cells: Vec<SubtaskCells>,
}

impl NodeCounters {
    pub(crate) fn new(parallelism: u32) -> Self {
        NodeCounters {
            cells: (0..parallelism).map(|_| SubtaskCells::default()).collect(),
        }
    }

    pub(crate) fn add_in(&self, subtask: u32, n: usize, bytes: usize) {
        let c = &self.cells[subtask as usize];
        c.records_in.fetch_add(n as u64, Ordering::Relaxed);
        c.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_out(&self, subtask: u32, n: usize, bytes: usize) {
        let c = &self.cells[subtask as usize];
        c.records_out.fetch_add(n as u64, Ordering::Relaxed);
        c.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_watermark(&self, subtask: u32, wm: i64) {
        self.cells[subtask as usize]
            .watermark
            .store(wm, Ordering::Relaxed);
    }

    pub(crate) fn set_idle(&self, subtask: u32, idle: Duration) {
        self.cells[subtask as usize]
            .idle_ns
            .store(nanos(idle), Ordering::Relaxed);
    }

    pub(crate) fn set_calls(&self, subtask: u32, s: weir_wasm::CallStats) {
        let c = &self.cells[subtask as usize];
        c.wasm_calls.store(s.calls, Ordering::Relaxed);
        c.wasm_call_ns.store(nanos(s.busy), Ordering::Relaxed);
        c.wasm_timeouts.store(s.timeouts, Ordering::Relaxed);
        c.guest_memory.store(s.memory_bytes, Ordering::Relaxed);
    }

    /// What each sub-task did so far.
    pub(crate) fn per_subtask(&self) -> Vec<SubtaskMetrics> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let now = base_ns();
        let since = |t: u64| if t == 0 { 0 } else { now.saturating_sub(t) };
        self.cells
            .iter()
            .map(|c| SubtaskMetrics {
                records_in: get(&c.records_in),
                records_out: get(&c.records_out),
                bytes_in: get(&c.bytes_in),
                bytes_out: get(&c.bytes_out),
                idle_ms: get(&c.idle_ns) / 1_000_000,
                // A send blocked now counts up to now.
                backpressured_ms: (get(&c.backpressured_ns) + since(get(&c.blocked_since)))
                    / 1_000_000,
                running_ms: since(get(&c.started)) / 1_000_000,
                watermark: c.watermark.load(Ordering::Relaxed),
                wasm_calls: get(&c.wasm_calls),
                wasm_call_us: get(&c.wasm_call_ns) / 1000,
                wasm_timeouts: get(&c.wasm_timeouts),
                guest_memory_bytes: get(&c.guest_memory),
            })
            .collect()
    }

    pub(crate) fn total_in(&self) -> u64 {
        self.cells
            .iter()
            .map(|c| c.records_in.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn total_out(&self) -> u64 {
        self.cells
            .iter()
            .map(|c| c.records_out.load(Ordering::Relaxed))
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
    /// Calls into its Wasm guest (0 where the executor does not know; a
    /// fused chain's calls count at its first node).
    pub wasm_calls: u64,
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
