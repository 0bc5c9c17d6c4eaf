//! The Postgres backend against the real server at `PALISADE_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`), each run in its own schema and
//! roles. Under `CI=true` a missing Postgres fails the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use mcp_audit::postgres::{PostgresBackend, migrate};
use mcp_audit::{AuditLog, CheckpointSigner, Verifier};
use ring::rand::SecureRandom as _;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

async fn admin() -> Option<(PgPool, PgConnectOptions)> {
    let url = std::env::var("PALISADE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let options: PgConnectOptions = url.parse().unwrap();
    match PgPool::connect_with(options.clone()).await {
        Ok(pool) => Some((pool, options)),
        Err(error) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("Postgres is required under CI=true and {url} is unreachable: {error}")
        }
        Err(error) => {
            eprintln!(
                "\n*** SKIPPING Postgres audit tests: {url} unreachable ({error}).\n*** Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
            );
            None
        }
    }
}

struct Scratch {
    admin: PgPool,
    app: PgPool,
    schema: String,
    writer: String,
    login: String,
}

impl Scratch {
    async fn new() -> Option<Self> {
        let (admin, options) = admin().await?;
        let mut raw = [0u8; 6];
        ring::rand::SystemRandom::new().fill(&mut raw).unwrap();
        let suffix = hex::encode(raw);
        let (schema, writer, login) =
            (format!("audit_t_{suffix}"), format!("audit_w_{suffix}"), format!("audit_l_{suffix}"));
        migrate(&admin, &schema, &writer).await.unwrap();
        migrate(&admin, &schema, &writer).await.expect("migrations are idempotent");
        sqlx::query(&format!("CREATE ROLE {login} LOGIN IN ROLE {writer}")).execute(&admin).await.unwrap();
        let app = PgPool::connect_with(options.username(&login)).await.unwrap();
        Some(Self { admin, app, schema, writer, login })
    }

    async fn cleanup(self) {
        self.app.close().await;
        for statement in [
            format!("DROP SCHEMA {} CASCADE", self.schema),
            format!("DROP ROLE {}", self.login),
            format!("DROP OWNED BY {}", self.writer),
            format!("DROP ROLE {}", self.writer),
        ] {
            sqlx::query(&statement).execute(&self.admin).await.unwrap();
        }
    }
}

fn start_log(
    backend: PostgresBackend,
    resume: mcp_audit::ResumeState,
    signer: &CheckpointSigner,
) -> AuditLog {
    let signer = CheckpointSigner::from_pem(&signer.to_pem()).unwrap();
    AuditLog::start(backend, resume, common::keys(), signer, common::config(10), vec![])
}

fn sqlstate(error: &sqlx::Error) -> String {
    error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_can_append_and_read_but_never_rewrite() {
    let Some(scratch) = Scratch::new().await else { return };
    let signer = CheckpointSigner::generate().unwrap();
    let public = signer.public_key();

    let (backend, resume) =
        PostgresBackend::open(scratch.app.clone(), &scratch.schema, &public, &common::keys()).await.unwrap();
    assert_eq!(resume.next_seq, 0);
    let log = start_log(backend, resume, &signer);
    for i in 0..25 {
        assert_eq!(log.append(&common::event(i)).await.unwrap(), i);
    }
    log.close().await.unwrap();

    // Reopened, it continues the chain and the tree.
    let (backend, resume) =
        PostgresBackend::open(scratch.app.clone(), &scratch.schema, &public, &common::keys()).await.unwrap();
    assert_eq!(resume.next_seq, 25);
    let reader = backend.clone();
    let log = start_log(backend, resume, &signer);
    assert_eq!(log.append(&common::event(25)).await.unwrap(), 25);
    log.close().await.unwrap();

    let (lines, checkpoints) = reader.read_all().await.unwrap();
    let keys = common::keys();
    let mut verifier = Verifier::new(&public, Some(&keys));
    for (i, line) in lines.iter().enumerate() {
        verifier.push_line(line.as_bytes(), || format!("row {i}"));
    }
    let report = verifier.finish(&checkpoints);
    assert!(report.is_ok() && report.entries == 26 && report.unanchored == 0, "{report:?}");

    // The application role: UPDATE, DELETE and TRUNCATE refused by privilege (42501),
    // and it cannot switch the triggers off either (not the owner).
    let s = &scratch.schema;
    for statement in [
        format!("UPDATE {s}.audit_entries SET line = 'x' WHERE seq = 0"),
        format!("DELETE FROM {s}.audit_entries WHERE seq = 25"),
        format!("TRUNCATE {s}.audit_entries"),
        format!("UPDATE {s}.audit_checkpoints SET line = 'x'"),
        format!("DELETE FROM {s}.audit_checkpoints"),
        format!("ALTER TABLE {s}.audit_entries DISABLE TRIGGER ALL"),
    ] {
        let error = sqlx::query(&statement).execute(&scratch.app).await.expect_err(&statement);
        assert_eq!(sqlstate(&error), "42501", "{statement}: {error}");
    }
    // Even the owner is stopped by the append-only triggers (raise_exception, P0001).
    for statement in [
        format!("UPDATE {s}.audit_entries SET line = 'x' WHERE seq = 0"),
        format!("DELETE FROM {s}.audit_entries"),
        format!("TRUNCATE {s}.audit_entries"),
    ] {
        let error = sqlx::query(&statement).execute(&scratch.admin).await.expect_err(&statement);
        assert_eq!(sqlstate(&error), "P0001", "{statement}: {error}");
    }
    // A duplicate seq is refused by the key, so two writers cannot fork the log.
    let error = sqlx::query(&format!("INSERT INTO {s}.audit_entries (seq, line) VALUES (3, 'x')"))
        .execute(&scratch.app)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "23505");
    assert_eq!(reader.read_all().await.unwrap().0, lines, "nothing changed");
    scratch.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_identifiers_are_refused_before_any_sql() {
    let Some((admin, _)) = admin().await else { return };
    for bad in ["", "Public", "a-b", "x; DROP TABLE y", "1abc", &"a".repeat(64)] {
        assert!(
            matches!(
                migrate(&admin, bad, "ok_role").await,
                Err(mcp_audit::postgres::PostgresError::BadIdentifier(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(
                migrate(&admin, "ok_schema", bad).await,
                Err(mcp_audit::postgres::PostgresError::BadIdentifier(_))
            ),
            "{bad:?}"
        );
    }
}
