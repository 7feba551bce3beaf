//! The StateFun module file (`module.yaml`), as StateFun users write it:
//! YAML documents separated by `---`, each a `kind` and its `spec`, with
//! `${name}` parameters as in job files. Every problem is reported at
//! once, naming the document.

use crate::dispatch::FunctionType;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a module file cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{path} is not valid YAML: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's words (with the line and column).
        message: String,
    },
    /// One or more documents are wrong.
    #[error("invalid module {path}:\n  - {}", .problems.join("\n  - "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// Which function types an endpoint serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionMatch {
    /// One type, `namespace/name`.
    Exact(FunctionType),
    /// Every type of a namespace, `namespace/*`.
    Namespace(String),
}

/// An `io.statefun.endpoints.v2/http` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEndpoint {
    /// The function types it serves.
    pub functions: FunctionMatch,
    /// The URL, with `{function.name}` replaced per type.
    pub url_template: String,
    /// At most this many messages per request.
    pub max_batch: usize,
    /// The time budget of one call, retries included.
    pub call_timeout: Duration,
    /// The time to connect.
    pub connect_timeout: Duration,
}

impl HttpEndpoint {
    /// The URL for `function`.
    pub fn url(&self, function: &FunctionType) -> String {
        self.url_template.replace("{function.name}", &function.name)
    }
}

/// A `weir.io/wasm-functions.v1` document: function types served by a
/// Wasm component of the `stateful-functions` world, in-process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmEndpoint {
    /// The function types it serves.
    pub functions: FunctionMatch,
    /// The component file (relative paths are relative to the module).
    pub component: PathBuf,
    /// At most this many messages per batch.
    pub max_batch: usize,
}

/// What serves a function type: an endpoint of the module, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// `endpoints[i]`, over HTTP.
    Http(usize),
    /// `wasm[i]`, in-process.
    Wasm(usize),
}

/// Where messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingress {
    /// `weir.io/file-ingress.v1`: JSON lines `{"target", "type", "value"}`.
    File {
        /// Its id.
        id: String,
        /// The file, directory or glob, as written: `${name}` parameters
        /// are left for the job to resolve (a path given on the command
        /// line is relative to the current directory, as in job files).
        path: String,
    },
    /// `io.statefun.playground.v1/ingress`: `PUT /<ns>/<type>/<id>`.
    Playground {
        /// Its port.
        port: u16,
        /// The address it binds (Weir's addition; loopback by default).
        host: Option<String>,
    },
}

/// Where egress messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressSpec {
    /// `weir.io/file-egress.v1`: one JSON line per message.
    File {
        /// The egress typename functions send to (`namespace/name`).
        id: String,
        /// The output directory, as written (see [`Ingress::File`]).
        path: String,
    },
    /// `io.statefun.playground.v1/egress`: `GET /<topic>`.
    Playground {
        /// Its port.
        port: u16,
        /// The address it binds (Weir's addition; loopback by default).
        host: Option<String>,
        /// The topics it serves.
        topics: Vec<String>,
    },
}

/// A module: its endpoints, ingresses and egresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    /// Remote function endpoints.
    pub endpoints: Vec<HttpEndpoint>,
    /// In-process Wasm function components.
    pub wasm: Vec<WasmEndpoint>,
    /// Ingresses.
    pub ingresses: Vec<Ingress>,
    /// Egresses.
    pub egresses: Vec<EgressSpec>,
}

impl Module {
    /// The HTTP endpoint serving `function`, if one does.
    pub fn endpoint(&self, function: &FunctionType) -> Option<&HttpEndpoint> {
        match self.served(function)? {
            Served::Http(i) => self.endpoints.get(i),
            Served::Wasm(_) => None,
        }
    }

    /// What serves `function`: an exact name wins over `ns/*`.
    pub fn served(&self, function: &FunctionType) -> Option<Served> {
        let http = self.endpoints.iter().map(|e| &e.functions);
        let wasm = self.wasm.iter().map(|e| &e.functions);
        let all = || {
            http.clone()
                .enumerate()
                .map(|(i, m)| (Served::Http(i), m))
                .chain(wasm.clone().enumerate().map(|(i, m)| (Served::Wasm(i), m)))
        };
        let exact = FunctionMatch::Exact(function.clone());
        all().find(|(_, m)| **m == exact).map(|(s, _)| s).or_else(|| {
            all()
                .find(|(_, m)| matches!(m, FunctionMatch::Namespace(ns) if *ns == function.namespace))
                .map(|(s, _)| s)
        })
    }

