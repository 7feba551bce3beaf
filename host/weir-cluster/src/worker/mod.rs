//! A worker (Flink's TaskManager): registers its slots with the
//! coordinator, heartbeats, runs the sub-tasks it is given (a
//! [`Deployment`] per attempt), moves their data to and from other
//! workers, and reports to the coordinator in order.

mod metrics;

use crate::blobs::Blobs;
use crate::bundle;
use crate::convert::{command_from, failure_to, report_to, task_from};
use crate::data::{self, Connections, DataService, Outgoing, Subscription};
use crate::ids::random_id;
use crate::{ClusterError, fingerprint};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};
use weir_core::ErrorDomain;
use weir_core::graph::Overrides;
use weir_proto::v1 as pb;
use weir_runtime::{Command, DeploySpec, Deployment, JobFailure, Restore, RunOptions, TaskId};
use weir_wasm::Runtime;

/// How a worker is started.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The coordinator's RPC address (host:port).
    pub coordinator: String,
    /// Where this worker's services listen (port 0: any free port).
    pub bind: SocketAddr,
    /// Sub-tasks of each chain it runs at once.
    pub slots: u32,
    /// Its local directory (bundles, state, staged checkpoint files).
    pub data_dir: PathBuf,
    /// The host other processes reach it by (default: the bound address's;
    /// set it when binding 0.0.0.0).
    pub advertise: Option<String>,
    /// The file it logs to, served to the coordinator (none: standard
    /// error only).
    pub log_file: Option<PathBuf>,
    /// The cluster's token: sent with every call, needed on every call.
    pub auth: Option<crate::auth::AuthToken>,
    /// Where it serves Prometheus metrics of its sub-tasks (port 0: any
    /// free port, written to `<data_dir>/metrics-addr`); none: not served.
    pub metrics: Option<SocketAddr>,
    /// TLS for its data service and its connections to the coordinator
    /// and the other workers; none: plain HTTP/2.
    pub tls: Option<crate::tls::Tls>,
}

/// The file in a worker's data directory that names its id (written at
/// start, so tools can wait for exactly this worker's registration).
pub const ID_FILE: &str = "worker-id";

type AttemptKey = (String, u32);

/// What the driver of an attempt is told.
enum Cmd {
    Run(Command),
    Release,
}

/// One attempt's sub-tasks on this worker.
struct Running {
    commands: crossbeam_channel::Sender<Cmd>,
    counters: Arc<Mutex<Vec<pb::Counter>>>,
    attempt: pb::Attempt,
    /// The job's name and its nodes' ids, for the metrics' labels.
    job_name: String,
    operators: Vec<String>,
    /// Whether each node heads its chain.
    heads: Vec<bool>,
}

/// Everything the worker's services share.
struct State {
    id: String,
    epoch: AtomicU64,
    data_addr: String,
    rt: Arc<Runtime>,
    blobs: Blobs,
    data_dir: PathBuf,
    coordinator: pb::coordinator_client::CoordinatorClient<crate::auth::Authed>,
    outgoing: Arc<Outgoing>,
    conns: Arc<Connections>,
    running: Mutex<HashMap<AttemptKey, Running>>,
    handle: tokio::runtime::Handle,
    log_file: Option<PathBuf>,
}

