//! The checkpoint directory: writing checkpoints, finding the latest
//! complete one, and keeping only the last few.

use crate::error::CheckpointError;
use crate::files::decode_snapshot;
use crate::location::{self, is_remote};
use crate::model::{KeyedPart, Metadata, OperatorSnapshot, RocksDbFiles, SnapshotFile};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const METADATA: &str = "_metadata";

/// The directory name of checkpoint `id`.
pub fn checkpoint_dir_name(id: u64) -> String {
    format!("chk-{id:08}")
}

fn parse_id(name: &str) -> Option<u64> {
    name.strip_prefix("chk-")?.parse().ok()
}

/// A checkpoint or savepoint read back: its metadata and every snapshot.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Its directory (or `s3://` prefix).
    pub dir: PathBuf,
    /// Its metadata.
    pub metadata: Metadata,
    /// Every operator sub-task snapshot.
    pub snapshots: Vec<OperatorSnapshot>,
    /// Where files of a remote checkpoint are downloaded to (RocksDB's,
    /// which the database opens from local files); removed with the last
    /// clone.
    cache: Option<Arc<tempfile::TempDir>>,
}

/// Local directories holding one RocksDB snapshot's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeDirs {
    /// The checkpoint's directory (its private files are under
    /// `private_dir`).
    pub checkpoint_dir: PathBuf,
    /// The store's directory of shared files.
    pub shared_dir: PathBuf,
}

impl Loaded {
    /// Local directories holding the files of RocksDB snapshot `files`:
    /// the checkpoint's own for a local one; for one on object storage, a
    /// download of just these files (each sub-task fetches its own).
    pub fn native_dirs(&self, files: &RocksDbFiles) -> Result<NativeDirs, CheckpointError> {
        let shared = self
            .dir
            .parent()
            .map(|p| p.join("shared"))
            .unwrap_or_default();
        let Some(cache) = &self.cache else {
            return Ok(NativeDirs {
                checkpoint_dir: self.dir.clone(),
                shared_dir: shared,
            });
        };
        let local = NativeDirs {
            checkpoint_dir: cache.path().join("checkpoint"),
            shared_dir: cache.path().join("shared"),
        };
        for name in &files.private {
            let rel = Path::new(&files.private_dir).join(name);
            location::fetch_file(&self.dir.join(&rel), &local.checkpoint_dir.join(&rel))?;
        }
        for rel in &files.shared {
            let to = local.shared_dir.join(rel);
            if !to.is_file() {
                location::fetch_file(&shared.join(rel), &to)?;
            }
        }
        Ok(local)
    }
}

/// Whether `name` is one plain file name (no directories, no `..`).
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Whether `path` stays inside the directory it is relative to.
fn inner_path(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && path.split('/').all(plain_name)
}

fn unsafe_path(path: &Path, what: &str, name: &str) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_owned(),
        message: format!("{what} '{name}' leaves its directory"),
    }
}

impl Metadata {
    /// Parses a `_metadata` file (`path` names it in errors), refusing one
    /// whose file names would reach outside the checkpoint.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Metadata, CheckpointError> {
        let m: Metadata = serde_json::from_slice(bytes).map_err(|e| CheckpointError::Corrupt {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(f) = m.files.iter().find(|f| !plain_name(&f.file)) {
            return Err(unsafe_path(path, "snapshot file", &f.file));
        }
        if let Some(s) = m.shared.iter().find(|s| !inner_path(s)) {
            return Err(unsafe_path(path, "shared file", s));
        }
        Ok(m)
    }
}

/// Refuses a snapshot whose file names would reach outside the
/// directories they belong to.
pub fn check_snapshot_paths(s: &OperatorSnapshot, path: &Path) -> Result<(), CheckpointError> {
    if let Some(KeyedPart::RocksDb(r)) = &s.keyed {
        if !plain_name(&r.private_dir) {
            return Err(unsafe_path(path, "private directory", &r.private_dir));
        }
        if let Some(n) = r.private.iter().find(|n| !plain_name(n)) {
            return Err(unsafe_path(path, "private file", n));
        }
        if let Some(n) = r.shared.iter().find(|n| !inner_path(n)) {
            return Err(unsafe_path(path, "shared file", n));
        }
    }
    if let Some(KeyedPart::Streamed(k)) = &s.keyed
        && !plain_name(&k.file)
    {
        return Err(unsafe_path(path, "state file", &k.file));
    }
    if let Some(sink) = &s.sink
        && let Some(p) = sink
            .pending
            .iter()
            .find(|p| !plain_name(&p.pending) || !plain_name(&p.committed))
    {
        return Err(unsafe_path(path, "part file", &p.pending));
    }
    Ok(())
}

/// A job's checkpoint directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    root: PathBuf,
    retain: usize,
}

