//! The job file format (TOML), as written by users.
//!
//! Every table rejects unknown fields so that a typo is an error, not a
//! silently ignored setting. See `docs/job-file.md` for the reference.

pub use crate::kafka_spec::{KafkaSinkSpec, KafkaSourceSpec};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A job definition file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Job name.
    pub name: String,
    /// Default parallelism of every node.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// Number of key groups (the upper bound of any keyed parallelism).
    #[serde(default)]
    pub max_parallelism: Option<u32>,
    /// Declared job parameters and their defaults.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Wasm components by name, paths relative to the job file.
    #[serde(default)]
    pub components: BTreeMap<String, String>,
    /// Sandbox limits for every function instance.
    #[serde(default)]
    pub sandbox: SandboxSpec,
    /// Sources.
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// Operators running Wasm functions.
    #[serde(default)]
    pub operators: Vec<OperatorSpec>,
    /// Stateful-functions stages (a StateFun module's functions).
    #[serde(default)]
    pub functions: Vec<FunctionsSpec>,
    /// Sinks.
    #[serde(default)]
    pub sinks: Vec<SinkSpec>,
    /// Periodic checkpoints.
    #[serde(default)]
    pub checkpointing: Option<CheckpointingSpec>,
    /// Where keyed state lives.
    #[serde(default)]
    pub state: StateSpec,
    /// What happens when a sub-task fails.
    #[serde(default)]
    pub restart: Option<RestartSpec>,
}

/// `[checkpointing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointingSpec {
    /// Time between checkpoints, ms.
    pub interval_ms: u64,
    /// Directory for checkpoints (relative to the job file).
    pub dir: String,
    /// Completed checkpoints to keep (default 3).
    #[serde(default)]
    pub retain: Option<usize>,
    /// A checkpoint not complete this long after its trigger fails the
    /// attempt (the job restarts from the latest complete one), ms;
    /// default 600000 (10 minutes, as Flink).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Failed checkpoints in a row the job survives (default 0: the first
    /// failure restarts it from the latest complete checkpoint, as Flink's
    /// `tolerable-failed-checkpoints`).
    #[serde(default)]
    pub tolerable_failures: Option<u32>,
}

/// `[state]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// `memory` (default) or `rocksdb`.
    #[serde(default)]
    pub backend: StateBackendKind,
    /// The job's RocksDB memory budget in each process it runs in (the
    /// embedded runner or a worker), in MiB: its block cache and memtables
    /// (default `graph::DEFAULT_STATE_MEMORY_MB`).
    #[serde(default)]
    pub memory_mb: Option<u32>,
}

/// A state backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateBackendKind {
    /// Hash maps on the heap.
    #[default]
    Memory,
    /// Embedded RocksDB on local disk.
    Rocksdb,
}

impl StateBackendKind {
    /// The name used in job files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StateBackendKind::Memory => "memory",
            StateBackendKind::Rocksdb => "rocksdb",
        }
    }
}

/// `[restart]`: Flink's restart strategies.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RestartSpec {
    /// Fail the job on the first failure.
    None,
    /// Restart up to `attempts` times, waiting `delay_ms` each time.
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each restart, ms.
        #[serde(default)]
        delay_ms: u64,
    },
    /// Restart up to `attempts` times, the wait growing by `multiplier`
    /// from `initial_delay_ms` up to `max_delay_ms`.
    ExponentialBackoff {
        /// Restarts allowed.
        attempts: u32,
        /// First wait, ms.
        #[serde(default)]
        initial_delay_ms: u64,
        /// Longest wait, ms.
        #[serde(default)]
        max_delay_ms: Option<u64>,
        /// Growth of the wait (default 2).
        #[serde(default)]
        multiplier: Option<f64>,
    },
    /// Restart unless more than `max_failures` happen within `interval_ms`.
    FailureRate {
        /// Failures tolerated per interval.
        max_failures: u32,
        /// The interval, ms.
        interval_ms: u64,
        /// Wait before each restart, ms.
        #[serde(default)]
        delay_ms: u64,
    },
}

/// Sandbox limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    /// Linear memory cap per function instance, MiB.
    pub memory_limit_mb: Option<u64>,
    /// Deadline of one batch call, ms.
    pub call_timeout_ms: Option<u64>,
    /// Keyed state one call may write, MiB (default 64).
    pub max_state_write_mb_per_call: Option<u64>,
    /// Timers one call may register (default 100000).
    pub max_timers_per_call: Option<u64>,
    /// Keyed states one function may declare (default 64).
    pub max_states: Option<u32>,
    /// Result bytes one call may return, MiB (default 64).
    pub max_output_mb_per_call: Option<u64>,
    /// Side outputs one function may declare (default 32).
    pub max_side_outputs: Option<u32>,
    /// Consecutive chained functions of one component run in one guest
    /// call (default true; false calls each function on its own).
    pub fuse_chained_calls: Option<bool>,
    /// Guest output lines forwarded to the log per second and instance
    /// (default 100; 0 forwards none).
    pub max_log_lines_per_second: Option<u32>,
    /// What each component may reach beyond computing, by component name
    /// (`[sandbox.grants.<component>]`). Without a grant a guest sees no
    /// files, no environment and no sockets.
    #[serde(default)]
    pub grants: BTreeMap<String, GrantSpec>,
}

