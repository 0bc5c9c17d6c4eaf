//! The Postgres backend (feature `postgres`): an append-only table the application can
//! only insert into and read.
//!
//! Two walls keep history fixed:
//! 1. **Privileges.** [`migrate`] (run by an administrator) creates the tables owned by
//!    the administrator and a role that is granted `SELECT` and `INSERT` only. The
//!    application connects as a login that is a member of that role, never as the owner.
//! 2. **Triggers.** `UPDATE`, `DELETE` and `TRUNCATE` raise an error even for the owner,
//!    so a mistaken maintenance script cannot rewrite history either (a superuser can
//!    still disable triggers; that is what the Merkle checkpoints are for).
//!
//! ```sql
//! CREATE TABLE <schema>.audit_entries     (seq BIGINT PRIMARY KEY, line TEXT NOT NULL, stored_at TIMESTAMPTZ);
//! CREATE TABLE <schema>.audit_checkpoints (size BIGINT PRIMARY KEY, line TEXT NOT NULL, stored_at TIMESTAMPTZ);
//! ```
//!
//! Each batch is one `INSERT … SELECT FROM UNNEST(…)` statement: atomic, and durable
//! when it returns (with Postgres' default `synchronous_commit = on`).

use futures_core::stream::BoxStream;
use std::sync::Arc;

use sqlx::{PgConnection, PgPool, Row as _};

use crate::chain::HmacKeyring;
use crate::checkpoint::{Checkpoint, CheckpointPublicKey};
use crate::log::{Backend, BackendError, BoxFuture};
use crate::record::EncodedRecord;
use crate::replay::{ReplayError, Replayer, ResumeState, newest_trusted};

/// A Postgres backend could not be set up or opened.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// A schema or role name that is not a plain lower-case identifier.
    #[error("{0:?} is not a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes)")]
    BadIdentifier(String),
    /// The database refused.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    /// The stored log failed its checks.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Another writer holds the log.
    #[error("the audit log in schema {0} is open in another writer")]
    Locked(String),
}

fn identifier(name: &str) -> Result<&str, PostgresError> {
    let mut chars = name.chars();
    let ok = name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok { Ok(name) } else { Err(PostgresError::BadIdentifier(name.to_owned())) }
}

/// Creates the schema, the tables, the append-only triggers and the writer role
/// `writer_role` with `SELECT` and `INSERT` only. Idempotent. Run it as an administrator
/// (the tables' owner), not as the application.
///
/// # Errors
/// [`PostgresError`].
pub async fn migrate(admin: &PgPool, schema: &str, writer_role: &str) -> Result<(), PostgresError> {
    let (s, r) = (identifier(schema)?, identifier(writer_role)?);
    let statements = [
        format!("CREATE SCHEMA IF NOT EXISTS {s}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.audit_entries (
                seq BIGINT PRIMARY KEY CHECK (seq >= 0),
                line TEXT NOT NULL,
                stored_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.audit_checkpoints (
                size BIGINT PRIMARY KEY CHECK (size > 0),
                line TEXT NOT NULL,
                stored_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {s}.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'palisade audit tables are append-only (% refused)', TG_OP; END $$"
        ),
        format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}') THEN CREATE ROLE {r} NOLOGIN; END IF;
             END $$"
        ),
        format!("REVOKE ALL ON {s}.audit_entries, {s}.audit_checkpoints FROM PUBLIC, {r}"),
        format!("GRANT USAGE ON SCHEMA {s} TO {r}"),
        format!("GRANT SELECT, INSERT ON {s}.audit_entries, {s}.audit_checkpoints TO {r}"),
    ];
    // Both tables refuse UPDATE and DELETE (per row) and TRUNCATE (per statement).
    let triggers = ["audit_entries", "audit_checkpoints"].into_iter().flat_map(|table| {
        [
            format!(
                "CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {s}.{table}
                 FOR EACH ROW EXECUTE FUNCTION {s}.audit_append_only()"
            ),
            format!(
                "CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {s}.{table}
                 FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_append_only()"
            ),
        ]
    });
    let mut tx = admin.begin().await?;
    // Concurrent migrations of one schema would race on CREATE … IF NOT EXISTS.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("palisade-audit:{s}"))
        .execute(&mut *tx)
        .await?;
    for statement in statements.into_iter().chain(triggers) {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records and checkpoints in Postgres. See the module docs.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    schema: String,
    /// A connection holding the schema's writer lock (a session advisory lock), out of
    /// the pool: closing it when the last clone goes releases the lock.
    _lock: Arc<PgConnection>,
}

