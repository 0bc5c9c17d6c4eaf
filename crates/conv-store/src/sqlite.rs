//! `SqliteStore`: the embedded default (sqlx, WAL, `synchronous = FULL`).
//!
//! ```sql
//! conv_sessions (session_id TEXT PRIMARY KEY, tenant, owner, title, created_at, updated_at, message_count)
//! conv_messages (session_id, seq, tenant, owner, created_at, body, PRIMARY KEY (session_id, seq))
//! ```
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, so the claim (`INSERT … ON CONFLICT DO
//! NOTHING`), the ownership check, the capacity check and the inserts happen under one
//! write lock: two principals racing for a new session cannot both win, and parallel
//! appends cannot interleave their sequence numbers.

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use identity_types::{IsolationKey, SessionId, unix_now_ms};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};

use crate::message::prepare_batch;
use crate::{
    AppendReceipt, ConvError, Limits, ListQuery, Message, PurgeReport, SessionInfo, StoredMessage, Window,
    check_capacity, check_list, check_owner, check_title, check_window, record, stored_session_id, to_i64,
    to_u64,
};

fn unavailable(error: sqlx::Error) -> ConvError {
    ConvError::Unavailable(format!("sqlite: {error}"))
}

/// The caller's session's message count (no row: absent or not the caller's).
const OWNED_COUNT: &str = "SELECT message_count FROM conv_sessions WHERE session_id = ?1 AND owner = ?2";

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS conv_sessions (
        session_id TEXT PRIMARY KEY NOT NULL,
        tenant TEXT NOT NULL,
        owner TEXT NOT NULL CHECK (owner <> ''),
        title TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0))",
    "CREATE INDEX IF NOT EXISTS conv_sessions_owner ON conv_sessions (owner, updated_at DESC)",
    "CREATE TABLE IF NOT EXISTS conv_messages (
        session_id TEXT NOT NULL REFERENCES conv_sessions (session_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL CHECK (seq >= 0),
        tenant TEXT NOT NULL,
        owner TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS conv_messages_owner ON conv_messages (owner)",
];

/// How a SQLite commit reaches the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteDurability {
    /// `synchronous = FULL`: every commit is on disk (fsynced) before the append returns,
    /// so an accepted message survives power loss. The default.
    #[default]
    Full,
    /// `synchronous = NORMAL`: in WAL mode the log is fsynced at checkpoints only. An
    /// accepted message survives a crash of the process, but the last commits before a
    /// power loss or kernel crash may be lost. Roughly halves append latency where fsync
    /// is slow.
    Normal,
}

/// How often the background task of [`SqliteStore::open`] checkpoints the WAL.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// SQLite's own automatic checkpoint, left as a safety net behind the background task
/// (40 MB of 4 KiB pages; SQLite's default is 1000 pages).
const AUTOCHECKPOINT_PAGES: &str = "10000";

