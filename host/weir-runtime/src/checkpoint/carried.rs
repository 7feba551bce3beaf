//! Sink output handed over at checkpoints that failed.
//!
//! A file sink hands its pending part files to the checkpoint whose barrier
//! it saw, and forgets them. When that checkpoint fails and the job goes on
//! (a tolerated failure, a failed savepoint), the files must not be lost:
//! they are carried into the next checkpoint's snapshot of the same sink
//! sub-task, so that checkpoint commits them (and a recovery from it
//! finishes them).

use std::collections::BTreeMap;
use std::path::Path;
use weir_checkpoint::{OperatorSnapshot, PendingFile};

/// Pending files by sink sub-task (operator id, sub-task index), with the
/// sink's directory.
#[derive(Default)]
pub(crate) struct Carried {
    by_task: BTreeMap<(String, u32), (String, Vec<PendingFile>)>,
}

impl Carried {
    /// Keeps the pending files of a snapshot whose checkpoint failed.
    pub(crate) fn keep(&mut self, snapshot: &OperatorSnapshot) {
        let Some(sink) = &snapshot.sink else {
            return;
        };
        if sink.pending.is_empty() {
            return;
        }
        let (_, files) = self
            .by_task
            .entry((snapshot.operator.clone(), snapshot.subtask))
            .or_insert_with(|| (sink.dir.clone(), Vec::new()));
        for p in &sink.pending {
            if !files.contains(p) {
                files.push(p.clone());
            }
        }
    }

    /// Adds the carried files of the snapshot's sink sub-task to it (before
    /// its own, which come later).
    pub(crate) fn merge_into(&self, snapshot: &mut OperatorSnapshot) {
        let Some(sink) = &mut snapshot.sink else {
            return;
        };
        if let Some((_, carried)) = self
            .by_task
            .get(&(snapshot.operator.clone(), snapshot.subtask))
        {
            let own = std::mem::take(&mut sink.pending);
            sink.pending = carried.clone();
            for p in own {
                if !sink.pending.contains(&p) {
                    sink.pending.push(p);
                }
            }
        }
    }

    /// A checkpoint that included every carried file completed.
    pub(crate) fn clear(&mut self) {
        self.by_task.clear();
    }

    /// Commits every carried file (the job ended without a checkpoint
    /// store to put them in).
    pub(crate) fn commit_all(&mut self) -> Result<(), weir_connectors::ConnectorError> {
        for (dir, files) in self.by_task.values() {
            weir_connectors::commit(Path::new(dir), files)?;
        }
        self.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_checkpoint::SinkState;

    fn sink(op: &str, subtask: u32, files: &[&str]) -> OperatorSnapshot {
        let mut s = OperatorSnapshot::empty(op, subtask, 2);
        s.sink = Some(SinkState {
            dir: "/out".into(),
            next_part: 0,
            pending: files
                .iter()
                .map(|f| PendingFile {
                    pending: format!(".{f}.pending"),
                    committed: (*f).to_owned(),
                })
                .collect(),
        });
        s
    }

    fn names(s: &OperatorSnapshot) -> Vec<String> {
        s.sink
            .as_ref()
            .map(|k| k.pending.iter().map(|p| p.committed.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn carried_files_come_first_once_and_only_for_their_sub_task() {
        let mut c = Carried::default();
        c.keep(&sink("out", 0, &["a", "b"]));
        c.keep(&sink("out", 0, &["b", "c"]));
        c.keep(&sink("out", 1, &[]));
        let mut next = sink("out", 0, &["d", "a"]);
        c.merge_into(&mut next);
        assert_eq!(names(&next), ["a", "b", "c", "d"]);
        let mut other = sink("out", 1, &["x"]);
        c.merge_into(&mut other);
        assert_eq!(names(&other), ["x"]);
        let mut not_a_sink = OperatorSnapshot::empty("count", 0, 2);
        c.merge_into(&mut not_a_sink);
        assert!(not_a_sink.sink.is_none());
        c.clear();
        let mut after = sink("out", 0, &["e"]);
        c.merge_into(&mut after);
        assert_eq!(names(&after), ["e"]);
    }
}
