//! The file sink: part files in a directory, written in two phases.
//!
//! A sub-task writes `.part-<subtask>-<n>.<ext>.inprogress`. With
//! checkpoints, each checkpoint closes the file as
//! `.part-<subtask>-<n>.<ext>.pending` and lists it in the sub-task's
//! snapshot; when the checkpoint completes, the job renames it to
//! `part-<subtask>-<n>.<ext>` ([`commit`]). After a failure, recovery
//! commits the pending files of the checkpoint it restores and removes
//! every other hidden file ([`clean_for_restore`]), so the committed output
//! equals a failure-free run's. Without checkpoints, the end of input
//! commits.

use crate::{ConnectorError, SinkWriter};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use weir_checkpoint::{PendingFile, SinkState};
use weir_core::Batch;
use weir_core::spec::RecordFormat;

fn io<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> ConnectorError + 'p {
    move |source| ConnectorError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

fn ext(format: RecordFormat) -> &'static str {
    match format {
        RecordFormat::Text => "txt",
        RecordFormat::Json => "jsonl",
    }
}

/// The committed name of part `n` of `subtask`.
pub fn part_name(subtask: u32, n: u64, format: RecordFormat) -> String {
    format!("part-{subtask}-{n}.{}", ext(format))
}

/// (subtask, part) of a committed part file name.
fn parse_part(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("part-")?;
    let stem = rest.split('.').next()?;
    let (s, n) = stem.split_once('-')?;
    Some((s.parse().ok()?, n.parse().ok()?))
}

/// The visible files of `dir` (output a fresh run would replace or mix
/// with), if it exists.
pub fn visible_files(dir: &Path) -> Result<Vec<String>, ConnectorError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("cannot list", dir)(e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// Creates the output directory and removes the part files of an earlier
/// run (committed or not), so that a fresh run starts clean. Called before
/// the writers start, when not restoring (the job refused to start unless
/// the directory was empty or `--overwrite` was given).
pub fn prepare_output_dir(dir: &Path) -> Result<(), ConnectorError> {
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    for entry in std::fs::read_dir(dir)
        .map_err(io("cannot list", dir))?
        .flatten()
    {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") || name.starts_with(".part-") {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(io("cannot remove old part file", &p))?;
        }
    }
    Ok(())
}

/// Commits pending files: renames each to its committed name. Idempotent:
/// a file already committed is left as it is.
pub fn commit(dir: &Path, files: &[PendingFile]) -> Result<(), ConnectorError> {
    for f in files {
        let from = dir.join(&f.pending);
        let to = dir.join(&f.committed);
        if from.exists() {
            std::fs::rename(&from, &to).map_err(io("cannot commit", &from))?;
        } else if !to.exists() {
            return Err(ConnectorError::Io {
                action: "cannot commit",
                path: from.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the pending part file is gone",
                ),
            });
        }
    }
    Ok(())
}

/// Before a restored run: removes every uncommitted part file, and
/// committed parts numbered at or past where each sub-task resumes (written
/// after the restored checkpoint, if an older checkpoint is restored).
/// `next_part(subtask)` gives where a sub-task of the restored checkpoint
/// resumes, `None` for sub-tasks the checkpoint does not know.
pub fn clean_for_restore(
    dir: &Path,
    next_part: impl Fn(u32) -> Option<u64>,
) -> Result<(), ConnectorError> {
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    for entry in std::fs::read_dir(dir)
        .map_err(io("cannot list", dir))?
        .flatten()
    {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = if name.starts_with(".part-") {
            true
        } else {
            match parse_part(&name) {
                Some((s, n)) => next_part(s).is_some_and(|next| n >= next),
                None => false,
            }
        };
        if stale {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(io("cannot remove stale part file", &p))?;
        }
    }
    Ok(())
}

struct Open {
    path: PathBuf,
    part: u64,
    out: BufWriter<File>,
}

/// Writes values, one per line, to part files of one sub-task.
pub struct FileSink {
    dir: PathBuf,
    subtask: u32,
    format: RecordFormat,
    two_phase: bool,
    next_part: u64,
    current: Option<Open>,
    /// Closed part files not committed yet, with the checkpoint that first
    /// covered each (`u64::MAX`: closed at the end of input). A failed
    /// checkpoint's files stay here for the next one.
    pending: Vec<(u64, PendingFile)>,
}

impl FileSink {
    /// The writer of `subtask` into `dir`, starting at part `next_part`.
    /// `two_phase`: checkpoints commit the output (otherwise the end of
    /// input does).
    pub fn new(
        dir: &Path,
        subtask: u32,
        format: RecordFormat,
        two_phase: bool,
        next_part: u64,
    ) -> Self {
        FileSink {
            dir: dir.to_owned(),
            subtask,
            format,
            two_phase,
            next_part,
            current: None,
            pending: Vec::new(),
        }
    }

    fn open(&mut self) -> Result<&mut Open, ConnectorError> {
        if self.current.is_none() {
            let part = self.next_part;
            self.next_part += 1;
            let name = part_name(self.subtask, part, self.format);
            let path = self.dir.join(format!(".{name}.inprogress"));
            let file = File::create(&path).map_err(io("cannot create", &path))?;
            self.current = Some(Open {
                path,
                part,
                out: BufWriter::with_capacity(256 * 1024, file),
            });
        }
        self.current
            .as_mut()
            .ok_or_else(|| ConnectorError::Corrupt("no open part file".into()))
    }

