//! [`MemoryStateStore`]: state for a single process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use identity_types::IsolationKey;

use crate::{BoxFuture, Limits, SlotName, StateError, StateHandle, StateStore, slot_key, storage_key};

/// Keeps state in memory, bounded by [`Limits::max_entries`]; expired entries are
/// dropped when the store fills up and never returned.
#[derive(Debug)]
pub struct MemoryStateStore {
    limits: Limits,
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl MemoryStateStore {
    /// An empty store.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self { limits, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self, key: &str) -> Option<Vec<u8>> {
        self.entries().get(key).filter(|(_, expires)| *expires > Instant::now()).map(|(v, _)| v.clone())
    }

    fn remove(&self, key: &str) -> bool {
        self.entries().remove(key).is_some_and(|(_, expires)| expires > Instant::now())
    }

    fn put(&self, key: String, value: Vec<u8>, ttl: Duration, must_exist: bool) -> Result<bool, StateError> {
        let now = Instant::now();
        let mut entries = self.entries();
        let live = entries.get(&key).is_some_and(|(_, expires)| *expires > now);
        if must_exist && !live {
            return Ok(false);
        }
        if !live && entries.len() >= self.limits.max_entries {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.limits.max_entries {
                return Err(StateError::Full);
            }
        }
        entries.insert(key, (value, now + ttl));
        Ok(true)
    }
}

impl StateStore for MemoryStateStore {
    fn mint<'a>(
        &'a self,
        owner: &'a IsolationKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<StateHandle, StateError>> {
        Box::pin(async move {
            let ttl = self.limits.check(&value, ttl)?;
            let handle = StateHandle::mint()?;
            self.put(storage_key(owner, &handle), value, ttl, false)?;
            Ok(handle)
        })
    }

    fn update<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move {
            let ttl = self.limits.check(&value, ttl)?;
            self.put(storage_key(owner, handle), value, ttl, true)
        })
    }

    fn get<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move {
            let entries = self.entries();
            Ok(entries
                .get(&storage_key(owner, handle))
                .filter(|(_, expires)| *expires > Instant::now())
                .map(|(v, _)| v.clone()))
        })
    }

    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move {
            let removed = self.entries().remove(&storage_key(owner, handle));
            Ok(removed.is_some_and(|(_, expires)| expires > Instant::now()))
        })
    }

    fn put_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            let ttl = self.limits.check(&value, ttl)?;
            self.put(slot_key(owner, slot), value, ttl, false).map(|_| ())
        })
    }

    fn get_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move { Ok(self.read(&slot_key(owner, slot))) })
    }

    fn delete_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move { Ok(self.remove(&slot_key(owner, slot))) })
    }
}
