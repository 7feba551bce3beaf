//! StateFun's playground ingress and egress, so that the published
//! playground examples run unchanged behind `weir run module.yaml`.
//!
//! - Ingress (`io.statefun.playground.v1/ingress`): an HTTP server taking
//!   `PUT /<namespace>/<type>/<id>`; the body is the message's bytes,
//!   verbatim, and its typename comes from `Content-Type:
//!   application/vnd.<typename>` (`io.statefun.types/string` without one).
//!   Each request becomes an ingress line for the functions stage. A full
//!   queue holds the request until the job takes messages again.
//! - Egress (`io.statefun.playground.v1/egress`): functions send
//!   `io.statefun.playground/EgressRecord` values (JSON `{"topic",
//!   "payload"}`) to the egress `io.statefun.playground/egress`; `GET
//!   /<topic>` answers the oldest payload of the topic and removes it (404
//!   when there is none, 405 for a topic not configured).
//!
//! As in StateFun, both are for development: the ingress keeps accepted
//! messages in memory until the job reads them, and the egress shows
//! messages as soon as the functions' responses are applied (at least
//! once after a restore). Servers live as long as the process, keyed by
//! their address, so that a restarted attempt finds the same queues.

use crate::records;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use weir_connectors::{ConnectorError, SinkWriter, SourceReader, SourceStatus};
use weir_core::{Batch, ErrorDomain, Outputs};

/// The egress id functions send playground records to.
pub const EGRESS_ID: &str = "io.statefun.playground/egress";
/// The typename of the records the playground egress takes.
pub const EGRESS_RECORD: &str = "io.statefun.playground/EgressRecord";
/// The typename of an ingress message sent without a StateFun content type.
pub const DEFAULT_INGRESS_TYPE: &str = "io.statefun.types/string";
/// The content-type prefix that carries a typename.
const CONTENT_TYPE_PREFIX: &str = "application/vnd.";
/// Messages accepted and not yet read that the ingress holds.
const INGRESS_QUEUE: usize = 10_000;
/// Messages per topic the egress holds; past it the oldest are kept and
/// new ones dropped (StateFun's playground does the same).
const EGRESS_QUEUE: usize = 1 << 20;
/// How long a reader with nothing to read waits before it looks again.
const IDLE: Duration = Duration::from_millis(5);

/// A failure of the playground servers, in the connectors' terms.
fn failure(domain: ErrorDomain, message: String) -> ConnectorError {
    ConnectorError::Service { domain, message }
}

/// The playground servers started in this process, by address.
fn servers() -> &'static Mutex<HashMap<SocketAddr, Server>> {
    static SERVERS: OnceLock<Mutex<HashMap<SocketAddr, Server>>> = OnceLock::new();
    SERVERS.get_or_init(|| Mutex::new(HashMap::new()))
}

#[derive(Clone)]
enum Server {
    Ingress(Arc<Mutex<tokio::sync::mpsc::Receiver<String>>>),
    Egress(Arc<EgressQueues>),
}

/// The address to bind: `host` (default loopback) and `port`.
fn address(host: Option<&str>, port: u16, what: &str) -> Result<SocketAddr, ConnectorError> {
    let host = host.unwrap_or("127.0.0.1");
    format!("{host}:{port}")
        .parse::<SocketAddr>()
        .or_else(|_| format!("[{host}]:{port}").parse::<SocketAddr>())
        .map_err(|_| {
            failure(
                ErrorDomain::User,
                format!("the playground {what}: host '{host}' is not an IP address"),
            )
        })
}

/// Serves `router` on `addr` from a thread of its own for the rest of the
/// process; binding happens here, so that a taken port is reported now.
fn serve(addr: SocketAddr, router: axum::Router, what: &str) -> Result<(), ConnectorError> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            failure(
                ErrorDomain::External,
                format!("the playground {what} cannot listen on {addr}: {e}"),
            )
        })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failure(ErrorDomain::Internal, format!("the playground {what}: {e}")))?;
    tracing::info!("the playground {what} listens on http://{addr}");
    let name = format!("weir-playground-{what}-{}", addr.port());
    let what = what.to_owned();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, router).await {
                            tracing::error!("the playground {what} on {addr} stopped: {e}");
                        }
                    }
                    Err(e) => tracing::error!("the playground {what} on {addr}: {e}"),
                }
            });
        })
        .map_err(|e| failure(ErrorDomain::Internal, format!("cannot start a thread: {e}")))?;
    Ok(())
}

