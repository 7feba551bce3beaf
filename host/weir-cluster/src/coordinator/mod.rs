//! The coordinator (Flink's JobManager: dispatcher, job masters and
//! resource manager in one process): workers register their slots and
//! heartbeat; jobs are submitted through the REST API; each job runs on a
//! thread of its own with the runtime's checkpoint coordinator, its
//! sub-tasks on the workers through a [`ClusterExecutor`].

mod executor;
mod jobs;
pub(crate) mod metrics;
mod rpc;

pub use executor::ClusterExecutor;
pub(crate) use jobs::{
    CheckpointOp, JobEntry, JobState, Refused, SavepointOp, Submission, cancel_all as cancel_jobs,
    checkpoint, now_ms as jobs_now_ms, savepoint, submit,
};

use crate::blobs::Blobs;
use crate::{ClusterError, data};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_proto::v1 as pb;

/// How a coordinator is started.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Where the REST API listens (port 0: any free port).
    pub rest: SocketAddr,
    /// Where workers reach it (port 0: any free port).
    pub rpc: SocketAddr,
    /// Its directory: blobs (bundles), jars, default checkpoint storage.
    pub data_dir: PathBuf,
    /// Durable storage for checkpoints, savepoints and uploaded bundles
    /// and components: a directory or `s3://bucket/prefix` (none: the
    /// data directory). Jobs that name their own checkpoint directory
    /// keep it.
    pub storage: Option<PathBuf>,
    /// How often workers beat.
    pub heartbeat_interval: Duration,
    /// A worker silent this long is lost.
    pub heartbeat_timeout: Duration,
    /// How long a job waits for enough free slots before it fails.
    pub slot_timeout: Duration,
    /// The file it logs to, served at `/jobmanager/log` (none: standard
    /// error only).
    pub log_file: Option<PathBuf>,
    /// With a token, REST calls that change something and every gRPC
    /// call need it.
    pub auth: Option<crate::auth::AuthToken>,
    /// Whether REST reads need the token too.
    pub auth_reads: bool,
    /// TLS for the REST API, gRPC and its connections to workers; none:
    /// plain HTTP.
    pub tls: Option<crate::tls::Tls>,
}

impl CoordinatorConfig {
    /// Where checkpoints, savepoints and blobs go by default.
    pub fn storage_root(&self) -> PathBuf {
        self.storage
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    /// Defaults on 127.0.0.1: REST on 8081, RPC on 6123.
    pub fn local(data_dir: PathBuf) -> Self {
        CoordinatorConfig {
            rest: SocketAddr::from(([127, 0, 0, 1], 8081)),
            rpc: SocketAddr::from(([127, 0, 0, 1], 6123)),
            data_dir,
            storage: None,
            heartbeat_interval: Duration::from_millis(500),
            heartbeat_timeout: Duration::from_secs(10),
            slot_timeout: Duration::from_secs(300),
            log_file: None,
            auth: None,
            auth_reads: false,
            tls: None,
        }
    }
}

/// A registered worker.
pub(crate) struct WorkerEntry {
    pub(crate) id: String,
    pub(crate) addr: String,
    pub(crate) slots: u32,
    /// Slots given to running attempts, by job.
    pub(crate) used: HashMap<String, u32>,
    pub(crate) cpu_cores: u32,
    pub(crate) physical_memory: u64,
    pub(crate) data_port: u32,
    pub(crate) last_beat: Instant,
    pub(crate) client: pb::worker_client::WorkerClient<crate::auth::Authed>,
    /// The latest status of each attempt it runs.
    pub(crate) statuses: HashMap<(String, u32), pb::AttemptStatus>,
    /// Frame bytes it sent to other workers so far.
    pub(crate) network_bytes_out: u64,
    /// Set by its first heartbeat of this epoch: it knows the epoch, so
    /// it accepts deployments.
    pub(crate) ready: bool,
}

impl WorkerEntry {
    pub(crate) fn free_slots(&self) -> u32 {
        if !self.ready {
            return 0;
        }
        self.slots.saturating_sub(self.used.values().sum())
    }
}

/// A stored application bundle (a "jar").
#[derive(Debug, Clone)]
pub(crate) struct Jar {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) uploaded_ms: i64,
    pub(crate) digest: String,
    pub(crate) entries: Vec<String>,
}

