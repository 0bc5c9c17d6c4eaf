//! [`ApiKeyAuth`]: long-lived keys for services, stored only as hashes.
//!
//! # Key format
//!
//! `psk_` + 40 base62 characters of randomness (238 bits) + 6 base62 characters of
//! CRC32 over everything before them, 50 characters in all, e.g.
//! `psk_3kTMd9yQ0bWcJ7rXe1LhV5gN2pAsZ8uF4oKiYj6t0Rw2Ab1`. The fixed prefix and the
//! checksum let secret scanners find leaked keys with near-zero false positives, and let
//! this provider refuse typos and junk without a lookup.
//!
//! # Why a fast hash
//!
//! Keys are stored as SHA-256 digests and looked up by digest; the plaintext is shown
//! once at creation and never kept. Passwords need slow, salted hashes because people
//! choose guessable ones; these keys are 238 random bits, so nobody can guess one faster
//! by hashing than by asking the server, and a stolen digest table gives nothing usable.
//! A fast unsalted hash is what makes lookup by digest possible at all, in constant time
//! per request, with no per-key work to iterate over.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use identity_types::{AuthMethod, ClientContext, ClientId, Role, Scope, SecretString, TenantId, unix_now};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::provider::{AuthProvider, BoxFuture};
use crate::request::AuthRequest;

/// The prefix of every Palisade API key.
pub const API_KEY_PREFIX: &str = "psk_";
const RANDOM_CHARS: usize = 40;
const CHECKSUM_CHARS: usize = 6;
/// Length of a Palisade API key in characters.
pub const API_KEY_LEN: usize = API_KEY_PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The header a key may also arrive in, instead of `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Who a key belongs to and what it may do. Never contains the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// A public id for listing and revoking (`key_` + 16 hex digits).
    pub id: String,
    /// The principal the key authenticates as.
    pub client_id: ClientId,
    /// The principal's tenant.
    pub tenant: Option<TenantId>,
    /// Roles granted.
    pub roles: BTreeSet<Role>,
    /// Scopes granted.
    pub scopes: BTreeSet<Scope>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry, Unix seconds; `None` never expires.
    pub expires_at: Option<u64>,
    /// A free-form label ("ci deploy key").
    pub label: Option<String>,
}

/// A key record as persisted: the SHA-256 digest (hex) and the record, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApiKey {
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    /// The record.
    pub record: ApiKeyRecord,
    /// For a key replaced by rotation: the end of its grace period, Unix seconds.
    pub retired_at: Option<u64>,
}

/// What to create a key for.
#[derive(Debug, Clone)]
pub struct ApiKeySpec {
    client_id: ClientId,
    tenant: Option<TenantId>,
    roles: BTreeSet<Role>,
    scopes: BTreeSet<Scope>,
    ttl: Option<Duration>,
    label: Option<String>,
}

impl ApiKeySpec {
    /// A key for `client_id`, with no roles or scopes and no expiry.
    #[must_use]
    pub fn new(client_id: ClientId) -> Self {
        Self {
            client_id,
            tenant: None,
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            ttl: None,
            label: None,
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
    /// Expires the key after `ttl`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
    /// Sets a label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// A freshly created key: show `key` to its owner once; only its hash is kept.
pub struct IssuedApiKey {
    /// The record.
    pub record: ApiKeyRecord,
    /// The plaintext key.
    pub key: SecretString,
}

impl fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedApiKey").field("record", &self.record).field("key", &"[REDACTED]").finish()
    }
}

/// Errors managing keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// No key has this id.
    #[error("no API key with id {0:?}")]
    UnknownId(String),
    /// A stored digest is not 64 hex digits.
    #[error("a stored API key digest is not 64 hex digits")]
    InvalidDigest,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator is unavailable")]
    Randomness,
}

type Digest = [u8; 32];

struct Entry {
    record: Arc<ApiKeyRecord>,
    retired_at: Option<u64>,
}

#[derive(Default)]
struct Store {
    by_digest: HashMap<Digest, Entry>,
}

/// Authenticates `psk_…` keys from `Authorization: Bearer` or `X-API-Key`.
///
/// ```
/// use identity_types::{ClientId, ExposeSecret};
/// use mcp_auth::{ApiKeyAuth, ApiKeySpec};
///
/// let keys = ApiKeyAuth::new();
/// let issued = keys.create(ApiKeySpec::new(ClientId::new("billing-sync")?))?;
/// assert!(issued.key.expose_secret().starts_with("psk_"));
/// assert_eq!(keys.list().len(), 1);
/// keys.revoke(&issued.record.id)?;
/// assert!(keys.list().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct ApiKeyAuth {
    store: RwLock<Store>,
}

