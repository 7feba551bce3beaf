//! Batches of records on the host: one flat buffer of `weir-wire` record
//! frames, the same bytes that cross into Wasm, so forwarding a batch into a
//! function needs no re-encoding.

use weir_wire::{RecordRef, Records, WireError};

/// Records in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    buf: Vec<u8>,
    len: usize,
}

impl Batch {
    /// An empty batch with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        Batch {
            buf: Vec::with_capacity(bytes),
            len: 0,
        }
    }

    /// Makes room for `bytes` more record bytes (a guest's result is
    /// about as big as the records it holds: reserving once spares the
    /// copies of a growing buffer).
    pub fn reserve(&mut self, bytes: usize) {
        self.buf.reserve(bytes);
    }

    /// Appends a record.
    #[inline]
    pub fn push(&mut self, ts: i64, key: &[u8], value: &[u8]) {
        weir_wire::put_record(&mut self.buf, ts, key, value);
        self.len += 1;
    }

    /// Appends a record read elsewhere (one copy of its frame).
    #[inline]
    pub fn push_ref(&mut self, r: &RecordRef<'_>) {
        self.buf.extend_from_slice(r.frame);
        self.len += 1;
    }

    /// Appends every record of `other` (one copy of its bytes).
    pub fn extend_from(&mut self, other: &Batch) {
        self.buf.extend_from_slice(&other.buf);
        self.len += other.len;
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of the encoded records.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// The encoded records.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded records, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Removes every record, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.len = 0;
    }

    /// Takes the records out, leaving an empty batch with the same capacity
    /// hint.
    pub fn take(&mut self) -> Batch {
        let cap = self.buf.capacity();
        std::mem::replace(self, Batch::with_capacity(cap))
    }

    /// Iterates the records.
    pub fn iter(&self) -> Records<'_> {
        Records::new(&self.buf)
    }

    /// Overwrites the timestamps of the records, in order (one per record).
    pub fn set_timestamps(&mut self, ts: &[i64]) -> Result<(), WireError> {
        let mut at = 0;
        for &t in ts {
            if at + 8 > self.buf.len() {
                return Err(WireError {
                    offset: at,
                    what: "a record for every timestamp",
                });
            }
            self.buf[at..at + 8].copy_from_slice(&t.to_le_bytes());
            let frame = Records::new(&self.buf[at..])
                .next()
                .ok_or(WireError {
                    offset: at,
                    what: "a record",
                })??
                .frame
                .len();
            at += frame;
        }
        Ok(())
    }

    /// The records in consecutive batches of about `max_bytes` each (at
    /// least one record each).
    pub fn split(&self, max_bytes: usize) -> Result<Vec<Batch>, WireError> {
        let mut parts = Vec::with_capacity(self.buf.len() / max_bytes.max(1) + 1);
        let mut part = Batch::with_capacity(max_bytes.min(self.buf.len()));
        for r in self.iter() {
            part.push_ref(&r?);
            if part.byte_len() >= max_bytes {
                parts.push(std::mem::replace(
                    &mut part,
                    Batch::with_capacity(max_bytes.min(self.buf.len())),
                ));
            }
        }
        if !part.is_empty() {
            parts.push(part);
        }
        Ok(parts)
    }

    /// Checks the encoding and counts records of a buffer from elsewhere.
    pub fn from_bytes(buf: Vec<u8>) -> Result<Batch, WireError> {
        let mut len = 0;
        for r in Records::new(&buf) {
            r?;
            len += 1;
        }
        Ok(Batch { buf, len })
    }
}

/// What one step produced: main-output records and side outputs by name.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Main output.
    pub main: Batch,
    /// Side outputs, in first-use order.
    pub side: Vec<(String, Batch)>,
}

impl Outputs {
    /// The batch of side output `name`, created on first use.
    pub fn side(&mut self, name: &str) -> &mut Batch {
        match self.side.iter().position(|(n, _)| n == name) {
            Some(i) => &mut self.side[i].1,
            None => {
                self.side.push((name.to_owned(), Batch::default()));
                let last = self.side.len() - 1;
                &mut self.side[last].1
            }
        }
    }

    /// Whether nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.main.is_empty() && self.side.iter().all(|(_, b)| b.is_empty())
    }
}
