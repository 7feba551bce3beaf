//! The data plane: one gRPC stream per channel between sub-tasks on
//! different workers, multiplexed over one HTTP/2 connection per pair of
//! workers. The consumer opens the stream and grants credits (one per frame
//! its sub-task took from the channel's queue); the producer sends a frame
//! only against a credit, so nothing unaccepted is ever on the wire and a
//! slow consumer stalls only the producer of its channel.

use crate::convert::task_from;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};
use weir_proto::v1 as pb;
use weir_proto::v1::consumer_msg::M;
use weir_runtime::{ChannelKey, InEnd, Next, OutEnd, is_end};

/// How long a consumer waits for its producer's worker to deploy and offer
/// the channel.
const OFFER_WAIT: Duration = Duration::from_secs(30);

/// Window sizes above credits × batch size, so HTTP/2 flow control never
/// limits a channel before its credits do.
pub(crate) const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
pub(crate) const CONNECTION_WINDOW: u32 = 64 * 1024 * 1024;
/// Largest frame accepted (a batch is around 64 KiB; a big window firing
/// may be larger).
pub(crate) const MAX_FRAME: usize = 64 * 1024 * 1024;

type AttemptKey = (String, u32);

/// The outgoing channel ends of this worker's deployments, waiting for
/// their consumers to subscribe.
#[derive(Default)]
pub struct Outgoing {
    ends: Mutex<HashMap<(AttemptKey, ChannelKey), OutEnd>>,
    offered: tokio::sync::Notify,
    /// Frame bytes sent to other workers.
    pub bytes_out: AtomicU64,
}

impl Outgoing {
    /// Offers an attempt's outgoing channel end to its consumer.
    pub fn offer(&self, job: &str, attempt: u32, end: OutEnd) {
        if let Ok(mut ends) = self.ends.lock() {
            ends.insert(((job.to_owned(), attempt), end.key), end);
        }
        self.offered.notify_waiters();
    }

    /// Drops what is left of an attempt's channels.
    pub fn release(&self, job: &str, attempt: u32) {
        if let Ok(mut ends) = self.ends.lock() {
            ends.retain(|(a, _), _| !(a.0 == job && a.1 == attempt));
        }
    }

    fn try_take(&self, key: &(AttemptKey, ChannelKey)) -> Option<OutEnd> {
        self.ends.lock().ok()?.remove(key)
    }

    async fn take(&self, key: (AttemptKey, ChannelKey)) -> Option<OutEnd> {
        let deadline = tokio::time::Instant::now() + OFFER_WAIT;
        loop {
            let notified = self.offered.notified();
            if let Some(end) = self.try_take(&key) {
                return Some(end);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.try_take(&key);
            }
        }
    }
}

/// Credits granted by a consumer and not yet used.
struct Credits {
    state: Mutex<(u32, bool)>,
    changed: Condvar,
}

impl Credits {
    fn new(n: u32) -> Self {
        Credits {
            state: Mutex::new((n, false)),
            changed: Condvar::new(),
        }
    }

    fn add(&self, n: u32) {
        if let Ok(mut s) = self.state.lock() {
            s.0 = s.0.saturating_add(n);
        }
        self.changed.notify_all();
    }

    fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = true;
        }
        self.changed.notify_all();
    }

    /// Takes a credit, waiting up to `wait`: `Some(true)` taken,
    /// `Some(false)` none yet, `None` the consumer is gone.
    fn take(&self, wait: Duration) -> Option<bool> {
        let Ok(mut s) = self.state.lock() else {
            return None;
        };
        if s.0 == 0 && !s.1 {
            s = match self.changed.wait_timeout(s, wait) {
                Ok((s, _)) => s,
                Err(_) => return None,
            };
        }
        if s.1 {
            return None;
        }
        if s.0 > 0 {
            s.0 -= 1;
            return Some(true);
        }
        Some(false)
    }
}

/// The producer's side of the data plane, served on every worker.
pub struct DataService {
    outgoing: Arc<Outgoing>,
}

impl DataService {
    /// A service sending the channel ends offered to `outgoing`.
    pub fn new(outgoing: Arc<Outgoing>) -> Self {
        DataService { outgoing }
    }
}

#[tonic::async_trait]
impl pb::data_server::Data for DataService {
    type OpenChannelStream = ReceiverStream<Result<pb::Frame, Status>>;

    async fn open_channel(
        &self,
        request: Request<Streaming<pb::ConsumerMsg>>,
    ) -> Result<Response<Self::OpenChannelStream>, Status> {
        let mut input = request.into_inner();
        let Some(pb::ConsumerMsg {
            m: Some(M::Subscribe(sub)),
        }) = input.message().await?
        else {
            return Err(Status::invalid_argument("a channel starts with Subscribe"));
        };
        let attempt = sub
            .attempt
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("Subscribe without an attempt"))?;
        let key = ChannelKey {
            from: task_from(sub.from.as_ref())
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            to: task_from(sub.to.as_ref()).map_err(|e| Status::invalid_argument(e.to_string()))?,
            channel: sub.channel,
        };
        let end = self
            .outgoing
            .take(((attempt.job_id.clone(), attempt.attempt), key))
            .await
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no channel {key:?} of job {} attempt {} here",
                    attempt.job_id, attempt.attempt
                ))
            })?;
        let credits = Arc::new(Credits::new(sub.credits));
        let reader = credits.clone();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = input.message().await {
                if let Some(M::Credit(n)) = msg.m {
                    reader.add(n);
                }
            }
            reader.close();
        });
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let outgoing = self.outgoing.clone();
        tokio::task::spawn_blocking(move || pump(&end, &credits, &tx, &outgoing));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Sends the channel's frames as credits allow, until its end.