/// Reads the messages the playground ingress on `host:port` accepted.
pub struct PlaygroundIngress {
    rx: Arc<Mutex<tokio::sync::mpsc::Receiver<String>>>,
}

impl PlaygroundIngress {
    /// The ingress on `host:port`, started on first use.
    pub fn open(host: Option<&str>, port: u16) -> Result<PlaygroundIngress, ConnectorError> {
        let addr = address(host, port, "ingress")?;
        let mut all = servers()
            .lock()
            .map_err(|_| failure(ErrorDomain::Internal, "a playground server panicked".into()))?;
        match all.get(&addr) {
            Some(Server::Ingress(rx)) => return Ok(PlaygroundIngress { rx: rx.clone() }),
            Some(Server::Egress(_)) => {
                return Err(failure(
                    ErrorDomain::User,
                    format!("{addr} is the playground egress's address, not the ingress's"),
                ));
            }
            None => {}
        }
        let (tx, rx) = tokio::sync::mpsc::channel(INGRESS_QUEUE);
        let router = axum::Router::new().fallback(move |method, uri, headers, body| {
            accept(tx.clone(), method, uri, headers, body)
        });
        serve(addr, router, "ingress")?;
        let rx = Arc::new(Mutex::new(rx));
        all.insert(addr, Server::Ingress(rx.clone()));
        Ok(PlaygroundIngress { rx })
    }
}

/// Takes one `PUT /<namespace>/<type>/<id>`.
async fn accept(
    tx: tokio::sync::mpsc::Sender<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::PUT && method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "send messages with PUT /<namespace>/<type>/<id>\n",
        )
            .into_response();
    }
    let line = match ingress_line(uri.path(), &headers, &body) {
        Ok(l) => l,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    match tx.send(line).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the job is not running\n").into_response(),
    }
}

/// The ingress line of a request to `path`, or why it is not a message.
fn ingress_line(path: &str, headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [namespace, name, id] = parts[..] else {
        return Err(format!(
            "'{path}' is not /<namespace>/<type>/<id>: send each message to its function's address"
        ));
    };
    if namespace.is_empty() || name.is_empty() || id.is_empty() {
        return Err(format!("'{path}' has an empty part"));
    }
    let typename = headers
        .get_all(header::CONTENT_TYPE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(CONTENT_TYPE_PREFIX))
        .map(|t| t.split(';').next().unwrap_or(t).trim())
        .unwrap_or(DEFAULT_INGRESS_TYPE);
    if !typename.contains('/') {
        return Err(format!(
            "content type {CONTENT_TYPE_PREFIX}{typename}: '{typename}' is not a typename (namespace/name)"
        ));
    }
    Ok(records::ingress_line_verbatim(
        &format!("{namespace}/{name}/{id}"),
        typename,
        body,
    ))
}

impl SourceReader for PlaygroundIngress {
    fn poll(
        &mut self,
        out: &mut Outputs,
        max_bytes: usize,
    ) -> Result<SourceStatus, ConnectorError> {
        let mut rx = self.rx.lock().map_err(|_| {
            failure(
                ErrorDomain::Internal,
                "the ingress queue is poisoned".into(),
            )
        })?;
        let mut taken = 0;
        while out.main.byte_len() < max_bytes {
            match rx.try_recv() {
                Ok(line) => {
                    // The stage keys by the line's target itself.
                    out.main.push(weir_wire::NO_TIMESTAMP, &[], line.as_bytes());
                    taken += 1;
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    return Err(failure(
                        ErrorDomain::Internal,
                        "the playground ingress server stopped".into(),
                    ));
                }
            }
        }
        Ok(if taken == 0 {
            SourceStatus::Idle(IDLE)
        } else {
            SourceStatus::More
        })
    }
}

/// The egress's topics and their waiting payloads.
struct EgressQueues {
    topics: Mutex<HashMap<String, VecDeque<Bytes>>>,
}

/// Offers egress records to readers of the playground egress.
pub struct PlaygroundEgress {
    queues: Arc<EgressQueues>,
    addr: SocketAddr,
}