    /// The stage's batch cap: the smallest any endpoint allows.
    pub fn max_batch(&self) -> usize {
        self.endpoints
            .iter()
            .map(|e| e.max_batch)
            .chain(self.wasm.iter().map(|e| e.max_batch))
            .min()
            .unwrap_or(1000)
    }

    /// Reads a module file, `${name}` replaced by `params`.
    pub fn load(path: &Path, params: &BTreeMap<String, String>) -> Result<Module, ModuleError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModuleError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, params)
    }

    /// Parses a module's text (`path` names it in errors).
    pub fn parse(
        text: &str,
        path: &Path,
        params: &BTreeMap<String, String>,
    ) -> Result<Module, ModuleError> {
        let mut problems = Vec::new();
        let raw_paths = raw_paths(text);
        let text = weir_core::params::substitute(text, params, "module", &mut problems);
        let docs: Vec<Document> =
            serde_saphyr::from_multiple(&text).map_err(|e| ModuleError::Yaml {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let mut module = Module::default();
        for (i, doc) in docs.into_iter().enumerate() {
            let at = format!("document {} ({})", i + 1, doc.kind);
            let raw_path = raw_paths.get(i).cloned().flatten();
            let dir = path.parent().unwrap_or(Path::new(""));
            if let Err(p) = module.add(doc, raw_path, dir) {
                problems.push(format!("{at}: {p}"));
            }
        }
        module.check(&mut problems);
        if problems.is_empty() {
            Ok(module)
        } else {
            Err(ModuleError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Adds one document; `raw_path` is its `spec.path` before parameters
    /// were substituted.
    fn add(&mut self, doc: Document, raw_path: Option<String>, dir: &Path) -> Result<(), String> {
        let spec = doc.spec;
        match doc.kind.as_str() {
            "io.statefun.endpoints.v2/http" => {
                self.endpoints.push(endpoint(from_value(spec)?)?);
            }
            "weir.io/wasm-functions.v1" => {
                let w: WasmSpec = from_value(spec)?;
                let max_batch = w.max_num_batch_requests.unwrap_or(1000);
                if max_batch == 0 {
                    return Err("maxNumBatchRequests must be at least 1".into());
                }
                self.wasm.push(WasmEndpoint {
                    functions: function_match(&w.functions)?,
                    component: dir.join(w.component),
                    max_batch,
                });
            }
            "weir.io/file-ingress.v1" => {
                let f: FileSpec = from_value(spec)?;
                self.ingresses.push(Ingress::File {
                    id: f.id,
                    path: raw_path.unwrap_or(f.path),
                });
            }
            "weir.io/file-egress.v1" => {
                let f: FileSpec = from_value(spec)?;
                if FunctionType::parse(&f.id).is_none() {
                    return Err(format!("egress id '{}' is not namespace/name", f.id));
                }
                self.egresses.push(EgressSpec::File {
                    id: f.id,
                    path: raw_path.unwrap_or(f.path),
                });
            }
            "io.statefun.playground.v1/ingress" => {
                let p: PlaygroundIngress = from_value(spec)?;
                if self
                    .ingresses
                    .iter()
                    .any(|i| matches!(i, Ingress::Playground { .. }))
                {
                    return Err("a module has at most one playground ingress".into());
                }
                self.ingresses.push(Ingress::Playground {
                    port: p.port,
                    host: p.host,
                });
            }
            "io.statefun.playground.v1/egress" => {
                let p: PlaygroundEgress = from_value(spec)?;
                if self
                    .egresses
                    .iter()
                    .any(|e| matches!(e, EgressSpec::Playground { .. }))
                {
                    return Err("a module has at most one playground egress".into());
                }
                if p.topics.is_empty() {
                    return Err("topics is empty: no message could be read".into());
                }
                self.egresses.push(EgressSpec::Playground {
                    port: p.port,
                    host: p.host,
                    topics: p.topics,
                });
            }
            k if k.starts_with("io.statefun.kafka.v1/") => {
                return Err("Kafka ingresses and egresses are not supported yet".into());
            }
            k => return Err(format!("unknown kind '{k}'")),
        }
        Ok(())
    }

    /// Checks across documents: one endpoint per pattern, unique ids.
    fn check(&self, problems: &mut Vec<String>) {
        let mut seen = Vec::new();
        let served = self.endpoints.iter().map(|e| &e.functions);
        for m in served.chain(self.wasm.iter().map(|e| &e.functions)) {
            if seen.contains(&m) {
                problems.push(format!("two endpoints serve {m:?}"));
            }
            seen.push(m);
        }
        let mut ids: Vec<&str> = self
            .ingresses
            .iter()
            .filter_map(|i| match i {
                Ingress::File { id, .. } => Some(id.as_str()),
                Ingress::Playground { .. } => None,
            })
            .collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            problems.push(format!("two ingresses are called '{}'", w[0]));
        }
        if self.endpoints.is_empty() && self.wasm.is_empty() {
            problems.push(
                "no io.statefun.endpoints.v2/http or weir.io/wasm-functions.v1 document: no function to call"
                    .into(),
            );
        }
    }
}

impl FunctionType {
    /// Parses `namespace/name`.
    pub fn parse(text: &str) -> Option<FunctionType> {
        let (namespace, name) = text.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains('/')).then(|| FunctionType {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Each document's `spec.path` as written, before parameters are
/// substituted (empty when the raw text does not parse: the substituted
/// text's errors are the ones reported).
fn raw_paths(text: &str) -> Vec<Option<String>> {
    serde_saphyr::from_multiple::<Document>(text)
        .map(|docs| {
            docs.into_iter()
                .map(|d| d.spec.get("path")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct Document {
    kind: String,
    spec: serde_json::Value,
}

fn from_value<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EndpointSpec {
    functions: String,
    url_path_template: String,
    #[serde(default)]
    max_num_batch_requests: Option<usize>,
    #[serde(default)]
    transport: Option<Transport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transport {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    connect: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WasmSpec {
    functions: String,
    component: String,
    #[serde(default)]
    max_num_batch_requests: Option<usize>,
}

/// `namespace/name` or `namespace/*`.
fn function_match(text: &str) -> Result<FunctionMatch, String> {
    Ok(match text.strip_suffix("/*") {
        Some(ns) if !ns.is_empty() && !ns.contains('/') => FunctionMatch::Namespace(ns.to_owned()),
        _ => FunctionMatch::Exact(FunctionType::parse(text).ok_or_else(|| {
            format!("functions '{text}' is neither namespace/name nor namespace/*")
        })?),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    id: String,
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaygroundIngress {
    port: u16,
    #[serde(default)]
    host: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaygroundEgress {
    port: u16,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    topics: Vec<String>,
}

/// StateFun's defaults: 1000 messages per batch, a 1 minute call budget,
/// 10 s to connect.
fn endpoint(s: EndpointSpec) -> Result<HttpEndpoint, String> {
    let functions = function_match(&s.functions)?;
    if !(s.url_path_template.starts_with("http://") || s.url_path_template.starts_with("https://"))
    {
        return Err(format!(
            "urlPathTemplate '{}' is not an http:// or https:// URL",
            s.url_path_template
        ));
    }
    let t = s.transport.unwrap_or(Transport {
        kind: None,
        call: None,
        connect: None,
        timeout: None,
    });
    if let Some(k) = &t.kind
        && k != "io.statefun.transports.v1/async"
    {
        return Err(format!(
            "transport type '{k}' (Weir's is io.statefun.transports.v1/async)"
        ));
    }
    let time = |v: &Option<String>, default: Duration, what: &str| match v {
        Some(text) => weir_core::args::duration(text).map_err(|e| format!("transport {what}: {e}")),
        None => Ok(default),
    };
    let call_timeout = time(&t.call.or(t.timeout), Duration::from_secs(60), "call")?;
    let connect_timeout = time(&t.connect, Duration::from_secs(10), "connect")?;
    let max_batch = s.max_num_batch_requests.unwrap_or(1000);
    if max_batch == 0 {
        return Err("maxNumBatchRequests must be at least 1".into());
    }
    Ok(HttpEndpoint {
        functions,
        url_template: s.url_path_template,
        max_batch,
        call_timeout,
        connect_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Module, ModuleError> {
        let params = BTreeMap::from([("port".to_owned(), "8000".to_owned())]);
        Module::parse(text, Path::new("module.yaml"), &params)
    }

    #[test]
    fn a_statefun_module_parses_as_users_write_it() {
        let m = parse(
            r#"
kind: io.statefun.endpoints.v2/http
spec:
  functions: example/*
  urlPathTemplate: http://127.0.0.1:${port}/statefun
  maxNumBatchRequests: 500
  transport:
    type: io.statefun.transports.v1/async
    call: 2m
    connect: 20s
---
kind: io.statefun.endpoints.v2/http
spec:
  functions: example/special
  urlPathTemplate: http://127.0.0.1:9000/{function.name}
---
kind: weir.io/file-ingress.v1
spec:
  id: names
  path: in.jsonl
---
kind: weir.io/file-egress.v1
spec:
  id: example/greetings
  path: out
"#,
        )
        .expect("valid");
        let greeter = FunctionType::parse("example/greeter").expect("type");
        let special = FunctionType::parse("example/special").expect("type");
        let e = m.endpoint(&greeter).expect("ns/* serves it");
        assert_eq!(e.url(&greeter), "http://127.0.0.1:8000/statefun");
        assert_eq!(e.max_batch, 500);
        assert_eq!(e.call_timeout, Duration::from_secs(120));
        assert_eq!(e.connect_timeout, Duration::from_secs(20));
        let s = m.endpoint(&special).expect("exact wins");
        assert_eq!(s.url(&special), "http://127.0.0.1:9000/special");
        assert_eq!(s.max_batch, 1000, "StateFun's default");
        assert!(
            m.endpoint(&FunctionType::parse("other/x").expect("type"))
                .is_none()
        );
        assert_eq!(m.ingresses.len(), 1);
        assert_eq!(m.egresses.len(), 1);
    }

    #[test]
    fn wasm_functions_are_served_in_process_beside_http_endpoints() {
        let params = BTreeMap::from([("input".to_owned(), "in.jsonl".to_owned())]);
        let m = Module::parse(
            r#"
kind: io.statefun.endpoints.v2/http
spec:
  functions: example/*
  urlPathTemplate: http://127.0.0.1:9000/statefun
---
kind: weir.io/wasm-functions.v1
spec:
  functions: example/counter
  component: ../build/counter.wasm
  maxNumBatchRequests: 50
---
kind: weir.io/file-ingress.v1
spec:
  id: amounts
  path: ${input}
"#,
            Path::new("/app/module.yaml"),
            &params,
        )
        .expect("valid");
        let counter = FunctionType::parse("example/counter").expect("type");
        let other = FunctionType::parse("example/other").expect("type");
        assert_eq!(m.served(&counter), Some(Served::Wasm(0)), "exact wins");
        assert_eq!(m.served(&other), Some(Served::Http(0)));
        assert!(m.endpoint(&counter).is_none(), "not over HTTP");
        assert_eq!(m.wasm[0].component, Path::new("/app/../build/counter.wasm"));
        assert_eq!(m.max_batch(), 50, "the smallest cap");
        // File paths keep their parameters for the job to resolve.
        assert!(matches!(&m.ingresses[0], Ingress::File { path, .. } if path == "${input}"));
    }

    #[test]
    fn every_problem_is_reported_naming_its_document() {
        let e = parse(
            r#"
kind: io.statefun.endpoints.v2/http
spec:
  functions: example
  urlPathTemplate: ftp://x
---
kind: io.statefun.kafka.v1/ingress
spec: {}
---
kind: weir.io/file-egress.v1
spec:
  id: greetings
  path: out
  extra: 1
---
kind: something/else
spec: {}
---
kind: weir.io/file-ingress.v1
spec:
  id: x
  path: ${missing}
"#,
        )
        .expect_err("invalid");
        let text = e.to_string();
        for want in [
            "document 1 (io.statefun.endpoints.v2/http): functions 'example'",
            "document 2 (io.statefun.kafka.v1/ingress): Kafka",
            "document 3 (weir.io/file-egress.v1): unknown field `extra`",
            "document 4 (something/else): unknown kind",
            "'${missing}' is not declared",
            "no io.statefun.endpoints.v2/http or weir.io/wasm-functions.v1 document",
        ] {
            assert!(text.contains(want), "{want}\nin:\n{text}");
        }
        let e = parse("kind: [unclosed").expect_err("not YAML");
        assert!(matches!(e, ModuleError::Yaml { .. }), "{e}");
    }
}
