//! Whole `weir run` processes, measured from start to exit: wall time,
//! CPU time and peak RSS, as a user running a job would see them.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One finished process.
pub(super) struct ProcessRun {
    pub wall: Duration,
    /// User + system CPU seconds (sampled; the last sample before exit).
    pub cpu: f64,
    /// Peak RSS, bytes.
    pub peak_rss: u64,
    /// What it printed on stderr (a job's summary, unless quiet).
    pub stderr: String,
}

/// Peak RSS (VmHWM) of process `pid`, bytes.
fn peak_rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `weir` (this binary when `None`) with `args`, sampling its peak
/// RSS every 10 ms until it exits (a high-water mark, so any sample after
/// the peak sees it); fails with its stderr if it fails.
pub(super) fn run_weir(weir: Option<&Path>, args: &[OsString]) -> Result<ProcessRun> {
    run_weir_env(weir, args, &[])
}

/// [`run_weir`] with extra environment variables for the child.
pub(super) fn run_weir_env(
    weir: Option<&Path>,
    args: &[OsString],
    env: &[(&str, &std::ffi::OsStr)],
) -> Result<ProcessRun> {
    run_weir_while(weir, args, env, || Ok(()))
}

/// [`run_weir_env`], calling `tick` between samples (every 10 ms) while the
/// process runs: to act on it (take a savepoint, stop it) as it goes.
pub(super) fn run_weir_while(
    weir: Option<&Path>,
    args: &[OsString],
    env: &[(&str, &std::ffi::OsStr)],
    mut tick: impl FnMut() -> Result<()>,
) -> Result<ProcessRun> {
    let weir = match weir {
        Some(w) => w.to_owned(),
        None => std::env::current_exe()?,
    };
    let t = Instant::now();
    let mut child = Command::new(weir)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting weir")?;
    // Read as it comes, so a long summary cannot fill the pipe.
    let reader = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            s
        })
    });
    let pid = child.id();
    let (mut peak, mut cpu) = (0, 0.0);
    let status = loop {
        if let Some(rss) = peak_rss_of(pid) {
            peak = peak.max(rss);
        }
        if let Some(c) = super::proc_stats::cpu_seconds_of(&pid.to_string()) {
            cpu = c;
        }
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Err(e) = tick() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = t.elapsed();
    let stderr = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    if !status.success() {
        bail!("weir failed ({status}): {stderr}");
    }
    Ok(ProcessRun {
        wall,
        cpu,
        peak_rss: peak,
        stderr,
    })
}

/// The lines of a job's output directory (part files; hidden in-progress
/// files skipped), read as a stream: their number and an order-independent
/// digest (the wrapping sum of each line's XXH3), to compare with the
/// updates a job must write.
pub(super) fn digest_output(dir: &Path) -> Result<(u64, u64)> {
    digest_output_where(dir, |_| true)
}

/// [`digest_output`] over the lines `keep` accepts.
pub(super) fn digest_output_where(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<(u64, u64)> {
    use std::io::BufRead;
    let (mut lines, mut digest) = (0u64, 0u64);
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        for l in std::io::BufReader::new(std::fs::File::open(&p)?).lines() {
            let l = l?;
            if keep(&l) {
                lines += 1;
                digest = digest.wrapping_add(xxhash_rust::xxh3::xxh3_64(l.as_bytes()));
            }
        }
    }
    Ok((lines, digest))
}

/// A job file run as a whole process beside its native twin.
pub(super) struct WholeRun<'a> {
    /// The `weir` binary (this one when `None`).
    pub weir: Option<&'a Path>,
    pub job: &'a Path,
    pub input: &'a Path,
    /// The job's output directory (emptied before each run).
    pub out: &'a Path,
    /// The output the job must write: line count and digest
    /// ([`digest_output`]).
    pub want: (u64, u64),
    pub runs: u32,
}

/// Best of `runs` of the native side (`native` returns its unit count:
/// tokens, events) and of `weir run <job> --input <input> --output <out>`,
/// alternately; every job run's output is checked against `want`.
pub(super) fn best_of(
    r: &WholeRun<'_>,
    mut native: impl FnMut() -> Result<u64>,
) -> Result<(super::Measured, super::Measured)> {
    let (mut best_native, mut best_weir): (Option<super::Measured>, Option<super::Measured>) =
        (None, None);
    for run in 0..r.runs {
        let n = super::measure(&mut native)?;
        let _ = std::fs::remove_dir_all(r.out);
        let args: Vec<OsString> = vec![
            "run".into(),
            r.job.into(),
            "--input".into(),
            r.input.into(),
            "--output".into(),
            r.out.into(),
            "--quiet".into(),
        ];
        let p = run_weir(r.weir, &args)?;
        let got = digest_output(r.out)?;
        if got != r.want {
            bail!(
                "the job's output differs from the native one: {} lines (want {}), digest {:x} (want {:x})",
                got.0,
                r.want.0,
                got.1,
                r.want.1
            );
        }
        let w = super::Measured {
            wall: p.wall,
            cpu: p.cpu,
            peak_rss: Some(p.peak_rss),
            tokens: n.tokens,
        };
        eprintln!(
            "run {}: native {:.3} s, weir run {:.3} s",
            run + 1,
            n.wall.as_secs_f64(),
            w.wall.as_secs_f64()
        );
        if best_native.as_ref().is_none_or(|m| n.wall < m.wall) {
            best_native = Some(n);
        }
        if best_weir.as_ref().is_none_or(|m| w.wall < m.wall) {
            best_weir = Some(w);
        }
    }
    let _ = std::fs::remove_dir_all(r.out);
    match (best_native, best_weir) {
        (Some(n), Some(w)) => Ok((n, w)),
        _ => bail!("no runs"),
    }
}
