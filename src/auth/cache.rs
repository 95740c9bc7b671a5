//! Token cache: one token shared by every caller, refreshed before it expires, fetched at most once
//! at a time.
//!
//! A tokio mutex is held across the fetch, so concurrent callers that find the token stale wait for
//! the one fetch in flight and then find the fresh token (double-checked under the lock). A caller
//! that saw a 401 passes the rejected token's generation: the cache refetches only if it still holds
//! that generation (or an older one), so N concurrent 401s cause one refetch.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::Mutex;

use super::static_token::{MAX_TOKEN_LIFETIME, expiry};
use super::{AccessToken, AuthError, BoxFuture, TokenProvider};

/// Default: refresh when less than 5 minutes of life remain.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A token just obtained from the token endpoint.
pub struct FreshToken {
    pub secret: SecretString,
    /// Lifetime from now (`expires_in`).
    pub expires_in: Duration,
}

impl std::fmt::Debug for FreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshToken")
            .field("secret", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Something that fetches a new token each time it is asked (one credential kind).
pub trait TokenSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>>;
    fn kind(&self) -> &'static str;
}

struct Cached {
    token: AccessToken,
    /// When to fetch a new one, before `token.expires_at`.
    refresh_at: Instant,
}

/// A [`TokenProvider`] caching the tokens of a [`TokenSource`].
pub struct TokenCache<S> {
    source: S,
    refresh_margin: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// Generation of the last fetched token (0: none yet).
    generation: u64,
    /// The last fetch's failure and when it ended: the callers that were already waiting get it
    /// instead of each retrying the token endpoint in turn (each fetch may spend its whole retry
    /// budget on a throttling endpoint).
    failed: Option<(Instant, AuthError)>,
}

impl<S: TokenSource> TokenCache<S> {
    pub fn new(source: S) -> Self {
        Self::with_refresh_margin(source, DEFAULT_REFRESH_MARGIN)
    }

