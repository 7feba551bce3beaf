//! ListState and MapState for real: the user-activity example against a
//! reference model, with the key taken from a JSON field.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use weir_tests::*;

const JOB: &str = r#"
name = "user-activity-test"
[parameters]
input = ""
output = ""
recent = "3"
[components]
ua = "UA"
[[sources]]
id = "clicks"
kind = "file"
path = "${input}"
format = "json"
parallelism = 1
[[operators]]
id = "activity"
component = "ua"
function = "user-activity"
kind = "keyed-process"
input = { from = "clicks", exchange = "key-by", key_field = "user" }
[[sinks]]
id = "out"
kind = "file"
path = "${output}"
format = "json"
input = "activity"
"#;

/// What the function must report for each click, per user, in input order.
fn reference(clicks: &[(String, String)], keep: usize) -> HashMap<String, Vec<Value>> {
    let mut visits: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    let mut recent: HashMap<String, Vec<String>> = HashMap::new();
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for (user, url) in clicks {
        let v = visits.entry(user.clone()).or_default();
        let n = v.entry(url.clone()).or_insert(0);
        *n += 1;
        let n = *n;
        let distinct = v.len();
        let r = recent.entry(user.clone()).or_default();
        r.push(url.clone());
        if r.len() > keep {
            r.remove(0);
        }
        out.entry(user.clone()).or_default().push(json!({
            "user": user, "url": url, "visits": n, "distinct_urls": distinct, "recent": r.clone(),
        }));
    }
    out
}

fn run_activity(parallelism: u32, keep: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut clicks = Vec::new();
    let mut text = String::new();
    let mut x: u64 = 12345;
    for _ in 0..3000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let user = format!("u{}", (x >> 33) % 40);
        let url = format!("/page/{}", (x >> 17) % 9);
        text.push_str(&json!({"user": user, "url": url, "extra": [1, 2]}).to_string());
        text.push('\n');
        clicks.push((user, url));
    }
    let input = dir.path().join("clicks.jsonl");
    std::fs::write(&input, text).expect("write");
    let out = dir.path().join("out");
    let keep_s = keep.to_string();
    let graph = job(
        &JOB.replace("UA", &component("user_activity").display().to_string()),
        dir.path(),
        &[
            ("input", input.to_str().expect("utf8")),
            ("output", out.to_str().expect("utf8")),
            ("recent", &keep_s),
        ],
        Some(parallelism),
    );
    run(&graph).unwrap_or_else(|e| panic!("job failed: {e}"));
    let mut got: HashMap<String, Vec<Value>> = HashMap::new();
    for line in output_lines(&out) {
        let v: Value = serde_json::from_str(&line).expect("json output");
        let user = v["user"].as_str().expect("user").to_owned();
        got.entry(user).or_default().push(v);
    }
    let want = reference(&clicks, keep);
    assert_eq!(got.len(), want.len());
    for (user, w) in &want {
        assert_eq!(got.get(user), Some(w), "user {user}");
    }
}

#[test]
fn map_and_list_state_match_reference_at_parallelism_1() {
    run_activity(1, 3);
}

#[test]
fn map_and_list_state_match_reference_at_parallelism_3() {
    run_activity(3, 5);
}

#[test]
fn bad_function_parameter_fails_opening_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("c.jsonl");
    std::fs::write(&input, "{\"user\":\"a\",\"url\":\"/\"}\n").expect("write");
    let out = dir.path().join("out");
    let graph = job(
        &JOB.replace("UA", &component("user_activity").display().to_string()),
        dir.path(),
        &[
            ("input", input.to_str().expect("utf8")),
            ("output", out.to_str().expect("utf8")),
            ("recent", "many"),
        ],
        None,
    );
    let e = run(&graph).expect_err("must fail").to_string();
    assert!(
        e.contains("operator 'activity'") && e.contains("parameter 'recent' must be a number"),
        "{e}"
    );
}

const AGGREGATE_JOB: &str = r#"
name = "clicks-per-user-test"
[components]
ua = "UA"
[[sources]]
id = "clicks"
kind = "file"
path = "INPUT"
format = "json"
parallelism = 1
[[operators]]
id = "per-user"
component = "ua"
function = "clicks-per-user"
kind = "aggregate"
input = { from = "clicks", exchange = "key-by", key_field = "user" }
[[sinks]]
id = "out"
kind = "file"
path = "OUTPUT"
format = "json"
input = "per-user"
"#;

#[test]
fn aggregate_function_keeps_its_accumulator_per_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    let mut want: HashMap<String, Vec<Value>> = HashMap::new();
    let mut pages: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    let mut x: u64 = 99;
    for _ in 0..2000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let user = format!("u{}", (x >> 33) % 25);
        let url = format!("/p/{}", (x >> 13) % 7);
        text.push_str(&json!({"user": user, "url": url}).to_string());
        text.push('\n');
        let p = pages.entry(user.clone()).or_default();
        p.insert(url);
        let seq = want.entry(user.clone()).or_default();
        seq.push(json!({"user": user, "clicks": seq.len() + 1, "distinct_pages": p.len()}));
    }
    let input = dir.path().join("clicks.jsonl");
    std::fs::write(&input, text).expect("write");
    let out = dir.path().join("out");
    let t = AGGREGATE_JOB
        .replace("UA", &component("user_activity").display().to_string())
        .replace("INPUT", &input.display().to_string())
        .replace("OUTPUT", &out.display().to_string());
    run(&job(&t, dir.path(), &[], Some(3))).unwrap_or_else(|e| panic!("job failed: {e}"));
    let mut got: HashMap<String, Vec<Value>> = HashMap::new();
    for line in output_lines(&out) {
        let v: Value = serde_json::from_str(&line).expect("json");
        got.entry(v["user"].as_str().expect("user").to_owned())
            .or_default()
            .push(v);
    }
    assert_eq!(got, want);
}
