//! Capabilities: a guest sees no files, environment or sockets unless the
//! job grants them to its component, and then only what was granted
//! (read-only unless writable; nothing outside the granted directory).

use std::path::Path;
use weir_tests::*;

const JOB: &str = r#"
name = "grants"
[parameters]
region = "eu-west-1"
[components]
probe = "PROBE"
[[sources]]
id = "requests"
kind = "file"
path = "INPUT"
[[operators]]
id = "reach"
component = "probe"
function = "reach"
kind = "map"
input = "requests"
[[sinks]]
id = "out"
kind = "file"
path = "OUT"
input = "reach"
GRANTS
"#;

const GRANTS: &str = r#"
[sandbox.grants.probe]
env = { WEIR_REGION = "${region}" }
dirs = [
  { host = "shared", guest = "/data" },
  { host = "scratch", guest = "/scratch", writable = true },
]
"#;

/// Runs the probe over `requests` (one per line) and returns request →
/// answer.
fn reach(dir: &Path, grants: &str, requests: &[String]) -> Vec<(String, String)> {
    std::fs::write(dir.join("requests.txt"), requests.join("\n")).expect("write");
    let out = dir.join("out");
    let text = JOB
        .replace("PROBE", &component("hostile").display().to_string())
        .replace("INPUT", &dir.join("requests.txt").display().to_string())
        .replace("OUT", &out.display().to_string())
        .replace("GRANTS", grants);
    run(&job(&text, dir, &[], Some(1))).expect("the probe never fails its job");
    let answers: Vec<(String, String)> = output_lines(&out)
        .into_iter()
        .map(|l| {
            let (req, ans) = l.split_once(" -> ").expect("'<request> -> <answer>'");
            (req.to_owned(), ans.to_owned())
        })
        .collect();
    assert_eq!(answers.len(), requests.len(), "{answers:?}");
    answers
}

/// A directory with `shared/hello.txt`, an empty `scratch/`, and
/// `secret.txt` beside them; returns the secret's absolute path.
fn layout(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("shared")).expect("mkdir");
    std::fs::create_dir_all(dir.join("scratch")).expect("mkdir");
    std::fs::write(dir.join("shared/hello.txt"), "hello from the host").expect("write");
    std::fs::write(dir.join("secret.txt"), "do not read").expect("write");
    dir.join("secret.txt").display().to_string()
}

fn answer<'a>(answers: &'a [(String, String)], request: &str) -> &'a str {
    answers
        .iter()
        .find(|(r, _)| r == request)
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("no answer to {request:?}: {answers:?}"))
}

#[test]
fn without_grants_a_guest_reaches_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = layout(dir.path());
    // Host variables that certainly exist in the test process.
    assert!(std::env::var("PATH").is_ok());
    let requests = vec![
        "env PATH".to_owned(),
        "env WEIR_REGION".to_owned(),
        format!("read {secret}"),
        "read /etc/passwd".to_owned(),
        "list /".to_owned(),
        "list .".to_owned(),
        "write /tmp/weir-escape.txt x".to_owned(),
    ];
    let answers = reach(dir.path(), "", &requests);
    for (req, ans) in &answers {
        assert!(ans.starts_with("denied"), "{req} -> {ans}");
    }
    assert!(!Path::new("/tmp/weir-escape.txt").exists());
}

#[test]
fn a_grant_gives_exactly_its_variables_and_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = layout(dir.path());
    let requests = vec![
        "env WEIR_REGION".to_owned(),
        "env PATH".to_owned(),
        "read /data/hello.txt".to_owned(),
        "list /data".to_owned(),
        "read /data/../secret.txt".to_owned(),
        format!("read {secret}"),
        "write /data/new.txt x".to_owned(),
        "write /scratch/made.txt made by the guest".to_owned(),
        "read /scratch/made.txt".to_owned(),
    ];
    let answers = reach(dir.path(), GRANTS, &requests);
    assert_eq!(answer(&answers, "env WEIR_REGION"), "ok eu-west-1");
    assert!(answer(&answers, "env PATH").starts_with("denied"));
    assert_eq!(
        answer(&answers, "read /data/hello.txt"),
        "ok hello from the host"
    );
    assert_eq!(answer(&answers, "list /data"), "ok hello.txt");
    for escape in ["read /data/../secret.txt", &format!("read {secret}")] {
        assert!(answer(&answers, escape).starts_with("denied"), "{escape}");
    }
    assert!(answer(&answers, "write /data/new.txt x").starts_with("denied"));
    assert!(!dir.path().join("shared/new.txt").exists());
    assert_eq!(
        answer(&answers, "write /scratch/made.txt made by the guest"),
        "ok written"
    );
    assert_eq!(
        answer(&answers, "read /scratch/made.txt"),
        "ok made by the guest"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("scratch/made.txt")).expect("the guest wrote it"),
        "made by the guest"
    );
}
