//! Where checkpoints live: a local directory or a prefix on object storage
//! (`s3://bucket/prefix`). Both travel through the job as paths; the few
//! file operations checkpoints need are here, and each picks the local file
//! system or the object store from the path.
//!
//! Object storage is reached through the `object_store` crate and
//! configured the standard way: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` (and `AWS_ALLOW_HTTP=true` for a
//! local test server). A PUT is atomic: an object is there whole or not at
//! all, which is what `_metadata` written last needs.

use crate::error::{CheckpointError, io};
use crate::files::write_file_durably;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

const SCHEME: &str = "s3://";

/// Whether `path` names a location on object storage.
pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with(SCHEME))
}

/// `path` made absolute against the working directory; an object-store
/// URL as it is.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if is_remote(path) {
        Ok(path.to_owned())
    } else {
        std::path::absolute(path)
    }
}

/// One object (or prefix) of a bucket.
struct Object {
    store: Arc<dyn ObjectStore>,
    key: Key,
}

/// One entry under a location: its name and whether it is a directory
/// (a prefix, on object storage).
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) dir: bool,
}

/// Clients by bucket, built once each: a client keeps its connections.
static CLIENTS: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The runtime object-store calls run on, so that callers on plain threads
/// (sub-tasks, the checkpoint coordinator) and in async code alike can wait
/// for them.
static RUNTIME: LazyLock<Result<tokio::runtime::Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weir-object-store")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
});

fn remote_error(path: &Path, message: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Remote {
        location: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Runs `f` on the object-store runtime and waits for it; the store's
/// own error stays as it is, for callers that look at its kind.
fn block_raw<T: Send + 'static>(
    path: &Path,
    f: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
) -> Result<Result<T, object_store::Error>, CheckpointError> {
    let rt = RUNTIME.as_ref().map_err(|e| remote_error(path, e))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv()
        .map_err(|_| remote_error(path, "the object-store call was dropped"))
}

/// Runs `f` on the object-store runtime and waits for it.
fn block<T: Send + 'static>(
    path: &Path,
    f: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
) -> Result<T, CheckpointError> {
    block_raw(path, f)?.map_err(|e| remote_error(path, describe(&e)))
}

/// An object-store error with its causes (the top one alone often just
/// says "Generic S3 error").
fn describe(e: &object_store::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

fn client(path: &Path, bucket: &str) -> Result<Arc<dyn ObjectStore>, CheckpointError> {
    let mut clients = CLIENTS
        .lock()
        .map_err(|_| remote_error(path, "client cache poisoned"))?;
    if let Some(c) = clients.get(bucket) {
        return Ok(c.clone());
    }
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    // Retries ride out a store's hiccups, but a wrong endpoint must fail
    // a job within seconds, not the default three minutes.
    let retry = object_store::RetryConfig {
        retry_timeout: std::time::Duration::from_secs(20),
        ..Default::default()
    };
    let builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_config(
            AmazonS3ConfigKey::Client(object_store::ClientConfigKey::ConnectTimeout),
            "5s",
        );
    let store: Arc<dyn ObjectStore> = Arc::new(
        builder
            .build()
            .map_err(|e| remote_error(path, describe(&e)))?,
    );
    clients.insert(bucket.to_owned(), store.clone());
    Ok(store)
}

/// Refuses a URL of a store Weir does not speak (`gs://`, `file://`...),
/// which would otherwise become a relative local path.
fn check_scheme(path: &Path) -> Result<(), CheckpointError> {
    match path.to_str().and_then(|s| s.split_once("://")) {
        Some((scheme, _)) if scheme != "s3" => Err(remote_error(
            path,
            format!("'{scheme}://' is not supported: a directory or s3://bucket/prefix"),
        )),
        _ => Ok(()),
    }
}

/// The bucket and key `path` names, when it is remote.
fn object(path: &Path) -> Result<Option<Object>, CheckpointError> {
    let Some(rest) = path.to_str().and_then(|s| s.strip_prefix(SCHEME)) else {
        check_scheme(path)?;
        return Ok(None);
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(remote_error(path, "no bucket named (s3://bucket/prefix)"));
    }
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(remote_error(path, "'.' and '..' are not allowed in a key"));
    }
    let key = Key::parse(parts.join("/")).map_err(|e| remote_error(path, e))?;
    Ok(Some(Object {
        store: client(path, bucket)?,
        key,
    }))
}

