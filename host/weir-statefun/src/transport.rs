//! Calls to remote function endpoints: `POST` of a serialized
//! `ToFunction`, the reply a serialized `FromFunction`. I/O errors and the
//! statuses StateFun retries (408, 409, 420, 429, 499, 5xx) are retried
//! with exponential backoff inside the endpoint's call budget; other
//! statuses fail at once. Connections are pooled per endpoint.

use crate::module::HttpEndpoint;
use crate::proto::{FromFunction, ToFunction};
use prost::Message as _;
use std::time::{Duration, Instant};

/// The first pause before a retry; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why a call gave no usable reply.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {message} (after {attempts} attempt(s) in {elapsed_ms} ms)")]
pub struct CallFailure {
    /// The URL called.
    pub url: String,
    /// What went wrong on the last attempt.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
    /// Time spent, ms.
    pub elapsed_ms: u64,
    /// Whether the function answered with something other than a
    /// protocol reply (a status it chose, an undecodable body): the
    /// user's code is at fault, not the network.
    pub by_function: bool,
}

/// One endpoint's pooled HTTP client and its budget.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    budget: Duration,
}

/// What one attempt came to.
enum Attempt {
    Reply(FromFunction),
    Retry(String),
    Fail(String),
}

impl Client {
    /// A client for `endpoint` (its connect timeout and call budget).
    pub fn new(endpoint: &HttpEndpoint) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(endpoint.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Client {
            http,
            budget: endpoint.call_timeout,
        })
    }

    /// Sends `request` to `url` until a reply is accepted or the budget is
    /// spent.
    pub async fn call(&self, url: &str, request: &ToFunction) -> Result<FromFunction, CallFailure> {
        let body = request.encode_to_vec();
        let started = Instant::now();
        let deadline = started + self.budget;
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let failure = |message: String, by_function: bool| CallFailure {
                url: url.to_owned(),
                message,
                attempts,
                elapsed_ms: started.elapsed().as_millis() as u64,
                by_function,
            };
            match self.attempt(url, body.clone(), left).await {
                Attempt::Reply(r) => return Ok(r),
                Attempt::Fail(m) => return Err(failure(m, true)),
                Attempt::Retry(m) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(failure(
                            format!("{m}; the call budget of {:?} is spent", self.budget),
                            false,
                        ));
                    }
                    tokio::time::sleep(backoff.min(left)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn attempt(&self, url: &str, body: Vec<u8>, left: Duration) -> Attempt {
        if left.is_zero() {
            return Attempt::Retry("no time left".into());
        }
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/octet-stream")
            .timeout(left)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(describe(&e)),
        };
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            let m = format!("HTTP {status}: {}", text.trim());
            return if retried(status.as_u16()) {
                Attempt::Retry(m)
            } else {
                Attempt::Fail(m)
            };
        }
        match response.bytes().await {
            Ok(b) => match FromFunction::decode(b.as_ref()) {
                Ok(r) => Attempt::Reply(r),
                Err(e) => Attempt::Fail(format!(
                    "the reply is not a FromFunction message ({e}); is the URL a StateFun endpoint?"
                )),
            },
            Err(e) => Attempt::Retry(describe(&e)),
        }
    }
}

/// A call to make: its tag comes back with the result.
pub struct Call<T> {
    /// What the caller matches the result with.
    pub tag: T,
    /// The endpoint's client.
    pub client: Client,
    /// Where to send it.
    pub url: String,
    /// What to send.
    pub request: ToFunction,
}

/// A finished call.
pub struct Done<T> {
    /// The call's tag.
    pub tag: T,
    /// Its reply, or why there is none.
    pub result: Result<FromFunction, CallFailure>,
}

/// Makes calls concurrently on a thread of its own (a current-thread
/// tokio runtime), so that a synchronous caller can have many requests in
/// flight; results arrive on the channel given to [`Caller::start`].
/// Dropping it abandons the calls still running.
pub struct Caller<T> {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Call<T>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Caller<T> {
    /// Starts the calling thread; results go to `done`.
    pub fn start(
        name: &str,
        done: crossbeam_channel::Sender<Done<T>>,
    ) -> Result<Caller<T>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Call<T>>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                rt.block_on(async move {
                    while let Some(call) = rx.recv().await {
                        let done = done.clone();
                        tokio::spawn(async move {
                            let result = call.client.call(&call.url, &call.request).await;
                            let _ = done.send(Done {
                                tag: call.tag,
                                result,
                            });
                        });
                    }
                });
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Caller {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Starts a call.
    pub fn call(&self, call: Call<T>) -> Result<(), String> {
        match &self.tx {
            Some(tx) => tx
                .send(call)
                .map_err(|_| "the HTTP thread stopped".to_owned()),
            None => Err("the HTTP thread stopped".into()),
        }
    }
}

impl<T> Drop for Caller<T> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether StateFun retries a reply with this status.
fn retried(status: u16) -> bool {
    matches!(status, 408 | 409 | 420 | 429 | 499) || status >= 500
}

/// An error with its causes, which name the refused connection or the
/// timeout.
fn describe(e: &reqwest::Error) -> String {
    let mut m = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        m.push_str(": ");
        m.push_str(&s.to_string());
        source = s.source();
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statefun_retries_these_statuses_only() {
        for s in [408, 409, 420, 429, 499, 500, 502, 503, 599] {
            assert!(retried(s), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 413, 422] {
            assert!(!retried(s), "{s}");
        }
    }
}
