//! `cargo xtask bench conv-store`: append and load-last-50 latency, p50 and p99, per
//! backend on 127.0.0.1, as one client sees it (one operation at a time, so the figures
//! are latencies, not throughput).
//!
//! Targets (issue 5): append p99 ≤ 1 ms for SQLite and Redis, ≤ 3 ms for Postgres;
//! load-last-50 within twice those. Each row also prints p99 / target, the figure to
//! report (this machine is shared and noisy; ratios from one run compare fairly).
//!
//! Postgres and Redis are found as in the tests (`PALISADE_TEST_POSTGRES_URL`,
//! `PALISADE_TEST_REDIS_URL`); the bench makes its own schema, roles and key prefix and
//! removes them afterwards. A backend whose service is down is reported and skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use conv_store::{
    ConversationStore, Limits, Message, PostgresStore, RedisStore, SqliteDurability, SqliteStore, Window,
};
use identity_types::{ClientId, IsolationKey, SessionId, TenantId};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

const SESSIONS: usize = 20;
const OPERATIONS: usize = 2_000;
const WARMUP: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn owner(i: usize) -> IsolationKey {
    let tenant = TenantId::new("bench").unwrap();
    IsolationKey::for_principal(Some(&tenant), &ClientId::new(format!("user-{i}")).unwrap())
}

/// A message of a realistic size: a short chat turn of about 300 bytes.
fn turn(i: usize) -> Message {
    Message::user(format!(
        "turn {i}: {}",
        "Could you summarise the open invoices for this customer? ".repeat(5)
    ))
    .with_tokens(64)
}

struct Row {
    backend: &'static str,
    operation: &'static str,
    p50: Duration,
    p99: Duration,
    target: Duration,
}

async fn measure(
    backend: &'static str,
    store: Arc<dyn ConversationStore>,
    append_target: Duration,
    rows: &mut Vec<Row>,
) {
    let sessions: Vec<(IsolationKey, SessionId)> =
        (0..SESSIONS).map(|i| (owner(i), SessionId::generate().unwrap())).collect();
    // Each session starts with 50 messages, so load-last-50 always returns 50.
    for (who, id) in &sessions {
        let batch: Vec<Message> = (0..50).map(turn).collect();
        store.append(who, id, &batch).await.unwrap();
    }
    let mut appends = Vec::with_capacity(OPERATIONS);
    let mut loads = Vec::with_capacity(OPERATIONS);
    for i in 0..WARMUP + OPERATIONS {
        let (who, id) = &sessions[i % SESSIONS];
        let message = [turn(i)];
        let started = Instant::now();
        store.append(who, id, &message).await.unwrap();
        let append = started.elapsed();
        let started = Instant::now();
        let loaded = store.load(who, id, Window::Last(50)).await.unwrap();
        let load = started.elapsed();
        assert_eq!(loaded.len(), 50);
        if i >= WARMUP {
            appends.push(append);
            loads.push(load);
        }
    }
    for (operation, mut samples, target) in
        [("append", appends, append_target), ("load last 50", loads, append_target * 2)]
    {
        samples.sort_unstable();
        rows.push(Row {
            backend,
            operation,
            p50: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
            target,
        });
    }
}

async fn postgres(limits: Limits, rows: &mut Vec<Row>) {
    let url = std::env::var("PALISADE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let options: PgConnectOptions = url.parse().unwrap();
    let admin = match PgPool::connect_with(options.clone()).await {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("*** skipping Postgres: {url} unreachable ({error})");
            return;
        }
    };
    let suffix = std::process::id();
    let (schema, role, login) = (
        format!("conv_bench_{suffix}"),
        format!("conv_bench_app_{suffix}"),
        format!("conv_bench_login_{suffix}"),
    );
    conv_store::migrate_postgres(&admin, &schema, &role).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {login} LOGIN IN ROLE {role}")).execute(&admin).await.unwrap();
    let app = PgPool::connect_with(options.username(&login)).await.unwrap();
    let store = PostgresStore::open(app.clone(), &schema, limits).await.unwrap();
    measure("postgres", Arc::new(store), Duration::from_millis(3), rows).await;
    app.close().await;
    for statement in [
        format!("DROP SCHEMA {schema} CASCADE"),
        format!("DROP ROLE {login}"),
        format!("DROP OWNED BY {role}"),
        format!("DROP ROLE {role}"),
    ] {
        sqlx::query(&statement).execute(&admin).await.unwrap();
    }
}

async fn redis(limits: Limits, rows: &mut Vec<Row>) {
    let url = std::env::var("PALISADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("palisade:bench:conv:{}:", std::process::id());
    let store = RedisStore::new(&url, prefix.clone(), limits, None).unwrap();
    let probe = store.list(&owner(0), conv_store::ListQuery::default()).await;
    if let Err(error) = probe {
        eprintln!("*** skipping Redis: {error}");
        return;
    }
    measure("redis", Arc::new(store), Duration::from_millis(1), rows).await;
    let pool =
        deadpool_redis::Config::from_url(&url).create_pool(Some(deadpool_redis::Runtime::Tokio1)).unwrap();
    let mut connection = pool.get().await.unwrap();
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

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let limits = Limits::default();
        let mut rows = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("full.db"), limits).await.unwrap();
        measure("sqlite (FULL, default)", Arc::new(sqlite), Duration::from_millis(1), &mut rows).await;
        let sqlite = SqliteStore::open_with(&dir.path().join("normal.db"), limits, SqliteDurability::Normal).await.unwrap();
        measure("sqlite (NORMAL)", Arc::new(sqlite), Duration::from_millis(1), &mut rows).await;
        postgres(limits, &mut rows).await;
        redis(limits, &mut rows).await;

        println!("\n{OPERATIONS} operations per row after {WARMUP} warm-up, {SESSIONS} sessions of 50+ messages, ~330-byte turns\n");
        println!("| backend | operation | p50 | p99 | target (p99) | p99 / target |");
        println!("|---|---|---|---|---|---|");
        for row in &rows {
            println!(
                "| {} | {} | {:.0} µs | {:.0} µs | {} ms | {:.2} |",
                row.backend,
                row.operation,
                row.p50.as_secs_f64() * 1e6,
                row.p99.as_secs_f64() * 1e6,
                row.target.as_millis(),
                row.p99.as_secs_f64() / row.target.as_secs_f64()
            );
        }
    });
}
