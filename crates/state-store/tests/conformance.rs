//! One suite, every backend: memory, and the real Redis at `PALISADE_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`). Under `CI=true` a missing Redis fails the run;
//! otherwise the Redis half is skipped with a loud message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, missing_docs)]

use std::time::Duration;

use identity_types::{ClientId, IsolationKey, TenantId};
use state_store::{Limits, MemoryStateStore, RedisStateStore, SlotName, StateError, StateHandle, StateStore};

fn key(tenant: &str, user: &str) -> IsolationKey {
    IsolationKey::for_principal(Some(&TenantId::new(tenant).unwrap()), &ClientId::new(user).unwrap())
}

fn limits() -> Limits {
    Limits {
        max_value_bytes: 1024,
        default_ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(3600),
        max_entries: 1000,
        max_total_bytes: 1 << 20,
        max_entries_per_principal: 100,
    }
}

/// One principal holds at most its quota of live entries, its sessions' slots included;
/// replacing an entry is not a new one; deleted and expired entries free their places;
/// other principals are unaffected.
async fn quota(store: &dyn StateStore) {
    let alice = key("acme", "alice");
    let bob = key("acme", "bob");
    let session = alice.with_session(&identity_types::SessionId::new("CCCCCCCCCCCCCCCCCCCC").unwrap());
    let cart = SlotName::new("cart").unwrap();
    store.put_slot(&session, &cart, b"s".to_vec(), None).await.unwrap();
    let brief = store.mint(&alice, b"b".to_vec(), Some(Duration::from_millis(150))).await.unwrap();
    let mut handles = vec![];
    for n in 0..2 {
        handles.push(store.mint(&alice, vec![n], None).await.unwrap());
    }
    // 4 of 4: full for alice, in both kinds of entry.
    let over = StateError::QuotaExceeded { max: 4 };
    assert_eq!(store.mint(&alice, b"x".to_vec(), None).await.unwrap_err(), over);
    let other_slot = SlotName::new("draft").unwrap();
    assert_eq!(store.put_slot(&session, &other_slot, b"x".to_vec(), None).await.unwrap_err(), over);
    // Replacing what exists is not a new entry.
    store.put_slot(&session, &cart, b"s2".to_vec(), None).await.unwrap();
    assert!(store.update(&alice, &handles[0], b"v".to_vec(), None).await.unwrap());
    // Someone else is unaffected.
    store.mint(&bob, b"bob".to_vec(), None).await.unwrap();
    // A deleted entry frees its place, and so does an expired one.
    assert!(store.delete(&alice, &handles[1]).await.unwrap());
    store.mint(&alice, b"y".to_vec(), None).await.unwrap();
    assert_eq!(store.mint(&alice, b"z".to_vec(), None).await.unwrap_err(), over);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get(&alice, &brief).await.unwrap(), None);
    store.mint(&alice, b"z".to_vec(), None).await.unwrap();
}

async fn conformance(store: &dyn StateStore) {
    let alice = key("acme", "alice");
    let bob = key("acme", "bob");
    let alice_elsewhere = key("globex", "alice");

    let handle = store.mint(&alice, b"v1".to_vec(), None).await.unwrap();
    assert_eq!(store.get(&alice, &handle).await.unwrap(), Some(b"v1".to_vec()));

    // A handle is a name, never a credential: other principals find nothing, and cannot
    // change or delete it. The same user id in another tenant is another principal.
    for other in [&bob, &alice_elsewhere] {
        assert_eq!(store.get(other, &handle).await.unwrap(), None);
        assert!(!store.update(other, &handle, b"stolen".to_vec(), None).await.unwrap());
        assert!(!store.delete(other, &handle).await.unwrap());
    }
    assert_eq!(store.get(&alice, &handle).await.unwrap(), Some(b"v1".to_vec()), "untouched by the others");

    assert!(store.update(&alice, &handle, b"v2".to_vec(), None).await.unwrap());
    assert_eq!(store.get(&alice, &handle).await.unwrap(), Some(b"v2".to_vec()));
    assert!(store.delete(&alice, &handle).await.unwrap());
    assert_eq!(store.get(&alice, &handle).await.unwrap(), None);
    assert!(!store.update(&alice, &handle, b"v3".to_vec(), None).await.unwrap(), "no resurrection by update");

    // Bounds.
    assert!(matches!(store.mint(&alice, vec![0; 1025], None).await, Err(StateError::TooLarge { .. })));
    assert!(matches!(
        store.mint(&alice, b"x".to_vec(), Some(Duration::ZERO)).await,
        Err(StateError::InvalidTtl { .. })
    ));
    assert!(matches!(
        store.mint(&alice, b"x".to_vec(), Some(Duration::from_secs(7200))).await,
        Err(StateError::InvalidTtl { .. })
    ));

    // Expiry.
    let short = store.mint(&alice, b"brief".to_vec(), Some(Duration::from_millis(150))).await.unwrap();
    assert!(store.get(&alice, &short).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get(&alice, &short).await.unwrap(), None, "expired state is gone");

    // Named slots: per owner (a session key is its own owner), replaceable, bounded.
    let session_a = alice.with_session(&identity_types::SessionId::new("AAAAAAAAAAAAAAAAAAAA").unwrap());
    let session_b = alice.with_session(&identity_types::SessionId::new("BBBBBBBBBBBBBBBBBBBB").unwrap());
    let cart = SlotName::new("cart").unwrap();
    store.put_slot(&session_a, &cart, b"1".to_vec(), None).await.unwrap();
    store.put_slot(&session_a, &cart, b"2".to_vec(), None).await.unwrap();
    assert_eq!(store.get_slot(&session_a, &cart).await.unwrap(), Some(b"2".to_vec()));
    for other in [&session_b, &alice, &bob] {
        assert_eq!(
            store.get_slot(other, &cart).await.unwrap(),
            None,
            "another session or principal sees nothing"
        );
        assert!(!store.delete_slot(other, &cart).await.unwrap());
    }
    assert!(matches!(
        store.put_slot(&session_a, &cart, vec![0; 1025], None).await,
        Err(StateError::TooLarge { .. })
    ));
    assert!(store.delete_slot(&session_a, &cart).await.unwrap());
    assert_eq!(store.get_slot(&session_a, &cart).await.unwrap(), None);
    for bad in ["", "Cart", "a b", "x:y", &"s".repeat(65)] {
        assert_eq!(SlotName::new(bad), Err(StateError::MalformedSlot), "{bad:?}");
    }

    // Unguessable, distinct handles.
    let a = store.mint(&alice, b"a".to_vec(), None).await.unwrap();
    let b = store.mint(&alice, b"b".to_vec(), None).await.unwrap();
    assert_ne!(a, b);
    assert_eq!(store.get(&alice, &a).await.unwrap(), Some(b"a".to_vec()));
}