/// Whether a file (an object) exists at `path`.
pub fn is_file(path: &Path) -> Result<bool, CheckpointError> {
    let Some(o) = object(path)? else {
        return Ok(path.is_file());
    };
    match block_raw(path, async move { o.store.head(&o.key).await })? {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(remote_error(path, describe(&e))),
    }
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let Some(o) = object(path)? else {
        return std::fs::read(path).map_err(io("cannot read", path));
    };
    block(path, async move {
        let got = o.store.get(&o.key).await?;
        got.bytes().await
    })
    .map(|b| b.to_vec())
}

/// Reads byte ranges of one file, local or in object storage (a ranged
/// GET each), without reading the rest of it.
pub(crate) struct RangeReader {
    path: PathBuf,
    source: RangeSource,
}

enum RangeSource {
    Local(std::fs::File),
    Remote(Object),
}

impl RangeReader {
    /// Opens `path` for ranged reads.
    pub(crate) fn open(path: &Path) -> Result<Self, CheckpointError> {
        let source = match object(path)? {
            Some(o) => RangeSource::Remote(o),
            None => RangeSource::Local(std::fs::File::open(path).map_err(io("cannot read", path))?),
        };
        Ok(RangeReader {
            path: path.to_owned(),
            source,
        })
    }

    /// The `len` bytes at `offset`.
    pub(crate) fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, CheckpointError> {
        let path = &self.path;
        match &mut self.source {
            RangeSource::Local(f) => {
                use std::io::{Read, Seek, SeekFrom};
                let n = usize::try_from(len).map_err(|_| CheckpointError::Corrupt {
                    path: path.clone(),
                    message: format!("a {len}-byte range"),
                })?;
                let mut buf = vec![0; n];
                match f
                    .seek(SeekFrom::Start(offset))
                    .and_then(|_| f.read_exact(&mut buf))
                {
                    Ok(()) => Ok(buf),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        Err(CheckpointError::Corrupt {
                            path: path.clone(),
                            message: format!(
                                "truncated: the file ends before byte {}",
                                offset + len
                            ),
                        })
                    }
                    Err(e) => Err(io("cannot read", path)(e)),
                }
            }
            RangeSource::Remote(o) => {
                let (store, key) = (Arc::clone(&o.store), o.key.clone());
                let end = offset.saturating_add(len);
                block(
                    path,
                    async move { store.get_range(&key, offset..end).await },
                )
                .map(|b| b.to_vec())
            }
        }
    }
}

/// Writes a whole file durably (fsynced locally; one PUT remotely).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let Some(o) = object(path)? else {
        return write_file_durably(path, bytes);
    };
    let payload = PutPayload::from(bytes.to_vec());
    block(path, async move { o.store.put(&o.key, payload).await }).map(|_| ())
}

/// Writes a file so that readers see the old state or the whole new file:
/// locally through a temporary file, fsync and rename; remotely one PUT,
/// which is atomic.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    if is_remote(path) {
        return write(path, bytes);
    }
    let Some(dir) = path.parent() else {
        return write_file_durably(path, bytes);
    };
    let tmp = path.with_extension("tmp");
    write_file_durably(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(io("cannot rename", &tmp))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Copies a local file to `to`: a hard link where the local file system
/// allows, an upload to object storage. Returns the file's size.
pub fn copy_file(from: &Path, to: &Path) -> Result<u64, CheckpointError> {
    let Some(o) = object(to)? else {
        if std::fs::hard_link(from, to).is_err() {
            std::fs::copy(from, to).map_err(io("cannot copy", from))?;
        }
        return std::fs::metadata(to)
            .map(|m| m.len())
            .map_err(io("cannot read", to));
    };
    let len = std::fs::metadata(from)
        .map_err(io("cannot read", from))?
        .len();
    if len > single_put_limit() {
        let file = std::fs::File::open(from).map_err(io("cannot read", from))?;
        block(to, upload_in_parts(o, file))?;
        return Ok(len);
    }
    let bytes = std::fs::read(from).map_err(io("cannot read", from))?;
    let payload = PutPayload::from(bytes);
    block(to, async move { o.store.put(&o.key, payload).await })?;
    Ok(len)
}

/// Files up to this size go in one PUT; larger ones in parts, read a part
/// at a time (S3 takes at most 5 GB in one PUT): 32 MiB, or
/// `$WEIR_S3_MULTIPART_BYTES`.
fn single_put_limit() -> u64 {
    static LIMIT: LazyLock<u64> = LazyLock::new(|| {
        std::env::var("WEIR_S3_MULTIPART_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32 << 20)
    });
    *LIMIT
}

/// A multipart upload of `file`, a few parts in flight at a time.
async fn upload_in_parts(o: Object, mut file: std::fs::File) -> Result<(), object_store::Error> {
    use std::io::Read;
    let local = |e: std::io::Error| object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    };
    let upload = o.store.put_multipart(&o.key).await?;
    let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, 8 << 20);
    let mut buf = vec![0u8; 8 << 20];
    loop {
        let n = file.read(&mut buf).map_err(local)?;
        if n == 0 {
            break;
        }
        w.wait_for_capacity(4).await?;
        w.write(&buf[..n]);
    }
    w.finish().await.map(|_| ())
}

