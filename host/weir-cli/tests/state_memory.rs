//! Keyed state at scale: with the RocksDB backend the process's memory
//! stays within the job's RocksDB budget whatever the number of keys, and
//! the output is still exact.

mod common;

use common::{committed_lines, root, weir, wordcount_wasm};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// `n` distinct words of 12 lower-case letters (an odd multiplier
/// permutes u64, and 26^12 > 2^48 > n), ten per line; the words.
fn distinct_words(path: &Path, n: u64) -> Vec<String> {
    let mut words = Vec::with_capacity(n as usize);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
    for i in 0..n {
        let mut k = i.wrapping_mul(0xD6E8_FEB8_6659_FD93) & ((1 << 48) - 1);
        let mut w = String::with_capacity(12);
        for _ in 0..12 {
            w.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
        }
        f.write_all(w.as_bytes()).expect("write");
        f.write_all(if i % 10 == 9 { b"\n" } else { b" " })
            .expect("write");
        words.push(w);
    }
    f.flush().expect("flush");
    words
}

/// Runs WordCount on RocksDB with `budget_mb`; the process's peak RSS
/// (VmHWM, sampled until it exits: a high-water mark).
fn wordcount_rocksdb(input: &Path, out: &Path, budget_mb: u32) -> u64 {
    let job = root().join("functions-examples/wordcount/wordcount.toml");
    let mut child = weir()
        .arg("run")
        .arg(&job)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .args(["--state-backend", "rocksdb", "--state-memory-mb"])
        .arg(budget_mb.to_string())
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir run");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(status.success(), "weir run failed: {err}");
    peak
}

#[test]
fn rocksdb_memory_stays_within_its_budget_over_two_million_distinct_keys() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let budget_mb = 32;
    let small = dir.join("small.txt");
    distinct_words(&small, 1000);
    let base = wordcount_rocksdb(&small, &dir.join("small-out"), budget_mb);
    let input = dir.join("words.txt");
    let n = 2_000_000;
    let mut want: Vec<String> = distinct_words(&input, n)
        .into_iter()
        .map(|w| format!("({w},1)"))
        .collect();
    let out = dir.join("out");
    let peak = wordcount_rocksdb(&input, &out, budget_mb);
    let mut got = committed_lines(&out);
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got.len(), want.len(), "one update per word");
    assert!(got == want, "every word counted once");
    // Two million keys held in memory cost ~300 bytes each (~600 MiB);
    // within the budget the growth over the small run is the budget and
    // what RocksDB and the allocator keep beside it.
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let growth = peak.saturating_sub(base);
    eprintln!(
        "peak RSS {:.1} MiB, {:.1} MiB over 1,000 keys, budget {budget_mb} MiB",
        mib(peak),
        mib(growth)
    );
    assert!(
        growth < (u64::from(budget_mb) * 3) << 20,
        "peak RSS grew {:.1} MiB over the small run: more than 3x the {budget_mb} MiB budget",
        mib(growth)
    );
}

/// The peak RSS in a `weir bench` table line starting with `label`, bytes.
fn peak_in(table: &str, label: &str) -> u64 {
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no '{label}' line in:\n{table}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let at = f.iter().rposition(|t| *t == "MiB").expect("a MiB column");
    let mib: f64 = f[at - 1].parse().expect("a number");
    (mib * f64::from(1 << 20)) as u64
}

#[test]
fn a_savepoint_of_two_million_rocksdb_keys_resumes_at_parallelism_3_within_the_budget() {
    wordcount_wasm();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let budget_mb = 32;
    let small = dir.join("small.txt");
    distinct_words(&small, 1000);
    let base = wordcount_rocksdb(&small, &dir.join("small-out"), budget_mb);
    // The benchmark stops a p=1 run with a savepoint once every word is
    // counted, resumes it at p=3 reading the words again, and fails unless
    // the output of both runs is every word counted to 1 and then to 2.
    let o = weir()
        .args(["bench", "state", "--distinct-keys", "2000000"])
        .args(["--savepoint-rescale", "3", "--memory-mb"])
        .arg(budget_mb.to_string())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--examples")
        .arg(root().join("functions-examples"))
        .output()
        .expect("weir bench");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "the savepoint and rescale run failed:\n{table}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{table}");
    let keys: u64 = table
        .split_once("savepoint: ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the savepoint's key count");
    assert!(keys >= 2_000_000, "the savepoint holds every word: {keys}");
    // Held in memory, two million entries cost a few hundred MiB when the
    // savepoint is written and again when it is restored; streamed, each
    // process stays within a few budgets of the small run.
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    for label in ["p=1, until stopped", "resumed at p=3"] {
        let growth = peak_in(&table, label).saturating_sub(base);
        assert!(
            growth < (u64::from(budget_mb) * 3) << 20,
            "{label}: peak RSS grew {:.1} MiB over the small run, more than 3x the {budget_mb} MiB budget",
            mib(growth)
        );
    }
}
