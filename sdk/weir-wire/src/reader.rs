//! Reading frames from a buffer without copying.

use crate::{ABSENT, NO_TIMESTAMP, WireError, tag};

/// A cursor over a buffer of little-endian frames.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte was read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Current byte offset.
    #[inline]
    pub fn offset(&self) -> usize {
        self.pos
    }

    #[inline]
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(WireError {
                offset: self.pos,
                what,
            }),
        }
    }

    /// Reads a byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1, "a tag byte")?[0])
    }

    /// Reads a u16.
    #[inline]
    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2, "a u16")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// Reads a u32.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4, "a u32")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads an i64.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, WireError> {
        let b = self.take(8, "an i64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    /// Reads a u64.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8, "a u64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads length-prefixed bytes.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n, "length-prefixed bytes")
    }

    /// Reads length-prefixed bytes that may be absent.
    #[inline]
    pub fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        let n = self.u32()?;
        if n == ABSENT {
            return Ok(None);
        }
        self.take(n as usize, "a state value").map(Some)
    }

    /// Reads a record frame.
    #[inline]
    pub fn record(&mut self) -> Result<RecordRef<'a>, WireError> {
        let start = self.pos;
        let ts = self.i64()?;
        let key = self.bytes()?;
        let value = self.bytes()?;
        Ok(RecordRef {
            ts,
            key,
            value,
            frame: &self.buf[start..self.pos],
        })
    }
}

/// A record borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Event timestamp in ms, or [`NO_TIMESTAMP`].
    pub ts: i64,
    /// Key bytes (empty when the record is not keyed).
    pub key: &'a [u8],
    /// Value bytes.
    pub value: &'a [u8],
    /// The whole encoded frame, so a record can be forwarded with one copy.
    pub frame: &'a [u8],
}

impl RecordRef<'_> {
    /// The timestamp, if the record has one.
    #[inline]
    pub fn timestamp(&self) -> Option<i64> {
        (self.ts != NO_TIMESTAMP).then_some(self.ts)
    }
}

/// Iterates the record frames of a batch.
pub struct Records<'a>(Reader<'a>);

impl<'a> Records<'a> {
    /// Records of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Records(Reader::new(buf))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let r = self.0.record();
        if r.is_err() {
            self.0.pos = self.0.buf.len();
        }
        Some(r)
    }
}

/// One entry of a result buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A record for the main output.
    Main(RecordRef<'a>),
    /// A record for a side output.
    Side {
        /// Side output name.
        output: &'a str,
        /// The record.
        record: RecordRef<'a>,
    },
    /// A value state set for the key at `slot`.
    ValueSet {
        /// Key group index within the batch.
        slot: u32,
        /// Declared state id.
        state: u32,
        /// New encoded value.
        value: &'a [u8],
    },
    /// A value state cleared for the key at `slot`.
    ValueClear {
        /// Key group index within the batch.
        slot: u32,
        /// Declared state id.
        state: u32,
    },
    /// A timer registered for the key at `slot`.
    TimerRegister {
        /// Key group index within the batch.
        slot: u32,
        /// `domain::EVENT_TIME` or `domain::PROCESSING_TIME`.
        domain: u8,
        /// When it fires, ms.
        time: i64,
    },
    /// A timer deleted for the key at `slot`.
    TimerDelete {
        /// Key group index within the batch.
        slot: u32,
        /// The timer's domain.
        domain: u8,
        /// The timer's time, ms.
        time: i64,
    },
    /// The function failed on one record and went on with the others.
    Failed {
        /// Key group (or window group) index within the batch; 0 for
        /// transforms.
        slot: u32,
        /// The record's index within the group (within the batch for
        /// transforms).
        index: u32,
        /// `failure::USER` or `failure::DECODE`.
        kind: u8,
        /// What went wrong.
        message: &'a str,
    },
    /// A chained call's result: the entries after this one are stage
    /// `stage`'s (`chain` interface).
    Stage {
        /// The stage, 1 for the second function of the chain.
        stage: u32,
        /// Records the stage received.
        records: u32,
        /// Their frame bytes.
        bytes: u64,
    },
    /// A chained call's result: the current stage failed on `record`.
    StageFailed {
        /// `failure::USER` or `failure::DECODE`.
        kind: u8,
        /// What went wrong.
        message: &'a str,
        /// The record.
        record: RecordRef<'a>,
    },
}

/// Iterates the entries of a result buffer.
pub struct Entries<'a>(Reader<'a>);