/// Runs a worker until `shutdown` resolves or its coordinator is gone for
/// good.
pub async fn run(
    cfg: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .map_err(|e| ClusterError::Io(format!("cannot listen on {}: {e}", cfg.bind)))?;
    let local = listener
        .local_addr()
        .map_err(|e| ClusterError::Io(e.to_string()))?;
    let rt = Runtime::new().map_err(|e| ClusterError::Io(format!("Wasm runtime: {e}")))?;
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| ClusterError::Io(format!("{}: {e}", cfg.data_dir.display())))?;
    let blobs = Blobs::open(&cfg.data_dir.join("blobs"), None)
        .map_err(|e| ClusterError::Io(format!("blob cache: {e}")))?;
    let channel = crate::tls::endpoint(&cfg.coordinator, cfg.tls.as_ref())
        .map_err(|e| ClusterError::Config(format!("coordinator address: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let id = random_id();
    std::fs::write(cfg.data_dir.join(ID_FILE), &id)
        .map_err(|e| ClusterError::Io(format!("{}: {e}", cfg.data_dir.display())))?;
    let data_addr = match &cfg.advertise {
        Some(host) => format!("{host}:{}", local.port()),
        None => local.to_string(),
    };
    let state = Arc::new(State {
        id,
        epoch: AtomicU64::new(0),
        data_addr,
        rt,
        blobs,
        data_dir: cfg.data_dir.clone(),
        coordinator: pb::coordinator_client::CoordinatorClient::with_interceptor(
            channel,
            crate::auth::Attach::new(cfg.auth.as_ref()),
        )
        .max_decoding_message_size(data::MAX_FRAME),
        outgoing: Arc::new(Outgoing::default()),
        conns: Arc::new(Connections::new(cfg.auth.as_ref(), cfg.tls.as_ref())),
        running: Mutex::new(HashMap::new()),
        handle: tokio::runtime::Handle::current(),
        log_file: cfg.log_file.clone(),
    });
    let mut server = tonic::transport::Server::builder();
    if let Some(t) = &cfg.tls {
        server = server
            .tls_config(t.server())
            .map_err(|e| ClusterError::Config(format!("TLS: {e}")))?;
    }
    let server = server
        .initial_stream_window_size(data::STREAM_WINDOW)
        .initial_connection_window_size(data::CONNECTION_WINDOW)
        .tcp_nodelay(true)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            pb::worker_server::WorkerServer::new(WorkerService {
                state: state.clone(),
            })
            .max_decoding_message_size(data::MAX_FRAME),
            crate::auth::Check::new(cfg.auth.as_ref()),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            pb::data_server::DataServer::new(DataService::new(state.outgoing.clone()))
                .max_decoding_message_size(data::MAX_FRAME)
                .max_encoding_message_size(data::MAX_FRAME),
            crate::auth::Check::new(cfg.auth.as_ref()),
        ))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tracing::info!("worker {} listening on {local}", state.id);
    if let Some(addr) = cfg.metrics {
        metrics::serve(state.clone(), addr).await?;
    }
    let session = stay_registered(state.clone(), cfg.slots);
    tokio::select! {
        r = server => r.map_err(|e| ClusterError::Io(format!("worker server: {e}")))?,
        () = session => {}
        () = shutdown => {}
    }
    cancel_all(&state);
    Ok(())
}