/// What the coordinator's services share.
pub struct Cluster {
    pub(crate) epoch: u64,
    pub(crate) cfg: CoordinatorConfig,
    pub(crate) blobs: Blobs,
    pub(crate) workers: Mutex<BTreeMap<String, WorkerEntry>>,
    /// Workers lost since start (ids), so their jobs notice.
    pub(crate) lost: Mutex<Vec<String>>,
    pub(crate) jobs: Mutex<Vec<Arc<JobEntry>>>,
    pub(crate) jars: Mutex<Vec<Jar>>,
    /// Uploaded components: name → (digest, uploaded), newest last.
    pub(crate) registry: Mutex<BTreeMap<String, Vec<(String, i64)>>>,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) rest_url: Mutex<String>,
}

impl Cluster {
    /// The job with id `id`.
    pub(crate) fn job(&self, id: &str) -> Option<Arc<JobEntry>> {
        self.jobs.lock().ok()?.iter().find(|j| j.id == id).cloned()
    }

    /// Forgets a worker (dead or gone); its jobs' attempts fail.
    pub(crate) fn lose_worker(&self, id: &str, why: &str) {
        let removed = self.workers.lock().ok().and_then(|mut w| w.remove(id));
        if let Some(w) = removed {
            tracing::warn!("worker {id} ({}) lost: {why}", w.addr);
            if let Ok(mut l) = self.lost.lock() {
                l.push(id.to_owned());
            }
        }
    }

    /// Whether worker `id` is registered.
    pub(crate) fn alive(&self, id: &str) -> bool {
        self.workers.lock().is_ok_and(|w| w.contains_key(id))
    }

    /// Total and free slots over live workers.
    pub(crate) fn slots(&self) -> (u32, u32) {
        self.workers.lock().map_or((0, 0), |w| {
            (
                w.values().filter(|w| w.ready).map(|w| w.slots).sum(),
                w.values().map(WorkerEntry::free_slots).sum(),
            )
        })
    }

    /// Workers ready to take sub-tasks.
    pub(crate) fn ready_workers(&self) -> usize {
        self.workers
            .lock()
            .map_or(0, |w| w.values().filter(|w| w.ready).count())
    }
}

/// Stores an uploaded bundle (checked first) as a jar.
pub(crate) fn store_jar(cluster: &Cluster, name: &str, bytes: &[u8]) -> Result<Jar, Refused> {
    let manifest = crate::bundle::manifest(bytes).map_err(|e| Refused {
        status: 400,
        message: format!("{name}: {e} (make one with `weir package <job file>`)"),
    })?;
    let digest = cluster.blobs.put(bytes).map_err(|e| Refused {
        status: 500,
        message: format!("cannot store the upload: {e}"),
    })?;
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let jar = Jar {
        id: format!("{}_{safe}", crate::ids::random_id()),
        name: name.to_owned(),
        uploaded_ms: jobs_now_ms(),
        digest,
        entries: manifest.entries,
    };
    if let Ok(mut jars) = cluster.jars.lock() {
        jars.push(jar.clone());
    }
    Ok(jar)
}

/// The stored component `reference` names (`name` or `name@digest`): its
/// digest.
pub(crate) fn registry_digest(cluster: &Cluster, reference: &str) -> Option<String> {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let reg = cluster.registry.lock().ok()?;
    let versions = reg.get(name)?;
    match digest {
        Some(d) => versions
            .iter()
            .find(|(v, _)| v == d)
            .map(|(v, _)| v.clone()),
        None => versions.last().map(|(v, _)| v.clone()),
    }
}

/// A running coordinator: its addresses.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The REST API's base URL.
    pub rest_url: String,
    /// The RPC address workers connect to.
    pub rpc: SocketAddr,
}

/// Runs a coordinator until `shutdown` resolves; `ready` hears its
/// addresses once it listens.
pub async fn run(
    cfg: CoordinatorConfig,
    ready: impl FnOnce(Addresses),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    run_with(cfg, |a, _| ready(a), shutdown).await
}

