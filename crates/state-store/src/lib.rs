//! # state-store
//!
//! Per-principal state for Palisade servers: a value stored under a **server-minted
//! random handle** and the owner's [`IsolationKey`], as `<IsolationKey>:<handle>`.
//!
//! The handle is only a name, never a credential: every lookup also takes the caller's
//! isolation key, so a handle minted for principal A and presented by principal B reads
//! `<B>:<handle>`, which does not exist. B learns nothing, not even that the handle is
//! valid for someone else. This is how 2026-07-28 state handles (`requestState`) and
//! per-session state of 2025-11-25 sessions are kept; both are bounded by a TTL and a
//! size cap.
//!
//! Depends only on `identity-types`. Two backends implement [`StateStore`]:
//! [`MemoryStateStore`] (one process, bounded in entries and bytes) and
//! [`RedisStateStore`] (several replicas; `SET … PX … NX` under a key prefix). Both hold
//! each principal to [`Limits::max_entries_per_principal`] live entries, its sessions'
//! slots included, so that one caller cannot fill the store for everyone else.
//!
//! ```
//! use identity_types::{ClientId, IsolationKey};
//! use state_store::{MemoryStateStore, StateStore, Limits};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = MemoryStateStore::new(Limits::default());
//! let alice = IsolationKey::for_principal(None, &ClientId::new("alice")?);
//! let bob = IsolationKey::for_principal(None, &ClientId::new("bob")?);
//! let handle = store.mint(&alice, b"cart: 3 items".to_vec(), None).await?;
//! assert_eq!(store.get(&alice, &handle).await?, Some(b"cart: 3 items".to_vec()));
//! assert_eq!(store.get(&bob, &handle).await?, None); // not a credential
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod memory;
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use identity_types::IsolationKey;
use ring::rand::{SecureRandom, SystemRandom};

pub use memory::MemoryStateStore;
pub use redis::RedisStateStore;

/// A boxed, sendable future (the stores are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A server-minted state handle: `st_` and 32 lower-case hex digits (128 random bits).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StateHandle(String);

impl StateHandle {
    /// A fresh random handle.
    ///
    /// # Errors
    /// [`StateError::Randomness`] if the OS cannot supply randomness.
    pub fn mint() -> Result<Self, StateError> {
        let mut bytes = [0u8; 16];
        SystemRandom::new().fill(&mut bytes).map_err(|_| StateError::Randomness)?;
        Ok(Self(format!("st_{}", hex::encode(bytes))))
    }

    /// Parses a handle a client presented.
    ///
    /// # Errors
    /// [`StateError::MalformedHandle`] unless it has exactly the minted shape.
    pub fn parse(text: &str) -> Result<Self, StateError> {
        let ok = text.len() == 35
            && text.starts_with("st_")
            && text[3..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok { Ok(Self(text.to_owned())) } else { Err(StateError::MalformedHandle) }
    }

    /// The handle as text (safe to send to the client).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StateHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StateHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHandle({})", self.0)
    }
}

/// The storage key of a handle: the owner's isolation key, then the handle. Injective,
/// because isolation keys are and handles have a fixed shape without `:`.
#[must_use]
pub fn storage_key(owner: &IsolationKey, handle: &StateHandle) -> String {
    format!("{}:{}", owner.as_str(), handle.as_str())
}

/// A named slot of state (`cart`, `draft.v2`): 1–64 characters of `a-z 0-9 _ . -`. Used for
/// per-session state, where the owner key already names the session.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SlotName(String);

impl SlotName {
    /// Validates a slot name.
    ///
    /// # Errors
    /// [`StateError::MalformedSlot`] outside the alphabet or length.
    pub fn new(name: &str) -> Result<Self, StateError> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
        if ok { Ok(Self(name.to_owned())) } else { Err(StateError::MalformedSlot) }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The storage key of a slot: the owner's isolation key, `:@`, the slot. Distinct from
/// every handle key (`@` never occurs in an isolation key or a handle).
#[must_use]
pub fn slot_key(owner: &IsolationKey, slot: &SlotName) -> String {
    format!("{}:@{}", owner.as_str(), slot.as_str())
}

/// Bounds on stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest value in bytes.
    pub max_value_bytes: usize,
    /// TTL when the caller gives none, and the longest TTL accepted.
    pub default_ttl: Duration,
    /// The longest TTL a caller may ask for.
    pub max_ttl: Duration,
    /// Most entries held in all (memory backend; Redis is bounded by its own
    /// `maxmemory`).
    pub max_entries: usize,
    /// Most bytes of values held in all (memory backend).
    pub max_total_bytes: usize,
    /// Most live entries one principal holds, its sessions' slots included (both
    /// backends): one caller cannot take the store from the others.
    pub max_entries_per_principal: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_value_bytes: 64 * 1024,
            default_ttl: Duration::from_secs(15 * 60),
            max_ttl: Duration::from_secs(24 * 3600),
            max_entries: 100_000,
            max_total_bytes: 256 << 20,
            max_entries_per_principal: 256,
        }
    }
}

