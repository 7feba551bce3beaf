//! Checkpoint and savepoint files: snapshot files (raw, and with a valid
//! envelope around fuzzed contents, so the decoder behind the checksum is
//! reached) and `_metadata` never panic; what decodes never names a path
//! outside its directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use weir_checkpoint::{Metadata, check_snapshot_paths, decode_snapshot};

fn envelope(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 28);
    out.extend_from_slice(b"WEIRSNAP");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(payload).to_le_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("op-x-0.snap");
    let _ = decode_snapshot(data, path);
    if let Ok(s) = decode_snapshot(&envelope(data), path) {
        let _ = check_snapshot_paths(&s, path);
    }
    if let Ok(m) = Metadata::from_json(data, Path::new("_metadata")) {
        assert!(
            m.files
                .iter()
                .all(|f| !f.file.contains('/') && f.file != "..")
        );
    }
});
