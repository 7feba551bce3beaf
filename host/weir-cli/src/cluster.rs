//! The cluster from the command line: `weir coordinator` and `weir worker`
//! in the foreground, `weir cluster start | add-worker | stop` in the
//! background, and `weir package | submit | upload` plus the cluster side
//! of `list | savepoint | stop | cancel`.

use crate::rest_client::{Rest, base_url};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_cluster::coordinator::CoordinatorConfig;
use weir_cluster::worker::WorkerConfig;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-net")
        .build()
        .context("starting the network runtime")
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `weir coordinator`: runs in the foreground; writes
/// `<data-dir>/addresses.json` once it listens.
/// How `weir coordinator` was asked to run.
pub struct CoordinatorOptions {
    pub rest: SocketAddr,
    pub rpc: SocketAddr,
    pub data_dir: PathBuf,
    pub storage_dir: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
    pub auth_token_file: Option<PathBuf>,
    pub auth_reads: bool,
    pub tls: TlsArgs,
}

fn token(file: Option<&Path>) -> Result<Option<weir_cluster::auth::AuthToken>> {
    Ok(file
        .map(weir_cluster::auth::AuthToken::from_file)
        .transpose()?)
}

pub fn coordinator(o: CoordinatorOptions) -> Result<()> {
    let data_dir = std::path::absolute(&o.data_dir)?;
    let mut cfg = CoordinatorConfig::local(data_dir.clone());
    cfg.rest = o.rest;
    cfg.rpc = o.rpc;
    cfg.storage = o
        .storage_dir
        .as_deref()
        .map(weir_checkpoint::absolute)
        .transpose()?;
    cfg.log_file = o.log_file.map(std::path::absolute).transpose()?;
    cfg.auth = token(o.auth_token_file.as_deref())?;
    cfg.auth_reads = o.auth_reads;
    cfg.tls = o.tls.load()?;
    if cfg.auth_reads && cfg.auth.is_none() {
        anyhow::bail!("--auth-reads needs --auth-token-file");
    }
    if let Some(ms) = env_ms("WEIR_HEARTBEAT_TIMEOUT_MS") {
        cfg.heartbeat_timeout = ms;
    }
    let rt = runtime()?;
    let file = data_dir.join("addresses.json");
    let _ = std::fs::remove_file(&file);
    rt.block_on(weir_cluster::coordinator::run(
        cfg,
        move |a| {
            let text = json!({"rest_url": a.rest_url, "rpc": a.rpc.to_string()}).to_string();
            let tmp = file.with_extension("tmp");
            if std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, &file))
                .is_err()
            {
                eprintln!("warning: cannot write {}", file.display());
            }
            eprintln!("coordinator: REST {} , RPC {}", a.rest_url, a.rpc);
        },
        stop_signal(),
    ))?;
    Ok(())
}

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// TLS for a coordinator or worker (`--tls-cert`, `--tls-key`,
/// `--tls-ca`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Serve REST and gRPC over TLS with this certificate chain (PEM).
    #[arg(long, env = "WEIR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "WEIR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates trusted when connecting to the coordinator and
    /// the workers (PEM; default: the web's root CAs).
    #[arg(long, env = "WEIR_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS material, read and checked; none without a certificate.
    fn load(&self) -> Result<Option<weir_cluster::tls::Tls>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            if self.tls_ca.is_some() {
                anyhow::bail!("--tls-ca needs --tls-cert and --tls-key");
            }
            return Ok(None);
        };
        let files = weir_cluster::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: self.tls_ca.clone(),
        };
        Ok(Some(weir_cluster::tls::Tls::load(&files)?))
    }
}

/// How `weir worker` was asked to run.
pub struct WorkerOptions {
    pub slots: Option<u32>,
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub advertise: Option<String>,
    pub log_file: Option<PathBuf>,
    pub auth_token_file: Option<PathBuf>,
    pub metrics_addr: Option<SocketAddr>,
    pub tls: TlsArgs,
}

/// `weir worker`: runs in the foreground.
pub fn worker(coordinator: &str, o: WorkerOptions) -> Result<()> {
    let slots = o
        .slots
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let cfg = WorkerConfig {
        coordinator: coordinator.to_owned(),
        bind: o.bind,
        slots,
        data_dir: std::path::absolute(&o.data_dir)?,
        advertise: o.advertise,
        log_file: o.log_file.map(std::path::absolute).transpose()?,
        auth: token(o.auth_token_file.as_deref())?,
        metrics: o.metrics_addr,
        tls: o.tls.load()?,
    };
    runtime()?.block_on(weir_cluster::worker::run(cfg, stop_signal()))?;
    Ok(())
}

/// The file in a cluster directory naming the token file its processes
/// use.
const TOKEN_PATH: &str = "auth-token-path";

