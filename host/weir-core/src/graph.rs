//! The logical job graph: a validated, resolved job definition.

use crate::spec::{Exchange, FunctionKind, SinkSpec, SourceSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A job ready to plan: parameters substituted, references resolved, nodes
/// in topological order.
#[derive(Debug, Clone)]
pub struct JobGraph {
    /// Job name.
    pub name: String,
    /// Number of key groups.
    pub max_parallelism: u32,
    /// Parameter values (declared defaults with overrides applied).
    pub parameters: BTreeMap<String, String>,
    /// Sandbox limits.
    pub sandbox: Sandbox,
    /// Resolved component paths by name.
    pub components: BTreeMap<String, PathBuf>,
    /// Nodes, sources first, every node after its inputs.
    pub nodes: Vec<Node>,
    /// Edges between nodes.
    pub edges: Vec<Edge>,
    /// Periodic checkpoints, if enabled.
    pub checkpointing: Option<Checkpointing>,
    /// Where keyed state lives.
    pub state_backend: crate::spec::StateBackendKind,
    /// The job's RocksDB memory budget in each process it runs in, MiB.
    pub state_memory_mb: u32,
    /// What happens when a sub-task fails.
    pub restart: crate::spec::RestartSpec,
}

/// Checkpoint settings of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpointing {
    /// Time between checkpoints.
    pub interval: Duration,
    /// Checkpoint directory.
    pub dir: PathBuf,
    /// Completed checkpoints kept.
    pub retain: usize,
    /// How long a checkpoint may take before it fails.
    pub timeout: Duration,
    /// Failed checkpoints in a row the job survives.
    pub tolerable_failures: u32,
}

/// Default checkpoint timeout (Flink's).
pub const DEFAULT_CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(600);

/// Sandbox limits for every function instance of a job, and what each
/// component was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// Linear memory cap per instance, bytes.
    pub memory_limit_bytes: u64,
    /// Deadline of one call into a function.
    pub call_timeout: Duration,
    /// Capabilities by component name; absent means none.
    pub grants: BTreeMap<String, std::sync::Arc<Grants>>,
    /// What the host holds on an instance's behalf.
    pub budgets: Budgets,
    /// Consecutive chained functions of one component run in one guest
    /// call (`fuse_chained_calls`, or `--fuse-chained-calls`).
    pub fuse_chained_calls: bool,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            memory_limit_bytes: 64 << 20,
            call_timeout: Duration::from_secs(10),
            grants: BTreeMap::new(),
            budgets: Budgets::default(),
            fuse_chained_calls: true,
        }
    }
}

/// Limits on what the host holds or does on behalf of one function
/// instance: the guest's memory cap does not see host allocations, so
/// these bound them (`[sandbox]` settings named in each field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Keyed state bytes one call may write (`max_state_write_mb_per_call`).
    pub state_write_bytes_per_call: u64,
    /// Timers one call may register (`max_timers_per_call`).
    pub timers_per_call: u64,
    /// Keyed states one function may declare (`max_states`).
    pub states: u32,
    /// Result bytes one call may return (`max_output_mb_per_call`).
    pub output_bytes_per_call: u64,
    /// Side outputs one function may declare (`max_side_outputs`).
    pub side_outputs: u32,
    /// Lines of guest output forwarded to the log per second and instance
    /// (`max_log_lines_per_second`); more are counted and dropped.
    pub log_lines_per_second: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            state_write_bytes_per_call: 64 << 20,
            timers_per_call: 100_000,
            states: 64,
            output_bytes_per_call: 64 << 20,
            side_outputs: 32,
            log_lines_per_second: 100,
        }
    }
}

/// What one component may reach outside its sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Environment variables, in name order.
    pub env: Vec<(String, String)>,
    /// Directories it may open.
    pub dirs: Vec<DirGrant>,
}

/// A host directory visible to a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Resolved host directory.
    pub host: PathBuf,
    /// Absolute guest path.
    pub guest: String,
    /// Whether the guest may change its contents.
    pub writable: bool,
}

/// A node of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique id from the job file.
    pub id: String,
    /// Parallel sub-tasks.
    pub parallelism: u32,
    /// What it does.
    pub kind: NodeKind,
}

/// What a node does.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Reads records.
    Source(SourceSpec),
    /// Runs a Wasm function.
    Operator(OperatorNode),
    /// Runs stateful functions.
    Functions(FunctionsNode),
    /// Writes records.
    Sink(SinkSpec),
}

/// A stateful-functions stage.
#[derive(Debug, Clone)]
pub struct FunctionsNode {
    /// The resolved module file.
    pub module: PathBuf,
    /// What a message a function keeps failing on does to the job.
    pub on_error: crate::spec::OnError,
    /// Messages waiting per address before the stage stops taking input.
    pub max_backlog: usize,
    /// Requests in flight per sub-task before it stops taking input.
    pub max_in_flight: usize,
}

/// A Wasm function operator.
#[derive(Debug, Clone)]
pub struct OperatorNode {
    /// Component name in the job file.
    pub component: String,
    /// Resolved component path.
    pub component_path: PathBuf,
    /// Function name.
    pub function: String,
    /// Function kind.
    pub kind: FunctionKind,
    /// The window the function runs on, if any.
    pub window: Option<crate::window::WindowDef>,
    /// What a record the function fails on does to the job.
    pub on_error: crate::spec::OnError,
}

/// How a record's key is found on a `key-by` edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelector {
    /// The key the upstream function set.
    RecordKey,
    /// A field of the JSON value (path of nested field names).
    JsonField(Vec<String>),
}

/// An edge from an output of one node to an input of another.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Upstream node index.
    pub from: usize,
    /// Side output name, or `None` for the main output.
    pub output: Option<String>,
    /// Downstream node index.
    pub to: usize,
    /// Distribution.
    pub exchange: Exchange,
    /// Key selection, for `key-by`.
    pub key: KeySelector,
}

impl JobGraph {
    /// Index of the node with `id`.
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Edges into node `to`, in input order.
    pub fn inputs_of(&self, to: usize) -> impl Iterator<Item = (usize, &Edge)> {
        self.edges
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.to == to)
    }

    /// Edges out of node `from`.
    pub fn outputs_of(&self, from: usize) -> impl Iterator<Item = (usize, &Edge)> {
        self.edges
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.from == from)
    }
}

/// Settings given on the command line that override the job file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Parameter values.
    pub parameters: Vec<(String, String)>,
    /// Default parallelism of nodes without their own.
    pub parallelism: Option<u32>,
    /// Checkpoint interval (enables checkpoints with `checkpoint_dir`).
    pub checkpoint_interval: Option<Duration>,
    /// Checkpoint directory.
    pub checkpoint_dir: Option<PathBuf>,
    /// State backend.
    pub state_backend: Option<crate::spec::StateBackendKind>,
    /// The job's RocksDB memory budget in each process, MiB.
    pub state_memory_mb: Option<u32>,
    /// Whether chained functions of one component run in one call.
    pub fuse_chained_calls: Option<bool>,
}

/// The RocksDB memory budget when the job sets none, MiB (as
/// Flink's managed memory of a small task manager).
pub const DEFAULT_STATE_MEMORY_MB: u32 = 256;

/// The smallest RocksDB memory budget a job may set, MiB.
pub const MIN_STATE_MEMORY_MB: u32 = 16;
