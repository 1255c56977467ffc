//! Latency percentiles and throughput of one load run.

use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn new(mut latencies: Vec<Duration>, errors: u64, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            if latencies.is_empty() {
                return Duration::ZERO;
            }
            // Nearest rank.
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            latencies[rank - 1]
        };
        Self {
            requests: latencies.len() as u64,
            errors,
            seconds: elapsed.as_secs_f64(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }

    pub fn rps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests, "errors": self.errors, "seconds": self.seconds,
            "rps": self.rps(),
            "p50_us": self.p50.as_micros(), "p90_us": self.p90.as_micros(),
            "p99_us": self.p99.as_micros(), "max_us": self.max.as_micros(),
        })
    }
}

/// `1.2 ms`, `870 µs`.
pub fn short(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let s = Stats::new((1..=100).rev().map(ms).collect(), 2, Duration::from_secs(2));
        assert_eq!(
            (s.p50, s.p90, s.p99, s.max),
            (ms(50), ms(90), ms(99), ms(100))
        );
        assert_eq!(s.requests, 100);
        assert!((s.rps() - 50.0).abs() < 1e-9);
        assert_eq!(Stats::new(vec![], 0, Duration::ZERO).rps(), 0.0);
        assert_eq!(short(Duration::from_micros(870)), "870 µs");
        assert_eq!(short(Duration::from_micros(1234)), "1.23 ms");
    }
}
