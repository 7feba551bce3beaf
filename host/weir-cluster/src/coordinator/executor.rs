//! Running a job's attempts on the workers: slots, deployment, commands
//! out, reports in, and the loss of a worker as the attempt's failure.

use super::Cluster;
use super::jobs::{JobEntry, JobState};
use crate::convert::{command_to, failure_from, report_from, task_to};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::ErrorDomain;
use weir_proto::v1 as pb;
use weir_runtime::{AttemptSpec, Command, Ended, Executor, JobFailure, Report, TaskId, all_tasks};

type WorkerClient = pb::worker_client::WorkerClient<crate::auth::Authed>;

/// One worker of the current attempt.
struct Deployed {
    addr: String,
    client: WorkerClient,
    /// Its sub-tasks all ended (or it is gone).
    stopped: bool,
}

/// Runs a job's attempts on the cluster's workers.
pub struct ClusterExecutor {
    cluster: Arc<Cluster>,
    job: Arc<JobEntry>,
    attempt: u32,
    deployed: BTreeMap<String, Deployed>,
    failure: Option<JobFailure>,
    setup_failed: bool,
    panicked: bool,
    cancelled: bool,
    pending: Vec<Report>,
    /// Final counts of workers whose sub-tasks ended.
    final_counts: HashMap<String, Vec<pb::Counter>>,
}

impl ClusterExecutor {
    pub(crate) fn new(cluster: Arc<Cluster>, job: Arc<JobEntry>) -> Self {
        ClusterExecutor {
            cluster,
            job,
            attempt: 0,
            deployed: BTreeMap::new(),
            failure: None,
            setup_failed: false,
            panicked: false,
            cancelled: false,
            pending: Vec::new(),
            final_counts: HashMap::new(),
        }
    }

    fn pb_attempt(&self) -> pb::Attempt {
        pb::Attempt {
            job_id: self.job.id.clone(),
            attempt: self.attempt,
            epoch: self.cluster.epoch,
        }
    }

    /// Records the attempt's failure (the first wins) and stops the rest.
    fn fail(&mut self, f: JobFailure) {
        if self.failure.is_none() && !self.cancelled {
            tracing::warn!("job {} attempt {}: {f}", self.job.id, self.attempt);
            if let Ok(mut i) = self.job.inner.lock() {
                i.exceptions.push((super::jobs::now_ms(), f.clone()));
            }
            self.failure = Some(f);
        }
        self.cancel_workers();
    }

