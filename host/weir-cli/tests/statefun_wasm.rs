//! Stateful Functions as in-process Wasm components
//! (`weir.io/wasm-functions.v1`), built with the Rust SDK: the counter of
//! `functions-examples/statefun-counter` behind `weir run module.yaml`,
//! in a job file's `[[functions]]` stage that dead-letters the
//! messages its function fails on, and in a job whose stage feeds
//! DataStream operators (WordCount over its egress).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn counter_wasm() -> PathBuf {
    let c = root().join("functions-examples/target/wasm32-wasip2/release/statefun_counter.wasm");
    assert!(
        c.is_file(),
        "build the example functions first (scripts/test does)"
    );
    c
}

/// `n` messages to `ids` addresses; messages whose index is listed in
/// `bad` get negative amounts (the counter refuses those). Returns the
/// input and, per id, the amounts the counter accepts, in order.
fn amounts(dir: &Path, n: u64, ids: u64, bad: &[u64]) -> (PathBuf, BTreeMap<String, Vec<i64>>) {
    let mut text = String::new();
    let mut accepted: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut rng = Lcg(41);
    for i in 0..n {
        let id = format!("c{}", rng.next(ids));
        // Unique, so that a dead letter names its message.
        let amount = i as i64 + 1;
        let amount = if bad.contains(&i) { -amount } else { amount };
        let _ = writeln!(
            text,
            r#"{{"target":"bench/counter/{id}","type":"io.statefun.types/long","value":{amount}}}"#
        );
        if amount >= 0 {
            accepted.entry(id).or_default().push(amount);
        }
    }
    let path = dir.join("amounts.jsonl");
    std::fs::write(&path, text).expect("input");
    (path, accepted)
}

fn module(dir: &Path, with_file_io: bool) -> PathBuf {
    let mut text = format!(
        "kind: weir.io/wasm-functions.v1\nspec:\n  functions: bench/*\n  component: {}\n",
        counter_wasm().display()
    );
    if with_file_io {
        text.push_str(
            "---\nkind: weir.io/file-ingress.v1\nspec:\n  id: amounts\n  path: ${input}\n---\nkind: weir.io/file-egress.v1\nspec:\n  id: bench/totals\n  path: ${output}\n",
        );
    }
    let path = dir.join("module.yaml");
    std::fs::write(&path, text).expect("module");
    path
}

/// Writes `text` as `dir/job.toml` and runs it at parallelism 2 to its end.
fn run_job_file(dir: &Path, text: &str) {
    let job = dir.join("job.toml");
    std::fs::write(&job, text).expect("job");
    let o = weir()
        .arg("run")
        .arg(&job)
        .args(["--quiet", "--parallelism", "2"])
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Per id, the (n, total) of each egress line, in order of n.
fn egress_by_id(lines: &[String]) -> BTreeMap<String, Vec<(u64, i64)>> {
    let mut by_id: BTreeMap<String, Vec<(u64, i64)>> = BTreeMap::new();
    for l in lines {
        let v: Value = serde_json::from_str(l).expect("egress JSON");
        assert_eq!(v["egress"], "bench/totals", "{l}");
        assert_eq!(v["type"], "bench/Json", "{l}");
        let value = &v["value"];
        let id = value["id"].as_str().expect("id").to_owned();
        let n = value["n"].as_u64().expect("n");
        let total = value["total"].as_i64().expect("total");
        by_id.entry(id).or_default().push((n, total));
    }
    for updates in by_id.values_mut() {
        updates.sort_unstable();
    }
    by_id
}

/// Every accepted message's effect exactly once and in order: for each id
/// the egress holds n = 1, 2, … with the running totals of its amounts.
fn check_counts(lines: &[String], accepted: &BTreeMap<String, Vec<i64>>) {
    let expected: BTreeMap<String, Vec<(u64, i64)>> = accepted
        .iter()
        .map(|(id, amounts)| {
            let mut total = 0;
            let updates = amounts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    total += a;
                    (i as u64 + 1, total)
                })
                .collect();
            (id.clone(), updates)
        })
        .collect();
    assert_eq!(egress_by_id(lines), expected);
}

