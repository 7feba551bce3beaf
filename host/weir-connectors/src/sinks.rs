//! Sinks: standard output, and a discarding sink. (Part files:
//! `file_sink`.)

use crate::{ConnectorError, SinkWriter};
use std::io::Write;
use weir_core::Batch;

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
