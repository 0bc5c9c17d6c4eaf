//! `PostgresStore`: conversations in PostgreSQL, with row-level security as a second wall.
//!
//! The application check (every query filters on the caller's owner key) is the first wall.
//! The second holds even if that check is missing or wrong (a query without its filter,
//! a bug in a later change). It is not a defence against SQL injection: injected SQL runs
//! as the application and can call `set_config` itself. Its parts:
//!
//! - [`migrate`] (run by an administrator, who owns the tables) enables **and forces**
//!   row-level security on both tables, with one policy per table that admits a row only
//!   when its `tenant` and `owner` equal the settings `palisade.tenant` and
//!   `palisade.principal`, for reading and for writing.
//! - The store sets both with `set_config(…, true)` (that is, `SET LOCAL`) at the start of
//!   every transaction, so they vanish at commit and a pooled connection never carries one
//!   caller's identity into another's transaction. An unset setting reads as `NULL` or `''`
//!   and matches no row (`owner` may never be empty).
//! - A message row's foreign key is its session's `(session_id, tenant, owner)`, so no row
//!   can be written into another principal's session, even under one's own name
//!   (foreign-key checks do not see through row-level security; matching all three
//!   columns makes that harmless).
//! - The application connects as a login that is a member of the role [`migrate`] creates
//!   (privileges: `SELECT, INSERT, UPDATE, DELETE`; no `BYPASSRLS`; not the owner).
//!   [`PostgresStore::open`] refuses a login that is a superuser, has `BYPASSRLS`, is a
//!   member of a role that is either, or is a member of the tables' owner; a login holding
//!   `TRUNCATE` or `TRIGGER` (which row-level security does not bind); and tables whose
//!   row-level security is not enabled and forced, or whose policies are not exactly the
//!   ones [`migrate`] made.
//!
//! Sequence numbers come from the session row, locked `FOR UPDATE` inside the append's
//! transaction, so parallel appends serialise per session and never collide; a claim is
//! `INSERT … ON CONFLICT DO NOTHING` against the table's unique keys, so exactly one of two racing
//! principals gets the session.

use identity_types::{IsolationKey, SessionId, unix_now_ms};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row as _, Transaction};

use crate::message::prepare_batch;
use crate::{
    AppendReceipt, ConvError, Limits, ListQuery, Message, PurgeReport, SessionInfo, StoredMessage, Window,
    check_capacity, check_list, check_owner, check_title, check_window, record, stored_session_id, to_i64,
    to_u64,
};

fn unavailable(error: sqlx::Error) -> ConvError {
    ConvError::Unavailable(format!("postgres: {error}"))
}

fn identifier(name: &str) -> Result<&str, ConvError> {
    let mut chars = name.chars();
    let ok = name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(ConvError::InsecureConfiguration(format!(
            "{name:?} is not a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes)"
        )))
    }
}

