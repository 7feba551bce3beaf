//! Due timers taken from a [`TimerStore`](crate::TimerStore): their keys in
//! one buffer, so firing a round of timers allocates nothing per timer.

/// A round of due timers, earliest first.
#[derive(Debug, Default)]
pub struct DueTimers {
    keys: Vec<u8>,
    /// (time, key group, key start, key length).
    timers: Vec<(i64, u16, usize, usize)>,
}

impl DueTimers {
    /// Forgets every timer (keeping the buffers).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.timers.clear();
    }

    /// Appends a timer.
    #[inline]
    pub fn push(&mut self, time: i64, kg: u16, key: &[u8]) {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        self.timers.push((time, kg, start, key.len()));
    }

    /// Appends timers whose keys lie in `keys` (moved in when nothing is
    /// held yet, copied otherwise).
    pub(crate) fn extend_from(
        &mut self,
        keys: Vec<u8>,
        timers: impl Iterator<Item = (i64, u16, usize, usize)>,
    ) {
        if self.timers.is_empty() {
            self.keys = keys;
            self.timers.extend(timers);
        } else {
            for (time, kg, start, len) in timers {
                self.push(time, kg, &keys[start..start + len]);
            }
        }
    }

    /// Number of timers.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Timer `i`: time, key group, key.
    #[inline]
    pub fn get(&self, i: usize) -> Option<(i64, u16, &[u8])> {
        let &(time, kg, start, len) = self.timers.get(i)?;
        Some((time, kg, &self.keys[start..start + len]))
    }

    /// Every timer in order: time, key group, key.
    pub fn iter(&self) -> impl Iterator<Item = (i64, u16, &[u8])> {
        self.timers
            .iter()
            .map(|&(time, kg, start, len)| (time, kg, &self.keys[start..start + len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_keep_their_keys_moved_or_copied() {
        let mut d = DueTimers::default();
        d.extend_from(b"abcd".to_vec(), [(5, 1, 0, 2), (5, 2, 2, 2)].into_iter());
        d.extend_from(b"xyz".to_vec(), [(6, 3, 1, 2)].into_iter());
        d.push(7, 4, b"");
        let got: Vec<(i64, u16, Vec<u8>)> = d.iter().map(|(t, g, k)| (t, g, k.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (5, 1, b"ab".to_vec()),
                (5, 2, b"cd".to_vec()),
                (6, 3, b"yz".to_vec()),
                (7, 4, Vec::new())
            ]
        );
        assert_eq!(d.get(2), Some((6, 3, &b"yz"[..])));
        assert_eq!(d.get(4), None);
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.len(), 0);
    }
}