impl Limits {
    pub(crate) fn check(&self, value: &[u8], ttl: Option<Duration>) -> Result<Duration, StateError> {
        if value.len() > self.max_value_bytes {
            return Err(StateError::TooLarge { max: self.max_value_bytes, actual: value.len() });
        }
        let ttl = ttl.unwrap_or(self.default_ttl);
        if ttl.is_zero() || ttl > self.max_ttl {
            return Err(StateError::InvalidTtl { max: self.max_ttl });
        }
        Ok(ttl)
    }
}

/// Why a state operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A presented handle does not have the minted shape.
    #[error("malformed state handle")]
    MalformedHandle,
    /// A slot name is outside `a-z 0-9 _ . -` or 1–64 characters.
    #[error("malformed slot name")]
    MalformedSlot,
    /// The value is larger than allowed.
    #[error("state value is {actual} bytes; the maximum is {max}")]
    TooLarge {
        /// The maximum in bytes.
        max: usize,
        /// The value's size.
        actual: usize,
    },
    /// The TTL is zero or longer than allowed.
    #[error("state TTL must be positive and at most {max:?}")]
    InvalidTtl {
        /// The longest TTL accepted.
        max: Duration,
    },
    /// The store is full (memory backend: [`Limits::max_entries`] or
    /// [`Limits::max_total_bytes`]).
    #[error("the state store is full")]
    Full,
    /// The principal already holds [`Limits::max_entries_per_principal`] live entries.
    #[error("this principal holds the most state entries allowed ({max})")]
    QuotaExceeded {
        /// The per-principal limit.
        max: usize,
    },
    /// The backend failed (Redis down, timeout); nothing was stored.
    #[error("state backend unavailable: {0}")]
    Backend(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator is unavailable")]
    Randomness,
}

/// Where per-principal state lives. Every operation takes the owner's isolation key.
pub trait StateStore: Send + Sync {
    /// Stores `value` under a fresh handle for `owner`, for `ttl` (or the default).
    fn mint<'a>(
        &'a self,
        owner: &'a IsolationKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<StateHandle, StateError>>;

    /// Replaces the value of an existing handle of `owner`; false if there is none.
    fn update<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StateError>>;

    /// The value of `owner`'s handle, if it exists and has not expired. Another
    /// principal's handle reads as absent.
    fn get<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;

    /// Deletes `owner`'s handle; false if there was none.
    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<bool, StateError>>;

    /// Sets a named slot of `owner` (creating or replacing it).
    fn put_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// Reads a named slot of `owner`.
    fn get_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;

    /// Deletes a named slot of `owner`; false if there was none.
    fn delete_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<bool, StateError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_have_one_shape() {
        let h = StateHandle::mint().expect("rng");
        assert_eq!(StateHandle::parse(h.as_str()), Ok(h.clone()));
        assert_ne!(h, StateHandle::mint().expect("rng"));
        for bad in [
            "",
            "st_",
            "st_XYZ",
            &format!("{}0", h.as_str()),
            &h.as_str().replace("st_", "ts_"),
            "st_0123456789abcdef0123456789ABCDEF",
        ] {
            assert_eq!(StateHandle::parse(bad), Err(StateError::MalformedHandle), "{bad}");
        }
    }

    #[test]
    fn limits_table() {
        let limits = Limits {
            max_value_bytes: 4,
            default_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(60),
            ..Limits::default()
        };
        assert_eq!(limits.check(b"1234", None), Ok(Duration::from_secs(10)));
        assert!(matches!(limits.check(b"12345", None), Err(StateError::TooLarge { .. })));
        assert!(matches!(limits.check(b"1", Some(Duration::ZERO)), Err(StateError::InvalidTtl { .. })));
        assert!(matches!(
            limits.check(b"1", Some(Duration::from_secs(61))),
            Err(StateError::InvalidTtl { .. })
        ));
    }
}
