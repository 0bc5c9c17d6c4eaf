//! Hostile and broken input: records written behind the store's back (unknown schema
//! versions, invalid UTF-8), malformed session ids, services that are down, full stores,
//! expiring sessions. Every case gives a clear, typed error and stores nothing half-way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, missing_docs)]

mod common;

use std::time::Duration;

use common::{Harness, Kind, key, redis_connection, redis_url, unique_suffix};
use conv_store::{
    ConvError, ConversationStore, Limits, ListQuery, MemoryCapacity, MemoryStore, Message, PostgresStore,
    RedisStore, Window,
};
use deadpool_redis::redis;
use identity_types::{IsolationKey, SessionId};

const VERSION_99: &str = r#"{"v":99,"at":1,"role":"user","content":"from the future"}"#;

/// Writes `body` as message 2 of `session`, bypassing the store, as another program (or an
/// attacker with database access) might.
async fn plant(h: &Harness, owner: &IsolationKey, session: &SessionId, body: &[u8]) {
    match h.kind {
        Kind::Memory => unreachable!("nothing can write behind the in-memory store's back"),
        Kind::Sqlite => {
            let pool = h.sqlite.as_ref().unwrap().pool();
            sqlx::query(
                "INSERT INTO conv_messages (session_id, seq, tenant, owner, created_at, body) VALUES (?1, 2, ?2, ?3, 1, ?4)",
            )
            .bind(session.as_str())
            .bind(owner.tenant_component())
            .bind(owner.as_str())
            .bind(body)
            .execute(pool)
            .await
            .unwrap();
            sqlx::query("UPDATE conv_sessions SET message_count = 3 WHERE session_id = ?1")
                .bind(session.as_str())
                .execute(pool)
                .await
                .unwrap();
        }
        Kind::Postgres => {
            let pg = h.pg.as_ref().unwrap();
            let s = &pg.schema;
            // Postgres TEXT is always valid UTF-8, so only well-formed text can be planted.
            let text = std::str::from_utf8(body).unwrap();
            sqlx::query(&format!(
                "INSERT INTO {s}.conv_messages (session_id, seq, tenant, owner, created_at, body) VALUES ($1, 2, $2, $3, 1, $4)"
            ))
            .bind(session.as_str())
            .bind(owner.tenant_component())
            .bind(owner.as_str())
            .bind(text)
            .execute(&pg.admin)
            .await
            .unwrap();
            sqlx::query(&format!("UPDATE {s}.conv_sessions SET message_count = 3 WHERE session_id = $1"))
                .bind(session.as_str())
                .execute(&pg.admin)
                .await
                .unwrap();
        }
        Kind::Redis => {
            // The documented layout: <prefix><owner>:conv:<session>:msgs.
            let list = format!(
                "{}{}:conv:{}:msgs",
                h.redis_prefix.as_ref().unwrap(),
                owner.as_str(),
                session.as_str()
            );
            let mut connection = redis_connection(&redis_url()).await.unwrap();
            let length: u64 =
                redis::cmd("RPUSH").arg(&list).arg(body).query_async(&mut *connection).await.unwrap();
            assert_eq!(length, 3);
        }
    }
}

