//! `RedisStore`: conversations in Redis, for deployments with several replicas.
//!
//! Keys (`P` the configured prefix, `O` the owner's [`IsolationKey`], `S` the session id):
//!
//! ```text
//! P claim:S            string: the owner key that holds S (one namespace for all owners)
//! P O:conv:S:meta      hash: created, updated, title
//! P O:conv:S:msgs      list: the records, position = sequence number
//! P O:sessions         sorted set: S scored by its update time
//! ```
//!
//! The data keys are **derived from the caller's key**, so a read can only ever address the
//! caller's own data: that is this backend's second wall, beside the ownership check. The
//! claim key is global so that two principals cannot both hold one session id; every write
//! runs as one Lua script (atomic in Redis), which checks the claim, the capacity, and only
//! then writes. With a TTL every key of a session expires together, refreshed on each write.
//!
//! Scripts touch keys of more than one hash slot: use a single Redis or Sentinel, not
//! Redis Cluster.

use std::collections::BTreeSet;
use std::time::Duration;

use deadpool_redis::redis::{self, Script};
use deadpool_redis::{Config, Connection, Pool, Runtime};
use identity_types::{IsolationKey, SessionId, unix_now_ms};

use crate::message::prepare_batch;
use crate::{
    AppendReceipt, ConvError, Limits, ListQuery, Message, PurgeReport, SessionInfo, StoredMessage, Window,
    check_list, check_owner, check_title, check_window, record, stored_session_id,
};

fn unavailable(error: impl std::fmt::Display) -> ConvError {
    ConvError::Unavailable(format!("redis: {error}"))
}

// Every script starts with a `#!lua` shebang: Redis (7.0 and later) then refuses a
// script that may write before it starts when memory is exhausted, instead of failing it
// half-way (scripts are atomic but not transactional: a failed command does not undo the
// earlier ones). Every check precedes every write, and the batch size is capped (see
// `MAX_BATCH`) so `unpack` cannot overflow Lua's stack.

/// KEYS: claim, meta, msgs, index. ARGV: owner, session, now, ttl ms (0: none), max
/// sessions, title? Returns 0 created, 1 the caller already holds it, 2 someone else
/// does, 3 the caller holds too many sessions.
const CREATE: &str = r"#!lua
local holder = redis.call('GET', KEYS[1])
if holder then
  if holder ~= ARGV[1] then return 2 end
  if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
end
if redis.call('ZSCORE', KEYS[4], ARGV[2]) == false and redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then
  return 3
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'created', ARGV[3], 'updated', ARGV[3])
if ARGV[6] then redis.call('HSET', KEYS[2], 'title', ARGV[6]) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 0
";

/// KEYS: claim, meta, msgs, index. ARGV: owner, session, now, ttl ms, max count, max
/// sessions, records… Returns {claimed (0/1), first seq}, {-1, 0} if someone else holds
/// the session, {-2, current count} if it is full, {-3, 0} if the caller holds too many
/// sessions to claim another.
const APPEND: &str = r"#!lua
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {-1, 0} end
local count = 0
if holder then count = redis.call('LLEN', KEYS[3]) end
if count + (#ARGV - 6) > tonumber(ARGV[5]) then return {-2, count} end
if (not holder) and redis.call('ZSCORE', KEYS[4], ARGV[2]) == false
   and redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then
  return {-3, 0}
end
local claimed = 0
if not holder then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2], KEYS[3])
  claimed = 1
end
redis.call('HSETNX', KEYS[2], 'created', ARGV[3])
local updated = redis.call('HGET', KEYS[2], 'updated')
if (not updated) or tonumber(updated) < tonumber(ARGV[3]) then
  updated = ARGV[3]
  redis.call('HSET', KEYS[2], 'updated', updated)
end
redis.call('RPUSH', KEYS[3], unpack(ARGV, 7))
redis.call('ZADD', KEYS[4], updated, ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {claimed, count}
";

/// KEYS: claim, meta, msgs, index. ARGV: session, now, ttl ms, title? Returns 0 if the
/// caller has no such session.
const RENAME: &str = r"#!lua
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[4] then redis.call('HSET', KEYS[2], 'title', ARGV[4]) else redis.call('HDEL', KEYS[2], 'title') end
local updated = redis.call('HGET', KEYS[2], 'updated')
if (not updated) or tonumber(updated) < tonumber(ARGV[2]) then
  updated = ARGV[2]
  redis.call('HSET', KEYS[2], 'updated', updated)
end
redis.call('ZADD', KEYS[4], updated, ARGV[1])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
";

/// KEYS: claim, meta, msgs, index. ARGV: owner, session. Deletes whatever of the
/// session exists in the caller's namespace (orphans included) and the claim if the
/// caller holds it. Returns {1 if the session existed else 0, messages deleted}.
const DELETE: &str = r"#!lua
local existed = redis.call('EXISTS', KEYS[2])
local n = redis.call('LLEN', KEYS[3])
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[4], ARGV[2])
return {existed, n}
";

