//! The local control protocol of a job on the embedded runner.
//!
//! `weir run` serves it on a Unix socket per job; `weir list`, `weir
//! savepoint`, `weir stop` and `weir cancel` are its clients. A client
//! sends one JSON request on one line and reads one JSON response line.
//! The protocol core here is free of I/O policy: it reads a bounded
//! request from any reader, asks a [`JobControl`] and writes the answer,
//! so that it can be tested and fuzzed without sockets. Whatever arrives,
//! the server answers with a well-formed response and never panics.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Longest request line accepted, bytes (requests are tiny).
pub const MAX_REQUEST: u64 = 64 * 1024;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Progress of the job.
    Status,
    /// A savepoint under `dir` (the job's default when absent), then stop
    /// the job when `stop`.
    Savepoint {
        /// Where to create it.
        dir: Option<String>,
        /// Stop the job once it is complete.
        stop: bool,
    },
    /// Stop the job without a savepoint.
    Cancel,
}

/// The answer to a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why not.
    #[serde(default)]
    pub error: Option<String>,
    /// A savepoint's path.
    #[serde(default)]
    pub path: Option<String>,
    /// Records the sources read (status).
    #[serde(default)]
    pub source_records: u64,
    /// Completed checkpoints (status).
    #[serde(default)]
    pub checkpoints: u64,
    /// Restarts so far (status).
    #[serde(default)]
    pub restarts: u32,
}

/// A running job's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// Records the sources read.
    pub source_records: u64,
    /// Completed checkpoints.
    pub checkpoints: u64,
    /// Restarts so far.
    pub restarts: u32,
}

/// What the protocol asks of a running job.
pub trait JobControl {
    /// Its progress.
    fn status(&self) -> Status;
    /// Stops it without a savepoint.
    fn cancel(&self);
    /// Takes a savepoint under `dir` (the job's default when `None`) and
    /// stops the job after it when `stop`; returns its path.
    fn savepoint(&self, dir: Option<PathBuf>, stop: bool) -> Result<PathBuf, String>;
}

impl Response {
    fn failed(error: impl Into<String>) -> Self {
        Response {
            error: Some(error.into()),
            ..Response::default()
        }
    }
}

/// Reads one request line, at most [`MAX_REQUEST`] bytes.
pub fn read_request(reader: impl BufRead) -> Result<Request, String> {
    let mut line = Vec::new();
    reader
        .take(MAX_REQUEST + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if line.len() as u64 > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    if line.is_empty() {
        return Err("empty request".into());
    }
    serde_json::from_slice(&line).map_err(|e| format!("bad request: {e}"))
}

/// The answer of `job` to `request`.
pub fn answer(request: Result<Request, String>, job: &dyn JobControl) -> Response {
    match request {
        Err(e) => Response::failed(e),
        Ok(Request::Status) => {
            let s = job.status();
            Response {
                ok: true,
                source_records: s.source_records,
                checkpoints: s.checkpoints,
                restarts: s.restarts,
                ..Response::default()
            }
        }
        Ok(Request::Cancel) => {
            job.cancel();
            Response {
                ok: true,
                ..Response::default()
            }
        }
        Ok(Request::Savepoint { dir, stop }) => match job.savepoint(dir.map(PathBuf::from), stop) {
            Ok(path) => Response {
                ok: true,
                path: Some(path.display().to_string()),
                ..Response::default()
            },
            Err(e) => Response::failed(e),
        },
    }
}

/// Serves one connection: reads a request from `reader`, asks `job`, and
/// writes the response line to `writer`.
pub fn serve_one(
    reader: impl BufRead,
    mut writer: impl Write,
    job: &dyn JobControl,
) -> std::io::Result<()> {
    let response = answer(read_request(reader), job);
    let mut line = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line)
}

/// Sends `request` on a connection and reads the answer (the client side).
pub fn call(
    mut writer: impl Write,
    reader: impl BufRead,
    request: &Request,
) -> Result<Response, String> {
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    writer
        .write_all(&line)
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = Vec::new();
    reader
        .take(MAX_REQUEST)
        .read_until(b'\n', &mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    serde_json::from_slice(&answer).map_err(|e| format!("reading the job's answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Default)]
    struct Fake {
        cancelled: Cell<bool>,
    }

    impl JobControl for Fake {
        fn status(&self) -> Status {
            Status {
                source_records: 7,
                checkpoints: 2,
                restarts: 1,
            }
        }
        fn cancel(&self) {
            self.cancelled.set(true);
        }
        fn savepoint(&self, dir: Option<PathBuf>, stop: bool) -> Result<PathBuf, String> {
            match dir {
                Some(d) if stop => Ok(d.join("sp-1")),
                Some(_) => Err("the job finished".into()),
                None => Ok(PathBuf::from("default/sp-2")),
            }
        }
    }

    fn roundtrip(input: &[u8], job: &Fake) -> Response {
        let mut out = Vec::new();
        serve_one(input, &mut out, job).expect("writes");
        assert_eq!(out.last(), Some(&b'\n'), "one line");
        serde_json::from_slice(&out).expect("a well-formed response")
    }

    #[test]
    fn requests_are_answered() {
        let job = Fake::default();
        let r = roundtrip(b"{\"op\":\"status\"}\n", &job);
        assert!(r.ok && r.source_records == 7 && r.checkpoints == 2 && r.restarts == 1);
        let r = roundtrip(
            b"{\"op\":\"savepoint\",\"dir\":\"/x\",\"stop\":true}\n",
            &job,
        );
        assert_eq!(r.path.as_deref(), Some("/x/sp-1"));
        let r = roundtrip(
            b"{\"op\":\"savepoint\",\"dir\":\"/x\",\"stop\":false}",
            &job,
        );
        assert_eq!(
            (r.ok, r.error.as_deref()),
            (false, Some("the job finished"))
        );
        let r = roundtrip(b"{\"op\":\"cancel\"}\n", &job);
        assert!(r.ok && job.cancelled.get());
    }

    #[test]
    fn bad_requests_get_clear_errors() {
        let job = Fake::default();
        for (input, want) in [
            (&b""[..], "empty request"),
            (b"not json\n", "bad request"),
            (b"{\"op\":\"explode\"}\n", "bad request"),
            (b"\xff\xfe\n", "bad request"),
        ] {
            let r = roundtrip(input, &job);
            assert!(!r.ok, "{input:?}");
            assert!(
                r.error.as_deref().is_some_and(|e| e.contains(want)),
                "{r:?}"
            );
        }
        let huge = vec![b' '; MAX_REQUEST as usize + 10];
        let r = roundtrip(&huge, &job);
        assert!(
            r.error
                .as_deref()
                .is_some_and(|e| e.contains("longer than"))
        );
        assert!(!job.cancelled.get());
    }

    #[test]
    fn the_client_reads_what_the_server_writes() {
        let job = Fake::default();
        let mut sent = Vec::new();
        let mut served = Vec::new();
        // The client's request, served, then read back by the client.
        let _ = call(&mut sent, &b""[..], &Request::Status);
        serve_one(&sent[..], &mut served, &job).expect("serves");
        let r = call(std::io::sink(), &served[..], &Request::Status).expect("an answer");
        assert_eq!(r.source_records, 7);
    }
}
