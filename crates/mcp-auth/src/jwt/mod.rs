//! JWT verification shared by [`JwtAuth`](crate::JwtAuth) (HMAC) and
//! [`AsymmetricJwtAuth`](crate::AsymmetricJwtAuth) (RSA, ECDSA, EdDSA).
//!
//! Both run the same pipeline; only the key lookup differs:
//!
//! 1. size cap, then the verified-token cache (a hit skips to step 5);
//! 2. structure: exactly three segments, each strict base64url (no padding, no trailing
//!    bits, so one token has exactly one valid spelling);
//! 3. header: `alg` must be one this provider pins (never `none`, never a symmetric
//!    algorithm for an asymmetric key), `crit` is refused;
//! 4. signature and registered claims via `jsonwebtoken` (`exp` required, `nbf`, `aud`,
//!    `iss`, leeway), then `iat` and the claim mapping;
//! 5. expiry and revocation (in-process list, then the async hook), on every request.

pub(crate) mod asymmetric;
pub(crate) mod hmac;
pub(crate) mod jwks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_types::{AuthMethod, ClientContext, unix_now};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cache::{TokenCache, TokenHash, token_hash};
use crate::claims::ClaimMapping;
use crate::error::{AuthError, ConfigError};
use crate::request::AuthRequest;
use crate::revocation::{RevocationHook, RevocationList};

/// Settings every JWT provider shares. Start from [`JwtOptions::for_audience`]: the MCP
/// authorization spec requires a server to accept only tokens issued for it, so the
/// audience check is on unless you turn it off by name with
/// [`JwtOptions::allow_any_audience`].
///
/// ```
/// use std::time::Duration;
/// use mcp_auth::JwtOptions;
///
/// let options = JwtOptions::for_audience("https://mcp.example.com/mcp")
///     .issuer("https://idp.example.com")
///     .leeway(Duration::from_secs(30))
///     .cache_capacity(1024);
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct JwtOptions {
    audience: Option<String>,
    any_audience: bool,
    issuer: Option<String>,
    leeway: Duration,
    max_token_bytes: usize,
    cache_capacity: usize,
    mapping: ClaimMapping,
    revocation: Arc<RevocationList>,
    revocation_hook: Option<Arc<dyn RevocationHook>>,
}

impl JwtOptions {
    /// Default maximum token size: 8 KiB.
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
    /// Default leeway for `exp`, `nbf` and `iat`: 60 seconds.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
    /// Default verified-token cache size.
    pub const DEFAULT_CACHE_CAPACITY: usize = 256;

    /// Options that accept only tokens whose `aud` contains `resource`, this server's
    /// resource identifier (the `resource` of its protected-resource metadata).
    #[must_use]
    pub fn for_audience(resource: impl Into<String>) -> Self {
        Self { audience: Some(resource.into()), ..Self::unset() }
    }

    /// Options with no audience check at all. Only for tokens minted for exactly this
    /// server by a key nobody else uses; say so where you call it.
    #[must_use]
    pub fn allow_any_audience() -> Self {
        Self { any_audience: true, ..Self::unset() }
    }

    fn unset() -> Self {
        Self {
            audience: None,
            any_audience: false,
            issuer: None,
            leeway: Self::DEFAULT_LEEWAY,
            max_token_bytes: Self::DEFAULT_MAX_TOKEN_BYTES,
            cache_capacity: Self::DEFAULT_CACHE_CAPACITY,
            mapping: ClaimMapping::default(),
            revocation: Arc::new(RevocationList::new()),
            revocation_hook: None,
        }
    }

    /// Requires `iss` to equal `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Clock-skew allowance for `exp`, `nbf` and `iat`.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// Largest token accepted, in bytes.
    #[must_use]
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }
    /// Verified-token cache size; 0 disables the cache.
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }
    /// Which claims carry tenant, roles and scopes.
    #[must_use]
    pub fn claim_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }
    /// Shares a revocation list (e.g. with an admin endpoint that revokes tokens).
    #[must_use]
    pub fn revocation_list(mut self, list: Arc<RevocationList>) -> Self {
        self.revocation = list;
        self
    }
    /// Adds an external revocation check, run on every request.
    #[must_use]
    pub fn revocation_hook(mut self, hook: Arc<dyn RevocationHook>) -> Self {
        self.revocation_hook = Some(hook);
        self
    }

    /// The configured audience, if any.
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    pub(crate) fn mapping(&self) -> &ClaimMapping {
        &self.mapping
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(aud) = &self.audience {
            v.set_audience(&[aud]);
            required.push("aud");
        } else {
            v.validate_aud = false;
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        v
    }
}