    /// Refresh when less than `margin` of the token's life remains (at most half its lifetime, so a
    /// short-lived token is still reused).
    pub fn with_refresh_margin(source: S, margin: Duration) -> Self {
        TokenCache {
            source,
            refresh_margin: margin,
            state: Mutex::new(State::default()),
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    async fn get(&self, rejected: Option<u64>) -> Result<AccessToken, AuthError> {
        let asked_at = Instant::now();
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let rejected_current = |c: &Cached| rejected.is_some_and(|g| c.token.generation <= g);
        if let Some(c) = &state.cached
            && now < c.refresh_at
            && !rejected_current(c)
        {
            return Ok(c.token.clone());
        }
        if let Some((at, err)) = &state.failed
            && *at >= asked_at
        {
            return Err(err.clone());
        }

        let kind = self.source.kind();
        tracing::debug!(credential = kind, reason = ?Reason::of(state.cached.as_ref(), rejected, now), "fetching an access token");
        match self.source.fetch().await {
            Ok(fresh) => {
                let fetched_at = Instant::now();
                state.generation = state.generation.saturating_add(1);
                // `expires_in` comes from the server: an absurd one is capped, never overflows the clock.
                let lifetime = fresh.expires_in.min(MAX_TOKEN_LIFETIME);
                let margin = self.refresh_margin.min(lifetime / 2);
                let token = AccessToken {
                    secret: fresh.secret,
                    expires_at: expiry(fetched_at, lifetime),
                    generation: state.generation,
                };
                tracing::debug!(
                    credential = kind,
                    generation = token.generation,
                    expires_in_secs = lifetime.as_secs(),
                    "fetched an access token"
                );
                state.cached = Some(Cached {
                    refresh_at: expiry(fetched_at, lifetime.saturating_sub(margin)),
                    token: token.clone(),
                });
                state.failed = None;
                Ok(token)
            }
            Err(err) => {
                // An early refresh failed but the token still works: keep using it.
                if let Some(c) = &state.cached
                    && !rejected_current(c)
                    && Instant::now()
                        .checked_add(Duration::from_secs(30))
                        .is_some_and(|soon| soon < c.token.expires_at)
                {
                    tracing::warn!(credential = kind, error = %err, "token refresh failed; using the current token until it expires");
                    return Ok(c.token.clone());
                }
                state.failed = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }
}

#[derive(Debug)]
enum Reason {
    First,
    Rejected,
    NearExpiry,
}

impl Reason {
    fn of(cached: Option<&Cached>, rejected: Option<u64>, now: Instant) -> Reason {
        match cached {
            None => Reason::First,
            Some(c) if now < c.refresh_at && rejected.is_some() => Reason::Rejected,
            Some(_) => Reason::NearExpiry,
        }
    }
}

impl<S: TokenSource> TokenProvider for TokenCache<S> {
    fn token(&self, rejected: Option<u64>) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(self.get(rejected))
    }

    fn kind(&self) -> &'static str {
        self.source.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts fetches; each fetch takes `delay` and yields "token-N" living `lifetime`.
    struct Counting {
        fetches: Arc<AtomicUsize>,
        lifetime: Duration,
        delay: Duration,
        fail_after: Option<usize>,
    }

    impl Counting {
        fn new(lifetime: Duration) -> (Self, Arc<AtomicUsize>) {
            let fetches = Arc::new(AtomicUsize::new(0));
            (
                Counting {
                    fetches: fetches.clone(),
                    lifetime,
                    delay: Duration::from_millis(20),
                    fail_after: None,
                },
                fetches,
            )
        }
    }

    impl TokenSource for Counting {
        fn fetch(&self) -> BoxFuture<'_, Result<FreshToken, AuthError>> {
            Box::pin(async move {
                let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(self.delay).await;
                if self.fail_after.is_some_and(|max| n > max) {
                    return Err(AuthError::Transport {
                        url: "http://x".into(),
                        detail: "down".into(),
                        unreachable: false,
                    });
                }
                Ok(FreshToken {
                    secret: SecretString::from(format!("token-{n}")),
                    expires_in: self.lifetime,
                })
            })
        }
        fn kind(&self) -> &'static str {
            "counting"
        }
    }

    /// Callers queued behind a fetch that fails get its error; they do not each try the token endpoint
    /// again in turn. A caller arriving afterwards does try again.
    #[tokio::test]
    async fn callers_waiting_on_a_failed_fetch_share_its_failure() {
        let (mut src, fetches) = Counting::new(Duration::from_secs(3600));
        src.fail_after = Some(0);
        let cache = Arc::new(TokenCache::new(src));
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token(None).await })
            })
            .collect();
        for w in waiting {
            assert!(w.await.unwrap().is_err());
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "one fetch for five callers"
        );
        assert!(cache.token(None).await.is_err());
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "a later caller tries again"
        );
    }

    #[tokio::test]
    async fn returns_the_cached_token_while_fresh() {
        let (src, fetches) = Counting::new(Duration::from_secs(3600));
        let cache = TokenCache::new(src);
        let a = cache.token(None).await.unwrap();
        let b = cache.token(None).await.unwrap();
        assert_eq!(a.secret.expose_secret(), "token-1");
        assert_eq!(b.secret.expose_secret(), "token-1");
        assert_eq!(a.generation, 1);
        assert_eq!(b.generation, 1);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert_eq!(cache.kind(), "counting");
    }

    #[tokio::test]
    async fn refreshes_before_expiry() {
        // Lifetime 400 ms, margin 300 ms: reused for ~100 ms, then refreshed although still valid.
        let (src, fetches) = Counting::new(Duration::from_millis(400));
        let cache = TokenCache::with_refresh_margin(src, Duration::from_millis(300));
        let a = cache.token(None).await.unwrap();
        // The margin is capped at half the lifetime (200 ms).
        assert_eq!(cache.token(None).await.unwrap().generation, 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(Instant::now() < a.expires_at, "still valid");
        let b = cache.token(None).await.unwrap();
        assert_eq!(b.generation, 2);
        assert_eq!(b.secret.expose_secret(), "token-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    /// #3: an `expires_in` too large for the clock is capped at a day instead of panicking.
    #[tokio::test]
    async fn absurd_lifetime_is_capped() {
        for lifetime in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(1 << 40),
        ] {
            let (src, _) = Counting::new(lifetime);
            let cache = TokenCache::new(src);
            let t = cache.token(None).await.unwrap();
            let left = t.expires_at - Instant::now();
            assert!(left <= MAX_TOKEN_LIFETIME, "{left:?}");
            assert!(
                left > MAX_TOKEN_LIFETIME - Duration::from_secs(10),
                "{left:?}"
            );
            assert_eq!(cache.token(None).await.unwrap().generation, 1, "cached");
        }
    }

    #[tokio::test]
    async fn default_margin_is_five_minutes() {
        let (src, fetches) = Counting::new(Duration::from_secs(3600));
        let cache = TokenCache::new(src);
        assert_eq!(cache.refresh_margin, Duration::from_secs(300));
        let t = cache.token(None).await.unwrap();
        let state = cache.state.lock().await;
        let c = state.cached.as_ref().unwrap();
        let left = t.expires_at - c.refresh_at;
        assert!(
            left >= Duration::from_secs(299) && left <= Duration::from_secs(300),
            "{left:?}"
        );
        drop(state);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_calls_fetch_once() {
        let (src, fetches) = Counting::new(Duration::from_secs(3600));
        let cache = Arc::new(TokenCache::new(src));
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let c = cache.clone();
                tokio::spawn(async move { c.token(None).await.unwrap().generation })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.unwrap(), 1);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn twenty_concurrent_rejections_cause_one_refetch() {
        let (src, fetches) = Counting::new(Duration::from_secs(3600));
        let cache = Arc::new(TokenCache::new(src));
        let first = cache.token(None).await.unwrap();
        assert_eq!(first.generation, 1);
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let c = cache.clone();
                let g = first.generation;
                tokio::spawn(async move { c.token(Some(g)).await.unwrap() })
            })
            .collect();
        for h in handles {
            let t = h.await.unwrap();
            assert_eq!(t.generation, 2);
            assert_eq!(t.secret.expose_secret(), "token-2");
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "one initial fetch and exactly one refetch"
        );
        // A stale rejection (older generation) does not refetch again.
        assert_eq!(cache.token(Some(1)).await.unwrap().generation, 2);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // Rejecting the current one does.
        assert_eq!(cache.token(Some(2)).await.unwrap().generation, 3);
    }

    #[tokio::test]
    async fn failed_early_refresh_keeps_the_valid_token_but_rejection_errors() {
        let (mut src, fetches) = Counting::new(Duration::from_secs(3600));
        src.fail_after = Some(1);
        let cache = TokenCache::new(src);
        let a = cache.token(None).await.unwrap();
        assert_eq!(a.generation, 1);
        // Rejected: the refetch fails and the error surfaces.
        let err = cache.token(Some(1)).await.unwrap_err();
        assert!(matches!(err, AuthError::Transport { .. }), "{err:?}");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // Not rejected and still fresh: served from cache without fetching.
        assert_eq!(cache.token(None).await.unwrap().generation, 1);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // In the refresh window (simulated), a failed refresh falls back to the still-valid token.
        cache.state.lock().await.cached.as_mut().unwrap().refresh_at = Instant::now();
        assert_eq!(cache.token(None).await.unwrap().generation, 1);
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }
}
