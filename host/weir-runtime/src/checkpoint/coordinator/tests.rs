//! The coordinator's state machine, driven with acknowledgements as
//! sub-tasks would send them (no Wasm, no threads).

use super::*;
use weir_checkpoint::{PendingFile, SinkState};

/// Two sub-tasks of one sink operator writing into `out`.
struct Setup {
    _tmp: tempfile::TempDir,
    chk: PathBuf,
    out: PathBuf,
    ctl: Control,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let chk = tmp.path().join("chk");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    Setup {
        chk,
        out,
        ctl: Control::new(None, None),
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

fn coordinator(s: &Setup, timeout: Duration, tolerable: u32, failing: Vec<u64>) -> Coordinator {
    let store = CheckpointStore::open(&s.chk, 3).expect("store");
    Coordinator::new(
        facts(),
        Some(store),
        Some(Duration::ZERO),
        timeout,
        tolerable,
        failing,
        CheckpointStats::default(),
    )
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
    });
    snap
}

fn ack(id: u64, subtask: u32, snap: OperatorSnapshot) -> TaskEvent {
    TaskEvent::Ack {
        id,
        task: (0, subtask),
        ops: vec![OpAck::complete(snap)],
    }
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

#[test]
fn a_checkpoint_completes_once_every_sub_task_acknowledged_and_sinks_hear_of_it() {
    let s = setup();
    let mut c = coordinator(&s, Duration::from_secs(60), 0, Vec::new());
    c.tick(&s.ctl).expect("triggers");
    c.on_event(
        ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt"))),
        &s.ctl,
    )
    .expect("ack");
    assert!(complete_ids(&s).is_empty(), "one of two acknowledged");
    assert_eq!(s.ctl.completed_after(0), None);
    c.on_event(
        ack(1, 1, sink_snapshot(&s, 1, Some("part-1-0.txt"))),
        &s.ctl,
    )
    .expect("ack");
    assert_eq!(complete_ids(&s), vec![1]);
    assert_eq!(s.ctl.completed_after(0), Some(1), "the sinks hear of it");
    assert!(
        committed(&s).is_empty(),
        "running sinks commit when they hear, not the coordinator"
    );
    assert_eq!(c.stats.completed, 1);
    // Acknowledgements of a checkpoint no longer in flight are ignored.
    c.on_event(ack(1, 1, sink_snapshot(&s, 1, None)), &s.ctl)
        .expect("a stale ack is harmless");
    assert_eq!(c.stats.completed, 1);
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

#[test]
fn finished_sub_tasks_stand_in_with_their_final_state() {
    let s = setup();
    let mut c = coordinator(&s, Duration::from_secs(60), 0, Vec::new());
    c.on_event(
        TaskEvent::Finished {
            task: (0, 1),
            ops: vec![OpAck::complete(sink_snapshot(&s, 1, Some("part-1-0.txt")))],
        },
        &s.ctl,
    )
    .expect("finished");
    c.tick(&s.ctl).expect("triggers");
    c.on_event(ack(1, 0, sink_snapshot(&s, 0, None)), &s.ctl)
        .expect("ack");
    assert_eq!(
        complete_ids(&s),
        vec![1],
        "complete without the finished one's ack"
    );
    let loaded = CheckpointStore::latest(&s.chk).expect("loads");
    let subtasks: Vec<u32> = loaded.snapshots.iter().map(|x| x.subtask).collect();
    assert_eq!(subtasks.len(), 2, "{subtasks:?}");
    assert!(!loaded.metadata.job_finished);
    assert_eq!(pending_in_latest(&s), vec!["part-1-0.txt"]);
}

#[test]
fn an_expired_checkpoint_fails_and_late_acknowledgements_are_dropped() {
    let s = setup();
    let mut c = coordinator(&s, Duration::from_millis(1), 1, Vec::new());
    c.tick(&s.ctl).expect("triggers 1");
    c.on_event(
        ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt"))),
        &s.ctl,
    )
    .expect("ack");
    std::thread::sleep(Duration::from_millis(10));
    c.tick(&s.ctl)
        .expect("expires, within the tolerated failures");
    assert!(complete_ids(&s).is_empty());
    assert!(
        !s.chk.join("chk-00000001").exists(),
        "the failed one's directory is gone"
    );
    // The other sub-task's acknowledgement comes after the expiry.
    c.on_event(
        ack(1, 1, sink_snapshot(&s, 1, Some("part-1-0.txt"))),
        &s.ctl,
    )
    .expect("a late ack is dropped");
    assert_eq!(s.ctl.completed_after(0), None);
    // Checkpoint 2 (acknowledged before any tick can expire it): the sinks
    // hand it what checkpoint 1 did not commit.
    c.tick(&s.ctl).expect("triggers 2");
    c.on_event(
        ack(2, 0, sink_snapshot(&s, 0, Some("part-0-0.txt"))),
        &s.ctl,
    )
    .expect("ack");
    c.on_event(
        ack(2, 1, sink_snapshot(&s, 1, Some("part-1-0.txt"))),
        &s.ctl,
    )
    .expect("ack");
    assert_eq!(complete_ids(&s), vec![2]);
    assert_eq!(s.ctl.completed_after(0), Some(2));
    assert_eq!(
        pending_in_latest(&s),
        vec!["part-0-0.txt", "part-1-0.txt"],
        "a restore from it commits both"
    );
}

#[test]
fn failures_past_the_tolerated_ones_fail_the_attempt() {
    let s = setup();
    let mut c = coordinator(&s, Duration::from_secs(60), 1, vec![1, 2]);
    c.tick(&s.ctl).expect("triggers 1");
    c.on_event(ack(1, 0, sink_snapshot(&s, 0, None)), &s.ctl)
        .expect("the first failure is tolerated");
    c.tick(&s.ctl).expect("triggers 2");
    let e = c
        .on_event(ack(2, 0, sink_snapshot(&s, 0, None)), &s.ctl)
        .expect_err("the second in a row is not");
    assert!(e.message.contains("cannot write checkpoint 2"), "{e}");
}

#[test]
fn a_savepoint_answers_with_its_path_and_stop_cancels_the_job() {
    let s = setup();
    let mut c = Coordinator::new(
        facts(),
        Some(CheckpointStore::open(&s.chk, 3).expect("store")),
        None,
        Duration::from_secs(60),
        0,
        Vec::new(),
        CheckpointStats::default(),
    );
    let (reply, answer) = crossbeam_channel::bounded(1);
    let dir = s.chk.join("savepoints");
    c.request_savepoint(SavepointRequest {
        dir: dir.clone(),
        stop: true,
        reply,
    });
    c.tick(&s.ctl).expect("triggers the savepoint");
    c.on_event(
        ack(1, 0, sink_snapshot(&s, 0, Some("part-0-0.txt"))),
        &s.ctl,
    )
    .expect("ack");
    c.on_event(ack(1, 1, sink_snapshot(&s, 1, None)), &s.ctl)
        .expect("ack");
    let path = answer
        .try_recv()
        .expect("answered")
        .expect("the savepoint's path");
    assert!(path.starts_with(&dir) && path.join("_metadata").is_file());
    assert!(s.ctl.cancelled(), "stop-with-savepoint stops the job");
    assert_eq!(c.stopped_with.as_deref(), Some(path.as_path()));
    assert_eq!(committed(&s), vec!["part-0-0.txt"]);
    assert_eq!(c.stats.completed, 0, "savepoints are not checkpoints");
}

#[test]
fn the_end_of_the_job_writes_a_final_checkpoint() {
    let s = setup();
    let mut c = coordinator(&s, Duration::from_secs(60), 0, Vec::new());
    for sub in 0..2 {
        let name = format!("part-{sub}-0.txt");
        c.on_event(
            TaskEvent::Finished {
                task: (0, sub),
                ops: vec![OpAck::complete(sink_snapshot(&s, sub, Some(&name)))],
            },
            &s.ctl,
        )
        .expect("finished");
    }
    assert!(c.all_finished());
    c.tick(&s.ctl)
        .expect("nothing to trigger once all finished");
    assert!(complete_ids(&s).is_empty());
    c.finish_job(&s.ctl).expect("final checkpoint");
    let loaded = CheckpointStore::latest(&s.chk).expect("loads");
    assert!(loaded.metadata.job_finished);
    assert_eq!(committed(&s), vec!["part-0-0.txt", "part-1-0.txt"]);
}
