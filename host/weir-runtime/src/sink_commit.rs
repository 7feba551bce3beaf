//! Committing what a sink's snapshot holds: part files (renamed into
//! place) and Kafka transactions (see `weir_kafka::commit_transactions`).
//! Every commit is idempotent, so the job's end, the sub-task's own commit
//! and a restored job may each try.

use std::path::Path;
use weir_checkpoint::SinkState;
use weir_connectors::ConnectorError;

/// Commits the output `k` covers.
pub(crate) fn commit_sink(k: &SinkState) -> Result<(), ConnectorError> {
    if !k.pending.is_empty() {
        weir_connectors::commit(Path::new(&k.dir), &k.pending)?;
    }
    if let Some(t) = &k.kafka {
        weir_kafka::commit_transactions(t)?;
    }
    Ok(())
}