/// The largest `max_append_batch` this backend accepts: the batch travels as script
/// arguments and is pushed with one `unpack`, which Lua's stack bounds.
const MAX_BATCH: usize = 1_000;

/// The longest TTL accepted (ten years), so the millisecond count stays an exact integer
/// in Lua's doubles.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Escapes the glob characters of a `SCAN … MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug)]
struct Scripts {
    create: Script,
    append: Script,
    rename: Script,
    delete: Script,
}

/// Conversations in Redis. See the module docs.
pub struct RedisStore {
    pool: Pool,
    prefix: String,
    limits: Limits,
    ttl: Option<Duration>,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("limits", &self.limits)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis at `url` (e.g. `redis://127.0.0.1:6379`) with every key under
    /// `prefix` (e.g. `palisade:conv:`). With `ttl`, a session expires that long after its
    /// last write.
    ///
    /// # Errors
    /// [`ConvError::Unavailable`] if the pool cannot be built;
    /// [`ConvError::InsecureConfiguration`] for an empty prefix (keys would collide with
    /// whatever else the Redis holds); [`ConvError::InvalidConfiguration`] for a TTL under
    /// one millisecond or over ten years, or a `max_append_batch` over 1,000 (a batch is
    /// pushed by one Lua `unpack`).
    pub fn new(
        url: &str,
        prefix: impl Into<String>,
        limits: Limits,
        ttl: Option<Duration>,
    ) -> Result<Self, ConvError> {
        let prefix = prefix.into();
        if prefix.is_empty() {
            return Err(ConvError::InsecureConfiguration("the Redis key prefix must not be empty".into()));
        }
        if ttl.is_some_and(|ttl| ttl.as_millis() == 0 || ttl > MAX_TTL) {
            return Err(ConvError::InvalidConfiguration("a TTL must be between 1 ms and ten years".into()));
        }
        if limits.max_append_batch > MAX_BATCH {
            return Err(ConvError::InvalidConfiguration(format!(
                "max_append_batch {} exceeds the Redis backend's {MAX_BATCH}",
                limits.max_append_batch
            )));
        }
        let pool = Config::from_url(url).create_pool(Some(Runtime::Tokio1)).map_err(unavailable)?;
        let scripts = Scripts {
            create: Script::new(CREATE),
            append: Script::new(APPEND),
            rename: Script::new(RENAME),
            delete: Script::new(DELETE),
        };
        Ok(Self { pool, prefix, limits, ttl, scripts: std::sync::Arc::new(scripts) })
    }