impl<'a> Entries<'a> {
    /// Entries of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Entries(Reader::new(buf))
    }

    /// The byte offset of the next entry (entries can be copied whole:
    /// `buf[before..after]`).
    #[inline]
    pub fn offset(&self) -> usize {
        self.0.offset()
    }

    /// The next entry: records (the common case) inline, the rest apart.
    #[inline(always)]
    fn entry(&mut self) -> Result<Entry<'a>, WireError> {
        let at = self.0.offset();
        match self.0.u8()? {
            tag::MAIN => Ok(Entry::Main(self.0.record()?)),
            t => self.other_entry(t, at),
        }
    }

    #[inline(never)]
    fn other_entry(&mut self, t: u8, at: usize) -> Result<Entry<'a>, WireError> {
        let r = &mut self.0;
        match t {
            tag::SIDE => {
                let n = r.u16()? as usize;
                let name = r.take(n, "a side output name")?;
                let output = std::str::from_utf8(name).map_err(|_| WireError {
                    offset: at,
                    what: "a UTF-8 side output name",
                })?;
                Ok(Entry::Side {
                    output,
                    record: r.record()?,
                })
            }
            tag::VALUE_SET => Ok(Entry::ValueSet {
                slot: r.u32()?,
                state: r.u32()?,
                value: r.bytes()?,
            }),
            tag::VALUE_CLEAR => Ok(Entry::ValueClear {
                slot: r.u32()?,
                state: r.u32()?,
            }),
            t @ (tag::TIMER_REGISTER | tag::TIMER_DELETE) => {
                let slot = r.u32()?;
                let domain = r.u8()?;
                if domain > crate::domain::PROCESSING_TIME {
                    return Err(WireError {
                        offset: at,
                        what: "a known timer domain",
                    });
                }
                let time = r.i64()?;
                Ok(if t == tag::TIMER_REGISTER {
                    Entry::TimerRegister { slot, domain, time }
                } else {
                    Entry::TimerDelete { slot, domain, time }
                })
            }
            tag::RECORD_FAILED => {
                let slot = r.u32()?;
                let index = r.u32()?;
                let (kind, message) = failure_of(r, at)?;
                Ok(Entry::Failed {
                    slot,
                    index,
                    kind,
                    message,
                })
            }
            tag::STAGE => Ok(Entry::Stage {
                stage: r.u32()?,
                records: r.u32()?,
                bytes: r.u64()?,
            }),
            tag::STAGE_RECORD_FAILED => {
                let (kind, message) = failure_of(r, at)?;
                Ok(Entry::StageFailed {
                    kind,
                    message,
                    record: r.record()?,
                })
            }
            _ => Err(WireError {
                offset: at,
                what: "a known entry tag",
            }),
        }
    }
}

/// The kind and message of a failed-record entry.
fn failure_of<'a>(r: &mut Reader<'a>, at: usize) -> Result<(u8, &'a str), WireError> {
    let kind = r.u8()?;
    if kind > crate::failure::DECODE {
        return Err(WireError {
            offset: at,
            what: "a known failure kind",
        });
    }
    let message = std::str::from_utf8(r.bytes()?).map_err(|_| WireError {
        offset: at,
        what: "a UTF-8 failure message",
    })?;
    Ok((kind, message))
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let e = self.entry();
        if e.is_err() {
            self.0.pos = self.0.buf.len();
        }
        Some(e)
    }
}

/// Reads the key groups of a keyed batch.
pub struct GroupReader<'a> {
    reader: Reader<'a>,
    value_states: usize,
}

impl<'a> GroupReader<'a> {
    /// Groups of `buf`, each carrying `value_states` state values.
    #[inline]
    pub fn new(buf: &'a [u8], value_states: usize) -> Self {
        GroupReader {
            reader: Reader::new(buf),
            value_states,
        }
    }

    /// Reads the next group header: the key, then calls `state` once per
    /// declared value state; returns the key and the number of records, or
    /// `None` at the end. Read the records with [`GroupReader::record`].
    #[inline]
    pub fn next_group(
        &mut self,
        mut state: impl FnMut(usize, Option<&'a [u8]>),
    ) -> Result<Option<(&'a [u8], u32)>, WireError> {
        if self.reader.is_empty() {
            return Ok(None);
        }
        let key = self.reader.bytes()?;
        for i in 0..self.value_states {
            state(i, self.reader.opt_bytes()?);
        }
        let n = self.reader.u32()?;
        Ok(Some((key, n)))
    }

    /// Reads one record (timestamp, value) of the current group.
    #[inline]
    pub fn record(&mut self) -> Result<(i64, &'a [u8]), WireError> {
        let ts = self.reader.i64()?;
        let v = self.reader.bytes()?;
        Ok((ts, v))
    }
}
