//! [`IntrospectionAuth`]: opaque tokens checked with the authorization server
//! (OAuth 2.0 Token Introspection, RFC 7662).
//!
//! This is also the worked example of a custom [`AuthProvider`]: a struct holding its
//! configuration, an `authenticate` that returns a boxed future, typed errors, and the
//! shared [`ClaimMapping`] to build the context.

use std::time::Duration;

use identity_types::{AuthMethod, ClientContext, SecretString, unix_now};
use reqwest::Url;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::claims::ClaimMapping;
use crate::error::{AuthError, ConfigError};
use crate::http_client;
use crate::provider::{AuthProvider, BoxFuture};
use crate::request::AuthRequest;

/// Sends each bearer token to an introspection endpoint and admits it only if the
/// server says it is `active`, unexpired, and issued for this resource.
///
/// Results are not cached: every request costs one round trip, which is the price of
/// instant revocation. Put [`JwtAuth`](crate::JwtAuth) first in a
/// [`ChainAuth`](crate::ChainAuth) if most tokens are JWTs.
pub struct IntrospectionAuth {
    client: reqwest::Client,
    endpoint: Url,
    client_id: String,
    client_secret: SecretString,
    audience: Option<String>,
    mapping: ClaimMapping,
}

impl IntrospectionAuth {
    /// A provider for `endpoint`, authenticating to it with HTTP Basic
    /// (`client_id`, `client_secret`), accepting only tokens whose `aud` contains
    /// `audience`. Pass `None` to skip the audience check (say why where you do).
    ///
    /// # Errors
    /// [`ConfigError::InvalidUrl`] for a non-HTTPS endpoint off loopback, or
    /// [`ConfigError::HttpClient`].
    pub fn new(
        endpoint: &str,
        client_id: impl Into<String>,
        client_secret: SecretString,
        audience: Option<String>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            client: http_client::build(Duration::from_secs(5))?,
            endpoint: http_client::checked_url(endpoint)?,
            client_id: client_id.into(),
            client_secret,
            audience,
            mapping: ClaimMapping::default(),
        })
    }

    /// Uses another claim mapping.
    #[must_use]
    pub fn claim_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    async fn introspect(&self, token: &str) -> Result<ClientContext, AuthError> {
        let request = self
            .client
            .post(self.endpoint.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        let document = http_client::read_json(request).await.map_err(AuthError::IntrospectionFailed)?;
        let Value::Object(claims) = document else {
            return Err(AuthError::IntrospectionFailed("the response is not a JSON object".into()));
        };
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(AuthError::TokenInactive);
        }
        check_time(&claims)?;
        if let Some(expected) = &self.audience
            && !audience_contains(claims.get("aud"), expected)
        {
            return Err(AuthError::InvalidAudience);
        }
        self.mapping.to_context(claims, AuthMethod::Introspection)
    }
}

fn check_time(claims: &Map<String, Value>) -> Result<(), AuthError> {
    let now = unix_now();
    if let Some(exp) = claims.get("exp") {
        let exp = exp
            .as_u64()
            .ok_or(AuthError::InvalidClaim { claim: "exp".into(), reason: "must be an integer" })?;
        if exp < now {
            return Err(AuthError::Expired);
        }
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_u64()
            .ok_or(AuthError::InvalidClaim { claim: "nbf".into(), reason: "must be an integer" })?;
        if nbf > now {
            return Err(AuthError::NotYetValid);
        }
    }
    Ok(())
}

fn audience_contains(aud: Option<&Value>, expected: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(expected)),
        _ => false,
    }
}

impl std::fmt::Debug for IntrospectionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionAuth")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Largest opaque token sent for introspection.
const MAX_OPAQUE_TOKEN_BYTES: usize = 4096;

impl AuthProvider for IntrospectionAuth {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        Box::pin(async move {
            let token = request.bearer_token()?;
            // Never forward a credential of another kind to a third party: API keys and
            // JWTs belong to other providers of the chain.
            if token.starts_with(crate::API_KEY_PREFIX) || token.matches('.').count() == 2 {
                return Err(AuthError::UnrecognizedCredential);
            }
            if token.len() > MAX_OPAQUE_TOKEN_BYTES {
                return Err(AuthError::TokenTooLarge { max: MAX_OPAQUE_TOKEN_BYTES, actual: token.len() });
            }
            let context = self.introspect(token).await?;
            Ok(context.with_request_info(request.peer_ip(), request.user_agent()))
        })
    }
}