    async fn connection(&self) -> Result<Connection, ConvError> {
        self.pool.get().await.map_err(unavailable)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.map_or(0, |ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
    }

    fn claim_key(&self, id: &SessionId) -> String {
        format!("{}claim:{}", self.prefix, id.as_str())
    }

    fn meta_key(&self, owner: &IsolationKey, id: &SessionId) -> String {
        format!("{}{}:conv:{}:meta", self.prefix, owner.as_str(), id.as_str())
    }

    fn msgs_key(&self, owner: &IsolationKey, id: &SessionId) -> String {
        format!("{}{}:conv:{}:msgs", self.prefix, owner.as_str(), id.as_str())
    }

    fn index_key(&self, owner: &IsolationKey) -> String {
        format!("{}{}:sessions", self.prefix, owner.as_str())
    }

    /// The session's (created, updated, title, count), or `None` if the caller has none.
    async fn read_info(
        &self,
        connection: &mut Connection,
        owner: &IsolationKey,
        id: &SessionId,
    ) -> Result<Option<SessionInfo>, ConvError> {
        type Reply = ((Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>), u64);
        let ((created, updated, title), count): Reply = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(self.meta_key(owner, id))
            .arg(&["created", "updated", "title"])
            .cmd("LLEN")
            .arg(self.msgs_key(owner, id))
            .query_async(&mut **connection)
            .await
            .map_err(unavailable)?;
        let (Some(created), Some(updated)) = (created, updated) else { return Ok(None) };
        let number = |bytes: &[u8]| {
            std::str::from_utf8(bytes).ok().and_then(|text| text.parse::<u64>().ok()).ok_or_else(|| {
                ConvError::CorruptMetadata(format!("stored time {:?}", String::from_utf8_lossy(bytes)))
            })
        };
        let title = title
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| ConvError::CorruptMetadata("stored title is not UTF-8".into()))
            })
            .transpose()?;
        Ok(Some(SessionInfo {
            id: id.clone(),
            title,
            created_at_ms: number(&created)?,
            updated_at_ms: number(&updated)?,
            message_count: count,
        }))
    }

    async fn do_create(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        title: Option<&str>,
    ) -> Result<SessionInfo, ConvError> {
        check_owner(owner)?;
        check_title(title, &self.limits)?;
        let now = unix_now_ms();
        let mut connection = self.connection().await?;
        let mut invocation = self.scripts.create.prepare_invoke();
        invocation
            .key(self.claim_key(id))
            .key(self.meta_key(owner, id))
            .key(self.msgs_key(owner, id))
            .key(self.index_key(owner))
            .arg(owner.as_str())
            .arg(id.as_str())
            .arg(now)
            .arg(self.ttl_ms())
            .arg(self.limits.max_sessions_per_owner);
        if let Some(title) = title {
            invocation.arg(title);
        }
        let outcome: i64 = invocation.invoke_async(&mut *connection).await.map_err(unavailable)?;
        match outcome {
            0 => Ok(SessionInfo::empty(id, title, now)),
            1 => Err(ConvError::SessionExists),
            3 => Err(ConvError::TooManySessions { max: self.limits.max_sessions_per_owner }),
            _ => Err(ConvError::SessionAccessDenied),
        }
    }

    async fn do_append(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        messages: &[Message],
    ) -> Result<AppendReceipt, ConvError> {
        check_owner(owner)?;
        let now = unix_now_ms();
        let records = prepare_batch(messages, now, &self.limits)?;
        let mut connection = self.connection().await?;
        let (outcome, value): (i64, u64) = self
            .scripts
            .append
            .key(self.claim_key(id))
            .key(self.meta_key(owner, id))
            .key(self.msgs_key(owner, id))
            .key(self.index_key(owner))
            .arg(owner.as_str())
            .arg(id.as_str())
            .arg(now)
            .arg(self.ttl_ms())
            .arg(self.limits.max_messages_per_session)
            .arg(self.limits.max_sessions_per_owner)
            .arg(&records)
            .invoke_async(&mut *connection)
            .await
            .map_err(unavailable)?;
        match outcome {
            -1 => Err(ConvError::SessionAccessDenied),
            -3 => Err(ConvError::TooManySessions { max: self.limits.max_sessions_per_owner }),
            -2 => Err(ConvError::SessionFull {
                current: value,
                adding: records.len(),
                max: self.limits.max_messages_per_session,
            }),
            claimed => Ok(AppendReceipt { first_seq: value, count: records.len(), claimed: claimed == 1 }),
        }
    }

    async fn do_load(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        window: Window,
    ) -> Result<Vec<StoredMessage>, ConvError> {
        check_owner(owner)?;
        check_window(window, &self.limits)?;
        let mut connection = self.connection().await?;
        // Negative indices select the tail without knowing the length first; one MULTI
        // gives the existence check, the length and the range from one moment.
        let (first, last): (i64, i64) = match window {
            Window::Last(0) | Window::From { limit: 0, .. } => (1, 0),
            Window::Last(n) => (-i64::try_from(n).unwrap_or(i64::MAX), -1),
            Window::From { start, limit } => {
                let first = i64::try_from(start).unwrap_or(i64::MAX);
                (first, first.saturating_add(i64::try_from(limit).unwrap_or(i64::MAX)) - 1)
            }
        };
        let (exists, count, items): (bool, u64, Vec<Vec<u8>>) = redis::pipe()
            .atomic()
            .cmd("EXISTS")
            .arg(self.meta_key(owner, id))
            .cmd("LLEN")
            .arg(self.msgs_key(owner, id))
            .cmd("LRANGE")
            .arg(self.msgs_key(owner, id))
            .arg(first)
            .arg(last)
            .query_async(&mut *connection)
            .await
            .map_err(unavailable)?;
        if !exists {
            return Err(ConvError::SessionAccessDenied);
        }
        let first_seq = match window {
            Window::Last(_) => count.saturating_sub(items.len() as u64),
            Window::From { start, .. } => start,
        };
        items.iter().zip(first_seq..).map(|(bytes, seq)| record::decode(seq, bytes)).collect()
    }

    async fn do_list(&self, owner: &IsolationKey, query: ListQuery) -> Result<Vec<SessionInfo>, ConvError> {
        check_owner(owner)?;
        check_list(query, &self.limits)?;
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection().await?;
        let first = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let last = first.saturating_add(i64::try_from(query.limit).unwrap_or(i64::MAX)) - 1;
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.index_key(owner))
            .arg(first)
            .arg(last)
            .query_async(&mut *connection)
            .await
            .map_err(unavailable)?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            let id = stored_session_id(&id)?;
            // A session that expired leaves its index entry behind until the next write.
            if let Some(info) = self.read_info(&mut connection, owner, &id).await? {
                sessions.push(info);
            }
        }
        Ok(sessions)
    }

    async fn do_info(&self, owner: &IsolationKey, id: &SessionId) -> Result<SessionInfo, ConvError> {
        check_owner(owner)?;
        let mut connection = self.connection().await?;
        self.read_info(&mut connection, owner, id).await?.ok_or(ConvError::SessionAccessDenied)
    }

    async fn do_rename(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        title: Option<&str>,
    ) -> Result<(), ConvError> {
        check_owner(owner)?;
        check_title(title, &self.limits)?;
        let mut connection = self.connection().await?;
        let mut invocation = self.scripts.rename.prepare_invoke();
        invocation
            .key(self.claim_key(id))
            .key(self.meta_key(owner, id))
            .key(self.msgs_key(owner, id))
            .key(self.index_key(owner))
            .arg(id.as_str())
            .arg(unix_now_ms())
            .arg(self.ttl_ms());
        if let Some(title) = title {
            invocation.arg(title);
        }
        let found: i64 = invocation.invoke_async(&mut *connection).await.map_err(unavailable)?;
        if found == 1 { Ok(()) } else { Err(ConvError::SessionAccessDenied) }
    }

    /// Deletes one session of `owner`, orphaned keys included: (existed, messages deleted).
    async fn delete_with(
        &self,
        connection: &mut Connection,
        owner: &IsolationKey,
        id: &SessionId,
    ) -> Result<(bool, u64), ConvError> {
        let (existed, messages): (i64, u64) = self
            .scripts
            .delete
            .key(self.claim_key(id))
            .key(self.meta_key(owner, id))
            .key(self.msgs_key(owner, id))
            .key(self.index_key(owner))
            .arg(owner.as_str())
            .arg(id.as_str())
            .invoke_async(&mut **connection)
            .await
            .map_err(unavailable)?;
        Ok((existed == 1, messages))
    }

    async fn do_delete(&self, owner: &IsolationKey, id: &SessionId) -> Result<u64, ConvError> {
        check_owner(owner)?;
        let mut connection = self.connection().await?;
        match self.delete_with(&mut connection, owner, id).await? {
            (true, messages) => Ok(messages),
            (false, _) => Err(ConvError::SessionAccessDenied),
        }
    }

    /// Every session id found under the owner's namespace by an incremental `SCAN`; keys
    /// there that name no valid session are deleted outright (they are the owner's data).
    async fn sweep(
        &self,
        connection: &mut Connection,
        owner: &IsolationKey,
    ) -> Result<BTreeSet<SessionId>, ConvError> {
        let namespace = format!("{}{}:conv:", self.prefix, owner.as_str());
        let pattern = format!("{}*", glob_escape(&namespace));
        let mut found = BTreeSet::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut **connection)
                .await
                .map_err(unavailable)?;
            for key in keys {
                let session = key
                    .strip_prefix(namespace.as_bytes())
                    .and_then(|rest| rest.split(|&b| b == b':').next())
                    .and_then(|id| std::str::from_utf8(id).ok())
                    .and_then(|id| SessionId::new(id).ok());
                match session {
                    Some(id) => {
                        found.insert(id);
                    }
                    None => {
                        let _: u64 = redis::cmd("DEL")
                            .arg(&key)
                            .query_async(&mut **connection)
                            .await
                            .map_err(unavailable)?;
                    }
                }
            }
            if next == 0 {
                return Ok(found);
            }
            cursor = next;
        }
    }

    async fn do_purge(&self, owner: &IsolationKey) -> Result<PurgeReport, ConvError> {
        check_owner(owner)?;
        let mut connection = self.connection().await?;
        // The index is written in the same script as every claim, so it names every
        // session; the sweep finds what it may have lost (key eviction, or TTL and no-TTL
        // writers mixed). Entries that are not session ids were not written by this store
        // and are dropped rather than allowed to block the erasure.
        let entries: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(self.index_key(owner))
            .arg(0)
            .arg(-1)
            .query_async(&mut *connection)
            .await
            .map_err(unavailable)?;
        let mut sessions = self.sweep(&mut connection, owner).await?;
        sessions.extend(
            entries.iter().filter_map(|e| std::str::from_utf8(e).ok()).filter_map(|e| SessionId::new(e).ok()),
        );
        let mut report = PurgeReport::default();
        for id in &sessions {
            let (existed, messages) = self.delete_with(&mut connection, owner, id).await?;
            report.sessions += u64::from(existed);
            report.messages += messages;
        }
        let _: u64 = redis::cmd("DEL")
            .arg(self.index_key(owner))
            .query_async(&mut *connection)
            .await
            .map_err(unavailable)?;
        Ok(report)
    }
}

forward_conversation_store!(RedisStore);