impl CheckpointStore {
    /// The store at `root` (a directory, created if missing, or an `s3://`
    /// prefix, checked to be reachable), keeping the last `retain`
    /// completed checkpoints.
    pub fn open(root: &Path, retain: usize) -> Result<Self, CheckpointError> {
        location::check_location(root)?;
        Ok(CheckpointStore {
            root: root.to_owned(),
            retain: retain.max(1),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where RocksDB files shared between incremental checkpoints live.
    pub fn shared_dir(&self) -> PathBuf {
        self.root.join("shared")
    }

    /// A fresh directory for checkpoint `id`. Only one checkpoint of a job
    /// is in flight at a time, so every incomplete checkpoint found here is
    /// the leftover of one that failed (a full disk, a crash, a failed
    /// attempt): it is removed first, with the shared files only it had
    /// copied, so failures do not pile up on the disk.
    pub fn begin(&self, id: u64) -> Result<PathBuf, CheckpointError> {
        self.discard_incomplete()?;
        let dir = self.root.join(checkpoint_dir_name(id));
        location::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Removes every checkpoint without `_metadata`, then the shared files
    /// no remaining checkpoint references.
    pub fn discard_incomplete(&self) -> Result<(), CheckpointError> {
        let mut removed = false;
        for (_, dir) in Self::entries(&self.root)? {
            if !location::is_file(&dir.join(METADATA))? {
                location::remove_all(&dir)?;
                removed = true;
            }
        }
        if removed {
            self.collect_shared()?;
        }
        Ok(())
    }

    /// The id after every checkpoint in the store (complete or not).
    pub fn next_id(&self) -> Result<u64, CheckpointError> {
        Ok(Self::entries(&self.root)?
            .iter()
            .map(|(id, _)| id + 1)
            .max()
            .unwrap_or(1))
    }

    fn entries(root: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
        let mut v: Vec<(u64, PathBuf)> = location::list(root)?
            .into_iter()
            .filter(|e| e.dir)
            .filter_map(|e| parse_id(&e.name).map(|id| (id, e.path)))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Makes a checkpoint complete: writes `_metadata` atomically, last
    /// (on object storage one PUT, which is atomic).
    pub fn complete(dir: &Path, metadata: &Metadata) -> Result<(), CheckpointError> {
        let text = serde_json::to_vec_pretty(metadata).map_err(|e| CheckpointError::Corrupt {
            path: dir.join(METADATA),
            message: e.to_string(),
        })?;
        location::write_atomically(&dir.join(METADATA), &text)
    }

    /// Removes a checkpoint or savepoint that failed, with every file in
    /// it.
    pub fn discard(dir: &Path) -> Result<(), CheckpointError> {
        location::remove_all(dir)
    }

    /// Writes one snapshot file into checkpoint directory `dir`.
    pub fn write_snapshot(
        dir: &Path,
        operator: &str,
        subtask: u32,
        bytes: &[u8],
    ) -> Result<SnapshotFile, CheckpointError> {
        let file = format!("op-{operator}-{subtask}.snap");
        location::write(&dir.join(&file), bytes)?;
        Ok(SnapshotFile {
            operator: operator.to_owned(),
            subtask,
            file,
            bytes: bytes.len() as u64,
        })
    }

    /// Reads a complete checkpoint or savepoint directory, checking every
    /// file.
    pub fn load(dir: &Path) -> Result<Loaded, CheckpointError> {
        let mpath = dir.join(METADATA);
        let text = location::read(&mpath)?;
        let metadata = Metadata::from_json(&text, &mpath)?;
        let mut snapshots = Vec::with_capacity(metadata.files.len());
        for f in &metadata.files {
            let path = dir.join(&f.file);
            let s = decode_snapshot(&location::read(&path)?, &path)?;
            if s.operator != f.operator || s.subtask != f.subtask {
                return Err(CheckpointError::Corrupt {
                    path,
                    message: format!(
                        "holds {}/{} where the metadata says {}/{}",
                        s.operator, s.subtask, f.operator, f.subtask
                    ),
                });
            }
            check_snapshot_paths(&s, &path)?;
            snapshots.push(s);
        }
        let cache = if is_remote(dir) {
            let tmp = tempfile::Builder::new()
                .prefix("weir-restore-")
                .tempdir()
                .map_err(crate::error::io(
                    "cannot create a download directory in",
                    &std::env::temp_dir(),
                ))?;
            Some(Arc::new(tmp))
        } else {
            None
        };
        Ok(Loaded {
            dir: dir.to_owned(),
            metadata,
            snapshots,
            cache,
        })
    }

    /// The newest readable complete checkpoint under `path` (a checkpoint
    /// directory root), or `path` itself when it is one checkpoint or
    /// savepoint. Unreadable checkpoints are skipped with a warning, so an
    /// older complete one is used when the newest is damaged; an object
    /// store that cannot be reached is an error, never a reason to go
    /// back to an older checkpoint.
    pub fn latest(path: &Path) -> Result<Loaded, CheckpointError> {
        if location::is_file(&path.join(METADATA))? {
            return Self::load(path);
        }
        if !is_remote(path) && !path.is_dir() {
            return Err(CheckpointError::NotFound {
                dir: path.to_owned(),
                message: "no such directory".into(),
            });
        }
        let mut refused = Vec::new();
        for (id, dir) in Self::entries(path)?.into_iter().rev() {
            if !location::is_file(&dir.join(METADATA))? {
                refused.push(format!("chk {id}: incomplete (no _metadata)"));
                continue;
            }
            match Self::load(&dir) {
                Ok(l) => {
                    for r in &refused {
                        tracing::warn!("skipped {r}");
                    }
                    return Ok(l);
                }
                // The store could not be reached: an older checkpoint would
                // restore stale state over committed output.
                Err(e @ CheckpointError::Remote { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!("checkpoint {id} is unreadable, trying an older one: {e}");
                    refused.push(format!("chk {id}: {e}"));
                }
            }
        }
        Err(CheckpointError::NotFound {
            dir: path.to_owned(),
            message: if refused.is_empty() {
                "it holds no checkpoint".into()
            } else {
                refused.join("; ")
            },
        })
    }

    /// Keeps the newest `retain` complete checkpoints; removes older
    /// ones, incomplete ones older than the newest complete one, and
    /// shared files no retained checkpoint uses.
    pub fn prune(&self) -> Result<(), CheckpointError> {
        let all = Self::entries(&self.root)?;
        let mut complete: Vec<&(u64, PathBuf)> = Vec::new();
        for e in &all {
            if location::is_file(&e.1.join(METADATA))? {
                complete.push(e);
            }
        }
        let Some(newest) = complete.last().map(|(id, _)| *id) else {
            return Ok(());
        };
        let keep: BTreeSet<u64> = complete
            .iter()
            .rev()
            .take(self.retain)
            .map(|(id, _)| *id)
            .collect();
        for (id, dir) in &all {
            if !keep.contains(id) && *id < newest {
                location::remove_all(dir)?;
            }
        }
        self.collect_shared()
    }

    /// Removes the shared files that no checkpoint in the store references
    /// (nothing while a checkpoint is in flight: its references are not
    /// written yet).
    fn collect_shared(&self) -> Result<(), CheckpointError> {
        let shared = self.shared_dir();
        let mut used = BTreeSet::new();
        for (_, dir) in Self::entries(&self.root)? {
            let m = dir.join(METADATA);
            let Ok(text) = location::read(&m) else {
                // Incomplete: in flight, its references not written yet.
                return Ok(());
            };
            if let Ok(meta) = serde_json::from_slice::<Metadata>(&text) {
                used.extend(meta.shared);
            }
        }
        for sub in location::list(&shared)?.into_iter().filter(|e| e.dir) {
            for f in location::list(&sub.path)? {
                let rel = format!("{}/{}", sub.name, f.name);
                if !f.dir && !used.contains(&rel) {
                    location::remove_file(&f.path)?;
                }
            }
            if !is_remote(&sub.path) {
                // Fails (harmlessly) unless the directory is empty now.
                let _ = std::fs::remove_dir(&sub.path);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckpointKind;

    fn meta(id: u64) -> Metadata {
        Metadata {
            format: 1,
            job: "j".into(),
            id,
            kind: CheckpointKind::Checkpoint,
            triggered_ms: 0,
            duration_ms: 0,
            backend: "memory".into(),
            max_parallelism: 128,
            operators: Vec::new(),
            files: Vec::new(),
            bytes: 0,
            job_finished: false,
            shared: Vec::new(),
        }
    }

    fn checkpoint(store: &CheckpointStore, id: u64, complete: bool) -> PathBuf {
        let dir = store.begin(id).expect("begin");
        let snap = OperatorSnapshot::empty("op", 0, 1);
        let bytes = crate::encode_snapshot(&snap).expect("encode");
        let f = CheckpointStore::write_snapshot(&dir, "op", 0, &bytes).expect("write");
        if complete {
            let mut m = meta(id);
            m.files.push(f);
            CheckpointStore::complete(&dir, &m).expect("complete");
        }
        dir
    }

    #[test]
    fn latest_skips_incomplete_and_damaged_checkpoints() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = CheckpointStore::open(tmp.path(), 3).expect("open");
        checkpoint(&store, 1, true);
        let two = checkpoint(&store, 2, true);
        checkpoint(&store, 3, false);
        assert_eq!(
            CheckpointStore::latest(tmp.path())
                .expect("latest")
                .metadata
                .id,
            2
        );
        // Damage 2: 1 is used.
        std::fs::write(two.join("op-op-0.snap"), b"WEIRSNAP garbage").expect("damage");
        assert_eq!(
            CheckpointStore::latest(tmp.path())
                .expect("latest")
                .metadata
                .id,
            1
        );
        std::fs::write(two.join("_metadata"), b"{ not json").expect("damage");
        assert_eq!(
            CheckpointStore::latest(tmp.path())
                .expect("latest")
                .metadata
                .id,
            1
        );
        assert_eq!(store.next_id().expect("next"), 4);
        let empty = tempfile::tempdir().expect("tmp");
        let e = CheckpointStore::latest(empty.path()).expect_err("none");
        assert!(e.to_string().contains("holds no checkpoint"), "{e}");
    }

    #[test]
    fn prune_keeps_the_newest_complete_checkpoints() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = CheckpointStore::open(tmp.path(), 2).expect("open");
        for id in 1..=5 {
            checkpoint(&store, id, id != 4);
        }
        checkpoint(&store, 6, false);
        store.prune().expect("prune");
        let left: Vec<u64> = CheckpointStore::entries(tmp.path())
            .expect("entries")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(left, vec![3, 5, 6], "two complete kept, in-flight 6 kept");
    }

    #[test]
    fn a_new_checkpoint_removes_failed_ones_and_their_shared_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = CheckpointStore::open(tmp.path(), 3).expect("open");
        let inst = store.shared_dir().join("inst");
        std::fs::create_dir_all(&inst).expect("mkdir");
        // Checkpoint 1 completes, referencing a.sst.
        std::fs::write(inst.join("a.sst"), b"a").expect("write");
        let one = store.begin(1).expect("begin");
        let mut m = meta(1);
        m.shared.push("inst/a.sst".into());
        CheckpointStore::complete(&one, &m).expect("complete");
        // Checkpoints 2 and 3 fail (say, the disk filled up) after copying
        // b.sst and c.sst.
        for (id, f) in [(2, "b.sst"), (3, "c.sst")] {
            checkpoint(&store, id, false);
            std::fs::write(inst.join(f), b"x").expect("write");
        }
        let four = store.begin(4).expect("begin");
        let left: Vec<u64> = CheckpointStore::entries(tmp.path())
            .expect("entries")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(left, vec![1, 4]);
        assert!(four.is_dir());
        assert!(inst.join("a.sst").is_file(), "still referenced by 1");
        assert!(!inst.join("b.sst").exists() && !inst.join("c.sst").exists());
        // An instance directory whose files all went is removed too.
        let gone = store.shared_dir().join("gone");
        std::fs::create_dir_all(&gone).expect("mkdir");
        std::fs::write(gone.join("d.sst"), b"x").expect("write");
        store.begin(5).expect("begin");
        store.begin(6).expect("begin");
        assert!(!gone.exists());
        assert_eq!(
            CheckpointStore::latest(tmp.path())
                .expect("latest")
                .metadata
                .id,
            1
        );
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn names_that_leave_their_directory_are_refused() {
        for ok in ["op-count-0.snap", "a.b", "..x"] {
            assert!(plain_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b"] {
            assert!(!plain_name(bad), "{bad}");
        }
        assert!(inner_path("instance-1/000012.sst"));
        for bad in ["/abs", "a/../../b", "..", "a//b", ""] {
            assert!(!inner_path(bad), "{bad}");
        }
        let text = br#"{"format":1,"job":"j","id":1,"kind":"checkpoint","triggered_ms":0,"duration_ms":0,"backend":"memory","max_parallelism":128,"operators":[],"files":[{"operator":"o","subtask":0,"file":"../../etc/passwd","bytes":1}],"bytes":0,"job_finished":false}"#;
        let e = Metadata::from_json(text, Path::new("_metadata")).expect_err("unsafe");
        assert!(e.to_string().contains("leaves its directory"), "{e}");
    }
}