    /// Flushes and closes the open part file as pending, covered by
    /// `checkpoint`.
    fn close(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        let Some(mut open) = self.current.take() else {
            return Ok(());
        };
        open.out.flush().map_err(io("cannot write", &open.path))?;
        open.out
            .get_ref()
            .sync_all()
            .map_err(io("cannot sync", &open.path))?;
        let committed = part_name(self.subtask, open.part, self.format);
        let pending = format!(".{committed}.pending");
        let to = self.dir.join(&pending);
        std::fs::rename(&open.path, &to).map_err(io("cannot close", &open.path))?;
        self.pending
            .push((checkpoint, PendingFile { pending, committed }));
        Ok(())
    }

    /// At checkpoint `checkpoint`: closes the open file; the state lists
    /// every file not committed yet (this checkpoint's, and those of
    /// earlier ones that failed), which the checkpoint commits when it
    /// completes.
    pub fn snapshot(&mut self, checkpoint: u64) -> Result<SinkState, ConnectorError> {
        self.close(checkpoint)?;
        Ok(SinkState {
            dir: self.dir.display().to_string(),
            next_part: self.next_part,
            pending: self.pending.iter().map(|(_, p)| p.clone()).collect(),
            kafka: None,
        })
    }

    /// Checkpoint `checkpoint` completed: commits the files it covers.
    pub fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(c, _)| *c <= checkpoint);
        self.pending = later;
        let due: Vec<PendingFile> = due.into_iter().map(|(_, p)| p).collect();
        commit(&self.dir, &due)
    }

    /// Removes the open file (the job is cancelled; its records are not
    /// committed).
    pub fn abort(&mut self) {
        if let Some(open) = self.current.take() {
            drop(open.out);
            let _ = std::fs::remove_file(&open.path);
        }
    }
}

impl SinkWriter for FileSink {
    fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        let open = self.open()?;
        for r in batch.iter() {
            let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
            open.out
                .write_all(r.value)
                .map_err(io("cannot write", &open.path))?;
            open.out
                .write_all(b"\n")
                .map_err(io("cannot write", &open.path))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.close(u64::MAX)?;
        if !self.two_phase {
            let pending: Vec<PendingFile> = std::mem::take(&mut self.pending)
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            commit(&self.dir, &pending)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, checkpoint: u64) -> Result<Option<SinkState>, ConnectorError> {
        FileSink::snapshot(self, checkpoint).map(Some)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint: u64) -> Result<(), ConnectorError> {
        FileSink::notify_checkpoint_complete(self, checkpoint)
    }

    fn abort(&mut self) {
        FileSink::abort(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::default();
        for l in lines {
            b.push(weir_wire::NO_TIMESTAMP, b"", l.as_bytes());
        }
        b
    }

    fn visible(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn checkpoints_commit_and_restores_discard_the_rest() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        prepare_output_dir(dir).expect("prepare");
        let mut s = FileSink::new(dir, 0, RecordFormat::Text, true, 0);
        s.write(&batch(&["a", "b"])).expect("write");
        let first = s.snapshot(1).expect("snapshot");
        assert_eq!(first.pending.len(), 1);
        assert_eq!(
            s.snapshot(2).expect("no new part").pending,
            first.pending,
            "an uncommitted part is listed until a checkpoint commits it"
        );
        s.write(&batch(&["c"])).expect("write");
        let third = s.snapshot(3).expect("snapshot");
        assert_eq!(
            third.pending.len(),
            2,
            "checkpoint 1's part and the new one"
        );
        s.write(&batch(&["d"]))
            .expect("write after the last checkpoint");
        // Checkpoint 1 completes; checkpoint 3 does not (the process dies).
        s.notify_checkpoint_complete(1).expect("commit");
        commit(dir, &first.pending).expect("commit twice is fine");
        assert_eq!(visible(dir).len(), 3, "{:?}", visible(dir));
        clean_for_restore(dir, |st| (st == 0).then_some(first.next_part)).expect("clean");
        assert_eq!(visible(dir), vec!["part-0-0.txt".to_owned()]);
        assert_eq!(
            std::fs::read_to_string(dir.join("part-0-0.txt")).expect("read"),
            "a\nb\n"
        );
        assert!(
            commit(dir, &third.pending[1..]).is_err(),
            "its file was removed"
        );
    }

    #[test]
    fn a_failed_checkpoints_parts_are_committed_by_the_next() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        let mut s = FileSink::new(dir, 0, RecordFormat::Text, true, 0);
        s.write(&batch(&["a"])).expect("write");
        s.snapshot(1).expect("checkpoint 1, which fails");
        s.write(&batch(&["b"])).expect("write");
        let second = s.snapshot(2).expect("checkpoint 2");
        assert_eq!(second.pending.len(), 2);
        s.notify_checkpoint_complete(2).expect("commits both");
        assert_eq!(visible(dir), vec!["part-0-0.txt", "part-0-1.txt"]);
        assert!(s.snapshot(3).expect("nothing left").pending.is_empty());
    }
}
