//! The coordinator's state machine and the checkpoint host, driven with
//! events as sub-tasks would send them (no Wasm, no threads).

use super::*;
use crate::checkpoint::TaskHost;
use crate::control::{OpAck, TaskEvent};
use weir_checkpoint::{OperatorSnapshot, PendingFile, SinkState};

/// Two sub-tasks of one sink operator writing into `out`.
struct Setup {
    _tmp: tempfile::TempDir,
    chk: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let chk = tmp.path().join("chk");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    Setup {
        chk,
        out,
        _tmp: tmp,
    }
}

fn facts() -> JobFacts {
    JobFacts {
        name: "job".into(),
        max_parallelism: 128,
        backend: "memory",
        operators: vec![OperatorMeta {
            id: "out".into(),
            parallelism: 2,
            kind: "sink".into(),
        }],
        tasks: vec![(0, 0), (0, 1)],
    }
}

/// A coordinator and one host for both sub-tasks, with the commands
/// carried out as a runner would.
struct Rig {
    c: Coordinator,
    host: TaskHost,
    /// Checkpoints the sub-tasks heard completed.
    heard: Vec<u64>,
    stopped: bool,
}

impl Rig {
    fn new(s: &Setup, interval: Option<Duration>, timeout: Duration, tolerable: u32) -> Self {
        Self::failing(s, interval, timeout, tolerable, Vec::new())
    }

    fn failing(
        s: &Setup,
        interval: Option<Duration>,
        timeout: Duration,
        tolerable: u32,
        failing: Vec<u64>,
    ) -> Self {
        let store = CheckpointStore::open(&s.chk, 3).expect("store");
        Rig {
            c: Coordinator::new(
                facts(),
                Some(store),
                CheckpointPolicy {
                    interval,
                    timeout,
                    tolerable,
                },
                CheckpointStats::default(),
            )
            .expect("coordinator"),
            host: TaskHost::new(failing),
            heard: Vec::new(),
            stopped: false,
        }
    }

    fn pump(&mut self, mut reports: Vec<Report>) -> Result<(), JobFailure> {
        loop {
            let commands = self.c.take_commands();
            if commands.is_empty() && reports.is_empty() {
                return Ok(());
            }
            let mut next = Vec::new();
            for cmd in commands {
                match cmd {
                    Command::Trigger { barrier, target } => {
                        self.host.trigger(barrier.id, target, &mut next)
                    }
                    Command::Abort(id) => self.host.abort(id),
                    Command::Completed(id) => {
                        self.host.completed(id, &mut next);
                        self.heard.push(id);
                    }
                    Command::Stop => self.stopped = true,
                }
            }
            for r in reports {
                self.c.on_report(r)?;
            }
            reports = next;
        }
    }

    fn tick(&mut self) -> Result<(), JobFailure> {
        self.c.tick(false)?;
        self.pump(Vec::new())
    }

    fn event(&mut self, ev: TaskEvent) -> Result<(), JobFailure> {
        let mut reports = Vec::new();
        self.host.on_event(ev, &mut reports);
        self.pump(reports)
    }

    fn ack(&mut self, id: u64, subtask: u32, snap: OperatorSnapshot) -> Result<(), JobFailure> {
        self.event(TaskEvent::Ack {
            id,
            task: (0, subtask),
            ops: vec![OpAck::complete(snap)],
        })
    }

    fn finished(&mut self, subtask: u32, snap: OperatorSnapshot) -> Result<(), JobFailure> {
        self.event(TaskEvent::Finished {
            task: (0, subtask),
            ops: vec![OpAck::complete(snap)],
        })
    }

    fn finish_job(&mut self) -> Result<bool, JobFailure> {
        let done = self.c.finish_job()?;
        self.pump(Vec::new())?;
        Ok(done || self.c.finish_job()?)
    }
}

/// A sink sub-task's snapshot holding one pending part file `name`.
fn sink_snapshot(s: &Setup, subtask: u32, name: Option<&str>) -> OperatorSnapshot {
    let mut snap = OperatorSnapshot::empty("out", subtask, 2);
    let pending = name
        .map(|n| {
            let hidden = format!(".{n}.pending");
            std::fs::write(s.out.join(&hidden), n).expect("pending file");
            vec![PendingFile {
                pending: hidden,
                committed: n.to_owned(),
            }]
        })
        .unwrap_or_default();
    snap.sink = Some(SinkState {
        dir: s.out.display().to_string(),
        next_part: 1,
        pending,
        kafka: None,
    });
    snap
}