impl PlaygroundEgress {
    /// The egress on `host:port` serving `topics`, started on first use.
    pub fn open(
        host: Option<&str>,
        port: u16,
        topics: &[String],
    ) -> Result<PlaygroundEgress, ConnectorError> {
        let addr = address(host, port, "egress")?;
        let mut all = servers()
            .lock()
            .map_err(|_| failure(ErrorDomain::Internal, "a playground server panicked".into()))?;
        let queues = match all.get(&addr) {
            Some(Server::Egress(q)) => q.clone(),
            Some(Server::Ingress(_)) => {
                return Err(failure(
                    ErrorDomain::User,
                    format!("{addr} is the playground ingress's address, not the egress's"),
                ));
            }
            None => {
                let queues = Arc::new(EgressQueues {
                    topics: Mutex::new(HashMap::new()),
                });
                let q = queues.clone();
                let router = axum::Router::new()
                    .fallback(move |method: Method, uri: Uri| take(q.clone(), method, uri));
                serve(addr, router, "egress")?;
                all.insert(addr, Server::Egress(queues.clone()));
                queues
            }
        };
        if let Ok(mut t) = queues.topics.lock() {
            for topic in topics {
                t.entry(topic.clone()).or_default();
            }
        }
        Ok(PlaygroundEgress { queues, addr })
    }
}

/// Answers one `GET /<topic>`.
async fn take(queues: Arc<EgressQueues>, method: Method, uri: Uri) -> Response {
    if method != Method::GET {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "read a topic with GET /<topic>\n",
        )
            .into_response();
    }
    let topic = uri.path().trim_start_matches('/');
    let Ok(mut all) = queues.topics.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match all.get_mut(topic) {
        None => (
            StatusCode::METHOD_NOT_ALLOWED,
            format!("'{topic}' is not a topic of this egress\n"),
        )
            .into_response(),
        Some(q) => match q.pop_front() {
            Some(payload) => (StatusCode::OK, payload).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    }
}

/// The topic and payload of one egress line of the functions stage.
fn egress_record(line: &[u8]) -> Result<(String, String), String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not an egress line: {e}"))?;
    let typename = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if typename != EGRESS_RECORD {
        return Err(format!(
            "the playground egress takes {EGRESS_RECORD} values, not '{typename}'"
        ));
    }
    let record = match (v.get("value"), v.get("value_base64")) {
        (Some(value), _) => value.clone(),
        (None, Some(_)) => return Err(format!("the {EGRESS_RECORD} value is not JSON")),
        (None, None) => return Err("the egress line has no value".into()),
    };
    let field = |name: &str| {
        record
            .get(name)
            .and_then(|f| f.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("the {EGRESS_RECORD} has no string \"{name}\": {record}"))
    };
    Ok((field("topic")?, field("payload")?))
}

impl SinkWriter for PlaygroundEgress {
    fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        let mut all = self.queues.topics.lock().map_err(|_| {
            failure(
                ErrorDomain::Internal,
                "the egress queues are poisoned".into(),
            )
        })?;
        for r in batch.iter() {
            let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
            let (topic, payload) = egress_record(r.value)
                .map_err(|m| failure(ErrorDomain::User, format!("playground egress: {m}")))?;
            let Some(q) = all.get_mut(&topic) else {
                return Err(failure(
                    ErrorDomain::User,
                    format!(
                        "a function sent a message to topic '{topic}', which the playground egress on {} does not serve",
                        self.addr
                    ),
                ));
            };
            if q.len() >= EGRESS_QUEUE {
                tracing::warn!(
                    topic,
                    "the playground egress dropped a message: the topic holds {EGRESS_QUEUE} unread"
                );
                continue;
            }
            q.push_back(Bytes::from(payload));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_request_becomes_an_ingress_line_with_its_bytes_verbatim() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.example/GreetRequest"),
        );
        let line = ingress_line("/example/person/Bob", &h, br#"{"name": "Bob"}"#).expect("line");
        let (to, v) = records::parse_ingress(&line).expect("parses");
        assert_eq!(to.to_string(), "example/person/Bob");
        assert_eq!(v.typename, "example/GreetRequest");
        assert_eq!(v.value, br#"{"name": "Bob"}"#);
        let line = ingress_line("/a/b/c", &HeaderMap::new(), b"x").expect("line");
        let (_, v) = records::parse_ingress(&line).expect("parses");
        assert_eq!(v.typename, DEFAULT_INGRESS_TYPE);
        for bad in ["/a/b", "/a/b/c/d", "/a//c", "/"] {
            assert!(ingress_line(bad, &HeaderMap::new(), b"").is_err(), "{bad}");
        }
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.nonamespace"),
        );
        assert!(ingress_line("/a/b/c", &h, b"").is_err());
    }

