//! Stateful Functions behind `weir run module.yaml`, with functions
//! written with the published StateFun Python SDK (served by aiohttp): the
//! egress equals a reference computed from the input alone, also when the
//! `weir` process is killed with SIGKILL again and again and resumed with
//! `--restore`.

mod common;

use common::statefun::{PyFunctions, check_ledger, ledger_input, ledger_module};
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[test]
fn a_python_sdk_app_behind_weir_run_module_yaml_egresses_the_reference() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = PyFunctions::start("ledger.py");
    let module = ledger_module(tmp.path(), &server.url);
    let (input, sent) = ledger_input(tmp.path(), 40, 7);
    let out = tmp.path().join("out");
    let o = weir()
        .arg("run")
        .arg(&module)
        .args(["--quiet", "--parallelism", "2", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_ledger(&committed_lines(&out), &sent);
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One killed run: when the kill was sent and when the process was gone
/// (unix ms), and whether a checkpoint completed while it ran.
struct Kill {
    sent_ms: i64,
    gone_ms: i64,
    checkpointed: bool,
}

/// Issue 12, bar 2. The ledger (two functions messaging each other across
/// the two sub-tasks' mesh, two states each, reminders 3 s later (longer
/// than the checkpoint interval, so that a kill after a checkpoint finds
/// some pending in it), 60 s "late"
/// messages always cancelled, a two-phase file egress) with a checkpoint
/// every second, over ~12,800 amounts, its regions slowed to 4 ms an
/// invocation so that the job takes about ten seconds: the `weir` process
/// is killed with SIGKILL eight times, alternately before its first
/// checkpoint and after one or more, each run resumed with `--restore` once
/// a complete checkpoint exists, while the function server stays up. The
/// last run ends by itself; its committed egress must be the reference
/// (every user line and reminder once, every region count once, no "late"
/// message), and some reminder must have been pending across a kill and
/// delivered from the restored state.
#[test]
fn the_ledger_killed_with_sigkill_and_restored_egresses_every_effect_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let log = dir.join("ledger.log");
    let server = PyFunctions::start_env(
        "ledger.py",
        &[
            ("LEDGER_REGION_SLEEP_MS", "4".into()),
            ("LEDGER_REMINDER_MS", "3000".into()),
            ("LEDGER_LOG", log.display().to_string()),
        ],
    );
    let module = ledger_module(dir, &server.url);
    let (input, sent) = ledger_input(dir, 800, 12);
    let out = dir.join("out");
    let chk = dir.join("chk");
    let args = || {
        let mut a = weir();
        a.arg("run")
            .arg(&module)
            .args(["--parallelism", "2", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .args(["--checkpoint-interval", "1s", "--checkpoint-dir"])
            .arg(&chk)
            .arg("--quiet")
            .env("WEIR_RUNTIME_DIR", dir.join("run"));
        if newest_checkpoint(&chk).is_some() {
            a.arg("--restore").arg(&chk);
        }
        a
    };

    let started = Instant::now();
    let mut rng = Lcg(12);
    let mut kills: Vec<Kill> = Vec::new();
    for i in 0..8 {
        let before = newest_checkpoint(&chk);
        let err = dir.join(format!("run-{i}.err"));
        let mut child = args()
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("weir starts");
        let guard = KillOnDrop(&mut child);
        // Alternately before the run's first checkpoint (a second in) and
        // after one or two.
        let wait = if i % 2 == 0 {
            200 + rng.next(600)
        } else {
            1600 + rng.next(1600)
        };
        std::thread::sleep(Duration::from_millis(wait));
        if let Some(status) = guard.0.try_wait().expect("status") {
            panic!(
                "the job ended ({status}) after {} kills: make it longer\n{}",
                kills.len(),
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        let sent_ms = unix_ms();
        guard.0.kill().expect("SIGKILL");
        guard.0.wait().expect("killed");
        let gone_ms = unix_ms();
        drop(guard);
        kills.push(Kill {
            sent_ms,
            gone_ms,
            checkpointed: newest_checkpoint(&chk) > before,
        });
    }
    let killed = started.elapsed();
    // The last run goes to the end by itself (bounded input; a "late"
    // message left pending would keep it 60 s, and then fail the check).
    let err = dir.join("last.err");
    let mut child = args()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("weir starts");
    let (ok, _) = KillOnDrop(&mut child).wait_for(Duration::from_secs(90));
    assert!(
        ok,
        "the last run failed or did not end: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    eprintln!(
        "{} kills in {killed:.0?} ({} after a checkpoint of their own), then the last run: {:.0?} in all",
        kills.len(),
        kills.iter().filter(|k| k.checkpointed).count(),
        started.elapsed()
    );
    assert!(
        kills.iter().any(|k| k.checkpointed) && kills.iter().any(|k| !k.checkpointed),
        "kills before and after checkpoints"
    );

    // Nothing uncommitted is left, and the committed egress is the
    // reference computed from the input.
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "uncommitted files left: {hidden:?}");
    check_ledger(&committed_lines(&out), &sent);

    // Some reminder was pending in a checkpoint across a kill: its last
    // scheduling call was before the kill, its first delivery after it,
    // so it came from the restored delayed-message state.
    let survived = reminders_across_kills(&log, &kills);
    eprintln!("{survived} reminders were pending across a kill");
    assert!(survived > 0, "no reminder was pending across a kill");
}

/// How many reminders were last scheduled before a kill and first
/// delivered after it, from the function server's log.
fn reminders_across_kills(log: &Path, kills: &[Kill]) -> usize {
    let text = std::fs::read_to_string(log).expect("the ledger's log");
    // (user, count) -> (last scheduled, first delivered)
    let mut seen: BTreeMap<(String, u64), (i64, i64)> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let [event, user, count, ms] = f[..] else {
            panic!("log line {l}");
        };
        let key = (user.to_owned(), count.parse().expect("count"));
        let ms: i64 = ms.parse().expect("ms");
        let e = seen.entry(key).or_insert((i64::MIN, i64::MAX));
        match event {
            "schedule" => e.0 = e.0.max(ms),
            "remind" => e.1 = e.1.min(ms),
            _ => panic!("log line {l}"),
        }
    }
    seen.values()
        .filter(|(scheduled, delivered)| {
            kills
                .iter()
                .any(|k| *scheduled < k.sent_ms && *delivered > k.gone_ms)
        })
        .count()
}
