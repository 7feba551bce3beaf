//! TLS for the REST API and every gRPC connection (rustls): the
//! coordinator and the workers serve with a certificate and key, and
//! connect to each other trusting a CA (their own certificate when it is
//! self-signed). With a CA, gRPC is mutual: each side presents its
//! certificate and the servers accept only clients the CA signed, so a
//! process without the cluster's certificates cannot join even without a
//! token. REST clients (browsers, scripts) need no certificate. Without
//! TLS everything is plain HTTP/2 and HTTP/1.1.

use crate::ClusterError;
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// Where a process's TLS material is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain it serves (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// CA certificates it trusts when connecting to the others (PEM); none:
    /// the system's web roots.
    pub ca: Option<PathBuf>,
}

/// TLS material, read once at start.
#[derive(Debug, Clone)]
pub struct Tls {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Option<Vec<u8>>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ClusterError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ClusterError::Config(format!("TLS {what} {}: {e}", path.display())))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(ClusterError::Config(format!(
            "TLS {what} {} is not PEM",
            path.display()
        )));
    }
    Ok(bytes)
}

impl Tls {
    /// Reads and checks the files: each must be PEM, and the server
    /// configuration must accept the certificate and key together.
    pub fn load(files: &TlsFiles) -> Result<Tls, ClusterError> {
        let tls = Tls {
            cert: read(&files.cert, "certificate")?,
            key: read(&files.key, "key")?,
            ca: files.ca.as_deref().map(|p| read(p, "CA")).transpose()?,
        };
        tonic::transport::Server::builder()
            .tls_config(tls.server())
            .map_err(|e| ClusterError::Config(format!("TLS certificate and key: {e}")))?;
        Ok(tls)
    }

    /// The gRPC server's configuration: with a CA, clients must present a
    /// certificate it signed.
    pub fn server(&self) -> ServerTlsConfig {
        let s = ServerTlsConfig::new().identity(self.identity());
        match &self.ca {
            Some(ca) => s.client_ca_root(Certificate::from_pem(ca)),
            None => s,
        }
    }

    /// The gRPC clients' configuration: they present this process's
    /// certificate.
    pub fn client(&self) -> ClientTlsConfig {
        let c = ClientTlsConfig::new().identity(self.identity());
        match &self.ca {
            Some(ca) => c.ca_certificate(Certificate::from_pem(ca)),
            None => c.with_webpki_roots(),
        }
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }

    /// The REST server's configuration.
    pub async fn rest(&self) -> Result<axum_server::tls_rustls::RustlsConfig, ClusterError> {
        axum_server::tls_rustls::RustlsConfig::from_pem(self.cert.clone(), self.key.clone())
            .await
            .map_err(|e| ClusterError::Config(format!("TLS for REST: {e}")))
    }
}

/// The URL scheme with or without TLS.
pub fn scheme(tls: Option<&Tls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// A gRPC endpoint for `addr` (host:port), over TLS when configured.
pub(crate) fn endpoint(addr: &str, tls: Option<&Tls>) -> Result<Endpoint, String> {
    let e = Endpoint::from_shared(format!("{}://{addr}", scheme(tls)))
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    match tls {
        Some(t) => e
            .tls_config(t.client())
            .map_err(|e| format!("TLS for {addr}: {e}")),
        None => Ok(e),
    }
}