/// Where `weir cluster` keeps its processes' files.
struct ClusterDir {
    dir: PathBuf,
}

impl ClusterDir {
    fn new(dir: &Path) -> Result<Self> {
        let dir = std::path::absolute(dir)?;
        std::fs::create_dir_all(dir.join("log"))
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(ClusterDir { dir })
    }

    fn rpc(&self) -> Result<String> {
        let text = std::fs::read_to_string(self.dir.join("coordinator/addresses.json"))
            .with_context(|| format!("no running cluster in {}", self.dir.display()))?;
        let v: Value = serde_json::from_str(&text)?;
        v["rpc"]
            .as_str()
            .map(str::to_owned)
            .context("addresses.json names no RPC address")
    }

    fn rest_url(&self) -> Result<String> {
        Ok(std::fs::read_to_string(self.dir.join("rest-url"))
            .with_context(|| format!("no running cluster in {}", self.dir.display()))?
            .trim()
            .to_owned())
    }

    fn next_worker(&self) -> u32 {
        (1..)
            .find(|n| !self.dir.join(format!("worker-{n}.pid")).exists())
            .unwrap_or(1)
    }

    /// Starts `weir <args>` in the background, logging to `log/<name>.log`
    /// (what it prints otherwise goes to `log/<name>.out`).
    fn spawn(&self, name: &str, args: &[String]) -> Result<u32> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().context("finding the weir binary")?;
        let logs = self.dir.join("log");
        let _ = std::fs::remove_file(logs.join(format!("{name}.log")));
        let log = std::fs::File::create(logs.join(format!("{name}.out")))?;
        let mut cmd = std::process::Command::new(exe);
        // The cluster's token, if it has one, for every process.
        if let Ok(path) = std::fs::read_to_string(self.dir.join(TOKEN_PATH)) {
            cmd.env("WEIR_AUTH_TOKEN_FILE", path.trim());
        }
        let child = cmd
            .arg("--log-file")
            .arg(logs.join(format!("{name}.log")))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C at the terminal that started
            // the cluster does not stop it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id();
        std::fs::write(self.dir.join(format!("{name}.pid")), pid.to_string())?;
        Ok(pid)
    }

    /// Starts a worker; its name and the file that will name its id.
    fn start_worker(&self, slots: Option<u32>) -> Result<(String, PathBuf)> {
        let n = self.next_worker();
        let name = format!("worker-{n}");
        let id_file = self.dir.join(&name).join(weir_cluster::worker::ID_FILE);
        let _ = std::fs::remove_file(&id_file);
        let mut args = vec![
            "worker".to_owned(),
            "--coordinator".to_owned(),
            self.rpc()?,
            "--data-dir".to_owned(),
            self.dir.join(&name).display().to_string(),
            "--metrics-addr".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        if let Some(s) = slots {
            args.extend(["--slots".to_owned(), s.to_string()]);
        }
        self.spawn(&name, &args)?;
        Ok((name, id_file))
    }
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let started = Instant::now();
    loop {
        if ready()? {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!("{what} did not happen within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the worker whose id file is `id_file` has registered (and
/// beat once).
fn registered(rest: &Rest, id_file: &Path) -> bool {
    let Ok(id) = std::fs::read_to_string(id_file) else {
        return false;
    };
    rest.get("/taskmanagers")
        .ok()
        .and_then(|v| {
            v["taskmanagers"]
                .as_array()
                .map(|tms| tms.iter().any(|t| t["id"].as_str() == Some(id.trim())))
        })
        .unwrap_or(false)
}

/// `weir cluster start`.
pub fn start(
    dir: &Path,
    workers: u32,
    slots: Option<u32>,
    rest_port: u16,
    token_file: Option<&Path>,
) -> Result<()> {
    let d = ClusterDir::new(dir)?;
    if d.dir.join("coordinator.pid").exists() {
        bail!(
            "a cluster is already started in {} (weir cluster stop --dir {})",
            d.dir.display(),
            dir.display()
        );
    }
    let _ = std::fs::remove_file(d.dir.join(TOKEN_PATH));
    if let Some(t) = token_file {
        // Checked now, so a bad file fails here rather than in the logs.
        weir_cluster::auth::AuthToken::from_file(t)?;
        let abs = std::path::absolute(t)?;
        std::fs::write(d.dir.join(TOKEN_PATH), abs.display().to_string())?;
    }
    let _ = std::fs::remove_file(d.dir.join("coordinator/addresses.json"));
    d.spawn(
        "coordinator",
        &[
            "coordinator".into(),
            "--rest-addr".into(),
            format!("127.0.0.1:{rest_port}"),
            "--rpc-addr".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            d.dir.join("coordinator").display().to_string(),
        ],
    )?;
    wait_for("the coordinator's start", Duration::from_secs(30), || {
        Ok(d.dir.join("coordinator/addresses.json").is_file())
    })?;
    let text = std::fs::read_to_string(d.dir.join("coordinator/addresses.json"))?;
    let v: Value = serde_json::from_str(&text)?;
    let url = v["rest_url"].as_str().context("no REST URL")?.to_owned();
    std::fs::write(d.dir.join("rest-url"), format!("{url}\n"))?;
    let mut ids = Vec::new();
    for _ in 0..workers {
        ids.push(d.start_worker(slots)?.1);
    }
    let rest = Rest::new(&url).with_token_file(token_file)?;
    wait_for(
        "every worker's registration",
        Duration::from_secs(60),
        || Ok(ids.iter().all(|f| registered(&rest, f))),
    )?;
    println!("{url}");
    Ok(())
}

/// `weir cluster add-worker`.
pub fn add_worker(dir: &Path, slots: Option<u32>) -> Result<()> {
    let d = ClusterDir::new(dir)?;
    let rest = Rest::new(&d.rest_url()?);
    let (name, id_file) = d.start_worker(slots)?;
    wait_for(
        "the new worker's registration",
        Duration::from_secs(60),
        || Ok(registered(&rest, &id_file)),
    )?;
    println!("{name}");
    Ok(())
}

/// `weir cluster stop`: SIGTERM, then SIGKILL after 10 s.
pub fn stop(dir: &Path) -> Result<()> {
    let d = ClusterDir::new(dir)?;
    let mut pids = Vec::new();
    for e in std::fs::read_dir(&d.dir)?.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "pid") {
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                pids.push(pid);
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    for &pid in &pids {
        signal(pid, libc::SIGTERM);
    }
    let started = Instant::now();
    while pids.iter().any(|&p| alive(p)) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in &pids {
        if alive(pid) {
            signal(pid, libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(d.dir.join("rest-url"));
    eprintln!("stopped {} processes", pids.len());
    Ok(())
}

#[allow(unsafe_code)]
fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid this tool started and recorded; it
    // touches no memory.
    unsafe {
        libc::kill(pid, sig);
    }
}

#[allow(unsafe_code)]
fn alive(pid: i32) -> bool {
    // Reap it if it is our child; then probe with signal 0.
    // SAFETY: waitpid with WNOHANG and kill with signal 0 only query the
    // process table.
    unsafe {
        let mut status = 0;
        libc::waitpid(pid, &mut status, libc::WNOHANG);
        libc::kill(pid, 0) == 0
    }
}

/// Runner options whose values are paths: made absolute, since the
/// coordinator and workers resolve them elsewhere.
const PATH_OPTIONS: [&str; 4] = [
    "--checkpoint-dir",
    "--restore",
    "--from-savepoint",
    "--savepoint-dir",
];

/// The job parameters as workers should see them: path options, and the
/// parameters the job uses in file paths (`paths`), absolute.
fn absolute_args(args: &[String], paths: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        out.push(a.clone());
        let takes_value = a.starts_with("--")
            && !a.contains('=')
            && !matches!(
                a.as_str(),
                "--quiet" | "--overwrite" | "--allow-non-restored-state"
            );
        if takes_value && let Some(v) = args.get(i + 1) {
            let name = a.trim_start_matches("--");
            let is_path = PATH_OPTIONS.contains(&a.as_str()) || paths.iter().any(|p| p == name);
            out.push(absolute_value(v, is_path));
            i += 2;
            continue;
        }
        i += 1;
    }
    out
}

fn absolute_value(v: &str, is_path: bool) -> String {
    let p = Path::new(v);
    if !is_path || v.is_empty() || p.is_absolute() {
        return v.to_owned();
    }
    weir_checkpoint::absolute(p).map_or_else(|_| v.to_owned(), |a| a.display().to_string())
}

/// `weir package`: writes the bundle; its path.
pub fn package(job: &Path, out: Option<&Path>, args: &[String]) -> Result<()> {
    let t = weir_core::args::parse(args)?;
    let bytes = weir_cluster::bundle::package(job, &t.overrides())?;
    let out = out.map_or_else(
        || {
            PathBuf::from(format!(
                "{}.zip",
                job.file_stem()
                    .map_or("job".into(), |s| s.to_string_lossy())
            ))
        },
        Path::to_path_buf,
    );
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", out.display());
    Ok(())
}

/// Uploads the bundle unless the coordinator has it already; its jar id.
fn upload_bundle(rest: &Rest, name: &str, bytes: &[u8]) -> Result<String> {
    let digest = weir_cluster::blobs::sha256_hex(bytes);
    let jars = rest.get("/jars")?;
    if let Some(id) = jars["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["sha256"].as_str() == Some(&digest))
        .and_then(|j| j["id"].as_str())
    {
        return Ok(id.to_owned());
    }
    let v = rest.upload("/jars/upload", "jarfile", name, bytes)?;
    let file = v["filename"]
        .as_str()
        .context("the upload answer names no file")?;
    Ok(file.rsplit('/').next().unwrap_or(file).to_owned())
}

/// `weir submit`.
pub fn submit(job: &Path, coordinator: Option<&str>, wait: bool, params: &[String]) -> Result<()> {
    let args = absolute_args(params, &weir_cluster::bundle::path_parameters(job)?);
    let mut t = weir_core::args::parse(&args)?;
    let parallelism = t.parallelism.take();
    let bytes = weir_cluster::bundle::package(job, &t.overrides())?;
    let rest = Rest::new(&base_url(coordinator));
    let name = format!(
        "{}.zip",
        job.file_stem()
            .map_or("job".into(), |s| s.to_string_lossy())
    );
    let jar = upload_bundle(&rest, &name, &bytes)?;
    let mut body = json!({
        "entryClass": job.file_name().map(|n| n.to_string_lossy().into_owned()),
        "programArgsList": args,
    });
    if let Some(p) = parallelism {
        body["parallelism"] = json!(p);
    }
    let v = rest.post(&format!("/jars/{jar}/run"), &body)?;
    let id = v["jobid"]
        .as_str()
        .context("the answer names no job id")?
        .to_owned();
    if wait {
        follow(&rest, &id)?;
    }
    println!("{id}");
    Ok(())
}

/// Follows a job to its end; an error unless it FINISHED.
fn follow(rest: &Rest, id: &str) -> Result<()> {
    let mut last = String::new();
    loop {
        let v = rest.get(&format!("/jobs/{id}"))?;
        let mut state = v["state"].as_str().unwrap_or("UNKNOWN").to_owned();
        let shown = match v["status-message"].as_str() {
            Some(m) => format!("{state} ({m})"),
            None => state.clone(),
        };
        if shown != last {
            eprintln!("job {id}: {shown}");
            last = shown;
        }
        state.make_ascii_uppercase();
        match state.as_str() {
            "FINISHED" => return Ok(()),
            "FAILED" | "CANCELED" => {
                let ex = rest.get(&format!("/jobs/{id}/exceptions"))?;
                let cause = ex["root-exception"]
                    .as_str()
                    .unwrap_or("no exception recorded");
                bail!("job {id} {state}: {cause}");
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `weir upload`: prints the reference a job file can name.
pub fn upload(component: &Path, name: Option<&str>, coordinator: Option<&str>) -> Result<()> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let name = name.map(str::to_owned).unwrap_or_else(|| {
        component
            .file_stem()
            .map_or("component".into(), |s| s.to_string_lossy().into_owned())
    });
    let rest = Rest::new(&base_url(coordinator));
    let v = rest.post_bytes(&format!("/registry/{name}"), &bytes)?;
    let digest = v["digest"].as_str().context("no digest")?;
    println!("registry:{name}@{digest}");
    Ok(())
}

/// `weir list --coordinator`.
pub fn list(coordinator: &str) -> Result<()> {
    let rest = Rest::new(coordinator);
    let v = rest.get("/jobs/overview")?;
    for j in v["jobs"].as_array().into_iter().flatten() {
        println!(
            "{}  {:<10}  {}",
            j["jid"].as_str().unwrap_or(""),
            j["state"].as_str().unwrap_or(""),
            j["name"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// `weir savepoint | stop --coordinator`: prints the savepoint's path.
pub fn savepoint(coordinator: &str, id: &str, dir: Option<&Path>, stop: bool) -> Result<()> {
    let rest = Rest::new(coordinator);
    let dir = dir.map(weir_checkpoint::absolute).transpose()?;
    let v = if stop {
        rest.post(
            &format!("/jobs/{id}/stop"),
            &json!({"targetDirectory": dir, "drain": false}),
        )?
    } else {
        rest.post(
            &format!("/jobs/{id}/savepoints"),
            &json!({"target-directory": dir, "cancel-job": false}),
        )?
    };
    let rid = v["request-id"].as_str().context("no request id")?;
    loop {
        let s = rest.get(&format!("/jobs/{id}/savepoints/{rid}"))?;
        if s["status"]["id"] == "COMPLETED" {
            if let Some(loc) = s["operation"]["location"].as_str() {
                println!("{}", loc.strip_prefix("file:").unwrap_or(loc));
                return Ok(());
            }
            bail!(
                "the savepoint failed: {}",
                s["operation"]["failure-cause"]["stack-trace"]
                    .as_str()
                    .unwrap_or("unknown")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `weir cancel --coordinator`.
pub fn cancel(coordinator: &str, id: &str) -> Result<()> {
    Rest::new(coordinator).patch(&format!("/jobs/{id}?mode=cancel"))?;
    println!("cancelled {id}");
    Ok(())
}
