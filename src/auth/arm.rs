//! Tokens for Azure Resource Manager, the second resource: the same credential as Graph, asked for the
//! scope `{arm}/.default` at the same token endpoint. A ready Graph token (`GRAPH_ACCESS_TOKEN`) or a
//! device-code sign-in cannot be turned into an ARM token; `AZURE_ARM_ACCESS_TOKEN` may supply one.

use std::sync::Arc;

use secrecy::SecretString;

use super::{AuthError, AuthSettings, StaticToken, TokenProvider};
use crate::graph::cloud::Endpoints;

/// How ARM tokens will be obtained, or why they cannot be.
pub enum ArmTokens {
    Provider(Arc<dyn TokenProvider>),
    /// Azure is not audited; the sentence says why and what to set.
    Unavailable(String),
}

impl std::fmt::Debug for ArmTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmTokens::Provider(p) => write!(f, "Provider({})", p.kind()),
            ArmTokens::Unavailable(why) => write!(f, "Unavailable({why:?})"),
        }
    }
}

/// The ARM token provider for the Graph credential `graph` and the ARM root `arm_root`. `arm_token` is
/// `AZURE_ARM_ACCESS_TOKEN`: when set it is used as is, whatever the Graph credential.
pub fn arm_tokens(
    graph: &AuthSettings,
    arm_root: &str,
    arm_token: Option<SecretString>,
) -> Result<ArmTokens, AuthError> {
    let endpoints: Endpoints = graph.endpoints.for_resource(arm_root);
    let scope = endpoints.scope();
    if let Some(token) = arm_token {
        return match StaticToken::new(token) {
            Ok(t) => Ok(ArmTokens::Provider(Arc::new(t))),
            // The checks are the Graph token's; name the variable that was really read.
            Err(e) => Ok(ArmTokens::Unavailable(format!(
                "Azure was not audited: {}",
                e.to_string()
                    .replace("GRAPH_ACCESS_TOKEN", "AZURE_ARM_ACCESS_TOKEN")
            ))),
        };
    }
    let hint = format!(
        "set AZURE_ARM_ACCESS_TOKEN to a token for {scope} (e.g. `az account get-access-token --resource {arm_root}`), or use an app credential (client secret, certificate, federated token)"
    );
    use super::chain::CredentialKind;
    let forced = graph.credential;
    // What the credential chain would pick for Graph (chain.rs): a ready Graph token or a device-code
    // sign-in cannot serve another resource.
    let graph_token = forced == Some(CredentialKind::AccessToken)
        || (forced.is_none()
            && !graph.device_code
            && graph.refresh_token.is_none()
            && graph.access_token.is_some());
    let device_code = graph.device_code || forced == Some(CredentialKind::DeviceCode);
    match (graph_token, device_code) {
        (true, _) => Ok(ArmTokens::Unavailable(format!(
            "Azure was not audited: GRAPH_ACCESS_TOKEN is a Microsoft Graph token and cannot call Azure Resource Manager; {hint}."
        ))),
        (_, true) => Ok(ArmTokens::Unavailable(format!(
            "Azure was not audited: the device-code sign-in is for Microsoft Graph only; {hint}."
        ))),
        _ => {
            let mut settings = graph.clone();
            settings.endpoints = endpoints;
            settings.access_token = None;
            settings.device_code = false;
            super::provider(settings, reqwest::Client::new()).map(ArmTokens::Provider)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_settings() -> AuthSettings {
        let e = Endpoints::resolve(Default::default(), None, None).unwrap();
        let mut s = AuthSettings::new("contoso.onmicrosoft.com", e);
        s.client_id = Some("app".into());
        s
    }

    #[test]
    fn same_credential_other_scope_or_a_reason() {
        let mut s = graph_settings();
        s.client_secret = Some(SecretString::from("x"));
        let t = arm_tokens(&s, "https://management.azure.com", None).unwrap();
        assert!(matches!(&t, ArmTokens::Provider(p) if p.kind() == "client secret"));

        s.access_token = Some(SecretString::from("graph-token"));
        let ArmTokens::Unavailable(why) =
            arm_tokens(&s, "https://management.azure.com", None).unwrap()
        else {
            panic!("a Graph token cannot serve ARM");
        };
        assert!(
            why.contains("AZURE_ARM_ACCESS_TOKEN")
                && why.contains("https://management.azure.com/.default"),
            "{why}"
        );
        assert!(!why.contains("graph-token"));

        let t = arm_tokens(
            &s,
            "https://management.azure.com",
            Some(SecretString::from("arm-token")),
        )
        .unwrap();
        assert!(matches!(t, ArmTokens::Provider(_)));

        let ArmTokens::Unavailable(why) = arm_tokens(
            &s,
            "https://management.azure.com",
            Some(SecretString::from("  ")),
        )
        .unwrap() else {
            panic!("an empty ARM token is refused");
        };
        assert!(
            why.contains("AZURE_ARM_ACCESS_TOKEN") && !why.contains("GRAPH_ACCESS_TOKEN"),
            "{why}"
        );

        let mut d = graph_settings();
        d.device_code = true;
        assert!(matches!(
            arm_tokens(&d, "https://management.azure.com", None).unwrap(),
            ArmTokens::Unavailable(_)
        ));
    }
}