/// `[sandbox.grants.<component>]`: capabilities given to one component.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Environment variables the guest sees (values may use `${param}`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Host directories the guest may open, each under a guest path.
    #[serde(default)]
    pub dirs: Vec<DirGrantSpec>,
}

/// One directory granted to a component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrantSpec {
    /// Host directory (relative to the job file; may use `${param}`).
    pub host: String,
    /// Absolute path under which the guest sees it, e.g. `/data`.
    pub guest: String,
    /// Whether the guest may create, change and delete files in it
    /// (read-only by default).
    #[serde(default)]
    pub writable: bool,
}

/// A source, by connector kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceSpec {
    /// Lines of files: a file, a directory or a glob.
    File(FileSourceSpec),
    /// Deterministic generated records.
    Datagen(DatagenSpec),
    /// StateFun's playground ingress: an HTTP server taking
    /// `PUT /<namespace>/<type>/<id>` as messages for a functions stage.
    PlaygroundIngress(PlaygroundIngressSpec),
    /// The partitions of Kafka topics.
    Kafka(KafkaSourceSpec),
}

/// Playground ingress settings. It runs with parallelism 1 (one server).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaygroundIngressSpec {
    /// Unique node id.
    pub id: String,
    /// The port it listens on.
    pub port: u16,
    /// The address it binds (default `127.0.0.1`; `0.0.0.0` opens it to
    /// other hosts).
    #[serde(default)]
    pub host: Option<String>,
}

/// File source settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceSpec {
    /// Unique node id.
    pub id: String,
    /// Parallel readers.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// A file, a directory (every file in it) or a glob pattern.
    pub path: String,
    /// How lines are read.
    #[serde(default)]
    pub format: RecordFormat,
    /// What to read when `path` is empty.
    #[serde(default)]
    pub fallback: Option<SourceFallback>,
    /// What to do with a line that is not valid JSON (json format) or
    /// longer than `max_line_bytes`.
    #[serde(default)]
    pub on_malformed: MalformedPolicy,
    /// Longest line read, bytes (default 8 MiB): a longer one is malformed.
    #[serde(default)]
    pub max_line_bytes: Option<u64>,
    /// Event timestamps and watermarks; absent: records carry no timestamp.
    #[serde(default)]
    pub event_time: Option<EventTimeSpec>,
}

/// Where event timestamps come from and how watermarks follow them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTimeSpec {
    /// JSON field with the event time in ms since the epoch (json format);
    /// absent: ingestion time (the reader's clock).
    #[serde(default)]
    pub field: Option<String>,
    /// Bounded out-of-orderness in ms; 0 means timestamps are monotonous.
    /// The watermark trails the highest timestamp seen by this much (+1 ms).
    #[serde(default)]
    pub max_out_of_orderness_ms: u64,
    /// A reader with no records for this long is marked idle, so that it
    /// does not hold back the watermark of the operators it feeds.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// A `timestamp-assigner` function that gives each record its event
    /// time (instead of `field` or ingestion time).
    #[serde(default)]
    pub assigner: Option<FunctionRef>,
    /// A reader with several files reads them one after another instead
    /// of in turn (files hold the watermark at its minimum until they are
    /// started either way).
    #[serde(default)]
    pub sequential_files: bool,
}

/// What a file source reads when its path is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFallback {
    /// Built-in sample text (a passage of Hamlet, as Flink's WordCount).
    SampleText,
}

/// Format of file records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFormat {
    /// One UTF-8 text line per record.
    #[default]
    Text,
    /// One JSON value per line.
    Json,
}

/// Policy for JSON lines that do not parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MalformedPolicy {
    /// Fail the job, naming the file and line.
    #[default]
    Fail,
    /// Send the line to the source's `malformed` side output as a JSON
    /// object `{"file", "line", "error", "text"}` and go on.
    DeadLetter,
}

/// Generated-record settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagenSpec {
    /// Unique node id.
    pub id: String,
    /// Parallel generators (each makes its share of `count`).
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// What to generate.
    pub generator: Generator,
    /// Records in all; unbounded when absent.
    #[serde(default)]
    pub count: Option<u64>,
    /// Records per second in all; unlimited when absent.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Seed of the generator.
    #[serde(default)]
    pub seed: u64,
    /// Ingestion-time timestamps and watermarks (no `field` here).
    #[serde(default)]
    pub event_time: Option<EventTimeSpec>,
}

