//! Writing one operator snapshot into a checkpoint directory, where the
//! sub-task runs: its snapshot file, and a RocksDB checkpoint's new files
//! into the store's shared directory. What comes out is a small handle the
//! coordinator records in `_metadata`, so snapshots never travel to it.

use crate::control::OpAck;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_checkpoint::{
    CheckpointStore, Chunk, KeyedPart, OperatorSnapshot, RocksDbFiles, SinkState, SnapshotFile,
    StateFileWriter, StreamedKeyed, copy_file, create_dir_all, encode_snapshot, is_remote,
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

/// Canonical keyed state streamed into a local state file once: a
/// finished sub-task's final state, copied (hard-linked where the file
/// system allows) into every checkpoint that needs it. The file is removed
/// when the last holder drops it.
pub(crate) struct Spilled {
    file: tempfile::TempPath,
    states: Vec<weir_state::StateDesc>,
    chunks: Vec<Chunk>,
}

/// Streams a deferred snapshot into a new local temporary state file.
pub(crate) fn spill(deferred: weir_state::DeferredSnapshot) -> Result<Arc<Spilled>, String> {
    let file = tempfile::Builder::new()
        .prefix("weir-state-")
        .tempfile()
        .map_err(|e| format!("cannot create a temporary state file: {e}"))?
        .into_temp_path();
    let (states, chunks, _) = write_state(&file, deferred)?;
    Ok(Arc::new(Spilled {
        file,
        states,
        chunks,
    }))
}

/// Streams `deferred` into the local state file `path`.
fn write_state(
    path: &Path,
    deferred: weir_state::DeferredSnapshot,
) -> Result<(Vec<weir_state::StateDesc>, Vec<Chunk>, u64), String> {
    let mut w = StateFileWriter::create(path).map_err(|e| e.to_string())?;
    let mut failed = None;
    let states = deferred
        .stream(&mut |e| {
            w.push(e).map_err(|e| {
                let message = e.to_string();
                failed = Some(e);
                weir_state::StateError::Storage(message)
            })
        })
        .map_err(|e| match failed.take() {
            Some(io) => io.to_string(),
            None => e.to_string(),
        })?;
    let (chunks, bytes) = w.finish().map_err(|e| e.to_string())?;
    Ok((states, chunks, bytes))
}

/// Writes an operator's canonical keyed state into `target` as its state
/// file: streamed there directly when the target is local, through a
/// local temporary file when it is object storage. Returns the bytes
/// written.
fn persist_state(target: &Target, op: &mut OpAck) -> Result<u64, String> {
    let snapshot = &mut op.snapshot;
    let name = format!("op-{}-{}.state", snapshot.operator, snapshot.subtask);
    let to = target.dir.join(&name);
    let (states, chunks, bytes) = match (op.deferred.take(), &op.spilled) {
        (Some(d), _) if !is_remote(&target.dir) => {
            create_dir_all(&target.dir).map_err(|e| e.to_string())?;
            write_state(&to, d)?
        }
        (Some(d), _) => {
            let s = spill(d)?;
            let bytes = copy_file(&s.file, &to).map_err(|e| e.to_string())?;
            (s.states.clone(), s.chunks.clone(), bytes)
        }
        (None, Some(s)) => {
            let bytes = copy_file(&s.file, &to).map_err(|e| e.to_string())?;
            (s.states.clone(), s.chunks.clone(), bytes)
        }
        (None, None) => return Ok(0),
    };
    snapshot.keyed = Some(KeyedPart::Streamed(StreamedKeyed {
        states,
        file: name,
        chunks,
    }));
    Ok(bytes)
}

/// Streams canonical keyed state into its state file, moves a native
/// backend checkpoint's files into the checkpoint, and writes the snapshot
/// file.
pub(crate) fn persist_op(target: &Target, mut op: OpAck) -> Result<PersistedOp, String> {
    let mut bytes = persist_state(target, &mut op).map_err(|e| {
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

/// Links (or uploads) a RocksDB checkpoint's new shared files into the
/// store and copies its private ones into the checkpoint; fills in
/// `snapshot.keyed`. Files earlier checkpoints hold already are referenced,
/// not copied again: an incremental checkpoint writes only new files.
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
    create_dir_all(&private)
        .and_then(|_| create_dir_all(&own))
        .map_err(|e| format!("cannot create checkpoint files: {e}"))?;
    let mut shared = Vec::with_capacity(n.shared.len());
    for file in &n.shared {
        let rel = match &file.existing {
            Some(rel) => rel.clone(),
            None => {
                let rel = format!("{}/{}", n.instance, file.name);
                let to = shared_root.join(&rel);
                // Uploaded by an earlier checkpoint of this backend (or
                // left by a failed one): referenced, not copied again.
                let there = weir_checkpoint::location::is_file(&to)
                    .map_err(|e| format!("cannot look for {rel}: {e}"))?;
                if !there {
                    *bytes += copy_file(&n.dir.join(&file.name), &to)
                        .map_err(|e| format!("cannot copy {}: {e}", file.name))?;
                }
                rel
            }
        };
        shared.push(rel);
    }
    for name in &n.private {
        *bytes += copy_file(&n.dir.join(name), &private.join(name))
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
