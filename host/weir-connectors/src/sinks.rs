//! Sinks: part files, standard output, and a discarding sink.

use crate::{ConnectorError, SinkWriter};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use weir_core::Batch;
use weir_core::spec::RecordFormat;

fn part_name(subtask: u32, format: RecordFormat) -> String {
    match format {
        RecordFormat::Text => format!("part-{subtask}.txt"),
        RecordFormat::Json => format!("part-{subtask}.jsonl"),
    }
}

/// Creates the output directory and removes part files of an earlier run,
/// so that a run at lower parallelism leaves no stale parts behind. Called
/// once per job before the writers start.
pub fn prepare_output_dir(dir: &Path) -> Result<(), ConnectorError> {
    let err = |action| {
        let path = dir.display().to_string();
        move |source| ConnectorError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(err("cannot create"))?;
    for entry in std::fs::read_dir(dir)
        .map_err(err("cannot list"))?
        .flatten()
    {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") && (name.ends_with(".txt") || name.ends_with(".jsonl")) {
            std::fs::remove_file(entry.path()).map_err(err("cannot remove old part file in"))?;
        }
    }
    Ok(())
}

/// Writes values, one per line, to `part-<subtask>` in a directory.
pub struct FileSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl FileSink {
    /// Opens the part file of `subtask` in `dir` (see [`prepare_output_dir`]).
    pub fn new(dir: &Path, subtask: u32, format: RecordFormat) -> Result<Self, ConnectorError> {
        let path = dir.join(part_name(subtask, format));
        let file = File::create(&path).map_err(|source| ConnectorError::Io {
            action: "cannot create",
            path: path.display().to_string(),
            source,
        })?;
        Ok(FileSink {
            path,
            out: BufWriter::with_capacity(256 * 1024, file),
        })
    }

    /// An I/O error naming the file, rendered only on failure.
    fn io(&self) -> impl FnOnce(std::io::Error) -> ConnectorError + '_ {
        move |source| ConnectorError::Io {
            action: "cannot write",
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl SinkWriter for FileSink {
    fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        for r in batch.iter() {
            let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
            self.out.write_all(r.value).map_err(self.io())?;
            self.out.write_all(b"\n").map_err(self.io())?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        self.out.flush().map_err(self.io())?;
        self.out.get_ref().sync_all().map_err(self.io())
    }
}

/// Prints values to standard output, prefixed with `<subtask + 1>> ` when
/// the sink runs in parallel (as Flink's print sink).
pub struct PrintSink {
    prefix: Option<String>,
    buf: Vec<u8>,
}

impl PrintSink {
    /// The print sink of `subtask` of `parallelism`.
    pub fn new(subtask: u32, parallelism: u32) -> Self {
        PrintSink {
            prefix: (parallelism > 1).then(|| format!("{}> ", subtask + 1)),
            buf: Vec::new(),
        }
    }
}

impl SinkWriter for PrintSink {
    fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        self.buf.clear();
        for r in batch.iter() {
            let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
            if let Some(p) = &self.prefix {
                self.buf.extend_from_slice(p.as_bytes());
            }
            self.buf.extend_from_slice(r.value);
            self.buf.push(b'\n');
        }
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(&self.buf)
            .map_err(|source| ConnectorError::Io {
                action: "cannot write",
                path: "standard output".into(),
                source,
            })
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        std::io::stdout()
            .flush()
            .map_err(|source| ConnectorError::Io {
                action: "cannot write",
                path: "standard output".into(),
                source,
            })
    }
}

/// Drops records, keeping a checksum so the work cannot be optimised away.
#[derive(Default)]
pub struct DiscardSink {
    /// Sum of value lengths seen.
    pub bytes: u64,
}

impl SinkWriter for DiscardSink {
    fn write(&mut self, batch: &Batch) -> Result<(), ConnectorError> {
        for r in batch.iter() {
            let r = r.map_err(|e| ConnectorError::Corrupt(e.to_string()))?;
            self.bytes = self.bytes.wrapping_add(r.value.len() as u64);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}
