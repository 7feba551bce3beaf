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

/// One generated stream: sub-task `index` of `of` of the original
/// parallelism. Streams are the unit a checkpoint records, so that a
/// restored job at another parallelism continues every stream exactly.
struct Stream {
    index: u32,
    of: u32,
    produced: u64,
    remaining: Option<u64>,
    next_seq: u64,
    lines: Option<LineGenerator>,
    rng: ChaCha8Rng,
}

impl Stream {
    fn new(spec: &DatagenSpec, index: u32, of: u32) -> Self {
        let p = u64::from(of.max(1));
        let i = u64::from(index);
        let seed = spec
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(i);
        Stream {
            index,
            of: of.max(1),
            produced: 0,
            remaining: spec.count.map(|c| c / p + u64::from(i < c % p)),
            next_seq: i,
            lines: matches!(spec.generator, Generator::Words).then(|| LineGenerator::new(seed)),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Writes the next record's text into `text`.
    fn next(&mut self, generator: Generator, text: &mut String) {
        text.clear();
        match generator {
            Generator::Sequence => {
                text.push_str(&self.next_seq.to_string());
                self.next_seq += u64::from(self.of);
            }
            Generator::Words => {
                if let Some(l) = &mut self.lines {
                    l.next_line(text);
                }
            }
            Generator::Clicks => {
                let user = self.rng.random_range(0..100);
                let page = self.rng.random_range(0..20);
                *text = format!(r#"{{"user": "u{user}", "url": "/p/{page}"}}"#);
            }
        }
        self.produced += 1;
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
    }
}

/// One parallel instance of a data generator.
pub struct DatagenReader {
    generator: Generator,
    streams: Vec<Stream>,
    rate: Option<f64>,
    started: Option<Instant>,
    produced: u64,
    text: String,
    event_time: Option<weir_core::spec::EventTimeSpec>,
    max_ts: i64,
}

impl DatagenReader {
    /// Sub-task `index` of `parallelism`: it makes its share of the count
    /// and rate; the same seed gives the same records.
    pub fn new(spec: &DatagenSpec, index: u32, parallelism: u32) -> Self {
        Self::with_streams(spec, vec![Stream::new(spec, index, parallelism)])
    }

    /// A reader continuing streams from a checkpoint: (stream index,
    /// streams in all, records made).
    pub fn restore(spec: &DatagenSpec, streams: &[(u32, u32, u64)]) -> Self {
        let streams = streams
            .iter()
            .map(|&(index, of, produced)| {
                let mut s = Stream::new(spec, index, of);
                // Regenerate and drop what was made before: generators are
                // cheap, and this keeps the stream exactly the same.
                let mut text = String::new();
                while s.produced < produced && !s.done() {
                    s.next(spec.generator, &mut text);
                }
                s
            })
            .collect();
        Self::with_streams(spec, streams)
    }

    fn with_streams(spec: &DatagenSpec, streams: Vec<Stream>) -> Self {
        let rate = spec.rate.map(|r| {
            let share: f64 = streams.iter().map(|s| 1.0 / f64::from(s.of)).sum();
            r * share
        });
        DatagenReader {
            generator: spec.generator,
            streams,
            rate,
            started: None,
            produced: 0,
            text: String::new(),
            event_time: spec.event_time.clone(),
            max_ts: crate::MIN_WATERMARK,
        }
    }

    fn one(&mut self, out: &mut Outputs) -> bool {
        let Some(s) = self.streams.iter_mut().find(|s| !s.done()) else {
            return false;
        };
        s.next(self.generator, &mut self.text);
        let ts = if self.event_time.is_some() {
            let now = crate::now_ms();
            self.max_ts = self.max_ts.max(now);
            now
        } else {
            NO_TIMESTAMP
        };
        out.main.push(ts, &[], self.text.as_bytes());
        true
    }
}

impl SourceReader for DatagenReader {
    fn poll(
        &mut self,
        out: &mut Outputs,
        max_bytes: usize,
    ) -> Result<SourceStatus, ConnectorError> {
        if self.streams.iter().all(Stream::done) {
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
        while budget > 0 && out.main.byte_len() < max_bytes && self.one(out) {
            self.produced += 1;
            budget -= 1;
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

    fn position(&self) -> Option<weir_checkpoint::SourceState> {
        Some(weir_checkpoint::SourceState::Datagen(
            self.streams
                .iter()
                .map(|s| (s.index, s.of, s.produced))
                .collect(),
        ))
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

    #[test]
    fn streams_resume_exactly_at_another_parallelism() {
        let spec = DatagenSpec {
            id: "g".into(),
            parallelism: None,
            generator: Generator::Words,
            count: Some(300),
            rate: None,
            seed: 3,
            event_time: None,
        };
        let mut want: Vec<String> = (0..3)
            .flat_map(|i| drain(&mut DatagenReader::new(&spec, i, 3)))
            .collect();
        want.sort();
        // Three readers stop part-way; two readers take their streams over.
        let mut got = Vec::new();
        let mut streams = Vec::new();
        for i in 0..3 {
            let mut r = DatagenReader::new(&spec, i, 3);
            let mut out = Outputs::default();
            r.poll(&mut out, 200 * (i as usize + 1)).expect("poll");
            for rec in out.main.iter() {
                got.push(String::from_utf8(rec.expect("frame").value.to_vec()).expect("utf8"));
            }
            let Some(weir_checkpoint::SourceState::Datagen(s)) = r.position() else {
                panic!("datagen position");
            };
            streams.extend(s);
        }
        assert!(got.len() < 300);
        for half in [&streams[..2], &streams[2..]] {
            got.extend(drain(&mut DatagenReader::restore(&spec, half)));
        }
        got.sort();
        assert_eq!(got, want);
    }
}
