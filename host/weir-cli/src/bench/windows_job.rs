//! `weir bench windows --whole-job`: the tumbling-window example job file
//! as users run it (`weir run`, the four partition files in, every window
//! result to files, process start to exit) against the same work in plain
//! Rust, output checked.

use super::process::{WholeRun, best_of};
use super::windows::{inputs, native_windows};
use anyhow::Result;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What `weir bench windows --whole-job` measures.
pub(super) struct WholeJob {
    pub events: u64,
    pub runs: u32,
    pub examples: PathBuf,
    /// The `weir` binary to measure (default this one).
    pub weir: Option<PathBuf>,
    pub data_dir: PathBuf,
}

/// The native side: every window result rendered and written, one per
/// line, buffered, to `out`. Returns the number of events.
fn native_to_file(dir: &Path, out: &Path) -> Result<u64> {
    let mut w = BufWriter::with_capacity(256 * 1024, std::fs::File::create(out)?);
    let (events, _, _) = native_windows(dir, &mut |line| {
        w.write_all(line)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    w.flush()?;
    Ok(events)
}

/// Best of `runs` each side; every run of the job checked line for line
/// (count and order-independent digest) against the native results.
pub(super) fn whole_job(b: &WholeJob) -> Result<()> {
    let dir = inputs(b.events, &b.data_dir)?.canonicalize()?;
    let job = b.examples.join("windows/tumbling-word-count.toml");
    let (native_out, job_out) = (
        b.data_dir.join("windows-job-native.txt"),
        b.data_dir.join("windows-job-out"),
    );
    let mut want = (0u64, 0u64);
    native_windows(&dir, &mut |l| {
        want.0 += 1;
        want.1 = want.1.wrapping_add(xxhash_rust::xxh3::xxh3_64(l));
        Ok(())
    })?;
    let (n, w) = best_of(
        &WholeRun {
            weir: b.weir.as_deref(),
            job: &job,
            input: &dir,
            out: &job_out,
            want,
            runs: b.runs,
        },
        || native_to_file(&dir, &native_out),
    )?;
    let _ = std::fs::remove_file(&native_out);
    println!(
        "Windows as users run them: `weir run tumbling-word-count.toml` (four partition files in, every window result to files, process start to exit) against plain Rust doing the same in this process; {} events, {} window results, parallelism 1, best of {}",
        n.tokens, want.0, b.runs
    );
    super::report("events", &n, &w);
    Ok(())
}
