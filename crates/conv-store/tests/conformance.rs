//! One conformance suite, generic over [`ConversationStore`], run against all four
//! backends: memory, SQLite, and the real PostgreSQL and Redis on 127.0.0.1 (see
//! `common/mod.rs` for how they are found and isolated).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Harness, Kind, key};
use conv_store::{
    ConvError, ConversationStore, Limits, ListQuery, Message, MessageRole, PurgeReport, ToolCall, Window,
};
use identity_types::SessionId;

const FIRST_PAGE: ListQuery = ListQuery { limit: 5, offset: 0 };

fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 2048,
        max_append_batch: 10,
        max_messages_per_session: 12,
        max_load: 20,
        max_list: 5,
        max_title_bytes: 40,
        max_sessions_per_owner: 4,
        ..Limits::default()
    }
}

fn session() -> SessionId {
    SessionId::generate().unwrap()
}

fn denied<T: std::fmt::Debug>(result: Result<T, ConvError>, what: &str) {
    assert!(
        matches!(result, Err(ConvError::SessionAccessDenied)),
        "{what}: expected SessionAccessDenied, got {result:?}"
    );
}

fn contents(messages: &[conv_store::StoredMessage]) -> Vec<(u64, &str)> {
    messages.iter().map(|m| (m.seq, m.message.content.as_str())).collect()
}

