//! Where a batch driver writes a call's result: result entries, except
//! that a stage of a chained call that feeds another writes its main
//! records apart, as record frames, the next stage's input (no pass over
//! the result to pick them out).

use weir_wire::tag;

/// A call's result being written.
pub(crate) struct Out {
    /// Result entries (all of them, unless main records go to `frames`).
    pub(crate) buf: Vec<u8>,
    /// The main records as record frames, when they feed another stage.
    frames: Option<Vec<u8>>,
    /// How many records `frames` holds.
    records: u32,
}

/// Where a result stood, to drop what a failed record wrote.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    buf: usize,
    frames: usize,
    records: u32,
}

impl Out {
    /// A result of entries only.
    pub(crate) fn new(buf: Vec<u8>) -> Self {
        Out {
            buf,
            frames: None,
            records: 0,
        }
    }

    /// A result whose main records go to `frames` (cleared first).
    pub(crate) fn feeding(buf: Vec<u8>, mut frames: Vec<u8>) -> Self {
        frames.clear();
        Out {
            buf,
            frames: Some(frames),
            records: 0,
        }
    }

    /// The entries, the frames (when feeding) and how many records they hold.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Option<Vec<u8>>, u32) {
        (self.buf, self.frames, self.records)
    }

    /// Appends a main record.
    #[inline]
    pub(crate) fn main(&mut self, ts: i64, key: &[u8], value: &[u8]) {
        match &mut self.frames {
            None => weir_wire::put_main(&mut self.buf, ts, key, value),
            Some(f) => {
                weir_wire::put_record(f, ts, key, value);
                self.records += 1;
            }
        }
    }

    /// Appends a main record whose value `encode` writes in place; when it
    /// fails, nothing is appended.
    #[inline(always)]
    pub(crate) fn try_main_with<E>(
        &mut self,
        ts: i64,
        key: &[u8],
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let (buf, feeding) = match &mut self.frames {
            None => (&mut self.buf, false),
            Some(f) => (f, true),
        };
        let mark = buf.len();
        if !feeding {
            buf.push(tag::MAIN);
        }
        buf.extend_from_slice(&ts.to_le_bytes());
        buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
        buf.extend_from_slice(key);
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        if let Err(e) = encode(buf) {
            buf.truncate(mark);
            return Err(e);
        }
        let n = (buf.len() - at - 4) as u32;
        buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
        if feeding {
            self.records += 1;
        }
        Ok(())
    }

    /// Where the result stands now.
    #[inline]
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            buf: self.buf.len(),
            frames: self.frames.as_ref().map_or(0, Vec::len),
            records: self.records,
        }
    }

    /// Drops what was written after `m`.
    pub(crate) fn truncate(&mut self, m: Mark) {
        self.buf.truncate(m.buf);
        if let Some(f) = &mut self.frames {
            f.truncate(m.frames);
        }
        self.records = m.records;
    }
}