async fn planted_records_are_refused(kind: Kind) {
    let Some(h) = Harness::new(kind, Limits::default()).await else { return };
    let alice = key(Some("acme"), "alice");
    let mut cases: Vec<(&[u8], &str)> = vec![(VERSION_99.as_bytes(), "schema"), (b"{not json", "corrupt")];
    if kind != Kind::Postgres {
        cases.push((b"\xff\xfe\x00invalid utf-8", "corrupt"));
    }
    for (body, expected) in cases {
        let session = SessionId::generate().unwrap();
        h.store.append(&alice, &session, &[Message::user("one"), Message::user("two")]).await.unwrap();
        plant(&h, &alice, &session, body).await;
        let kind_of = match h.store.load(&alice, &session, Window::Last(10)).await {
            Err(ConvError::UnsupportedSchema { seq: 2, found: 99 }) => "schema",
            Err(ConvError::Corrupt { seq: 2, .. }) => "corrupt",
            other => panic!("{kind:?} {:?}: {other:?}", String::from_utf8_lossy(body)),
        };
        assert_eq!(kind_of, expected, "{kind:?}");
        // The messages before it still load; the bad one is never silently skipped.
        let good = h.store.load(&alice, &session, Window::From { start: 0, limit: 2 }).await.unwrap();
        assert_eq!(good.iter().map(|m| m.message.content.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    }
    h.finish().await;
}

#[tokio::test]
async fn planted_records_sqlite() {
    planted_records_are_refused(Kind::Sqlite).await;
}

#[tokio::test]
async fn planted_records_postgres() {
    planted_records_are_refused(Kind::Postgres).await;
}

#[tokio::test]
async fn planted_records_redis() {
    planted_records_are_refused(Kind::Redis).await;
}

#[test]
fn session_ids_of_the_wrong_shape_never_reach_a_store() {
    let long = "A".repeat(129);
    for bad in [
        "",
        "short",
        "AAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAA/..",
        "AAAAAAAAAAAAAAAA:x",
        "AAAAAAAAAAAAAAAA AAAA",
        "ÄAAAAAAAAAAAAAAAAAA",
        &long,
    ] {
        assert!(SessionId::new(bad).is_err(), "{bad:?} must not parse");
    }
    assert!(SessionId::new("AAAAAAAAAAAAAAAA").is_ok());
}

#[tokio::test]
async fn a_stored_session_id_of_the_wrong_shape_is_corruption() {
    let Some(h) = Harness::new(Kind::Sqlite, Limits::default()).await else { return };
    let alice = key(Some("acme"), "alice");
    sqlx::query(
        "INSERT INTO conv_sessions (session_id, tenant, owner, created_at, updated_at) VALUES ('../../etc', 'acme', ?1, 1, 1)",
    )
    .bind(alice.as_str())
    .execute(h.sqlite.as_ref().unwrap().pool())
    .await
    .unwrap();
    assert!(matches!(h.store.list(&alice, ListQuery::default()).await, Err(ConvError::CorruptMetadata(_))));
    h.finish().await;
}

#[tokio::test]
async fn services_that_are_down_give_unavailable_and_no_hang() {
    let alice = key(Some("acme"), "alice");
    let session = SessionId::generate().unwrap();
    // Port 1 on loopback: nothing listens, connections are refused at once.
    let redis = RedisStore::new("redis://127.0.0.1:1", "palisade:down:", Limits::default(), None).unwrap();
    let result =
        tokio::time::timeout(Duration::from_secs(10), redis.append(&alice, &session, &[Message::user("x")]))
            .await
            .expect("fails fast");
    assert!(matches!(result, Err(ConvError::Unavailable(_))), "{result:?}");

    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy("postgres://postgres@127.0.0.1:1/test")
        .unwrap();
    let result = PostgresStore::open(pool, "conv", Limits::default()).await;
    assert!(matches!(result, Err(ConvError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn bad_redis_configuration_is_refused() {
    assert!(matches!(
        RedisStore::new(&redis_url(), "", Limits::default(), None),
        Err(ConvError::InsecureConfiguration(_))
    ));
    for ttl in [Duration::from_micros(10), Duration::from_secs(11 * 365 * 24 * 3600)] {
        assert!(matches!(
            RedisStore::new(&redis_url(), "p:", Limits::default(), Some(ttl)),
            Err(ConvError::InvalidConfiguration(_))
        ));
    }
    // A batch must fit one Lua `unpack`.
    let limits = Limits { max_append_batch: 1_001, ..Limits::default() };
    assert!(matches!(
        RedisStore::new(&redis_url(), "p:", limits, None),
        Err(ConvError::InvalidConfiguration(_))
    ));
    let limits = Limits { max_append_batch: 1_000, max_message_bytes: 1_024, ..Limits::default() };
    let Some(h) = Harness::new(Kind::Redis, limits).await else { return };
    let alice = key(Some("acme"), "alice");
    let session = SessionId::generate().unwrap();
    let receipt = h.store.append(&alice, &session, &vec![Message::user("m"); 1_000]).await.unwrap();
    assert_eq!(receipt.count, 1_000, "the largest batch goes through one script");
    h.finish().await;
}

#[tokio::test]
async fn a_full_memory_store_refuses_whole_batches() {
    let store =
        MemoryStore::with_capacity(Limits::default(), MemoryCapacity { max_sessions: 2, max_messages: 5 });
    let alice = key(Some("acme"), "alice");
    let (a, b, c) =
        (SessionId::generate().unwrap(), SessionId::generate().unwrap(), SessionId::generate().unwrap());
    store.append(&alice, &a, &[Message::user("1"), Message::user("2")]).await.unwrap();
    store.create(&alice, &b, None).await.unwrap();
    assert!(matches!(
        store.append(&alice, &c, &[Message::user("x")]).await,
        Err(ConvError::StoreFull("sessions"))
    ));
    assert!(matches!(store.create(&alice, &c, None).await, Err(ConvError::StoreFull("sessions"))));
    assert!(matches!(
        store.append(&alice, &b, &vec![Message::user("m"); 4]).await,
        Err(ConvError::StoreFull("messages"))
    ));
    assert_eq!(store.info(&alice, &b).await.unwrap().message_count, 0, "nothing half-way");
    // Deleting frees capacity.
    assert_eq!(store.delete(&alice, &a).await.unwrap(), 2);
    store.append(&alice, &b, &vec![Message::user("m"); 4]).await.unwrap();
}

#[tokio::test]
async fn redis_sessions_expire_together_after_their_ttl() {
    let url = redis_url();
    let Some(probe) = Harness::new(Kind::Redis, Limits::default()).await else { return };
    probe.finish().await;
    let prefix = format!("palisade:test:conv:{}:", unique_suffix());
    let store =
        RedisStore::new(&url, prefix.clone(), Limits::default(), Some(Duration::from_millis(400))).unwrap();
    let alice = key(Some("acme"), "alice");
    let session = SessionId::generate().unwrap();
    store.append(&alice, &session, &[Message::user("soon gone")]).await.unwrap();
    let mut connection = redis_connection(&url).await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut *connection).await.unwrap();
    assert_eq!(keys.len(), 4, "claim, meta, msgs, index: {keys:?}");
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(k).query_async(&mut *connection).await.unwrap();
        assert!(ttl > 0 && ttl <= 400, "{k} has TTL {ttl}");
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(matches!(
        store.load(&alice, &session, Window::Last(5)).await,
        Err(ConvError::SessionAccessDenied)
    ));
    assert!(store.list(&alice, ListQuery::default()).await.unwrap().is_empty());
    // The id is free again once expired.
    let bob = key(Some("acme"), "bob");
    assert!(store.append(&bob, &session, &[Message::user("new owner")]).await.unwrap().claimed);
    common::redis_delete_prefix(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_the_wal_in_the_background() {
    // SQLite's own checkpoint is pushed back to 10,000 pages, so without the background
    // task these ~130 KB would stay in the WAL and the database file would not grow.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conv.db");
    let store = conv_store::SqliteStore::open(&path, Limits::default()).await.unwrap();
    let alice = key(Some("acme"), "alice");
    let session = SessionId::generate().unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    for i in 0..100 {
        let batch = [Message::user(format!("{i}: {}", "x".repeat(600))), Message::assistant("ok")];
        store.append(&alice, &session, &batch).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(
        after > before + 64 * 1024,
        "database file {before} -> {after} bytes: the WAL was not checkpointed"
    );
    assert_eq!(store.load(&alice, &session, Window::Last(200)).await.unwrap().len(), 200);
}

fn data_key(h: &Harness, owner: &IsolationKey, session: &SessionId, part: &str) -> String {
    format!("{}{}:conv:{}:{part}", h.redis_prefix.as_ref().unwrap(), owner.as_str(), session.as_str())
}

#[tokio::test]
async fn redis_purge_erases_orphans_and_survives_a_lost_index() {
    let Some(h) = Harness::new(Kind::Redis, Limits::default()).await else { return };
    let prefix = h.redis_prefix.clone().unwrap();
    let (alice, bob) = (key(Some("acme"), "alice"), key(Some("acme"), "bob"));
    let (a1, a2, a3, b1) = (
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
    );
    for id in [&a1, &a2, &a3] {
        h.store.append(&alice, id, &[Message::user("a"), Message::user("b")]).await.unwrap();
    }
    h.store.append(&bob, &b1, &[Message::user("bob's")]).await.unwrap();
    let mut connection = redis_connection(&redis_url()).await.unwrap();
    // An evicted meta hash (a2 is now an orphaned list), a lost index, and junk in it.
    let _: u64 =
        redis::cmd("DEL").arg(data_key(&h, &alice, &a2, "meta")).query_async(&mut *connection).await.unwrap();
    let index = format!("{prefix}{}:sessions", alice.as_str());
    let _: u64 = redis::cmd("DEL").arg(&index).query_async(&mut *connection).await.unwrap();
    let _: u64 = redis::cmd("ZADD")
        .arg(&index)
        .arg(1)
        .arg(b"\xff not an id".as_slice())
        .query_async(&mut *connection)
        .await
        .unwrap();
    let junk = format!("{prefix}{}:conv:../x:msgs", alice.as_str());
    let _: () = redis::cmd("SET").arg(&junk).arg("junk").query_async(&mut *connection).await.unwrap();

    let report = h.store.purge_user(&alice).await.unwrap();
    assert_eq!(
        report,
        conv_store::PurgeReport { sessions: 2, messages: 6 },
        "orphaned messages are erased and counted"
    );
    let left: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut *connection).await.unwrap();
    assert!(
        left.iter().all(|k| !k.contains(alice.as_str())),
        "nothing of Alice's namespace is left: {left:?}"
    );
    for id in [&a1, &a2, &a3] {
        let claim: Option<String> = redis::cmd("GET")
            .arg(format!("{prefix}claim:{}", id.as_str()))
            .query_async(&mut *connection)
            .await
            .unwrap();
        assert_eq!(claim, None, "the claim naming Alice is gone");
    }
    assert_eq!(h.store.load(&bob, &b1, Window::Last(5)).await.unwrap().len(), 1, "Bob untouched");
    h.finish().await;
}

#[tokio::test]
async fn redis_rename_refreshes_the_ttl_of_every_key() {
    let url = redis_url();
    let Some(probe) = Harness::new(Kind::Redis, Limits::default()).await else { return };
    probe.finish().await;
    let prefix = format!("palisade:test:conv:{}:", unique_suffix());
    let store =
        RedisStore::new(&url, prefix.clone(), Limits::default(), Some(Duration::from_secs(60))).unwrap();
    let alice = key(Some("acme"), "alice");
    let session = SessionId::generate().unwrap();
    store.append(&alice, &session, &[Message::user("x")]).await.unwrap();
    let mut connection = redis_connection(&url).await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut *connection).await.unwrap();
    for k in &keys {
        let _: u64 = redis::cmd("PEXPIRE").arg(k).arg(5_000).query_async(&mut *connection).await.unwrap();
    }
    store.rename(&alice, &session, Some("renamed")).await.unwrap();
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(k).query_async(&mut *connection).await.unwrap();
        assert!(ttl > 50_000, "{k} has TTL {ttl} ms after the rename");
    }
    common::redis_delete_prefix(&url, &prefix).await;
}

#[tokio::test]
async fn redis_metadata_that_is_not_ours_is_corrupt_metadata() {
    let Some(h) = Harness::new(Kind::Redis, Limits::default()).await else { return };
    let alice = key(Some("acme"), "alice");
    let session = SessionId::generate().unwrap();
    h.store.append(&alice, &session, &[Message::user("x")]).await.unwrap();
    let mut connection = redis_connection(&redis_url()).await.unwrap();
    let _: u64 = redis::cmd("HSET")
        .arg(data_key(&h, &alice, &session, "meta"))
        .arg("updated")
        .arg(b"\xfe\xff".as_slice())
        .query_async(&mut *connection)
        .await
        .unwrap();
    assert!(matches!(h.store.info(&alice, &session).await, Err(ConvError::CorruptMetadata(_))));
    h.finish().await;
}
