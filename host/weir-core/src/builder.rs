//! Building jobs in Rust, for embedding Weir and for tests: the same
//! definitions as a job file, checked by the same validation.
//!
//! ```no_run
//! use weir_core::builder::{JobBuilder, key_by};
//! use weir_core::graph::Overrides;
//! use weir_core::spec::{FunctionKind, RecordFormat};
//!
//! let graph = JobBuilder::new("wordcount")
//!     .parallelism(2)
//!     .component("wc", "functions-examples/target/wasm32-wasip2/release/wordcount.wasm")
//!     .file_source("lines", "book.txt", RecordFormat::Text)
//!     .operator("tokenize", "wc", "tokenize", FunctionKind::FlatMap, "lines")
//!     .operator("count", "wc", "count", FunctionKind::Reduce, key_by("tokenize"))
//!     .operator("format", "wc", "format", FunctionKind::FlatMap, "count")
//!     .print_sink("out", "format")
//!     .build(&Overrides::default())
//!     .expect("a valid job");
//! ```

use crate::error::JobError;
use crate::graph::{JobGraph, Overrides};
use crate::spec::{
    DatagenSpec, DiscardSinkSpec, EdgeSpec, Exchange, FileSinkSpec, FileSourceSpec, FunctionKind,
    Generator, InputRef, Inputs, JobSpec, MalformedPolicy, OnError, OperatorSpec, PrintSinkSpec,
    RecordFormat, SinkSpec, SourceSpec,
};
use std::path::{Path, PathBuf};

/// Builds a job definition step by step.
pub struct JobBuilder {
    spec: JobSpec,
    base: PathBuf,
}

impl From<&str> for Inputs {
    fn from(id: &str) -> Self {
        Inputs::One(InputRef::Node(id.to_owned()))
    }
}

impl From<InputRef> for Inputs {
    fn from(i: InputRef) -> Self {
        Inputs::One(i)
    }
}

impl From<Vec<InputRef>> for Inputs {
    fn from(v: Vec<InputRef>) -> Self {
        Inputs::Many(v)
    }
}

fn edge(
    from: &str,
    output: Option<&str>,
    exchange: Option<Exchange>,
    key_field: Option<&str>,
) -> InputRef {
    InputRef::Edge(EdgeSpec {
        from: from.to_owned(),
        output: output.map(str::to_owned),
        exchange,
        key_field: key_field.map(str::to_owned),
    })
}

/// The main output of `from`, partitioned by record key.
pub fn key_by(from: &str) -> InputRef {
    edge(from, None, Some(Exchange::KeyBy), None)
}

/// The main output of `from`, partitioned by a JSON field of the value.
pub fn key_by_field(from: &str, field: &str) -> InputRef {
    edge(from, None, Some(Exchange::KeyBy), Some(field))
}

/// The main output of `from`, distributed round robin.
pub fn rebalance(from: &str) -> InputRef {
    edge(from, None, Some(Exchange::Rebalance), None)
}

/// The main output of `from`, copied to every downstream sub-task.
pub fn broadcast(from: &str) -> InputRef {
    edge(from, None, Some(Exchange::Broadcast), None)
}

/// The side output `name` of `from`.
pub fn side_output(from: &str, name: &str) -> InputRef {
    edge(from, Some(name), None, None)
}

impl JobBuilder {
    /// An empty job; relative paths resolve against the current directory.
    pub fn new(name: &str) -> Self {
        JobBuilder {
            spec: JobSpec {
                name: name.to_owned(),
                parallelism: None,
                max_parallelism: None,
                parameters: Default::default(),
                components: Default::default(),
                sandbox: Default::default(),
                sources: Vec::new(),
                operators: Vec::new(),
                functions: Vec::new(),
                sinks: Vec::new(),
                checkpointing: None,
                state: Default::default(),
                restart: None,
            },
            base: PathBuf::from("."),
        }
    }

