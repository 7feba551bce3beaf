//! Which reader owns which partition, and the partitions of the topics.

use crate::client::{REQUEST_TIMEOUT, kafka_error, user_error};
use rdkafka::ClientContext;
use rdkafka::client::Client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaRespErr;
use regex::Regex;
use weir_connectors::ConnectorError;

/// The reader (of `readers`) that owns partition `partition` of `topic`:
/// a topic's partitions go round robin from a start that depends on the
/// topic, as Flink's Kafka source deals them. Every reader computes it the
/// same way, so newly discovered partitions need no coordination, and a
/// restored job at another parallelism finds each partition's owner again.
pub fn owner(topic: &str, partition: i32, readers: u32) -> u32 {
    let readers = u64::from(readers.max(1));
    let start = xxhash_rust::xxh3::xxh3_64(topic.as_bytes()) % readers;
    ((start + partition.max(0) as u64) % readers) as u32
}

/// What the source reads: named topics or a pattern.
pub(crate) enum Topics {
    Named(Vec<String>),
    Pattern(Regex),
}

impl Topics {
    pub(crate) fn new(named: &[String], pattern: Option<&str>) -> Result<Topics, ConnectorError> {
        match pattern {
            Some(p) => Regex::new(&format!("^(?:{p})$"))
                .map(Topics::Pattern)
                .map_err(|e| user_error(format!("topic_pattern '{p}': {e}"))),
            None => Ok(Topics::Named(named.to_vec())),
        }
    }

    /// Every (topic, partition) there is now, sorted. A named topic that
    /// does not exist is an error.
    pub(crate) fn partitions(
        &self,
        consumer: &BaseConsumer,
    ) -> Result<Vec<(String, i32)>, ConnectorError> {
        let mut out = Vec::new();
        match self {
            Topics::Named(names) => {
                for name in names {
                    let ids = topic_partitions(consumer.client(), name)?;
                    out.extend(ids.into_iter().map(|p| (name.clone(), p)));
                }
            }
            Topics::Pattern(re) => {
                let md = consumer
                    .fetch_metadata(None, REQUEST_TIMEOUT)
                    .map_err(|e| kafka_error("metadata", e))?;
                for t in md.topics() {
                    if t.error().is_none() && re.is_match(t.name()) && !t.name().starts_with("__") {
                        out.extend(t.partitions().iter().map(|p| (t.name().to_owned(), p.id())));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The partitions of `topic`; a clear error if it does not exist (a broker
/// that creates topics on first use creates it instead).
pub(crate) fn topic_partitions<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
) -> Result<Vec<i32>, ConnectorError> {
    let md = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| kafka_error(&format!("metadata of topic '{topic}'"), e))?;
    let mut out = Vec::new();
    for t in md.topics() {
        match t.error() {
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                return Err(user_error(format!("topic '{topic}' does not exist")));
            }
            Some(err) => return Err(user_error(format!("topic '{topic}': {err:?}"))),
            None => out.extend(t.partitions().iter().map(|p| p.id())),
        }
    }
    if out.is_empty() {
        return Err(user_error(format!("topic '{topic}' does not exist")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_of_a_topic_spread_evenly_and_every_one_has_one_owner() {
        for readers in 1..=5u32 {
            let mut per_reader = vec![0u32; readers as usize];
            for p in 0..20 {
                let o = owner("orders", p, readers);
                assert!(o < readers);
                per_reader[o as usize] += 1;
            }
            let (min, max) = (per_reader.iter().min(), per_reader.iter().max());
            assert!(
                max.zip(min).is_some_and(|(a, b)| a - b <= 1),
                "{per_reader:?}"
            );
        }
        assert_eq!(owner("t", 3, 1), 0);
    }
}
