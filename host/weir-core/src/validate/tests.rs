use crate::graph::{KeySelector, NodeKind, Overrides};
use crate::plan::PhysicalPlan;
use crate::spec::Exchange;
use crate::{JobError, JobGraph};
use std::path::Path;

fn component_dir() -> tempfile_free::Dir {
    tempfile_free::Dir::new()
}

/// A tiny scratch directory helper (no dev-dependency needed).
mod tempfile_free {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("weir-core-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).expect("temp dir");
            std::fs::write(p.join("f.wasm"), b"not checked here").expect("write");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

const WORDCOUNT: &str = r#"
name = "wc"
[parameters]
input = ""
[components]
f = "f.wasm"
[[sources]]
id = "lines"
kind = "file"
path = "${input}"
fallback = "sample-text"
[[operators]]
id = "tokenize"
component = "f"
function = "tokenize"
kind = "flat-map"
input = "lines"
[[operators]]
id = "count"
component = "f"
function = "count"
kind = "reduce"
input = { from = "tokenize", exchange = "key-by" }
[[operators]]
id = "format"
component = "f"
function = "format"
kind = "map"
input = "count"
[[sinks]]
id = "out"
kind = "print"
input = "format"
"#;

fn load(text: &str, dir: &Path, o: &Overrides) -> Result<JobGraph, JobError> {
    JobGraph::from_toml(text, Path::new("job.toml"), dir, o)
}

fn problems(r: Result<JobGraph, JobError>) -> Vec<String> {
    match r {
        Err(JobError::Invalid { problems, .. }) => problems,
        Err(e) => vec![e.to_string()],
        Ok(_) => panic!("expected an invalid job"),
    }
}

#[test]
fn wordcount_plans_two_chains() {
    let d = component_dir();
    let g = load(
        WORDCOUNT,
        &d.0,
        &Overrides {
            parallelism: Some(4),
            ..Default::default()
        },
    )
    .expect("valid");
    assert_eq!(
        g.nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["lines", "tokenize", "count", "format", "out"]
    );
    assert!(g.nodes.iter().all(|n| n.parallelism == 4));
    let plan = PhysicalPlan::new(&g);
    let chains: Vec<Vec<&str>> = plan
        .chains
        .iter()
        .map(|c| c.nodes.iter().map(|&n| g.nodes[n].id.as_str()).collect())
        .collect();
    assert_eq!(
        chains,
        vec![vec!["lines", "tokenize"], vec!["count", "format", "out"]]
    );
    assert_eq!(plan.chains[1].inputs.len(), 1);
    assert_eq!(plan.chains[1].inputs[0].exchange, Exchange::KeyBy);
    assert_eq!(plan.chains[1].inputs[0].channels_for(2), 0..4);
}

#[test]
fn parameters_are_substituted_and_unknown_ones_rejected() {
    let d = component_dir();
    let g = load(
        WORDCOUNT,
        &d.0,
        &Overrides {
            parameters: vec![("input".into(), "data.txt".into())],
            ..Default::default()
        },
    )
    .expect("valid");
    let NodeKind::Source(crate::spec::SourceSpec::File(f)) = &g.nodes[0].kind else {
        panic!("file source expected");
    };
    // A path given on the command line is relative to where weir runs...
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(Path::new(&f.path), cwd.join("data.txt"));
    // ...a default written in the job file, to the job file.
    let g = load(
        &WORDCOUNT.replace("input = \"\"", "input = \"book.txt\""),
        &d.0,
        &Overrides::default(),
    )
    .expect("valid");
    let NodeKind::Source(crate::spec::SourceSpec::File(f)) = &g.nodes[0].kind else {
        panic!("file source expected");
    };
    assert_eq!(Path::new(&f.path), d.0.join("book.txt"));
    let p = problems(load(
        WORDCOUNT,
        &d.0,
        &Overrides {
            parameters: vec![("inptu".into(), "x".into())],
            ..Default::default()
        },
    ));
    assert!(
        p[0].contains("unknown job parameter 'inptu'") && p[0].contains("input"),
        "{p:?}"
    );
}

#[test]
fn unknown_field_is_a_parse_error_with_position() {
    let d = component_dir();
    let text = WORDCOUNT.replace("name = \"wc\"", "name = \"wc\"\nparalelism = 2");
    let e = load(&text, &d.0, &Overrides::default()).expect_err("invalid");
    let msg = e.to_string();
    assert!(msg.contains("unknown field `paralelism`"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn unknown_component_is_reported() {
    let d = component_dir();
    let text = WORDCOUNT.replace(
        "component = \"f\"\nfunction = \"count\"",
        "component = \"g\"\nfunction = \"count\"",
    );
    let p = problems(load(&text, &d.0, &Overrides::default()));
    assert!(
        p.iter().any(|p| p.contains("unknown component 'g'")),
        "{p:?}"
    );
}

#[test]
fn missing_component_file_is_reported() {
    let d = component_dir();
    let text = WORDCOUNT.replace("f = \"f.wasm\"", "f = \"missing.wasm\"");
    let p = problems(load(&text, &d.0, &Overrides::default()));
    assert!(
        p.iter()
            .any(|p| p.contains("not found") && p.contains("missing.wasm")),
        "{p:?}"
    );
}

#[test]
fn cycle_is_reported() {
    let d = component_dir();
    let text = WORDCOUNT.replace("input = \"count\"", "input = [\"count\", \"format2\"]")
        + r#"
[[operators]]
id = "format2"
component = "f"
function = "format"
kind = "map"
input = "format"
"#;
    let p = problems(load(&text, &d.0, &Overrides::default()));
    assert!(
        p.iter()
            .any(|p| p.contains("cycle") && p.contains("format2")),
        "{p:?}"
    );
}

#[test]
fn bad_parallelism_is_reported() {
    let d = component_dir();
    for (p, want) in [(0u32, "at least 1"), (1000, "exceeds max_parallelism 128")] {
        let probs = problems(load(
            WORDCOUNT,
            &d.0,
            &Overrides {
                parallelism: Some(p),
                ..Default::default()
            },
        ));
        assert!(probs.iter().any(|x| x.contains(want)), "{p}: {probs:?}");
    }
}

#[test]
fn keyed_function_needs_key_by() {
    let d = component_dir();
    let text = WORDCOUNT.replace(
        "input = { from = \"tokenize\", exchange = \"key-by\" }",
        "input = \"tokenize\"",
    );
    let p = problems(load(&text, &d.0, &Overrides::default()));
    assert!(p.iter().any(|p| p.contains("needs a keyed input")), "{p:?}");
}

#[test]
fn json_key_field_becomes_a_selector() {
    let d = component_dir();
    let text = WORDCOUNT.replace(
        "exchange = \"key-by\" }",
        "exchange = \"key-by\", key_field = \"user.id\" }",
    );
    let g = load(&text, &d.0, &Overrides::default()).expect("valid");
    let e = g
        .edges
        .iter()
        .find(|e| e.exchange == Exchange::KeyBy)
        .expect("key-by edge");
    assert_eq!(
        e.key,
        KeySelector::JsonField(vec!["user".into(), "id".into()])
    );
}

#[test]
fn dangling_input_and_duplicate_ids_are_reported() {
    let d = component_dir();
    let text = WORDCOUNT
        .replace("input = \"format\"", "input = \"formatt\"")
        .replace("id = \"count\"", "id = \"tokenize\"");
    let p = problems(load(&text, &d.0, &Overrides::default()));
    assert!(
        p.iter().any(|p| p.contains("'formatt' is not a node")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.contains("'tokenize' is used more than once")),
        "{p:?}"
    );
}

#[test]
fn grants_are_resolved_and_checked() {
    let d = component_dir();
    std::fs::create_dir_all(d.0.join("ref")).expect("mkdir");
    let good = format!(
        "{WORDCOUNT}\n[sandbox.grants.f]\nenv = {{ REGION = \"eu-${{input}}\" }}\ndirs = [{{ host = \"ref\", guest = \"/ref/\" }}, {{ host = \"ref\", guest = \"/scratch\", writable = true }}]\n"
    );
    let g = load(
        &good,
        &d.0,
        &Overrides {
            parameters: vec![("input".into(), "west".into())],
            ..Default::default()
        },
    )
    .expect("valid");
    let grants = g.sandbox.grants.get("f").expect("granted");
    assert_eq!(grants.env, [("REGION".to_owned(), "eu-west".to_owned())]);
    assert_eq!(grants.dirs.len(), 2);
    assert_eq!(grants.dirs[0].host, d.0.join("ref"));
    assert_eq!(grants.dirs[0].guest, "/ref");
    assert!(!grants.dirs[0].writable && grants.dirs[1].writable);

    let bad = format!(
        "{WORDCOUNT}\n[sandbox.grants.nope]\nenv = {{ A = \"1\" }}\n[sandbox.grants.f]\nenv = {{ \"A=B\" = \"1\" }}\ndirs = [{{ host = \"missing\", guest = \"/m\" }}, {{ host = \"ref\", guest = \"rel\" }}, {{ host = \"ref\", guest = \"/x/../y\" }}, {{ host = \"ref\", guest = \"/m\" }}]\n"
    );
    let p = problems(load(&bad, &d.0, &Overrides::default()));
    let has = |s: &str| p.iter().any(|x| x.contains(s));
    assert!(has("sandbox.grants.nope: no component 'nope'"), "{p:?}");
    assert!(has("'A=B' is not a valid variable name"), "{p:?}");
    assert!(has("missing' is not a directory"), "{p:?}");
    assert!(has("guest path 'rel' must be absolute"), "{p:?}");
    assert!(has("guest path '/x/../y' must be absolute"), "{p:?}");
    assert!(has("guest path '/m' is granted twice"), "{p:?}");
}

#[test]
fn kafka_settings_are_checked_and_take_parameters() {
    let d = component_dir();
    let job = |source: &str, sink: &str| {
        format!(
            r#"
name = "k"
[parameters]
bs = "127.0.0.1:9092"
topic = "lines"
[[sources]]
id = "in"
kind = "kafka"
bootstrap_servers = "${{bs}}"
{source}
[[sinks]]
id = "out"
kind = "kafka"
bootstrap_servers = "${{bs}}"
input = "in"
{sink}
"#
        )
    };
    let g = load(
        &job(r#"topics = ["${topic}"]"#, r#"topic = "out""#),
        &d.0,
        &Overrides::default(),
    )
    .expect("valid");
    let NodeKind::Source(crate::spec::SourceSpec::Kafka(k)) = &g.nodes[0].kind else {
        panic!("a Kafka source");
    };
    assert_eq!(k.bootstrap_servers, "127.0.0.1:9092");
    assert_eq!(k.topics, ["lines"]);

    let p = problems(load(
        &job(
            "topics = [\"a\"]\ntopic_pattern = \"a.*\"\nstart = \"committed\"",
            "topic = \"out\"\nproperties = { \"transactional.id\" = \"x\" }",
        ),
        &d.0,
        &Overrides::default(),
    ));
    let all = p.join("\n");
    assert!(all.contains("both topics and topic_pattern"), "{all}");
    assert!(
        all.contains("start = \"committed\" needs a group_id"),
        "{all}"
    );
    assert!(all.contains("set transactional_id_prefix"), "{all}");

    let p = problems(load(
        &job(
            "start = \"offsets\"\nstart_offsets = { \"nocolon\" = 3 }\nevent_time = { field = \"ts\" }",
            "topic = \"\"",
        ),
        &d.0,
        &Overrides::default(),
    ));
    let all = p.join("\n");
    assert!(all.contains("no topics and no topic_pattern"), "{all}");
    assert!(all.contains("'nocolon' is not"), "{all}");
    assert!(
        all.contains("event_time.field needs format = \"json\""),
        "{all}"
    );
    assert!(all.contains("topic is empty"), "{all}");
}
