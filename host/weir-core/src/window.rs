//! Window assigners: which windows a timestamp belongs to (Flink's
//! tumbling, sliding and session windows), and how session windows merge.
//!
//! Windows are half-open intervals `[start, end)` in ms. A window's results
//! carry its max timestamp, `end - 1`; it fires when the watermark (or the
//! processing-time clock) reaches that.

use serde::Deserialize;

/// A time window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeWindow {
    /// First millisecond in the window.
    pub start: i64,
    /// First millisecond after it.
    pub end: i64,
}

impl TimeWindow {
    /// The last millisecond in the window: when it fires, and its results'
    /// timestamp.
    #[inline]
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }

    /// Whether two windows overlap or touch (Flink merges both).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Which clock a window follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowTime {
    /// Record timestamps and watermarks.
    #[default]
    Event,
    /// The processing-time clock when a record arrives.
    Processing,
}

/// How records are assigned to windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Fixed-size, non-overlapping windows.
    Tumbling {
        /// Window length, ms.
        size: i64,
        /// Shift of window starts from the epoch, ms.
        offset: i64,
    },
    /// Fixed-size windows starting every `slide` ms (a record belongs to
    /// `size / slide` windows).
    Sliding {
        /// Window length, ms.
        size: i64,
        /// Distance between window starts, ms.
        slide: i64,
        /// Shift of window starts from the epoch, ms.
        offset: i64,
    },
    /// Per key, records closer than `gap` ms form one window.
    Session {
        /// Inactivity gap, ms.
        gap: i64,
    },
}

/// Flink's `TimeWindow.getWindowStartWithOffset`, also for negative
/// timestamps.
#[inline]
pub fn window_start(ts: i64, offset: i64, size: i64) -> i64 {
    ts - (ts - offset).rem_euclid(size)
}

impl WindowAssigner {
    /// Whether windows of this assigner merge (sessions).
    pub fn is_merging(&self) -> bool {
        matches!(self, WindowAssigner::Session { .. })
    }

    /// Appends the windows `ts` belongs to, latest start first (as Flink).
    #[inline]
    pub fn assign(&self, ts: i64, out: &mut Vec<TimeWindow>) {
        match *self {
            WindowAssigner::Tumbling { size, offset } => {
                let start = window_start(ts, offset, size);
                out.push(TimeWindow {
                    start,
                    end: start.saturating_add(size),
                });
            }
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
            } => {
                let mut start = window_start(ts, offset, slide);
                while start > ts - size {
                    out.push(TimeWindow {
                        start,
                        end: start.saturating_add(size),
                    });
                    start -= slide;
                }
            }
            WindowAssigner::Session { gap } => out.push(TimeWindow {
                start: ts,
                end: ts.saturating_add(gap),
            }),
        }
    }
}

/// A window as written in a job file (`[operators.window]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// `tumbling`, `sliding` or `session`.
    #[serde(rename = "type")]
    pub kind: WindowType,
    /// Window length (tumbling, sliding), ms.
    #[serde(default)]
    pub size_ms: Option<u64>,
    /// Distance between window starts (sliding), ms.
    #[serde(default)]
    pub slide_ms: Option<u64>,
    /// Inactivity gap (session), ms.
    #[serde(default)]
    pub gap_ms: Option<u64>,
    /// Shift of window starts from the epoch (tumbling, sliding), ms.
    #[serde(default)]
    pub offset_ms: u64,
    /// `event` (default) or `processing` time.
    #[serde(default)]
    pub time: WindowTime,
    /// How long after a window fires late records still update it (event
    /// time), ms. Later records go to the `late` side output.
    #[serde(default)]
    pub allowed_lateness_ms: u64,
}

/// The kinds of window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowType {
    /// Fixed, non-overlapping.
    Tumbling,
    /// Fixed, overlapping.
    Sliding,
    /// Gap-separated, per key, merging.
    Session,
}

/// A validated window of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowDef {
    /// How records map to windows.
    pub assigner: WindowAssigner,
    /// Which clock.
    pub time: WindowTime,
    /// Allowed lateness, ms (0 in processing time).
    pub allowed_lateness: i64,
}

