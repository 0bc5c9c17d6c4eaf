//! Verification key sets: from PEM, a static JWKS, or a JWKS fetched over HTTPS (directly
//! or through OIDC discovery) and refreshed in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde_json::Value;

use crate::error::ConfigError;
use crate::http_client;

/// One verification key and the algorithms it may verify. A key is bound to algorithms
/// of its own type when it is loaded, so an RSA key can never verify an HMAC token
/// (the classic algorithm-confusion attack) and a P-256 key never an ES384 one.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

/// Keys by `kid`, plus keys that have none.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, VerifyKey>,
    without_kid: Vec<VerifyKey>,
}

/// At most this many keys are tried for a token that names no `kid`.
const MAX_CANDIDATES: usize = 8;

impl KeySet {
    pub(crate) fn insert(&mut self, kid: Option<String>, key: VerifyKey) {
        match kid {
            Some(kid) => {
                self.by_kid.insert(kid, key);
            }
            None => self.without_kid.push(key),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.without_kid.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    /// The keys that may verify a token with this `kid` and `alg`.
    pub(crate) fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&DecodingKey> {
        let fits = |k: &&VerifyKey| k.algorithms.contains(&alg);
        match kid {
            Some(kid) => self.by_kid.get(kid).filter(fits).map(|k| &k.key).into_iter().collect(),
            None => self
                .without_kid
                .iter()
                .chain(self.by_kid.values())
                .filter(fits)
                .take(MAX_CANDIDATES)
                .map(|k| &k.key)
                .collect(),
        }
    }

    /// The keys with their `kid`s, for merging sets.
    pub(crate) fn into_parts(self) -> impl Iterator<Item = (Option<String>, VerifyKey)> {
        self.by_kid
            .into_iter()
            .map(|(k, v)| (Some(k), v))
            .chain(self.without_kid.into_iter().map(|v| (None, v)))
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Parses a JWKS document, keeping only signature keys of the allowed algorithms.
    /// Keys that cannot be used are skipped (and logged), not fatal: one exotic key in an
    /// IdP's set must not take the whole set down.
    pub(crate) fn from_jwks(document: &Value, allowed: &[Algorithm]) -> Result<Self, String> {
        let keys = document.get("keys").and_then(Value::as_array).ok_or("the JWKS has no \"keys\" array")?;
        let mut set = Self::default();
        for raw in keys {
            let jwk: Jwk = match serde_json::from_value(raw.clone()) {
                Ok(jwk) => jwk,
                Err(_) => {
                    tracing::debug!("skipping a JWK that does not parse");
                    continue;
                }
            };
            match key_from_jwk(&jwk, allowed) {
                Ok(key) => set.insert(jwk.common.key_id.clone(), key),
                Err(reason) => tracing::debug!(kid = ?jwk.common.key_id, reason, "skipping JWK"),
            }
        }
        if set.is_empty() {
            return Err("the JWKS has no usable signature keys".into());
        }
        Ok(set)
    }
}

fn key_from_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Result<VerifyKey, &'static str> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key");
    }
    // What the key's type permits.
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return Err("an unsupported curve"),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
            _ => return Err("an unsupported curve"),
        },
        // Symmetric keys never come from a key set: anyone who can read a JWKS could sign.
        AlgorithmParameters::OctetKey(_) => return Err("a symmetric key"),
        _ => return Err("an unsupported key type"),
    };
    // An `alg` on the key narrows it to that one algorithm.
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(ka) => Some(key_algorithm(ka).ok_or("an unsupported alg")?),
    };
    let algorithms: Vec<Algorithm> =
        by_type.into_iter().filter(|a| allowed.contains(a) && declared.is_none_or(|d| d == *a)).collect();
    if algorithms.is_empty() {
        return Err("no allowed algorithm fits the key");
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "an invalid key")?;
    Ok(VerifyKey { algorithms, key })
}

