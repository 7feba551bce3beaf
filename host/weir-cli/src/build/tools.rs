//! The tools cache of Python and JavaScript builds: pinned build tools
//! installed once, and the SDK files and WIT this binary ships, written out
//! where the tools can read them.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The WIT package this binary links, for guest builds.
pub const WIT: &str = include_str!("../../../../wit/weir.wit");

/// Where build tools live: `$WEIR_TOOLS_DIR`, else `$XDG_CACHE_HOME/weir-tools`,
/// else `~/.cache/weir-tools`.
pub fn cache_dir() -> Result<PathBuf> {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(d) = from_env("WEIR_TOOLS_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(x) = from_env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(x).join("weir-tools"));
    }
    match from_env("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".cache/weir-tools")),
        None => bail!("no tools cache directory: set WEIR_TOOLS_DIR (or HOME)"),
    }
}

/// Writes `files` (relative path, contents) under `root/<name>-<hash of the
/// contents>` unless already there; returns that directory. Content-named,
/// so a newer `weir` never builds against an older copy.
pub fn write_tree(root: &Path, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
    let mut all = Vec::new();
    for (path, text) in files {
        all.extend_from_slice(path.as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    let dir = root.join(format!("{name}-{:016x}", xxhash_rust::xxh3::xxh3_64(&all)));
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    let staging = root.join(format!("{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    for (path, text) in files {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    std::fs::write(staging.join(".complete"), b"")?;
    if std::fs::rename(&staging, &dir).is_err() {
        // Another build wrote it first.
        let _ = std::fs::remove_dir_all(&staging);
    }
    if !dir.join(".complete").is_file() {
        bail!("could not write {}", dir.display());
    }
    Ok(dir)
}

/// Runs `cmd`, failing with `what` and the command's own output when it fails.
pub fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
