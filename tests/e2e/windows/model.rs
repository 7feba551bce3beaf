//! The reference: window semantics written from their definitions, one
//! record at a time, independent of the runtime's code.

use std::collections::{BTreeMap, BTreeSet};

/// Which window, in the reference model.
#[derive(Clone, Copy)]
pub(crate) enum Assign {
    Tumbling(i64),
    Sliding(i64, i64),
    Session(i64),
}

impl Assign {
    pub(crate) fn toml(&self, lateness: i64) -> String {
        match self {
            Assign::Tumbling(s) => format!(
                "{{ type = \"tumbling\", size_ms = {s}, allowed_lateness_ms = {lateness} }}"
            ),
            Assign::Sliding(s, l) => format!(
                "{{ type = \"sliding\", size_ms = {s}, slide_ms = {l}, allowed_lateness_ms = {lateness} }}"
            ),
            Assign::Session(g) => {
                format!("{{ type = \"session\", gap_ms = {g}, allowed_lateness_ms = {lateness} }}")
            }
        }
    }

    /// Windows of a timestamp, written from the definitions (not the
    /// runtime's code): start = ts - ((ts mod slide) + slide) mod slide.
    pub(crate) fn windows(&self, ts: i64) -> Vec<(i64, i64)> {
        match *self {
            Assign::Tumbling(size) => {
                let start = ts - ts.rem_euclid(size);
                vec![(start, start + size)]
            }
            Assign::Sliding(size, slide) => {
                let last = ts - ts.rem_euclid(slide);
                (0..)
                    .map(|k| last - k * slide)
                    .take_while(|s| *s > ts - size)
                    .map(|s| (s, s + size))
                    .collect()
            }
            Assign::Session(gap) => vec![(ts, ts + gap)],
        }
    }
}

/// How the job's window function is set up.
#[derive(Clone, Copy)]
pub(crate) enum Func {
    /// `window_aggregate(CountAgg, RenderWindowCount)` as an aggregate.
    Aggregate,
    /// `one` → `count-reduce` (reduce) → `render-count`.
    Reduce,
    /// `one` → `window_reduce(Sum, RenderWindowCount)` as a reduce.
    ReduceRendered,
    /// `count-elements` (process-window).
    Process,
}

/// A streaming reference: records in order, each processed under the
/// watermark that preceded it; windows fire when the watermark reaches
/// their last millisecond, late records within the allowed lateness fire
/// their window again, later ones go to the late output.
pub(crate) struct Model {
    assign: Assign,
    lateness: i64,
    wm: i64,
    /// Open windows per key: (start, end) → count.
    open: BTreeMap<String, BTreeMap<(i64, i64), u64>>,
    /// Pending timers: (time, key, window, is_cleanup).
    timers: BTreeSet<(i64, String, (i64, i64), bool)>,
    pub(crate) out: Vec<(String, i64, i64, u64)>,
    pub(crate) late: Vec<String>,
}

impl Model {
    pub(crate) fn new(assign: Assign, lateness: i64) -> Self {
        Model {
            assign,
            lateness,
            wm: i64::MIN,
            open: BTreeMap::new(),
            timers: BTreeSet::new(),
            out: Vec::new(),
            late: Vec::new(),
        }
    }

    pub(crate) fn record(&mut self, ts: i64, word: &str, line: &str) {
        // `word` is the key: a word, or a user.
        let mut any = false;
        for w in self.assign.windows(ts) {
            if w.1 - 1 + self.lateness <= self.wm {
                continue;
            }
            any = true;
            let open = self.open.entry(word.to_owned()).or_default();
            let (w, count) = if let Assign::Session(_) = self.assign {
                // Merge every session this one overlaps or touches.
                let parts: Vec<(i64, i64)> = open
                    .keys()
                    .copied()
                    .filter(|p| p.0 <= w.1 && p.1 >= w.0)
                    .collect();
                let mut merged = w;
                let mut count = 1;
                for p in parts {
                    merged = (merged.0.min(p.0), merged.1.max(p.1));
                    count += open.remove(&p).unwrap_or(0);
                    self.timers.retain(|t| !(t.1 == word && t.2 == p));
                }
                open.insert(merged, count);
                (merged, count)
            } else {
                let c = open.entry(w).or_insert(0);
                *c += 1;
                (w, *c)
            };
            let max = w.1 - 1;
            if max > self.wm {
                self.timers.insert((max, word.to_owned(), w, false));
            } else {
                self.out.push((word.to_owned(), w.0, w.1, count));
            }
            self.timers
                .insert((max + self.lateness, word.to_owned(), w, true));
        }
        if !any {
            self.late.push(line.to_owned());
        }
    }

    pub(crate) fn advance(&mut self, wm: i64) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        // Firings first, then cleanups (a window's cleanup is never before
        // its firing).
        let due: Vec<_> = self.timers.iter().filter(|t| t.0 <= wm).cloned().collect();
        for t in &due {
            self.timers.remove(t);
        }
        for (_, key, w, cleanup) in &due {
            if !cleanup && let Some(c) = self.open.get(key).and_then(|o| o.get(w)) {
                self.out.push((key.clone(), w.0, w.1, *c));
            }
        }
        for (_, key, w, cleanup) in &due {
            if *cleanup && let Some(o) = self.open.get_mut(key) {
                o.remove(w);
            }
        }
    }
}

/// Runs the model on one file read in order, the watermark trailing the
/// highest timestamp by `bound` + 1 ms after each record.
pub(crate) fn model_run(
    lines: &[(i64, String)],
    assign: Assign,
    lateness: i64,
    bound: i64,
) -> Model {
    let mut m = Model::new(assign, lateness);
    let mut max = i64::MIN;
    for (ts, word) in lines {
        m.record(*ts, word, &format!("{ts} {word}"));
        max = max.max(*ts);
        m.advance(max - bound - 1);
    }
    m.advance(i64::MAX);
    m
}

/// A little deterministic PRNG (the tests must not depend on a crate's
/// sequence).
pub(crate) struct Lcg(pub(crate) u64);
impl Lcg {
    pub(crate) fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

pub(crate) const WORDS: [&str; 12] = [
    "ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay", "kiwi", "lynx",
];
