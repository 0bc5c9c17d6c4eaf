//! The outbound HTTP client for key discovery and introspection.

use std::time::Duration;

use reqwest::Url;

use crate::error::ConfigError;

/// Largest response body read from an IdP (discovery document, JWKS, introspection).
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A client with TLS through rustls and `ring` (the one crypto provider of the
/// workspace), bounded timeouts and no redirects: an IdP that redirects key fetches
/// elsewhere is misconfigured or compromised.
pub(crate) fn build(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    // reqwest is built without a bundled provider; install ring's unless the application
    // already chose one (then that one is used and this is a no-op).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("palisade-mcp-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::HttpClient(e.to_string()))
}

/// Parses `url` and requires HTTPS, except to loopback hosts (tests, sidecars), where
/// plain HTTP never leaves the machine.
pub(crate) fn checked_url(url: &str) -> Result<Url, ConfigError> {
    let parsed =
        Url::parse(url).map_err(|_| ConfigError::InvalidUrl { url: url.to_owned(), reason: "not a URL" })?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        "http" => Err(ConfigError::InvalidUrl {
            url: url.to_owned(),
            reason: "plain HTTP is only allowed to loopback hosts",
        }),
        _ => Err(ConfigError::InvalidUrl { url: url.to_owned(), reason: "the scheme must be https" }),
    }
}

/// GETs or POSTs and reads a JSON body of at most [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_json(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    let mut response = request.send().await.map_err(|e| format!("request failed: {}", without_url(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    if response.content_length().is_some_and(|len| len > MAX_RESPONSE_BYTES as u64) {
        return Err("response too large".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| format!("reading the body failed: {}", without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err("response too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| "the response is not JSON".to_owned())
}

fn without_url(error: &reqwest::Error) -> String {
    // Introspection URLs can carry credentials in odd deployments; never echo them.
    let mut e = String::new();
    if error.is_timeout() {
        e.push_str("timed out");
    } else if error.is_connect() {
        e.push_str("could not connect");
    } else {
        e.push_str("transport error");
    }
    e
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_policy_table() {
        let cases = [
            ("https://idp.example.com/jwks", true),
            ("http://127.0.0.1:8080/jwks", true),
            ("http://localhost/jwks", true),
            ("http://[::1]:9/jwks", true),
            ("http://idp.example.com/jwks", false),
            ("http://10.0.0.1/jwks", false),
            ("ftp://idp.example.com/jwks", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            assert_eq!(super::checked_url(url).is_ok(), ok, "{url}");
        }
    }
}
