//! The row-level security wall on its own: connected as the application's login, raw SQL
//! that ignores every application filter still sees, changes and inserts only the rows of
//! the principal named in the transaction's settings, and nothing with no setting at all.
//! Plus the refusals of [`PostgresStore::open`] for connections that would bypass it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, missing_docs)]

mod common;

use common::{PgScratch, key};
use conv_store::{ConvError, ConversationStore, Limits, Message, PostgresStore};
use identity_types::{IsolationKey, SessionId};
use sqlx::{PgConnection, PgPool};

fn sqlstate(error: &sqlx::Error) -> String {
    error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned()).unwrap_or_default()
}

/// Two principals with data, written through the store.
async fn seeded(pg: &PgScratch) -> (IsolationKey, IsolationKey, SessionId, SessionId) {
    let store = PostgresStore::open(pg.app.clone(), &pg.schema, Limits::default()).await.unwrap();
    let (alice, bob) = (key(Some("acme"), "alice"), key(Some("acme"), "bob"));
    let (sa, sb) = (SessionId::generate().unwrap(), SessionId::generate().unwrap());
    store.append(&alice, &sa, &[Message::user("alice 1"), Message::user("alice 2")]).await.unwrap();
    store
        .append(&bob, &sb, &[Message::user("bob 1"), Message::user("bob 2"), Message::user("bob 3")])
        .await
        .unwrap();
    (alice, bob, sa, sb)
}

async fn act_as(connection: &mut PgConnection, who: &IsolationKey) {
    sqlx::query("SELECT set_config('palisade.principal', $1, true), set_config('palisade.tenant', $2, true)")
        .bind(who.as_str())
        .bind(who.tenant_component())
        .execute(&mut *connection)
        .await
        .unwrap();
}

