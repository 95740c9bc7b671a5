//! National clouds and endpoint overrides.

use url::Url;

/// A Microsoft cloud: each has its own Graph root and login host, and tokens do not cross between them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Worldwide, including GCC.
    #[default]
    Global,
    /// US Government L4 (GCC High).
    Usgov,
    /// US Government L5 (DoD).
    UsgovDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::Usgov => "https://graph.microsoft.us",
            Cloud::UsgovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// Azure Resource Manager: the second resource (Azure Lighthouse, Azure role assignments).
    pub fn arm_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://management.azure.com",
            Cloud::Usgov | Cloud::UsgovDod => "https://management.usgovcloudapi.net",
            Cloud::China => "https://management.chinacloudapi.cn",
        }
    }

    pub fn login_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::Usgov | Cloud::UsgovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
}

/// Where tokens come from and where Graph requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Graph root without a version, no trailing slash: requests go to `{graph}/v1.0/...` and `{graph}/beta/...`.
    pub graph: String,
    /// Login root, no trailing slash: tokens come from `{login}/{tenant}/oauth2/v2.0/token`.
    pub login: String,
}

impl Endpoints {
    /// The cloud's endpoints, with `--graph-url` / `--login-url` overrides applied.
    /// Plain `http` is refused unless the host is loopback (tests and the demo).
    pub fn resolve(
        cloud: Cloud,
        graph_url: Option<&str>,
        login_url: Option<&str>,
    ) -> Result<Self, String> {
        let graph = match graph_url {
            Some(u) => checked_root("--graph-url", u)?,
            None => cloud.graph_root().to_owned(),
        };
        let login = match login_url {
            Some(u) => checked_root("--login-url", u)?,
            None => cloud.login_root().to_owned(),
        };
        Ok(Endpoints { graph, login })
    }

    /// The Azure Resource Manager root for this run: `--arm-url` (checked like `--graph-url`), else the
    /// cloud's. `None` when `--graph-url` is overridden without `--arm-url`: a run pointed at another
    /// Graph (a test double, a proxy) must not send its credential to the real ARM behind the user's back.
    pub fn resolve_arm(
        cloud: Cloud,
        graph_url: Option<&str>,
        arm_url: Option<&str>,
    ) -> Result<Option<String>, String> {
        match (arm_url, graph_url) {
            (Some(u), _) => checked_root("--arm-url", u).map(Some),
            (None, Some(_)) => Ok(None),
            (None, None) => Ok(Some(cloud.arm_root().to_owned())),
        }
    }

    /// The same login endpoint with another resource root: the client and token provider built from it
    /// talk to that resource (`{root}/...`, scope `{root}/.default`) and send the token nowhere else.
    pub fn for_resource(&self, root: &str) -> Endpoints {
        Endpoints {
            graph: root.trim_end_matches('/').to_owned(),
            login: self.login.clone(),
        }
    }

    /// The `.default` scope of the Graph resource.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph)
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.login, tenant)
    }

    pub fn device_code_url(&self, tenant: &str) -> String {
        format!("{}/{}/oauth2/v2.0/devicecode", self.login, tenant)
    }

    /// Whether an absolute URL is under the Graph root: the only place the bearer token may go.
    pub fn is_graph_url(&self, url: &str) -> bool {
        url.strip_prefix(self.graph.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Absolute URL for a path such as `/v1.0/contracts`; an absolute URL passes through.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("https://") || path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}/{}", self.graph, path.trim_start_matches('/'))
        }
    }
}

fn checked_root(flag: &str, raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("{flag} {raw:?} is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{flag} {raw:?} uses plain http; only https is allowed, except for a loopback host (127.0.0.1, ::1, localhost)"
            ));
        }
        other => {
            return Err(format!(
                "{flag} {raw:?} has unsupported scheme {other:?}; use https"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{flag} {raw:?} must not carry a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_follow_the_design_contract() {
        let e = Endpoints::resolve(
            Cloud::Global,
            Some("http://127.0.0.1:8080/"),
            Some("http://localhost:9"),
        )
        .unwrap();
        assert_eq!(
            e.url("/v1.0/contracts"),
            "http://127.0.0.1:8080/v1.0/contracts"
        );
        assert_eq!(e.scope(), "http://127.0.0.1:8080/.default");
        assert_eq!(e.token_url("t1"), "http://localhost:9/t1/oauth2/v2.0/token");
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let err =
            Endpoints::resolve(Cloud::Global, Some("http://graph.example.com"), None).unwrap_err();
        assert!(err.contains("plain http"), "{err}");
        assert!(Endpoints::resolve(Cloud::Global, Some("ftp://x"), None).is_err());
        assert!(Endpoints::resolve(Cloud::Global, Some("http://[::1]:80"), None).is_ok());
    }

    #[test]
    fn arm_root_per_cloud_and_override_rules() {
        assert_eq!(
            Endpoints::resolve_arm(Cloud::Global, None, None).unwrap(),
            Some("https://management.azure.com".to_owned())
        );
        assert_eq!(
            Endpoints::resolve_arm(Cloud::China, None, None).unwrap(),
            Some("https://management.chinacloudapi.cn".to_owned())
        );
        assert_eq!(
            Endpoints::resolve_arm(Cloud::UsgovDod, None, None).unwrap(),
            Some("https://management.usgovcloudapi.net".to_owned())
        );
        // Graph overridden, ARM not: no ARM at all rather than the real one.
        assert_eq!(
            Endpoints::resolve_arm(Cloud::Global, Some("http://127.0.0.1:1"), None).unwrap(),
            None
        );
        let arm = Endpoints::resolve_arm(Cloud::Global, None, Some("http://127.0.0.1:9/arm/"))
            .unwrap()
            .unwrap();
        assert_eq!(arm, "http://127.0.0.1:9/arm");
        let err = Endpoints::resolve_arm(Cloud::Global, None, Some("http://arm.example.com"))
            .unwrap_err();
        assert!(
            err.contains("--arm-url") && err.contains("plain http"),
            "{err}"
        );
        let e = Endpoints::resolve(Cloud::Global, None, None).unwrap();
        let a = e.for_resource(&arm);
        assert_eq!(a.scope(), "http://127.0.0.1:9/arm/.default");
        assert_eq!(a.login, e.login);
        assert!(a.is_graph_url("http://127.0.0.1:9/arm/subscriptions"));
        assert!(!a.is_graph_url("http://127.0.0.1:9/v1.0/me"));
    }

    #[test]
    fn clouds_have_their_own_hosts() {
        let e = Endpoints::resolve(Cloud::UsgovDod, None, None).unwrap();
        assert_eq!(e.scope(), "https://dod-graph.microsoft.us/.default");
        assert_eq!(e.login, "https://login.microsoftonline.us");
        let c = Endpoints::resolve(Cloud::China, None, None).unwrap();
        assert_eq!(
            c.token_url("x"),
            "https://login.chinacloudapi.cn/x/oauth2/v2.0/token"
        );
    }
}
