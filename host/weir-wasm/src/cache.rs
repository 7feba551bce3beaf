//! The compiled-component cache on disk: wasmtime's precompiled artifacts,
//! keyed by the component's content hash and the engine's settings, so a
//! second run of a job (or a restarted worker) loads its components in
//! milliseconds instead of compiling them again.
//!
//! Each entry is one file, written to a temporary name and renamed into
//! place, with a checksum of its contents; a damaged or stale entry is
//! recompiled and replaced. The directory is kept under a size bound by
//! removing the least recently used entries.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"WEIRCWA1";
const HEADER: usize = MAGIC.len() + 16;

/// Where compiled components are kept, and how much room they may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The directory (created when missing).
    pub dir: PathBuf,
    /// Bytes the directory may hold before old entries are removed.
    pub max_bytes: u64,
}

impl CacheConfig {
    /// The cache the environment asks for: `$WEIR_CACHE_DIR` (`off` turns
    /// it off), else `$XDG_CACHE_HOME/weir/components`, else
    /// `~/.cache/weir/components`; `$WEIR_CACHE_MAX_MB` bounds its size
    /// (default 2048).
    pub fn from_env() -> Option<CacheConfig> {
        let dir = match std::env::var_os("WEIR_CACHE_DIR") {
            Some(d) if d == "off" || d.is_empty() => return None,
            Some(d) => PathBuf::from(d),
            None => match (std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")) {
                (Some(x), _) if !x.is_empty() => PathBuf::from(x).join("weir/components"),
                (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".cache/weir/components"),
                _ => return None,
            },
        };
        let max_mb = std::env::var("WEIR_CACHE_MAX_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(2048);
        Some(CacheConfig {
            dir,
            max_bytes: max_mb << 20,
        })
    }
}

/// The cache of one engine.
pub(crate) struct DiskCache {
    config: CacheConfig,
    /// Hash of the engine's settings that decide artifact compatibility.
    engine: u64,
}

fn checksum(bytes: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(bytes).to_le_bytes()
}

impl DiskCache {
    pub(crate) fn new(config: CacheConfig, engine: &Engine) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        DiskCache {
            config,
            engine: h.finish(),
        }
    }

    fn path(&self, content: u128) -> PathBuf {
        self.config
            .dir
            .join(format!("{content:032x}-{:016x}.cwasm", self.engine))
    }

    /// The cached compilation of the component whose content hashes to
    /// `content`, if there is a sound one.
    pub(crate) fn get(&self, engine: &Engine, content: u128) -> Option<Component> {
        let path = self.path(content);
        let bytes = std::fs::read(&path).ok()?;
        if bytes.len() < HEADER
            || &bytes[..MAGIC.len()] != MAGIC
            || bytes[MAGIC.len()..HEADER] != checksum(&bytes[HEADER..])
        {
            tracing::warn!("ignoring the damaged cache entry {}", path.display());
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: `deserialize` runs the native code in the artifact, so
        // the bytes must be wasmtime's own output for a compatible engine.
        // They are: this cache writes only `Component::serialize` results,
        // into a directory of the user running Weir, under a name that
        // includes the engine's compatibility hash, and the checksum above
        // rejects truncated or damaged files. Wasmtime checks the
        // artifact's version and settings again itself.
        #[allow(unsafe_code)]
        let c = unsafe { Component::deserialize(engine, &bytes[HEADER..]) };
        match c {
            Ok(c) => {
                // Recently used entries are kept longest.
                if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Some(c)
            }
            Err(e) => {
                tracing::debug!("cache entry {} is unusable: {e:#}", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component; a failure only costs a later compile.
    pub(crate) fn put(&self, content: u128, component: &Component) {
        if let Err(e) = self.try_put(content, component) {
            tracing::warn!(
                "cannot cache a compiled component in {}: {e}",
                self.config.dir.display()
            );
        }
        self.evict();
    }

    fn try_put(&self, content: u128, component: &Component) -> std::io::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        std::fs::create_dir_all(&self.config.dir)?;
        let path = self.path(content);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.config.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&checksum(&bytes))?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_data()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the least recently used entries while the directory holds
    /// more than its bound.
    fn evict(&self) {
        let Ok(dir) = std::fs::read_dir(&self.config.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = dir
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.config.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    /// The cache's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.config.dir
    }
}
