//! Deterministic text: a vocabulary with a Zipf distribution, rendered as
//! lines with capitals, punctuation, digits, underscores and the odd
//! non-ASCII letter, so that tokenising matters. Used by the `words`
//! generator and by the benchmark corpus.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;

const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "th",
    "sh", "ch", "st", "br", "tr", "gl", "pl",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou", "ie"];
const CODAS: &[&str] = &["", "", "", "n", "r", "s", "t", "l", "nd", "ck"];

/// A vocabulary of distinct lower-case words, most frequent first.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    words: Vec<String>,
}

impl Vocabulary {
    /// `size` distinct words from `seed`. Frequent ranks get short words, as
    /// in natural language; a few words carry digits or underscores.
    pub fn new(size: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_70c5);
        let mut seen = std::collections::HashSet::new();
        let mut words = Vec::with_capacity(size);
        while words.len() < size {
            let rank = words.len();
            let syllables = match rank {
                0..100 => rng.random_range(1..=2),
                100..2000 => rng.random_range(2..=3),
                _ => rng.random_range(2..=4),
            };
            let mut w = String::new();
            for _ in 0..syllables {
                w.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
                w.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
                w.push_str(CODAS[rng.random_range(0..CODAS.len())]);
            }
            if rank % 97 == 13 {
                w.push('_');
                w.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
            } else if rank % 89 == 7 {
                w.push_str(&rng.random_range(0..100).to_string());
            }
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        Vocabulary { words }
    }

    /// The words, most frequent first.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

/// Samples ranks 0..n with probability proportional to 1 / (rank + 1).
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// A Zipf distribution over `n` ranks with exponent 1.
    pub fn new(n: usize) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 0..n {
            sum += 1.0 / (r as f64 + 1.0);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Generates lines of text.
pub struct LineGenerator {
    rng: ChaCha8Rng,
    vocab: Vocabulary,
    zipf: Zipf,
}

impl LineGenerator {
    /// Lines over a 10,000-word vocabulary.
    pub fn new(seed: u64) -> Self {
        Self::with_vocabulary(seed, Vocabulary::new(10_000, 42))
    }

    /// Lines over `vocab`.
    pub fn with_vocabulary(seed: u64, vocab: Vocabulary) -> Self {
        let zipf = Zipf::new(vocab.words.len());
        LineGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            vocab,
            zipf,
        }
    }

    /// Appends one line (without newline) to `out`.
    pub fn next_line(&mut self, out: &mut String) {
        let n = self.rng.random_range(5..=14);
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            let rank = self.zipf.sample(&mut self.rng);
            let word = &self.vocab.words[rank];
            let style: u32 = self.rng.random_range(0..100);
            if self.rng.random_range(0..40) == 0 {
                out.push(['"', '(', '\''][self.rng.random_range(0..3)]);
            }
            if i == 0 || style < 6 {
                let mut c = word.chars();
                if let Some(f) = c.next() {
                    out.push(f.to_ascii_uppercase());
                    out.push_str(c.as_str());
                }
            } else if style < 7 {
                out.push_str(&word.to_ascii_uppercase());
            } else {
                out.push_str(word);
            }
            if self.rng.random_range(0..500) == 0 {
                // A non-ASCII letter splits a token, as the tokenizer's rule says.
                out.push('é');
            }
            match self.rng.random_range(0..100) {
                0..6 => out.push(','),
                6..8 => out.push(';'),
                8..9 => out.push_str("--"),
                9..10 => out.push(':'),
                _ => {}
            }
        }
        out.push(['.', '.', '.', '!', '?'][self.rng.random_range(0..5)]);
    }
}

/// Writes about `bytes` bytes of lines to `w`; returns the bytes written.
pub fn write_corpus(w: &mut impl Write, bytes: u64, seed: u64) -> std::io::Result<u64> {
    let mut lines = LineGenerator::new(seed);
    let mut line = String::with_capacity(160);
    let mut written = 0u64;
    while written < bytes {
        line.clear();
        lines.next_line(&mut line);
        line.push('\n');
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    Ok(written)
}

/// Writes `events` lines `<ts_ms> <word>` of one partition: `per_ms`
/// events per millisecond of event time from `start_ms` on, each shifted
/// back by up to `out_of_order_ms` (so a watermark trailing the highest
/// timestamp by that bound never makes one late), words drawn from a
/// 10,000-word Zipf vocabulary. Returns the bytes written.
pub fn write_timestamped_words(
    w: &mut impl Write,
    events: u64,
    per_ms: u64,
    start_ms: i64,
    out_of_order_ms: u64,
    seed: u64,
) -> std::io::Result<u64> {
    let vocab = Vocabulary::new(10_000, 1);
    let zipf = Zipf::new(vocab.words().len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut written = 0u64;
    let mut line = String::with_capacity(32);
    for i in 0..events {
        let on_time = start_ms + (i / per_ms.max(1)) as i64;
        let ts = on_time - rng.random_range(0..=out_of_order_ms) as i64;
        line.clear();
        line.push_str(&ts.to_string());
        line.push(' ');
        line.push_str(&vocab.words()[zipf.sample(&mut rng)]);
        line.push('\n');
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_distinct_and_deterministic() {
        let a = Vocabulary::new(10_000, 1);
        let b = Vocabulary::new(10_000, 1);
        assert_eq!(a.words, b.words);
        let set: std::collections::HashSet<_> = a.words.iter().collect();
        assert_eq!(set.len(), 10_000);
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let z = Zipf::new(10_000);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            match z.sample(&mut rng) {
                0 => counts[0] += 1,
                1 => counts[1] += 1,
                9_000.. => counts[2] += 1,
                _ => {}
            }
        }
        // P(rank 0) = 1/H(10000) ≈ 0.102; P(rank 1) ≈ 0.051; ranks ≥ 9000 ≈ 0.011.
        assert!((9_000..11_500).contains(&counts[0]), "{counts:?}");
        assert!((4_300..5_900).contains(&counts[1]), "{counts:?}");
        assert!((700..1_500).contains(&counts[2]), "{counts:?}");
    }
}
