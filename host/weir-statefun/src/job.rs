//! A module file as a Weir job: each file ingress becomes a JSON-lines
//! file source keyed by target address, the functions one
//! `[[functions]]` stage, and each file egress a two-phase file sink
//! reading the stage's side output named by the egress typename. The
//! playground ingress and egress become the HTTP source and sink of
//! [`crate::playground`]. The job
//! is job-file text, so that it is validated, checkpointed and restored
//! like any other job (`weir run module.yaml` runs it).

use crate::module::{EgressSpec, Ingress, Module};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The id of the stage that runs a module's functions.
pub const FUNCTIONS_NODE: &str = "functions";

/// Why a module cannot run as a job.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(String);

/// A TOML string literal (JSON's escapes are valid TOML ones).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A node id made of the characters job files allow.
fn node_id(prefix: &str, id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{clean}")
}

/// The job-file text of `module` (read from `module_path`, with
/// `params` substituted, which the job declares with their values).
pub fn job_text(
    module_path: &Path,
    module: &Module,
    params: &BTreeMap<String, String>,
) -> Result<String, Unsupported> {
    let name = module_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "statefun".into());
    let mut t = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(t, "name = {}", quoted(&name));
    let _ = writeln!(t, "[parameters]");
    for (k, v) in params {
        let _ = writeln!(t, "{} = {}", quoted(k), quoted(v));
    }
    let mut inputs = Vec::new();
    for i in &module.ingresses {
        match i {
            Ingress::File { id, path } => {
                let node = node_id("ingress", id);
                let _ = writeln!(t, "[[sources]]");
                let _ = writeln!(t, "id = {}", quoted(&node));
                let _ = writeln!(t, "kind = \"file\"");
                let _ = writeln!(t, "format = \"json\"");
                let _ = writeln!(t, "path = {}", quoted(path));
                inputs.push(format!(
                    "{{ from = {}, exchange = \"key-by\", key_field = \"target\" }}",
                    quoted(&node)
                ));
            }
            Ingress::Playground { port, host } => {
                let node = format!("playground-ingress-{port}");
                let _ = writeln!(t, "[[sources]]");
                let _ = writeln!(t, "id = {}", quoted(&node));
                let _ = writeln!(t, "kind = \"playground-ingress\"");
                let _ = writeln!(t, "port = {port}");
                if let Some(h) = host {
                    let _ = writeln!(t, "host = {}", quoted(h));
                }
                inputs.push(format!(
                    "{{ from = {}, exchange = \"key-by\", key_field = \"target\" }}",
                    quoted(&node)
                ));
            }
        }
    }
    if inputs.is_empty() {
        return Err(Unsupported(
            "the module has no ingress: nothing would send the functions a message".into(),
        ));
    }
    let _ = writeln!(t, "[[functions]]");
    let _ = writeln!(t, "id = {}", quoted(FUNCTIONS_NODE));
    let _ = writeln!(t, "module = {}", quoted(&module_path.to_string_lossy()));
    let _ = writeln!(t, "input = [{}]", inputs.join(", "));
    let mut sinks = 0;
    for e in &module.egresses {
        match e {
            EgressSpec::File { id, path } => {
                let _ = writeln!(t, "[[sinks]]");
                let _ = writeln!(t, "id = {}", quoted(&node_id("egress", id)));
                let _ = writeln!(t, "kind = \"file\"");
                let _ = writeln!(t, "path = {}", quoted(path));
                let _ = writeln!(
                    t,
                    "input = {{ from = {}, output = {} }}",
                    quoted(FUNCTIONS_NODE),
                    quoted(id)
                );
                sinks += 1;
            }
            EgressSpec::Playground { port, host, topics } => {
                let _ = writeln!(t, "[[sinks]]");
                let _ = writeln!(t, "id = {}", quoted(&format!("playground-egress-{port}")));
                let _ = writeln!(t, "kind = \"playground-egress\"");
                let _ = writeln!(t, "port = {port}");
                if let Some(h) = host {
                    let _ = writeln!(t, "host = {}", quoted(h));
                }
                let topics: Vec<String> = topics.iter().map(|x| quoted(x)).collect();
                let _ = writeln!(t, "topics = [{}]", topics.join(", "));
                let _ = writeln!(
                    t,
                    "input = {{ from = {}, output = {} }}",
                    quoted(FUNCTIONS_NODE),
                    quoted(crate::playground::EGRESS_ID)
                );
                sinks += 1;
            }
        }
    }
    if sinks == 0 {
        // A job needs a sink; with no egress nothing reaches it.
        let _ = writeln!(t, "[[sinks]]");
        let _ = writeln!(t, "id = \"no-egress\"");
        let _ = writeln!(t, "kind = \"discard\"");
        let _ = writeln!(t, "input = {}", quoted(FUNCTIONS_NODE));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_becomes_sources_a_stage_and_sinks() {
        let text = r#"
kind: io.statefun.endpoints.v2/http
spec:
  functions: example/*
  urlPathTemplate: http://127.0.0.1:1/{function.name}
---
kind: weir.io/file-ingress.v1
spec: { id: example/names, path: "in \"x\".jsonl" }
---
kind: weir.io/file-egress.v1
spec: { id: example/greets, path: out }
"#;
        let m = Module::parse(text, Path::new("m.yaml"), &BTreeMap::new()).expect("module");
        let params = BTreeMap::from([("n".to_owned(), "1".to_owned())]);
        let job = job_text(Path::new("/x/greeter.yaml"), &m, &params).expect("job");
        assert!(
            job.starts_with("name = \"greeter\"\n[parameters]\n\"n\" = \"1\"\n"),
            "{job}"
        );
        assert!(job.contains("id = \"ingress-example-names\""), "{job}");
        assert!(job.contains("path = \"in \\\"x\\\".jsonl\""), "{job}");
        assert!(
            job.contains("input = { from = \"functions\", output = \"example/greets\" }"),
            "{job}"
        );
        assert!(job.contains("module = \"/x/greeter.yaml\""), "{job}");
    }

    #[test]
    fn a_module_without_ingress_is_refused() {
        let text = "kind: io.statefun.endpoints.v2/http\nspec:\n  functions: a/*\n  urlPathTemplate: http://h/\n";
        let m = Module::parse(text, Path::new("m.yaml"), &BTreeMap::new()).expect("module");
        let e = job_text(Path::new("m.yaml"), &m, &BTreeMap::new()).expect_err("no ingress");
        assert!(e.to_string().contains("no ingress"), "{e}");
    }
}
