//! A full disk: the output or the checkpoint directory on a small tmpfs.
//! The job fails with a clear error naming what could not be written, no
//! half-written part file is committed, and failed checkpoints do not pile
//! up. Needs `mount` (root, as on CI); skipped with a message otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            Some(Tmpfs { dir })
        } else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            None
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

/// ~3 MB of lines over 20,000 distinct words.
fn input(dir: &Path) -> PathBuf {
    let path = dir.join("in.txt");
    let mut text = String::new();
    for i in 0..300_000u32 {
        text.push_str(&format!("w{} w{} x\n", i % 20_000, (i * 7) % 20_000));
    }
    std::fs::write(&path, text).expect("write input");
    path
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(root())
        .env(
            "WEIR_RUNTIME_DIR",
            std::env::temp_dir().join("weir-full-disk"),
        )
        .output()
        .expect("weir runs")
}

#[test]
fn output_on_a_full_disk_fails_with_a_clear_error_and_commits_nothing_partial() {
    let Some(fs) = Tmpfs::mount("256k") else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let input = input(work.path());
    let out = fs.path().join("out");
    let o = weir(&[
        "run",
        "functions-examples/wordcount/wordcount.toml",
        "--input",
        &input.display().to_string(),
        "--output",
        &out.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("operator 'out' (sub-task 1/1)"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("[external error"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let committed: Vec<_> = std::fs::read_dir(&out)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("part-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(committed.is_empty(), "{committed:?}");
}

#[test]
fn failed_checkpoints_on_a_full_disk_do_not_pile_up() {
    let Some(fs) = Tmpfs::mount("64k") else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let input = input(work.path());
    let job = work.path().join("job.toml");
    let text = std::fs::read_to_string(root().join("functions-examples/wordcount/wordcount.toml"))
        .expect("job")
        .replace(
            "../target/wasm32-wasip2/release/wordcount.wasm",
            &root()
                .join("functions-examples/target/wasm32-wasip2/release/wordcount.wasm")
                .display()
                .to_string(),
        );
    std::fs::write(
        &job,
        format!("{text}\n[restart]\nstrategy = \"fixed-delay\"\nattempts = 3\ndelay_ms = 10\n"),
    )
    .expect("write job");
    let chk = fs.path().join("chk");
    let o = weir(&[
        "run",
        &job.display().to_string(),
        "--input",
        &input.display().to_string(),
        "--output",
        &work.path().join("out").display().to_string(),
        "--checkpoint-interval",
        "50ms",
        "--checkpoint-dir",
        &chk.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("cannot write checkpoint"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("no restarts left after 3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let incomplete: Vec<_> = std::fs::read_dir(&chk)
        .expect("checkpoint dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("chk-"))
        .filter(|e| !e.path().join("_metadata").exists())
        .collect();
    assert!(
        incomplete.len() <= 1,
        "only the last failed checkpoint may be left: {incomplete:?}"
    );
}
