//! [`MemoryStateStore`]: state for a single process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use identity_types::IsolationKey;

use crate::{BoxFuture, Limits, SlotName, StateError, StateHandle, StateStore, slot_key, storage_key};

/// Keeps state in memory, bounded by [`Limits::max_entries`], [`Limits::max_total_bytes`]
/// and, per principal, [`Limits::max_entries_per_principal`]; expired entries are dropped
/// when a bound is reached and never returned.
#[derive(Debug)]
pub struct MemoryStateStore {
    limits: Limits,
    table: Mutex<Table>,
}

/// Entries grouped by principal (the owner key without its session), with running
/// totals of the whole table.
#[derive(Debug, Default)]
struct Table {
    principals: HashMap<String, HashMap<String, Entry>>,
    entries: usize,
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Instant,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

impl Table {
    fn get(&self, principal: &str, key: &str) -> Option<&Entry> {
        self.principals.get(principal)?.get(key).filter(|e| e.live(Instant::now()))
    }

    fn remove(&mut self, principal: &str, key: &str) -> Option<Entry> {
        let entries = self.principals.get_mut(principal)?;
        let removed = entries.remove(key)?;
        if entries.is_empty() {
            self.principals.remove(principal);
        }
        self.entries -= 1;
        self.bytes -= removed.value.len();
        Some(removed)
    }

    /// Drops the expired entries of one principal.
    fn prune_principal(&mut self, principal: &str, now: Instant) {
        let Some(entries) = self.principals.get_mut(principal) else { return };
        let (count, bytes) = drop_expired(entries, now);
        if entries.is_empty() {
            self.principals.remove(principal);
        }
        self.entries -= count;
        self.bytes -= bytes;
    }

    /// Drops every expired entry.
    fn prune(&mut self, now: Instant) {
        let (mut count, mut bytes) = (0, 0);
        self.principals.retain(|_, entries| {
            let (c, b) = drop_expired(entries, now);
            count += c;
            bytes += b;
            !entries.is_empty()
        });
        self.entries -= count;
        self.bytes -= bytes;
    }

    fn live_entries_of(&self, principal: &str, now: Instant) -> usize {
        self.principals.get(principal).map_or(0, |entries| entries.values().filter(|e| e.live(now)).count())
    }
}

impl MemoryStateStore {
    /// An empty store.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self { limits, table: Mutex::new(Table::default()) }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self, owner: &IsolationKey, key: &str) -> Option<Vec<u8>> {
        self.table().get(owner.principal().as_str(), key).map(|e| e.value.clone())
    }

    fn delete_key(&self, owner: &IsolationKey, key: &str) -> bool {
        self.table().remove(owner.principal().as_str(), key).is_some_and(|e| e.live(Instant::now()))
    }

    /// Stores `value` under `key`; with `must_exist`, only over a live entry (false if
    /// there is none).
    fn put(
        &self,
        owner: &IsolationKey,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        must_exist: bool,
    ) -> Result<bool, StateError> {
        let now = Instant::now();
        let principal = owner.principal();
        let principal = principal.as_str();
        let mut table = self.table();
        let live = table.get(principal, &key).is_some();
        if must_exist && !live {
            return Ok(false);
        }
        // What this write replaces does not count against the bounds.
        let replaced = table.remove(principal, &key);
        let fits = |table: &Table| {
            table.entries < self.limits.max_entries
                && table.bytes.saturating_add(value.len()) <= self.limits.max_total_bytes
        };
        if !live {
            let max = self.limits.max_entries_per_principal;
            if table.live_entries_of(principal, now) >= max {
                table.prune_principal(principal, now);
                if table.live_entries_of(principal, now) >= max {
                    return Err(StateError::QuotaExceeded { max });
                }
            }
        }
        if !fits(&table) {
            table.prune(now);
            if !fits(&table) {
                // Put back what was there: a refused write changes nothing.
                if let Some(entry) = replaced {
                    insert(&mut table, principal, key, entry);
                }
                return Err(StateError::Full);
            }
        }
        insert(&mut table, principal, key, Entry { value, expires: now + ttl });
        Ok(true)
    }
}

/// Removes the expired entries of one principal's map; returns how many, and their
/// bytes.
fn drop_expired(entries: &mut HashMap<String, Entry>, now: Instant) -> (usize, usize) {
    let (mut count, mut bytes) = (0, 0);
    entries.retain(|_, e| {
        let live = e.live(now);
        if !live {
            count += 1;
            bytes += e.value.len();
        }
        live
    });
    (count, bytes)
}

fn insert(table: &mut Table, principal: &str, key: String, entry: Entry) {
    table.entries += 1;
    table.bytes += entry.value.len();
    table.principals.entry(principal.to_owned()).or_default().insert(key, entry);
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
            self.put(owner, storage_key(owner, &handle), value, ttl, false)?;
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
            self.put(owner, storage_key(owner, handle), value, ttl, true)
        })
    }

    fn get<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move { Ok(self.read(owner, &storage_key(owner, handle))) })
    }

    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move { Ok(self.delete_key(owner, &storage_key(owner, handle))) })
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
            self.put(owner, slot_key(owner, slot), value, ttl, false).map(|_| ())
        })
    }

    fn get_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move { Ok(self.read(owner, &slot_key(owner, slot))) })
    }

    fn delete_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move { Ok(self.delete_key(owner, &slot_key(owner, slot))) })
    }
}
