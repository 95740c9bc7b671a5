//! Loading a tenant's recorded routes from a fixture directory.
//!
//! Layout: one directory per tenant holding `tenant.json` (`{"tenantId": "...", "displayName": "..."}`)
//! and any number of other `*.json` files, each `{"routes": {"<route key>": <body>, ...}}`. A route key
//! is a path without query string starting with `/v1.0/` or `/beta/`, optionally prefixed by a method
//! (`POST /v1.0/directoryObjects/getByIds`; no prefix means GET), or an Azure Resource Manager path
//! (`/subscriptions...`, `/providers/...`, GET only; served under [`super::FakeGraph::arm_url`]). Keys starting with `_` at the top
//! level of a file (comments) are ignored.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::FakeTenant;

impl FakeTenant {
    /// A tenant with no routes (every Graph path answers 404); add routes with [`FakeTenant::with_route`].
    pub fn new(tenant_id: impl Into<String>) -> FakeTenant {
        FakeTenant {
            tenant_id: tenant_id.into(),
            routes: BTreeMap::new(),
            generated_sign_ins: None,
            consented_clients: None,
            gdap_partners: Vec::new(),
            throttle: None,
        }
    }

    /// Adds (or replaces) one route.
    pub fn with_route(mut self, key: impl Into<String>, body: Value) -> FakeTenant {
        self.routes.insert(key.into(), body);
        self
    }

