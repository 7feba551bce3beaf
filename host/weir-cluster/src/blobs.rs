//! A content-addressed store of blobs (application bundles and
//! components), named by their sha256: a local directory, and optionally a
//! durable copy on object storage that the local one caches.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use weir_checkpoint::location;

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A directory of blobs, each stored once under its digest.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    remote: Option<PathBuf>,
}

fn remote_io(e: weir_checkpoint::CheckpointError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Blobs {
    /// The store in `dir` (created if missing), with its durable copy under
    /// `remote` (an `s3://` prefix, checked to be reachable) when given.
    pub fn open(dir: &Path, remote: Option<PathBuf>) -> std::io::Result<Blobs> {
        std::fs::create_dir_all(dir)?;
        if let Some(r) = &remote {
            weir_checkpoint::check_location(r).map_err(remote_io)?;
        }
        Ok(Blobs {
            dir: dir.to_owned(),
            remote,
        })
    }

    fn path_of(&self, digest: &str) -> Option<PathBuf> {
        (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join(digest))
    }

    /// Stores `bytes` (a no-op when present); its digest.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let digest = sha256_hex(bytes);
        let path = self.dir.join(&digest);
        if let Some(r) = &self.remote {
            let at = r.join(&digest);
            if !location::is_file(&at).map_err(remote_io)? {
                location::write(&at, bytes).map_err(remote_io)?;
            }
        }
        if !path.exists() {
            self.cache(&digest, bytes)?;
        }
        Ok(digest)
    }

    fn cache(&self, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{digest}.{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.dir.join(digest))
    }

    /// The durable copy of a blob absent here, cached once read.
    fn fetch(&self, digest: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(r) = &self.remote else {
            return Ok(None);
        };
        let at = r.join(digest);
        if !location::is_file(&at).map_err(remote_io)? {
            return Ok(None);
        }
        let b = location::read(&at).map_err(remote_io)?;
        if sha256_hex(&b) != digest {
            return Err(std::io::Error::other(format!(
                "{} does not match its digest",
                at.display()
            )));
        }
        self.cache(digest, &b)?;
        Ok(Some(b))
    }

    /// The blob with `digest`, checked against it; `None` when absent.
    pub fn get(&self, digest: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path_of(digest) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(b) if sha256_hex(&b) == digest => Ok(Some(b)),
            Ok(_) => {
                // A damaged copy is worth nothing: fetch it again.
                let _ = std::fs::remove_file(&path);
                self.fetch(digest)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.fetch(digest),
            Err(e) => Err(e),
        }
    }

    /// Whether the blob is stored (here or in its durable copy).
    pub fn has(&self, digest: &str) -> bool {
        let Some(path) = self.path_of(digest) else {
            return false;
        };
        path.is_file()
            || self
                .remote
                .as_ref()
                .is_some_and(|r| location::is_file(&r.join(digest)).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_once_by_digest_and_checked_when_read() {
        let tmp = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::open(tmp.path(), None).expect("open");
        let d = blobs.put(b"hello").expect("put");
        assert_eq!(
            d,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(blobs.put(b"hello").expect("again"), d);
        assert_eq!(blobs.get(&d).expect("get").as_deref(), Some(&b"hello"[..]));
        std::fs::write(tmp.path().join(&d), b"jello").expect("damage");
        assert_eq!(
            blobs.get(&d).expect("get"),
            None,
            "a damaged blob is dropped"
        );
        assert_eq!(blobs.get("../etc/passwd").expect("get"), None);
    }
}