    /// Resolves relative paths against `dir`.
    pub fn base_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.base = dir.as_ref().to_owned();
        self
    }

    /// Default parallelism.
    pub fn parallelism(mut self, p: u32) -> Self {
        self.spec.parallelism = Some(p);
        self
    }

    /// Number of key groups.
    pub fn max_parallelism(mut self, p: u32) -> Self {
        self.spec.max_parallelism = Some(p);
        self
    }

    /// Declares a job parameter with its default.
    pub fn parameter(mut self, name: &str, default: &str) -> Self {
        self.spec
            .parameters
            .insert(name.to_owned(), default.to_owned());
        self
    }

    /// Names a component file.
    pub fn component(mut self, name: &str, path: impl AsRef<Path>) -> Self {
        self.spec.components.insert(
            name.to_owned(),
            path.as_ref().to_string_lossy().into_owned(),
        );
        self
    }

    /// Sets the sandbox limits.
    pub fn sandbox(mut self, memory_limit_mb: u64, call_timeout_ms: u64) -> Self {
        self.spec.sandbox.memory_limit_mb = Some(memory_limit_mb);
        self.spec.sandbox.call_timeout_ms = Some(call_timeout_ms);
        self
    }

    /// Grants `component` what a `[sandbox.grants.<component>]` table
    /// would (environment variables, directories); guests get nothing
    /// else.
    pub fn grant(mut self, component: &str, grant: crate::spec::GrantSpec) -> Self {
        self.spec.sandbox.grants.insert(component.to_owned(), grant);
        self
    }

    /// Adds any source.
    pub fn source(mut self, source: SourceSpec) -> Self {
        self.spec.sources.push(source);
        self
    }

    /// Adds a file source.
    pub fn file_source(self, id: &str, path: impl AsRef<Path>, format: RecordFormat) -> Self {
        self.source(SourceSpec::File(FileSourceSpec {
            id: id.to_owned(),
            parallelism: None,
            path: path.as_ref().to_string_lossy().into_owned(),
            format,
            fallback: None,
            max_line_bytes: None,
            on_malformed: MalformedPolicy::Fail,
            event_time: None,
        }))
    }

    /// Adds a bounded data generator.
    pub fn datagen(self, id: &str, generator: Generator, count: u64, seed: u64) -> Self {
        self.source(SourceSpec::Datagen(DatagenSpec {
            id: id.to_owned(),
            parallelism: None,
            generator,
            count: Some(count),
            rate: None,
            seed,
            event_time: None,
        }))
    }

    /// Adds an operator running `function` of `component`.
    pub fn operator(
        mut self,
        id: &str,
        component: &str,
        function: &str,
        kind: FunctionKind,
        input: impl Into<Inputs>,
    ) -> Self {
        self.spec.operators.push(OperatorSpec {
            id: id.to_owned(),
            component: component.to_owned(),
            function: function.to_owned(),
            kind,
            input: input.into(),
            parallelism: None,
            window: None,
            on_error: OnError::Fail,
        });
        self
    }

    /// Sets what records the operator `id` fails on do to the job
    /// (`on_error`).
    pub fn on_error(mut self, id: &str, policy: OnError) -> Self {
        if let Some(o) = self.spec.operators.iter_mut().find(|o| o.id == id) {
            o.on_error = policy;
        }
        self
    }

    /// Adds an operator running `function` of `component` on windows of its
    /// keyed input.
    pub fn window_operator(
        mut self,
        id: &str,
        component: &str,
        function: &str,
        kind: FunctionKind,
        input: impl Into<Inputs>,
        window: crate::window::WindowSpec,
    ) -> Self {
        self.spec.operators.push(OperatorSpec {
            id: id.to_owned(),
            component: component.to_owned(),
            function: function.to_owned(),
            kind,
            input: input.into(),
            parallelism: None,
            window: Some(window),
            on_error: OnError::Fail,
        });
        self
    }

    /// Adds any sink.
    pub fn sink(mut self, sink: SinkSpec) -> Self {
        self.spec.sinks.push(sink);
        self
    }

    /// Adds a print sink.
    pub fn print_sink(self, id: &str, input: impl Into<Inputs>) -> Self {
        self.sink(SinkSpec::Print(PrintSinkSpec {
            id: id.to_owned(),
            input: input.into(),
            parallelism: None,
            format: RecordFormat::Text,
        }))
    }

    /// Adds a file sink writing part files into `dir`.
    pub fn file_sink(
        self,
        id: &str,
        dir: impl AsRef<Path>,
        format: RecordFormat,
        input: impl Into<Inputs>,
    ) -> Self {
        self.sink(SinkSpec::File(FileSinkSpec {
            id: id.to_owned(),
            input: input.into(),
            parallelism: None,
            path: dir.as_ref().to_string_lossy().into_owned(),
            format,
            fallback: None,
        }))
    }

    /// Adds a sink that drops records.
    pub fn discard_sink(self, id: &str, input: impl Into<Inputs>) -> Self {
        self.sink(SinkSpec::Discard(DiscardSinkSpec {
            id: id.to_owned(),
            input: input.into(),
            parallelism: None,
        }))
    }

    /// Validates the job, as a job file would be.
    pub fn build(self, overrides: &Overrides) -> Result<JobGraph, JobError> {
        JobGraph::from_spec(self.spec, &self.base, overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_jobs_are_validated_like_files() {
        let err = JobBuilder::new("b")
            .datagen("gen", Generator::Sequence, 10, 0)
            .operator("count", "missing", "count", FunctionKind::Reduce, "gen")
            .discard_sink("out", "count")
            .build(&Overrides::default())
            .expect_err("invalid");
        let msg = err.to_string();
        assert!(msg.contains("unknown component 'missing'"), "{msg}");
        assert!(msg.contains("needs a keyed input"), "{msg}");

        let g = JobBuilder::new("b")
            .datagen("gen", Generator::Sequence, 10, 0)
            .print_sink("out", rebalance("gen"))
            .build(&Overrides::default())
            .expect("valid");
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.edges[0].exchange, Exchange::Rebalance);

        let g = JobBuilder::new("b")
            .datagen("gen", Generator::Sequence, 10, 0)
            .print_sink("out", broadcast("gen"))
            .build(&Overrides::default())
            .expect("valid");
        assert_eq!(g.edges[0].exchange, Exchange::Broadcast);
    }

    #[test]
    fn grants_name_a_component_of_the_job() {
        let grant = crate::spec::GrantSpec {
            env: [("REGION".to_owned(), "eu".to_owned())].into(),
            dirs: Vec::new(),
        };
        let err = JobBuilder::new("b")
            .datagen("gen", Generator::Sequence, 10, 0)
            .discard_sink("out", "gen")
            .grant("nope", grant)
            .build(&Overrides::default())
            .expect_err("no such component");
        assert!(err.to_string().contains("no component 'nope'"), "{err}");
    }
}
