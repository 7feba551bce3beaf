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