    /// Calls every worker in `clients` at once (answers are not needed:
    /// a worker that cannot be reached is noticed as lost) and waits.
    fn call_each<F, Fut>(&self, clients: Vec<WorkerClient>, call: F)
    where
        F: Fn(WorkerClient) -> Fut,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.cluster.handle.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for c in clients {
                set.spawn(call(c));
            }
            while set.join_next().await.is_some() {}
        });
    }

    fn cancel_workers(&mut self) {
        let attempt = self.pb_attempt();
        let clients: Vec<_> = self
            .deployed
            .values()
            .filter(|d| !d.stopped)
            .map(|d| d.client.clone())
            .collect();
        self.call_each(clients, |mut c| {
            let a = attempt.clone();
            async move { c.cancel(a).await }
        });
    }

    /// Waits for slots: the workers of each slot index, spread over the
    /// workers with free slots (round robin, so sub-tasks land on several).
    fn take_slots(&mut self, needed: u32) -> Result<Vec<String>, JobFailure> {
        let started = Instant::now();
        loop {
            if self.job.handle.cancelled() {
                return Err(JobFailure::job(ErrorDomain::User, "the job was cancelled"));
            }
            if let Some(slots) = self.try_take_slots(needed) {
                if let Ok(mut i) = self.job.inner.lock() {
                    i.waiting = None;
                }
                return Ok(slots);
            }
            let (total, free) = self.cluster.slots();
            let why = format!("waiting for {needed} free slots ({free} free of {total})");
            if started.elapsed() > self.cluster.cfg.slot_timeout {
                return Err(JobFailure::job(
                    ErrorDomain::External,
                    format!(
                        "not enough slots after {} s: the job needs {needed}, the cluster has {free} free of {total} (add workers: weir cluster add-worker)",
                        self.cluster.cfg.slot_timeout.as_secs()
                    ),
                ));
            }
            if let Ok(mut i) = self.job.inner.lock()
                && i.waiting.as_deref() != Some(&why)
            {
                tracing::info!("job {}: {why}", self.job.id);
                i.waiting = Some(why);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn try_take_slots(&self, needed: u32) -> Option<Vec<String>> {
        let mut workers = self.cluster.workers.lock().ok()?;
        let free: u32 = workers.values().map(super::WorkerEntry::free_slots).sum();
        if free < needed {
            return None;
        }
        let mut left: Vec<(String, u32)> = workers
            .values()
            .map(|w| (w.id.clone(), w.free_slots()))
            .filter(|(_, f)| *f > 0)
            .collect();
        let mut slots = Vec::with_capacity(needed as usize);
        let mut i = 0;
        while slots.len() < needed as usize {
            let n = left.len();
            let (id, f) = &mut left[i % n];
            if *f > 0 {
                *f -= 1;
                slots.push(id.clone());
            }
            i += 1;
        }
        for id in &slots {
            if let Some(w) = workers.get_mut(id) {
                *w.used.entry(self.job.id.clone()).or_default() += 1;
            }
        }
        Some(slots)
    }

    fn free_slots(&self) {
        if let Ok(mut workers) = self.cluster.workers.lock() {
            for w in workers.values_mut() {
                w.used.remove(&self.job.id);
            }
        }
    }

    /// Sends the deploy requests; the failure if one was refused.
    fn deploy(
        &mut self,
        spec: &AttemptSpec<'_>,
        by_worker: BTreeMap<String, Vec<TaskId>>,
        placements: Vec<pb::Placement>,
    ) -> Option<JobFailure> {
        let t = &self.job.template;
        let mut requests = Vec::new();
        for (worker, tasks) in by_worker {
            let Some(client) = self.deployed.get(&worker).map(|d| d.client.clone()) else {
                continue;
            };
            let req = pb::DeployRequest {
                attempt: Some(self.pb_attempt()),
                bundle_sha256: t.bundle.clone(),
                entry: t.entry.clone(),
                parameters: t
                    .parameters
                    .iter()
                    .map(|(k, v)| pb::KeyValue {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                parallelism: t.parallelism,
                checkpoint_interval_ms: t.checkpoint_interval_ms,
                checkpoint_dir: t.checkpoint_dir.clone(),
                state_backend: t.state_backend.clone(),
                fuse_chained_calls: t.fuse_chained_calls.clone(),
                fingerprint: t.fingerprint.clone(),
                tasks: tasks.iter().map(|&t| task_to(t)).collect(),
                placements: placements.clone(),
                restore_dir: spec
                    .restore
                    .map(|r| r.dir().display().to_string())
                    .unwrap_or_default(),
                allow_non_restored_state: spec.options.allow_non_restored_state,
                batch_bytes: spec.options.batch_bytes as u32,
                channel_capacity: spec.options.channel_capacity as u32,
                failing_checkpoints: spec.options.failing_checkpoints.clone(),
            };
            requests.push((worker, client, req));
        }
        let results = self.cluster.handle.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for (w, mut c, req) in requests {
                set.spawn(async move { (w, c.deploy(req).await) });
            }
            let mut out = Vec::new();
            while let Some(r) = set.join_next().await {
                if let Ok(r) = r {
                    out.push(r);
                }
            }
            out
        });
        let mut failure = None;
        for (worker, r) in results {
            if let Err(s) = r {
                if let Some(d) = self.deployed.get_mut(&worker) {
                    d.stopped = true;
                }
                let mut f = crate::worker::failure_of_status(&s);
                if f.domain != ErrorDomain::User && s.code() != tonic::Code::Aborted {
                    f.message = format!("cannot deploy to worker {worker}: {}", f.message);
                }
                failure.get_or_insert(f);
            }
        }
        failure
    }

    /// Loses the attempt's workers that are gone.
    fn notice_lost(&mut self) {
        let gone: Vec<(String, String)> = self
            .deployed
            .iter()
            .filter(|(id, d)| !d.stopped && !self.cluster.alive(id))
            .map(|(id, d)| (id.clone(), d.addr.clone()))
            .collect();
        for (id, addr) in gone {
            if let Some(d) = self.deployed.get_mut(&id) {
                d.stopped = true;
            }
            self.fail(JobFailure::job(
                ErrorDomain::External,
                format!("worker {id} ({addr}) was lost"),
            ));
        }
    }

    fn take_deliveries(&mut self, wait: Duration) -> Vec<Report> {
        let mut out = std::mem::take(&mut self.pending);
        let first = if out.is_empty() && !wait.is_zero() {
            self.job.inbox.recv_timeout(wait).ok()
        } else {
            None
        };
        let deliveries: Vec<_> = first.into_iter().chain(self.job.inbox.try_iter()).collect();
        for d in deliveries {
            if d.attempt != self.attempt || !self.deployed.contains_key(&d.worker) {
                self.job
                    .stale
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            for r in &d.reports {
                match report_from(r) {
                    Ok(Some(rep)) => out.push(rep),
                    Ok(None) => self.on_stopped(&d.worker, r),
                    Err(e) => self.fail(JobFailure::job(ErrorDomain::Internal, e.to_string())),
                }
            }
        }
        out
    }

    fn on_stopped(&mut self, worker: &str, r: &pb::Report) {
        let Some(pb::report::R::Stopped(s)) = &r.r else {
            return;
        };
        if let Some(d) = self.deployed.get_mut(worker) {
            d.stopped = true;
        }
        self.final_counts
            .insert(worker.to_owned(), s.counters.clone());
        if let Ok(mut m) = self.job.metrics.lock() {
            m.update(self.attempt, &s.counters, true);
        }
        self.setup_failed |= s.setup_failed;
        self.panicked |= s.panicked;
        if let Some(f) = &s.failure {
            self.fail(failure_from(f));
        }
    }
}

impl Executor for ClusterExecutor {
    fn start(&mut self, spec: &AttemptSpec<'_>) -> Result<(), JobFailure> {
        self.release();
        self.attempt = spec.attempt;
        self.failure = None;
        self.setup_failed = false;
        self.panicked = false;
        self.cancelled = false;
        if let Ok(mut i) = self.job.inner.lock() {
            i.attempt = spec.attempt;
            i.placements.clear();
        }
        if spec.attempt > 0 {
            self.job.set_state(JobState::Restarting);
        }
        let tasks = all_tasks(&self.job.plan);
        let needed = self
            .job
            .plan
            .chains
            .iter()
            .map(|c| c.parallelism)
            .max()
            .unwrap_or(1);
        let slots = self.take_slots(needed)?;
        let workers: HashMap<String, (String, pb::worker_client::WorkerClient<_>)> = self
            .cluster
            .workers
            .lock()
            .map(|w| {
                w.values()
                    .map(|w| (w.id.clone(), (w.addr.clone(), w.client.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let mut by_worker: BTreeMap<String, Vec<TaskId>> = BTreeMap::new();
        let mut placements = Vec::new();
        let mut placed = HashMap::new();
        for &(c, s) in &tasks {
            let w = &slots[s as usize];
            by_worker.entry(w.clone()).or_default().push((c, s));
            placed.insert((c, s), w.clone());
            let addr = workers.get(w).map(|x| x.0.clone()).unwrap_or_default();
            placements.push(pb::Placement {
                task: Some(task_to((c, s))),
                data_addr: addr,
            });
        }
        for w in by_worker.keys() {
            if let Some((addr, client)) = workers.get(w) {
                self.deployed.insert(
                    w.clone(),
                    Deployed {
                        addr: addr.clone(),
                        client: client.clone(),
                        stopped: false,
                    },
                );
            }
        }
        if let Ok(mut i) = self.job.inner.lock() {
            i.placements = placed;
        }
        if let Some(f) = self.deploy(spec, by_worker, placements) {
            if f.domain == ErrorDomain::User {
                self.cancel_workers();
                return Err(f);
            }
            self.fail(f);
            return Ok(());
        }
        self.job.set_state(JobState::Running);
        Ok(())
    }

    fn command(&mut self, cmd: Command) {
        let c = command_to(&cmd);
        let attempt = self.pb_attempt();
        let clients: Vec<_> = self.deployed.values().map(|d| d.client.clone()).collect();
        if let Command::Stop = cmd {
            self.cancelled = true;
        }
        self.call_each(clients, |mut client| {
            let req = pb::CommandRequest {
                attempt: Some(attempt.clone()),
                c: Some(c.clone()),
            };
            async move { client.command(req).await }
        });
    }

    fn reports(&mut self, wait: Duration) -> Vec<Report> {
        self.notice_lost();
        self.take_deliveries(wait)
    }

    fn stopped(&mut self) -> bool {
        self.notice_lost();
        self.deployed.values().all(|d| d.stopped)
    }

    fn cancel(&mut self) {
        self.cancelled = true;
        self.cancel_workers();
    }

    fn cancelled(&self) -> bool {
        self.cancelled || self.failure.is_some()
    }

    fn wait(&mut self) -> Ended {
        let started = Instant::now();
        while !self.stopped() {
            let r = self.take_deliveries(Duration::from_millis(20));
            self.pending.extend(r);
            if started.elapsed() > Duration::from_secs(60) {
                tracing::warn!("job {}: workers did not stop within 60 s", self.job.id);
                break;
            }
        }
        Ended {
            failure: self.failure.take(),
            setup_failed: self.setup_failed,
            panicked: self.panicked,
        }
    }

    fn totals(&self) -> Vec<(u64, u64)> {
        let mut totals = vec![(0u64, 0u64); self.job.graph.nodes.len()];
        let key = (self.job.id.clone(), self.attempt);
        let mut add = |counters: &[pb::Counter]| {
            for c in counters {
                if let Some(t) = totals.get_mut(c.node as usize) {
                    t.0 += c.records_in;
                    t.1 += c.records_out;
                }
            }
        };
        for c in self.final_counts.values() {
            add(c);
        }
        if let Ok(workers) = self.cluster.workers.lock() {
            for (id, w) in workers.iter() {
                if self.final_counts.contains_key(id) {
                    continue;
                }
                if let Some(s) = w.statuses.get(&key) {
                    add(&s.counters);
                }
            }
        }
        totals
    }

    fn release(&mut self) {
        let attempt = self.pb_attempt();
        let clients: Vec<_> = self.deployed.values().map(|d| d.client.clone()).collect();
        self.call_each(clients, |mut c| {
            let a = attempt.clone();
            async move { c.release(a).await }
        });
        self.deployed.clear();
        self.final_counts.clear();
        self.free_slots();
    }
}