fn key_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Where remote keys come from.
#[derive(Debug, Clone)]
pub(crate) enum RemoteSource {
    /// A JWKS URL.
    Jwks(Url),
    /// An issuer whose `/.well-known/openid-configuration` names the JWKS URL; the
    /// document's `issuer` must equal this one exactly.
    Discovery(String),
}

/// A key set fetched over HTTP, refreshed in the background, refetched on unknown `kid`s
/// at most once per interval, and kept as it is while the IdP is down.
pub(crate) struct RemoteKeys {
    client: reqwest::Client,
    source: RemoteSource,
    allowed: Vec<Algorithm>,
    jwks_url: RwLock<Option<Url>>,
    keys: RwLock<Arc<KeySet>>,
    last_attempt: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    min_refetch_interval: Duration,
    fetches: AtomicU64,
    /// Bumped whenever a fetch installs a new key set.
    generation: AtomicU64,
}

impl RemoteKeys {
    pub(crate) fn new(
        client: reqwest::Client,
        source: RemoteSource,
        allowed: Vec<Algorithm>,
        min_refetch_interval: Duration,
    ) -> Self {
        let jwks_url = match &source {
            RemoteSource::Jwks(url) => Some(url.clone()),
            RemoteSource::Discovery(_) => None,
        };
        Self {
            client,
            source,
            allowed,
            jwks_url: RwLock::new(jwks_url),
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_attempt: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            min_refetch_interval,
            fetches: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Changes whenever a new key set is installed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Number of JWKS fetches attempted so far.
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches now (used at start-up and by the refresh task). On failure the old keys stay.
    pub(crate) async fn refresh(&self) -> Result<(), String> {
        let _guard = self.fetch_lock.lock().await;
        self.fetch_locked().await
    }

    /// Refetches because a token named an unknown `kid`, unless a fetch was attempted
    /// within the minimum interval. Concurrent callers share one fetch. Returns true if
    /// the key set may have changed.
    pub(crate) async fn refetch_for_unknown_kid(&self, kid: &str) -> bool {
        let _guard = self.fetch_lock.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if self.current().has_kid(kid) {
            return true;
        }
        let recent = self
            .last_attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < self.min_refetch_interval);
        if recent {
            return false;
        }
        match self.fetch_locked().await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "JWKS refetch for an unknown kid failed; keeping the old keys");
                false
            }
        }
    }

    async fn fetch_locked(&self) -> Result<(), String> {
        *self.last_attempt.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let url = self.jwks_url().await?;
        let document = http_client::read_json(self.client.get(url)).await?;
        let set = KeySet::from_jwks(&document, &self.allowed)?;
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn jwks_url(&self) -> Result<Url, String> {
        if let Some(url) = self.jwks_url.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            return Ok(url);
        }
        let RemoteSource::Discovery(issuer) = &self.source else {
            return Err("no JWKS URL".into());
        };
        let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery_url = http_client::checked_url(&discovery_url).map_err(|e| e.to_string())?;
        let document = http_client::read_json(self.client.get(discovery_url)).await?;
        // OpenID Connect Discovery §4.3: the issuer in the document must be identical to
        // the one we asked, or a different IdP's keys could be substituted.
        if document.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err("the discovery document's issuer does not match the configured issuer".into());
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("the discovery document has no jwks_uri")?;
        let url = http_client::checked_url(jwks_uri).map_err(|e| e.to_string())?;
        *self.jwks_url.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.clone());
        Ok(url)
    }
}

/// Builds a key from PEM text for one algorithm, checking that the key's type fits it.
pub(crate) fn key_from_pem(pem: &[u8], alg: Algorithm) -> Result<VerifyKey, ConfigError> {
    let key = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        other => return Err(ConfigError::UnsupportedAlgorithm(format!("{other:?} (use JwtAuth for HMAC)"))),
    }
    .map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
    Ok(VerifyKey { algorithms: vec![alg], key })
}
