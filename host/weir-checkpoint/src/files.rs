//! Snapshot files: `WEIRSNAP`, a format version, the postcard-encoded
//! snapshot and an XXH3-64 checksum of it.

use crate::error::{CheckpointError, io};
use crate::model::OperatorSnapshot;
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"WEIRSNAP";
/// Format 2 added `SinkState::kafka`, format 3 `KeyedPart::Streamed`;
/// files of formats 1 and 2 still decode.
const VERSION: u32 = 3;
const HEADER: usize = 8 + 4 + 8;

/// Encodes a snapshot file's bytes.
pub fn encode_snapshot(s: &OperatorSnapshot) -> Result<Vec<u8>, String> {
    let payload = postcard::to_allocvec(s).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(HEADER + payload.len() + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
    Ok(out)
}

/// Decodes a snapshot file's bytes; `path` names it in errors.
pub fn decode_snapshot(bytes: &[u8], path: &Path) -> Result<OperatorSnapshot, CheckpointError> {
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.to_owned(),
        message,
    };
    if bytes.len() < HEADER + 8 {
        return Err(corrupt(format!("truncated: {} bytes", bytes.len())));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("not a Weir snapshot file".into()));
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&bytes[8..12]);
    let version = u32::from_le_bytes(v);
    if !(1..=VERSION).contains(&version) {
        return Err(corrupt(format!(
            "snapshot format {version}, this Weir reads formats 1 to {VERSION}"
        )));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[12..20]);
    let len = usize::try_from(u64::from_le_bytes(n)).unwrap_or(usize::MAX);
    if bytes.len() - HEADER - 8 != len {
        return Err(corrupt(format!(
            "truncated: header says {len} bytes of state, the file has {}",
            bytes.len().saturating_sub(HEADER + 8)
        )));
    }
    let payload = &bytes[HEADER..HEADER + len];
    let mut c = [0u8; 8];
    c.copy_from_slice(&bytes[HEADER + len..]);
    if u64::from_le_bytes(c) != xxhash_rust::xxh3::xxh3_64(payload) {
        return Err(corrupt("checksum mismatch".into()));
    }
    let decoded = if version == 1 {
        postcard::from_bytes::<crate::legacy::OperatorSnapshotV1>(payload).map(Into::into)
    } else {
        postcard::from_bytes(payload)
    };
    decoded.map_err(|e| corrupt(format!("cannot decode: {e}")))
}

/// Reads and decodes a snapshot file.
pub fn read_snapshot_file(path: &Path) -> Result<OperatorSnapshot, CheckpointError> {
    let bytes = std::fs::read(path).map_err(io("cannot read", path))?;
    decode_snapshot(&bytes, path)
}

/// Writes a file and fsyncs it (a full disk or a failing device is an
/// error here, not a silently short file).
pub fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut f = std::fs::File::create(path).map_err(io("cannot create", path))?;
    f.write_all(bytes).map_err(io("cannot write", path))?;
    f.sync_all().map_err(io("cannot sync", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_damage_is_a_clear_error() {
        let s = OperatorSnapshot::empty("count", 1, 2);
        let bytes = encode_snapshot(&s).expect("encode");
        let p = Path::new("op-count-1.snap");
        assert_eq!(decode_snapshot(&bytes, p).expect("decode"), s);
        for cut in [0, 5, HEADER, bytes.len() - 1] {
            let e = decode_snapshot(&bytes[..cut], p).expect_err("truncated");
            assert!(e.to_string().contains("truncated"), "{e}");
        }
        let mut flipped = bytes.clone();
        let mid = HEADER + 2;
        flipped[mid] ^= 0x40;
        let e = decode_snapshot(&flipped, p).expect_err("flipped");
        assert!(e.to_string().contains("checksum"), "{e}");
        let e = decode_snapshot(b"hello world, this is not a snapshot", p).expect_err("magic");
        assert!(e.to_string().contains("not a Weir snapshot"), "{e}");
    }
}
