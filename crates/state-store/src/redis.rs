//! [`RedisStateStore`]: state shared by several replicas.

use std::time::Duration;

use deadpool_redis::redis::AsyncCommands as _;
use deadpool_redis::{Config, Pool, Runtime};
use identity_types::IsolationKey;

use crate::{BoxFuture, Limits, StateError, StateHandle, StateStore, storage_key};

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

    async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        condition: &str,
    ) -> Result<bool, StateError> {
        let mut connection = self.pool.get().await.map_err(backend)?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let reply: Option<String> = deadpool_redis::redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .arg(condition)
            .query_async(&mut *connection)
            .await
            .map_err(backend)?;
        Ok(reply.is_some())
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
        Box::pin(async move {
            let mut connection = self.pool.get().await.map_err(backend)?;
            connection.get(self.key(owner, handle)).await.map_err(backend)
        })
    }

    fn delete<'a>(
        &'a self,
        owner: &'a IsolationKey,
        handle: &'a StateHandle,
    ) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move {
            let mut connection = self.pool.get().await.map_err(backend)?;
            let removed: u64 = connection.del(self.key(owner, handle)).await.map_err(backend)?;
            Ok(removed > 0)
        })
    }
}
