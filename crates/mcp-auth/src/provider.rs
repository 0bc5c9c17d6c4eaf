//! The [`AuthProvider`] trait, the `on_authenticate` hook, and [`ChainAuth`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use identity_types::ClientContext;

use crate::error::AuthError;
use crate::request::AuthRequest;

/// A boxed, sendable future: the return type of the dyn-compatible async traits here.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns request metadata into an authenticated [`ClientContext`], or a typed refusal.
///
/// Providers are dyn-compatible so a server can hold `Arc<dyn AuthProvider>` and chain
/// them. A provider must fail closed: any doubt is an [`AuthError`].
pub trait AuthProvider: Send + Sync {
    /// Authenticates one request.
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>>;

    /// Running totals for metrics (token cache hits and misses, key-set fetches); read
    /// at scrape time. Providers without such counters report zeros.
    fn stats(&self) -> AuthStats {
        AuthStats::default()
    }
}

/// Running totals of an [`AuthProvider`], summed over a [`ChainAuth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Verified-token cache lookups that found the token.
    pub token_cache_hits: u64,
    /// Verified-token cache lookups that did not (the token was verified in full).
    pub token_cache_misses: u64,
    /// Fetches of a remote key set (JWKS), scheduled or on an unknown `kid`.
    pub key_set_fetches: u64,
}

impl std::ops::Add for AuthStats {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            token_cache_hits: self.token_cache_hits + other.token_cache_hits,
            token_cache_misses: self.token_cache_misses + other.token_cache_misses,
            key_set_fetches: self.key_set_fetches + other.key_set_fetches,
        }
    }
}

impl<P: AuthProvider + ?Sized> AuthProvider for Arc<P> {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        (**self).authenticate(request)
    }

    fn stats(&self) -> AuthStats {
        (**self).stats()
    }
}

/// Runs after a provider accepted a caller: attach typed values to the context's
/// extensions (a user profile, a plan), or refuse with [`AuthError::Rejected`].
pub trait OnAuthenticate: Send + Sync {
    /// Inspects and enriches `context`.
    fn on_authenticate<'a>(&'a self, context: &'a mut ClientContext) -> BoxFuture<'a, Result<(), AuthError>>;
}

/// A provider followed by an [`OnAuthenticate`] hook. Build it with
/// [`AuthProviderExt::with_hook`].
#[derive(Debug, Clone)]
pub struct Hooked<P, H> {
    provider: P,
    hook: H,
}

impl<P: AuthProvider, H: OnAuthenticate> AuthProvider for Hooked<P, H> {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        Box::pin(async move {
            let mut context = self.provider.authenticate(request).await?;
            self.hook.on_authenticate(&mut context).await?;
            Ok(context)
        })
    }

    fn stats(&self) -> AuthStats {
        self.provider.stats()
    }
}

/// Convenience methods on every provider.
pub trait AuthProviderExt: AuthProvider + Sized {
    /// Runs `hook` after every successful authentication.
    fn with_hook<H: OnAuthenticate>(self, hook: H) -> Hooked<Self, H> {
        Hooked { provider: self, hook }
    }
}

impl<P: AuthProvider> AuthProviderExt for P {}

/// Tries providers in order, e.g. JWT, then API key.
///
/// A provider that finds no credential, or one of a kind it does not handle
/// ([`AuthError::is_not_applicable`]), passes the request on. Any other refusal ends the
/// chain: a token that one provider recognised and rejected is never retried by another,
/// so a chain is exactly as strict as its strictest member.
///
/// ```
/// # use mcp_auth::{ApiKeyAuth, ChainAuth, JwtAuth};
/// # fn build(jwt: JwtAuth, keys: ApiKeyAuth) -> ChainAuth {
/// ChainAuth::new().then(jwt).then(keys)
/// # }
/// ```
#[derive(Default, Clone)]
pub struct ChainAuth {
    providers: Vec<Arc<dyn AuthProvider>>,
}

impl ChainAuth {
    /// An empty chain (refuses everything with [`AuthError::MissingCredentials`]).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a provider.
    #[must_use]
    pub fn then(mut self, provider: impl AuthProvider + 'static) -> Self {
        self.providers.push(Arc::new(provider));
        self
    }

    /// Appends a shared provider.
    #[must_use]
    pub fn then_shared(mut self, provider: Arc<dyn AuthProvider>) -> Self {
        self.providers.push(provider);
        self
    }
}

impl std::fmt::Debug for ChainAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainAuth").field("providers", &self.providers.len()).finish()
    }
}

impl AuthProvider for ChainAuth {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        Box::pin(async move {
            // If every provider passes, report the most specific reason: a credential
            // nobody recognised beats no credential at all.
            let mut outcome = AuthError::MissingCredentials;
            for provider in &self.providers {
                match provider.authenticate(request).await {
                    Ok(context) => return Ok(context),
                    Err(AuthError::MissingCredentials) => {}
                    Err(AuthError::UnrecognizedCredential) => outcome = AuthError::UnrecognizedCredential,
                    Err(final_error) => return Err(final_error),
                }
            }
            Err(outcome)
        })
    }

    fn stats(&self) -> AuthStats {
        self.providers.iter().map(|p| p.stats()).fold(AuthStats::default(), |sum, s| sum + s)
    }
}
