//! A real S3-compatible server for the tests: `moto_server` (PyPI, which
//! `scripts/setup-test-deps` installs), started on a free port with one
//! bucket, and killed when dropped. Objects are listed with the
//! `object_store` crate's own S3 client, independently of Weir's code.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test server has.
pub const BUCKET: &str = "weir-test";

/// Where `scripts/setup-test-deps` puts the server (or `WEIR_MOTO_SERVER`).
fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    super::tool_cache().join("venv-moto/bin/moto_server")
}

/// A running moto server with bucket [`BUCKET`].
pub struct Moto {
    child: Child,
    log: tempfile::NamedTempFile,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    client: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = server_binary();
        assert!(
            bin.is_file(),
            "{} is missing: run scripts/setup-test-deps (or set WEIR_MOTO_SERVER)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_bucket_name(BUCKET)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .with_allow_http(true)
            .build()
            .expect("client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let moto = Moto {
            child,
            log,
            endpoint,
            client,
            rt,
        };
        moto.create_bucket();
        moto
    }

    fn create_bucket(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match ureq::put(format!("{}/{BUCKET}", self.endpoint)).send_empty() {
                Ok(_) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("moto_server did not come up: {e}"),
            }
        }
    }

    /// The environment Weir's processes read S3's configuration from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// Every object under `prefix`: key and size, sorted by key.
    pub fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        use futures_util::TryStreamExt;
        let key = Key::from(prefix);
        let mut v: Vec<(String, u64)> = self
            .rt
            .block_on(self.client.list(Some(&key)).try_collect::<Vec<_>>())
            .expect("list")
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        v.sort();
        v
    }

    /// An object's bytes.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let key = Key::from(key);
        self.rt
            .block_on(async {
                let r = self.client.get(&key).await?;
                r.bytes().await
            })
            .expect("get")
            .to_vec()
    }

    /// The requests the server answered with 200, as `METHOD /path` (from
    /// its access log).
    pub fn requests(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once('"')?;
                let (request, status) = rest.split_once('"')?;
                status.trim_start().starts_with("200").then_some(())?;
                let request: String = request.chars().filter(|c| !c.is_control()).collect();
                let mut parts = request.split(' ');
                let method = parts.next()?;
                let path = parts.next()?;
                Some(format!("{method} {path}"))
            })
            .collect()
    }

    /// Whether some complete checkpoint (a `_metadata` object) is under
    /// `prefix`.
    pub fn has_checkpoint(&self, prefix: &str) -> bool {
        self.list(prefix)
            .iter()
            .any(|(k, _)| k.ends_with("/_metadata"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
