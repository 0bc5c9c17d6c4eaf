//! # mcp-auth
//!
//! Authentication for Palisade MCP servers: who is calling, proven before anything else
//! happens. It turns a request's headers into an
//! [`identity_types::ClientContext`], or a typed [`AuthError`] (always 401-class).
//!
//! Depends only on `identity-types`; `mcp-server` calls it from a tower layer at the door.
//!
//! ## Providers
//!
//! | provider | credential | keys |
//! |---|---|---|
//! | [`JwtAuth`] | HS256/384/512 JWT | a shared secret of at least 32 bytes |
//! | [`AsymmetricJwtAuth`] | RS256/384, PS256, ES256/384, EdDSA JWT | PEM, JWKS, JWKS URL, or OIDC discovery |
//! | [`ApiKeyAuth`] | `psk_…` API key | SHA-256 digests only |
//! | [`IntrospectionAuth`] | opaque token | RFC 7662 introspection endpoint |
//! | [`ChainAuth`] | any of the above, in order | |
//!
//! Every JWT provider pins its algorithms, requires `exp` and `sub`, checks `nbf`, `iat`,
//! `iss` and (by default) `aud` against this server's resource identifier, accepts only
//! the one canonical spelling of a token, caps token size, and checks revocation on every
//! request, cache hit or not.
//!
//! ## Example
//!
//! ```
//! use identity_types::ClientId;
//! use mcp_auth::{Algorithm, ApiKeyAuth, ApiKeySpec, AuthProvider, AuthRequest, ChainAuth, JwtAuth, JwtOptions};
//! use identity_types::ExposeSecret;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let keys = ApiKeyAuth::new();
//! let issued = keys.create(ApiKeySpec::new(ClientId::new("nightly-report")?))?;
//! let jwt = JwtAuth::new(&[7u8; 32], Algorithm::HS256, JwtOptions::for_audience("https://mcp.example.com/mcp"))?;
//! let auth = ChainAuth::new().then(jwt).then(keys);
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("authorization", format!("Bearer {}", issued.key.expose_secret()).parse()?);
//! let ctx = auth.authenticate(AuthRequest::new(&headers, None)).await?;
//! assert_eq!(ctx.client_id().as_str(), "nightly-report");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apikey;
mod cache;
mod claims;
mod error;
mod http_client;
mod introspection;
mod jwt;
mod metadata;
mod provider;
mod request;
mod revocation;

pub use apikey::{
    API_KEY_HEADER, API_KEY_LEN, API_KEY_PREFIX, ApiKeyAuth, ApiKeyError, ApiKeyRecord, ApiKeySpec,
    IssuedApiKey, StoredApiKey, looks_like_api_key,
};
pub use claims::ClaimMapping;
pub use error::{AuthError, ConfigError};
pub use introspection::IntrospectionAuth;
pub use jsonwebtoken::Algorithm;
pub use jwt::JwtOptions;
pub use jwt::asymmetric::{AsymmetricJwtAuth, AsymmetricJwtAuthBuilder, DEFAULT_ASYMMETRIC_ALGORITHMS};
pub use jwt::hmac::{JwtAuth, TokenSpec};
pub use metadata::{BearerChallenge, BearerErrorCode, ProtectedResourceMetadata, WELL_KNOWN_PATH};
pub use provider::{AuthProvider, AuthProviderExt, AuthStats, BoxFuture, ChainAuth, Hooked, OnAuthenticate};
pub use request::AuthRequest;
pub use revocation::{RevocationHook, RevocationHookError, RevocationList};
