//! A shared secret between the coordinator, its workers and the people who
//! change things: with a token configured, every REST call that changes
//! something (and, if asked, every read) needs `Authorization: Bearer
//! <token>`, and every gRPC call between the processes carries it.

use crate::ClusterError;
use std::path::Path;
use std::sync::Arc;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The token, read from a file (surrounding whitespace ignored).
#[derive(Clone)]
pub struct AuthToken(Arc<str>);

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(..)")
    }
}

impl AuthToken {
    /// Reads the token in `path`; an empty file or one that is not a
    /// header-safe line is refused.
    pub fn from_file(path: &Path) -> Result<Self, ClusterError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClusterError::Config(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        Self::new(text.trim())
            .map_err(|why| ClusterError::Config(format!("{}: {why}", path.display())))
    }

    /// A token from its text.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.is_empty() {
            return Err("the token is empty".into());
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be printable ASCII without spaces".into());
        }
        Ok(AuthToken(token.into()))
    }

    /// Whether an `Authorization` header value presents this token (a
    /// comparison whose time does not depend on where they differ).
    pub fn accepts(&self, header: Option<&str>) -> bool {
        let Some(presented) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let (a, b) = (presented.as_bytes(), self.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn header(&self) -> Option<MetadataValue<Ascii>> {
        format!("Bearer {}", self.0).parse().ok()
    }
}

/// Adds the token to every outgoing call (nothing without one).
#[derive(Clone, Default)]
pub(crate) struct Attach(Option<MetadataValue<Ascii>>);

impl Attach {
    pub(crate) fn new(token: Option<&AuthToken>) -> Self {
        Attach(token.and_then(AuthToken::header))
    }
}

impl Interceptor for Attach {
    fn call(&mut self, mut r: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            r.metadata_mut().insert("authorization", v.clone());
        }
        Ok(r)
    }
}

/// Refuses incoming calls without the token (lets all through without
/// one).
#[derive(Clone, Default)]
pub(crate) struct Check(Option<AuthToken>);

impl Check {
    pub(crate) fn new(token: Option<&AuthToken>) -> Self {
        Check(token.cloned())
    }
}

impl Interceptor for Check {
    fn call(&mut self, r: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.0 else {
            return Ok(r);
        };
        let presented = r
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if token.accepts(presented) {
            Ok(r)
        } else {
            Err(Status::unauthenticated(
                "this cluster needs its auth token (authorization: Bearer <token>)",
            ))
        }
    }
}

/// A gRPC channel whose calls carry the token.
pub(crate) type Authed =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Attach>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let t = AuthToken::new("s3cret-token").expect("token");
        assert!(t.accepts(Some("Bearer s3cret-token")));
        for bad in [
            None,
            Some("s3cret-token"),
            Some("Bearer s3cret-tokem"),
            Some("Bearer s3cret"),
            Some("Bearer s3cret-token2"),
            Some("bearer s3cret-token"),
        ] {
            assert!(!t.accepts(bad), "{bad:?}");
        }
        assert!(AuthToken::new("").is_err());
        assert!(AuthToken::new("two words").is_err());
    }

    #[test]
    fn the_check_refuses_calls_without_the_token_and_the_attach_adds_it() {
        let t = AuthToken::new("abc").expect("token");
        let mut check = Check::new(Some(&t));
        let denied = check.call(Request::new(())).expect_err("no token");
        assert_eq!(denied.code(), tonic::Code::Unauthenticated);
        let mut attach = Attach::new(Some(&t));
        let r = attach.call(Request::new(())).expect("attached");
        assert!(check.call(r).is_ok());
        assert!(
            Check::new(None).call(Request::new(())).is_ok(),
            "no token configured"
        );
    }
}