fn committed(s: &Setup) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&s.out)
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn complete_ids(s: &Setup) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(&s.chk)
        .expect("chk")
        .flatten()
        .filter(|e| e.path().join("_metadata").is_file())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("chk-")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// The sink output a checkpoint holds.
fn pending_in_latest(s: &Setup) -> Vec<String> {
    let loaded = CheckpointStore::latest(&s.chk).expect("loads");
    let mut v: Vec<String> = loaded
        .snapshots
        .iter()
        .filter_map(|x| x.sink.as_ref())
        .flat_map(|k| k.pending.iter().map(|p| p.committed.clone()))
        .collect();
    v.sort();
    v
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_checkpoint_completes_once_every_sub_task_acknowledged_and_sinks_hear_of_it() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), MINUTE, 0);
    r.tick().expect("triggers");
    r.ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt")))
        .expect("ack");
    assert!(complete_ids(&s).is_empty(), "one of two acknowledged");
    assert!(r.heard.is_empty());
    r.ack(1, 1, sink_snapshot(&s, 1, Some("part-1-0.txt")))
        .expect("ack");
    assert_eq!(complete_ids(&s), vec![1]);
    assert_eq!(r.heard, vec![1], "the sinks hear of it");
    assert!(
        committed(&s).is_empty(),
        "running sinks commit when they hear, not the coordinator"
    );
    assert_eq!(r.c.stats.completed, 1);
    assert_eq!(pending_in_latest(&s), vec!["part-0-0.txt", "part-1-0.txt"]);
    // Acknowledgements of a checkpoint no longer in flight are ignored.
    r.ack(1, 1, sink_snapshot(&s, 1, None))
        .expect("a stale ack is harmless");
    assert_eq!(r.c.stats.completed, 1);
}

#[test]
fn finished_sub_tasks_stand_in_with_their_final_state_and_commit_when_it_completes() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), MINUTE, 0);
    r.finished(1, sink_snapshot(&s, 1, Some("part-1-0.txt")))
        .expect("finished");
    r.tick().expect("triggers");
    r.ack(1, 0, sink_snapshot(&s, 0, None)).expect("ack");
    assert_eq!(
        complete_ids(&s),
        vec![1],
        "complete without the finished one's own ack"
    );
    let loaded = CheckpointStore::latest(&s.chk).expect("loads");
    let subtasks: Vec<u32> = loaded.snapshots.iter().map(|x| x.subtask).collect();
    assert_eq!(subtasks, vec![0, 1]);
    assert!(!loaded.metadata.job_finished);
    assert_eq!(pending_in_latest(&s), vec!["part-1-0.txt"]);
    assert_eq!(
        committed(&s),
        vec!["part-1-0.txt"],
        "a finished sink hears nothing any more: its host commits for it"
    );
}

#[test]
fn a_sub_task_finishing_during_a_checkpoint_acknowledges_with_its_final_state() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), MINUTE, 0);
    r.tick().expect("triggers");
    r.ack(1, 0, sink_snapshot(&s, 0, None)).expect("ack");
    // Sub-task 1 ends its input before the barrier reaches it.
    r.finished(1, sink_snapshot(&s, 1, Some("part-1-0.txt")))
        .expect("finished");
    assert_eq!(complete_ids(&s), vec![1]);
    assert_eq!(pending_in_latest(&s), vec!["part-1-0.txt"]);
}

#[test]
fn an_acknowledgement_that_outruns_its_trigger_waits_for_it() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), MINUTE, 0);
    // In a cluster, a barrier from another process can reach a sub-task
    // before this process hears the trigger.
    r.ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt")))
        .expect("early ack");
    r.tick().expect("triggers 1");
    r.ack(1, 1, sink_snapshot(&s, 1, None)).expect("ack");
    assert_eq!(complete_ids(&s), vec![1]);
    assert_eq!(pending_in_latest(&s), vec!["part-0-0.txt"]);
}