impl ApiKeyAuth {
    /// An empty key store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads persisted keys.
    ///
    /// # Errors
    /// [`ApiKeyError::InvalidDigest`] for a malformed digest.
    pub fn from_stored(keys: impl IntoIterator<Item = StoredApiKey>) -> Result<Self, ApiKeyError> {
        let auth = Self::new();
        {
            let mut store = auth.write();
            for key in keys {
                let digest = parse_hex_digest(&key.sha256).ok_or(ApiKeyError::InvalidDigest)?;
                store
                    .by_digest
                    .insert(digest, Entry { record: Arc::new(key.record), retired_at: key.retired_at });
            }
        }
        Ok(auth)
    }

    /// Replaces every key with `keys` at once (a reload of the persisted file: a key
    /// revoked there stops working here). On error nothing changes.
    ///
    /// # Errors
    /// [`ApiKeyError::InvalidDigest`] for a malformed digest.
    pub fn replace_stored(&self, keys: impl IntoIterator<Item = StoredApiKey>) -> Result<(), ApiKeyError> {
        let fresh = Self::from_stored(keys)?;
        let fresh = std::mem::take(&mut *fresh.write());
        *self.write() = fresh;
        Ok(())
    }

    /// Every key, as digests and records, for persisting.
    #[must_use]
    pub fn export(&self) -> Vec<StoredApiKey> {
        let store = self.read();
        let mut out: Vec<StoredApiKey> = store
            .by_digest
            .iter()
            .map(|(digest, entry)| StoredApiKey {
                sha256: hex::encode(digest),
                record: (*entry.record).clone(),
                retired_at: entry.retired_at,
            })
            .collect();
        out.sort_by(|a, b| a.record.id.cmp(&b.record.id).then(a.sha256.cmp(&b.sha256)));
        out
    }

    /// Creates a key; the plaintext is returned once and not kept.
    ///
    /// # Errors
    /// [`ApiKeyError::Randomness`] if the OS cannot supply randomness.
    pub fn create(&self, spec: ApiKeySpec) -> Result<IssuedApiKey, ApiKeyError> {
        let now = unix_now();
        let record = ApiKeyRecord {
            id: random_id()?,
            client_id: spec.client_id,
            tenant: spec.tenant,
            roles: spec.roles,
            scopes: spec.scopes,
            created_at: now,
            expires_at: spec.ttl.map(|ttl| now.saturating_add(ttl.as_secs())),
            label: spec.label,
        };
        let key = generate_key()?;
        self.write()
            .by_digest
            .insert(digest_of(&key), Entry { record: Arc::new(record.clone()), retired_at: None });
        Ok(IssuedApiKey { record, key: SecretString::from(key) })
    }

    /// Revokes every key with this id (including rotated-away keys in their grace period).
    ///
    /// # Errors
    /// [`ApiKeyError::UnknownId`] if there is none.
    pub fn revoke(&self, id: &str) -> Result<(), ApiKeyError> {
        let mut store = self.write();
        let before = store.by_digest.len();
        store.by_digest.retain(|_, entry| entry.record.id != id);
        if store.by_digest.len() == before { Err(ApiKeyError::UnknownId(id.to_owned())) } else { Ok(()) }
    }

    /// Issues a new key for the same record; the old key keeps working for `grace`
    /// (zero: stops at once), so a deployment can switch without downtime.
    ///
    /// # Errors
    /// [`ApiKeyError::UnknownId`] if no live key has this id.
    pub fn rotate(&self, id: &str, grace: Duration) -> Result<IssuedApiKey, ApiKeyError> {
        let key = generate_key()?;
        let retire_at = unix_now().saturating_add(grace.as_secs());
        let mut store = self.write();
        let mut record = None;
        for entry in store.by_digest.values_mut() {
            if entry.record.id == id && entry.retired_at.is_none() {
                entry.retired_at = Some(retire_at);
                record = Some(Arc::clone(&entry.record));
            }
        }
        let record = record.ok_or_else(|| ApiKeyError::UnknownId(id.to_owned()))?;
        if grace.is_zero() {
            store.by_digest.retain(|_, e| !(e.record.id == id && e.retired_at.is_some()));
        }
        store.by_digest.insert(digest_of(&key), Entry { record: Arc::clone(&record), retired_at: None });
        Ok(IssuedApiKey { record: (*record).clone(), key: SecretString::from(key) })
    }

