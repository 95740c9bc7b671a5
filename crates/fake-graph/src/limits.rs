//! Graph's documented request limits, emulated (off unless [`crate::FakeGraphConfig::limits`] is set).
//!
//! What Microsoft documents (see `shared/research/graph-api.md` §3.5, §5.3 and §7.1):
//! * identity and access reports (`/auditLogs/signIns`, `/auditLogs/directoryAudits`, provisioning):
//!   5 requests per 10 s per app per tenant, and 122 requests per 10 s per app across all tenants;
//! * multi-tenant management (`/tenantRelationships/...`, the GDAP APIs): 1,000 requests per 20 s per
//!   app per tenant;
//! * everything else (the directory): a budget of resource units per app and tenant (3,500 per 10 s
//!   for a small tenant), a request costing 1 unit by default, `GET /contracts` 3, `getByIds` 5,
//!   `GET /users` 2, `$select` one less, never below 1.
//!
//! Each window slides: a request is admitted when the units admitted in the last `window` plus its own
//! fit the limit; otherwise it is answered 429 with `Retry-After` (whole seconds, rounded up) saying when
//! enough units will have left the window. Refused requests use no budget. Inner requests of a `$batch`
//! count one by one, as Graph counts them; the `$batch` envelope itself costs nothing. The fake knows
//! one app, so "per app across all tenants" is every tenant's requests together.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One limit: at most `units` within any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub units: u64,
    pub window: Duration,
}

impl Budget {
    pub const fn new(units: u64, window: Duration) -> Budget {
        Budget { units, window }
    }
}

/// Which limits apply; `None` turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphLimits {
    /// Audit logs and sign-ins, per tenant (Graph: 5 / 10 s per app per tenant).
    pub logs_per_tenant: Option<Budget>,
    /// Audit logs and sign-ins, all tenants together (Graph: 122 / 10 s per app).
    pub logs_per_app: Option<Budget>,
    /// `/tenantRelationships/...`, per tenant (Graph: 1,000 / 20 s per app per tenant).
    pub tenant_relationships_per_tenant: Option<Budget>,
    /// Every other request, in resource units per tenant (Graph: 3,500 / 10 s for a small tenant).
    pub directory_per_tenant: Option<Budget>,
}

impl GraphLimits {
    /// The limits as Microsoft documents them.
    pub fn documented() -> GraphLimits {
        GraphLimits {
            logs_per_tenant: Some(Budget::new(5, Duration::from_secs(10))),
            logs_per_app: Some(Budget::new(122, Duration::from_secs(10))),
            tenant_relationships_per_tenant: Some(Budget::new(1000, Duration::from_secs(20))),
            directory_per_tenant: Some(Budget::new(3500, Duration::from_secs(10))),
        }
    }
}

/// The family a request is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    Logs,
    TenantRelationships,
    Directory,
}

fn family(path: &str) -> Family {
    if path.contains("/auditLogs/") || path.contains("/reports/authenticationMethods") {
        Family::Logs
    } else if path.contains("/tenantRelationships/") {
        Family::TenantRelationships
    } else {
        Family::Directory
    }
}

/// Resource units of a directory request (graph-api.md §5.3).
fn cost(method: &str, path: &str, raw_query: &str) -> u64 {
    let base: u64 = if method.eq_ignore_ascii_case("POST") && path.ends_with("/getByIds") {
        5
    } else if path.ends_with("/contracts") {
        3
    } else if path.ends_with("/users") {
        2
    } else {
        1
    };
    let select = raw_query
        .split('&')
        .any(|p| p.starts_with("$select=") || p.starts_with("%24select="));
    base.saturating_sub(u64::from(select)).max(1)
}

/// A sliding window: the admission times and units of the requests it still holds.
#[derive(Debug, Default)]
struct Window {
    admitted: VecDeque<(Instant, u64)>,
    used: u64,
}

impl Window {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, units)) = self.admitted.front() {
            if now.duration_since(at) < window {
                break;
            }
            self.admitted.pop_front();
            self.used = self.used.saturating_sub(units);
        }
    }

    /// `None` when `units` fit now; else how long until they will.
    fn wait(&self, now: Instant, budget: Budget, units: u64) -> Option<Duration> {
        let units = units.min(budget.units);
        if self.used.saturating_add(units) <= budget.units {
            return None;
        }
        // Enough must leave: the oldest admissions, in order, until the rest plus `units` fit.
        let mut left = self.used;
        for &(at, u) in &self.admitted {
            left = left.saturating_sub(u);
            if left.saturating_add(units) <= budget.units {
                return Some(
                    at.checked_add(budget.window)
                        .map_or(budget.window, |end| end.saturating_duration_since(now)),
                );
            }
        }
        Some(budget.window)
    }

    fn admit(&mut self, now: Instant, units: u64) {
        self.admitted.push_back((now, units));
        self.used = self.used.saturating_add(units);
    }
}

/// The windows of every (tenant, family), and of the app-wide log budget.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: GraphLimits,
    windows: HashMap<(String, Family), Window>,
    app_logs: Window,
    /// 429s answered because a budget was spent.
    pub throttled: u64,
}

