//! `weir bench`: placeholder replaced below.
use anyhow::Result;
use clap::Subcommand;

/// Which benchmark.
#[derive(Subcommand)]
pub enum Which {
    /// WordCount.
    Wordcount,
}

/// Runs a benchmark.
pub fn run(_w: Which) -> Result<()> {
    anyhow::bail!("not yet")
}
