//! The control protocol: whatever a client sends, the server answers with
//! one well-formed JSON line and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use weir_control::{JobControl, Response, Status, serve_one};

struct Job;

impl JobControl for Job {
    fn status(&self) -> Status {
        Status::default()
    }
    fn cancel(&self) {}
    fn savepoint(&self, dir: Option<PathBuf>, _stop: bool) -> Result<PathBuf, String> {
        dir.ok_or_else(|| "no directory".to_owned())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    serve_one(data, &mut out, &Job).expect("writing to memory succeeds");
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    let _: Response = serde_json::from_slice(&out).expect("a well-formed response");
});
