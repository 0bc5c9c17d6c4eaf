//! The verified-token cache.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use identity_types::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use ring::digest;

/// The SHA-256 of a token: the cache key. A collision-resistant hash, so nobody can craft
/// a second token that finds the first one's cache entry.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn token_hash(token: &str) -> TokenHash {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// An LRU of contexts built from tokens that verified. It only saves the signature check
/// and claim parsing: expiry and revocation are checked again on every hit by the caller.
pub(crate) struct TokenCache {
    inner: Option<Mutex<LruCache<TokenHash, ClientContext>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TokenCache {
    /// A cache of `capacity` entries; 0 disables caching.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups that found a context, and lookups that did not (0, 0 when disabled).
    pub(crate) fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    pub(crate) fn get(&self, key: &TokenHash) -> Option<ClientContext> {
        let cache = self.inner.as_ref()?;
        let found = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn insert(&self, key: TokenHash, context: ClientContext) {
        if let Some(cache) = &self.inner {
            cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).put(key, context);
        }
    }

    pub(crate) fn remove(&self, key: &TokenHash) {
        if let Some(cache) = &self.inner {
            cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop(key);
        }
    }

    pub(crate) fn clear(&self) {
        if let Some(cache) = &self.inner {
            cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |c| c.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len())
    }
}