#[tokio::test]
async fn memory_backend_conforms() {
    conformance(&MemoryStateStore::new(limits())).await;
}

#[tokio::test]
async fn memory_backend_is_bounded() {
    let store = MemoryStateStore::new(Limits { max_entries: 2, ..limits() });
    let alice = key("acme", "alice");
    let bob = key("acme", "bob");
    store.mint(&alice, b"1".to_vec(), None).await.unwrap();
    store.mint(&bob, b"2".to_vec(), None).await.unwrap();
    assert_eq!(store.mint(&alice, b"3".to_vec(), None).await.unwrap_err(), StateError::Full);
    // And in bytes: a refused write leaves what was there.
    let store = MemoryStateStore::new(Limits { max_total_bytes: 10, ..limits() });
    let handle = store.mint(&alice, vec![1; 6], None).await.unwrap();
    assert_eq!(store.mint(&bob, vec![2; 5], None).await.unwrap_err(), StateError::Full);
    assert_eq!(store.update(&alice, &handle, vec![3; 11], None).await.unwrap_err(), StateError::Full);
    assert_eq!(store.get(&alice, &handle).await.unwrap(), Some(vec![1; 6]));
    assert!(store.update(&alice, &handle, vec![4; 10], None).await.unwrap(), "its own bytes are freed first");
}

#[tokio::test]
async fn memory_backend_holds_each_principal_to_its_quota() {
    quota(&MemoryStateStore::new(Limits { max_entries_per_principal: 4, ..limits() })).await;
}

#[tokio::test]
async fn redis_backend_holds_each_principal_to_its_quota() {
    let Some(url) = redis_url() else { return };
    quota(
        &RedisStateStore::new(&url, prefix(), Limits { max_entries_per_principal: 4, ..limits() }).unwrap(),
    )
    .await;
}

/// An entry that disappears behind the store's back (evicted by a Redis under memory
/// pressure, deleted by an operator) stops counting: a write refused at the quota first
/// checks the index against the entries (at most once a second per principal).
#[tokio::test]
async fn redis_entries_gone_behind_the_stores_back_stop_counting() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let limits = Limits { max_entries_per_principal: 2, ..limits() };
    let store = RedisStateStore::new(&url, prefix.clone(), limits).unwrap();
    let alice = key("acme", "alice");
    let first = store.mint(&alice, b"1".to_vec(), None).await.unwrap();
    store.mint(&alice, b"2".to_vec(), None).await.unwrap();
    assert_eq!(
        store.mint(&alice, b"3".to_vec(), None).await.unwrap_err(),
        StateError::QuotaExceeded { max: 2 }
    );
    let client = deadpool_redis::redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let evicted: u64 = deadpool_redis::redis::cmd("DEL")
        .arg(format!("{prefix}{}", state_store::storage_key(&alice, &first)))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(evicted, 1);
    // The index is checked against the entries at most once a second per principal
    // (the refusal above just did).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    store.mint(&alice, b"3".to_vec(), None).await.unwrap();
}

fn redis_url() -> Option<String> {
    let url = std::env::var("PALISADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let reachable = std::net::TcpStream::connect_timeout(
        &url.trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap_or("127.0.0.1:6379")
            .parse()
            .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 6379))),
        Duration::from_secs(2),
    )
    .is_ok();
    if reachable {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("Redis is required under CI=true and {url} is unreachable");
    }
    eprintln!(
        "\n!!! SKIPPING the Redis state-store tests: {url} is unreachable. Start Redis with:\n!!!   redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no\n"
    );
    None
}

/// A key prefix of its own, so concurrent runs never collide.
fn prefix() -> String {
    format!("palisade-test:state:{}:{}:", std::process::id(), StateHandle::mint().unwrap())
}

#[tokio::test]
async fn redis_backend_conforms() {
    let Some(url) = redis_url() else { return };
    conformance(&RedisStateStore::new(&url, prefix(), limits()).unwrap()).await;
}

#[tokio::test]
async fn a_redis_outage_fails_closed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = RedisStateStore::new(&format!("redis://127.0.0.1:{port}"), prefix(), limits()).unwrap();
    let alice = key("acme", "alice");
    assert!(matches!(store.mint(&alice, b"x".to_vec(), None).await, Err(StateError::Backend(_))));
    let handle = StateHandle::mint().unwrap();
    assert!(matches!(store.get(&alice, &handle).await, Err(StateError::Backend(_))));
}