/// Creates (idempotently) the schema, both tables with row-level security enabled and
/// forced, their policies, and the application role `app_role` (`NOLOGIN`, no
/// `BYPASSRLS`) with `SELECT, INSERT, UPDATE, DELETE` on the tables. Run it as the
/// administrator that should own the tables; then `GRANT app_role TO <application login>`.
///
/// # Errors
/// [`ConvError::InsecureConfiguration`] for a schema or role name that is not a plain
/// identifier; [`ConvError::Unavailable`] if the database refuses.
pub async fn migrate(admin: &PgPool, schema: &str, app_role: &str) -> Result<(), ConvError> {
    let (s, r) = (identifier(schema)?, identifier(app_role)?);
    let rule = "tenant = current_setting('palisade.tenant', true) \
                AND owner = current_setting('palisade.principal', true)";
    let mut statements = vec![
        format!("CREATE SCHEMA IF NOT EXISTS {s}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.conv_sessions (
                session_id TEXT PRIMARY KEY,
                tenant TEXT NOT NULL,
                owner TEXT NOT NULL CHECK (owner <> ''),
                title TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                message_count BIGINT NOT NULL DEFAULT 0 CHECK (message_count >= 0),
                UNIQUE (session_id, tenant, owner))"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS conv_sessions_owner ON {s}.conv_sessions (owner, updated_at DESC)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.conv_messages (
                session_id TEXT NOT NULL,
                seq BIGINT NOT NULL CHECK (seq >= 0),
                tenant TEXT NOT NULL,
                owner TEXT NOT NULL CHECK (owner <> ''),
                created_at BIGINT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (session_id, seq),
                FOREIGN KEY (session_id, tenant, owner)
                  REFERENCES {s}.conv_sessions (session_id, tenant, owner) ON DELETE CASCADE)"
        ),
        format!("CREATE INDEX IF NOT EXISTS conv_messages_owner ON {s}.conv_messages (owner)"),
        format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}') THEN
                 CREATE ROLE {r} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
               END IF;
             END $$"
        ),
        // A role of that name that already existed must not be able to bypass the wall.
        format!(
            "DO $$ BEGIN
               IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}' AND (rolsuper OR rolbypassrls)) THEN
                 RAISE EXCEPTION 'role {r} is a superuser or has BYPASSRLS; it cannot be the application role';
               END IF;
             END $$"
        ),
        format!("REVOKE ALL ON {s}.conv_sessions, {s}.conv_messages FROM PUBLIC, {r}"),
        format!("GRANT USAGE ON SCHEMA {s} TO {r}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.conv_sessions, {s}.conv_messages TO {r}"),
    ];
    for table in ["conv_sessions", "conv_messages"] {
        statements.extend([
            format!("ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {s}.{table} FORCE ROW LEVEL SECURITY"),
            format!("DROP POLICY IF EXISTS {table}_owner ON {s}.{table}"),
            format!("CREATE POLICY {table}_owner ON {s}.{table} FOR ALL USING ({rule}) WITH CHECK ({rule})"),
        ]);
    }
    let mut tx = admin.begin().await.map_err(unavailable)?;
    // Concurrent migrations of one schema would race on CREATE … IF NOT EXISTS.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("palisade-conv:{s}"))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    for statement in statements {
        sqlx::query(&statement).execute(&mut *tx).await.map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)
}

/// The SQL of every operation, with the schema name filled in once at open.
#[derive(Debug)]
struct Queries {
    claim: String,
    reserve: String,
    exists: String,
    owned_sessions: String,
    insert_messages: String,
    count: String,
    window: String,
    list: String,
    info: String,
    rename: String,
    delete_session: String,
    purge_sessions: String,
}

impl Queries {
    fn new(s: &str) -> Self {
        let columns = "session_id, title, created_at, updated_at, message_count";
        Self {
            // No conflict target: the row is unique both by `session_id` (the claim) and by
            // `(session_id, tenant, owner)` (what messages reference), and a named target
            // would cover only one of them. Racing claims would then fail on the other
            // index instead of doing nothing.
            claim: format!(
                "INSERT INTO {s}.conv_sessions (session_id, tenant, owner, title, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING"
            ),
            reserve: format!(
                "UPDATE {s}.conv_sessions
                 SET message_count = message_count + $3, updated_at = GREATEST(updated_at, $4)
                 WHERE session_id = $1 AND owner = $2 AND message_count + $3 <= $5
                 RETURNING message_count"
            ),
            owned_sessions: format!("SELECT count(*) FROM {s}.conv_sessions WHERE owner = $1"),
            exists: format!("SELECT 1 FROM {s}.conv_sessions WHERE session_id = $1 AND owner = $2"),
            insert_messages: format!(
                "INSERT INTO {s}.conv_messages (session_id, seq, tenant, owner, created_at, body)
                 SELECT $1, seq, $2, $3, $4, body FROM UNNEST($5::BIGINT[], $6::TEXT[]) AS batch (seq, body)"
            ),
            count: format!(
                "SELECT message_count FROM {s}.conv_sessions WHERE session_id = $1 AND owner = $2"
            ),
            window: format!(
                "SELECT seq, body FROM {s}.conv_messages
                 WHERE session_id = $1 AND owner = $2 AND seq >= $3 AND seq < $4 ORDER BY seq"
            ),
            list: format!(
                "SELECT {columns} FROM {s}.conv_sessions WHERE owner = $1
                 ORDER BY updated_at DESC, session_id DESC LIMIT $2 OFFSET $3"
            ),
            info: format!("SELECT {columns} FROM {s}.conv_sessions WHERE session_id = $1 AND owner = $2"),
            rename: format!(
                "UPDATE {s}.conv_sessions SET title = $3, updated_at = GREATEST(updated_at, $4)
                 WHERE session_id = $1 AND owner = $2"
            ),
            delete_session: format!(
                "DELETE FROM {s}.conv_sessions WHERE session_id = $1 AND owner = $2 RETURNING message_count"
            ),
            purge_sessions: format!("DELETE FROM {s}.conv_sessions WHERE owner = $1 RETURNING message_count"),
        }
    }
}

