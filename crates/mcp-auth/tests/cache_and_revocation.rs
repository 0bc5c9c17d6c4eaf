//! The verified-token cache never serves an expired or revoked token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use identity_types::ClientContext;
use mcp_auth::{
    Algorithm, AuthError, BoxFuture, JwtAuth, JwtOptions, RevocationHook, RevocationHookError, RevocationList,
};
use serde_json::json;

fn provider(options: JwtOptions) -> JwtAuth {
    JwtAuth::new(SECRET, Algorithm::HS256, options).unwrap()
}

fn token_with(claims: serde_json::Value) -> String {
    hs256(SECRET, &json!({"alg": "HS256", "typ": "JWT"}), &claims)
}

#[tokio::test]
async fn cached_token_is_refused_once_it_expires() {
    let auth = provider(JwtOptions::for_audience(AUDIENCE).leeway(Duration::ZERO));
    let mut claims = good_claims();
    claims["exp"] = json!(now() + 1);
    let token = token_with(claims);
    assert!(check(&auth, &token).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1, "the token is now cached");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(check(&auth, &token).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn revoking_a_jti_refuses_the_cached_token() {
    let list = Arc::new(RevocationList::new());
    let auth = provider(JwtOptions::for_audience(AUDIENCE).revocation_list(Arc::clone(&list)));
    let token = token_with(good_claims());
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok(), "second call is a cache hit");
    list.revoke_token("jti-1", now() + 600);
    assert_eq!(check(&auth, &token).await.unwrap_err(), AuthError::Revoked);
}

#[tokio::test]
async fn revoking_a_subject_refuses_all_its_tokens_until_restored() {
    let list = Arc::new(RevocationList::new());
    let auth = provider(JwtOptions::for_audience(AUDIENCE).revocation_list(Arc::clone(&list)));
    let token = token_with(good_claims());
    let mut other = good_claims();
    other["sub"] = json!("bob");
    let bob = token_with(other);
    assert!(check(&auth, &token).await.is_ok());
    list.revoke_subject("alice");
    assert_eq!(check(&auth, &token).await.unwrap_err(), AuthError::Revoked);
    assert!(check(&auth, &bob).await.is_ok(), "other subjects are unaffected");
    list.restore_subject("alice");
    assert!(check(&auth, &token).await.is_ok());
}

struct Hook {
    revoked: AtomicBool,
    failing: AtomicBool,
    calls: AtomicUsize,
}

impl RevocationHook for Hook {
    fn is_revoked<'a>(
        &'a self,
        _context: &'a ClientContext,
    ) -> BoxFuture<'a, Result<bool, RevocationHookError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(RevocationHookError("database unreachable".into()));
            }
            Ok(self.revoked.load(Ordering::SeqCst))
        })
    }
}

#[tokio::test]
async fn the_revocation_hook_runs_on_every_hit_and_an_error_denies() {
    let hook = Arc::new(Hook {
        revoked: AtomicBool::new(false),
        failing: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
    });
    let auth = provider(JwtOptions::for_audience(AUDIENCE).revocation_hook(hook.clone()));
    let token = token_with(good_claims());
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok());
    assert_eq!(hook.calls.load(Ordering::SeqCst), 2, "cache hits consult the hook too");
    hook.failing.store(true, Ordering::SeqCst);
    assert_eq!(check(&auth, &token).await.unwrap_err(), AuthError::RevocationCheckFailed);
    hook.failing.store(false, Ordering::SeqCst);
    hook.revoked.store(true, Ordering::SeqCst);
    assert_eq!(check(&auth, &token).await.unwrap_err(), AuthError::Revoked);
}

#[tokio::test]
async fn a_zero_capacity_cache_stores_nothing() {
    let auth = provider(JwtOptions::for_audience(AUDIENCE).cache_capacity(0));
    let token = token_with(good_claims());
    assert!(check(&auth, &token).await.is_ok());
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn refused_tokens_are_not_cached() {
    let list = Arc::new(RevocationList::new());
    list.revoke_subject("alice");
    let auth = provider(JwtOptions::for_audience(AUDIENCE).revocation_list(list));
    assert_eq!(check(&auth, &token_with(good_claims())).await.unwrap_err(), AuthError::Revoked);
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn cache_hits_carry_this_requests_peer_not_the_first_ones() {
    let auth = provider(JwtOptions::for_audience(AUDIENCE));
    let token = token_with(good_claims());
    let headers = bearer(&token);
    let first = auth.authenticate_for_test(&headers, "10.0.0.1").await.unwrap();
    let second = auth.authenticate_for_test(&headers, "10.0.0.2").await.unwrap();
    assert_eq!(first.peer_ip(), Some("10.0.0.1".parse().unwrap()));
    assert_eq!(second.peer_ip(), Some("10.0.0.2".parse().unwrap()));
}

trait ForTest {
    async fn authenticate_for_test(
        &self,
        headers: &http::HeaderMap,
        ip: &str,
    ) -> Result<ClientContext, AuthError>;
}

impl ForTest for JwtAuth {
    async fn authenticate_for_test(
        &self,
        headers: &http::HeaderMap,
        ip: &str,
    ) -> Result<ClientContext, AuthError> {
        use mcp_auth::{AuthProvider, AuthRequest};
        self.authenticate(AuthRequest::new(headers, Some(ip.parse().unwrap()))).await
    }
}

#[tokio::test]
async fn stats_count_cache_hits_and_misses_and_sum_over_a_chain() {
    use mcp_auth::{AuthProvider as _, AuthStats, ChainAuth};
    let auth = Arc::new(provider(JwtOptions::for_audience(AUDIENCE)));
    let token = token_with(good_claims());
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok());
    assert!(check(&auth, &token).await.is_ok());
    let forged =
        hs256(b"another-secret-entirely-0123456789", &json!({"alg": "HS256", "typ": "JWT"}), &good_claims());
    assert!(check(&auth, &forged).await.is_err());
    let expected = AuthStats { token_cache_hits: 2, token_cache_misses: 2, key_set_fetches: 0 };
    assert_eq!(auth.stats(), expected);
    let chain =
        ChainAuth::new().then(Arc::clone(&auth)).then(Arc::new(provider(JwtOptions::for_audience(AUDIENCE))));
    assert_eq!(chain.stats(), expected, "a chain sums its providers");
    let disabled = provider(JwtOptions::for_audience(AUDIENCE).cache_capacity(0));
    assert!(check(&disabled, &token).await.is_ok());
    assert_eq!(disabled.stats(), AuthStats::default(), "no cache, no lookups");
}