async fn behaviour(h: &Harness) {
    let store = &*h.store;
    let alice = key(Some("acme"), "alice");
    let bob = key(Some("acme"), "bob");
    let alice_at_globex = key(Some("globex"), "alice");
    let solo = key(None, "alice");

    // The first append claims; later ones append after it.
    let s1 = session();
    let receipt =
        store.append(&alice, &s1, &[Message::system("be brief"), Message::user("hi")]).await.unwrap();
    assert_eq!((receipt.first_seq, receipt.count, receipt.claimed), (0, 2, true));
    let receipt = store.append(&alice, &s1, &[Message::assistant("hello")]).await.unwrap();
    assert_eq!((receipt.first_seq, receipt.count, receipt.claimed), (2, 1, false));

    // Windows.
    let all = store.load(&alice, &s1, Window::Last(20)).await.unwrap();
    assert_eq!(contents(&all), [(0, "be brief"), (1, "hi"), (2, "hello")]);
    assert_eq!(all[0].message.role, MessageRole::System);
    assert!(all.iter().all(|m| m.created_at_ms > 0));
    let cases = [
        (Window::Last(2), vec![1, 2]),
        (Window::Last(0), vec![]),
        (Window::From { start: 1, limit: 1 }, vec![1]),
        (Window::From { start: 1, limit: 20 }, vec![1, 2]),
        (Window::From { start: 3, limit: 5 }, vec![]),
        (Window::From { start: 0, limit: 0 }, vec![]),
    ];
    for (window, expected) in cases {
        let got: Vec<u64> = store.load(&alice, &s1, window).await.unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(got, expected, "{:?} on {:?}", window, h.kind);
    }
    assert!(matches!(
        store.load(&alice, &s1, Window::Last(21)).await,
        Err(ConvError::WindowTooLarge { requested: 21, max: 20 })
    ));

    let info = store.info(&alice, &s1).await.unwrap();
    assert_eq!((info.id.as_str(), info.title.as_deref(), info.message_count), (s1.as_str(), None, 3));
    assert!(info.created_at_ms <= info.updated_at_ms);

    // Every field survives the round trip.
    let call =
        ToolCall { id: "call_1".into(), name: "customers.get".into(), arguments: r#"{"id":"c-1"}"#.into() };
    let rich = [
        Message::assistant_tool_calls(vec![call]).with_tokens(12).with_metadata("model", "m"),
        Message::tool_result("call_1", "{\"name\":\"Zoë\"}\u{0}").with_name("customers.get"),
    ];
    store.append(&alice, &s1, &rich).await.unwrap();
    let back = store.load(&alice, &s1, Window::Last(2)).await.unwrap();
    assert_eq!(back.iter().map(|m| m.message.clone()).collect::<Vec<_>>(), rich);

    // Someone else's session looks exactly like no session, for every operation.
    let nowhere = session();
    for (who, id) in [(&bob, &s1), (&alice_at_globex, &s1), (&solo, &s1), (&alice, &nowhere)] {
        denied(store.load(who, id, Window::Last(5)).await, "load");
        denied(store.info(who, id).await, "info");
        denied(store.rename(who, id, Some("mine")).await, "rename");
        denied(store.delete(who, id).await, "delete");
        let other = store.load(who, id, Window::Last(5)).await.unwrap_err().to_string();
        assert_eq!(other, ConvError::SessionAccessDenied.to_string(), "no owner in the message");
        assert!(!other.contains("alice"));
    }
    for who in [&bob, &alice_at_globex, &solo] {
        denied(store.append(who, &s1, &[Message::user("let me in")]).await, "append");
        denied(store.create(who, &s1, None).await, "create");
        assert!(store.list(who, FIRST_PAGE).await.unwrap().is_empty(), "{who:?} lists nothing");
    }
    assert_eq!(store.info(&alice, &s1).await.unwrap().message_count, 5, "the refused calls changed nothing");
    assert!(store.info(&alice, &s1).await.unwrap().title.is_none());

    // Explicit create; titles.
    let s2 = session();
    let created = store.create(&alice, &s2, Some("Quarterly numbers")).await.unwrap();
    assert_eq!((created.title.as_deref(), created.message_count), (Some("Quarterly numbers"), 0));
    assert!(matches!(store.create(&alice, &s2, None).await, Err(ConvError::SessionExists)));
    assert!(store.load(&alice, &s2, Window::Last(5)).await.unwrap().is_empty());
    assert!(!store.append(&alice, &s2, &[Message::user("q3?")]).await.unwrap().claimed);
    store.rename(&alice, &s2, Some("Q3")).await.unwrap();
    assert_eq!(store.info(&alice, &s2).await.unwrap().title.as_deref(), Some("Q3"));
    for bad in ["tab\there", &"x".repeat(41), "nul\0"] {
        assert!(
            matches!(store.rename(&alice, &s2, Some(bad)).await, Err(ConvError::InvalidTitle(_))),
            "{bad:?}"
        );
        assert!(matches!(store.create(&alice, &session(), Some(bad)).await, Err(ConvError::InvalidTitle(_))));
    }
    assert_eq!(store.info(&alice, &s2).await.unwrap().title.as_deref(), Some("Q3"));
    store.rename(&alice, &s2, None).await.unwrap();
    assert_eq!(store.info(&alice, &s2).await.unwrap().title, None);

    // Listing: the caller's sessions only, most recently updated first, paged.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    store.append(&alice, &s1, &[Message::user("bump")]).await.unwrap();
    let listed = store.list(&alice, ListQuery { limit: 5, offset: 0 }).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [s1.as_str(), s2.as_str()]);
    assert_eq!(listed[0].message_count, 6);
    let page = store.list(&alice, ListQuery { limit: 1, offset: 1 }).await.unwrap();
    assert_eq!(page.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [s2.as_str()]);
    assert!(store.list(&alice, ListQuery { limit: 5, offset: 2 }).await.unwrap().is_empty());
    assert!(matches!(
        store.list(&alice, ListQuery { limit: 6, offset: 0 }).await,
        Err(ConvError::WindowTooLarge { requested: 6, max: 5 })
    ));

    // Owners must be authenticated principals.
    let anonymous = identity_types::IsolationKey::anonymous("192.0.2.7".parse().unwrap());
    assert!(matches!(
        store.append(&anonymous, &session(), &[Message::user("x")]).await,
        Err(ConvError::InvalidOwner(_))
    ));
    assert!(matches!(
        store.list(&alice.with_session(&s1), FIRST_PAGE).await,
        Err(ConvError::InvalidOwner(_))
    ));

    // Delete: gone for the owner, and the id is free again.
    let s3 = session();
    store.append(&bob, &s3, &[Message::user("b1"), Message::user("b2")]).await.unwrap();
    assert_eq!(store.delete(&bob, &s3).await.unwrap(), 2);
    denied(store.load(&bob, &s3, Window::Last(5)).await, "deleted");
    denied(store.delete(&bob, &s3).await, "deleted twice");
    assert!(store.append(&bob, &s3, &[Message::user("again")]).await.unwrap().claimed);
    assert_eq!(contents(&store.load(&bob, &s3, Window::Last(5)).await.unwrap()), [(0, "again")]);

    // purge_user: all of Alice at acme, nothing of anyone else.
    let s4 = session();
    store.append(&alice_at_globex, &s4, &[Message::user("other tenant")]).await.unwrap();
    let report = store.purge_user(&alice).await.unwrap();
    assert_eq!(report, PurgeReport { sessions: 2, messages: 6 + 1 });
    assert!(store.list(&alice, FIRST_PAGE).await.unwrap().is_empty());
    denied(store.load(&alice, &s1, Window::Last(5)).await, "purged");
    assert_eq!(store.purge_user(&alice).await.unwrap(), PurgeReport::default(), "idempotent");
    assert_eq!(store.load(&bob, &s3, Window::Last(5)).await.unwrap().len(), 1);
    assert_eq!(store.load(&alice_at_globex, &s4, Window::Last(5)).await.unwrap().len(), 1);
}