    /// The records of live keys (one per id), sorted by id.
    #[must_use]
    pub fn list(&self) -> Vec<ApiKeyRecord> {
        let store = self.read();
        let mut out: Vec<ApiKeyRecord> = store
            .by_digest
            .values()
            .filter(|e| e.retired_at.is_none())
            .map(|e| (*e.record).clone())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Checks a presented key.
    ///
    /// # Errors
    /// [`AuthError::MalformedApiKey`], [`AuthError::UnknownApiKey`] or
    /// [`AuthError::ApiKeyExpired`].
    pub fn verify(&self, key: &str) -> Result<ClientContext, AuthError> {
        check_format(key)?;
        let digest = digest_of(key);
        let record = {
            let store = self.read();
            let entry = store.by_digest.get(&digest).ok_or(AuthError::UnknownApiKey)?;
            let now = unix_now();
            if entry.retired_at.is_some_and(|at| at <= now)
                || entry.record.expires_at.is_some_and(|at| at <= now)
            {
                return Err(AuthError::ApiKeyExpired);
            }
            Arc::clone(&entry.record)
        };
        let mut builder = ClientContext::builder(record.client_id.clone(), AuthMethod::ApiKey)
            .maybe_tenant(record.tenant.clone())
            .roles(record.roles.iter().cloned())
            .scopes(record.scopes.iter().cloned())
            .credential_id(record.id.clone())
            .issued_at(record.created_at);
        if let Some(exp) = record.expires_at {
            builder = builder.expires_at(exp);
        }
        Ok(builder.build())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for ApiKeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuth").field("keys", &self.read().by_digest.len()).finish()
    }
}

impl AuthProvider for ApiKeyAuth {
    fn authenticate<'a>(
        &'a self,
        request: AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<ClientContext, AuthError>> {
        Box::pin(async move {
            let key = match request.headers().get(API_KEY_HEADER) {
                Some(value) => {
                    if request.headers().contains_key(http::header::AUTHORIZATION) {
                        return Err(AuthError::MalformedHeader(
                            "both Authorization and X-API-Key are present",
                        ));
                    }
                    value
                        .to_str()
                        .map_err(|_| AuthError::MalformedHeader("X-API-Key is not visible ASCII"))?
                }
                None => {
                    let token = request.bearer_token()?;
                    if !token.starts_with(API_KEY_PREFIX) {
                        return Err(AuthError::UnrecognizedCredential);
                    }
                    token
                }
            };
            let context = self.verify(key)?;
            Ok(context.with_request_info(request.peer_ip(), request.user_agent()))
        })
    }
}

fn check_format(key: &str) -> Result<(), AuthError> {
    let body =
        key.strip_prefix(API_KEY_PREFIX).ok_or(AuthError::MalformedApiKey("missing the psk_ prefix"))?;
    if key.len() != API_KEY_LEN {
        return Err(AuthError::MalformedApiKey("wrong length"));
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AuthError::MalformedApiKey("characters outside base62"));
    }
    let (payload, checksum) = key.split_at(API_KEY_LEN - CHECKSUM_CHARS);
    if checksum != checksum_of(payload) {
        return Err(AuthError::MalformedApiKey("checksum mismatch"));
    }
    Ok(())
}

fn checksum_of(payload: &str) -> String {
    let mut n = crc32fast::hash(payload.as_bytes());
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

fn generate_key() -> Result<String, ApiKeyError> {
    let rng = SystemRandom::new();
    let mut key = String::with_capacity(API_KEY_LEN);
    key.push_str(API_KEY_PREFIX);
    // Rejection sampling keeps every base62 symbol equally likely.
    let mut buf = [0u8; 64];
    while key.len() < API_KEY_PREFIX.len() + RANDOM_CHARS {
        rng.fill(&mut buf).map_err(|_| ApiKeyError::Randomness)?;
        for &b in &buf {
            if b < 248 && key.len() < API_KEY_PREFIX.len() + RANDOM_CHARS {
                key.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    let checksum = checksum_of(&key);
    key.push_str(&checksum);
    Ok(key)
}

fn random_id() -> Result<String, ApiKeyError> {
    let mut bytes = [0u8; 8];
    SystemRandom::new().fill(&mut bytes).map_err(|_| ApiKeyError::Randomness)?;
    Ok(format!("key_{}", hex::encode(bytes)))
}

fn digest_of(key: &str) -> Digest {
    let d = digest::digest(&digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn parse_hex_digest(text: &str) -> Option<Digest> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// True if `text` has the shape and checksum of a Palisade API key: for secret scanners.
#[must_use]
pub fn looks_like_api_key(text: &str) -> bool {
    check_format(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate_key().expect("rng");
        assert_eq!(key.len(), API_KEY_LEN);
        assert!(key.starts_with("psk_"));
        assert!(looks_like_api_key(&key));
        assert_ne!(key, generate_key().expect("rng"));
    }

    #[test]
    fn format_checks_table() {
        let good = generate_key().expect("rng");
        let mut flipped = good.clone().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        let cases = [
            (good.clone(), None),
            (flipped, Some("checksum mismatch")),
            (good.replacen("psk_", "pk__", 1), Some("missing the psk_ prefix")),
            (format!("{good}x"), Some("wrong length")),
            (good[..API_KEY_LEN - 1].to_owned(), Some("wrong length")),
            (format!("psk_{}", "-".repeat(46)), Some("characters outside base62")),
        ];
        for (key, expected) in cases {
            match (check_format(&key), expected) {
                (Ok(()), None) => {}
                (Err(AuthError::MalformedApiKey(reason)), Some(want)) => assert_eq!(reason, want, "{key}"),
                (got, want) => panic!("{key}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn hex_round_trips() {
        let d = digest_of("x");
        assert_eq!(parse_hex_digest(&hex::encode(d)), Some(d));
        assert_eq!(parse_hex_digest("zz"), None);
    }
}
