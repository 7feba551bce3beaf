//! From a job file to a [`JobGraph`]: parsing, parameter substitution and
//! every consistency check, reporting all problems at once.

use crate::error::JobError;
use crate::graph::{Edge, JobGraph, KeySelector, Node, NodeKind, OperatorNode, Overrides};
use crate::keygroup::{DEFAULT_MAX_PARALLELISM, MAX_KEY_GROUPS};
use crate::params::substitute;
use crate::spec::{Exchange, InputRef, Inputs, JobSpec, SinkSpec, SourceSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

impl JobGraph {
    /// Reads, parses and validates a job file. Relative paths in it are
    /// resolved against the file's directory.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<JobGraph, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        Self::from_toml(&text, path, &base, overrides)
    }

    /// Parses and validates job-file text; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &Path,
        base_dir: &Path,
        overrides: &Overrides,
    ) -> Result<JobGraph, JobError> {
        let spec: JobSpec = toml::from_str(text).map_err(|e| JobError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Self::from_spec(spec, base_dir, overrides)
    }

    /// Validates a parsed job definition.
    pub fn from_spec(
        spec: JobSpec,
        base_dir: &Path,
        overrides: &Overrides,
    ) -> Result<JobGraph, JobError> {
        let mut v = Validator {
            problems: Vec::new(),
            overridden: overrides
                .parameters
                .iter()
                .map(|(k, _)| k.clone())
                .collect(),
        };
        let graph = v.run(spec.clone(), base_dir, overrides);
        if v.problems.is_empty() {
            Ok(graph)
        } else {
            Err(JobError::Invalid {
                job: spec.name,
                problems: v.problems,
            })
        }
    }
}

struct Validator {
    problems: Vec<String>,
    /// Parameters set on the command line: paths in them are relative to
    /// the current directory, not to the job file.
    overridden: Vec<String>,
}

impl Validator {
    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn parallelism(&mut self, what: &str, p: u32, max: u32) -> u32 {
        if p == 0 {
            self.problem(format!("{what}: parallelism must be at least 1"));
            1
        } else if p > max {
            self.problem(format!(
                "{what}: parallelism {p} exceeds max_parallelism {max} (the number of key groups)"
            ));
            max
        } else {
            p
        }
    }

    fn run(&mut self, spec: JobSpec, base: &Path, overrides: &Overrides) -> JobGraph {
        if spec.name.trim().is_empty() {
            self.problem("name must not be empty");
        }
        let max = spec.max_parallelism.unwrap_or(DEFAULT_MAX_PARALLELISM);
        let max = if max == 0 || max > MAX_KEY_GROUPS {
            self.problem(format!(
                "max_parallelism must be between 1 and {MAX_KEY_GROUPS}, got {max}"
            ));
            DEFAULT_MAX_PARALLELISM
        } else {
            max
        };
        let default_p = overrides.parallelism.or(spec.parallelism).unwrap_or(1);
        let default_p = self.parallelism("job", default_p, max);

        let mut params = spec.parameters.clone();
        for (k, val) in &overrides.parameters {
            if params.contains_key(k) {
                params.insert(k.clone(), val.clone());
            } else {
                let declared: Vec<&str> = spec.parameters.keys().map(String::as_str).collect();
                self.problem(format!(
                    "unknown job parameter '{k}'; this job declares: {}",
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.join(", ")
                    }
                ));
            }
        }

        let mut sandbox = self.sandbox(&spec, &params, base);
        if let Some(fuse) = overrides.fuse_chained_calls {
            sandbox.fuse_chained_calls = fuse;
        }
        let mut nodes = Vec::new();
        let mut inputs: Vec<(usize, Inputs)> = Vec::new();

