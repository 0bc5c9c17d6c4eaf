//! API keys: expiry, revocation, rotation, and lookup by hash only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use identity_types::{ClientId, ExposeSecret, Role, Scope, TenantId};
use mcp_auth::{ApiKeyAuth, ApiKeySpec, AuthError, StoredApiKey};

fn spec() -> ApiKeySpec {
    ApiKeySpec::new(ClientId::new("report-bot").unwrap())
        .tenant(TenantId::new("acme").unwrap())
        .roles([Role::new("analyst").unwrap()])
        .scopes([Scope::new("read").unwrap()])
        .label("nightly")
}

fn x_api_key(key: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("x-api-key", key.parse().unwrap());
    h
}

#[tokio::test]
async fn a_key_authenticates_from_either_header() {
    let keys = ApiKeyAuth::new();
    let issued = keys.create(spec()).unwrap();
    let key = issued.key.expose_secret();
    for headers in [bearer(key), x_api_key(key)] {
        let ctx = check_with(&keys, &headers).await.unwrap();
        assert_eq!(ctx.client_id().as_str(), "report-bot");
        assert_eq!(ctx.tenant().unwrap().as_str(), "acme");
        assert!(ctx.has_role("analyst") && ctx.has_scope("read"));
        assert_eq!(ctx.credential_id(), Some(issued.record.id.as_str()));
        assert_eq!(ctx.auth_method(), identity_types::AuthMethod::ApiKey);
    }
    let mut both = bearer(key);
    both.insert("x-api-key", key.parse().unwrap());
    assert!(matches!(check_with(&keys, &both).await, Err(AuthError::MalformedHeader(_))));
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let keys = ApiKeyAuth::new();
    let issued = keys.create(spec().ttl(Duration::ZERO)).unwrap();
    assert_eq!(check(&keys, issued.key.expose_secret()).await.unwrap_err(), AuthError::ApiKeyExpired);
}

#[tokio::test]
async fn revoked_keys_are_refused() {
    let keys = ApiKeyAuth::new();
    let issued = keys.create(spec()).unwrap();
    let key = issued.key.expose_secret().to_owned();
    assert!(check(&keys, &key).await.is_ok());
    keys.revoke(&issued.record.id).unwrap();
    assert_eq!(check(&keys, &key).await.unwrap_err(), AuthError::UnknownApiKey);
    assert!(keys.revoke(&issued.record.id).is_err(), "revoking twice says the id is unknown");
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_its_grace_period_only() {
    let keys = ApiKeyAuth::new();
    let first = keys.create(spec()).unwrap();
    let old = first.key.expose_secret().to_owned();
    let second = keys.rotate(&first.record.id, Duration::from_secs(600)).unwrap();
    assert_eq!(second.record.id, first.record.id);
    assert!(check(&keys, &old).await.is_ok(), "old key inside its grace period");
    assert!(check(&keys, second.key.expose_secret()).await.is_ok());
    assert_eq!(keys.list().len(), 1, "one live key per id");

    let third = keys.rotate(&first.record.id, Duration::ZERO).unwrap();
    assert!(check(&keys, second.key.expose_secret()).await.is_err(), "zero grace retires at once");
    assert!(check(&keys, third.key.expose_secret()).await.is_ok());
    // With zero grace, every earlier key of the id is gone.
    assert!(check(&keys, &old).await.is_err());
}

#[tokio::test]
async fn no_plaintext_is_kept_anywhere() {
    let keys = ApiKeyAuth::new();
    let issued = keys.create(spec()).unwrap();
    let plaintext = issued.key.expose_secret().to_owned();
    let exported = serde_json::to_string(&keys.export()).unwrap();
    assert!(!exported.contains(&plaintext), "the export holds the key");
    assert!(!exported.contains(&plaintext[4..20]), "the export holds part of the key");
    assert!(!format!("{keys:?}").contains(&plaintext));
    assert!(!format!("{issued:?}").contains(&plaintext));
    // The stored digest is SHA-256 of the key, so a reloaded store still finds it.
    let stored: Vec<StoredApiKey> = serde_json::from_str(&exported).unwrap();
    let reloaded = ApiKeyAuth::from_stored(stored).unwrap();
    assert!(check(&reloaded, &plaintext).await.is_ok());
}

#[tokio::test]
async fn malformed_and_unknown_keys_have_distinct_errors() {
    let keys = ApiKeyAuth::new();
    let stranger = ApiKeyAuth::new().create(spec()).unwrap();
    assert_eq!(check(&keys, stranger.key.expose_secret()).await.unwrap_err(), AuthError::UnknownApiKey);
    assert!(matches!(check(&keys, "psk_tooshort").await, Err(AuthError::MalformedApiKey(_))));
    // Not a psk_ key at all: not this provider's business (a chain moves on).
    assert_eq!(
        check(&keys, "eyJhbGciOiJIUzI1NiJ9.e30.abc").await.unwrap_err(),
        AuthError::UnrecognizedCredential
    );
}