/// The name of the side output that receives records too late for every
/// window they belong to.
pub const LATE_OUTPUT: &str = "late";

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl WindowSpec {
    /// Checks the settings; returns the window or the problems found.
    pub fn resolve(&self) -> Result<WindowDef, Vec<String>> {
        let mut problems = Vec::new();
        let need = |name: &str, v: Option<u64>, problems: &mut Vec<String>| -> i64 {
            match v {
                Some(0) | None => {
                    problems.push(format!(
                        "a {:?} window needs {name} of at least 1",
                        self.kind
                    ));
                    1
                }
                Some(v) => ms(v),
            }
        };
        let unused = |name: &str, set: bool, problems: &mut Vec<String>| {
            if set {
                problems.push(format!("{name} does not apply to a {:?} window", self.kind));
            }
        };
        let offset = ms(self.offset_ms);
        let assigner = match self.kind {
            WindowType::Tumbling => {
                let size = need("size_ms", self.size_ms, &mut problems);
                unused("slide_ms", self.slide_ms.is_some(), &mut problems);
                unused("gap_ms", self.gap_ms.is_some(), &mut problems);
                WindowAssigner::Tumbling { size, offset }
            }
            WindowType::Sliding => {
                let size = need("size_ms", self.size_ms, &mut problems);
                let slide = need("slide_ms", self.slide_ms, &mut problems);
                unused("gap_ms", self.gap_ms.is_some(), &mut problems);
                if slide > size {
                    problems.push(format!(
                        "slide_ms ({slide}) must not exceed size_ms ({size}): records between windows would be lost"
                    ));
                }
                if size / slide.max(1) > 1000 {
                    problems.push(format!(
                        "size_ms / slide_ms is {}: a record would belong to more than 1000 windows",
                        size / slide.max(1)
                    ));
                }
                WindowAssigner::Sliding {
                    size,
                    slide,
                    offset,
                }
            }
            WindowType::Session => {
                let gap = need("gap_ms", self.gap_ms, &mut problems);
                unused("size_ms", self.size_ms.is_some(), &mut problems);
                unused("slide_ms", self.slide_ms.is_some(), &mut problems);
                unused("offset_ms", self.offset_ms != 0, &mut problems);
                WindowAssigner::Session { gap }
            }
        };
        if self.time == WindowTime::Processing && self.allowed_lateness_ms > 0 {
            problems.push(
                "allowed_lateness_ms applies to event-time windows only (processing time is never late)"
                    .into(),
            );
        }
        if problems.is_empty() {
            Ok(WindowDef {
                assigner,
                time: self.time,
                allowed_lateness: ms(self.allowed_lateness_ms),
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(a: WindowAssigner, ts: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        a.assign(ts, &mut out);
        out.into_iter().map(|w| (w.start, w.end)).collect()
    }

    #[test]
    fn tumbling_windows_cover_every_timestamp_once() {
        let a = WindowAssigner::Tumbling {
            size: 1000,
            offset: 0,
        };
        assert_eq!(windows(a, 0), vec![(0, 1000)]);
        assert_eq!(windows(a, 999), vec![(0, 1000)]);
        assert_eq!(windows(a, 1000), vec![(1000, 2000)]);
        assert_eq!(windows(a, -1), vec![(-1000, 0)], "negative timestamps");
        let shifted = WindowAssigner::Tumbling {
            size: 1000,
            offset: 250,
        };
        assert_eq!(windows(shifted, 100), vec![(-750, 250)]);
        assert_eq!(windows(shifted, 250), vec![(250, 1250)]);
    }

    #[test]
    fn sliding_windows_hold_size_over_slide_windows() {
        let a = WindowAssigner::Sliding {
            size: 3000,
            slide: 1000,
            offset: 0,
        };
        assert_eq!(
            windows(a, 2500),
            vec![(2000, 5000), (1000, 4000), (0, 3000)]
        );
        for ts in -5000..5000 {
            let w = windows(a, ts);
            assert_eq!(w.len(), 3, "ts {ts}");
            assert!(w.iter().all(|&(s, e)| s <= ts && ts < e), "ts {ts}: {w:?}");
        }
    }

    #[test]
    fn session_windows_touching_merge() {
        let a = TimeWindow { start: 0, end: 10 };
        let b = TimeWindow { start: 10, end: 20 };
        let c = TimeWindow { start: 21, end: 30 };
        assert!(a.intersects(&b));
        assert!(!a.intersects(&c));
        assert_eq!(a.cover(&c), TimeWindow { start: 0, end: 30 });
    }

    #[test]
    fn specs_are_checked() {
        let spec = |kind, size, slide, gap| WindowSpec {
            kind,
            size_ms: size,
            slide_ms: slide,
            gap_ms: gap,
            offset_ms: 0,
            time: WindowTime::Event,
            allowed_lateness_ms: 0,
        };
        assert!(
            spec(WindowType::Tumbling, Some(10), None, None)
                .resolve()
                .is_ok()
        );
        let e = spec(WindowType::Sliding, Some(10), Some(20), None)
            .resolve()
            .expect_err("slide > size");
        assert!(e[0].contains("must not exceed"), "{e:?}");
        let e = spec(WindowType::Session, Some(5), None, None)
            .resolve()
            .expect_err("no gap");
        assert_eq!(e.len(), 2, "{e:?}");
    }
}
