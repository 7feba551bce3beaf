//! The data generator source: deterministic records, bounded or not,
//! optionally at a fixed rate.

use crate::corpus::LineGenerator;
use crate::{ConnectorError, SourceReader, SourceStatus};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};
use weir_core::Outputs;
use weir_core::spec::{DatagenSpec, Generator};
use weir_wire::NO_TIMESTAMP;

/// One parallel instance of a data generator.
pub struct DatagenReader {
    generator: Generator,
    remaining: Option<u64>,
    next_seq: u64,
    step: u64,
    rate: Option<f64>,
    started: Option<Instant>,
    produced: u64,
    lines: Option<LineGenerator>,
    rng: ChaCha8Rng,
    text: String,
    event_time: Option<weir_core::spec::EventTimeSpec>,
    max_ts: i64,
}

impl DatagenReader {
    /// Sub-task `index` of `parallelism`: it makes its share of the count
    /// and rate; the same seed gives the same records.
    pub fn new(spec: &DatagenSpec, index: u32, parallelism: u32) -> Self {
        let p = u64::from(parallelism.max(1));
        let i = u64::from(index);
        let remaining = spec.count.map(|c| c / p + u64::from(i < c % p));
        let seed = spec
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(i);
        DatagenReader {
            generator: spec.generator,
            remaining,
            next_seq: i,
            step: p,
            rate: spec.rate.map(|r| r / p as f64),
            started: None,
            produced: 0,
            lines: matches!(spec.generator, Generator::Words).then(|| LineGenerator::new(seed)),
            rng: ChaCha8Rng::seed_from_u64(seed),
            text: String::new(),
            event_time: spec.event_time.clone(),
            max_ts: crate::MIN_WATERMARK,
        }
    }

    fn one(&mut self, out: &mut Outputs) {
        self.text.clear();
        match self.generator {
            Generator::Sequence => {
                self.text.push_str(&self.next_seq.to_string());
                self.next_seq += self.step;
            }
            Generator::Words => {
                if let Some(l) = &mut self.lines {
                    l.next_line(&mut self.text);
                }
            }
            Generator::Clicks => {
                let user = self.rng.random_range(0..100);
                let page = self.rng.random_range(0..20);
                self.text = format!(r#"{{"user": "u{user}", "url": "/p/{page}"}}"#);
            }
        }
        let ts = if self.event_time.is_some() {
            let now = crate::now_ms();
            self.max_ts = self.max_ts.max(now);
            now
        } else {
            NO_TIMESTAMP
        };
        out.main.push(ts, &[], self.text.as_bytes());
    }
}

impl SourceReader for DatagenReader {
    fn poll(
        &mut self,
        out: &mut Outputs,
        max_bytes: usize,
    ) -> Result<SourceStatus, ConnectorError> {
        if self.remaining == Some(0) {
            return Ok(SourceStatus::Finished);
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let mut budget = u64::MAX;
        if let Some(rate) = self.rate {
            let due = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
            budget = due.saturating_sub(self.produced);
            if budget == 0 {
                let next_at = (self.produced as f64) / rate;
                let wait = next_at - started.elapsed().as_secs_f64();
                return Ok(SourceStatus::Idle(Duration::from_secs_f64(
                    wait.clamp(0.0005, 0.1),
                )));
            }
        }
        while budget > 0 && out.main.byte_len() < max_bytes && self.remaining != Some(0) {
            self.one(out);
            self.produced += 1;
            budget -= 1;
            if let Some(r) = &mut self.remaining {
                *r -= 1;
            }
        }
        Ok(SourceStatus::More)
    }

    fn watermark(&self) -> Option<i64> {
        let e = self.event_time.as_ref()?;
        if self.max_ts == crate::MIN_WATERMARK {
            return Some(crate::MIN_WATERMARK);
        }
        let bound = i64::try_from(e.max_out_of_orderness_ms).unwrap_or(i64::MAX);
        Some(self.max_ts.saturating_sub(bound).saturating_sub(1))
    }

    fn idle_timeout(&self) -> Option<Duration> {
        self.event_time
            .as_ref()
            .and_then(|e| e.idle_timeout_ms)
            .map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut DatagenReader) -> Vec<String> {
        let mut v = Vec::new();
        loop {
            let mut out = Outputs::default();
            if r.poll(&mut out, 1000).expect("poll") == SourceStatus::Finished {
                return v;
            }
            for rec in out.main.iter() {
                v.push(String::from_utf8(rec.expect("frame").value.to_vec()).expect("utf8"));
            }
        }
    }

    #[test]
    fn parallel_sequences_cover_the_count_exactly() {
        let spec = DatagenSpec {
            id: "g".into(),
            parallelism: None,
            generator: Generator::Sequence,
            count: Some(10),
            rate: None,
            seed: 0,
            event_time: None,
        };
        let mut all: Vec<u64> = (0..3)
            .flat_map(|i| drain(&mut DatagenReader::new(&spec, i, 3)))
            .map(|s| s.parse().expect("number"))
            .collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_words() {
        let spec = DatagenSpec {
            id: "g".into(),
            parallelism: None,
            generator: Generator::Words,
            count: Some(50),
            rate: None,
            seed: 7,
            event_time: None,
        };
        assert_eq!(
            drain(&mut DatagenReader::new(&spec, 0, 1)),
            drain(&mut DatagenReader::new(&spec, 0, 1))
        );
    }
}