async fn count(connection: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&mut *connection).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sql_as_the_application_sees_only_the_named_principal() {
    let Some(pg) = PgScratch::new().await else { return };
    let (alice, bob, sa, sb) = seeded(&pg).await;
    let s = &pg.schema;

    // As Alice, with no WHERE clause at all.
    let mut tx = pg.app.begin().await.unwrap();
    act_as(&mut tx, &alice).await;
    let owners: Vec<String> = sqlx::query_scalar(&format!("SELECT DISTINCT owner FROM {s}.conv_messages"))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(owners, [alice.as_str()]);
    assert_eq!(count(&mut tx, &format!("SELECT count(*) FROM {s}.conv_messages")).await, 2);
    assert_eq!(count(&mut tx, &format!("SELECT count(*) FROM {s}.conv_sessions")).await, 1);
    // Writes that ignore the filters touch only her rows.
    let updated = sqlx::query(&format!("UPDATE {s}.conv_messages SET body = 'overwritten'"))
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 2);
    let deleted = sqlx::query(&format!("DELETE FROM {s}.conv_sessions WHERE session_id = $1"))
        .bind(sb.as_str())
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0, "Bob's session is invisible, so not deletable");
    tx.rollback().await.unwrap();

    // Writing a row in Bob's name is refused by the policy's WITH CHECK.
    let mut tx = pg.app.begin().await.unwrap();
    act_as(&mut tx, &alice).await;
    let forged = sqlx::query(&format!(
        "INSERT INTO {s}.conv_messages (session_id, seq, tenant, owner, created_at, body) VALUES ($1, 99, 'acme', $2, 0, '{{}}')"
    ))
    .bind(sb.as_str())
    .bind(bob.as_str())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&forged), "42501", "row-level security violation: {forged}");
    tx.rollback().await.unwrap();

    // Writing into Bob's session under her own name is refused too: a message row must
    // match its session's (session, tenant, owner), and foreign-key checks do not see
    // through row-level security. The error is the same whether or not the session exists.
    for target in [sb.as_str(), "NoSuchSessionAAAAAAAA"] {
        let mut tx = pg.app.begin().await.unwrap();
        act_as(&mut tx, &alice).await;
        let planted = sqlx::query(&format!(
            "INSERT INTO {s}.conv_messages (session_id, seq, tenant, owner, created_at, body) VALUES ($1, 99, 'acme', $2, 0, '{{}}')"
        ))
        .bind(target)
        .bind(alice.as_str())
        .execute(&mut *tx)
        .await
        .unwrap_err();
        assert_eq!(sqlstate(&planted), "23503", "foreign key violation: {planted}");
        tx.rollback().await.unwrap();
    }

    // Moving her own row to Bob is refused too.
    let mut tx = pg.app.begin().await.unwrap();
    act_as(&mut tx, &alice).await;
    let moved = sqlx::query(&format!("UPDATE {s}.conv_sessions SET owner = $1 WHERE session_id = $2"))
        .bind(bob.as_str())
        .bind(sa.as_str())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&moved), "42501");
    tx.rollback().await.unwrap();

    // The right principal in the wrong tenant sees nothing: the policy checks both.
    let mut tx = pg.app.begin().await.unwrap();
    sqlx::query(
        "SELECT set_config('palisade.principal', $1, true), set_config('palisade.tenant', 'globex', true)",
    )
    .bind(alice.as_str())
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(count(&mut tx, &format!("SELECT count(*) FROM {s}.conv_messages")).await, 0);
    tx.rollback().await.unwrap();

    // Nothing set (a fresh connection), and settings that ended with their transaction.
    let mut connection = pg.app.acquire().await.unwrap();
    assert_eq!(count(&mut connection, &format!("SELECT count(*) FROM {s}.conv_messages")).await, 0);
    assert_eq!(count(&mut connection, &format!("SELECT count(*) FROM {s}.conv_sessions")).await, 0);
    let mut tx = sqlx::Connection::begin(&mut *connection).await.unwrap();
    act_as(&mut tx, &bob).await;
    assert_eq!(count(&mut tx, &format!("SELECT count(*) FROM {s}.conv_messages")).await, 3);
    tx.commit().await.unwrap();
    assert_eq!(
        count(&mut connection, &format!("SELECT count(*) FROM {s}.conv_messages")).await,
        0,
        "SET LOCAL ended with the transaction"
    );
    drop(connection);

    // The administrator still sees everything, and Alice's rollback left her rows intact.
    let bodies: Vec<String> =
        sqlx::query_scalar(&format!("SELECT body FROM {s}.conv_messages ORDER BY owner, seq"))
            .fetch_all(&pg.admin)
            .await
            .unwrap();
    assert_eq!(bodies.len(), 5);
    assert!(bodies.iter().all(|b| b != "overwritten"));
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_is_not_the_owner_and_cannot_bypass() {
    let Some(pg) = PgScratch::new().await else { return };
    let s = &pg.schema;
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT tableowner::TEXT FROM pg_tables WHERE schemaname = $1")
            .bind(s)
            .fetch_all(&pg.admin)
            .await
            .unwrap();
    assert_eq!(owners.len(), 2);
    for owner in &owners {
        assert_ne!(owner, &pg.app_role);
        assert_ne!(owner, &pg.login);
    }
    let flags: Vec<(bool, bool)> =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1 OR rolname = $2")
            .bind(&pg.app_role)
            .bind(&pg.login)
            .fetch_all(&pg.admin)
            .await
            .unwrap();
    assert_eq!(flags, [(false, false), (false, false)]);
    // The application cannot switch the wall off.
    let error = sqlx::query(&format!("ALTER TABLE {s}.conv_messages DISABLE ROW LEVEL SECURITY"))
        .execute(&pg.app)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "42501", "must be owner: {error}");
    pg.cleanup().await;
}