impl std::fmt::Debug for JwtOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtOptions")
            .field("audience", &self.audience)
            .field("any_audience", &self.any_audience)
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("cache_capacity", &self.cache_capacity)
            .field("revocation_hook", &self.revocation_hook.is_some())
            .finish_non_exhaustive()
    }
}

/// What the header says, after checking it against the pinned algorithms.
pub(crate) struct CheckedHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<Value>,
    kid: Option<Value>,
    typ: Option<Value>,
    crit: Option<Value>,
}

/// The shared pipeline; each provider owns one and supplies the key lookup.
pub(crate) struct JwtCore {
    options: JwtOptions,
    validations: Vec<(Algorithm, Validation)>,
    cache: TokenCache,
}

impl JwtCore {
    pub(crate) fn new(options: JwtOptions, algorithms: &[Algorithm]) -> Result<Self, ConfigError> {
        if options.audience.is_none() && !options.any_audience {
            return Err(ConfigError::MissingAudience);
        }
        let validations = algorithms.iter().map(|&alg| (alg, options.validation(alg))).collect();
        let cache = TokenCache::new(options.cache_capacity);
        Ok(Self { options, validations, cache })
    }

    pub(crate) fn options(&self) -> &JwtOptions {
        &self.options
    }

    /// Steps 1–3: size, cache, structure and header. `Ok(Err(context))` is a cache hit
    /// that still needs [`Self::admit`].
    pub(crate) fn start<'t>(&self, request: AuthRequest<'t>) -> Result<Started<'t>, AuthError> {
        let token = request.bearer_token()?;
        if token.len() > self.options.max_token_bytes {
            return Err(AuthError::TokenTooLarge { max: self.options.max_token_bytes, actual: token.len() });
        }
        let hash = token_hash(token);
        if let Some(hit) = self.cache.get(&hash) {
            return Ok(Started::Cached(hit));
        }
        let header = self.check_structure(token)?;
        Ok(Started::Verify { token, hash, header })
    }

    fn check_structure(&self, token: &str) -> Result<CheckedHeader, AuthError> {
        let mut segments = token.split('.');
        let first = segments.next().unwrap_or_default();
        let (Some(payload), Some(signature), None) = (segments.next(), segments.next(), segments.next())
        else {
            // Not three segments. If the first one is a JSON object it is a mangled JWT
            // (an extra segment, a missing one); otherwise it is no JWT at all (an API
            // key, an opaque token), and the next provider of a chain may look at it.
            return Err(if looks_like_jose_header(first) {
                AuthError::MalformedToken("a JWT has exactly three segments")
            } else {
                AuthError::UnrecognizedCredential
            });
        };
        let header = first;
        let header_bytes = strict_b64(header)?;
        let raw: RawHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| AuthError::MalformedToken("the header is not a JSON object"))?;
        let alg_text = match &raw.alg {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(AuthError::MalformedToken("the header's alg is not a string")),
            None => return Err(AuthError::MalformedToken("the header has no alg")),
        };
        let unsupported = || AuthError::UnsupportedAlgorithm { found: alg_text.chars().take(16).collect() };
        let alg = Algorithm::from_str(alg_text).map_err(|_| unsupported())?;
        if !self.validations.iter().any(|(a, _)| *a == alg) {
            return Err(unsupported());
        }
        if raw.crit.is_some() {
            return Err(AuthError::UnsupportedCriticalHeader);
        }
        match &raw.typ {
            None => {}
            Some(Value::String(t))
                if t.eq_ignore_ascii_case("JWT")
                    || t.eq_ignore_ascii_case("at+jwt")
                    || t.eq_ignore_ascii_case("application/at+jwt") => {}
            Some(_) => return Err(AuthError::MalformedToken("the header's typ is not JWT")),
        }
        let kid = match raw.kid {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) if k.len() <= 256 => Some(k),
            Some(_) => return Err(AuthError::MalformedToken("the header's kid is not a short string")),
        };
        if payload.is_empty() {
            return Err(AuthError::MalformedToken("empty payload"));
        }
        strict_b64(payload)?;
        if strict_b64(signature)?.is_empty() {
            return Err(AuthError::MalformedToken("empty signature"));
        }
        Ok(CheckedHeader { alg, kid })
    }

    /// Step 4: signature, registered claims, `iat`, claim mapping.
    pub(crate) fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
    ) -> Result<ClientContext, AuthError> {
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == alg) else {
            return Err(AuthError::UnsupportedAlgorithm { found: format!("{alg:?}") });
        };
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, key, validation).map_err(map_jwt_error)?;
        let claims = data.claims;
        if let Some(iat) = claims.get("iat") {
            let iat = iat.as_u64().ok_or(AuthError::InvalidClaim {
                claim: "iat".into(),
                reason: "must be a non-negative integer",
            })?;
            if iat > unix_now().saturating_add(self.options.leeway.as_secs()) {
                return Err(AuthError::IssuedInFuture);
            }
        }
        self.options.mapping.to_context(claims, AuthMethod::Jwt)
    }

    /// Step 5, for fresh and cached contexts alike: expiry and revocation. Caches a
    /// fresh context that passes.
    pub(crate) async fn admit(
        &self,
        context: ClientContext,
        fresh: Option<TokenHash>,
        request: AuthRequest<'_>,
    ) -> Result<ClientContext, AuthError> {
        // `exp` is required, so every verified context has one.
        let exp = context.expires_at().ok_or(AuthError::MissingClaim("exp"))?;
        if exp.saturating_add(self.options.leeway.as_secs()) < unix_now() {
            return Err(AuthError::Expired);
        }
        if self.options.revocation.is_revoked(&context) {
            return Err(AuthError::Revoked);
        }
        if let Some(hook) = &self.options.revocation_hook {
            match hook.is_revoked(&context).await {
                Ok(false) => {}
                Ok(true) => return Err(AuthError::Revoked),
                Err(error) => {
                    tracing::warn!(%error, "revocation hook failed; refusing the request");
                    return Err(AuthError::RevocationCheckFailed);
                }
            }
        }
        if let Some(hash) = fresh {
            self.cache.insert(hash, context.clone());
        }
        Ok(context.with_request_info(request.peer_ip(), request.user_agent()))
    }

    /// The whole pipeline around a provider's key lookup: cache, structure, `verify`
    /// (signature and claims with the provider's key), then expiry and revocation. A
    /// context that fails admission is not left in the cache.
    pub(crate) async fn authenticate<'t, F, Fut>(
        &self,
        request: AuthRequest<'t>,
        verify: F,
    ) -> Result<ClientContext, AuthError>
    where
        F: FnOnce(&'t str, CheckedHeader) -> Fut,
        Fut: std::future::Future<Output = Result<ClientContext, AuthError>>,
    {
        match self.start(request)? {
            Started::Cached(context) => self.admit(context, None, request).await,
            Started::Verify { token, hash, header } => {
                let context = verify(token, header).await?;
                let admitted = self.admit(context, Some(hash), request).await;
                if admitted.is_err() {
                    self.forget(&hash);
                }
                admitted
            }
        }
    }

    /// Drops every cached context (after the verification keys changed: a token signed
    /// by a key that left the set must be verified again, and fail).
    pub(crate) fn clear_cache(&self) {
        self.cache.clear();
    }

    pub(crate) fn forget(&self, hash: &TokenHash) {
        self.cache.remove(hash);
    }

    pub(crate) fn cached_len(&self) -> usize {
        self.cache.len()
    }

    pub(crate) fn stats(&self) -> crate::AuthStats {
        let (token_cache_hits, token_cache_misses) = self.cache.hits_and_misses();
        crate::AuthStats { token_cache_hits, token_cache_misses, key_set_fetches: 0 }
    }
}

