//! A sliding-window request budget: at most `max` starts within any `window`. Graph's identity-report
//! limits are of this shape (sign-ins and directory audits: 5 requests / 10 s per app and tenant, and
//! 122 / 10 s per app across all tenants); reading faster only earns 429s, which on a fleet run would
//! stall every tenant at once.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Graph's app-wide budget for the identity and access reports (audit logs), across tenants.
pub const APP_WIDE_LOG_RATE: (usize, Duration) = (122, Duration::from_secs(10));

/// Graph's budget for the multi-tenant management APIs (`/tenantRelationships/...`, GDAP) per app and
/// tenant; inner `$batch` requests count one by one.
pub const GDAP_RATE: (usize, Duration) = (1000, Duration::from_secs(20));

/// `window` plus 2 %: room for the network and clock skew between a request's start here and its
/// arrival at Graph, whose own window decides.
pub fn margin(window: Duration) -> Duration {
    window.saturating_add(window / 50)
}

#[derive(Debug)]
pub struct Pacer {
    max: usize,
    window: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    /// At most `max` starts in any `window`, measured with [`margin`] added: our clock starts a request
    /// before Graph's sees it arrive, so a budget spent to the millisecond here can be one over there.
    pub fn new(max: usize, window: Duration) -> Self {
        Pacer {
            max,
            window: margin(window),
            starts: Mutex::new(VecDeque::new()),
        }
    }

    /// Wait until one more start fits in the window, then count it. Waiters are served in order
    /// (tokio's mutex is fair). A budget of 0 never waits.
    pub async fn wait(&self) {
        self.wait_n(1).await;
    }

    /// [`Pacer::wait`] for `n` requests that start together (the inner requests of a `$batch`, which
    /// Graph counts one by one). More than the whole budget waits for an empty window.
    pub async fn wait_n(&self, n: usize) {
        self.wait_then(n, async {}).await;
    }

    /// [`Pacer::wait_n`], then `before_start` (another budget the same requests count against, such as
    /// Graph's app-wide one for audit logs) while this budget's slots are still held: the start recorded
    /// here is the real one, after both waits.
    pub async fn wait_then(&self, n: usize, before_start: impl Future<Output = ()>) {
        if self.max == 0 || n == 0 {
            before_start.await;
            return;
        }
        let n = n.min(self.max);
        let mut starts = self.starts.lock().await;
        loop {
            while starts.front().is_some_and(|t| t.elapsed() >= self.window) {
                starts.pop_front();
            }
            let over = (starts.len() + n).saturating_sub(self.max);
            if over == 0 {
                break;
            }
            // The `over`-th oldest start must leave the window first.
            let Some(at) = starts.get(over - 1).copied() else {
                break;
            };
            // A window too large to add to the clock means "never again"; wait its length instead.
            match at.checked_add(self.window) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => tokio::time::sleep(self.window).await,
            }
        }
        before_start.await;
        let now = Instant::now();
        starts.extend(std::iter::repeat_n(now, n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_starts_in_any_window() {
        let pacer = std::sync::Arc::new(Pacer::new(3, Duration::from_secs(10)));
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            pacer.wait().await;
            at.push(t0.elapsed());
        }
        for (i, t) in at.iter().enumerate() {
            let in_window = at
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_millis(10_200))
                .count();
            assert!(
                in_window <= 3,
                "start {i} at {t:?}: {in_window} in its window"
            );
        }
        // 7 starts at 3 per 10 s need two full windows of waiting (with the 2 % margin).
        assert_eq!(at[6], Duration::from_millis(20_400));
    }

    /// Two tenants' budgets of 2 / 10 s under an app-wide one of 3 / 10 s: neither budget is ever
    /// exceeded, and the tenant's start is recorded after the app-wide wait.
    #[tokio::test(start_paused = true)]
    async fn a_tenant_budget_nested_in_an_app_wide_one() {
        let app = std::sync::Arc::new(Pacer::new(3, Duration::from_secs(10)));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for tenant in 0..2 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let own = Pacer::new(2, Duration::from_secs(10));
                let mut at = Vec::new();
                for _ in 0..4 {
                    own.wait_then(1, app.wait()).await;
                    at.push((tenant, t0.elapsed()));
                }
                at
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let window = Duration::from_millis(10_200);
        for (_, t) in &all {
            let in_window = |tenant: Option<i32>| {
                all.iter()
                    .filter(|(x, u)| *u >= *t && *u < *t + window && tenant.is_none_or(|w| w == *x))
                    .count()
            };
            assert!(
                in_window(None) <= 3,
                "app-wide over budget at {t:?}: {all:?}"
            );
            assert!(
                in_window(Some(0)) <= 2 && in_window(Some(1)) <= 2,
                "{all:?}"
            );
        }
        // 8 starts at 3 per window: the last one in the third window.
        assert_eq!(all.iter().map(|(_, t)| *t).max(), Some(window * 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_as_many_slots_as_it_has_requests() {
        let pacer = Pacer::new(10, Duration::from_secs(20));
        let t0 = Instant::now();
        pacer.wait_n(6).await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        pacer.wait_n(6).await;
        assert_eq!(
            t0.elapsed(),
            Duration::from_millis(20_400),
            "12 > 10 in one window"
        );
        // More than the budget waits for an empty window, never forever.
        pacer.wait_n(50).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(40_800));
    }
}
