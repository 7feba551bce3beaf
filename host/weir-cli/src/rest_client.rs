//! A small client of the coordinator's REST API (Flink's shapes).

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The coordinator's REST base URL: `--coordinator`, else
/// `$WEIR_COORDINATOR`, else `http://127.0.0.1:8081` (`https` when
/// `$WEIR_TLS_CA` is set: the cluster uses TLS).
pub fn base_url(given: Option<&str>) -> String {
    let scheme = if std::env::var_os("WEIR_TLS_CA").is_some() {
        "https"
    } else {
        "http"
    };
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("WEIR_COORDINATOR").ok())
        .unwrap_or_else(|| format!("{scheme}://127.0.0.1:8081"))
        .trim_end_matches('/')
        .to_owned()
}

/// A REST client of one coordinator.
pub struct Rest {
    base: String,
    agent: ureq::Agent,
    /// `Authorization` header value, from `$WEIR_AUTH_TOKEN_FILE`.
    auth: Option<String>,
}

/// The token in `$WEIR_AUTH_TOKEN_FILE`, if set and readable.
fn token_from_env() -> Option<String> {
    let path = std::env::var_os("WEIR_AUTH_TOKEN_FILE")?;
    match std::fs::read_to_string(&path) {
        Ok(t) => Some(t.trim().to_owned()),
        Err(e) => {
            eprintln!(
                "warning: cannot read WEIR_AUTH_TOKEN_FILE {}: {e}",
                std::path::Path::new(&path).display()
            );
            None
        }
    }
}

/// rustls with aws-lc-rs, trusting `$WEIR_TLS_CA` when set.
fn tls_config() -> ureq::tls::TlsConfig {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider);
    let Some(path) = std::env::var_os("WEIR_TLS_CA") else {
        return builder.root_certs(RootCerts::WebPki).build();
    };
    let certs: Vec<Certificate<'static>> = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|pem| {
            ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c.to_owned())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e.to_string())),
                })
                .collect()
        })
        .unwrap_or_else(|e| {
            eprintln!(
                "warning: cannot read WEIR_TLS_CA {}: {e}",
                std::path::Path::new(&path).display()
            );
            Vec::new()
        });
    builder
        .root_certs(RootCerts::Specific(std::sync::Arc::new(certs)))
        .build()
}

impl Rest {
    /// A client of the coordinator at `base`; over `https` it trusts the
    /// CA certificates in `$WEIR_TLS_CA` (else the web's root CAs).
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .tls_config(tls_config())
            .build()
            .new_agent();
        Rest {
            base: base.to_owned(),
            agent,
            auth: token_from_env().map(|t| format!("Bearer {t}")),
        }
    }

    /// Uses the token in `path` instead of `$WEIR_AUTH_TOKEN_FILE`'s.
    pub fn with_token_file(mut self, path: Option<&std::path::Path>) -> Result<Self> {
        if let Some(p) = path {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("reading the token file {}", p.display()))?;
            self.auth = Some(format!("Bearer {}", t.trim()));
        }
        Ok(self)
    }

    /// A request with the token, if there is one.
    fn with_auth<B>(&self, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        }
    }

    fn answer(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut r =
            r.with_context(|| format!("{what}: cannot reach the coordinator at {}", self.base))?;
        let status = r.status();
        let text = r
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .with_context(|| format!("{what}: reading the answer"))?;
        let v: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{what}: not JSON: {text}"))?
        };
        if !status.is_success() {
            let errors = v["errors"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or(text);
            bail!("{what}: {status}: {errors}");
        }
        Ok(v)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value> {
        let r = self
            .with_auth(self.agent.get(format!("{}{path}", self.base)))
            .call();
        self.answer(&format!("GET {path}"), r)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .with_auth(self.agent.post(format!("{}{path}", self.base)))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes());
        self.answer(&format!("POST {path}"), r)
    }

    /// `POST path` with raw bytes.
    pub fn post_bytes(&self, path: &str, bytes: &[u8]) -> Result<Value> {
        let r = self
            .with_auth(self.agent.post(format!("{}{path}", self.base)))
            .header("Content-Type", "application/octet-stream")
            .send(bytes);
        self.answer(&format!("POST {path}"), r)
    }

    /// `PATCH path`.
    pub fn patch(&self, path: &str) -> Result<Value> {
        let r = self
            .with_auth(self.agent.patch(format!("{}{path}", self.base)))
            .send_empty();
        self.answer(&format!("PATCH {path}"), r)
    }

    /// `POST path` with a file in multipart field `field`.
    pub fn upload(&self, path: &str, field: &str, name: &str, bytes: &[u8]) -> Result<Value> {
        let boundary = format!("weir-{}", weir_cluster::ids::random_id());
        let mut body = Vec::with_capacity(bytes.len() + 256);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/zip\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = self
            .with_auth(self.agent.post(format!("{}{path}", self.base)))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..]);
        self.answer(&format!("POST {path}"), r)
    }
}
