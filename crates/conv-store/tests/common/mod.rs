//! Test harness: one store per backend, each in its own SQLite file, Postgres schema and
//! roles, or Redis key prefix, so parallel runs never collide.
//!
//! Postgres is found through `PALISADE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), Redis through `PALISADE_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`). Under `CI=true` a missing service fails the test;
//! otherwise the test is skipped with a loud message saying how to start the service.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use conv_store::{ConversationStore, Limits, MemoryStore, PostgresStore, RedisStore, SqliteStore};
use identity_types::{ClientId, IsolationKey, TenantId};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

/// The backends under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Sqlite,
    Postgres,
    Redis,
}

pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A name no other test or run uses: process id, time and a counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{:x}_{nanos:x}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn key(tenant: Option<&str>, user: &str) -> IsolationKey {
    let tenant = tenant.map(|t| TenantId::new(t).unwrap());
    IsolationKey::for_principal(tenant.as_ref(), &ClientId::new(user).unwrap())
}

fn missing(service: &str, url: &str, error: &dyn std::fmt::Display, start: &str) {
    if under_ci() {
        panic!("{service} is required under CI=true and {url} is unreachable: {error}");
    }
    eprintln!(
        "\n*** SKIPPING {service} conv-store tests: {url} unreachable ({error}).\n*** Start it with: {start}\n"
    );
}

pub fn postgres_url() -> String {
    std::env::var("PALISADE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("PALISADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A schema, an application role and a login that is a member of it, on the real server.
pub struct PgScratch {
    pub admin: PgPool,
    pub app: PgPool,
    pub options: PgConnectOptions,
    pub schema: String,
    pub app_role: String,
    pub login: String,
}

impl PgScratch {
    pub async fn new() -> Option<Self> {
        let url = postgres_url();
        let options: PgConnectOptions = url.parse().unwrap();
        let admin = match PgPool::connect_with(options.clone()).await {
            Ok(pool) => pool,
            Err(error) => {
                missing(
                    "Postgres",
                    &url,
                    &error,
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                );
                return None;
            }
        };
        let suffix = unique_suffix();
        let (schema, app_role, login) =
            (format!("conv_t_{suffix}"), format!("conv_app_{suffix}"), format!("conv_login_{suffix}"));
        conv_store::migrate_postgres(&admin, &schema, &app_role).await.unwrap();
        conv_store::migrate_postgres(&admin, &schema, &app_role).await.expect("migrations are idempotent");
        sqlx::query(&format!("CREATE ROLE {login} LOGIN IN ROLE {app_role}")).execute(&admin).await.unwrap();
        let app = PgPool::connect_with(options.clone().username(&login)).await.unwrap();
        Some(Self { admin, app, options, schema, app_role, login })
    }

    pub async fn cleanup(&self) {
        self.app.close().await;
        for statement in [
            format!("DROP SCHEMA {} CASCADE", self.schema),
            format!("DROP ROLE {}", self.login),
            format!("DROP OWNED BY {}", self.app_role),
            format!("DROP ROLE {}", self.app_role),
        ] {
            sqlx::query(&statement).execute(&self.admin).await.unwrap();
        }
    }
}

/// One store and what it takes to inspect and clean it up.
pub struct Harness {
    pub kind: Kind,
    pub store: Arc<dyn ConversationStore>,
    pub sqlite: Option<SqliteStore>,
    pub pg: Option<PgScratch>,
    pub redis_prefix: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// A fresh store of `kind`, or `None` if its service is down outside CI.
    pub async fn new(kind: Kind, limits: Limits) -> Option<Self> {
        let mut harness = Self {
            kind,
            store: Arc::new(MemoryStore::new(limits)),
            sqlite: None,
            pg: None,
            redis_prefix: None,
            _dir: None,
        };
        match kind {
            Kind::Memory => {}
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(&dir.path().join("conv.db"), limits).await.unwrap();
                harness.store = Arc::new(store.clone());
                harness.sqlite = Some(store);
                harness._dir = Some(dir);
            }
            Kind::Postgres => {
                let pg = PgScratch::new().await?;
                harness.store =
                    Arc::new(PostgresStore::open(pg.app.clone(), &pg.schema, limits).await.unwrap());
                harness.pg = Some(pg);
            }
            Kind::Redis => {
                let url = redis_url();
                if let Err(error) = redis_ping(&url).await {
                    missing(
                        "Redis",
                        &url,
                        &error,
                        "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no",
                    );
                    return None;
                }
                let prefix = format!("palisade:test:conv:{}:", unique_suffix());
                harness.store = Arc::new(RedisStore::new(&url, prefix.clone(), limits, None).unwrap());
                harness.redis_prefix = Some(prefix);
            }
        }
        Some(harness)
    }

    pub async fn finish(self) {
        if let Some(pg) = &self.pg {
            pg.cleanup().await;
        }
        if let Some(prefix) = &self.redis_prefix {
            redis_delete_prefix(&redis_url(), prefix).await;
        }
    }
}

pub async fn redis_connection(url: &str) -> Result<deadpool_redis::Connection, String> {
    let pool = deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .map_err(|e| e.to_string())?;
    pool.get().await.map_err(|e| e.to_string())
}

async fn redis_ping(url: &str) -> Result<(), String> {
    let mut connection = redis_connection(url).await?;
    deadpool_redis::redis::cmd("PING")
        .query_async::<String>(&mut *connection)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

pub async fn redis_delete_prefix(url: &str, prefix: &str) {
    let mut connection = redis_connection(url).await.unwrap();
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut *connection)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: u64 =
            deadpool_redis::redis::cmd("DEL").arg(&keys).query_async(&mut *connection).await.unwrap();
    }
}

/// Runs `$body(harness)` against every backend, one test function per backend.
#[macro_export]
macro_rules! per_backend {
    ($name:ident, $limits:expr, $body:path) => {
        mod $name {
            use super::*;

            async fn run(kind: common::Kind) {
                let Some(harness) = common::Harness::new(kind, $limits).await else { return };
                $body(&harness).await;
                harness.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                run(common::Kind::Memory).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(common::Kind::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(common::Kind::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                run(common::Kind::Redis).await;
            }
        }
    };
}