/// Takes the schema's writer lock, so two writers never interleave sequence numbers.
/// A just-closed writer's connection may take a moment to go: a few retries.
async fn writer_lock(pool: &PgPool, schema: &str) -> Result<PgConnection, PostgresError> {
    let mut connection = pool.acquire().await?.detach();
    for attempt in 0..20 {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(format!("palisade-audit-writer:{schema}"))
            .fetch_one(&mut connection)
            .await?;
        if locked {
            return Ok(connection);
        }
        if attempt < 19 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    Err(PostgresError::Locked(schema.to_owned()))
}

impl PostgresBackend {
    /// Opens the log in `schema` through `pool` (connected as a member of the writer
    /// role), checks it against its newest checkpoint, and returns the state to resume from.
    ///
    /// # Errors
    /// [`PostgresError`]: the database refused, or the stored log is damaged, shorter
    /// than its checkpoint, or does not match it.
    pub async fn open(
        pool: PgPool,
        schema: &str,
        public_key: &CheckpointPublicKey,
        keys: &HmacKeyring,
    ) -> Result<(Self, ResumeState), PostgresError> {
        let schema = identifier(schema)?.to_owned();
        let lock = writer_lock(&pool, &schema).await?;
        let lines: Vec<String> =
            sqlx::query_scalar(&format!("SELECT line FROM {schema}.audit_checkpoints ORDER BY size"))
                .fetch_all(&pool)
                .await?;
        let mut checkpoints = Vec::with_capacity(lines.len());
        for line in lines {
            checkpoints.push(serde_json::from_str::<Checkpoint>(&line).map_err(|e| {
                ReplayError::Damaged {
                    location: format!("{schema}.audit_checkpoints"),
                    detail: e.to_string(),
                }
            })?);
        }
        let newest = newest_trusted(&checkpoints, public_key)?;
        let mut replayer = Replayer::new(newest, keys)?;
        let select = format!("SELECT seq, line FROM {schema}.audit_entries ORDER BY seq");
        let mut rows: BoxStream<'_, Result<sqlx::postgres::PgRow, sqlx::Error>> =
            sqlx::query(&select).fetch(&pool);
        while let Some(row) = futures_util_next(&mut rows).await {
            let row = row?;
            let seq: i64 = row.try_get(0)?;
            let line: String = row.try_get(1)?;
            replayer.push(line.as_bytes(), &|| format!("{schema}.audit_entries seq {seq}"))?;
        }
        drop(rows);
        let resume = replayer.finish()?;
        Ok((Self { pool, schema, _lock: Arc::new(lock) }, resume))
    }

    /// Every stored record line in seq order, and every checkpoint (for verification).
    ///
    /// # Errors
    /// The database refused.
    pub async fn read_all(&self) -> Result<(Vec<String>, Vec<Checkpoint>), PostgresError> {
        let s = &self.schema;
        let lines: Vec<String> =
            sqlx::query_scalar(&format!("SELECT line FROM {s}.audit_entries ORDER BY seq"))
                .fetch_all(&self.pool)
                .await?;
        let checkpoints: Vec<String> =
            sqlx::query_scalar(&format!("SELECT line FROM {s}.audit_checkpoints ORDER BY size"))
                .fetch_all(&self.pool)
                .await?;
        let checkpoints = checkpoints.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Ok((lines, checkpoints))
    }
}

async fn futures_util_next<T>(stream: &mut BoxStream<'_, T>) -> Option<T> {
    std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await
}

impl Backend for PostgresBackend {
    fn append(&mut self, records: Vec<EncodedRecord>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let seqs: Vec<i64> = records.iter().map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX)).collect();
            let lines: Vec<String> = records.into_iter().map(|r| r.line).collect();
            sqlx::query(&format!(
                "INSERT INTO {}.audit_entries (seq, line) SELECT * FROM UNNEST($1::bigint[], $2::text[])",
                self.schema
            ))
            .bind(seqs)
            .bind(lines)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| match e.as_database_error().and_then(|d| d.code()) {
                Some(code) if code == "23505" => BackendError(
                    "postgres: a record with this seq already exists: another writer appended, or a commit \
                     reported as failed went through; restart to resynchronise"
                        .into(),
                ),
                _ => BackendError(format!("postgres: {e}")),
            })
        })
    }

    fn append_checkpoint<'a>(
        &'a mut self,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            sqlx::query(&format!(
                "INSERT INTO {}.audit_checkpoints (size, line) VALUES ($1, $2)",
                self.schema
            ))
            .bind(i64::try_from(checkpoint.size).unwrap_or(i64::MAX))
            .bind(checkpoint.to_line())
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| BackendError(format!("postgres: {e}")))
        })
    }
}
