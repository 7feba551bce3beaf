//! Composite state keys of (key, window): the key, then the window's
//! start and end big-endian, so a key's windows sort by time.

use weir_core::window::TimeWindow;

/// Appends the composite state key of (key, window): the key, then the
/// window's start and end big-endian (so a key's windows sort by time).
pub(crate) fn composite(buf: &mut Vec<u8>, key: &[u8], w: TimeWindow) {
    buf.clear();
    buf.extend_from_slice(key);
    buf.extend_from_slice(&w.start.to_be_bytes());
    buf.extend_from_slice(&w.end.to_be_bytes());
}

/// Splits a composite key into the key and the window.
pub(crate) fn split_composite(ck: &[u8]) -> Option<(&[u8], TimeWindow)> {
    let n = ck.len().checked_sub(16)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(&ck[n..n + 8]);
    let start = i64::from_be_bytes(a);
    a.copy_from_slice(&ck[n + 8..]);
    Some((
        &ck[..n],
        TimeWindow {
            start,
            end: i64::from_be_bytes(a),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_round_trip() {
        let mut b = Vec::new();
        let w = TimeWindow {
            start: -1000,
            end: 5,
        };
        composite(&mut b, b"user-1", w);
        assert_eq!(split_composite(&b), Some((&b"user-1"[..], w)));
        composite(&mut b, b"", w);
        assert_eq!(split_composite(&b), Some((&b""[..], w)));
        assert_eq!(split_composite(&b[..15]), None);
    }
}
