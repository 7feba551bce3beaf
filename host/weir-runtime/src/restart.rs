//! Restart strategies: whether, and after how long, a failed job restarts
//! from its latest checkpoint (Flink's fixed-delay, exponential-backoff and
//! failure-rate strategies).

use std::time::{Duration, Instant};
use weir_core::spec::RestartSpec;

/// Failures so far and what the strategy allows next.
pub(crate) struct Restarts {
    spec: RestartSpec,
    failures: Vec<Instant>,
}

impl Restarts {
    pub(crate) fn new(spec: RestartSpec) -> Self {
        Restarts {
            spec,
            failures: Vec::new(),
        }
    }

    /// Restarts so far.
    pub(crate) fn count(&self) -> u32 {
        self.failures.len() as u32
    }

    /// Records a failure at `now`; returns the wait before the restart, or
    /// `None` when the strategy gives up.
    pub(crate) fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        let n = self.failures.len() as u32 + 1;
        let delay = match &self.spec {
            RestartSpec::None => return None,
            RestartSpec::FixedDelay { attempts, delay_ms } => {
                (n <= *attempts).then(|| Duration::from_millis(*delay_ms))
            }
            RestartSpec::ExponentialBackoff {
                attempts,
                initial_delay_ms,
                max_delay_ms,
                multiplier,
            } => (n <= *attempts).then(|| {
                let m = multiplier.unwrap_or(2.0);
                let d = *initial_delay_ms as f64 * m.powi(n as i32 - 1);
                let cap = max_delay_ms.unwrap_or(u64::MAX) as f64;
                Duration::from_millis(d.min(cap) as u64)
            }),
            RestartSpec::FailureRate {
                max_failures,
                interval_ms,
                delay_ms,
            } => {
                let window = Duration::from_millis(*interval_ms);
                let recent = self
                    .failures
                    .iter()
                    .filter(|t| now.duration_since(**t) < window)
                    .count() as u32
                    + 1;
                (recent <= *max_failures).then(|| Duration::from_millis(*delay_ms))
            }
        };
        if delay.is_some() {
            self.failures.push(now);
        }
        delay
    }

    /// Describes the strategy, for the message when it gives up.
    pub(crate) fn describe(&self) -> String {
        match &self.spec {
            RestartSpec::None => "the restart strategy is none".into(),
            RestartSpec::FixedDelay { attempts, .. }
            | RestartSpec::ExponentialBackoff { attempts, .. } => {
                format!("no restarts left after {attempts}")
            }
            RestartSpec::FailureRate {
                max_failures,
                interval_ms,
                ..
            } => format!("more than {max_failures} failures within {interval_ms} ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_give_up_when_they_should() {
        let t = Instant::now();
        let mut fixed = Restarts::new(RestartSpec::FixedDelay {
            attempts: 2,
            delay_ms: 5,
        });
        assert_eq!(fixed.on_failure(t), Some(Duration::from_millis(5)));
        assert_eq!(fixed.on_failure(t), Some(Duration::from_millis(5)));
        assert_eq!(fixed.on_failure(t), None);
        assert_eq!(fixed.count(), 2);

        let mut exp = Restarts::new(RestartSpec::ExponentialBackoff {
            attempts: 5,
            initial_delay_ms: 100,
            max_delay_ms: Some(300),
            multiplier: Some(2.0),
        });
        let waits: Vec<u64> = (0..5)
            .filter_map(|_| exp.on_failure(t))
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(waits, vec![100, 200, 300, 300, 300]);
        assert_eq!(exp.on_failure(t), None);

        let mut rate = Restarts::new(RestartSpec::FailureRate {
            max_failures: 2,
            interval_ms: 1000,
            delay_ms: 0,
        });
        assert!(rate.on_failure(t).is_some());
        assert!(rate.on_failure(t).is_some());
        assert!(rate.on_failure(t).is_none(), "third within the interval");
        assert!(
            rate.on_failure(t + Duration::from_secs(2)).is_some(),
            "old failures age out"
        );
        assert!(Restarts::new(RestartSpec::None).on_failure(t).is_none());
    }
}