/// The outcome of [`JwtCore::start`].
pub(crate) enum Started<'t> {
    /// A verified context from the cache; still needs [`JwtCore::admit`].
    Cached(ClientContext),
    /// A token to verify with the key the header names.
    Verify { token: &'t str, hash: TokenHash, header: CheckedHeader },
}

fn looks_like_jose_header(segment: &str) -> bool {
    URL_SAFE_NO_PAD.decode(segment).is_ok_and(|bytes| bytes.first() == Some(&b'{'))
}

/// Decodes one segment as unpadded base64url, refusing padding, characters outside the
/// alphabet and non-zero trailing bits: the only spelling of the bytes that is accepted.
fn strict_b64(segment: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::MalformedToken("a segment is not canonical unpadded base64url"))
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::InvalidIssuer,
        ErrorKind::InvalidAudience => AuthError::InvalidAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(match claim.as_str() {
            "exp" => "exp",
            "sub" => "sub",
            "aud" => "aud",
            "iss" => "iss",
            "nbf" => "nbf",
            _ => "unknown",
        }),
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidClaim { claim: claim.clone(), reason: "has the wrong type" }
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            AuthError::UnsupportedAlgorithm { found: String::from("(mismatch)") }
        }
        ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            AuthError::MalformedToken("the token could not be decoded")
        }
        // A key that cannot verify (wrong type for the algorithm, unparsable) fails the
        // request: closed, not open.
        _ => AuthError::InvalidSignature,
    }
}
