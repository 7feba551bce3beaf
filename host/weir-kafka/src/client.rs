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

/// How long dropping a consumer waits for its close before leaving it to
/// finish in the background.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A consumer whose drop never blocks for long. Closing a consumer that
/// has a group waits for the group's coordinator, for as long as the
/// brokers are unreachable (measured: until they came back, 100 s later);
/// a sub-task being cancelled or failing over must not wait on that. So
/// the close runs on a thread of its own, awaited for `CLOSE_WAIT` (enough
/// when the brokers answer, so the last offset commit goes out first).
pub(crate) struct Closing<C: Send + 'static>(Option<C>);

impl<C: Send + 'static> Closing<C> {
    pub(crate) fn new(c: C) -> Self {
        Closing(Some(c))
    }
}

impl<C: Send + 'static> std::ops::Deref for Closing<C> {
    type Target = C;
    fn deref(&self) -> &C {
        // Only `drop` takes it out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl<C: Send + 'static> Drop for Closing<C> {
    fn drop(&mut self) {
        let Some(c) = self.0.take() else { return };
        let (done, closed) = std::sync::mpsc::channel::<()>();
        let closer = std::thread::Builder::new()
            .name("kafka-close".into())
            .spawn(move || {
                drop(c);
                let _ = done.send(());
            });
        // Without a thread the close has already run, here.
        if closer.is_ok() && closed.recv_timeout(CLOSE_WAIT).is_err() {
            tracing::warn!(
                "Kafka: a consumer is still closing after {} s (are the brokers down?); it goes on closing in the background",
                CLOSE_WAIT.as_secs()
            );
        }
    }
}

/// A user error about the Kafka setup.
pub(crate) fn user_error(message: String) -> ConnectorError {
    ConnectorError::Service {
        domain: ErrorDomain::User,
        message: format!("Kafka: {message}"),
    }
}
