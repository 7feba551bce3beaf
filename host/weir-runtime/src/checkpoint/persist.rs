//! Writing one operator snapshot into a checkpoint directory, where the
//! sub-task runs: its snapshot file, and a RocksDB checkpoint's new files
//! into the store's shared directory. What comes out is a small handle the
//! coordinator records in `_metadata`, so snapshots never travel to it.

use crate::control::OpAck;
use std::path::{Path, PathBuf};
use weir_checkpoint::{
    CheckpointStore, KeyedPart, OperatorSnapshot, RocksDbFiles, SinkState, SnapshotFile,
    encode_snapshot,
};

/// Where a checkpoint's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The checkpoint's (or savepoint's) directory.
    pub dir: PathBuf,
    /// The store's directory of files shared between checkpoints (native
    /// RocksDB files); none outside a checkpoint store.
    pub shared_root: Option<PathBuf>,
}

/// One operator sub-task's snapshot, written: what `_metadata` lists and
/// what the checkpoint commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedOp {
    /// The snapshot file.
    pub file: SnapshotFile,
    /// Bytes written for it (the file, and backend files copied).
    pub bytes: u64,
    /// Shared files it references (relative to the shared directory).
    pub shared: Vec<String>,
    /// A file sink's pending output, committed when the checkpoint
    /// completes.
    pub sink: Option<SinkState>,
}

/// Copies a file, as a hard link where the file system allows; the bytes
/// copied (0 for a link).
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<u64> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(0);
    }
    std::fs::copy(from, to)
}

/// Builds a deferred snapshot, moves a native backend checkpoint's files
/// into the checkpoint, and writes the snapshot file.
pub(crate) fn persist_op(target: &Target, mut op: OpAck) -> Result<PersistedOp, String> {
    op.materialize().map_err(|e| {
        format!(
            "cannot snapshot the state of operator '{}' (sub-task {}): {e}",
            op.snapshot.operator,
            op.snapshot.subtask + 1
        )
    })?;
    let OpAck {
        mut snapshot,
        native,
        ..
    } = op;
    let mut bytes = 0;
    let mut shared = Vec::new();
    if let Some(n) = native {
        let result = move_native(target, &mut snapshot, &n, &mut bytes, &mut shared);
        let _ = std::fs::remove_dir_all(&n.dir);
        result?;
    }
    let encoded =
        encode_snapshot(&snapshot).map_err(|e| format!("cannot encode a snapshot: {e}"))?;
    let file = CheckpointStore::write_snapshot(
        &target.dir,
        &snapshot.operator,
        snapshot.subtask,
        &encoded,
    )
    .map_err(|e| format!("cannot write {}: {e}", target.dir.display()))?;
    bytes += file.bytes;
    Ok(PersistedOp {
        file,
        bytes,
        shared,
        sink: snapshot.sink,
    })
}

/// Links a RocksDB checkpoint's new shared files into the store and copies
/// its private ones into the checkpoint; fills in `snapshot.keyed`.
fn move_native(
    target: &Target,
    snapshot: &mut OperatorSnapshot,
    n: &weir_state::NativeCheckpoint,
    bytes: &mut u64,
    shared_out: &mut Vec<String>,
) -> Result<(), String> {
    let Some(shared_root) = &target.shared_root else {
        return Err("a native state snapshot outside a checkpoint store".into());
    };
    let private_dir = format!("rocksdb-{}-{}", snapshot.operator, snapshot.subtask);
    let private = target.dir.join(&private_dir);
    let own = shared_root.join(&n.instance);
    std::fs::create_dir_all(&private)
        .and_then(|_| std::fs::create_dir_all(&own))
        .map_err(|e| format!("cannot create checkpoint files: {e}"))?;
    let mut shared = Vec::with_capacity(n.shared.len());
    for file in &n.shared {
        let rel = match &file.existing {
            Some(rel) => rel.clone(),
            None => {
                let rel = format!("{}/{}", n.instance, file.name);
                let to = shared_root.join(&rel);
                if !to.exists() {
                    *bytes += link_or_copy(&n.dir.join(&file.name), &to)
                        .map_err(|e| format!("cannot copy {}: {e}", file.name))?
                        .max(std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0));
                }
                rel
            }
        };
        shared.push(rel);
    }
    for name in &n.private {
        *bytes += std::fs::copy(n.dir.join(name), private.join(name))
            .map_err(|e| format!("cannot copy {name}: {e}"))?;
    }
    shared_out.extend(shared.iter().cloned());
    snapshot.keyed = Some(KeyedPart::RocksDb(RocksDbFiles {
        key_groups: n.key_groups,
        shared,
        private: n.private.clone(),
        private_dir,
        states: n.states.clone(),
    }));
    Ok(())
}