async fn open_error(pool: PgPool, schema: &str) -> String {
    match PostgresStore::open(pool, schema, Limits::default()).await {
        Err(ConvError::InsecureConfiguration(reason)) => reason,
        other => panic!("expected InsecureConfiguration, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_refuses_connections_and_tables_that_would_bypass_the_wall() {
    let Some(pg) = PgScratch::new().await else { return };
    let s = pg.schema.clone();

    // The administrator in the test URL is a superuser (trust auth, user postgres).
    assert!(open_error(pg.admin.clone(), &s).await.contains("superuser"));

    // A login with BYPASSRLS.
    let bypass = format!("{}_bypass", pg.login);
    sqlx::query(&format!("CREATE ROLE {bypass} LOGIN BYPASSRLS IN ROLE {}", pg.app_role))
        .execute(&pg.admin)
        .await
        .unwrap();
    let pool = PgPool::connect_with(pg.options.clone().username(&bypass)).await.unwrap();
    assert!(open_error(pool.clone(), &s).await.contains("BYPASSRLS"));
    pool.close().await;

    // A login that is a member of the tables' owner.
    let owner_role = format!("{}_owner", pg.login);
    let owner_login = format!("{}_ownerlogin", pg.login);
    sqlx::query(&format!("CREATE ROLE {owner_role} NOLOGIN")).execute(&pg.admin).await.unwrap();
    sqlx::query(&format!("ALTER TABLE {s}.conv_messages OWNER TO {owner_role}"))
        .execute(&pg.admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE ROLE {owner_login} LOGIN IN ROLE {owner_role}, {}", pg.app_role))
        .execute(&pg.admin)
        .await
        .unwrap();
    let pool = PgPool::connect_with(pg.options.clone().username(&owner_login)).await.unwrap();
    assert!(open_error(pool.clone(), &s).await.contains("could switch row-level security off"));
    pool.close().await;
    sqlx::query(&format!("ALTER TABLE {s}.conv_messages OWNER TO CURRENT_USER"))
        .execute(&pg.admin)
        .await
        .unwrap();

    // A login that can SET ROLE to a role with BYPASSRLS.
    let bypass_role = format!("{}_bypassrole", pg.login);
    let via_login = format!("{}_via", pg.login);
    sqlx::query(&format!("CREATE ROLE {bypass_role} NOLOGIN BYPASSRLS")).execute(&pg.admin).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {via_login} LOGIN IN ROLE {bypass_role}, {}", pg.app_role))
        .execute(&pg.admin)
        .await
        .unwrap();
    let pool = PgPool::connect_with(pg.options.clone().username(&via_login)).await.unwrap();
    let reason = open_error(pool.clone(), &s).await;
    assert!(reason.contains("is a member of") && reason.contains(&bypass_role), "{reason}");
    pool.close().await;

    // Privileges row-level security does not bind.
    sqlx::query(&format!("GRANT TRUNCATE ON {s}.conv_messages TO {}", pg.app_role))
        .execute(&pg.admin)
        .await
        .unwrap();
    assert!(open_error(pg.app.clone(), &s).await.contains("TRUNCATE or TRIGGER"));
    sqlx::query(&format!("REVOKE TRUNCATE ON {s}.conv_messages FROM {}", pg.app_role))
        .execute(&pg.admin)
        .await
        .unwrap();

    // A second, permissive policy would widen the wall; a changed one would move it.
    sqlx::query(&format!("CREATE POLICY everyone ON {s}.conv_messages USING (true)"))
        .execute(&pg.admin)
        .await
        .unwrap();
    assert!(open_error(pg.app.clone(), &s).await.contains("exactly the policy"));
    sqlx::query(&format!("DROP POLICY everyone ON {s}.conv_messages")).execute(&pg.admin).await.unwrap();
    sqlx::query(&format!("ALTER POLICY conv_sessions_owner ON {s}.conv_sessions USING (true)"))
        .execute(&pg.admin)
        .await
        .unwrap();
    assert!(open_error(pg.app.clone(), &s).await.contains("exactly the policy"));
    conv_store::migrate_postgres(&pg.admin, &s, &pg.app_role).await.expect("migrate restores the policy");

    // An application role that already exists with BYPASSRLS is refused by migrate.
    let error = conv_store::migrate_postgres(&pg.admin, &s, &bypass_role).await.unwrap_err();
    assert!(error.to_string().contains("BYPASSRLS"), "{error}");

    // Tables whose wall is down, or missing.
    sqlx::query(&format!("ALTER TABLE {s}.conv_sessions NO FORCE ROW LEVEL SECURITY"))
        .execute(&pg.admin)
        .await
        .unwrap();
    assert!(open_error(pg.app.clone(), &s).await.contains("enabled and forced"));
    sqlx::query(&format!("ALTER TABLE {s}.conv_sessions FORCE ROW LEVEL SECURITY"))
        .execute(&pg.admin)
        .await
        .unwrap();
    assert!(open_error(pg.app.clone(), "conv_no_such_schema").await.contains("run migrate first"));
    assert!(open_error(pg.app.clone(), "Bad-Name; DROP").await.contains("not a plain identifier"));

    // And the proper login opens.
    PostgresStore::open(pg.app.clone(), &s, Limits::default()).await.unwrap();
    for role in [bypass, owner_login, owner_role, via_login, bypass_role] {
        sqlx::query(&format!("DROP ROLE {role}")).execute(&pg.admin).await.unwrap();
    }
    pg.cleanup().await;
}
