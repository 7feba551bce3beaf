//! A content-addressed store of blobs (application bundles), named by
//! their sha256.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A directory of blobs, each stored once under its digest.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// The store in `dir` (created if missing).
    pub fn open(dir: &Path) -> std::io::Result<Blobs> {
        std::fs::create_dir_all(dir)?;
        Ok(Blobs {
            dir: dir.to_owned(),
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
        if !path.exists() {
            let tmp = self.dir.join(format!(".{digest}.{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(digest)
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
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the blob is stored.
    pub fn has(&self, digest: &str) -> bool {
        self.path_of(digest).is_some_and(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_stored_once_by_digest_and_checked_when_read() {
        let tmp = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::open(tmp.path()).expect("open");
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
