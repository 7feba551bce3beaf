//! The local control endpoint of jobs on the embedded runner: while a job
//! runs, `weir run` registers it in a runtime directory (a JSON file and a
//! Unix socket named by the job id), and `weir list`, `weir savepoint` and
//! `weir stop` talk to it. The cluster's coordinator will offer the same
//! operations over its REST API.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use weir_control::{JobControl, Request, Response, Status};
use weir_runtime::JobHandle;

/// Where running jobs register: `$WEIR_RUNTIME_DIR`, else
/// `$XDG_RUNTIME_DIR/weir`, else `<tmp>/weir-<user>`.
pub fn runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WEIR_RUNTIME_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(d).join("weir");
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("weir-{user}"))
}

/// A running job as registered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobInfo {
    /// Job id (what `weir savepoint` takes).
    pub id: String,
    /// Job name.
    pub name: String,
    /// The job file.
    pub job_file: String,
    /// Process id of `weir run`.
    pub pid: u32,
    /// When it started, ms since the epoch.
    pub started_ms: i64,
    /// Where savepoints go unless `--dir` says otherwise.
    pub savepoint_dir: String,
}

/// The job's side of the protocol: its handle and default savepoint
/// directory.
struct Served {
    handle: Arc<JobHandle>,
    default_dir: PathBuf,
}

impl JobControl for Served {
    fn status(&self) -> Status {
        let s = self.handle.status();
        Status {
            source_records: s.source_records,
            checkpoints: s.checkpoints.completed,
            restarts: s.restarts,
        }
    }

    fn cancel(&self) {
        self.handle.cancel();
    }

    fn savepoint(&self, dir: Option<PathBuf>, stop: bool) -> Result<PathBuf, String> {
        let dir = dir.unwrap_or_else(|| self.default_dir.clone());
        match self
            .handle
            .savepoint(dir, stop)
            .recv_timeout(Duration::from_secs(600))
        {
            Ok(r) => r,
            Err(_) => Err("the job ended before the savepoint completed".into()),
        }
    }
}

/// A job's registration; removed when dropped.
pub struct Registration {
    /// The job's id.
    pub id: String,
    json: PathBuf,
    sock: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn new_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = fnv1a(&format!("{t}-{}", std::process::id()));
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

fn fnv1a(s: &str) -> u64 {
    // FNV-1a: a job id only needs to be unlikely to collide on one host.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Registration {
    /// Registers a running job and serves its control socket.
    pub fn start(
        name: &str,
        job_file: &Path,
        handle: Arc<JobHandle>,
        savepoint_dir: PathBuf,
    ) -> Result<Self> {
        let dir = runtime_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the runtime directory {}", dir.display()))?;
        let id = new_id();
        let sock = dir.join(format!("{id}.sock"));
        let json = dir.join(format!("{id}.json"));
        let listener = UnixListener::bind(&sock)
            .with_context(|| format!("creating the control socket {}", sock.display()))?;
        listener.set_nonblocking(true)?;
        let info = JobInfo {
            id: id.clone(),
            name: name.to_owned(),
            job_file: job_file.display().to_string(),
            pid: std::process::id(),
            started_ms: weir_connectors::now_ms(),
            savepoint_dir: savepoint_dir.display().to_string(),
        };
        std::fs::write(&json, serde_json::to_vec_pretty(&info)?)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("weir-control".into())
                .spawn(move || serve(listener, handle, savepoint_dir, stop))?
        };
        Ok(Registration {
            id,
            json,
            sock,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.sock);
        let _ = std::fs::remove_file(&self.json);
    }
}

fn serve(
    listener: UnixListener,
    handle: Arc<JobHandle>,
    default_dir: PathBuf,
    stop: Arc<AtomicBool>,
) {
    let served = Served {
        handle,
        default_dir,
    };
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                if let Err(e) = weir_control::serve_one(BufReader::new(&stream), &stream, &served) {
                    tracing::warn!("control request failed: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!("control socket: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn request(id: &str, req: &Request) -> Result<Response> {
    let sock = runtime_dir().join(format!("{id}.sock"));
    if !sock.exists() {
        bail!("no running job with id '{id}' (see `weir list`)");
    }
    let stream = UnixStream::connect(&sock)
        .with_context(|| format!("job '{id}' does not answer (it may have ended)"))?;
    let r =
        weir_control::call(&stream, BufReader::new(&stream), req).map_err(anyhow::Error::msg)?;
    if !r.ok {
        bail!("{}", r.error.unwrap_or_else(|| "the job refused".into()));
    }
    Ok(r)
}

/// `weir list`: running jobs with their progress.
pub fn list() -> Result<()> {
    let dir = runtime_dir();
    let mut infos: Vec<JobInfo> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .filter_map(|b| serde_json::from_slice(&b).ok())
                .collect()
        })
        .unwrap_or_default();
    infos.sort_by_key(|i| i.started_ms);
    let mut shown = 0;
    for info in infos {
        match request(&info.id, &Request::Status) {
            Ok(s) => {
                if shown == 0 {
                    println!(
                        "{:<14} {:<24} {:>8} {:>10} {:>14} {:>11} {:>8}",
                        "ID", "NAME", "PID", "RUNNING", "RECORDS READ", "CHECKPOINTS", "RESTARTS"
                    );
                }
                shown += 1;
                let secs = (weir_connectors::now_ms() - info.started_ms).max(0) / 1000;
                println!(
                    "{:<14} {:<24} {:>8} {:>9}s {:>14} {:>11} {:>8}",
                    info.id, info.name, info.pid, secs, s.source_records, s.checkpoints, s.restarts
                );
            }
            Err(_) => {
                // A job that died without cleaning up (kill -9).
                let _ = std::fs::remove_file(dir.join(format!("{}.json", info.id)));
                let _ = std::fs::remove_file(dir.join(format!("{}.sock", info.id)));
            }
        }
    }
    if shown == 0 {
        println!("no running jobs");
    }
    Ok(())
}

/// `weir savepoint <id>` and `weir stop --savepoint <id>`: prints the
/// savepoint's path.
pub fn savepoint(id: &str, dir: Option<&Path>, stop: bool) -> Result<()> {
    let dir = dir
        .map(|d| weir_checkpoint::absolute(d).with_context(|| format!("resolving {}", d.display())))
        .transpose()?;
    let r = request(
        id,
        &Request::Savepoint {
            dir: dir.map(|d| d.display().to_string()),
            stop,
        },
    )?;
    println!("{}", r.path.unwrap_or_default());
    Ok(())
}

/// `weir cancel <id>`: stops a job without a savepoint.
pub fn cancel(id: &str) -> Result<()> {
    request(id, &Request::Cancel)?;
    println!("cancelled {id}");
    Ok(())
}