    #[test]
    fn egress_lines_give_topic_and_payload() {
        let line = records::egress_line(
            EGRESS_ID,
            &crate::proto::TypedValue {
                typename: EGRESS_RECORD.into(),
                has_value: true,
                value: br#"{"topic":"greetings","payload":"Hello Bob"}"#.to_vec(),
            },
        );
        assert_eq!(
            egress_record(line.as_bytes()),
            Ok(("greetings".into(), "Hello Bob".into()))
        );
        let other = records::egress_line(
            EGRESS_ID,
            &crate::proto::TypedValue {
                typename: "example/Other".into(),
                has_value: true,
                value: b"{}".to_vec(),
            },
        );
        assert!(egress_record(other.as_bytes()).is_err());
    }

    #[test]
    fn ingress_and_egress_serve_http_and_survive_a_new_attempt() {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        };
        let (ip, ep) = (free(), free());
        let mut ingress = PlaygroundIngress::open(None, ip).expect("ingress");
        let put = |path: &str| {
            ureq::put(&format!("http://127.0.0.1:{ip}{path}"))
                .header("content-type", "application/vnd.example/Json")
                .send("{\"n\": 1}")
        };
        assert_eq!(put("/example/f/1").expect("accepted").status(), 200);
        let e = put("/example/f").expect_err("not an address");
        assert!(matches!(e, ureq::Error::StatusCode(400)), "{e}");
        let mut out = Outputs::default();
        let mut status = SourceStatus::Idle(IDLE);
        for _ in 0..200 {
            status = ingress.poll(&mut out, 1 << 16).expect("poll");
            if status == SourceStatus::More {
                break;
            }
            std::thread::sleep(IDLE);
        }
        assert_eq!(status, SourceStatus::More);
        let r = out.main.iter().next().expect("one").expect("frame");
        let (to, v) = records::parse_ingress(std::str::from_utf8(r.value).expect("utf8"))
            .expect("ingress line");
        assert_eq!(to.to_string(), "example/f/1");
        assert_eq!(v.value, b"{\"n\": 1}");
        // A new attempt reads the same queue.
        drop(ingress);
        assert_eq!(put("/example/f/2").expect("accepted").status(), 200);
        let mut again = PlaygroundIngress::open(None, ip).expect("reopened");
        let mut out = Outputs::default();
        for _ in 0..200 {
            if again.poll(&mut out, 1 << 16).expect("poll") == SourceStatus::More {
                break;
            }
            std::thread::sleep(IDLE);
        }
        assert_eq!(out.main.len(), 1, "the message sent between attempts");

        let mut egress = PlaygroundEgress::open(None, ep, &["greetings".into()]).expect("egress");
        let get = |topic: &str| ureq::get(&format!("http://127.0.0.1:{ep}/{topic}")).call();
        assert!(matches!(
            get("greetings"),
            Err(ureq::Error::StatusCode(404))
        ));
        assert!(matches!(get("other"), Err(ureq::Error::StatusCode(405))));
        let mut batch = Batch::default();
        for p in ["one", "two"] {
            let line = records::egress_line(
                EGRESS_ID,
                &crate::proto::TypedValue {
                    typename: EGRESS_RECORD.into(),
                    has_value: true,
                    value: serde_json::json!({"topic": "greetings", "payload": p})
                        .to_string()
                        .into_bytes(),
                },
            );
            batch.push(0, b"", line.as_bytes());
        }
        egress.write(&batch).expect("write");
        for want in ["one", "two"] {
            let body = get("greetings")
                .expect("a message")
                .body_mut()
                .read_to_string()
                .expect("text");
            assert_eq!(body, want);
        }
        assert!(matches!(
            get("greetings"),
            Err(ureq::Error::StatusCode(404))
        ));
        let mut wrong = Batch::default();
        let line = records::egress_line(
            EGRESS_ID,
            &crate::proto::TypedValue {
                typename: EGRESS_RECORD.into(),
                has_value: true,
                value: br#"{"topic":"nope","payload":"x"}"#.to_vec(),
            },
        );
        wrong.push(0, b"", line.as_bytes());
        let e = egress.write(&wrong).expect_err("unknown topic");
        assert!(e.to_string().contains("'nope'"), "{e}");
        assert_eq!(e.domain(), ErrorDomain::User);
        assert!(
            PlaygroundIngress::open(None, ep).is_err(),
            "the egress's address is not an ingress"
        );
    }
}