fn pump(
    end: &OutEnd,
    credits: &Credits,
    tx: &tokio::sync::mpsc::Sender<Result<pb::Frame, Status>>,
    outgoing: &Outgoing,
) {
    const WAIT: Duration = Duration::from_millis(50);
    loop {
        match credits.take(WAIT) {
            None => return,
            Some(false) => {
                if tx.is_closed() {
                    return;
                }
                continue;
            }
            Some(true) => {}
        }
        // Holding a credit: wait for the next frame.
        loop {
            match end.next_frame(WAIT) {
                Next::Frame(f) => {
                    let last = is_end(&f);
                    outgoing
                        .bytes_out
                        .fetch_add(f.len() as u64, Ordering::Relaxed);
                    if tx
                        .blocking_send(Ok(pb::Frame {
                            frame: bytes::Bytes::from(f),
                        }))
                        .is_err()
                        || last
                    {
                        return;
                    }
                    break;
                }
                Next::Empty => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Next::Closed => return,
            }
        }
    }
}

/// Where a consumer's channels come from, and what to do when one is lost.
pub struct Subscription {
    /// The attempt, as the producer's worker knows it.
    pub attempt: pb::Attempt,
    /// The producer worker's data address (host:port).
    pub addr: String,
    /// Called once if the channel breaks before its end.
    pub lost: Arc<dyn Fn(String) + Send + Sync>,
}

/// Connections to other workers, one per address (shared by every
/// channel to it).
#[derive(Default)]
pub struct Connections {
    channels: tokio::sync::Mutex<HashMap<String, tonic::transport::Channel>>,
    /// Sent with every stream opened (the cluster's token, if any).
    attach: crate::auth::Attach,
    /// TLS to the other workers, if the cluster uses it.
    tls: Option<crate::tls::Tls>,
}

impl Connections {
    /// Connections whose streams carry `token`, over TLS when given.
    pub fn new(token: Option<&crate::auth::AuthToken>, tls: Option<&crate::tls::Tls>) -> Self {
        Connections {
            channels: tokio::sync::Mutex::default(),
            attach: crate::auth::Attach::new(token),
            tls: tls.cloned(),
        }
    }

    async fn to(&self, addr: &str, deadline: Instant) -> Result<tonic::transport::Channel, String> {
        let mut map = self.channels.lock().await;
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = crate::tls::endpoint(addr, self.tls.as_ref())?
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .tcp_nodelay(true);
        loop {
            match endpoint.connect().await {
                Ok(c) => {
                    map.insert(addr.to_owned(), c.clone());
                    return Ok(c);
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("cannot connect to worker {addr}: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Drops every connection (a worker that went away).
    pub async fn forget(&self, addr: &str) {
        self.channels.lock().await.remove(addr);
    }
}

/// Feeds a consumer's channel from its producer on another worker until
/// the channel's end; calls `sub.lost` if it breaks first.
pub async fn feed(end: InEnd, sub: Subscription, conns: Arc<Connections>) {
    let key = end.key;
    if let Err(e) = feed_inner(end, &sub, &conns).await {
        conns.forget(&sub.addr).await;
        (sub.lost)(format!(
            "the channel from sub-task {} of chain {} (worker {}) was lost: {e}",
            key.from.1 + 1,
            key.from.0,
            sub.addr
        ));
    }
}

async fn feed_inner(end: InEnd, sub: &Subscription, conns: &Connections) -> Result<(), String> {
    let channel = conns.to(&sub.addr, Instant::now() + OFFER_WAIT).await?;
    let (credit_tx, credit_rx) = tokio::sync::mpsc::unbounded_channel();
    let subscribe = pb::ConsumerMsg {
        m: Some(M::Subscribe(pb::Subscribe {
            attempt: Some(sub.attempt.clone()),
            from: Some(crate::convert::task_to(end.key.from)),
            to: Some(crate::convert::task_to(end.key.to)),
            channel: end.key.channel,
            credits: end.capacity(),
        })),
    };
    credit_tx
        .send(subscribe)
        .map_err(|_| "cannot subscribe".to_owned())?;
    let grant = credit_tx.clone();
    end.on_credit(Box::new(move || {
        let _ = grant.send(pb::ConsumerMsg {
            m: Some(M::Credit(1)),
        });
    }));
    drop(credit_tx);
    let mut client = pb::data_client::DataClient::with_interceptor(channel, conns.attach.clone())
        .max_decoding_message_size(MAX_FRAME)
        .max_encoding_message_size(MAX_FRAME);
    let mut frames = client
        .open_channel(UnboundedReceiverStream::new(credit_rx))
        .await
        .map_err(|s| s.message().to_owned())?
        .into_inner();
    loop {
        match frames.message().await {
            Ok(Some(f)) => {
                let last = is_end(&f.frame);
                end.push_frame(&f.frame).map_err(|e| e.to_string())?;
                if last {
                    return Ok(());
                }
            }
            Ok(None) => return Err("it closed before its end".into()),
            Err(s) => return Err(s.message().to_owned()),
        }
    }
}
