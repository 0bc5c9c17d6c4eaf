//! [`AsymmetricJwtAuth`]: RS256/384, PS256, ES256/384 and EdDSA tokens, keys from PEM or
//! JWKS, with OIDC discovery and background refresh.

use std::sync::Arc;
use std::time::Duration;

use identity_types::ClientContext;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::jwks::{KeySet, RemoteKeys, RemoteSource, key_from_pem};
use super::{CheckedHeader, JwtCore, JwtOptions};
use crate::error::{AuthError, ConfigError};
use crate::http_client;
use crate::provider::{AuthProvider, BoxFuture};
use crate::request::AuthRequest;

/// The asymmetric algorithms accepted by default.
pub const DEFAULT_ASYMMETRIC_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies tokens signed by an identity provider's private key.
///
/// Keys come from PEM files, a static JWKS, a JWKS URL, or an issuer's OIDC discovery
/// document. Remote key sets are fetched once when the provider is built (the only time a
/// request path could wait on the network is an unknown `kid`, below) and refreshed in the
/// background; a token with an unknown `kid` triggers at most one refetch per
/// [`min_refetch_interval`](AsymmetricJwtAuthBuilder::min_refetch_interval), shared by all
/// concurrent requests, and the old keys stay in force while the IdP is unreachable.
///
/// Each key is bound to the algorithms of its type when loaded; the token's `alg` picks
/// among those only. HMAC algorithms are never accepted here.
pub struct AsymmetricJwtAuth {
    core: JwtCore,
    /// The remote key set generation the cache was filled under.
    cached_generation: std::sync::atomic::AtomicU64,
    static_keys: KeySet,
    remote: Option<Arc<RemoteKeys>>,
    refresh_task: Option<tokio::task::JoinHandle<()>>,
}

impl AsymmetricJwtAuth {
    /// Starts a builder.
    pub fn builder(options: JwtOptions) -> AsymmetricJwtAuthBuilder {
        AsymmetricJwtAuthBuilder {
            options,
            algorithms: DEFAULT_ASYMMETRIC_ALGORITHMS.to_vec(),
            pems: Vec::new(),
            jwks: Vec::new(),
            remote: None,
            refresh_interval: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(30),
            http_timeout: Duration::from_secs(5),
        }
    }

    /// How many times the remote key set has been fetched (0 without a remote source).
    #[must_use]
    pub fn key_fetches(&self) -> u64 {
        self.remote.as_ref().map_or(0, |r| r.fetch_count())
    }

    /// Number of keys currently loaded (static and remote).
    #[must_use]
    pub fn key_count(&self) -> usize {
        self.static_keys.len() + self.remote.as_ref().map_or(0, |r| r.current().len())
    }

    /// Refreshes the remote key set now.
    ///
    /// # Errors
    /// A description of why the fetch failed; the old keys stay in force.
    pub async fn refresh_keys(&self) -> Result<(), String> {
        match &self.remote {
            Some(remote) => remote.refresh().await,
            None => Ok(()),
        }
    }

    async fn verify_with_keys(
        &self,
        token: &str,
        header: &CheckedHeader,
    ) -> Result<ClientContext, AuthError> {
        let kid = header.kid.as_deref();
        let static_candidates = self.static_keys.candidates(kid, header.alg);
        if !static_candidates.is_empty() {
            return self.try_keys(token, header.alg, &static_candidates);
        }
        let Some(remote) = &self.remote else {
            return Err(AuthError::UnknownKeyId);
        };
        let mut set = remote.current();
        if set.candidates(kid, header.alg).is_empty()
            && let Some(kid) = kid
            && remote.refetch_for_unknown_kid(kid).await
        {
            set = remote.current();
        }
        let candidates = set.candidates(kid, header.alg);
        if candidates.is_empty() {
            return Err(if set.is_empty() {
                AuthError::KeysUnavailable("the key set has not been fetched".into())
            } else {
                AuthError::UnknownKeyId
            });
        }
        self.try_keys(token, header.alg, &candidates)
    }

    fn try_keys(
        &self,
        token: &str,
        alg: Algorithm,
        keys: &[&DecodingKey],
    ) -> Result<ClientContext, AuthError> {
        let mut last = AuthError::UnknownKeyId;
        for key in keys {
            match self.core.verify(token, alg, key) {
                Err(AuthError::InvalidSignature) => last = AuthError::InvalidSignature,
                outcome => return outcome,
            }
        }
        Err(last)
    }
}

impl Drop for AsymmetricJwtAuth {
    fn drop(&mut self) {
        if let Some(task) = &self.refresh_task {
            task.abort();
        }
    }
}

impl std::fmt::Debug for AsymmetricJwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsymmetricJwtAuth")
            .field("options", self.core.options())
            .field("keys", &self.key_count())
            .field("remote", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthProvider for AsymmetricJwtAuth {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        Box::pin(async move {
            if let Some(remote) = &self.remote {
                let current = remote.generation();
                if self.cached_generation.swap(current, std::sync::atomic::Ordering::AcqRel) != current {
                    self.core.clear_cache();
                }
            }
            self.core
                .authenticate(
                    request,
                    |token, header| async move { self.verify_with_keys(token, &header).await },
                )
                .await
        })
    }

    fn stats(&self) -> crate::AuthStats {
        crate::AuthStats { key_set_fetches: self.key_fetches(), ..self.core.stats() }
    }
}