/// [`run`], also handing over the coordinator's state (in-process
/// clusters use it).
pub(crate) async fn run_with(
    cfg: CoordinatorConfig,
    ready: impl FnOnce(Addresses, Arc<Cluster>),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| ClusterError::Io(format!("{}: {e}", cfg.data_dir.display())))?;
    let remote_blobs = cfg
        .storage
        .as_ref()
        .filter(|s| weir_checkpoint::is_remote(s))
        .map(|s| s.join("blobs"));
    let blobs = Blobs::open(&cfg.data_dir.join("blobs"), remote_blobs)
        .map_err(|e| ClusterError::Io(format!("blob store: {e}")))?;
    let rpc_listener = tokio::net::TcpListener::bind(cfg.rpc)
        .await
        .map_err(|e| ClusterError::Io(format!("cannot listen on {}: {e}", cfg.rpc)))?;
    let rest_listener = tokio::net::TcpListener::bind(cfg.rest)
        .await
        .map_err(|e| ClusterError::Io(format!("cannot listen on {}: {e}", cfg.rest)))?;
    let rpc_addr = rpc_listener
        .local_addr()
        .map_err(|e| ClusterError::Io(e.to_string()))?;
    let rest_addr = rest_listener
        .local_addr()
        .map_err(|e| ClusterError::Io(e.to_string()))?;
    let epoch = epoch_after(&cfg.data_dir);
    let scheme = crate::tls::scheme(cfg.tls.as_ref());
    let cluster = Arc::new(Cluster {
        epoch,
        cfg: cfg.clone(),
        blobs,
        workers: Mutex::new(BTreeMap::new()),
        lost: Mutex::new(Vec::new()),
        jobs: Mutex::new(Vec::new()),
        jars: Mutex::new(Vec::new()),
        registry: Mutex::new(BTreeMap::new()),
        handle: tokio::runtime::Handle::current(),
        rest_url: Mutex::new(format!("{scheme}://{rest_addr}")),
    });
    let mut rpc = tonic::transport::Server::builder();
    if let Some(t) = &cfg.tls {
        rpc = rpc
            .tls_config(t.server())
            .map_err(|e| ClusterError::Config(format!("TLS: {e}")))?;
    }
    let rpc = rpc
        .add_service(tonic::service::interceptor::InterceptedService::new(
            pb::coordinator_server::CoordinatorServer::new(rpc::CoordinatorService {
                cluster: cluster.clone(),
            })
            .max_decoding_message_size(data::MAX_FRAME),
            crate::auth::Check::new(cluster.cfg.auth.as_ref()),
        ))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(rpc_listener));
    let rest = serve_rest(rest_listener, cluster.clone());
    let watchdog = rpc::watch_heartbeats(cluster.clone());
    tracing::info!("coordinator: REST {scheme}://{rest_addr}, RPC {rpc_addr}, epoch {epoch}");
    ready(
        Addresses {
            rest_url: format!("{scheme}://{rest_addr}"),
            rpc: rpc_addr,
        },
        cluster.clone(),
    );
    tokio::select! {
        r = rpc => r.map_err(|e| ClusterError::Io(format!("RPC server: {e}")))?,
        r = rest => r?,
        () = watchdog => {}
        () = shutdown => {}
    }
    jobs::cancel_all(&cluster);
    Ok(())
}

/// Serves the REST API and the dashboard on `listener`, over TLS when the
/// coordinator has it.
async fn serve_rest(
    listener: tokio::net::TcpListener,
    cluster: Arc<Cluster>,
) -> Result<(), ClusterError> {
    let router = crate::rest::router(cluster.clone());
    let failed = |e: std::io::Error| ClusterError::Io(format!("REST server: {e}"));
    let Some(tls) = &cluster.cfg.tls else {
        return axum::serve(listener, router).await.map_err(failed);
    };
    let config = tls.rest().await?;
    let listener = listener.into_std().map_err(failed)?;
    axum_server::from_tcp_rustls(listener, config)
        .map_err(failed)?
        .serve(router.into_make_service())
        .await
        .map_err(failed)
}

/// The next epoch: one more than the last this data directory saw, so a
/// restarted coordinator fences what its predecessor started.
fn epoch_after(dir: &std::path::Path) -> u64 {
    let path = dir.join("epoch");
    let last: u64 = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let next = last + 1;
    if let Err(e) = std::fs::write(&path, next.to_string()) {
        tracing::warn!("cannot record the epoch in {}: {e}", path.display());
    }
    next
}
