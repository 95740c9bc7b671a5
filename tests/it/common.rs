//! Shared test plumbing: a fake Graph with one app registration and a real client for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fake_graph::{FakeApp, FakeGraph, FakeGraphConfig, FakeTenant};
use gdap_audit::auth::{self, AuthSettings};
use gdap_audit::graph::{ClientSettings, Endpoints, GraphClient, RetryPolicy};
use secrecy::SecretString;

pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// A test secret: tests grep every output for it.
pub const SECRET: &str = "s3cr3t-Value~With.Specials_0123456789";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn tenant_dir(path: &str) -> FakeTenant {
    FakeTenant::from_dir(&repo(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub async fn fake(tenants: Vec<FakeTenant>) -> FakeGraph {
    FakeGraph::start(FakeGraphConfig::new(
        tenants,
        FakeApp::with_secret(CLIENT_ID, SECRET),
    ))
    .await
    .expect("fake graph starts")
}

/// Retries fast enough for tests, still bounded.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total: Duration::from_secs(20),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn endpoints(fake: &FakeGraph) -> Endpoints {
    Endpoints::resolve(Default::default(), Some(&fake.url()), Some(&fake.url())).unwrap()
}

pub fn secret_settings(fake: &FakeGraph, tenant: &str) -> AuthSettings {
    let mut s = AuthSettings::new(tenant, endpoints(fake));
    s.client_id = Some(CLIENT_ID.into());
    s.client_secret = Some(SecretString::from(SECRET));
    s
}

pub fn client_with(
    fake: &FakeGraph,
    tenant: &str,
    tweak: impl FnOnce(&mut ClientSettings),
) -> GraphClient {
    let tokens =
        auth::provider(secret_settings(fake, tenant), reqwest::Client::new()).expect("credentials");
    let mut settings = ClientSettings::new(endpoints(fake));
    settings.retry = quick_retry();
    // Pacing of the audit-log endpoints is tested on its own (transport); elsewhere it only slows tests.
    settings.log_rate = None;
    tweak(&mut settings);
    GraphClient::new(settings, tokens).expect("client")
}

pub fn client(fake: &FakeGraph, tenant: &str) -> GraphClient {
    client_with(fake, tenant, |_| {})
}

#[allow(dead_code)]
pub fn arc<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