        for s in &spec.sources {
            let p = self.parallelism(
                &format!("source '{}'", s.id()),
                s.parallelism().unwrap_or(default_p),
                max,
            );
            if let Some(a) = s.event_time().and_then(|e| e.assigner.as_ref()) {
                let what = format!("source '{}': event_time.assigner", s.id());
                self.component(&spec, &a.component, &what, &params, base);
            }
            let s = self.source(s.clone(), &params, base);
            nodes.push(Node {
                id: s.id().to_owned(),
                parallelism: p,
                kind: NodeKind::Source(s),
            });
        }
        for o in &spec.operators {
            let what = format!("operator '{}'", o.id);
            let p = self.parallelism(&what, o.parallelism.unwrap_or(default_p), max);
            let component_path = self.component(&spec, &o.component, &what, &params, base);
            let window = self.window(o, &what);
            inputs.push((nodes.len(), o.input.clone()));
            nodes.push(Node {
                id: o.id.clone(),
                parallelism: p,
                kind: NodeKind::Operator(OperatorNode {
                    component: o.component.clone(),
                    component_path,
                    function: o.function.clone(),
                    kind: o.kind,
                    window,
                    on_error: o.on_error,
                }),
            });
        }
        for f in &spec.functions {
            let what = format!("functions '{}'", f.id);
            let p = self.parallelism(&what, f.parallelism.unwrap_or(default_p), max);
            let rel = substitute(&f.module, &params, &what, &mut self.problems);
            let module = base.join(rel);
            if !module.is_file() {
                self.problem(format!(
                    "{what}: module file {} not found",
                    module.display()
                ));
            }
            inputs.push((nodes.len(), f.input.clone()));
            nodes.push(Node {
                id: f.id.clone(),
                parallelism: p,
                kind: NodeKind::Functions(crate::graph::FunctionsNode {
                    module,
                    on_error: f.on_error,
                    max_backlog: f.max_backlog.unwrap_or(1000).max(1),
                    max_in_flight: f.max_in_flight.unwrap_or(1000).max(1),
                }),
            });
        }
        for s in &spec.sinks {
            let p = self.parallelism(
                &format!("sink '{}'", s.id()),
                s.parallelism().unwrap_or(default_p),
                max,
            );
            inputs.push((nodes.len(), s.input().clone()));
            let s = self.sink(s.clone(), &params, base);
            nodes.push(Node {
                id: s.id().to_owned(),
                parallelism: p,
                kind: NodeKind::Sink(s),
            });
        }

        self.check_ids(&nodes);
        if spec.sources.is_empty() {
            self.problem("the job has no [[sources]]");
        }
        if spec.sinks.is_empty() {
            self.problem("the job has no [[sinks]]");
        }

