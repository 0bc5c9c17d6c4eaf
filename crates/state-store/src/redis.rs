//! [`RedisStateStore`]: state shared by several replicas.

use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;
use deadpool_redis::{Config, Pool, Runtime};
use identity_types::IsolationKey;

use crate::{BoxFuture, Limits, SlotName, StateError, StateHandle, StateStore, slot_key, storage_key};

/// Keeps state in Redis under `<prefix><IsolationKey>:<handle>`, each key with a
/// millisecond TTL (`PX`). Minting uses `SET … NX` so a (vanishingly unlikely) handle
/// collision never overwrites another entry; updates use `SET … XX`.
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

    /// `SET key value PX ttl [NX|XX]`; `condition` empty for an unconditional set.
    async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        condition: &str,
    ) -> Result<bool, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut command = deadpool_redis::redis::cmd("SET");
        command.arg(&key).arg(value).arg("PX").arg(millis);
        if !condition.is_empty() {
            command.arg(condition);
        }
        let reply: Option<String> = command.query_async(&mut *connection).await.map_err(backend)?;
        Ok(reply.is_some())
    }

    async fn read(&self, key: String) -> Result<Option<Vec<u8>>, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        connection.get(key).await.map_err(backend)
    }

    async fn remove(&self, key: String) -> Result<bool, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        let removed: u64 = connection.del(key).await.map_err(backend)?;
        Ok(removed > 0)
    }
}

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
            if self.set(self.key(owner, &handle), value, ttl, "NX").await? {
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
            self.set(self.key(owner, handle), value, ttl, "XX").await
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
        Box::pin(self.remove(self.key(owner, handle)))
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
            self.set(format!("{}{}", self.prefix, slot_key(owner, slot)), value, ttl, "").await.map(|_| ())
        })
    }

    fn get_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(self.read(format!("{}{}", self.prefix, slot_key(owner, slot))))
    }

    fn delete_slot<'a>(
        &'a self,
        owner: &'a IsolationKey,
        slot: &'a SlotName,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(self.remove(format!("{}{}", self.prefix, slot_key(owner, slot))))
    }
}
