//! librdkafka client settings and errors.

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_connectors::ConnectorError;
use weir_core::ErrorDomain;

/// How long a metadata or offset request may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings every client gets, then the user's own.
pub(crate) fn config(
    bootstrap: &str,
    own: &[(&str, &str)],
    user: impl IntoIterator<Item = (String, String)>,
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c.set("client.id", "weir");
    for (k, v) in own {
        c.set(*k, *v);
    }
    for (k, v) in user {
        c.set(k, v);
    }
    c
}

/// The user's settings as pairs.
pub(crate) fn pairs(p: &BTreeMap<String, String>) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A client error with what was being done: settings librdkafka refuses
/// are the user's fault, everything else is the broker's or the network's
/// (worth a restart).
pub(crate) fn kafka_error(what: &str, e: KafkaError) -> ConnectorError {
    let domain = match &e {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => ErrorDomain::User,
        _ => ErrorDomain::External,
    };
    ConnectorError::Service {
        domain,
        message: format!("Kafka: {what}: {e}"),
    }
}

/// A user error about the Kafka setup.
pub(crate) fn user_error(message: String) -> ConnectorError {
    ConnectorError::Service {
        domain: ErrorDomain::User,
        message: format!("Kafka: {message}"),
    }
}
