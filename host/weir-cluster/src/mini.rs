//! A whole cluster in this process (Flink's MiniCluster): a coordinator
//! and workers on their own ports, talking gRPC over loopback exactly as
//! separate processes do. For tests and benchmarks.

use crate::coordinator::{self, Cluster, CoordinatorConfig, JobState, Submission};
use crate::worker::{self, WorkerConfig};
use crate::{ClusterError, bundle};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_runtime::JobFailure;

/// A coordinator and workers in this process; stopped when dropped.
pub struct MiniCluster {
    rt: Option<tokio::runtime::Runtime>,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    cluster: Arc<Cluster>,
    /// The REST API's base URL.
    pub rest_url: String,
    /// The coordinator's RPC address.
    pub rpc: std::net::SocketAddr,
}

/// How a job ended.
#[derive(Debug)]
pub struct Outcome {
    /// Flink's name of its final state (`FINISHED`, `FAILED`, ...).
    pub state: String,
    /// Every failure it went through, oldest first.
    pub failures: Vec<JobFailure>,
}

impl MiniCluster {
    /// Starts a coordinator and `workers` workers of `slots` slots, with
    /// their directories under `dir`; returns once all registered.
    pub fn start(dir: &Path, workers: u32, slots: u32) -> Result<MiniCluster, ClusterError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(2)
            .thread_name("weir-mini")
            .build()
            .map_err(|e| ClusterError::Io(e.to_string()))?;
        let mut cfg = CoordinatorConfig::local(dir.join("coordinator"));
        cfg.rest = ([127, 0, 0, 1], 0).into();
        cfg.rpc = ([127, 0, 0, 1], 0).into();
        cfg.heartbeat_interval = Duration::from_millis(100);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let r = coordinator::run_with(
                cfg,
                move |a, c| {
                    let _ = ready_tx.send((a, c));
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await;
            if let Err(e) = r {
                tracing::error!("coordinator: {e}");
            }
        });
        let (addresses, cluster) = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| ClusterError::Io("the coordinator did not start".into()))?;
        let mut stop = vec![stop_tx];
        for n in 0..workers {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            stop.push(tx);
            let wcfg = WorkerConfig {
                tls: None,
                coordinator: addresses.rpc.to_string(),
                bind: ([127, 0, 0, 1], 0).into(),
                slots,
                data_dir: dir.join(format!("worker-{n}")),
                advertise: None,
                log_file: None,
                auth: None,
                metrics: None,
            };
            rt.spawn(async move {
                if let Err(e) = worker::run(wcfg, async {
                    let _ = rx.await;
                })
                .await
                {
                    tracing::error!("worker: {e}");
                }
            });
        }
        let mini = MiniCluster {
            rt: Some(rt),
            stop,
            cluster,
            rest_url: addresses.rest_url,
            rpc: addresses.rpc,
        };
        let started = Instant::now();
        while mini.workers() < workers as usize {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(ClusterError::Io("the workers did not register".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(mini)
    }

    /// Registered workers ready for sub-tasks.
    pub fn workers(&self) -> usize {
        self.cluster.ready_workers()
    }

    /// Packages `job` and runs it with `args` (as `weir submit` would);
    /// its id.
    pub fn submit(&self, job: &Path, args: &[String]) -> Result<String, String> {
        let t = weir_core::args::parse(args).map_err(|e| e.to_string())?;
        let bytes = bundle::package(job, &t.overrides()).map_err(|e| e.to_string())?;
        let jar =
            coordinator::store_jar(&self.cluster, "job.zip", &bytes).map_err(|r| r.message)?;
        coordinator::submit(
            &self.cluster,
            Submission {
                jar,
                entry: job.file_name().map(|n| n.to_string_lossy().into_owned()),
                args: args.to_vec(),
                parallelism: None,
                savepoint_path: None,
                allow_non_restored_state: false,
            },
        )
        .map_err(|r| r.message)
    }

    /// Waits up to `timeout` for job `id` to end.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<Outcome, String> {
        let job = self.cluster.job(id).ok_or("no such job")?;
        let started = Instant::now();
        while !job.state().is_terminal() {
            if started.elapsed() > timeout {
                return Err(format!("still {} after {timeout:?}", job.state().name()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Outcome {
            state: job.state().name().to_owned(),
            failures: job
                .inner
                .lock()
                .map(|i| i.exceptions.iter().map(|(_, f)| f.clone()).collect())
                .unwrap_or_default(),
        })
    }

    /// Whether job `id` is running (deployed on the workers).
    pub fn running(&self, id: &str) -> bool {
        self.cluster
            .job(id)
            .is_some_and(|j| j.state() == JobState::Running)
    }

    /// Frame bytes the workers sent each other so far (as of their last
    /// heartbeats).
    pub fn network_bytes(&self) -> u64 {
        self.cluster
            .workers
            .lock()
            .map_or(0, |w| w.values().map(|w| w.network_bytes_out).sum())
    }

    /// The data addresses of the workers (where their Worker and Data
    /// services listen).
    pub fn worker_addrs(&self) -> Vec<String> {
        self.cluster
            .workers
            .lock()
            .map(|w| w.values().map(|w| w.addr.clone()).collect())
            .unwrap_or_default()
    }

    /// The coordinator's epoch.
    pub fn epoch(&self) -> u64 {
        self.cluster.epoch
    }

    /// Reports of other attempts (or epochs) the coordinator dropped for
    /// job `id`.
    pub fn stale_reports(&self, id: &str) -> u64 {
        self.cluster
            .job(id)
            .map_or(0, |j| j.stale.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The current attempt of job `id`.
    pub fn attempt(&self, id: &str) -> Option<u32> {
        self.cluster
            .job(id)
            .and_then(|j| j.inner.lock().ok().map(|i| i.attempt))
    }

    /// Runs `f` on the cluster's network runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> Option<F::Output> {
        self.rt.as_ref().map(|rt| rt.block_on(f))
    }
}

impl Drop for MiniCluster {
    fn drop(&mut self) {
        coordinator::cancel_jobs(&self.cluster);
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
