//! Keyed state files: the canonical entries of one operator sub-task,
//! written and read as a stream of checksummed chunks, so a snapshot never
//! has to be held in memory whole and a restoring sub-task reads only the
//! chunks of its key groups.
//!
//! Layout: `WEIRKEYS`, a format version (u32 LE), then the chunks back to
//! back, each the postcard-encoded entries followed by an XXH3-64 checksum
//! of them. Where each chunk is and which key groups it holds is in the
//! snapshot file ([`StreamedKeyed`]).

use crate::error::{CheckpointError, io};
use crate::location;
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use weir_state::{StateDesc, StateEntry};

const MAGIC: &[u8; 8] = b"WEIRKEYS";
const VERSION: u32 = 1;
/// Bytes of header before the first chunk.
pub const HEADER: u64 = 12;
/// A chunk is cut once its entries reach about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;

/// Keyed state in a state file beside the snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamedKeyed {
    /// The registered states.
    pub states: Vec<StateDesc>,
    /// The state file's name in the checkpoint directory (once loaded for
    /// a restore: its full location).
    pub file: String,
    /// Its chunks, in file order.
    pub chunks: Vec<Chunk>,
}

/// One chunk of a state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The lowest key group of its entries.
    pub first_kg: u16,
    /// The highest.
    pub last_kg: u16,
    /// Where it starts in the file.
    pub offset: u64,
    /// Its bytes, checksum included.
    pub len: u64,
    /// How many entries it holds.
    pub entries: u64,
}

impl Chunk {
    fn overlaps(&self, range: &RangeInclusive<u16>) -> bool {
        self.first_kg <= *range.end() && self.last_kg >= *range.start()
    }
}

/// Writes a local state file a chunk at a time.
pub struct StateFileWriter {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
    offset: u64,
    pending: Vec<StateEntry>,
    pending_bytes: usize,
    chunks: Vec<Chunk>,
}

impl StateFileWriter {
    /// Creates (or replaces) the local file `path`.
    pub fn create(path: &Path) -> Result<Self, CheckpointError> {
        let file = std::fs::File::create(path).map_err(io("cannot create", path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)
            .and_then(|()| out.write_all(&VERSION.to_le_bytes()))
            .map_err(io("cannot write", path))?;
        Ok(StateFileWriter {
            out,
            path: path.to_owned(),
            offset: HEADER,
            pending: Vec::new(),
            pending_bytes: 0,
            chunks: Vec::new(),
        })
    }

    /// Adds an entry. Entries come state by state, in key-group order
    /// within each; a chunk holds one state's entries, so its key-group
    /// range is tight.
    pub fn push(&mut self, e: StateEntry) -> Result<(), CheckpointError> {
        if self.pending.last().is_some_and(|l| l.state() != e.state()) {
            self.cut()?;
        }
        self.pending_bytes += entry_bytes(&e);
        self.pending.push(e);
        if self.pending_bytes >= CHUNK_BYTES {
            self.cut()?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), CheckpointError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let payload =
            postcard::to_allocvec(&self.pending).map_err(|e| CheckpointError::Corrupt {
                path: self.path.clone(),
                message: format!("cannot encode state entries: {e}"),
            })?;
        let sum = xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes();
        self.out
            .write_all(&payload)
            .and_then(|()| self.out.write_all(&sum))
            .map_err(io("cannot write", &self.path))?;
        let kgs = self.pending.iter().map(StateEntry::key_group);
        let len = payload.len() as u64 + 8;
        self.chunks.push(Chunk {
            first_kg: kgs.clone().min().unwrap_or(0),
            last_kg: kgs.max().unwrap_or(0),
            offset: self.offset,
            len,
            entries: self.pending.len() as u64,
        });
        self.offset += len;
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Writes the last chunk and syncs the file; returns the chunks and
    /// the file's size.
    pub fn finish(mut self) -> Result<(Vec<Chunk>, u64), CheckpointError> {
        self.cut()?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io("cannot write", &self.path)(e.into_error()))?;
        file.sync_all().map_err(io("cannot sync", &self.path))?;
        Ok((self.chunks, self.offset))
    }
}

/// Roughly what an entry takes encoded (for cutting chunks).
fn entry_bytes(e: &StateEntry) -> usize {
    16 + match e {
        StateEntry::Value { key, value, .. } => key.len() + value.len(),
        StateEntry::List { key, values, .. } => {
            key.len() + values.iter().map(|v| v.len() + 2).sum::<usize>()
        }
        StateEntry::Map {
            key,
            user_key,
            value,
            ..
        } => key.len() + user_key.len() + value.len(),
    }
}

/// Reads the chunks of `s` that hold key groups in `range`, one at a time,
/// handing each chunk's entries to `f` (entries of other key groups in
/// those chunks included; `f` filters). The file is `s.file`, local or in
/// object storage; only those chunks are read.
pub fn read_chunks<E: From<CheckpointError>>(
    s: &StreamedKeyed,
    range: &RangeInclusive<u16>,
    mut f: impl FnMut(Vec<StateEntry>) -> Result<(), E>,
) -> Result<(), E> {
    let path = Path::new(&s.file);
    let wanted: Vec<&Chunk> = s.chunks.iter().filter(|c| c.overlaps(range)).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut reader = location::RangeReader::open(path)?;
    check_header(&reader.read(0, HEADER)?, path)?;
    for c in wanted {
        let bytes = reader.read(c.offset, c.len)?;
        f(decode_chunk(&bytes, c, path)?)?;
    }
    Ok(())
}

fn check_header(b: &[u8], path: &Path) -> Result<(), CheckpointError> {
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.to_owned(),
        message,
    };
    if b.len() < HEADER as usize || &b[..8] != MAGIC {
        return Err(corrupt("not a Weir state file".into()));
    }
    let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    if version != VERSION {
        return Err(corrupt(format!(
            "state file format {version}, this Weir reads format {VERSION}"
        )));
    }
    Ok(())
}

