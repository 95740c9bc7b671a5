//! HTTP for token requests: a reqwest 0.13 client that never follows redirects, the closure adapter
//! that makes it an oauth2 `AsyncHttpClient`, and the mapping of oauth2 errors to `AuthError`.

use std::error::Error as _;
use std::time::Duration;

use oauth2::RequestTokenError;
use reqwest::StatusCode;

use super::errors::{EntraErrorBody, HintContext};
use super::{AuthError, BoxFuture};

/// A client for token requests: no redirects (a 307/308 would resend the secret or assertion to the
/// new location), bounded timeouts, rustls.
pub fn token_http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("gdap-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            AuthError::Config(format!(
                "cannot set up HTTP for token requests: {}",
                describe(&e)
            ))
        })
}

/// Why the adapter produced no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{}", describe(.0))]
    Send(reqwest::Error),
    #[error("refused to follow a redirect (HTTP {0}) from the token endpoint")]
    Redirect(StatusCode),
    #[error("HTTP {0} without an OAuth error body")]
    Status(StatusCode),
}

/// oauth2 5 on reqwest 0.13: a closure is an `AsyncHttpClient`. It owns a clone of the client and
/// returns a `'static` future, which keeps the token futures `Send` (a closure borrowing the client
/// trips a higher-ranked lifetime limitation).
pub fn adapter(
    client: &reqwest::Client,
) -> impl Fn(oauth2::HttpRequest) -> BoxFuture<'static, Result<oauth2::HttpResponse, HttpError>>
+ Send
+ Sync
+ use<> {
    let client = client.clone();
    move |req| {
        let client = client.clone();
        Box::pin(async move { send(&client, req).await })
    }
}

/// Send one oauth2 request.
pub async fn send(
    client: &reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let req = reqwest::Request::try_from(req).map_err(HttpError::Send)?;
    let resp = client.execute(req).await.map_err(HttpError::Send)?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(HttpError::Redirect(status));
    }
    let mut builder = http::Response::builder().status(status);
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let body = resp.bytes().await.map_err(HttpError::Send)?.to_vec();
    if !status.is_success() && EntraErrorBody::parse(&body).is_none() {
        // A proxy page, an HTML 5xx...: say the status, never echo the body.
        return Err(HttpError::Status(status));
    }
    Ok(builder
        .body(body)
        .expect("status and headers come from a valid response"))
}

/// A reqwest error with its causes, without the URL (the caller names the URL itself).
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "request failed"
    };
    out.push_str(kind);
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `url` without query, fragment or credentials, for messages.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// Map an oauth2 request error to `AuthError`. Never includes a response body (a half-parsed
/// success response would carry the token).
pub fn map_request_error<TE>(
    err: RequestTokenError<HttpError, TE>,
    url: &str,
    ctx: &HintContext,
) -> AuthError
where
    TE: oauth2::ErrorResponse + 'static,
    for<'a> &'a TE: Into<EntraErrorBody>,
{
    match err {
        RequestTokenError::ServerResponse(e) => (&e).into().into_auth_error(ctx),
        RequestTokenError::Request(e) => AuthError::Transport {
            url: display_url(url),
            detail: e.to_string(),
        },
        RequestTokenError::Parse(e, body) => {
            if let Some(entra) = EntraErrorBody::parse(&body) {
                return entra.into_auth_error(ctx);
            }
            let path = e.path().to_string();
            let category = match e.inner().classify() {
                serde_json::error::Category::Io => "I/O error",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "unexpected JSON",
                serde_json::error::Category::Eof => "truncated JSON",
            };
            AuthError::Transport {
                url: display_url(url),
                detail: format!("could not read the token response ({category} at `{path}`)"),
            }
        }
        RequestTokenError::Other(detail) => AuthError::Transport {
            url: display_url(url),
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_and_credentials() {
        assert_eq!(
            display_url("https://user:pw@login.example.com/t/oauth2/v2.0/token?x=secret#f"),
            "https://login.example.com/t/oauth2/v2.0/token"
        );
        assert_eq!(display_url("not a url?q=1"), "not a url");
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error_naming_the_url() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/tenant/oauth2/v2.0/token");
        let client = token_http_client().unwrap();
        let req = http::Request::builder()
            .method("POST")
            .uri(&url)
            .body(b"client_secret=hush".to_vec())
            .unwrap();
        let err = send(&client, req).await.unwrap_err();
        let mapped = map_request_error::<EntraErrorBody>(
            RequestTokenError::Request(err),
            &url,
            &HintContext::default(),
        );
        let text = mapped.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("connect"), "{text}");
        assert!(!text.contains("hush"), "{text}");
    }
}