/// Downloads (or copies) `from` to the local file `to`.
pub(crate) fn fetch_file(from: &Path, to: &Path) -> Result<(), CheckpointError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    }
    // Through a temporary name: a download cut short (a full disk) must
    // not be mistaken for the file later.
    let bytes = read(from)?;
    let tmp = to.with_extension("part");
    if let Err(e) = write_file_durably(&tmp, &bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, to).map_err(io("cannot rename", &tmp))
}

/// Makes a directory (and its parents); object storage has none to make.
pub fn create_dir_all(path: &Path) -> Result<(), CheckpointError> {
    if is_remote(path) {
        return Ok(());
    }
    check_scheme(path)?;
    std::fs::create_dir_all(path).map_err(io("cannot create", path))
}

/// Removes a directory and everything under it (every object under the
/// prefix); a location that does not exist is no error.
pub fn remove_all(path: &Path) -> Result<(), CheckpointError> {
    let Some(o) = object(path)? else {
        return match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("cannot remove", path)(e)),
            _ => Ok(()),
        };
    };
    let keys = block(path, {
        let (store, key) = (o.store.clone(), o.key.clone());
        async move {
            use futures_util::TryStreamExt;
            let listed: Vec<_> = store.list(Some(&key)).try_collect().await?;
            Ok(listed.into_iter().map(|m| m.location).collect::<Vec<_>>())
        }
    })?;
    for k in keys {
        let store = o.store.clone();
        block(path, async move { store.delete(&k).await })?;
    }
    Ok(())
}

/// Removes one file; one that does not exist is no error.
pub(crate) fn remove_file(path: &Path) -> Result<(), CheckpointError> {
    let Some(o) = object(path)? else {
        let _ = std::fs::remove_file(path);
        return Ok(());
    };
    block(path, async move { o.store.delete(&o.key).await })
}

/// The entries directly under `path` (none when it does not exist).
pub(crate) fn list(path: &Path) -> Result<Vec<Entry>, CheckpointError> {
    let Some(o) = object(path)? else {
        let Ok(rd) = std::fs::read_dir(path) else {
            return Ok(Vec::new());
        };
        return Ok(rd
            .filter_map(Result::ok)
            .map(|e| Entry {
                name: e.file_name().to_string_lossy().into_owned(),
                dir: e.file_type().is_ok_and(|t| t.is_dir()),
                path: e.path(),
            })
            .collect());
    };
    let prefix = (o.key.parts_count() > 0).then(|| o.key.clone());
    let listed = block(path, async move {
        o.store.list_with_delimiter(prefix.as_ref()).await
    })?;
    let name = |k: &Key| k.filename().unwrap_or_default().to_owned();
    let dirs = listed.common_prefixes.iter().map(|k| (name(k), true));
    let files = listed.objects.iter().map(|m| (name(&m.location), false));
    Ok(dirs
        .chain(files)
        .map(|(name, dir)| Entry {
            path: path.join(&name),
            name,
            dir,
        })
        .collect())
}

/// Checks that a location can be used: a local directory is created; on
/// object storage the bucket is listed, so that a wrong endpoint, bucket or
/// credentials fail the job at its start with the store's own words.
pub fn check_location(path: &Path) -> Result<(), CheckpointError> {
    if is_remote(path) {
        list(path).map(|_| ())
    } else {
        create_dir_all(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_name_a_bucket_and_a_clean_key() {
        assert!(is_remote(Path::new("s3://b/p")));
        assert!(!is_remote(Path::new("/tmp/s3://b")));
        let o = object(Path::new("s3://bucket//a/b/"))
            .expect("ok")
            .expect("remote");
        assert_eq!(o.key.as_ref(), "a/b");
        let joined = Path::new("s3://bucket/a").join("chk-00000001");
        let o = object(&joined).expect("ok").expect("remote");
        assert_eq!(o.key.as_ref(), "a/chk-00000001");
        for bad in [
            "s3://",
            "s3:///x",
            "s3://b/a/../c",
            "gs://b/x",
            "file:///tmp/x",
        ] {
            assert!(object(Path::new(bad)).is_err(), "{bad}");
        }
        assert!(object(Path::new("/local/dir")).expect("ok").is_none());
    }
}
