//! The coordinator's gRPC service: registration, heartbeats, reports of
//! sub-tasks, blobs.

use super::{Cluster, WorkerEntry};
use crate::data;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use weir_proto::v1 as pb;

pub(crate) struct CoordinatorService {
    pub(crate) cluster: Arc<Cluster>,
}

fn worker_client(
    addr: &str,
    cfg: &super::CoordinatorConfig,
) -> Result<pb::worker_client::WorkerClient<crate::auth::Authed>, Status> {
    let token = cfg.auth.as_ref();
    let endpoint = crate::tls::endpoint(addr, cfg.tls.as_ref())
        .map_err(Status::invalid_argument)?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    Ok(pb::worker_client::WorkerClient::with_interceptor(
        endpoint.connect_lazy(),
        crate::auth::Attach::new(token),
    )
    .max_decoding_message_size(data::MAX_FRAME))
}

#[tonic::async_trait]
impl pb::coordinator_server::Coordinator for CoordinatorService {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let r = request.into_inner();
        if !crate::ids::is_id(&r.worker_id) {
            return Err(Status::invalid_argument("a worker id is 32 hex digits"));
        }
        if r.slots == 0 {
            return Err(Status::invalid_argument("a worker needs at least one slot"));
        }
        let client = worker_client(&r.addr, &self.cluster.cfg)?;
        let entry = WorkerEntry {
            id: r.worker_id.clone(),
            addr: r.addr.clone(),
            slots: r.slots,
            used: HashMap::new(),
            cpu_cores: r.cpu_cores,
            physical_memory: r.physical_memory,
            data_port: r.data_port,
            last_beat: Instant::now(),
            client,
            statuses: HashMap::new(),
            network_bytes_out: 0,
            ready: false,
        };
        tracing::info!(
            "worker {} registered from {} with {} slots",
            r.worker_id,
            r.addr,
            r.slots
        );
        self.cluster
            .workers
            .lock()
            .map_err(|_| Status::internal("poisoned"))?
            .insert(r.worker_id, entry);
        let cfg = &self.cluster.cfg;
        Ok(Response::new(pb::RegisterResponse {
            epoch: self.cluster.epoch,
            heartbeat_interval_ms: cfg.heartbeat_interval.as_millis() as u32,
            heartbeat_timeout_ms: cfg.heartbeat_timeout.as_millis() as u32,
        }))
    }

    type HeartbeatStream = ReceiverStream<Result<pb::BeatReply, Status>>;

    async fn heartbeat(
        &self,
        request: Request<Streaming<pb::Beat>>,
    ) -> Result<Response<Self::HeartbeatStream>, Status> {
        let mut beats = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let mut worker: Option<String> = None;
            loop {
                match beats.message().await {
                    Ok(Some(beat)) => {
                        let known = beat.epoch == cluster.epoch && on_beat(&cluster, &beat);
                        worker = Some(beat.worker_id.clone());
                        let reply = pb::BeatReply {
                            epoch: cluster.epoch,
                            unknown: !known,
                        };
                        if tx.send(Ok(reply)).await.is_err() || !known {
                            return;
                        }
                    }
                    // The stream's end is the worker's end: a killed
                    // worker's connection closes at once.
                    Ok(None) | Err(_) => {
                        if let Some(w) = worker {
                            cluster.lose_worker(&w, "its heartbeat stream closed");
                        }
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn report(&self, request: Request<pb::Reports>) -> Result<Response<pb::Empty>, Status> {
        let r = request.into_inner();
        let attempt = r
            .attempt
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("reports without an attempt"))?;
        if attempt.epoch != self.cluster.epoch {
            // Another coordinator's attempt: not ours to hear.
            return Ok(Response::new(pb::Empty {}));
        }
        if let Some(job) = self.cluster.job(&attempt.job_id) {
            job.deliver(attempt.attempt, r.worker_id, r.reports);
        }
        Ok(Response::new(pb::Empty {}))
    }

    type FetchBlobStream = ReceiverStream<Result<pb::BlobChunk, Status>>;

    async fn fetch_blob(
        &self,
        request: Request<pb::BlobRequest>,
    ) -> Result<Response<Self::FetchBlobStream>, Status> {
        let digest = request.into_inner().sha256;
        // A blob may come from object storage: off the async threads.
        let blobs = self.cluster.blobs.clone();
        let wanted = digest.clone();
        let bytes = tokio::task::spawn_blocking(move || blobs.get(&wanted))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?
            .ok_or_else(|| Status::not_found(format!("no blob {digest}")))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for chunk in bytes.chunks(1024 * 1024) {
                let c = pb::BlobChunk {
                    data: bytes::Bytes::copy_from_slice(chunk),
                };
                if tx.send(Ok(c)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Records a beat; whether the worker is registered.
fn on_beat(cluster: &Cluster, beat: &pb::Beat) -> bool {
    let Ok(mut workers) = cluster.workers.lock() else {
        return false;
    };
    let Some(w) = workers.get_mut(&beat.worker_id) else {
        return false;
    };
    w.last_beat = Instant::now();
    w.ready = true;
    w.network_bytes_out = beat.network_bytes_out;
    w.statuses = beat
        .attempts
        .iter()
        .filter_map(|s| {
            let a = s.attempt.as_ref()?;
            Some(((a.job_id.clone(), a.attempt), s.clone()))
        })
        .collect();
    drop(workers);
    for s in &beat.attempts {
        let Some(a) = &s.attempt else { continue };
        if let Some(j) = cluster.job(&a.job_id)
            && let Ok(mut m) = j.metrics.lock()
        {
            m.update(a.attempt, &s.counters, false);
        }
    }
    true
}

/// Loses workers whose beats stopped without their stream closing (a
/// partition, a hung process).
pub(crate) async fn watch_heartbeats(cluster: Arc<Cluster>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let timeout = cluster.cfg.heartbeat_timeout;
        let silent: Vec<String> = cluster
            .workers
            .lock()
            .map(|w| {
                w.values()
                    .filter(|w| w.last_beat.elapsed() > timeout)
                    .map(|w| w.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in silent {
            cluster.lose_worker(&id, &format!("no heartbeat for {} ms", timeout.as_millis()));
        }
    }
}