/// Builds an [`AsymmetricJwtAuth`].
#[must_use]
pub struct AsymmetricJwtAuthBuilder {
    options: JwtOptions,
    algorithms: Vec<Algorithm>,
    pems: Vec<(Option<String>, Algorithm, Vec<u8>)>,
    jwks: Vec<Value>,
    remote: Option<Result<RemoteSource, ConfigError>>,
    refresh_interval: Duration,
    min_refetch_interval: Duration,
    http_timeout: Duration,
}

impl AsymmetricJwtAuthBuilder {
    /// Restricts the accepted algorithms (default: [`DEFAULT_ASYMMETRIC_ALGORITHMS`]).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }
    /// Adds a public key in PEM form, for one algorithm, optionally under a `kid`.
    pub fn pem_key(mut self, kid: Option<&str>, alg: Algorithm, pem: impl Into<Vec<u8>>) -> Self {
        self.pems.push((kid.map(str::to_owned), alg, pem.into()));
        self
    }
    /// Adds the keys of a JWKS document (`{"keys": [...]}`).
    pub fn jwks(mut self, document: Value) -> Self {
        self.jwks.push(document);
        self
    }
    /// Fetches keys from a JWKS URL (HTTPS, or HTTP to a loopback host).
    pub fn jwks_url(mut self, url: &str) -> Self {
        self.remote = Some(http_client::checked_url(url).map(RemoteSource::Jwks));
        self
    }
    /// Discovers the JWKS URL from `issuer`'s OpenID configuration. Also requires `iss`
    /// to equal `issuer` unless the options already name an issuer.
    pub fn oidc_issuer(mut self, issuer: &str) -> Self {
        self.remote =
            Some(http_client::checked_url(issuer).map(|_| RemoteSource::Discovery(issuer.to_owned())));
        self
    }
    /// How often remote keys are refreshed in the background (default 5 minutes).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }
    /// The least time between two fetches caused by unknown `kid`s (default 30 s).
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }
    /// Timeout of each key fetch (default 5 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Loads static keys, fetches remote keys once, and starts the refresh task (on the
    /// current Tokio runtime).
    ///
    /// # Errors
    /// A [`ConfigError`] for an invalid key, URL or algorithm, no keys at all, or a
    /// first fetch that fails.
    pub async fn build(self) -> Result<AsymmetricJwtAuth, ConfigError> {
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::UnsupportedAlgorithm(format!("{alg:?} (use JwtAuth for HMAC)")));
        }
        let mut options = self.options;
        let remote_source = self.remote.transpose()?;
        if let Some(RemoteSource::Discovery(issuer)) = &remote_source
            && options.issuer.is_none()
        {
            options = options.issuer(issuer.clone());
        }
        let core = JwtCore::new(options, &self.algorithms)?;

        let mut static_keys = KeySet::default();
        for (kid, alg, pem) in self.pems {
            if !self.algorithms.contains(&alg) {
                return Err(ConfigError::UnsupportedAlgorithm(format!(
                    "{alg:?} is not among the accepted algorithms"
                )));
            }
            static_keys.insert(kid, key_from_pem(&pem, alg)?);
        }
        for document in self.jwks {
            let set = KeySet::from_jwks(&document, &self.algorithms).map_err(ConfigError::InvalidKey)?;
            // Merge: a later document's kid replaces an earlier one's.
            merge(&mut static_keys, set);
        }

        let (remote, refresh_task) = match remote_source {
            None => (None, None),
            Some(source) => {
                let client = http_client::build(self.http_timeout)?;
                let remote = Arc::new(RemoteKeys::new(
                    client,
                    source,
                    self.algorithms.clone(),
                    self.min_refetch_interval,
                ));
                remote.refresh().await.map_err(ConfigError::Discovery)?;
                let task = spawn_refresh(Arc::downgrade(&remote), self.refresh_interval);
                (Some(remote), Some(task))
            }
        };
        if static_keys.is_empty() && remote.is_none() {
            return Err(ConfigError::NoKeys);
        }
        let cached_generation =
            std::sync::atomic::AtomicU64::new(remote.as_ref().map_or(0, |r| r.generation()));
        Ok(AsymmetricJwtAuth { core, cached_generation, static_keys, remote, refresh_task })
    }
}

fn merge(into: &mut KeySet, from: KeySet) {
    for (kid, key) in from.into_parts() {
        into.insert(kid, key);
    }
}

fn spawn_refresh(remote: std::sync::Weak<RemoteKeys>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(remote) = remote.upgrade() else { return };
            if let Err(error) = remote.refresh().await {
                tracing::warn!(%error, "background JWKS refresh failed; keeping the old keys");
            }
        }
    })
}