#[test]
fn an_expired_checkpoint_fails_and_late_acknowledgements_are_dropped() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), Duration::from_millis(1), 1);
    r.tick().expect("triggers 1");
    r.ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt")))
        .expect("ack");
    std::thread::sleep(Duration::from_millis(10));
    r.tick().expect("expires, within the tolerated failures");
    // Checkpoint 2, triggered by that tick, must not expire however slowly
    // the test runs.
    r.c.policy.timeout = MINUTE;
    assert!(complete_ids(&s).is_empty());
    assert!(
        !s.chk.join("chk-00000001").exists(),
        "the failed one's directory is gone"
    );
    // The other sub-task's acknowledgement comes after the expiry.
    r.ack(1, 1, sink_snapshot(&s, 1, Some("part-1-0.txt")))
        .expect("a late ack is dropped");
    assert!(r.heard.is_empty());
    assert!(
        !s.chk.join("chk-00000001").exists(),
        "a late ack writes nothing"
    );
    // Checkpoint 2 (acknowledged before any tick can expire it): the sinks
    // hand it what checkpoint 1 did not commit.
    r.c.tick(false).expect("2 is in flight");
    r.pump(Vec::new()).expect("pump");
    r.ack(2, 0, sink_snapshot(&s, 0, Some("part-0-0.txt")))
        .expect("ack");
    r.ack(2, 1, sink_snapshot(&s, 1, Some("part-1-0.txt")))
        .expect("ack");
    assert_eq!(complete_ids(&s), vec![2]);
    assert_eq!(r.heard, vec![2]);
    assert_eq!(
        pending_in_latest(&s),
        vec!["part-0-0.txt", "part-1-0.txt"],
        "a restore from it commits both"
    );
}

#[test]
fn failures_past_the_tolerated_ones_fail_the_attempt() {
    let s = setup();
    let mut r = Rig::failing(&s, Some(Duration::ZERO), MINUTE, 1, vec![1, 2]);
    r.tick().expect("triggers 1");
    r.ack(1, 0, sink_snapshot(&s, 0, None))
        .expect("the first failure is tolerated");
    assert!(!s.chk.join("chk-00000001").exists());
    r.tick().expect("triggers 2");
    let e = r
        .ack(2, 0, sink_snapshot(&s, 0, None))
        .expect_err("the second in a row is not");
    assert!(e.message.contains("cannot write checkpoint 2"), "{e}");
}

#[test]
fn a_savepoint_answers_with_its_path_and_stop_stops_the_job() {
    let s = setup();
    let mut r = Rig::new(&s, None, MINUTE, 0);
    let (reply, answer) = crossbeam_channel::bounded(1);
    let dir = s.chk.join("savepoints");
    r.c.request_savepoint(SavepointRequest {
        dir: dir.clone(),
        stop: true,
        reply,
    });
    r.tick().expect("triggers the savepoint");
    r.ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt")))
        .expect("ack");
    r.ack(1, 1, sink_snapshot(&s, 1, None)).expect("ack");
    let path = answer
        .try_recv()
        .expect("answered")
        .expect("the savepoint's path");
    assert!(path.starts_with(&dir) && path.join("_metadata").is_file());
    assert!(r.stopped, "stop-with-savepoint stops the job");
    assert_eq!(r.c.stopped_with.as_deref(), Some(path.as_path()));
    assert!(
        r.heard.is_empty() && committed(&s).is_empty(),
        "no sink commits a stop's savepoint while the sub-tasks run"
    );
    r.c.commit_stopped().expect("commits once they stopped");
    assert_eq!(committed(&s), vec!["part-0-0.txt"]);
    assert_eq!(r.c.stats.completed, 0, "savepoints are not checkpoints");
    assert_eq!(r.c.stats.savepoints, 1, "but counted as savepoints");
    r.tick().expect("nothing more");
    assert!(
        r.c.take_commands().is_empty(),
        "nothing is triggered once stopping"
    );
}

#[test]
fn the_end_of_the_job_writes_a_final_checkpoint() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), MINUTE, 0);
    for sub in 0..2 {
        let name = format!("part-{sub}-0.txt");
        r.finished(sub, sink_snapshot(&s, sub, Some(&name)))
            .expect("finished");
    }
    assert!(r.c.all_finished());
    r.tick().expect("nothing to trigger once all finished");
    assert!(complete_ids(&s).is_empty());
    assert!(r.finish_job().expect("final checkpoint"), "done");
    let loaded = CheckpointStore::latest(&s.chk).expect("loads");
    assert!(loaded.metadata.job_finished);
    assert_eq!(committed(&s), vec!["part-0-0.txt", "part-1-0.txt"]);
}

#[test]
fn a_job_without_checkpoints_commits_its_output_at_the_end() {
    let s = setup();
    let mut c = Coordinator::new(
        facts(),
        None,
        CheckpointPolicy {
            interval: None,
            timeout: MINUTE,
            tolerable: 0,
        },
        CheckpointStats::default(),
    )
    .expect("coordinator");
    let mut host = TaskHost::new(Vec::new());
    let mut reports = Vec::new();
    for sub in 0..2 {
        let name = format!("part-{sub}-0.txt");
        host.on_event(
            TaskEvent::Finished {
                task: (0, sub),
                ops: vec![OpAck::complete(sink_snapshot(&s, sub, Some(&name)))],
            },
            &mut reports,
        );
    }
    assert!(committed(&s).is_empty());
    for rep in reports {
        c.on_report(rep).expect("report");
    }
    assert!(c.finish_job().expect("commits"));
    assert_eq!(committed(&s), vec!["part-0-0.txt", "part-1-0.txt"]);
    assert!(!s.chk.exists(), "no checkpoint is written");
}

