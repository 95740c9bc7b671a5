//! A ready access token (GRAPH_ACCESS_TOKEN): used as is, never refreshed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};

use super::{AccessToken, AuthError, BoxFuture, TokenProvider};

/// Lifetime assumed when the token is not a JWT with an `exp` claim.
pub const ASSUMED_LIFETIME: Duration = Duration::from_secs(3600);

/// Longest lifetime believed: Entra tokens live at most about a day, and a claim beyond that (an
/// `exp` of 1e300) is treated as expiring at the cap rather than overflowing the clock.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Hands out the one token it was given.
pub struct StaticToken {
    token: AccessToken,
    /// Unix seconds of the JWT `exp`, when known (for messages).
    exp: Option<u64>,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &self.token)
            .field("exp", &self.exp)
            .finish()
    }
}

impl StaticToken {
    pub fn new(secret: SecretString) -> Result<Self, AuthError> {
        let raw = secret.expose_secret().trim();
        if raw.is_empty() {
            return Err(AuthError::Config(
                "GRAPH_ACCESS_TOKEN is set but empty".into(),
            ));
        }
        let raw = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
        let exp = jwt_exp(raw);
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let lifetime = match exp {
            Some(exp) if exp <= now_unix => {
                let ago = now_unix.saturating_sub(exp);
                return Err(AuthError::Config(format!(
                    "the token in GRAPH_ACCESS_TOKEN expired {} ago ({}); supply a fresh GRAPH_ACCESS_TOKEN or use another credential",
                    humanize(ago),
                    format_unix(exp)
                )));
            }
            Some(exp) => Duration::from_secs(exp.saturating_sub(now_unix)).min(MAX_TOKEN_LIFETIME),
            None => ASSUMED_LIFETIME,
        };
        let token = AccessToken {
            secret: SecretString::from(raw),
            expires_at: expiry(Instant::now(), lifetime),
            generation: 1,
        };
        Ok(StaticToken { token, exp })
    }

    /// `exp` of the token, if it is a JWT carrying one (Unix seconds).
    pub fn exp(&self) -> Option<u64> {
        self.exp
    }

    fn rejected_error(&self, expired: bool) -> AuthError {
        let when = match self.exp {
            Some(exp) => format!(" (it expires {})", format_unix(exp)),
            None => String::new(),
        };
        let description = if expired {
            format!(
                "the access token from GRAPH_ACCESS_TOKEN has expired{when}; a ready token cannot be refreshed"
            )
        } else {
            format!(
                "Graph rejected the access token from GRAPH_ACCESS_TOKEN{when}; a ready token cannot be refreshed"
            )
        };
        AuthError::Rejected {
            aadsts: None,
            error: "invalid_token".into(),
            description,
            hint: "Supply a fresh token in GRAPH_ACCESS_TOKEN (for the right tenant and with the Graph audience), or use a credential that can refresh: certificate, client secret, federated token or --device-code.".into(),
        }
    }
}

impl TokenProvider for StaticToken {
    fn token(&self, rejected: Option<u64>) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            if rejected.is_some_and(|g| g >= self.token.generation) {
                return Err(self.rejected_error(false));
            }
            if Instant::now() >= self.token.expires_at {
                return Err(self.rejected_error(true));
            }
            Ok(self.token.clone())
        })
    }

    fn kind(&self) -> &'static str {
        "access token"
    }
}

/// `now + lifetime` on the monotonic clock, capped at [`MAX_TOKEN_LIFETIME`] and never overflowing.
pub fn expiry(now: Instant, lifetime: Duration) -> Instant {
    let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
    now.checked_add(lifetime)
        .or_else(|| now.checked_add(Duration::from_secs(60)))
        .unwrap_or(now)
}

/// The `exp` claim of a JWT in Unix seconds, decoded without verifying the signature (we only want a
/// lifetime). A negative or fractional number is read as the second it denotes (clamped at 0, i.e.
/// long expired; beyond `u64` saturates); a missing or non-numeric `exp` (a string, `null`) is `None`,
/// as for an opaque token: the token is then assumed to live [`ASSUMED_LIFETIME`] and Graph decides.
pub fn jwt_exp(token: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: Option<serde_json::Value>,
    }
    let claims: Exp = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    match claims.exp? {
        // `as` saturates a float (and maps NaN to 0); JSON cannot hold NaN or infinity anyway.
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        _ => None,
    }
}

