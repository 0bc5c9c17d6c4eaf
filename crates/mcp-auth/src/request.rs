//! [`AuthRequest`]: the request metadata a provider sees, and credential extraction.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{AUTHORIZATION, USER_AGENT};

use crate::error::AuthError;

/// What an authentication provider may look at: the request's headers and the peer's
/// address. Never the body, never the query string (tokens in URLs end up in proxy and
/// server logs, so Palisade refuses them before a provider runs).
#[derive(Clone, Copy)]
pub struct AuthRequest<'a> {
    headers: &'a HeaderMap,
    peer_ip: Option<IpAddr>,
}

impl std::fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header names only: values carry credentials.
        let names: Vec<&str> = self.headers.keys().map(http::HeaderName::as_str).collect();
        f.debug_struct("AuthRequest").field("header_names", &names).field("peer_ip", &self.peer_ip).finish()
    }
}

impl<'a> AuthRequest<'a> {
    /// Wraps a request's headers and peer address.
    #[must_use]
    pub fn new(headers: &'a HeaderMap, peer_ip: Option<IpAddr>) -> Self {
        Self { headers, peer_ip }
    }

    /// The request headers.
    #[must_use]
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The peer's IP address, when known.
    #[must_use]
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer_ip
    }

    /// The `User-Agent` header, if present and visible ASCII.
    #[must_use]
    pub fn user_agent(&self) -> Option<&'a str> {
        self.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
    }

    /// The bearer token from `Authorization: Bearer <token>`.
    ///
    /// The scheme is matched case-insensitively (RFC 9110 §11.1); exactly one
    /// `Authorization` header must be present; the token must be an RFC 6750 `b64token`.
    ///
    /// # Errors
    /// [`AuthError::MissingCredentials`] without a header,
    /// [`AuthError::UnrecognizedCredential`] for another scheme (e.g. `Basic`), and
    /// [`AuthError::MalformedHeader`] for anything malformed.
    pub fn bearer_token(&self) -> Result<&'a str, AuthError> {
        let mut values = self.headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(AuthError::MissingCredentials);
        };
        if values.next().is_some() {
            return Err(AuthError::MalformedHeader("more than one Authorization header"));
        }
        let value = value.to_str().map_err(|_| AuthError::MalformedHeader("not visible ASCII"))?;
        let (scheme, token) =
            value.split_once(' ').ok_or(AuthError::MalformedHeader("expected 'Bearer <token>'"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::UnrecognizedCredential);
        }
        let token = token.trim_start_matches(' ');
        if token.is_empty() {
            return Err(AuthError::MalformedHeader("empty bearer token"));
        }
        if !is_b64token(token) {
            return Err(AuthError::MalformedHeader(
                "the bearer token has characters outside RFC 6750 b64token",
            ));
        }
        Ok(token)
    }
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn extract(values: &[&str]) -> Result<String, AuthError> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(v).expect("header"));
        }
        AuthRequest::new(&headers, None).bearer_token().map(str::to_owned)
    }

    #[test]
    fn bearer_extraction_table() {
        let cases: &[(&[&str], Result<&str, &str>)] = &[
            (&[], Err("missing_credentials")),
            (&["Bearer abc.def.ghi"], Ok("abc.def.ghi")),
            (&["bearer abc"], Ok("abc")),
            (&["BEARER abc"], Ok("abc")),
            (&["Bearer   abc"], Ok("abc")),
            (&["Basic dXNlcjpwYXNz"], Err("unrecognized_credential")),
            (&["Bearer"], Err("malformed_authorization_header")),
            (&["Bearer "], Err("malformed_authorization_header")),
            (&["Bearer a b"], Err("malformed_authorization_header")),
            (&["Bearer abc", "Bearer def"], Err("malformed_authorization_header")),
            (&["Bearer ==="], Err("malformed_authorization_header")),
            (&["Bearer ab\"c"], Err("malformed_authorization_header")),
        ];
        for (headers, expected) in cases {
            let got = extract(headers);
            match (expected, &got) {
                (Ok(token), Ok(t)) => assert_eq!(t, token),
                (Err(code), Err(e)) => {
                    assert_eq!(identity_types::ErrorCode::code(e), *code, "{headers:?}");
                }
                _ => panic!("{headers:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }
}
