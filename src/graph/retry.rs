//! Retry policy: which failures are worth repeating, and how long to wait before the next attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// Bounds on retrying one request. Every retry loop is bounded in count *and* in total time.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No new attempt starts once this much time has passed since the first.
    pub max_total: Duration,
    /// First backoff when the server gives no `Retry-After`; doubles per attempt.
    pub base_delay: Duration,
    /// Cap of the exponential backoff.
    pub max_delay: Duration,
    /// Cap of a server-given `Retry-After` (a hostile or broken server must not park us for hours).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_total: Duration::from_secs(300),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter for attempt `n` (1 = the first retry).
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis().max(1)).unwrap_or(u64::MAX);
        // Half fixed, half random: never zero, never in lockstep with other clients.
        Duration::from_millis(millis / 2 + rand::rng().random_range(0..=millis / 2))
    }

    /// The wait before the next attempt: the server's `Retry-After` (capped) when present, otherwise backoff.
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max_retry_after),
            None => self.backoff(n),
        }
    }
}

/// Parse `Retry-After`: delta-seconds or an HTTP date (RFC 7231), relative to `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// #3: any Retry-After text (huge numbers, fractions, odd dates) parses or not, never panics,
        /// and the resulting wait is always capped by the policy.
        #[test]
        fn any_retry_after_is_safe(value in proptest::prop_oneof![
            ".{0,40}",
            "[0-9]{1,30}",
            "-?[0-9]{0,400}\\.?[0-9]{0,5}(e[0-9]{1,4})?",
            "(Mon|Tue|Fri), [0-9]{1,2} (Jan|Nov|Dec) [0-9]{1,6} [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|\\+9999|-0000)",
        ], attempt in proptest::prelude::any::<u32>()) {
            let now = Utc::now();
            let parsed = parse_retry_after(&value, now);
            let p = RetryPolicy::default();
            let d = p.delay(attempt, parsed);
            proptest::prop_assert!(d <= p.max_retry_after.max(p.max_delay), "{d:?}");
        }

        /// Backoff with any base and cap never panics.
        #[test]
        fn any_backoff_is_safe(base in proptest::prelude::any::<u64>(), cap in proptest::prelude::any::<u64>(), n in proptest::prelude::any::<u32>()) {
            let p = RetryPolicy {
                base_delay: Duration::from_millis(base),
                max_delay: Duration::from_millis(cap),
                ..Default::default()
            };
            proptest::prop_assert!(p.backoff(n) <= p.max_delay.max(Duration::from_millis(1)));
        }
    }

    #[test]
    fn huge_retry_after_is_capped() {
        let now = Utc::now();
        let p = RetryPolicy::default();
        for v in [
            "18446744073709551616",
            "99999999999999999999999",
            "1e308",
            "1e400",
        ] {
            let d = p.delay(1, parse_retry_after(v, now));
            assert!(d <= p.max_retry_after, "{v}: {d:?}");
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        for n in 1..20 {
            let d = p.backoff(n);
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_secs(1),
                "{n}: {d:?}"
            );
        }
        assert!(p.backoff(1) <= Duration::from_millis(100));
        assert_eq!(
            p.delay(3, Some(Duration::from_secs(999))),
            p.max_retry_after
        );
    }
}