fn format_unix(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

fn humanize(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn fake_jwt(claims: serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{h}.{c}.c2lnbmF0dXJl")
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn opaque_token_is_valid_for_an_hour_and_cannot_be_refreshed() {
        let p = StaticToken::new(SecretString::from("opaque-token-value")).unwrap();
        let t = p.token(None).await.unwrap();
        assert_eq!(t.secret.expose_secret(), "opaque-token-value");
        assert_eq!(t.generation, 1);
        let left = t.expires_at - Instant::now();
        assert!(
            left > Duration::from_secs(3590) && left <= ASSUMED_LIFETIME,
            "{left:?}"
        );
        assert_eq!(p.kind(), "access token");
        // An older generation is not this token: still served.
        assert!(p.token(Some(0)).await.is_ok());
        let err = p.token(Some(1)).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("GRAPH_ACCESS_TOKEN") && text.contains("fresh"),
            "{text}"
        );
        assert!(!text.contains("opaque-token-value"), "{text}");
    }

    #[tokio::test]
    async fn jwt_exp_sets_the_lifetime() {
        let exp = now() + 600;
        let jwt = fake_jwt(serde_json::json!({"aud": "https://graph.microsoft.com", "exp": exp}));
        assert_eq!(jwt_exp(&jwt), Some(exp));
        let p = StaticToken::new(SecretString::from(format!("Bearer {jwt}\n"))).unwrap();
        let t = p.token(None).await.unwrap();
        assert_eq!(
            t.secret.expose_secret(),
            jwt,
            "the Bearer prefix and whitespace are dropped"
        );
        let left = t.expires_at - Instant::now();
        assert!(
            left > Duration::from_secs(590) && left <= Duration::from_secs(600),
            "{left:?}"
        );
        assert_eq!(p.exp(), Some(exp));
    }

    #[test]
    fn expired_jwt_is_refused_up_front() {
        let jwt = fake_jwt(serde_json::json!({"exp": now() - 3600}));
        let err = StaticToken::new(SecretString::from(jwt.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expired") && err.contains("GRAPH_ACCESS_TOKEN"),
            "{err}"
        );
        assert!(!err.contains(&jwt));
        assert!(StaticToken::new(SecretString::from("  ")).is_err());
    }

    #[test]
    fn non_jwt_has_no_exp() {
        assert_eq!(jwt_exp("abc"), None);
        assert_eq!(jwt_exp("a.b.c"), None);
        assert_eq!(jwt_exp(&fake_jwt(serde_json::json!({"sub": "x"}))), None);
    }

    /// #3: an `exp` too large for the clock (1e300, u64::MAX, beyond u64) neither panics nor is
    /// believed beyond [`MAX_TOKEN_LIFETIME`].
    #[tokio::test]
    async fn absurd_exp_is_capped_at_a_day() {
        for exp in [
            serde_json::json!(1e300),
            serde_json::json!(u64::MAX),
            serde_json::json!(1.8e19),
            serde_json::json!(now() + 10 * 365 * 24 * 3600),
        ] {
            let jwt = fake_jwt(serde_json::json!({ "exp": exp }));
            let p = StaticToken::new(SecretString::from(jwt)).unwrap();
            let t = p.token(None).await.unwrap();
            let left = t.expires_at - Instant::now();
            assert!(
                left <= MAX_TOKEN_LIFETIME && left > MAX_TOKEN_LIFETIME - Duration::from_secs(10),
                "{exp}: {left:?}"
            );
            assert!(
                p.rejected_error(true)
                    .to_string()
                    .contains("GRAPH_ACCESS_TOKEN")
            );
        }
    }

    /// #3: `exp` in the past or negative is "expired"; a string, null or missing `exp` is read as no
    /// expiry (the assumed hour, Graph decides); nothing panics.
    #[tokio::test]
    async fn odd_exp_claims_have_clear_behaviour() {
        for exp in [
            serde_json::json!(-1),
            serde_json::json!(-1e300),
            serde_json::json!(0.5),
        ] {
            let err = StaticToken::new(SecretString::from(fake_jwt(
                serde_json::json!({ "exp": exp }),
            )))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("expired") && err.contains("1970-01-01"),
                "{exp}: {err}"
            );
        }
        for claims in [
            serde_json::json!({"exp": "NaN"}),
            serde_json::json!({"exp": "1700000000"}),
            serde_json::json!({"exp": null}),
            serde_json::json!({"exp": [1]}),
            serde_json::json!({}),
        ] {
            let p = StaticToken::new(SecretString::from(fake_jwt(claims.clone()))).unwrap();
            assert_eq!(p.exp(), None, "{claims}");
            let left = p.token(None).await.unwrap().expires_at - Instant::now();
            assert!(
                left <= ASSUMED_LIFETIME && left > Duration::from_secs(3590),
                "{claims}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any string as GRAPH_ACCESS_TOKEN: a token with a sane expiry, or a clear error; no panic.
        #[test]
        fn any_string_as_token_never_panics(raw in ".{0,200}") {
            check_token(&raw)?;
        }

        /// Any JSON claims (numbers of every size and sign, strings, nesting) in a JWT: no panic.
        #[test]
        fn any_claims_never_panic(claims in json_value(), exp in json_value()) {
            check_token(&fake_jwt(serde_json::json!({ "exp": exp, "tid": claims.clone(), "x": claims })))?;
        }
    }

    fn check_token(raw: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        match StaticToken::new(SecretString::from(raw)) {
            Ok(p) => {
                let left = p.token.expires_at.saturating_duration_since(Instant::now());
                proptest::prop_assert!(left <= MAX_TOKEN_LIFETIME, "{left:?}");
            }
            Err(e) => proptest::prop_assert!(e.to_string().contains("GRAPH_ACCESS_TOKEN")),
        }
        let _ = super::super::token_tenant_id(raw);
        Ok(())
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn debug_is_redacted() {
        let p = StaticToken::new(SecretString::from("opaque-token-value")).unwrap();
        assert!(!format!("{p:?}").contains("opaque-token-value"));
    }
}
