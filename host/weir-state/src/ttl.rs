//! Time-to-live of state entries: a stored entry is its last-write time
//! (processing time, ms, little-endian i64) followed by the value. Expired
//! entries read as absent.

use crate::Ttl;

/// Writes `value` stamped with `now` into `out` (cleared first).
#[inline]
pub fn stamp(out: &mut Vec<u8>, now: i64, value: &[u8]) {
    out.clear();
    out.extend_from_slice(&now.to_le_bytes());
    out.extend_from_slice(value);
}

/// A stamped copy of `value`.
pub fn stamped(now: i64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    stamp(&mut v, now, value);
    v
}

/// The value of a stored entry, or `None` when it has expired at `now`
/// (or is too short to carry a stamp).
#[inline]
pub fn live<'a>(stored: &'a [u8], ttl: &Ttl, now: i64) -> Option<&'a [u8]> {
    let (t, value) = stored.split_first_chunk::<8>()?;
    let written = i64::from_le_bytes(*t);
    let millis = i64::try_from(ttl.millis).unwrap_or(i64::MAX);
    (written.saturating_add(millis) > now).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_lifetime() {
        let ttl = Ttl {
            millis: 100,
            refresh_on_read: false,
        };
        let e = stamped(1_000, b"v");
        assert_eq!(live(&e, &ttl, 1_099), Some(&b"v"[..]));
        assert_eq!(live(&e, &ttl, 1_100), None);
        assert_eq!(live(b"short", &ttl, 0), None);
    }
}
