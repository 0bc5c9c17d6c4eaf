//! [`RedisStateStore`]: state shared by several replicas.

use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;
use deadpool_redis::{Config, Pool, Runtime};
use identity_types::IsolationKey;

use crate::{BoxFuture, Limits, SlotName, StateError, StateHandle, StateStore, slot_key, storage_key};

/// Keeps state in Redis under `<prefix><IsolationKey>:<handle>`, each key with a
/// millisecond TTL (`PX`). Minting uses `SET … NX` so a (vanishingly unlikely) handle
/// collision never overwrites another entry; updates use `SET … XX`. Each principal's
/// live keys are counted in a sorted set beside them (`<prefix><principal>:@@index`,
/// scored by expiry), written in the same Lua script as the entry, which holds the
/// principal to [`Limits::max_entries_per_principal`](crate::Limits) across replicas.
/// The entry and its index are different keys: a Redis Cluster would need them in one
/// slot, so this store expects a single primary (replicated or not), version 5 or
/// later (the script reads the server's clock before writing). Run it with
/// `maxmemory-policy noeviction`: a full Redis then refuses writes (the store fails
/// closed with [`StateError::Backend`]), where an evicting one would drop state that
/// callers were told is kept, and could drop an index and with it the quota's count.
/// (Entries gone some other way are found and uncounted before a write is refused.)
pub struct RedisStateStore {
    pool: Pool,
    prefix: String,
    limits: Limits,
}

impl std::fmt::Debug for RedisStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStateStore")
            .field("prefix", &self.prefix)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn backend(error: impl std::fmt::Display) -> StateError {
    StateError::Backend(error.to_string())
}

impl RedisStateStore {
    /// A store on the Redis at `url` (e.g. `redis://127.0.0.1:6379`), with every key under
    /// `prefix` (e.g. `palisade:state:`).
    ///
    /// # Errors
    /// [`StateError::Backend`] if the pool cannot be built.
    pub fn new(url: &str, prefix: impl Into<String>, limits: Limits) -> Result<Self, StateError> {
        let pool = Config::from_url(url).create_pool(Some(Runtime::Tokio1)).map_err(backend)?;
        Ok(Self { pool, prefix: prefix.into(), limits })
    }

    fn key(&self, owner: &IsolationKey, handle: &StateHandle) -> String {
        format!("{}{}", self.prefix, storage_key(owner, handle))
    }

    fn slot(&self, owner: &IsolationKey, slot: &SlotName) -> String {
        format!("{}{}", self.prefix, slot_key(owner, slot))
    }

    /// The principal's index: a sorted set of its entry keys scored by expiry (ms).
    /// `:@@` never starts a handle or a slot key (a slot name has no `@`).
    fn index(&self, owner: &IsolationKey) -> String {
        format!("{}{}:@@index", self.prefix, owner.principal().as_str())
    }

    /// Writes `key` through [`PUT_SCRIPT`]: `condition` is `NX`, `XX` or empty. False
    /// when the condition is not met.
    async fn put(
        &self,
        owner: &IsolationKey,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        condition: &str,
    ) -> Result<bool, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let max = self.limits.max_entries_per_principal;
        let index = self.index(owner);
        // EVAL rather than EVALSHA: a few hundred bytes per write, and no script cache
        // to miss after a Redis restart.
        let reply: i64 = deadpool_redis::redis::cmd("EVAL")
            .arg(PUT_SCRIPT)
            .arg(3)
            .arg(key)
            .arg(&index)
            .arg(format!("{index}:reconciled"))
            .arg(value)
            .arg(millis)
            .arg(condition)
            .arg(max)
            .query_async(&mut *connection)
            .await
            .map_err(backend)?;
        match reply {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(StateError::QuotaExceeded { max }),
        }
    }

    async fn read(&self, key: String) -> Result<Option<Vec<u8>>, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        connection.get(key).await.map_err(backend)
    }

    async fn remove(&self, owner: &IsolationKey, key: String) -> Result<bool, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        let removed: u64 = deadpool_redis::redis::cmd("EVAL")
            .arg(DELETE_SCRIPT)
            .arg(2)
            .arg(key)
            .arg(self.index(owner))
            .query_async(&mut *connection)
            .await
            .map_err(backend)?;
        Ok(removed > 0)
    }
}

/// Stores an entry and counts it in its principal's index, in one step. KEYS: the
/// entry, the index, the index's reconciliation marker. ARGV: value, TTL in ms, `NX` /
/// `XX` / empty, the per-principal limit. Returns 1 when stored, 0 when the condition is
/// not met, -1 over the limit.
/// Expired keys leave the index here, by their score; a new key is refused while the
/// principal holds the limit's worth of live ones.
const PUT_SCRIPT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[3] == 'NX' and exists then return 0 end
if ARGV[3] == 'XX' and not exists then return 0 end
if not exists and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  -- Before refusing, drop index members whose entries are gone some other way
  -- (evicted, or deleted by hand): the index must not hold a principal to entries
  -- it no longer has. At most once a second per principal (KEYS[3] marks it), so a
  -- principal at its quota cannot make every refused write a full scan.
  if redis.call('SET', KEYS[3], '1', 'NX', 'PX', 1000) then
    for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      if redis.call('EXISTS', member) == 0 then redis.call('ZREM', KEYS[2], member) end
    end
  end
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
";

/// Deletes an entry and its place in the index. KEYS: the entry, the index.
const DELETE_SCRIPT: &str = r"
redis.call('ZREM', KEYS[2], KEYS[1])
return redis.call('DEL', KEYS[1])
";

impl StateStore for RedisStateStore {
    fn mint<'a>(
        &'a self,
        owner: &'a IsolationKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<StateHandle, StateError>> {
        Box::pin(async move {
            let ttl = self.limits.check(&value, ttl)?;
            let handle = StateHandle::mint()?;
            if self.put(owner, self.key(owner, &handle), value, ttl, "NX").await? {
                Ok(handle)
            } else {
                Err(StateError::Backend("handle collision".into()))
            }
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
            self.put(owner, self.key(owner, handle), value, ttl, "XX").await
        })
    }

    fn get<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(self.read(self.key(owner, handle)))
    }

    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(self.remove(owner, self.key(owner, handle)))
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
            self.put(owner, self.slot(owner, slot), value, ttl, "").await.map(|_| ())
        })
    }

    fn get_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(self.read(self.slot(owner, slot)))
    }

    fn delete_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(self.remove(owner, self.slot(owner, slot)))
    }
}
