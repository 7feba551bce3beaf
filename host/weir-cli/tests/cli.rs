//! The `weir` binary: commands, exit codes and messages a user sees.
//! Needs the example components (scripts/test builds them).

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("weir runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const WORDCOUNT: &str = "functions-examples/wordcount/wordcount.toml";

#[test]
fn validate_accepts_the_shipped_jobs() {
    for job in [
        WORDCOUNT,
        "functions-examples/wordcount/wordcount-state.toml",
        "functions-examples/wordcount/wordcount-long-words.toml",
        "functions-examples/wordcount/wordcount-json.toml",
        "functions-examples/user-activity/clicks-per-user.toml",
    ] {
        let o = weir(&["validate", job]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{job}: {err}");
        assert!(out.contains("is valid"), "{out}");
    }
}

#[test]
fn run_prints_wordcount_of_the_sample_text() {
    let o = weir(&["run", WORDCOUNT, "--parallelism", "2"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.lines().any(|l| l.ends_with("(question,1)")), "{out}");
    assert!(
        err.contains("finished") && err.contains("records in"),
        "{err}"
    );
}

#[test]
fn unknown_parameter_names_the_declared_ones() {
    let o = weir(&["run", WORDCOUNT, "--inptu", "x"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("unknown job parameter 'inptu'") && err.contains("input, output"),
        "{err}"
    );
}

#[test]
fn missing_input_fails_cleanly() {
    let o = weir(&[
        "run",
        WORDCOUNT,
        "--input",
        "/nonexistent/book.txt",
        "--quiet",
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("operator 'lines'") && err.contains("/nonexistent/book.txt"),
        "{err}"
    );
}

#[test]
fn invalid_job_file_fails_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("bad.toml");
    std::fs::write(&job, "name = \"x\"\nparallelism = \"two\"\n").expect("write");
    let o = weir(&["validate", job.to_str().expect("utf8")]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");
}

#[test]
fn missing_job_file_is_a_clear_error() {
    let o = weir(&["run", "no-such-job.toml"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("cannot read job file no-such-job.toml"),
        "{err}"
    );
}

#[test]
fn help_lists_the_commands() {
    let o = weir(&["--help"]);
    let (out, _) = text(&o);
    for cmd in ["run", "validate", "build", "bench"] {
        assert!(out.contains(cmd), "{out}");
    }
}