/// Conversations in PostgreSQL. See the module docs.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    limits: Limits,
    queries: std::sync::Arc<Queries>,
}

impl PostgresStore {
    /// A store on `pool`, whose login must be a member of the application role of
    /// [`migrate`] and nothing more.
    ///
    /// # Errors
    /// [`ConvError::InsecureConfiguration`] if the login is a superuser, has `BYPASSRLS`,
    /// is a member of the tables' owner, or the tables lack enabled and forced row-level
    /// security (or do not exist); [`ConvError::Unavailable`] if the database is down.
    pub async fn open(pool: PgPool, schema: &str, limits: Limits) -> Result<Self, ConvError> {
        let s = identifier(schema)?;
        let role = sqlx::query(
            "SELECT current_user::TEXT AS name, r.rolsuper, r.rolbypassrls,
                    (SELECT string_agg(b.rolname, ', ') FROM pg_roles b
                     WHERE (b.rolsuper OR b.rolbypassrls) AND b.rolname <> current_user
                       AND pg_has_role(current_user, b.oid, 'MEMBER')) AS via
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .fetch_one(&pool)
        .await
        .map_err(unavailable)?;
        let name: String = role.try_get("name").map_err(unavailable)?;
        if role.try_get::<bool, _>("rolsuper").map_err(unavailable)? {
            return Err(ConvError::InsecureConfiguration(format!(
                "{name} is a superuser, which row-level security does not bind; connect as a member of the application role"
            )));
        }
        if role.try_get::<bool, _>("rolbypassrls").map_err(unavailable)? {
            return Err(ConvError::InsecureConfiguration(format!("{name} has BYPASSRLS")));
        }
        if let Some(via) = role.try_get::<Option<String>, _>("via").map_err(unavailable)? {
            return Err(ConvError::InsecureConfiguration(format!(
                "{name} is a member of {via}, which is a superuser or has BYPASSRLS (SET ROLE would bypass row-level security)"
            )));
        }
        for table in ["conv_sessions", "conv_messages"] {
            // TRUNCATE and TRIGGER are not bound by row-level security; the policy must be
            // exactly ours (an extra permissive policy would widen what a row admits).
            let row = sqlx::query(
                "SELECT c.relrowsecurity, c.relforcerowsecurity,
                        pg_has_role(current_user, c.relowner, 'MEMBER') AS owns,
                        has_table_privilege(c.oid, 'TRUNCATE') OR has_table_privilege(c.oid, 'TRIGGER') AS risky,
                        (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                        (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $2
                           AND p.polpermissive AND p.polcmd = '*' AND p.polroles = '{0}'
                           AND pg_get_expr(p.polqual, p.polrelid) = pg_get_expr(p.polwithcheck, p.polrelid)
                           AND pg_get_expr(p.polqual, p.polrelid) LIKE '%current_setting(''palisade.tenant''::text, true)%'
                           AND pg_get_expr(p.polqual, p.polrelid) LIKE '%current_setting(''palisade.principal''::text, true)%'
                        ) AS ours
                 FROM pg_class c WHERE c.oid = to_regclass($1)",
            )
            .bind(format!("{s}.{table}"))
            .bind(format!("{table}_owner"))
            .fetch_optional(&pool)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ConvError::InsecureConfiguration(format!("{s}.{table} does not exist; run migrate first")))?;
            let enabled: bool = row.try_get("relrowsecurity").map_err(unavailable)?;
            let forced: bool = row.try_get("relforcerowsecurity").map_err(unavailable)?;
            if !(enabled && forced) {
                return Err(ConvError::InsecureConfiguration(format!(
                    "{s}.{table} does not have row-level security enabled and forced"
                )));
            }
            if row.try_get::<bool, _>("owns").map_err(unavailable)? {
                return Err(ConvError::InsecureConfiguration(format!(
                    "{name} owns {s}.{table} (or is a member of its owner) and could switch row-level security off"
                )));
            }
            if row.try_get::<bool, _>("risky").map_err(unavailable)? {
                return Err(ConvError::InsecureConfiguration(format!(
                    "{name} holds TRUNCATE or TRIGGER on {s}.{table}, which row-level security does not bind"
                )));
            }
            let policies: i64 = row.try_get("policies").map_err(unavailable)?;
            let ours: i64 = row.try_get("ours").map_err(unavailable)?;
            if (policies, ours) != (1, 1) {
                return Err(ConvError::InsecureConfiguration(format!(
                    "{s}.{table} must have exactly the policy {table}_owner that migrate creates ({policies} policies found)"
                )));
            }
        }
        Ok(Self { pool, limits, queries: std::sync::Arc::new(Queries::new(s)) })
    }

    /// Begins a transaction bound to `owner`: the row-level security settings are local
    /// to it and vanish at commit or rollback.
    async fn begin(&self, owner: &IsolationKey) -> Result<Transaction<'static, Postgres>, ConvError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(
            "SELECT set_config('palisade.principal', $1, true), set_config('palisade.tenant', $2, true)",
        )
        .bind(owner.as_str())
        .bind(owner.tenant_component())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        Ok(tx)
    }

    /// After a claim inserted a session row: refuses (the caller rolls back) if the owner
    /// now holds more than [`Limits::max_sessions_per_owner`]. The advisory lock makes
    /// concurrent claims of one owner count one after the other.
    async fn check_owner_room(
        &self,
        tx: &mut sqlx::PgConnection,
        owner: &IsolationKey,
    ) -> Result<(), ConvError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('palisade-conv-owner:' || $1))")
            .bind(owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let held: i64 = sqlx::query_scalar(&self.queries.owned_sessions)
            .bind(owner.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        if to_u64(held) > self.limits.max_sessions_per_owner {
            return Err(ConvError::TooManySessions { max: self.limits.max_sessions_per_owner });
        }
        Ok(())
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
        let mut tx = self.begin(owner).await?;
        let inserted = sqlx::query(&self.queries.claim)
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
            let mine = sqlx::query(&self.queries.exists)
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
        self.check_owner_room(&mut tx, owner).await?;
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
        let mut tx = self.begin(owner).await?;
        let claimed = sqlx::query(&self.queries.claim)
            .bind(id.as_str())
            .bind(owner.tenant_component())
            .bind(owner.as_str())
            .bind(None::<&str>)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected()
            == 1;
        if claimed {
            self.check_owner_room(&mut tx, owner).await?;
        }
        let adding = records.len();
        // Reserve the sequence numbers: one statement checks owner and capacity, bumps the
        // count and locks the row, so parallel appends to one session take turns here.
        // Dropping the transaction on any refusal rolls the claim back too.
        let reserved: Option<i64> = sqlx::query_scalar(&self.queries.reserve)
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
                let count: Option<i64> = sqlx::query_scalar(&self.queries.count)
                    .bind(id.as_str())
                    .bind(owner.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                let count = to_u64(count.ok_or(ConvError::SessionAccessDenied)?);
                check_capacity(count, adding, &self.limits)?;
                return Err(ConvError::Unavailable("postgres: the session changed during the append".into()));
            }
        };
        let seqs: Vec<i64> = (current..).take(adding).map(to_i64).collect();
        sqlx::query(&self.queries.insert_messages)
            .bind(id.as_str())
            .bind(owner.tenant_component())
            .bind(owner.as_str())
            .bind(now)
            .bind(&seqs)
            .bind(&records)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
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
        let mut tx = self.begin(owner).await?;
        let count: Option<i64> = sqlx::query_scalar(&self.queries.count)
            .bind(id.as_str())
            .bind(owner.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let (start, end) = window.range(to_u64(count.ok_or(ConvError::SessionAccessDenied)?));
        let rows = sqlx::query(&self.queries.window)
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
                let body: &str = row.try_get("body").map_err(unavailable)?;
                record::decode(seq, body.as_bytes())
            })
            .collect()
    }

    async fn do_list(&self, owner: &IsolationKey, query: ListQuery) -> Result<Vec<SessionInfo>, ConvError> {
        check_owner(owner)?;
        check_list(query, &self.limits)?;
        let mut tx = self.begin(owner).await?;
        let rows = sqlx::query(&self.queries.list)
            .bind(owner.as_str())
            .bind(to_i64(query.limit as u64))
            .bind(to_i64(query.offset as u64))
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(session_info).collect()
    }

    async fn do_info(&self, owner: &IsolationKey, id: &SessionId) -> Result<SessionInfo, ConvError> {
        check_owner(owner)?;
        let mut tx = self.begin(owner).await?;
        let row = sqlx::query(&self.queries.info)
            .bind(id.as_str())
            .bind(owner.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
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
        let mut tx = self.begin(owner).await?;
        let changed = sqlx::query(&self.queries.rename)
            .bind(id.as_str())
            .bind(owner.as_str())
            .bind(title)
            .bind(to_i64(unix_now_ms()))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        if changed == 0 {
            return Err(ConvError::SessionAccessDenied);
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn do_delete(&self, owner: &IsolationKey, id: &SessionId) -> Result<u64, ConvError> {
        check_owner(owner)?;
        let mut tx = self.begin(owner).await?;
        // Deleting the session row first locks it (a concurrent append finishes first, and
        // its count is the one returned); the foreign key cascades to exactly its messages.
        let count: Option<i64> = sqlx::query_scalar(&self.queries.delete_session)
            .bind(id.as_str())
            .bind(owner.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let count = count.ok_or(ConvError::SessionAccessDenied)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(to_u64(count))
    }

    async fn do_purge(&self, owner: &IsolationKey) -> Result<PurgeReport, ConvError> {
        check_owner(owner)?;
        let mut tx = self.begin(owner).await?;
        let counts: Vec<i64> = sqlx::query_scalar(&self.queries.purge_sessions)
            .bind(owner.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(PurgeReport { sessions: counts.len() as u64, messages: counts.into_iter().map(to_u64).sum() })
    }
}

fn session_info(row: &PgRow) -> Result<SessionInfo, ConvError> {
    let id: &str = row.try_get("session_id").map_err(unavailable)?;
    Ok(SessionInfo {
        id: stored_session_id(id)?,
        title: row.try_get("title").map_err(unavailable)?,
        created_at_ms: to_u64(row.try_get("created_at").map_err(unavailable)?),
        updated_at_ms: to_u64(row.try_get("updated_at").map_err(unavailable)?),
        message_count: to_u64(row.try_get("message_count").map_err(unavailable)?),
    })
}

forward_conversation_store!(PostgresStore);
