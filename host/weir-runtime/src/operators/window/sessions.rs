//! Session windows of one key: the set of open sessions, how a new
//! record's window merges into it, and how the set is stored.
//!
//! Each session has its actual window and the *state window*: the
//! namespace its contents are stored under. When sessions merge, the
//! merged session keeps the state window of its earliest part and the
//! other parts' contents are merged into it (Flink's `MergingWindowSet`),
//! so a record that only extends a session moves no state.

use weir_core::window::TimeWindow;

/// An open session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Session {
    /// The session's extent.
    pub(crate) window: TimeWindow,
    /// Where its contents are stored.
    pub(crate) state: TimeWindow,
}

/// What adding a window to a key's sessions changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Merge {
    /// The state window the new record belongs to.
    pub(crate) target: TimeWindow,
    /// The merged session's window.
    pub(crate) window: TimeWindow,
    /// Actual windows that no longer exist (their timers must go).
    pub(crate) retired: Vec<TimeWindow>,
    /// State windows whose contents must move into `target`.
    pub(crate) absorbed: Vec<TimeWindow>,
}

/// Adds the window of a new record to `sessions`, merging every session it
/// intersects (touching counts, as in Flink).
pub(crate) fn add(sessions: &mut Vec<Session>, new: TimeWindow) -> Merge {
    let mut parts: Vec<Session> = Vec::new();
    sessions.retain(|s| {
        if s.window.intersects(&new) {
            parts.push(*s);
            false
        } else {
            true
        }
    });
    parts.sort_by_key(|s| (s.window.start, s.window.end));
    let mut window = new;
    for p in &parts {
        window = window.cover(&p.window);
    }
    let target = parts.first().map_or(new, |p| p.state);
    sessions.push(Session {
        window,
        state: target,
    });
    Merge {
        target,
        window,
        retired: parts
            .iter()
            .map(|p| p.window)
            .filter(|w| *w != window)
            .collect(),
        absorbed: parts.iter().skip(1).map(|p| p.state).collect(),
    }
}

/// Encodes a key's sessions: 32 bytes each (window start, end, state
/// start, end; little-endian).
pub(crate) fn encode(sessions: &[Session], out: &mut Vec<u8>) {
    out.clear();
    for s in sessions {
        for v in [s.window.start, s.window.end, s.state.start, s.state.end] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Decodes what [`encode`] wrote; `None` if the bytes are corrupt.
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<Session>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    let v = |c: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        i64::from_le_bytes(a)
    };
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| Session {
                window: TimeWindow {
                    start: v(&c[0..8]),
                    end: v(&c[8..16]),
                },
                state: TimeWindow {
                    start: v(&c[16..24]),
                    end: v(&c[24..32]),
                },
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> TimeWindow {
        TimeWindow { start, end }
    }

    #[test]
    fn a_record_inside_a_session_moves_nothing() {
        let mut s = Vec::new();
        let m = add(&mut s, w(0, 10));
        assert_eq!((m.target, m.window), (w(0, 10), w(0, 10)));
        let m = add(&mut s, w(5, 15));
        assert_eq!(m.target, w(0, 10), "state stays where it was");
        assert_eq!(m.window, w(0, 15));
        assert_eq!(m.retired, vec![w(0, 10)]);
        assert!(m.absorbed.is_empty());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_bridging_record_merges_two_sessions() {
        let mut s = Vec::new();
        add(&mut s, w(0, 10));
        add(&mut s, w(30, 40));
        assert_eq!(s.len(), 2);
        let m = add(&mut s, w(8, 31));
        assert_eq!(m.window, w(0, 40));
        assert_eq!(m.target, w(0, 10));
        assert_eq!(m.absorbed, vec![w(30, 40)]);
        assert_eq!(
            s,
            vec![Session {
                window: w(0, 40),
                state: w(0, 10)
            }]
        );
        let mut buf = Vec::new();
        encode(&s, &mut buf);
        assert_eq!(decode(&buf), Some(s));
        assert_eq!(decode(&buf[..31]), None);
    }

    /// Model check: after any sequence of additions, sessions are
    /// disjoint (not even touching) and cover exactly the union of the
    /// added windows.
    #[test]
    fn sessions_stay_disjoint_and_cover_the_inputs() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        for _ in 0..200 {
            let mut s = Vec::new();
            let mut added = Vec::new();
            for _ in 0..20 {
                let start = next() % 200;
                let win = w(start, start + 10);
                added.push(win);
                add(&mut s, win);
            }
            for (i, a) in s.iter().enumerate() {
                for b in &s[i + 1..] {
                    assert!(!a.window.intersects(&b.window), "{s:?}");
                }
            }
            for t in 0..220 {
                let in_added = added.iter().any(|x| x.start <= t && t < x.end);
                let in_session = s.iter().any(|x| x.window.start <= t && t < x.window.end);
                assert!(!in_added || in_session, "t {t} lost");
            }
            for x in &s {
                assert!(added.iter().any(|a| a.start == x.window.start));
                assert!(added.iter().any(|a| a.end == x.window.end));
            }
        }
    }
}