/// Built-in generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generator {
    /// Text lines "0", "1", ...
    Sequence,
    /// Text lines of words from a 10,000-word vocabulary with a Zipf
    /// distribution, with capitals and punctuation.
    Words,
    /// JSON clicks `{"user": "u17", "url": "/p/3"}`.
    Clicks,
}

/// An operator running a Wasm function.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    /// Unique node id (also the stable id of its state).
    pub id: String,
    /// Name of the component in `[components]`.
    pub component: String,
    /// Function name inside the component.
    pub function: String,
    /// Function kind.
    pub kind: FunctionKind,
    /// Input(s).
    pub input: Inputs,
    /// Parallel instances.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// Runs the function on windows of its keyed input (reduce, aggregate,
    /// process-window).
    #[serde(default)]
    pub window: Option<crate::window::WindowSpec>,
    /// What a record the function fails on does to the job.
    #[serde(default)]
    pub on_error: OnError,
}

/// `[[functions]]`: a stage running the stateful functions of a StateFun
/// module. Its input carries ingress records (JSON `{"target", "type",
/// "value"}`), keyed by target address; what the functions send to an
/// egress leaves on the side output named by the egress typename.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionsSpec {
    /// Unique node id (also the stable id of its state).
    pub id: String,
    /// The module file (`module.yaml`) naming the function endpoints,
    /// relative to the job file.
    pub module: String,
    /// Input(s).
    pub input: Inputs,
    /// Parallel instances.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// What a message a function keeps failing on does to the job.
    #[serde(default)]
    pub on_error: OnError,
    /// Messages waiting per address before the stage stops taking input
    /// (StateFun's default: 1000).
    #[serde(default)]
    pub max_backlog: Option<usize>,
    /// Requests in flight per sub-task before it stops taking input.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
}

/// What a record an operator cannot process does to the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Fail the job (a user error: it is not restarted).
    #[default]
    Fail,
    /// Send the record, with the operator and the error, to the
    /// operator's `dead-letter` side output and go on.
    DeadLetter,
}

/// The side output of records an operator set aside (`on_error =
/// "dead-letter"`).
pub const DEAD_LETTER_OUTPUT: &str = "dead-letter";

/// The side output of lines a file source could not read
/// (`on_malformed = "dead-letter"`).
pub const MALFORMED_OUTPUT: &str = "malformed";

/// A function of a component, named outside `[[operators]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionRef {
    /// Name of the component in `[components]`.
    pub component: String,
    /// Function name inside the component.
    pub function: String,
}

/// Function kinds, as in the WIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionKind {
    /// One in, one out.
    Map,
    /// One in, any number out.
    FlatMap,
    /// Keeps some records.
    Filter,
    /// Keyed pairwise combination.
    Reduce,
    /// Keyed accumulation.
    Aggregate,
    /// Keyed process function with state.
    KeyedProcess,
    /// All elements of a window at once.
    ProcessWindow,
    /// Event timestamps for a source (named in `event_time.assigner`).
    TimestampAssigner,
}

impl FunctionKind {
    /// Whether the kind needs a keyed input.
    pub fn is_keyed(self) -> bool {
        matches!(
            self,
            FunctionKind::Reduce
                | FunctionKind::Aggregate
                | FunctionKind::KeyedProcess
                | FunctionKind::ProcessWindow
        )
    }

    /// The name used in job files.
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Map => "map",
            FunctionKind::FlatMap => "flat-map",
            FunctionKind::Filter => "filter",
            FunctionKind::Reduce => "reduce",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::KeyedProcess => "keyed-process",
            FunctionKind::ProcessWindow => "process-window",
            FunctionKind::TimestampAssigner => "timestamp-assigner",
        }
    }
}

/// One or several inputs.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Inputs {
    /// Several inputs (a union). Tried first: serde would otherwise read a
    /// list as the fields of an [`EdgeSpec`].
    Many(Vec<InputRef>),
    /// One input.
    One(InputRef),
}

impl Inputs {
    /// The inputs as a slice.
    pub fn as_slice(&self) -> &[InputRef] {
        match self {
            Inputs::One(i) => std::slice::from_ref(i),
            Inputs::Many(v) => v,
        }
    }
}

/// An input: a node id, or a table with exchange settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InputRef {
    /// The main output of the node with this id.
    Node(String),
    /// Full form.
    Edge(EdgeSpec),
}

/// An input edge in full.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// Upstream node id.
    pub from: String,
    /// A side output of the upstream node instead of its main output.
    #[serde(default)]
    pub output: Option<String>,
    /// How records are distributed to this node's sub-tasks.
    #[serde(default)]
    pub exchange: Option<Exchange>,
    /// With `key-by`: key by this JSON field of the value instead of the
    /// record key (dots reach into nested objects: `user.id`).
    #[serde(default)]
    pub key_field: Option<String>,
}