fn decode_chunk(b: &[u8], c: &Chunk, path: &Path) -> Result<Vec<StateEntry>, CheckpointError> {
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.to_owned(),
        message: format!("the chunk at byte {}: {message}", c.offset),
    };
    let Some((payload, sum)) = b.split_last_chunk::<8>() else {
        return Err(corrupt(format!("truncated: {} bytes", b.len())));
    };
    if b.len() as u64 != c.len {
        return Err(corrupt(format!(
            "truncated: {} of {} bytes",
            b.len(),
            c.len
        )));
    }
    if u64::from_le_bytes(*sum) != xxhash_rust::xxh3::xxh3_64(payload) {
        return Err(corrupt("checksum mismatch".into()));
    }
    let entries: Vec<StateEntry> =
        postcard::from_bytes(payload).map_err(|e| corrupt(format!("cannot decode: {e}")))?;
    if entries.len() as u64 != c.entries {
        return Err(corrupt(format!(
            "{} entries where the snapshot says {}",
            entries.len(),
            c.entries
        )));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(kg: u16, i: u32) -> StateEntry {
        StateEntry::Value {
            kg,
            state: 0,
            key: format!("key-{i}").into_bytes(),
            value: vec![7; 300],
        }
    }

    fn written(dir: &Path, entries: &[StateEntry]) -> StreamedKeyed {
        let path = dir.join("op-count-0.state");
        let mut w = StateFileWriter::create(&path).expect("create");
        for e in entries {
            w.push(e.clone()).expect("push");
        }
        let (chunks, bytes) = w.finish().expect("finish");
        assert_eq!(std::fs::metadata(&path).expect("file").len(), bytes);
        StreamedKeyed {
            states: Vec::new(),
            file: path.display().to_string(),
            chunks,
        }
    }

    fn read(
        s: &StreamedKeyed,
        range: RangeInclusive<u16>,
    ) -> Result<Vec<StateEntry>, CheckpointError> {
        let mut all = Vec::new();
        read_chunks(s, &range, |c| {
            all.extend(c.into_iter().filter(|e| range.contains(&e.key_group())));
            Ok::<_, CheckpointError>(())
        })?;
        Ok(all)
    }

    #[test]
    fn entries_come_back_by_key_group_range_reading_only_overlapping_chunks() {
        let tmp = tempfile::tempdir().expect("tmp");
        // Two states, each in key-group order, as backends stream them.
        let mut entries: Vec<StateEntry> =
            (0..12_000).map(|i| value((i / 100) as u16, i)).collect();
        entries.extend((0..50).map(|i| StateEntry::List {
            kg: i as u16 * 2,
            state: 1,
            key: vec![i as u8],
            values: vec![b"a".to_vec(), b"bc".to_vec()],
        }));
        let s = written(tmp.path(), &entries);
        assert!(s.chunks.len() > 3, "{} chunks", s.chunks.len());
        assert_eq!(
            s.chunks.iter().map(|c| c.entries).sum::<u64>(),
            entries.len() as u64
        );
        assert_eq!(read(&s, 0..=u16::MAX).expect("all"), entries);
        let want: Vec<StateEntry> = entries
            .iter()
            .filter(|e| (40..=59).contains(&e.key_group()))
            .cloned()
            .collect();
        assert_eq!(read(&s, 40..=59).expect("range"), want);
        // Chunks of other key groups are not read: damage one far away.
        let far = s
            .chunks
            .iter()
            .find(|c| c.first_kg > 80)
            .expect("a far chunk");
        let mut bytes = std::fs::read(&s.file).expect("read");
        bytes[far.offset as usize + 5] ^= 0x10;
        std::fs::write(&s.file, &bytes).expect("write");
        assert_eq!(read(&s, 40..=59).expect("range"), want);
        let e = read(&s, 0..=u16::MAX).expect_err("the damaged chunk");
        assert!(e.to_string().contains("checksum"), "{e}");
    }

    #[test]
    fn a_damaged_or_foreign_file_is_a_clear_error() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s = written(tmp.path(), &[value(1, 1), value(2, 2)]);
        let bytes = std::fs::read(&s.file).expect("read");
        std::fs::write(&s.file, &bytes[..bytes.len() - 3]).expect("truncate");
        let e = read(&s, 0..=9).expect_err("truncated");
        assert!(
            e.to_string().contains("corrupt") || e.to_string().contains("cannot read"),
            "{e}"
        );
        std::fs::write(&s.file, b"hello, this is not a state file at all").expect("foreign");
        let e = read(&s, 0..=9).expect_err("foreign");
        assert!(e.to_string().contains("not a Weir state file"), "{e}");
        let empty = written(tmp.path(), &[]);
        assert!(empty.chunks.is_empty());
        assert_eq!(
            read(&empty, 0..=9).expect("empty"),
            Vec::<StateEntry>::new()
        );
    }
}