    /// Loads a fixture directory (see the module docs). Errors name the file and the problem; a route
    /// defined in two files names both.
    pub fn from_dir(path: &Path) -> Result<FakeTenant, String> {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        files.sort();
        let mut sources = Vec::with_capacity(files.len());
        for file in &files {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            sources.push((name, text));
        }
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        FakeTenant::from_sources(&borrowed).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Same as [`FakeTenant::from_dir`] from `(file name, JSON text)` pairs, one of them `tenant.json`:
    /// for fixtures embedded in the binary (`include_str!`).
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<FakeTenant, String> {
        let parse = |name: &str, text: &str| -> Result<Value, String> {
            serde_json::from_str(text).map_err(|e| format!("{name}: invalid JSON: {e}"))
        };
        let (_, tenant_text) = sources
            .iter()
            .find(|(n, _)| *n == "tenant.json")
            .ok_or("missing tenant.json")?;
        let tenant = parse("tenant.json", tenant_text)?;
        let tenant_id = tenant
            .get("tenantId")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or("tenant.json: missing string \"tenantId\"")?
            .to_owned();

        let mut sorted: Vec<&(&str, &str)> = sources
            .iter()
            .filter(|(n, _)| *n != "tenant.json")
            .collect();
        sorted.sort_by_key(|(n, _)| *n);
        let mut routes = BTreeMap::new();
        let mut origin: BTreeMap<String, &str> = BTreeMap::new();
        for (name, text) in sorted {
            let Value::Object(top) = parse(name, text)? else {
                return Err(format!(
                    "{name}: expected an object {{\"routes\": {{...}}}}"
                ));
            };
            for key in top.keys() {
                if key != "routes" && !key.starts_with('_') {
                    return Err(format!(
                        "{name}: unexpected top-level key {key:?} (only \"routes\")"
                    ));
                }
            }
            let Some(Value::Object(file_routes)) = top.get("routes") else {
                return Err(format!("{name}: missing object \"routes\""));
            };
            for (key, body) in file_routes {
                let (method, route_path) =
                    split_route_key(key).map_err(|e| format!("{name}: route {key:?}: {e}"))?;
                let normal = route_id(&method, &route_path);
                if let Some(first) = origin.get(&normal) {
                    return Err(format!("duplicate route {key:?} in {first} and {name}"));
                }
                origin.insert(normal, name);
                routes.insert(key.clone(), body.clone());
            }
        }
        Ok(FakeTenant {
            routes,
            ..FakeTenant::new(tenant_id)
        })
    }
}

/// Splits `"POST /v1.0/x"` into `("POST", "/v1.0/x")`; a bare path is a GET. Checks the path's shape.
pub(crate) fn split_route_key(key: &str) -> Result<(String, String), String> {
    let key = key.trim();
    let (method, path) = match key.split_once(' ') {
        Some((m, p)) => (m.trim().to_ascii_uppercase(), p.trim()),
        None => ("GET".to_owned(), key),
    };
    if !matches!(method.as_str(), "GET" | "POST") {
        return Err(format!("unsupported method {method} (GET or POST)"));
    }
    let arm = path == "/subscriptions"
        || path.starts_with("/subscriptions/")
        || path.starts_with("/providers/");
    if !(path.starts_with("/v1.0/") || path.starts_with("/beta/") || arm) {
        return Err(
            "the path must start with /v1.0/ or /beta/ (Graph), or /subscriptions or /providers/ (Azure Resource Manager)"
                .to_owned(),
        );
    }
    if arm && method != "GET" {
        return Err("Azure Resource Manager routes are GET only".to_owned());
    }
    if path.contains('?') {
        return Err("the path must not contain a query string".to_owned());
    }
    Ok((method, path.to_owned()))
}

/// The lookup key of a route: `GET /v1.0/x` or `POST /v1.0/x`.
pub(crate) fn route_id(method: &str, path: &str) -> String {
    format!("{method} {path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys() {
        assert_eq!(
            split_route_key("/v1.0/contracts").unwrap(),
            ("GET".into(), "/v1.0/contracts".into())
        );
        assert_eq!(
            split_route_key("post /v1.0/directoryObjects/getByIds").unwrap(),
            ("POST".into(), "/v1.0/directoryObjects/getByIds".into())
        );
        assert!(split_route_key("/v2.0/contracts").is_err());
        assert!(split_route_key("/v1.0/contracts?$top=1").is_err());
        assert!(split_route_key("DELETE /v1.0/contracts").is_err());
    }

    #[test]
    fn duplicate_routes_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tenant.json"),
            r#"{"tenantId":"t1","displayName":"T"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"routes":{"/v1.0/contracts":{"value":[]}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"routes":{"GET /v1.0/contracts":{"value":[]}}}"#,
        )
        .unwrap();
        let err = FakeTenant::from_dir(dir.path()).unwrap_err();
        assert!(err.contains("a.json") && err.contains("b.json"), "{err}");
    }

    #[test]
    fn loads_from_embedded_sources() {
        let t = FakeTenant::from_sources(&[
            (
                "routes.json",
                r#"{"routes":{"POST /v1.0/directoryObjects/getByIds":{"value":[]}}}"#,
            ),
            ("tenant.json", r#"{"tenantId":"t2"}"#),
        ])
        .unwrap();
        assert_eq!(t.tenant_id, "t2");
        assert!(
            t.routes
                .contains_key("POST /v1.0/directoryObjects/getByIds")
        );
        assert!(
            FakeTenant::from_sources(&[("a.json", "{}")])
                .unwrap_err()
                .contains("tenant.json")
        );
    }

    #[test]
    fn loads_and_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            FakeTenant::from_dir(dir.path())
                .unwrap_err()
                .contains("tenant.json")
        );
        std::fs::write(dir.path().join("tenant.json"), r#"{"tenantId":"t1"}"#).unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"_comment":"x","routes":{"/v1.0/contracts":{"value":[]}}}"#,
        )
        .unwrap();
        let t = FakeTenant::from_dir(dir.path()).unwrap();
        assert_eq!(t.tenant_id, "t1");
        assert_eq!(t.routes.len(), 1);
        std::fs::write(dir.path().join("b.json"), r#"{"route":{}}"#).unwrap();
        assert!(
            FakeTenant::from_dir(dir.path())
                .unwrap_err()
                .contains("b.json")
        );
    }
}