/// How records move between sub-tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exchange {
    /// Sub-task i to sub-task i (equal parallelism); chains when possible.
    Forward,
    /// Round robin by batch.
    Rebalance,
    /// By key group of the key.
    KeyBy,
    /// Every record to every downstream sub-task (for small streams every
    /// instance needs, such as rules or reference data).
    Broadcast,
}

/// A sink, by connector kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SinkSpec {
    /// Part files in a directory, one per sub-task.
    File(FileSinkSpec),
    /// Standard output.
    Print(PrintSinkSpec),
    /// Drops everything (counts it).
    Discard(DiscardSinkSpec),
    /// StateFun's playground egress: an HTTP server answering
    /// `GET /<topic>` with the oldest message of the topic.
    PlaygroundEgress(PlaygroundEgressSpec),
    /// A Kafka topic (transactional for exactly-once).
    Kafka(KafkaSinkSpec),
}

/// Playground egress settings. It runs with parallelism 1 (one server).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaygroundEgressSpec {
    /// Unique node id.
    pub id: String,
    /// Input(s): egress lines of a functions stage.
    pub input: Inputs,
    /// The port it listens on.
    pub port: u16,
    /// The address it binds (default `127.0.0.1`).
    #[serde(default)]
    pub host: Option<String>,
    /// The topics it serves; a message for another topic fails the job.
    pub topics: Vec<String>,
}

/// File sink settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkSpec {
    /// Unique node id.
    pub id: String,
    /// Input(s).
    pub input: Inputs,
    /// Parallel writers.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// Output directory.
    pub path: String,
    /// How values are written.
    #[serde(default)]
    pub format: RecordFormat,
    /// What to do when `path` is empty.
    #[serde(default)]
    pub fallback: Option<SinkFallback>,
}

/// What a file sink does when its path is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkFallback {
    /// Print to standard output.
    Print,
}

/// Print sink settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrintSinkSpec {
    /// Unique node id.
    pub id: String,
    /// Input(s).
    pub input: Inputs,
    /// Parallel writers.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// How values are written.
    #[serde(default)]
    pub format: RecordFormat,
}

/// Discard sink settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscardSinkSpec {
    /// Unique node id.
    pub id: String,
    /// Input(s).
    pub input: Inputs,
    /// Parallel writers.
    #[serde(default)]
    pub parallelism: Option<u32>,
}

impl SourceSpec {
    /// The node id.
    pub fn id(&self) -> &str {
        match self {
            SourceSpec::File(s) => &s.id,
            SourceSpec::Datagen(s) => &s.id,
            SourceSpec::PlaygroundIngress(s) => &s.id,
            SourceSpec::Kafka(s) => &s.id,
        }
    }

    /// Explicit parallelism, if set.
    pub fn parallelism(&self) -> Option<u32> {
        match self {
            SourceSpec::File(s) => s.parallelism,
            SourceSpec::Datagen(s) => s.parallelism,
            SourceSpec::PlaygroundIngress(_) => Some(1),
            SourceSpec::Kafka(s) => s.parallelism,
        }
    }

    /// Event-time settings, if any.
    pub fn event_time(&self) -> Option<&EventTimeSpec> {
        match self {
            SourceSpec::File(s) => s.event_time.as_ref(),
            SourceSpec::Datagen(s) => s.event_time.as_ref(),
            SourceSpec::PlaygroundIngress(_) => None,
            SourceSpec::Kafka(s) => s.event_time.as_ref(),
        }
    }
}

impl SinkSpec {
    /// The node id.
    pub fn id(&self) -> &str {
        match self {
            SinkSpec::File(s) => &s.id,
            SinkSpec::Print(s) => &s.id,
            SinkSpec::Discard(s) => &s.id,
            SinkSpec::PlaygroundEgress(s) => &s.id,
            SinkSpec::Kafka(s) => &s.id,
        }
    }

    /// The inputs.
    pub fn input(&self) -> &Inputs {
        match self {
            SinkSpec::File(s) => &s.input,
            SinkSpec::Print(s) => &s.input,
            SinkSpec::Discard(s) => &s.input,
            SinkSpec::PlaygroundEgress(s) => &s.input,
            SinkSpec::Kafka(s) => &s.input,
        }
    }

    /// Explicit parallelism, if set.
    pub fn parallelism(&self) -> Option<u32> {
        match self {
            SinkSpec::File(s) => s.parallelism,
            SinkSpec::Print(s) => s.parallelism,
            SinkSpec::Discard(s) => s.parallelism,
            SinkSpec::PlaygroundEgress(_) => Some(1),
            SinkSpec::Kafka(s) => s.parallelism,
        }
    }
}