async fn limits_store_nothing_half_way(h: &Harness) {
    let store = &*h.store;
    let alice = key(Some("acme"), "alice");
    let bob = key(Some("acme"), "bob");

    // A refused first append claims nothing: Bob can take the id afterwards.
    let s = session();
    let oversized = [Message::user("fine"), Message::user("x".repeat(3000))];
    assert!(matches!(
        store.append(&alice, &s, &oversized).await,
        Err(ConvError::MessageTooLarge { index: 1, max: 2048, .. })
    ));
    denied(store.info(&alice, &s).await, "nothing claimed");
    let invalid = [Message::user("fine"), Message { tool_call_id: None, ..Message::tool_result("c", "r") }];
    assert!(matches!(
        store.append(&alice, &s, &invalid).await,
        Err(ConvError::InvalidMessage { index: 1, .. })
    ));
    assert!(matches!(store.append(&alice, &s, &[]).await, Err(ConvError::EmptyAppend)));
    assert!(matches!(
        store.append(&alice, &s, &vec![Message::user("x"); 11]).await,
        Err(ConvError::BatchTooLarge { count: 11, max: 10 })
    ));
    assert!(store.append(&bob, &s, &[Message::user("mine now")]).await.unwrap().claimed);

    // A full session refuses the whole batch, not the part that does not fit.
    let t = session();
    store.append(&alice, &t, &vec![Message::user("m"); 10]).await.unwrap();
    assert!(matches!(
        store.append(&alice, &t, &vec![Message::user("m"); 3]).await,
        Err(ConvError::SessionFull { current: 10, adding: 3, max: 12 })
    ));
    assert_eq!(store.info(&alice, &t).await.unwrap().message_count, 10);
    store.append(&alice, &t, &vec![Message::user("m"); 2]).await.unwrap();
    assert!(matches!(
        store.append(&alice, &t, &[Message::user("m")]).await,
        Err(ConvError::SessionFull { .. })
    ));
    let loaded = store.load(&alice, &t, Window::Last(20)).await.unwrap();
    assert_eq!(loaded.iter().map(|m| m.seq).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());

    // One principal cannot fill the store: the fifth session is refused, by create and by
    // a claiming append alike, and claims nothing.
    for _ in 0..3 {
        store.create(&alice, &session(), None).await.unwrap();
    }
    let fifth = session();
    assert!(matches!(store.create(&alice, &fifth, None).await, Err(ConvError::TooManySessions { max: 4 })));
    assert!(matches!(
        store.append(&alice, &fifth, &[Message::user("x")]).await,
        Err(ConvError::TooManySessions { max: 4 })
    ));
    assert_eq!(store.list(&alice, FIRST_PAGE).await.unwrap().len(), 4);
    assert!(store.append(&bob, &fifth, &[Message::user("free")]).await.unwrap().claimed);
    // Existing sessions still take appends, and deleting one makes room.
    store.append(&alice, &t, &[]).await.unwrap_err();
    let oldest = store.list(&alice, FIRST_PAGE).await.unwrap().pop().unwrap();
    store.delete(&alice, &oldest.id).await.unwrap();
    store.create(&alice, &session(), None).await.unwrap();
}

