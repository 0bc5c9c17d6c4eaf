//! JWKS and OIDC discovery against a real HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::{Algorithm, AsymmetricJwtAuth, AuthError, ConfigError, JwtOptions};
use serde_json::{Value, json};

/// A tiny identity provider: serves a JWKS it can rotate, and can go down.
#[derive(Clone)]
struct Idp {
    jwks: Arc<Mutex<Value>>,
    down: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    issuer: Arc<Mutex<String>>,
}

impl Idp {
    fn new(keys: &[&str]) -> Self {
        let idp = Self {
            jwks: Arc::new(Mutex::new(json!({}))),
            down: Arc::new(AtomicBool::new(false)),
            hits: Arc::new(AtomicUsize::new(0)),
            issuer: Arc::new(Mutex::new(String::new())),
        };
        idp.publish(keys);
        idp
    }

    fn publish(&self, keys: &[&str]) {
        let keys: Vec<Value> = keys.iter().map(|k| fixture_json(&format!("{k}.jwk.json"))).collect();
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    async fn start(&self) -> String {
        async fn jwks(State(idp): State<Idp>) -> Result<Json<Value>, StatusCode> {
            idp.hits.fetch_add(1, Ordering::SeqCst);
            if idp.down.load(Ordering::SeqCst) {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
            Ok(Json(idp.jwks.lock().unwrap().clone()))
        }
        async fn discovery(State(idp): State<Idp>) -> Json<Value> {
            let issuer = idp.issuer.lock().unwrap().clone();
            Json(json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json") }))
        }
        let router = axum::Router::new()
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(self.clone());
        let base = format!("http://{}", serve(router).await);
        *self.issuer.lock().unwrap() = base.clone();
        base
    }
}

fn sign(key: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(&fixture(&format!("{key}.key.pem"))).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_rotated_out_key_stops_working_even_for_cached_tokens() {
    let idp = Idp::new(&["rsa1"]);
    let base = idp.start().await;
    let auth = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .jwks_url(&format!("{base}/jwks.json"))
        .build()
        .await
        .unwrap();
    let old = sign("rsa1", "test-rsa1", &good_claims());
    assert!(check(&auth, &old).await.is_ok());
    assert!(check(&auth, &old).await.is_ok(), "now served from the cache");
    idp.publish(&["rsa2"]);
    auth.refresh_keys().await.unwrap();
    assert_eq!(
        check(&auth, &old).await.unwrap_err(),
        AuthError::UnknownKeyId,
        "the cache was flushed with the old key"
    );
}

async fn provider(base: &str, min_refetch: Duration) -> AsymmetricJwtAuth {
    AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE).cache_capacity(0))
        .jwks_url(&format!("{base}/jwks.json"))
        .min_refetch_interval(min_refetch)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn rotating_the_kid_mid_test_is_followed() {
    let idp = Idp::new(&["rsa1"]);
    let base = idp.start().await;
    let auth = provider(&base, Duration::from_millis(0)).await;
    assert!(check(&auth, &sign("rsa1", "test-rsa1", &good_claims())).await.is_ok());
    assert_eq!(auth.key_fetches(), 1);

    idp.publish(&["rsa2"]);
    let rotated = sign("rsa2", "test-rsa2", &good_claims());
    let ctx = check(&auth, &rotated).await.expect("the new kid is fetched on first sight");
    assert_eq!(ctx.client_id().as_str(), "alice");
    assert_eq!(auth.key_fetches(), 2);
    // The old key left the IdP's set, so it left ours.
    assert_eq!(
        check(&auth, &sign("rsa1", "test-rsa1", &good_claims())).await.unwrap_err(),
        AuthError::UnknownKeyId
    );
}

#[tokio::test]
async fn an_idp_outage_keeps_the_old_keys() {
    let idp = Idp::new(&["rsa1"]);
    let base = idp.start().await;
    let auth = provider(&base, Duration::from_millis(0)).await;
    idp.down.store(true, Ordering::SeqCst);
    assert!(auth.refresh_keys().await.is_err(), "the refresh fails");
    assert!(check(&auth, &sign("rsa1", "test-rsa1", &good_claims())).await.is_ok(), "old keys still verify");
    // An unknown kid during the outage is refused, not let through.
    assert_eq!(
        check(&auth, &sign("rsa2", "test-rsa2", &good_claims())).await.unwrap_err(),
        AuthError::UnknownKeyId
    );
}

#[tokio::test]
async fn unknown_kid_storms_cause_bounded_refetches() {
    let idp = Idp::new(&["rsa1"]);
    let base = idp.start().await;
    let auth = Arc::new(provider(&base, Duration::from_secs(3600)).await);
    let before = idp.hits.load(Ordering::SeqCst);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let auth = Arc::clone(&auth);
        tasks.push(tokio::spawn(async move {
            let token = sign("rsa1", &format!("storm-{i}"), &good_claims());
            check(&*auth, &token).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap_err(), AuthError::UnknownKeyId);
    }
    let fetched = idp.hits.load(Ordering::SeqCst) - before;
    assert!(fetched <= 1, "64 unknown kids caused {fetched} fetches; at most 1 per interval is allowed");
}

#[tokio::test]
async fn oidc_discovery_finds_the_keys_and_pins_the_issuer() {
    let idp = Idp::new(&["rsa1"]);
    let base = idp.start().await;
    let auth = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .oidc_issuer(&base)
        .build()
        .await
        .unwrap();
    let mut claims = good_claims();
    claims["iss"] = json!(base);
    assert!(check(&auth, &sign("rsa1", "test-rsa1", &claims)).await.is_ok());
    claims["iss"] = json!("https://evil.test");
    assert_eq!(
        check(&auth, &sign("rsa1", "test-rsa1", &claims)).await.unwrap_err(),
        AuthError::InvalidIssuer
    );
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let idp = Idp::new(&["rsa1"]);
    let base = idp.start().await;
    *idp.issuer.lock().unwrap() = "https://impostor.test".into();
    let err = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .oidc_issuer(&base)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::Discovery(ref m) if m.contains("issuer")), "{err:?}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let err = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .jwks_url("http://idp.example.com/jwks.json")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUrl { .. }));
}

#[tokio::test]
async fn symmetric_keys_in_a_jwks_are_ignored() {
    let secret_jwk = json!({"kty": "oct", "k": b64(SECRET), "kid": "hmac", "alg": "HS256"});
    let err = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .jwks(json!({ "keys": [secret_jwk] }))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidKey(_)), "{err:?}");
}

#[tokio::test]
async fn a_jwk_alg_narrows_the_key() {
    // rsa1's JWK says RS256; a PS256 token under that kid is refused.
    let auth = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .jwks(json!({ "keys": [fixture_json("rsa1.jwk.json")] }))
        .build()
        .await
        .unwrap();
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("test-rsa1".into());
    let token = jsonwebtoken::encode(
        &header,
        &good_claims(),
        &EncodingKey::from_rsa_pem(&fixture("rsa1.key.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(check(&auth, &token).await.unwrap_err(), AuthError::UnknownKeyId);
    assert!(check(&auth, &sign("rsa1", "test-rsa1", &good_claims())).await.is_ok());
}
