//! OAuth 2.0 Protected Resource Metadata (RFC 9728) and `WWW-Authenticate` challenges
//! (RFC 6750 §3), as the MCP authorization specification uses them.
//!
//! An MCP server answers an unauthenticated request with
//!
//! ```text
//! HTTP/1.1 401 Unauthorized
//! WWW-Authenticate: Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
//! ```
//!
//! and a client follows `resource_metadata` to learn which authorization server to use,
//! and which `resource` (audience) to ask a token for.

use serde::{Deserialize, Serialize};

use crate::error::AuthError;

/// The well-known path prefix of RFC 9728 metadata.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// An RFC 9728 protected-resource metadata document.
///
/// ```
/// use mcp_auth::ProtectedResourceMetadata;
///
/// let meta = ProtectedResourceMetadata::new("https://mcp.example.com/mcp")
///     .authorization_server("https://idp.example.com")
///     .scopes(["read", "write"]);
/// assert_eq!(
///     meta.metadata_url().as_deref(),
///     Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
/// );
/// let json = serde_json::to_value(&meta)?;
/// assert_eq!(json["bearer_methods_supported"], serde_json::json!(["header"]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the audience tokens must carry.
    pub resource: String,
    /// Issuers of authorization servers that mint tokens for this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes this resource understands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be sent: only `header` (never a query string or body).
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Developer documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource` with header-only bearer tokens.
    #[must_use]
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// Adds an authorization server.
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Sets the supported scopes.
    #[must_use]
    pub fn scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.scopes_supported = scopes.into_iter().map(str::to_owned).collect();
        self
    }

    /// Sets the resource name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The path under which a server serves this document (RFC 9728 §3.1): the
    /// well-known prefix with the resource's path appended, e.g.
    /// `/.well-known/oauth-protected-resource/mcp`. `None` if `resource` is not a URL.
    #[must_use]
    pub fn metadata_path(&self) -> Option<String> {
        let url = url::Url::parse(&self.resource).ok()?;
        let path = url.path().trim_end_matches('/');
        Some(format!("{WELL_KNOWN_PATH}{path}"))
    }

    /// The absolute URL of this document, for `resource_metadata` in challenges.
    #[must_use]
    pub fn metadata_url(&self) -> Option<String> {
        let url = url::Url::parse(&self.resource).ok()?;
        let mut origin = url.origin().ascii_serialization();
        origin.push_str(&self.metadata_path()?);
        Some(origin)
    }
}

/// The `error` of a Bearer challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerErrorCode {
    /// The request is malformed (400).
    InvalidRequest,
    /// The token is missing-in-effect, expired, revoked or otherwise invalid (401).
    InvalidToken,
    /// The token lacks a needed scope (403).
    InsufficientScope,
}

impl BearerErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

/// Builds a `WWW-Authenticate: Bearer …` header value.
///
/// ```
/// use mcp_auth::BearerChallenge;
///
/// let h = BearerChallenge::insufficient_scope(["billing:read", "read"])
///     .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
///     .to_header_value();
/// assert_eq!(
///     h,
///     r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", error="insufficient_scope", scope="billing:read read""#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    resource_metadata: Option<String>,
    error: Option<BearerErrorCode>,
    description: Option<String>,
    scopes: Vec<String>,
}

impl BearerChallenge {
    /// A challenge with no error code: the request carried no credential (RFC 6750 §3.1
    /// says such a response should not include an error).
    #[must_use]
    pub fn missing_token() -> Self {
        Self::default()
    }

    /// `error="invalid_token"` with a description.
    #[must_use]
    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self {
            error: Some(BearerErrorCode::InvalidToken),
            description: Some(description.into()),
            ..Self::default()
        }
    }

    /// `error="insufficient_scope"` naming every scope the operation needs.
    #[must_use]
    pub fn insufficient_scope<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            error: Some(BearerErrorCode::InsufficientScope),
            scopes: scopes.into_iter().map(str::to_owned).collect(),
            ..Self::default()
        }
    }

    /// The challenge for an authentication failure.
    #[must_use]
    pub fn for_auth_error(error: &AuthError) -> Self {
        match error {
            AuthError::MissingCredentials => Self::missing_token(),
            AuthError::MalformedHeader(_) => Self {
                error: Some(BearerErrorCode::InvalidRequest),
                description: Some(error.to_string()),
                ..Self::default()
            },
            other => Self::invalid_token(other.to_string()),
        }
    }

    /// Adds `resource_metadata="…"` (RFC 9728 §5.1).
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The header value.
    #[must_use]
    pub fn to_header_value(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(url) = &self.resource_metadata {
            params.push(("resource_metadata", url.clone()));
        }
        if let Some(error) = self.error {
            params.push(("error", error.as_str().to_owned()));
        }
        if let Some(description) = &self.description {
            params.push(("error_description", description.clone()));
        }
        if !self.scopes.is_empty() {
            params.push(("scope", self.scopes.join(" ")));
        }
        let mut out = String::from("Bearer");
        for (i, (name, value)) in params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(name);
            out.push_str("=\"");
            push_quoted(&mut out, value);
            out.push('"');
        }
        out
    }
}

/// Writes `value` as the inside of an RFC 6750 quoted string: printable ASCII only
/// (`%x20-21 / %x23-5B / %x5D-7E`); anything else, including `"` and `\`, becomes `?`,
/// so no value can break out of its parameter or inject a header.
fn push_quoted(out: &mut String, value: &str) {
    out.extend(value.chars().map(|c| match c {
        '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
        _ => '?',
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths_table() {
        let cases = [
            ("https://mcp.example.com/mcp", "/.well-known/oauth-protected-resource/mcp"),
            ("https://mcp.example.com/", "/.well-known/oauth-protected-resource"),
            ("https://mcp.example.com", "/.well-known/oauth-protected-resource"),
            ("http://127.0.0.1:8080/a/b/", "/.well-known/oauth-protected-resource/a/b"),
        ];
        for (resource, path) in cases {
            assert_eq!(
                ProtectedResourceMetadata::new(resource).metadata_path().as_deref(),
                Some(path),
                "{resource}"
            );
        }
        assert_eq!(
            ProtectedResourceMetadata::new("http://127.0.0.1:8080/mcp").metadata_url().as_deref(),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn challenge_values_cannot_break_out() {
        let h = BearerChallenge::invalid_token("bad \"token\"\r\nX-Injected: 1").to_header_value();
        assert_eq!(h, r#"Bearer error="invalid_token", error_description="bad ?token???X-Injected: 1""#);
    }

    #[test]
    fn challenges_for_auth_errors() {
        assert_eq!(
            BearerChallenge::for_auth_error(&AuthError::MissingCredentials).to_header_value(),
            "Bearer"
        );
        let h = BearerChallenge::for_auth_error(&AuthError::Expired)
            .resource_metadata("https://x/m")
            .to_header_value();
        assert_eq!(
            h,
            r#"Bearer resource_metadata="https://x/m", error="invalid_token", error_description="the token has expired""#
        );
    }
}
