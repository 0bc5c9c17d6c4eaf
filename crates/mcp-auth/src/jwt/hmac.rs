//! [`JwtAuth`]: HS256/384/512 tokens under a shared secret.

use std::time::Duration;

use identity_types::{ClientContext, Role, Scope, TenantId, unix_now};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};

use super::{JwtCore, JwtOptions};
use crate::error::{AuthError, ConfigError};
use crate::provider::{AuthProvider, BoxFuture};
use crate::request::AuthRequest;

/// Verifies HMAC-signed JWTs (HS256, HS384 or HS512; exactly one, pinned).
///
/// A `JwtAuth` cannot exist with a secret shorter than 32 bytes, or without an audience
/// decision (see [`JwtOptions`]).
///
/// ```
/// use identity_types::{Role, TenantId};
/// use mcp_auth::{Algorithm, AuthProvider, AuthRequest, JwtAuth, JwtOptions, TokenSpec};
///
/// # tokio_test(async {
/// let auth = JwtAuth::new(
///     b"an-example-secret-of-at-least-32-bytes!",
///     Algorithm::HS256,
///     JwtOptions::for_audience("https://mcp.example.com/mcp"),
/// )?;
/// let spec = TokenSpec::new("alice").tenant(TenantId::new("acme")?).roles([Role::new("support")?]);
/// let token = auth.create_token(&spec)?;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", format!("Bearer {token}").parse()?);
/// let ctx = auth.authenticate(AuthRequest::new(&headers, None)).await?;
/// assert_eq!(ctx.client_id().as_str(), "alice");
/// assert!(ctx.has_role("support"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # });
/// # fn tokio_test<F: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>>(f: F) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f).unwrap();
/// # }
/// ```
pub struct JwtAuth {
    core: JwtCore,
    alg: Algorithm,
    decoding: DecodingKey,
    encoding: EncodingKey,
}

impl JwtAuth {
    /// The minimum secret length in bytes.
    pub const MIN_SECRET_LEN: usize = 32;

    /// A provider for tokens signed with `secret` under `alg`.
    ///
    /// # Errors
    /// [`ConfigError::WeakSecret`] for a secret under 32 bytes,
    /// [`ConfigError::UnsupportedAlgorithm`] for a non-HMAC algorithm, and
    /// [`ConfigError::MissingAudience`] (see [`JwtOptions`]).
    pub fn new(secret: &[u8], alg: Algorithm, options: JwtOptions) -> Result<Self, ConfigError> {
        if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(ConfigError::UnsupportedAlgorithm(format!("{alg:?}")));
        }
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(ConfigError::WeakSecret { min: Self::MIN_SECRET_LEN, actual: secret.len() });
        }
        Ok(Self {
            core: JwtCore::new(options, &[alg])?,
            alg,
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
        })
    }

    /// Verifies a bare token (no header parsing); used by [`AuthProvider::authenticate`].
    ///
    /// # Errors
    /// Any [`AuthError`] of the verification pipeline.
    pub async fn verify_token(&self, token: &str) -> Result<ClientContext, AuthError> {
        let mut headers = http::HeaderMap::new();
        let value = http::HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| AuthError::MalformedHeader("not visible ASCII"))?;
        headers.insert(http::header::AUTHORIZATION, value);
        self.authenticate(AuthRequest::new(&headers, None)).await
    }

    /// Number of verified tokens currently cached.
    #[must_use]
    pub fn cached_tokens(&self) -> usize {
        self.core.cached_len()
    }

    /// Mints a token for tests, development and the example deployment: `iat` now, `exp`
    /// after the spec's TTL, a random `jti`, `aud` defaulting to the configured audience.
    ///
    /// # Errors
    /// [`ConfigError::InvalidKey`] if signing fails (it does not for HMAC keys) or the
    /// operating system's random number generator is unavailable.
    pub fn create_token(&self, spec: &TokenSpec) -> Result<String, ConfigError> {
        let now = unix_now();
        let mut claims = spec.extra.clone();
        claims.insert("sub".into(), Value::String(spec.subject.clone()));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now.saturating_add(spec.ttl.as_secs())));
        claims.insert(
            "jti".into(),
            Value::String(random_jti().ok_or_else(|| ConfigError::InvalidKey("no randomness".into()))?),
        );
        if let Some(aud) = spec.audience.as_deref().or(self.core.options().audience()) {
            claims.insert("aud".into(), Value::String(aud.to_owned()));
        }
        if let Some(tenant) = &spec.tenant {
            claims.insert(
                self.core.options().mapping().tenant_claim_name().to_owned(),
                Value::String(tenant.to_string()),
            );
        }
        if !spec.roles.is_empty() {
            claims.insert(
                "roles".into(),
                Value::Array(spec.roles.iter().map(|r| Value::String(r.to_string())).collect()),
            );
        }
        if !spec.scopes.is_empty() {
            let scope = spec.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ");
            claims.insert("scope".into(), Value::String(scope));
        }
        let mut header = Header::new(self.alg);
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| ConfigError::InvalidKey(e.to_string()))
    }
}

pub(crate) fn random_jti() -> Option<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("alg", &self.alg)
            .field("options", self.core.options())
            .finish_non_exhaustive()
    }
}

impl AuthProvider for JwtAuth {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        Box::pin(self.core.authenticate(request, move |token, header| async move {
            self.core.verify(token, header.alg, &self.decoding)
        }))
    }

    fn stats(&self) -> crate::AuthStats {
        self.core.stats()
    }
}

/// What [`JwtAuth::create_token`] puts in a token.
///
/// Takes validated ids, so a minted token never carries a claim the verifier would refuse.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    subject: String,
    tenant: Option<TenantId>,
    roles: Vec<Role>,
    scopes: Vec<Scope>,
    audience: Option<String>,
    ttl: Duration,
    extra: Map<String, Value>,
}

impl TokenSpec {
    /// A token for `subject`, valid for one hour.
    #[must_use]
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            tenant: None,
            roles: Vec::new(),
            scopes: Vec::new(),
            audience: None,
            ttl: Duration::from_secs(3600),
            extra: Map::new(),
        }
    }
    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }
    /// Sets the roles.
    #[must_use]
    pub fn roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }
    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes = scopes.into_iter().collect();
        self
    }
    /// Overrides the audience.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// Sets the lifetime.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Adds any other claim (registered claims set by the minter win).
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }
}
