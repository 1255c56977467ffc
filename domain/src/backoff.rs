//! How long to wait before reconnecting to an upstream that failed.

use std::time::Duration;

/// Exponential backoff: `initial`, doubling each try, capped at `max`, for `max_attempts`
/// tries. After the last try the supervisor stops retrying on its own and waits for a
/// person (restart, enable) or a config change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

impl Default for BackoffPolicy {
    /// 1 s doubling to 5 min, 20 tries.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            max_attempts: 20,
        }
    }
}

impl BackoffPolicy {
    /// The delay before retry number `attempt` (1-based), or `None` once the tries are spent.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt > self.max_attempts {
            return None;
        }
        let factor = 2u32.checked_pow(attempt - 1).unwrap_or(u32::MAX);
        Some(self.initial.saturating_mul(factor).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_five_minutes_for_twenty_tries() {
        let p = BackoffPolicy::default();
        let secs: Vec<u64> = (1..=20).map(|a| p.delay(a).unwrap().as_secs()).collect();
        assert_eq!(&secs[..10], &[1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert!(secs[10..].iter().all(|s| *s == 300));
        assert_eq!(p.delay(21), None);
        assert_eq!(p.delay(0), None);
    }

    #[test]
    fn huge_attempts_do_not_overflow() {
        let p = BackoffPolicy {
            max_attempts: u32::MAX,
            ..Default::default()
        };
        assert_eq!(p.delay(100), Some(Duration::from_secs(300)));
    }
}