        let edges = self.edges(&nodes, &inputs);
        let order = self.topological_order(&nodes, &edges);
        let (nodes, edges) = reorder(nodes, edges, &order);
        let checkpointing = self.checkpointing(&spec, base, overrides);
        let restart = match (&spec.restart, &checkpointing) {
            (Some(r), _) => r.clone(),
            // With checkpoints a failure restarts from the latest one
            // (Flink's default is similar: an exponential backoff).
            (None, Some(_)) => crate::spec::RestartSpec::ExponentialBackoff {
                attempts: 10,
                initial_delay_ms: 500,
                max_delay_ms: Some(30_000),
                multiplier: Some(2.0),
            },
            (None, None) => crate::spec::RestartSpec::None,
        };
        if let crate::spec::RestartSpec::ExponentialBackoff {
            multiplier: Some(m),
            ..
        } = &restart
            && !(*m >= 1.0 && m.is_finite())
        {
            self.problem(format!("restart.multiplier must be at least 1, got {m}"));
        }
        let state_memory_mb = overrides
            .state_memory_mb
            .or(spec.state.memory_mb)
            .unwrap_or(crate::graph::DEFAULT_STATE_MEMORY_MB);
        if state_memory_mb < crate::graph::MIN_STATE_MEMORY_MB {
            self.problem(format!(
                "the RocksDB memory budget (state.memory_mb or --state-memory-mb) must be at least {} MiB, got {state_memory_mb}",
                crate::graph::MIN_STATE_MEMORY_MB
            ));
        }
        let components = spec
            .components
            .iter()
            .map(|(name, rel)| {
                let rel = crate::params::substitute(rel, &params, "", &mut Vec::new());
                (name.clone(), base.join(rel))
            })
            .collect();
        JobGraph {
            name: spec.name,
            max_parallelism: max,
            parameters: params,
            components,
            sandbox,
            checkpointing,
            state_backend: overrides.state_backend.unwrap_or(spec.state.backend),
            state_memory_mb,
            restart,
            nodes,
            edges,
        }
    }

    /// Resolves a component name to its file, reporting unknown names and
    /// missing files.
    fn component(
        &mut self,
        spec: &JobSpec,
        name: &str,
        what: &str,
        params: &BTreeMap<String, String>,
        base: &Path,
    ) -> PathBuf {
        match spec.components.get(name) {
            Some(rel) => {
                let rel = substitute(rel, params, what, &mut self.problems);
                let path = base.join(rel);
                if !path.is_file() {
                    self.problem(format!(
                        "{what}: component '{name}' not found at {} (build the functions first, e.g. `weir build functions-examples`)",
                        path.display()
                    ));
                }
                path
            }
            None => {
                let known: Vec<&str> = spec.components.keys().map(String::as_str).collect();
                self.problem(format!(
                    "{what}: unknown component '{name}'; [components] has: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
                PathBuf::new()
            }
        }
    }

    /// Checks an operator's window against its kind.
    fn window(
        &mut self,
        o: &crate::spec::OperatorSpec,
        what: &str,
    ) -> Option<crate::window::WindowDef> {
        use crate::spec::FunctionKind as K;
        match (&o.window, o.kind) {
            (_, K::TimestampAssigner) => {
                self.problem(format!(
                    "{what}: a timestamp-assigner is not an operator; name it in a source's event_time = {{ assigner = {{ component = \"{}\", function = \"{}\" }} }}",
                    o.component, o.function
                ));
                None
            }
            (None, K::ProcessWindow) => {
                self.problem(format!(
                    "{what}: a process-window function needs a window, e.g. window = {{ type = \"tumbling\", size_ms = 1000 }}"
                ));
                None
            }
            (Some(_), K::Map | K::FlatMap | K::Filter | K::KeyedProcess) => {
                self.problem(format!(
                    "{what}: a {} function cannot run on a window; use reduce, aggregate or process-window",
                    o.kind.name()
                ));
                None
            }
            (Some(w), _) => match w.resolve() {
                Ok(def) => Some(def),
                Err(problems) => {
                    for p in problems {
                        self.problem(format!("{what}: window: {p}"));
                    }
                    None
                }
            },
            (None, _) => None,
        }
    }

    fn checkpointing(
        &mut self,
        spec: &JobSpec,
        base: &Path,
        overrides: &Overrides,
    ) -> Option<crate::graph::Checkpointing> {
        let from_file = spec.checkpointing.as_ref();
        let interval = overrides
            .checkpoint_interval
            .or_else(|| from_file.map(|c| Duration::from_millis(c.interval_ms)))?;
        let dir = overrides
            .checkpoint_dir
            .clone()
            .or_else(|| from_file.map(|c| resolve_location(base, &c.dir)));
        let Some(dir) = dir else {
            self.problem(
                "checkpoints need a directory: set [checkpointing] dir or --checkpoint-dir",
            );
            return None;
        };
        if let Some((scheme, _)) = dir.to_str().and_then(|d| d.split_once("://"))
            && scheme != "s3"
        {
            self.problem(format!(
                "checkpoint location {}: '{scheme}://' is not supported (a directory or s3://bucket/prefix)",
                dir.display()
            ));
        }
        if interval < Duration::from_millis(10) {
            self.problem(format!(
                "the checkpoint interval must be at least 10 ms, got {} ms",
                interval.as_millis()
            ));
        }
        let timeout = match from_file.and_then(|c| c.timeout_ms) {
            Some(0) => {
                self.problem("checkpointing.timeout_ms must be at least 1");
                crate::graph::DEFAULT_CHECKPOINT_TIMEOUT
            }
            Some(ms) => Duration::from_millis(ms),
            None => crate::graph::DEFAULT_CHECKPOINT_TIMEOUT,
        };
        Some(crate::graph::Checkpointing {
            interval,
            dir,
            retain: from_file.and_then(|c| c.retain).unwrap_or(3).max(1),
            timeout,
            tolerable_failures: from_file.and_then(|c| c.tolerable_failures).unwrap_or(0),
        })
    }

    fn source(
        &mut self,
        mut s: SourceSpec,
        params: &BTreeMap<String, String>,
        base: &Path,
    ) -> SourceSpec {
        let what = format!("source '{}'", s.id());
        match &mut s {
            SourceSpec::File(f) => {
                let path = substitute(&f.path, params, &what, &mut self.problems);
                if f.max_line_bytes == Some(0) {
                    self.problem(format!("{what}: max_line_bytes must be at least 1"));
                }
                if f.event_time
                    .as_ref()
                    .is_some_and(|e| e.field.is_some() && e.assigner.is_some())
                {
                    self.problem(format!(
                        "{what}: event_time has both a field and an assigner; choose one"
                    ));
                }
                if f.event_time.as_ref().is_some_and(|e| e.field.is_some())
                    && f.format != crate::spec::RecordFormat::Json
                {
                    self.problem(format!(
                        "{what}: event_time.field needs format = \"json\"; text lines have no fields"
                    ));
                }
                if path.is_empty() {
                    if f.fallback.is_none() {
                        self.problem(format!("{what}: path is empty and no fallback is set"));
                    }
                    f.path = path;
                } else {
                    f.path = self.resolve(&f.path, path, base);
                }
            }
            SourceSpec::Datagen(d) => {
                if d.event_time
                    .as_ref()
                    .is_some_and(|e| e.field.is_some() || e.assigner.is_some())
                {
                    self.problem(format!(
                        "{what}: a data generator uses ingestion time; event_time.field and event_time.assigner do not apply"
                    ));
                }
                if let Some(rate) = d.rate
                    && !(rate > 0.0 && rate.is_finite())
                {
                    self.problem(format!(
                        "{what}: rate must be a positive number, got {rate}"
                    ));
                }
            }
            SourceSpec::PlaygroundIngress(_) => {}
            SourceSpec::Kafka(k) => {
                crate::kafka_spec::check_source(k, params, &what, &mut self.problems)
            }
        }
        s
    }

    fn sink(
        &mut self,
        mut s: SinkSpec,
        params: &BTreeMap<String, String>,
        base: &Path,
    ) -> SinkSpec {
        let what = format!("sink '{}'", s.id());
        if let SinkSpec::PlaygroundEgress(e) = &s
            && e.topics.is_empty()
        {
            self.problem(format!("{what}: topics is empty: no message could be read"));
        }
        if let SinkSpec::Kafka(k) = &mut s {
            crate::kafka_spec::check_sink(k, params, &what, &mut self.problems);
        }
        if let SinkSpec::File(f) = &mut s {
            let path = substitute(&f.path, params, &what, &mut self.problems);
            if path.is_empty() {
                if f.fallback.is_none() {
                    self.problem(format!("{what}: path is empty and no fallback is set"));
                }
                f.path = path;
            } else {
                f.path = self.resolve(&f.path, path, base);
            }
        }
        s
    }

    /// Resolves a relative path: against the current directory when it
    /// comes from a parameter given on the command line (`--input in.txt`
    /// means ./in.txt), against the job file's directory otherwise.
    fn resolve(&self, raw: &str, path: String, base: &Path) -> String {
        if Path::new(&path).is_absolute() {
            return path;
        }
        let from_cli = self
            .overridden
            .iter()
            .any(|p| raw.starts_with(&format!("${{{p}}}")));
        let root = if from_cli {
            std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
        } else {
            base.to_owned()
        };
        root.join(path).to_string_lossy().into_owned()
    }

    /// Checks a side output an input names, as far as the job file tells:
    /// the host's own side outputs need their settings; a function's own
    /// are checked against what it declares when its component is loaded.
    fn side_output(&mut self, from: &Node, name: &str, what: &str, from_id: &str) {
        use crate::spec::{
            DEAD_LETTER_OUTPUT, MALFORMED_OUTPUT, MalformedPolicy, OnError, SourceSpec,
        };
        match &from.kind {
            NodeKind::Source(src @ (SourceSpec::File(_) | SourceSpec::Kafka(_))) => {
                let policy = match src {
                    SourceSpec::File(f) => f.on_malformed,
                    SourceSpec::Kafka(k) => k.on_malformed,
                    _ => MalformedPolicy::Fail,
                };
                if name != MALFORMED_OUTPUT {
                    self.problem(format!(
                        "{what}: source '{from_id}' has no side output '{name}' (a file or Kafka source has '{MALFORMED_OUTPUT}')"
                    ));
                } else if policy != MalformedPolicy::DeadLetter {
                    self.problem(format!(
                        "{what}: source '{from_id}' sends nothing to '{MALFORMED_OUTPUT}' unless it sets on_malformed = \"dead-letter\""
                    ));
                }
            }
            NodeKind::Source(_) => {
                self.problem(format!("{what}: source '{from_id}' has no side outputs"))
            }
            NodeKind::Operator(o)
                if name == DEAD_LETTER_OUTPUT && o.on_error != OnError::DeadLetter =>
            {
                self.problem(format!(
                    "{what}: operator '{from_id}' sends nothing to '{DEAD_LETTER_OUTPUT}' unless it sets on_error = \"dead-letter\""
                ));
            }
            NodeKind::Functions(f)
                if name == DEAD_LETTER_OUTPUT && f.on_error != OnError::DeadLetter =>
            {
                self.problem(format!(
                    "{what}: functions '{from_id}' send nothing to '{DEAD_LETTER_OUTPUT}' unless it sets on_error = \"dead-letter\""
                ));
            }
            NodeKind::Operator(o) if name == crate::window::LATE_OUTPUT && o.window.is_none() => {
                self.problem(format!(
                    "{what}: operator '{from_id}' has no side output '{name}': only window operators send late records there"
                ));
            }
            _ => {}
        }
    }

    fn check_ids(&mut self, nodes: &[Node]) {
        let mut seen = HashMap::new();
        for n in nodes {
            if n.id.is_empty()
                || !n
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                self.problem(format!(
                    "node id '{}' must be non-empty and use only letters, digits, '-', '_' and '.'",
                    n.id
                ));
            }
            if seen.insert(n.id.as_str(), ()).is_some() {
                self.problem(format!("node id '{}' is used more than once", n.id));
            }
        }
    }

    fn edges(&mut self, nodes: &[Node], inputs: &[(usize, Inputs)]) -> Vec<Edge> {
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let mut edges = Vec::new();
        for (to, ins) in inputs {
            let to = *to;
            let node = &nodes[to];
            let what = match node.kind {
                NodeKind::Sink(_) => format!("sink '{}'", node.id),
                _ => format!("operator '{}'", node.id),
            };
            if ins.as_slice().is_empty() {
                self.problem(format!("{what}: input must name at least one node"));
            }
            for input in ins.as_slice() {
                let (from_id, output, exchange, key_field) = match input {
                    InputRef::Node(id) => (id.as_str(), None, None, None),
                    InputRef::Edge(e) => (
                        e.from.as_str(),
                        e.output.clone(),
                        e.exchange,
                        e.key_field.clone(),
                    ),
                };
                let Some(&from) = index.get(from_id) else {
                    self.problem(format!(
                        "{what}: input '{from_id}' is not a node of this job"
                    ));
                    continue;
                };
                if matches!(nodes[from].kind, NodeKind::Sink(_)) {
                    self.problem(format!(
                        "{what}: input '{from_id}' is a sink, which has no output"
                    ));
                    continue;
                }
                if let Some(name) = &output {
                    self.side_output(&nodes[from], name, &what, from_id);
                }
                let up = nodes[from].parallelism;
                let functions = matches!(&node.kind, NodeKind::Functions(_));
                let keyed =
                    functions || matches!(&node.kind, NodeKind::Operator(o) if o.kind.is_keyed());
                // Ingress records go to the sub-task owning their target.
                let key_field = match key_field {
                    None if functions => Some("target".to_owned()),
                    k => k,
                };
                let exchange = match exchange {
                    Some(x) => x,
                    None if functions => Exchange::KeyBy,
                    None if keyed => {
                        let kind = match &node.kind {
                            NodeKind::Operator(o) => o.kind.name(),
                            _ => "keyed",
                        };
                        self.problem(format!(
                            "{what}: a {kind} function needs a keyed input; write input = {{ from = \"{from_id}\", exchange = \"key-by\" }}"
                        ));
                        Exchange::KeyBy
                    }
                    None if up == node.parallelism => Exchange::Forward,
                    None => Exchange::Rebalance,
                };
                if keyed && exchange != Exchange::KeyBy {
                    self.problem(format!(
                        "{what}: a keyed function needs exchange = \"key-by\" on its input '{from_id}'"
                    ));
                }
                if exchange == Exchange::Forward && up != node.parallelism {
                    self.problem(format!(
                        "{what}: a forward exchange needs equal parallelism, but '{from_id}' has {up} and this node {}",
                        node.parallelism
                    ));
                }
                let key = match key_field {
                    Some(f) if exchange == Exchange::KeyBy => {
                        let path: Vec<String> = f.split('.').map(str::to_owned).collect();
                        if path.iter().any(String::is_empty) {
                            self.problem(format!(
                                "{what}: key_field '{f}' is not a valid field path"
                            ));
                        }
                        KeySelector::JsonField(path)
                    }
                    Some(_) => {
                        self.problem(format!(
                            "{what}: key_field is only meaningful with exchange = \"key-by\""
                        ));
                        KeySelector::RecordKey
                    }
                    None => KeySelector::RecordKey,
                };
                edges.push(Edge {
                    from,
                    output,
                    to,
                    exchange,
                    key,
                });
            }
        }
        edges
    }

    /// Kahn's algorithm; reports the nodes on cycles.
    fn topological_order(&mut self, nodes: &[Node], edges: &[Edge]) -> Vec<usize> {
        let mut indegree = vec![0usize; nodes.len()];
        for e in edges {
            indegree[e.to] += 1;
        }
        let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
        ready.reverse();
        let mut order = Vec::with_capacity(nodes.len());
        while let Some(n) = ready.pop() {
            order.push(n);
            for e in edges.iter().filter(|e| e.from == n) {
                indegree[e.to] -= 1;
                if indegree[e.to] == 0 {
                    ready.push(e.to);
                }
            }
        }
        if order.len() < nodes.len() {
            let stuck: Vec<&str> = (0..nodes.len())
                .filter(|i| !order.contains(i))
                .map(|i| nodes[i].id.as_str())
                .collect();
            self.problem(format!(
                "the graph has a cycle through: {}",
                stuck.join(", ")
            ));
            for i in 0..nodes.len() {
                if !order.contains(&i) {
                    order.push(i);
                }
            }
        }
        order
    }
}

/// A location from a job file: relative to the file's directory, unless it
/// is absolute or on object storage (`s3://bucket/prefix`).
fn resolve_location(base: &Path, location: &str) -> PathBuf {
    if location.contains("://") {
        PathBuf::from(location)
    } else {
        base.join(location)
    }
}

fn reorder(nodes: Vec<Node>, edges: Vec<Edge>, order: &[usize]) -> (Vec<Node>, Vec<Edge>) {
    let mut new_index = vec![0usize; nodes.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let nodes = order.iter().filter_map(|&old| slots[old].take()).collect();
    let edges = edges
        .into_iter()
        .map(|mut e| {
            e.from = new_index[e.from];
            e.to = new_index[e.to];
            e
        })
        .collect();
    (nodes, edges)
}

mod sandbox;
#[cfg(test)]
mod tests;