/// Aborts the background checkpointer when the last clone of the store is dropped.
#[derive(Debug)]
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Conversations in a SQLite database. See the module docs.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    limits: Limits,
    _checkpointer: Option<Arc<Checkpointer>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` in WAL mode with
    /// `synchronous = FULL` (a committed append survives power loss), and migrates it.
    ///
    /// # Errors
    /// [`ConvError::Unavailable`] if the file cannot be opened or migrated.
    pub async fn open(path: &Path, limits: Limits) -> Result<Self, ConvError> {
        Self::open_with(path, limits, SqliteDurability::Full).await
    }

    /// [`SqliteStore::open`] with a chosen [`SqliteDurability`].
    ///
    /// # Errors
    /// [`ConvError::Unavailable`] if the file cannot be opened or migrated.
    pub async fn open_with(
        path: &Path,
        limits: Limits,
        durability: SqliteDurability,
    ) -> Result<Self, ConvError> {
        let synchronous = match durability {
            SqliteDurability::Full => SqliteSynchronous::Full,
            SqliteDurability::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES);
        let pool =
            SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(unavailable)?;
        let mut store = Self::from_pool(pool, limits).await?;
        // Checkpointing copies the WAL into the database and fsyncs it. Left to SQLite, it
        // runs inside whichever commit crosses the threshold, and that append pays for it
        // (the p99 of the benchmark). A background task does it instead, off every
        // caller's path; PASSIVE never blocks readers or writers.
        let pool = store.pool.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(CHECKPOINT_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                    tracing::warn!(%error, "conv-store: SQLite WAL checkpoint failed; SQLite's own will take over");
                }
            }
        });
        store._checkpointer = Some(Arc::new(Checkpointer(task)));
        Ok(store)
    }

    /// An in-memory database (one connection; gone when the store is dropped).
    ///
    /// # Errors
    /// [`ConvError::Unavailable`] if SQLite cannot start.
    pub async fn in_memory(limits: Limits) -> Result<Self, ConvError> {
        let options =
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(unavailable)?.foreign_keys(true);
        // One connection: every connection to `:memory:` is a separate database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Self::from_pool(pool, limits).await
    }

    /// A store on an existing pool (e.g. shared with the application's database);
    /// creates the tables if they are missing.
    ///
    /// # Errors
    /// [`ConvError::Unavailable`] if the migration fails.
    pub async fn from_pool(pool: SqlitePool, limits: Limits) -> Result<Self, ConvError> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        for statement in MIGRATIONS {
            sqlx::query(statement).execute(&mut *tx).await.map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(Self { pool, limits, _checkpointer: None })
    }

    /// The underlying pool (for tests and maintenance).
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn do_create(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        title: Option<&str>,
    ) -> Result<SessionInfo, ConvError> {
        check_owner(owner)?;
        check_title(title, &self.limits)?;
        let now = to_i64(unix_now_ms());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let inserted = sqlx::query(
            "INSERT INTO conv_sessions (session_id, tenant, owner, title, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(owner.tenant_component())
        .bind(owner.as_str())
        .bind(title)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if inserted == 0 {
            let mine: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM conv_sessions WHERE session_id = ?1 AND owner = ?2")
                    .bind(id.as_str())
                    .bind(owner.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            return Err(if mine.is_some() {
                ConvError::SessionExists
            } else {
                ConvError::SessionAccessDenied
            });
        }
        check_owner_room(&mut tx, owner, &self.limits).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(SessionInfo::empty(id, title, to_u64(now)))
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
        let now = to_i64(now);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let claimed = sqlx::query(
            "INSERT INTO conv_sessions (session_id, tenant, owner, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(owner.tenant_component())
        .bind(owner.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected()
            == 1;
        if claimed {
            check_owner_room(&mut tx, owner, &self.limits).await?;
        }
        let adding = records.len();
        // Reserve the sequence numbers: one statement checks owner and capacity and bumps
        // the count. Dropping the transaction on any refusal rolls the claim back too.
        let reserved: Option<i64> = sqlx::query_scalar(
            "UPDATE conv_sessions SET message_count = message_count + ?3, updated_at = max(updated_at, ?4)
             WHERE session_id = ?1 AND owner = ?2 AND message_count + ?3 <= ?5
             RETURNING message_count",
        )
        .bind(id.as_str())
        .bind(owner.as_str())
        .bind(to_i64(adding as u64))
        .bind(now)
        .bind(to_i64(self.limits.max_messages_per_session))
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        let current = match reserved {
            Some(total) => to_u64(total) - adding as u64,
            None => {
                // Refused: say why (not ours, or full).
                let count: Option<i64> = sqlx::query_scalar(OWNED_COUNT)
                    .bind(id.as_str())
                    .bind(owner.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                let count = to_u64(count.ok_or(ConvError::SessionAccessDenied)?);
                check_capacity(count, adding, &self.limits)?;
                return Err(ConvError::Unavailable("sqlite: the session changed during the append".into()));
            }
        };
        for (seq, body) in (current..).zip(&records) {
            sqlx::query(
                "INSERT INTO conv_messages (session_id, seq, tenant, owner, created_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(id.as_str())
            .bind(to_i64(seq))
            .bind(owner.tenant_component())
            .bind(owner.as_str())
            .bind(now)
            .bind(body)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(AppendReceipt { first_seq: current, count: records.len(), claimed })
    }

    async fn do_load(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        window: Window,
    ) -> Result<Vec<StoredMessage>, ConvError> {
        check_owner(owner)?;
        check_window(window, &self.limits)?;
        // A read transaction: the count and the rows come from one snapshot.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let count: Option<i64> = sqlx::query_scalar(OWNED_COUNT)
            .bind(id.as_str())
            .bind(owner.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let (start, end) = window.range(to_u64(count.ok_or(ConvError::SessionAccessDenied)?));
        let rows = sqlx::query(
            "SELECT seq, body FROM conv_messages
             WHERE session_id = ?1 AND owner = ?2 AND seq >= ?3 AND seq < ?4 ORDER BY seq",
        )
        .bind(id.as_str())
        .bind(owner.as_str())
        .bind(to_i64(start))
        .bind(to_i64(end))
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let seq = to_u64(row.try_get("seq").map_err(unavailable)?);
                // Raw bytes, so a row that is not UTF-8 is reported as corrupt, not as an outage.
                let body: Vec<u8> = row.try_get_unchecked("body").map_err(unavailable)?;
                record::decode(seq, &body)
            })
            .collect()
    }

    async fn do_list(&self, owner: &IsolationKey, query: ListQuery) -> Result<Vec<SessionInfo>, ConvError> {
        check_owner(owner)?;
        check_list(query, &self.limits)?;
        let rows = sqlx::query(
            "SELECT session_id, title, created_at, updated_at, message_count FROM conv_sessions
             WHERE owner = ?1 ORDER BY updated_at DESC, session_id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(owner.as_str())
        .bind(to_i64(query.limit as u64))
        .bind(to_i64(query.offset as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(session_info).collect()
    }

    async fn do_info(&self, owner: &IsolationKey, id: &SessionId) -> Result<SessionInfo, ConvError> {
        check_owner(owner)?;
        let row = sqlx::query(
            "SELECT session_id, title, created_at, updated_at, message_count FROM conv_sessions
             WHERE session_id = ?1 AND owner = ?2",
        )
        .bind(id.as_str())
        .bind(owner.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        session_info(&row.ok_or(ConvError::SessionAccessDenied)?)
    }

    async fn do_rename(
        &self,
        owner: &IsolationKey,
        id: &SessionId,
        title: Option<&str>,
    ) -> Result<(), ConvError> {
        check_owner(owner)?;
        check_title(title, &self.limits)?;
        let changed = sqlx::query(
            "UPDATE conv_sessions SET title = ?3, updated_at = max(updated_at, ?4) WHERE session_id = ?1 AND owner = ?2",
        )
        .bind(id.as_str())
        .bind(owner.as_str())
        .bind(title)
        .bind(to_i64(unix_now_ms()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if changed == 0 { Err(ConvError::SessionAccessDenied) } else { Ok(()) }
    }

    async fn do_delete(&self, owner: &IsolationKey, id: &SessionId) -> Result<u64, ConvError> {
        check_owner(owner)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        // Messages first (the foreign key would cascade, but then we could not count them).
        let messages = sqlx::query("DELETE FROM conv_messages WHERE session_id = ?1 AND owner = ?2")
            .bind(id.as_str())
            .bind(owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let sessions = sqlx::query("DELETE FROM conv_sessions WHERE session_id = ?1 AND owner = ?2")
            .bind(id.as_str())
            .bind(owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        if sessions == 0 {
            // Rolled back on drop.
            return Err(ConvError::SessionAccessDenied);
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(messages)
    }

    async fn do_purge(&self, owner: &IsolationKey) -> Result<PurgeReport, ConvError> {
        check_owner(owner)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let messages = sqlx::query("DELETE FROM conv_messages WHERE owner = ?1")
            .bind(owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let sessions = sqlx::query("DELETE FROM conv_sessions WHERE owner = ?1")
            .bind(owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        tx.commit().await.map_err(unavailable)?;
        Ok(PurgeReport { sessions, messages })
    }
}

/// After a claim inserted a session row: refuses (the caller rolls back) if the owner now
/// holds more than [`Limits::max_sessions_per_owner`].
async fn check_owner_room(
    tx: &mut sqlx::SqliteConnection,
    owner: &IsolationKey,
    limits: &Limits,
) -> Result<(), ConvError> {
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM conv_sessions WHERE owner = ?1")
        .bind(owner.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
    if to_u64(held) > limits.max_sessions_per_owner {
        return Err(ConvError::TooManySessions { max: limits.max_sessions_per_owner });
    }
    Ok(())
}

fn session_info(row: &sqlx::sqlite::SqliteRow) -> Result<SessionInfo, ConvError> {
    let id: &str = row.try_get("session_id").map_err(unavailable)?;
    Ok(SessionInfo {
        id: stored_session_id(id)?,
        title: row.try_get("title").map_err(unavailable)?,
        created_at_ms: to_u64(row.try_get("created_at").map_err(unavailable)?),
        updated_at_ms: to_u64(row.try_get("updated_at").map_err(unavailable)?),
        message_count: to_u64(row.try_get("message_count").map_err(unavailable)?),
    })
}

forward_conversation_store!(SqliteStore);