/// A refusal: the limit that was hit and the `Retry-After` to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub retry_after_secs: u64,
    /// `x-ms-throttle-scope`-like text: which budget was spent.
    pub scope: String,
}

impl Limiter {
    pub fn new(limits: GraphLimits) -> Limiter {
        Limiter {
            limits,
            windows: HashMap::new(),
            app_logs: Window::default(),
            throttled: 0,
        }
    }

    /// Admits one request of `tenant` (lower-case id) or refuses it.
    pub fn check(
        &mut self,
        tenant: &str,
        method: &str,
        path: &str,
        raw_query: &str,
        now: Instant,
    ) -> Result<(), Refusal> {
        let family = family(path);
        let (budget, units, scope) = match family {
            Family::Logs => (self.limits.logs_per_tenant, 1, "AuditLogs/Tenant"),
            Family::TenantRelationships => (
                self.limits.tenant_relationships_per_tenant,
                1,
                "TenantRelationships/Tenant",
            ),
            Family::Directory => (
                self.limits.directory_per_tenant,
                cost(method, path, raw_query),
                "Directory/Tenant",
            ),
        };
        let app_budget = match family {
            Family::Logs => self.limits.logs_per_app,
            _ => None,
        };
        let key = (tenant.to_owned(), family);
        let mut waits = Vec::new();
        if let Some(b) = budget {
            let w = self.windows.entry(key.clone()).or_default();
            w.expire(now, b.window);
            if let Some(d) = w.wait(now, b, units) {
                waits.push((d, scope));
            }
        }
        if let Some(b) = app_budget {
            self.app_logs.expire(now, b.window);
            if let Some(d) = self.app_logs.wait(now, b, units) {
                waits.push((d, "AuditLogs/App"));
            }
        }
        if let Some((wait, scope)) = waits.into_iter().max_by_key(|(d, _)| *d) {
            self.throttled = self.throttled.saturating_add(1);
            let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            return Err(Refusal {
                retry_after_secs: millis.div_ceil(1000).max(1),
                scope: format!("{scope}/{tenant}"),
            });
        }
        if budget.is_some() {
            self.windows.entry(key).or_default().admit(now, units);
        }
        if app_budget.is_some() {
            self.app_logs.admit(now, units);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_tenant: u64, per_app: u64) -> Limiter {
        Limiter::new(GraphLimits {
            logs_per_tenant: Some(Budget::new(per_tenant, Duration::from_secs(10))),
            logs_per_app: Some(Budget::new(per_app, Duration::from_secs(10))),
            tenant_relationships_per_tenant: None,
            directory_per_tenant: Some(Budget::new(6, Duration::from_secs(10))),
        })
    }

    const SIGN_INS: &str = "/beta/auditLogs/signIns";

    #[test]
    fn the_per_tenant_log_budget_slides() {
        let mut l = limiter(5, 122);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(
                l.check("a", "GET", SIGN_INS, "", t0 + Duration::from_secs(i))
                    .is_ok()
            );
        }
        // The sixth within 10 s of the first waits for the first to leave the window.
        let r = l
            .check("a", "GET", SIGN_INS, "", t0 + Duration::from_millis(5500))
            .unwrap_err();
        assert_eq!(r.retry_after_secs, 5);
        assert_eq!(r.scope, "AuditLogs/Tenant/a");
        // Another tenant has its own budget; other families are not counted here.
        assert!(l.check("b", "GET", SIGN_INS, "", t0).is_ok());
        assert!(l.check("a", "GET", "/v1.0/users", "", t0).is_ok());
        // Once the first left the window, one more is admitted.
        assert!(
            l.check("a", "GET", SIGN_INS, "", t0 + Duration::from_secs(10))
                .is_ok()
        );
        assert_eq!(l.throttled, 1);
    }

    #[test]
    fn the_app_wide_log_budget_spans_tenants() {
        let mut l = limiter(5, 7);
        let t0 = Instant::now();
        for i in 0..7 {
            assert!(
                l.check(&format!("t{i}"), "GET", SIGN_INS, "", t0).is_ok(),
                "{i}"
            );
        }
        let r = l
            .check("t9", "GET", "/v1.0/auditLogs/directoryAudits", "", t0)
            .unwrap_err();
        assert_eq!(r.scope, "AuditLogs/App/t9");
        assert_eq!(r.retry_after_secs, 10);
    }

    #[test]
    fn directory_requests_cost_resource_units() {
        assert_eq!(cost("GET", "/v1.0/contracts", "$top=999"), 3);
        assert_eq!(cost("POST", "/v1.0/directoryObjects/getByIds", ""), 5);
        assert_eq!(cost("GET", "/v1.0/users", "$select=id"), 1);
        assert_eq!(cost("GET", "/v1.0/organization", "$select=id"), 1);
        let mut l = limiter(5, 122);
        let t0 = Instant::now();
        assert!(l.check("a", "GET", "/v1.0/contracts", "", t0).is_ok());
        assert!(l.check("a", "GET", "/v1.0/contracts", "", t0).is_ok());
        // 6 units spent: even a 1-unit request waits.
        assert!(l.check("a", "GET", "/v1.0/domains", "", t0).is_err());
    }
}