/// Registers, heartbeats, and registers again whenever the coordinator
/// loses this worker (its attempts are cancelled then: a worker without a
/// coordinator fences itself).
async fn stay_registered(state: Arc<State>, slots: u32) {
    let mut refused = false;
    let mut failed = 0u32;
    loop {
        match register(&state, slots).await {
            Ok(reply) => {
                failed = 0;
                state.epoch.store(reply.epoch, Ordering::SeqCst);
                tracing::info!("registered with the coordinator (epoch {})", reply.epoch);
                let interval =
                    Duration::from_millis(u64::from(reply.heartbeat_interval_ms.max(10)));
                if let Err(e) = heartbeat(&state, interval).await {
                    tracing::warn!("lost the coordinator: {e}");
                }
                cancel_all(&state);
            }
            Err(e) if e.code() == tonic::Code::Unauthenticated => {
                if !refused {
                    tracing::warn!("the coordinator refused this worker: {}", e.message());
                }
                refused = true;
            }
            Err(e) => {
                // Said once, then every 30 s: a coordinator that is still
                // starting is normal, one never reached is not.
                if failed % 150 == 5 {
                    tracing::warn!("cannot register with the coordinator: {e}");
                } else {
                    tracing::debug!("cannot register yet: {e}");
                }
                failed += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn register(state: &State, slots: u32) -> Result<pb::RegisterResponse, Status> {
    let mut client = state.coordinator.clone();
    let reply = client
        .register(pb::RegisterRequest {
            worker_id: state.id.clone(),
            addr: state.data_addr.clone(),
            slots,
            version: env!("CARGO_PKG_VERSION").into(),
            cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            physical_memory: physical_memory(),
            data_port: state
                .data_addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
        })
        .await?;
    Ok(reply.into_inner())
}

fn physical_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Beats until the stream breaks or the coordinator no longer knows this
/// worker.
async fn heartbeat(state: &Arc<State>, interval: Duration) -> Result<(), String> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut client = state.coordinator.clone();
    let beats = state.clone();
    let sender = tokio::spawn(async move {
        loop {
            let beat = pb::Beat {
                worker_id: beats.id.clone(),
                epoch: beats.epoch.load(Ordering::SeqCst),
                attempts: statuses(&beats),
                network_bytes_out: beats.outgoing.bytes_out.load(Ordering::Relaxed),
            };
            if tx.send(beat).await.is_err() {
                return;
            }
            tokio::time::sleep(interval).await;
        }
    });
    let result = async {
        let mut replies = client
            .heartbeat(ReceiverStream::new(rx))
            .await
            .map_err(|s| s.message().to_owned())?
            .into_inner();
        loop {
            match replies.message().await {
                Ok(Some(r)) if r.unknown => {
                    return Err("the coordinator does not know this worker".to_owned());
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err("the heartbeat stream ended".to_owned()),
                Err(s) => return Err(s.message().to_owned()),
            }
        }
    }
    .await;
    sender.abort();
    result
}

fn statuses(state: &State) -> Vec<pb::AttemptStatus> {
    let Ok(running) = state.running.lock() else {
        return Vec::new();
    };
    running
        .values()
        .map(|r| pb::AttemptStatus {
            attempt: Some(r.attempt.clone()),
            counters: r.counters.lock().map(|c| c.clone()).unwrap_or_default(),
            network_bytes_out: state.outgoing.bytes_out.load(Ordering::Relaxed),
        })
        .collect()
}

fn cancel_all(state: &State) {
    if let Ok(running) = state.running.lock() {
        for r in running.values() {
            let _ = r.commands.send(Cmd::Run(Command::Stop));
        }
    }
}

struct WorkerService {
    state: Arc<State>,
}

fn key_of(a: &pb::Attempt) -> AttemptKey {
    (a.job_id.clone(), a.attempt)
}

impl WorkerService {
    /// The attempt named, if it is of the current epoch.
    fn check(&self, a: Option<&pb::Attempt>) -> Result<pb::Attempt, Status> {
        let a = a.ok_or_else(|| Status::invalid_argument("no attempt"))?;
        let epoch = self.state.epoch.load(Ordering::SeqCst);
        if a.epoch != epoch {
            return Err(Status::failed_precondition(format!(
                "stale epoch {} (this worker is at {epoch})",
                a.epoch
            )));
        }
        Ok(a.clone())
    }

    fn send(&self, a: &pb::Attempt, cmd: Cmd) -> Result<(), Status> {
        let running = self
            .state
            .running
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        match running.get(&key_of(a)) {
            // An attempt this worker no longer runs (or never did): stale.
            None => Ok(()),
            Some(r) => {
                let _ = r.commands.send(cmd);
                Ok(())
            }
        }
    }
}

#[tonic::async_trait]
impl pb::worker_server::Worker for WorkerService {
    async fn deploy(
        &self,
        request: Request<pb::DeployRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let req = request.into_inner();
        let attempt = self.check(req.attempt.as_ref())?;
        let bundle = fetch_bundle(&self.state, &req.bundle_sha256).await?;
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || deploy(&state, &req, &attempt, &bundle))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|f| Status::aborted(failure_json(&f)))?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn command(
        &self,
        request: Request<pb::CommandRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let req = request.into_inner();
        let a = self.check(req.attempt.as_ref())?;
        let c = req
            .c
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("empty command"))?;
        self.send(&a, Cmd::Run(command_from(c)))?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn cancel(&self, request: Request<pb::Attempt>) -> Result<Response<pb::Empty>, Status> {
        let a = self.check(Some(request.get_ref()))?;
        self.send(&a, Cmd::Run(Command::Stop))?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn release(&self, request: Request<pb::Attempt>) -> Result<Response<pb::Empty>, Status> {
        // Released whatever the epoch: nothing of an old attempt is kept.
        let a = request.into_inner();
        self.send(&a, Cmd::Release)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn read_log(
        &self,
        request: Request<pb::LogRequest>,
    ) -> Result<Response<pb::LogText>, Status> {
        let max = request.into_inner().max_bytes;
        let Some(path) = self.state.log_file.clone() else {
            return Ok(Response::new(pb::LogText::default()));
        };
        let t = tokio::task::spawn_blocking(move || crate::logs::tail(&path, max))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::LogText {
            name: t.name,
            size: t.size,
            modified_ms: t.modified_ms,
            text: t.text,
        }))
    }
}

/// A failure as a deploy error carries it (JSON in the status message).
pub(crate) fn failure_json(f: &JobFailure) -> String {
    let p = failure_to(f);
    serde_json::json!({
        "operator": p.operator, "has_subtask": p.has_subtask, "subtask": p.subtask,
        "parallelism": p.parallelism, "domain": p.domain, "message": p.message,
    })
    .to_string()
}

/// A deploy error's failure.
pub(crate) fn failure_of_status(s: &Status) -> JobFailure {
    let v: Option<serde_json::Value> = serde_json::from_str(s.message()).ok();
    match v {
        Some(v) if s.code() == tonic::Code::Aborted => crate::convert::failure_from(&pb::Failure {
            operator: v["operator"].as_str().unwrap_or_default().into(),
            has_subtask: v["has_subtask"].as_bool().unwrap_or(false),
            subtask: v["subtask"].as_u64().unwrap_or(0) as u32,
            parallelism: v["parallelism"].as_u64().unwrap_or(0) as u32,
            domain: v["domain"].as_str().unwrap_or("external").into(),
            message: v["message"].as_str().unwrap_or_default().into(),
        }),
        _ => JobFailure::job(
            ErrorDomain::External,
            format!("deploying failed: {}", s.message()),
        ),
    }
}

/// The bundle's bytes: cached here, else fetched from the coordinator.
async fn fetch_bundle(state: &State, digest: &str) -> Result<Vec<u8>, Status> {
    if let Some(b) = state
        .blobs
        .get(digest)
        .map_err(|e| Status::internal(e.to_string()))?
    {
        return Ok(b);
    }
    let mut client = state.coordinator.clone();
    let mut chunks = client
        .fetch_blob(pb::BlobRequest {
            sha256: digest.to_owned(),
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(c) = chunks.message().await? {
        bytes.extend_from_slice(&c.data);
        if bytes.len() as u64 > bundle::MAX_BUNDLE_BYTES {
            return Err(Status::resource_exhausted("bundle too large"));
        }
    }
    let got = state
        .blobs
        .put(&bytes)
        .map_err(|e| Status::internal(e.to_string()))?;
    if got != digest {
        return Err(Status::data_loss(format!(
            "bundle {digest} arrived as {got}"
        )));
    }
    Ok(bytes)
}

fn user(message: String) -> JobFailure {
    JobFailure::job(ErrorDomain::User, message)
}

/// Builds the job from the bundle and starts this worker's sub-tasks.
fn deploy(
    state: &Arc<State>,
    req: &pb::DeployRequest,
    attempt: &pb::Attempt,
    bundle_bytes: &[u8],
) -> Result<(), JobFailure> {
    let dir = state.data_dir.join("bundles").join(&req.bundle_sha256);
    let manifest = if dir.join(bundle::MANIFEST).is_file() {
        bundle::manifest(bundle_bytes)
    } else {
        let tmp =
            state
                .data_dir
                .join("bundles")
                .join(format!(".{}-{}", req.bundle_sha256, random_id()));
        let m = bundle::unpack(bundle_bytes, &tmp);
        if m.is_ok() {
            let _ = std::fs::rename(&tmp, &dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        m
    }
    .map_err(|e| user(e.to_string()))?;
    let overrides = overrides_of(req)?;
    let registry_dir = dir.join("registry");
    let graph = bundle::load_job(&dir, &manifest, &req.entry, &overrides, &|name| {
        let p = registry_dir.join(format!("{name}.wasm"));
        p.is_file().then_some(p)
    })
    .map_err(|e| user(e.to_string()))?;
    if fingerprint(&graph) != req.fingerprint {
        return Err(JobFailure::job(
            ErrorDomain::Internal,
            "the job built on this worker differs from the coordinator's (fingerprint mismatch)",
        ));
    }
    let restore = if req.restore_dir.is_empty() {
        None
    } else {
        Some(Restore::load(
            Path::new(&req.restore_dir),
            &graph,
            req.allow_non_restored_state,
        )?)
    };
    let tasks: Vec<TaskId> = req
        .tasks
        .iter()
        .map(|t| task_from(Some(t)))
        .collect::<Result<_, _>>()
        .map_err(|e| JobFailure::job(ErrorDomain::Internal, e.to_string()))?;
    let options = RunOptions {
        batch_bytes: req.batch_bytes.max(1024) as usize,
        channel_capacity: req.channel_capacity.max(1) as usize,
        failing_checkpoints: req.failing_checkpoints.clone(),
        ..RunOptions::default()
    };
    let work = state
        .data_dir
        .join("attempts")
        .join(format!("{}-{}", attempt.job_id, attempt.attempt));
    let _ = std::fs::remove_dir_all(&work);
    let mut d = Deployment::start(&DeploySpec {
        graph: &graph,
        rt: &state.rt,
        options: &options,
        tasks: Some(&tasks),
        restore: restore.as_ref(),
        work: &work,
    })?;
    let placements: HashMap<TaskId, String> = req
        .placements
        .iter()
        .filter_map(|p| Some((task_from(p.task.as_ref()).ok()?, p.data_addr.clone())))
        .collect();
    let (outgoing, incoming) = d.take_remote_ends();
    for end in outgoing {
        state.outgoing.offer(&attempt.job_id, attempt.attempt, end);
    }
    let failer = d.failer();
    for end in incoming {
        let Some(addr) = placements.get(&end.key.from).cloned() else {
            d.cancel();
            return Err(JobFailure::job(
                ErrorDomain::Internal,
                format!("no placement for sub-task {:?}", end.key.from),
            ));
        };
        let f = failer.clone();
        let sub = Subscription {
            attempt: attempt.clone(),
            addr,
            lost: Arc::new(move |m| f.fail(JobFailure::job(ErrorDomain::External, m))),
        };
        state
            .handle
            .spawn(data::feed(end, sub, state.conns.clone()));
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let counters = Arc::new(Mutex::new(Vec::new()));
    let plan = weir_core::plan::PhysicalPlan::new(&graph);
    let running = Running {
        commands: tx,
        counters: counters.clone(),
        attempt: attempt.clone(),
        job_name: graph.name.clone(),
        operators: graph.nodes.iter().map(|n| n.id.clone()).collect(),
        heads: (0..graph.nodes.len())
            .map(|n| plan.chains[plan.chain_of[n]].nodes.first() == Some(&n))
            .collect(),
    };
    if let Ok(mut r) = state.running.lock() {
        r.insert(key_of(attempt), running);
    }
    let driver = Driver {
        state: state.clone(),
        attempt: attempt.clone(),
        commands: rx,
        counters,
        work,
        nodes: graph.nodes.len(),
        tasks,
        plan,
    };
    std::thread::Builder::new()
        .name(format!("weir-attempt-{}", attempt.attempt))
        .spawn(move || driver.run(d))
        .map_err(|e| {
            JobFailure::job(ErrorDomain::External, format!("cannot start a thread: {e}"))
        })?;
    Ok(())
}

fn overrides_of(req: &pb::DeployRequest) -> Result<Overrides, JobFailure> {
    Ok(Overrides {
        parameters: req
            .parameters
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect(),
        parallelism: (req.parallelism > 0).then_some(req.parallelism),
        checkpoint_interval: (req.checkpoint_interval_ms > 0)
            .then(|| Duration::from_millis(req.checkpoint_interval_ms)),
        checkpoint_dir: (!req.checkpoint_dir.is_empty())
            .then(|| PathBuf::from(&req.checkpoint_dir)),
        state_backend: match req.state_backend.as_str() {
            "" => None,
            "memory" => Some(weir_core::spec::StateBackendKind::Memory),
            "rocksdb" => Some(weir_core::spec::StateBackendKind::Rocksdb),
            other => return Err(user(format!("unknown state backend '{other}'"))),
        },
        state_memory_mb: None,
        fuse_chained_calls: match req.fuse_chained_calls.as_str() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            other => {
                return Err(user(format!(
                    "fuse_chained_calls is true or false, got '{other}'"
                )));
            }
        },
    })
}

/// Runs one attempt's deployment on this worker: commands in, reports out
/// (in order), until the coordinator releases it.
struct Driver {
    state: Arc<State>,
    attempt: pb::Attempt,
    commands: crossbeam_channel::Receiver<Cmd>,
    counters: Arc<Mutex<Vec<pb::Counter>>>,
    work: PathBuf,
    nodes: usize,
    tasks: Vec<TaskId>,
    plan: weir_core::plan::PhysicalPlan,
}

impl Driver {
    fn run(self, mut d: Deployment) {
        let mut stopped = false;
        loop {
            let mut release = false;
            for cmd in self.commands.try_iter() {
                match cmd {
                    Cmd::Run(c) => d.command(c),
                    Cmd::Release => release = true,
                }
            }
            if release {
                break;
            }
            let mut reports: Vec<pb::Report> = d
                .reports(Duration::from_millis(20))
                .iter()
                .map(report_to)
                .collect();
            self.count(&d);
            if !stopped && d.stopped() {
                stopped = true;
                let ended = d.wait();
                reports.extend(d.reports(Duration::ZERO).iter().map(report_to));
                self.count(&d);
                reports.push(pb::Report {
                    r: Some(pb::report::R::Stopped(pb::Stopped {
                        failure: ended.failure.as_ref().map(failure_to),
                        setup_failed: ended.setup_failed,
                        panicked: ended.panicked,
                        counters: self.counters.lock().map(|c| c.clone()).unwrap_or_default(),
                    })),
                });
            }
            if !reports.is_empty() && !self.send(reports) {
                // The coordinator cannot hear this attempt: stop it.
                d.cancel();
            }
        }
        d.cancel();
        d.wait();
        drop(d);
        self.state
            .outgoing
            .release(&self.attempt.job_id, self.attempt.attempt);
        if let Ok(mut r) = self.state.running.lock() {
            r.remove(&key_of(&self.attempt));
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }

    /// Sends reports to the coordinator, in order; whether it took them.
    fn send(&self, reports: Vec<pb::Report>) -> bool {
        let mut client = self.state.coordinator.clone();
        let mut msg = tonic::Request::new(pb::Reports {
            attempt: Some(self.attempt.clone()),
            worker_id: self.state.id.clone(),
            reports,
        });
        msg.set_timeout(Duration::from_secs(30));
        self.state
            .handle
            .block_on(async move { client.report(msg).await })
            .is_ok()
    }

    /// Updates the counters the heartbeat carries (this worker's
    /// sub-tasks only).
    fn count(&self, d: &Deployment) {
        let mut out = Vec::new();
        for node in 0..self.nodes {
            let chain = self.plan.chain_of[node];
            for (s, m) in d.subtask_metrics(node).into_iter().enumerate() {
                if self.tasks.contains(&(chain, s as u32)) {
                    out.push(crate::convert::counter_to(node as u32, s as u32, &m));
                }
            }
        }
        if let Ok(mut c) = self.counters.lock() {
            *c = out;
        }
    }
}