#[test]
fn a_checkpoint_asked_for_is_taken_at_once_and_answers_with_its_id() {
    let s = setup();
    // No periodic checkpoints: only the one asked for.
    let mut r = Rig::new(&s, None, MINUTE, 0);
    r.tick().expect("tick");
    assert!(r.c.stats.history.is_empty(), "nothing is due");
    let (reply, answer) = crossbeam_channel::bounded(1);
    r.c.request_checkpoint(reply);
    r.tick().expect("triggers");
    let h = &r.c.stats.history;
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].id, h[0].status), (1, CheckpointStatus::InProgress));
    assert_eq!((h[0].acknowledged, h[0].tasks), (0, 2));
    assert_eq!(r.c.stats.in_progress(), 1);
    r.ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt")))
        .expect("ack");
    assert_eq!(r.c.stats.history[0].acknowledged, 1);
    assert!(answer.try_recv().is_err(), "not complete yet");
    r.ack(1, 1, sink_snapshot(&s, 1, None)).expect("ack");
    assert_eq!(answer.try_recv().expect("answered"), Ok(1));
    let rec = &r.c.stats.history[0];
    assert_eq!(rec.status, CheckpointStatus::Completed);
    assert_eq!(rec.acknowledged, 2);
    assert!(rec.bytes > 0 && rec.path.as_ref().is_some_and(|p| p.is_dir()));
    assert_eq!(r.c.stats.in_progress(), 0);
}

#[test]
fn the_history_keeps_failed_checkpoints_and_only_the_latest_ten() {
    let s = setup();
    let mut r = Rig::new(&s, Some(Duration::ZERO), Duration::from_millis(1), 100);
    r.tick().expect("triggers 1");
    std::thread::sleep(Duration::from_millis(5));
    r.tick().expect("expires 1, triggers 2");
    let first = &r.c.stats.history[0];
    assert_eq!(first.status, CheckpointStatus::Failed);
    assert!(first.failure.as_deref().is_some_and(|m| !m.is_empty()));
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(5));
        r.tick().expect("expires, triggers the next");
    }
    let ids: Vec<u64> = r.c.stats.history.iter().map(|h| h.id).collect();
    assert_eq!(
        ids,
        (5..=14).collect::<Vec<_>>(),
        "the latest ten, oldest first"
    );
    assert_eq!(r.c.stats.failed, 13);
}

#[test]
fn asking_for_a_checkpoint_without_storage_fails_at_once() {
    let mut c = Coordinator::new(
        facts(),
        None,
        CheckpointPolicy {
            interval: None,
            timeout: MINUTE,
            tolerable: 0,
        },
        CheckpointStats::default(),
    )
    .expect("coordinator");
    let (reply, answer) = crossbeam_channel::bounded(1);
    c.request_checkpoint(reply);
    let why = answer.try_recv().expect("answered").expect_err("refused");
    assert!(why.contains("--checkpoint-dir"), "{why}");
}

#[test]
fn a_savepoint_that_cannot_start_is_counted_failed_and_uses_up_its_id() {
    let s = setup();
    let mut r = Rig::new(&s, None, MINUTE, 0);
    // A directory under a regular file cannot be created.
    let file = s.out.join("not-a-dir");
    std::fs::write(&file, "x").expect("file");
    let (reply, answer) = crossbeam_channel::bounded(1);
    r.c.request_savepoint(SavepointRequest {
        dir: file.join("sp"),
        stop: false,
        reply,
    });
    r.tick().expect("a failed savepoint does not fail the job");
    assert!(answer.try_recv().expect("answered").is_err());
    assert_eq!(r.c.stats.failed, 1);
    let h = &r.c.stats.history;
    assert_eq!(h.len(), 1);
    assert!(
        h[0].savepoint && h[0].status == CheckpointStatus::Failed,
        "{h:?}"
    );
    // The next one takes the next id.
    let (reply, _answer) = crossbeam_channel::bounded(1);
    r.c.request_checkpoint(reply);
    r.tick().expect("triggers");
    assert_eq!(r.c.stats.history.last().map(|x| x.id), Some(h0_id(&r) + 1));
}

fn h0_id(r: &Rig) -> u64 {
    r.c.stats.history[0].id
}