/// Two principals race to claim one new session: exactly one wins, every time.
async fn claim_race(h: &Harness) {
    let trials = if h.kind == Kind::Memory { 400 } else { 150 };
    let alice = key(Some("acme"), "alice");
    let bob = key(Some("acme"), "bob");
    let mut wins = [0u32; 2];
    for trial in 0..trials {
        let s = session();
        // Every other trial, Bob claims with create instead of append.
        let bob_creates = trial % 2 == 1;
        let race = |who: identity_types::IsolationKey,
                    store: Arc<dyn ConversationStore>,
                    s: SessionId,
                    create: bool| {
            tokio::spawn(async move {
                if create {
                    store.create(&who, &s, Some("bob's")).await.map(drop)
                } else {
                    let text = format!("from {}", who.as_str());
                    store.append(&who, &s, &[Message::user(text)]).await.map(drop)
                }
            })
        };
        let a = race(alice.clone(), h.store.clone(), s.clone(), false);
        let b = race(bob.clone(), h.store.clone(), s.clone(), bob_creates);
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let (winner, index) = match (&a, &b) {
            (Ok(()), Err(ConvError::SessionAccessDenied)) => (&alice, 0),
            (Err(ConvError::SessionAccessDenied), Ok(())) => (&bob, 1),
            other => panic!("exactly one must win on {:?}: {other:?}", h.kind),
        };
        wins[index] += 1;
        let history = h.store.load(winner, &s, Window::Last(5)).await.unwrap();
        if index == 1 && bob_creates {
            assert!(history.is_empty(), "the loser's message was not stored");
        } else {
            assert_eq!(history.len(), 1, "the loser's message was not stored");
            assert_eq!(history[0].message.content, format!("from {}", winner.as_str()));
        }
        let loser = if index == 0 { &bob } else { &alice };
        denied(h.store.info(loser, &s).await, "the loser holds nothing");
    }
    assert_eq!(wins[0] + wins[1], trials);
}

/// Several tasks of one owner race to write the first message of a new session: every
/// append succeeds, exactly one of them claims, none is lost. (Postgres once refused the
/// losers with a unique violation on the second unique key of the session table.)
async fn same_owner_claim_race(h: &Harness) {
    let alice = key(Some("acme"), "alice");
    let trials = if h.kind == Kind::Memory { 200 } else { 100 };
    for _ in 0..trials {
        let s = session();
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let (store, alice, s) = (h.store.clone(), alice.clone(), s.clone());
                tokio::spawn(async move { store.append(&alice, &s, &[Message::user(format!("w{n}"))]).await })
            })
            .collect();
        let mut claims = 0;
        for task in tasks {
            let receipt = task.await.unwrap().unwrap_or_else(|e| panic!("{:?}: {e}", h.kind));
            claims += usize::from(receipt.claimed);
        }
        assert_eq!(claims, 1, "exactly one append claims on {:?}", h.kind);
        assert_eq!(h.store.info(&alice, &s).await.unwrap().message_count, 8);
    }
}

/// Parallel appends of one owner to one session keep each writer's order and lose nothing.
async fn parallel_appends(h: &Harness) {
    let alice = key(Some("acme"), "alice");
    let s = session();
    let (writers, appends) = (8, 15);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, alice, s) = (h.store.clone(), alice.clone(), s.clone());
            tokio::spawn(async move {
                for i in 0..appends {
                    let batch =
                        [Message::user(format!("{w}:{i}:a")), Message::assistant(format!("{w}:{i}:b"))];
                    store.append(&alice, &s, &batch).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = h.store.load(&alice, &s, Window::Last(writers * appends * 2)).await.unwrap();
    assert_eq!(all.len(), writers * appends * 2);
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (0..all.len() as u64).collect::<Vec<_>>());
    let mut seen = BTreeSet::new();
    let mut next = vec![0; writers];
    for pair in all.chunks(2) {
        // A batch stays contiguous, and each writer's batches arrive in its order.
        let (a, b) = (&pair[0].message.content, &pair[1].message.content);
        let parts: Vec<usize> = a.split(':').take(2).map(|p| p.parse().unwrap()).collect();
        assert_eq!(b, &format!("{}:{}:b", parts[0], parts[1]), "batch split on {:?}", h.kind);
        assert_eq!(parts[1], next[parts[0]], "writer {} out of order on {:?}", parts[0], h.kind);
        next[parts[0]] += 1;
        assert!(seen.insert(a.clone()));
    }
    assert_eq!(h.store.info(&alice, &s).await.unwrap().message_count, all.len() as u64);
}

fn race_limits() -> Limits {
    Limits { max_load: 1000, ..Limits::default() }
}

per_backend!(conformance, small_limits(), behaviour);
per_backend!(refusals, small_limits(), limits_store_nothing_half_way);
per_backend!(claim_races, race_limits(), claim_race);
per_backend!(concurrent_appends, race_limits(), parallel_appends);
per_backend!(same_owner_claims, race_limits(), same_owner_claim_race);
