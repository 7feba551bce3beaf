//! `weir bench wordcount --tokenizer`: the WordCount example's `tokenize`
//! function alone in its sandbox, called on batches of the corpus's lines
//! as the job calls it, against the same tokenizer in plain Rust writing
//! the same result entries. The two sides' results must be byte for byte
//! equal.

use super::{BestOf, measure};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::Path;
use weir_core::Batch;
use weir_wasm::{FunctionInstance, InstanceConfig, Runtime, TaskInfo};
use weir_wire::{Entries, Entry, NO_TIMESTAMP};

/// Bytes of line records per call: the file source's batch size.
const BATCH_BYTES: usize = 64 * 1024;

/// The corpus's lines as record batches (no key, no timestamp), as the
/// file source hands them to `tokenize`.
fn line_batches(corpus: &Path) -> Result<Vec<Batch>> {
    let file = std::fs::File::open(corpus).with_context(|| corpus.display().to_string())?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let (mut batches, mut batch, mut line) = (Vec::new(), Batch::default(), Vec::new());
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        batch.push(NO_TIMESTAMP, b"", text);
        if batch.byte_len() >= BATCH_BYTES {
            batches.push(batch.take());
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    Ok(batches)
}

/// The example's tokenizer in plain Rust: each line decoded as UTF-8, its
/// lower-cased words written as the function's main-output entries
/// (keyed by the word, value `1u64`).
fn native_tokenize(input: &Batch, out: &mut Vec<u8>, word: &mut Vec<u8>) -> Result<()> {
    let one = 1u64.to_le_bytes();
    for r in input.iter() {
        let r = r?;
        let line = std::str::from_utf8(r.value)?;
        for &b in line.as_bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                word.push(b.to_ascii_lowercase());
            } else if !word.is_empty() {
                weir_wire::put_main(out, r.ts, word, &one);
                word.clear();
            }
        }
        if !word.is_empty() {
            weir_wire::put_main(out, r.ts, word, &one);
            word.clear();
        }
    }
    Ok(())
}

/// Adds a result buffer's main-output records and an order-dependent
/// digest of them to `acc`.
fn digest(result: &[u8], acc: &mut (u64, u64)) -> Result<()> {
    for e in Entries::new(result) {
        match e? {
            Entry::Main(r) => {
                acc.0 += 1;
                acc.1 = acc.1.rotate_left(5) ^ xxhash_rust::xxh3::xxh3_64(r.frame);
            }
            _ => bail!("the tokenizer returned something other than records"),
        }
    }
    Ok(())
}

/// Runs both sides `runs` times over the corpus and reports the best.
pub(super) fn tokenizer(component: &Path, corpus: &Path, runs: u32) -> Result<()> {
    let batches = line_batches(corpus)?;
    let records: usize = batches.iter().map(Batch::len).sum();
    let rt = Runtime::new()?;
    let loaded = rt.load(component, &InstanceConfig::default())?;
    let task = TaskInfo {
        job_name: "bench-tokenizer".into(),
        operator_id: "tokenize".into(),
        subtask_index: 0,
        parallelism: 1,
        max_parallelism: 128,
        parameters: Vec::new(),
    };
    let mut instance = FunctionInstance::open_transform(
        &rt,
        &loaded,
        "tokenize",
        &task,
        InstanceConfig::default(),
    )?;
    // Checked once, untimed: the same entries in the same order.
    let (mut want, mut got) = ((0u64, 0u64), (0u64, 0u64));
    let (mut out, mut word) = (Vec::new(), Vec::new());
    for b in &batches {
        out.clear();
        native_tokenize(b, &mut out, &mut word)?;
        digest(&out, &mut want)?;
        digest(&instance.process_batch(b.bytes(), i64::MIN, 0)?, &mut got)?;
    }
    if got != want {
        bail!("the guest's tokens differ from the native ones: {got:?} vs {want:?}");
    }
    let tokens = want.0;
    let mut best = BestOf::default();
    for run in 0..runs {
        let n = measure(|| {
            let mut bytes = 0;
            for b in &batches {
                out.clear();
                native_tokenize(b, &mut out, &mut word)?;
                bytes += out.len();
            }
            std::hint::black_box(bytes);
            Ok(tokens)
        })?;
        let w = measure(|| {
            let mut bytes = 0;
            for b in &batches {
                bytes += instance.process_batch(b.bytes(), i64::MIN, 0)?.len();
            }
            std::hint::black_box(bytes);
            Ok(tokens)
        })?;
        best.add(run, n, w);
    }
    let (n, w) = best.best()?;
    println!(
        "The WordCount tokenizer alone: the example's `tokenize` in its sandbox, one call per {} KiB batch of lines ({} lines, {} batches), against the same tokenizer in plain Rust writing the same entries (checked entry for entry); best of {runs}; peak RSS is the bench process's, holding the corpus",
        BATCH_BYTES / 1024,
        records,
        batches.len()
    );
    super::report("tokens", &n, &w);
    Ok(())
}