#[test]
fn a_wasm_counter_behind_weir_run_module_yaml_egresses_every_effect_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let module = module(tmp.path(), true);
    let (input, accepted) = amounts(tmp.path(), 6000, 97, &[]);
    let out = tmp.path().join("out");
    let o = weir()
        .arg("run")
        .arg(&module)
        .args(["--quiet", "--parallelism", "2", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = committed_lines(&out);
    assert_eq!(lines.len(), 6000);
    check_counts(&lines, &accepted);
}

#[test]
fn a_wasm_function_failing_on_a_message_dead_letters_it_and_goes_on() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let module = module(dir, false);
    let bad = [3, 500, 1999];
    let (input, accepted) = amounts(dir, 2000, 13, &bad);
    run_job_file(
        dir,
        &format!(
            r#"name = "wasm-counter"
[[sources]]
id = "amounts"
kind = "file"
format = "json"
path = "{input}"

[[functions]]
id = "functions"
module = "{module}"
input = {{ from = "amounts" }}
on_error = "dead-letter"

[[sinks]]
id = "totals"
kind = "file"
path = "{out}"
input = {{ from = "functions", output = "bench/totals" }}

[[sinks]]
id = "dead"
kind = "file"
path = "{dead}"
input = {{ from = "functions", output = "dead-letter" }}
"#,
            input = input.display(),
            module = module.display(),
            out = dir.join("out").display(),
            dead = dir.join("dead").display(),
        ),
    );
    // Each dead letter is one message, with the function's error. A batch
    // fails as a whole, so good messages batched with a refused one are
    // dead letters too: the egress must hold every other message once.
    let mut kept = accepted.clone();
    let mut refused = 0;
    for l in committed_lines(&dir.join("dead")) {
        let v: Value = serde_json::from_str(&l).expect("dead letter JSON");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("negative")),
            "the guest's error is kept: {l}"
        );
        let message: Value = serde_json::from_str(v["value"].as_str().expect("the message"))
            .expect("an ingress line");
        let target = message["target"].as_str().expect("target");
        let id = target.strip_prefix("bench/counter/").expect("a counter");
        let amount = message["value"].as_i64().expect("amount");
        if amount < 0 {
            refused += 1;
        } else {
            let amounts = kept.get_mut(id).expect("an id of the input");
            let at = amounts
                .iter()
                .position(|a| *a == amount)
                .expect("a message of the input");
            amounts.remove(at);
        }
    }
    assert_eq!(refused, bad.len(), "every refused message is a dead letter");
    check_counts(&committed_lines(&dir.join("out")), &kept);
}

/// Flink's WordCount tokens of `line`: maximal runs of ASCII letters,
/// digits and `_`, lower-cased.
fn tokens(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
}

#[test]
fn a_job_mixes_a_functions_stage_with_datastream_operators_downstream() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let module = module(dir, false);
    let (input, accepted) = amounts(dir, 1500, 29, &[]);
    run_job_file(
        dir,
        &format!(
            r#"name = "functions-then-wordcount"
[components]
wordcount = "{wordcount}"

[[sources]]
id = "amounts"
kind = "file"
format = "json"
path = "{input}"

[[functions]]
id = "functions"
module = "{module}"
input = {{ from = "amounts" }}

[[operators]]
id = "tokenize"
component = "wordcount"
function = "tokenize"
kind = "flat-map"
input = {{ from = "functions", output = "bench/totals" }}

[[operators]]
id = "count"
component = "wordcount"
function = "count"
kind = "reduce"
input = {{ from = "tokenize", exchange = "key-by" }}

[[operators]]
id = "format"
component = "wordcount"
function = "format"
kind = "flat-map"
input = "count"

[[sinks]]
id = "out"
kind = "file"
path = "{out}"
format = "text"
input = "format"
"#,
            wordcount = wordcount_wasm().display(),
            input = input.display(),
            module = module.display(),
            out = dir.join("out").display(),
        ),
    );
    // The words of every egress line the counter makes, counted here.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (id, amounts) in &accepted {
        let mut total = 0;
        for (i, a) in amounts.iter().enumerate() {
            total += a;
            let line = format!(
                r#"{{"egress":"bench/totals","type":"bench/Json","value":{{"id":"{id}","n":{},"total":{total}}}}}"#,
                i + 1
            );
            for t in tokens(&line) {
                *expected.entry(t).or_default() += 1;
            }
        }
    }
    assert_eq!(final_counts(&committed_lines(&dir.join("out"))), expected);
}
