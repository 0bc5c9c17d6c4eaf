//! ChainAuth ordering, and the RFC 7662 introspection provider against a local server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::http::HeaderMap;
use axum::routing::post;
use common::*;
use identity_types::{ClientContext, ClientId, ExposeSecret, SecretString};
use mcp_auth::{
    Algorithm, ApiKeyAuth, ApiKeySpec, AuthError, AuthProviderExt, BoxFuture, ChainAuth, IntrospectionAuth,
    JwtAuth, JwtOptions, OnAuthenticate,
};
use serde_json::{Value, json};

fn jwt() -> JwtAuth {
    JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(AUDIENCE)).unwrap()
}

fn hs(claims: &Value) -> String {
    hs256(SECRET, &json!({"alg": "HS256"}), claims)
}

#[tokio::test]
async fn a_chain_tries_providers_in_order_and_never_falls_through_on_a_bad_credential() {
    let keys = Arc::new(ApiKeyAuth::new());
    let issued = keys.create(ApiKeySpec::new(ClientId::new("svc").unwrap())).unwrap();
    let chain = ChainAuth::new().then(jwt()).then_shared(keys.clone());

    assert_eq!(check(&chain, &hs(&good_claims())).await.unwrap().client_id().as_str(), "alice");
    assert_eq!(check(&chain, issued.key.expose_secret()).await.unwrap().client_id().as_str(), "svc");

    let mut expired = good_claims();
    expired["exp"] = json!(now() - 3600);
    assert_eq!(check(&chain, &hs(&expired)).await.unwrap_err(), AuthError::Expired, "the JWT error is final");
    assert_eq!(check_with(&chain, &http::HeaderMap::new()).await.unwrap_err(), AuthError::MissingCredentials);
    assert_eq!(check(&chain, "opaque-token").await.unwrap_err(), AuthError::UnrecognizedCredential);
    let mut basic = http::HeaderMap::new();
    basic.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    assert_eq!(check_with(&chain, &basic).await.unwrap_err(), AuthError::UnrecognizedCredential);
}

#[derive(Debug, PartialEq)]
struct Plan(&'static str);

struct AttachPlan;

impl OnAuthenticate for AttachPlan {
    fn on_authenticate<'a>(&'a self, context: &'a mut ClientContext) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move {
            if context.client_id().as_str() == "blocked" {
                return Err(AuthError::Rejected("account suspended".into()));
            }
            context.extensions_mut().insert(Plan("enterprise"));
            Ok(())
        })
    }
}

#[tokio::test]
async fn on_authenticate_fills_extensions_and_can_refuse() {
    let hooked = jwt().with_hook(AttachPlan);
    let ctx = check(&hooked, &hs(&good_claims())).await.unwrap();
    assert_eq!(ctx.extensions().get::<Plan>(), Some(&Plan("enterprise")));
    let mut blocked = good_claims();
    blocked["sub"] = json!("blocked");
    assert!(matches!(check(&hooked, &hs(&blocked)).await, Err(AuthError::Rejected(_))));
}

async fn introspection_server() -> String {
    async fn introspect(
        headers: HeaderMap,
        Form(form): Form<std::collections::HashMap<String, String>>,
    ) -> Json<Value> {
        // client credentials "rs:rs-secret"
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic cnM6cnMtc2VjcmV0") {
            return Json(json!({"active": false}));
        }
        let exp = identity_types::unix_now() + 600;
        Json(match form.get("token").map(String::as_str) {
            Some("opaque-good") => json!({
                "active": true, "sub": "carol", "aud": AUDIENCE, "exp": exp,
                "scope": "read billing:read", "tenant_id": "globex", "roles": ["support"],
            }),
            Some("opaque-other-aud") => {
                json!({"active": true, "sub": "carol", "aud": "https://other.test", "exp": exp})
            }
            Some("opaque-expired") => json!({"active": true, "sub": "carol", "aud": AUDIENCE, "exp": 1000}),
            _ => json!({"active": false}),
        })
    }
    let addr = serve(axum::Router::new().route("/introspect", post(introspect))).await;
    format!("http://{addr}/introspect")
}

#[tokio::test]
async fn introspection_admits_only_active_tokens_for_this_audience() {
    let endpoint = introspection_server().await;
    let provider =
        IntrospectionAuth::new(&endpoint, "rs", SecretString::from("rs-secret"), Some(AUDIENCE.into()))
            .unwrap();
    let ctx = check(&provider, "opaque-good").await.unwrap();
    assert_eq!(ctx.client_id().as_str(), "carol");
    assert_eq!(ctx.tenant().unwrap().as_str(), "globex");
    assert!(ctx.has_all_scopes(["read", "billing:read"]));
    assert_eq!(check(&provider, "opaque-unknown").await.unwrap_err(), AuthError::TokenInactive);
    assert_eq!(check(&provider, "opaque-other-aud").await.unwrap_err(), AuthError::InvalidAudience);
    assert_eq!(check(&provider, "opaque-expired").await.unwrap_err(), AuthError::Expired);

    let wrong_secret =
        IntrospectionAuth::new(&endpoint, "rs", SecretString::from("nope"), Some(AUDIENCE.into())).unwrap();
    assert_eq!(check(&wrong_secret, "opaque-good").await.unwrap_err(), AuthError::TokenInactive);

    // API keys and JWT-shaped tokens are never sent to the introspection endpoint.
    let keys = ApiKeyAuth::new().create(ApiKeySpec::new(ClientId::new("svc").unwrap())).unwrap();
    let leaky =
        IntrospectionAuth::new(&endpoint, "rs", SecretString::from("rs-secret"), Some(AUDIENCE.into()))
            .unwrap();
    assert_eq!(check(&leaky, keys.key.expose_secret()).await.unwrap_err(), AuthError::UnrecognizedCredential);
    assert_eq!(check(&leaky, &hs(&good_claims())).await.unwrap_err(), AuthError::UnrecognizedCredential);
    assert!(matches!(check(&leaky, &"x".repeat(5000)).await, Err(AuthError::TokenTooLarge { .. })));

    // After a JWT provider in a chain: opaque tokens pass through to introspection.
    let chain = ChainAuth::new().then(jwt()).then(provider);
    assert_eq!(check(&chain, "opaque-good").await.unwrap().client_id().as_str(), "carol");
}

#[tokio::test]
async fn an_unreachable_introspection_endpoint_fails_closed() {
    // Bind and drop a listener to find a port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let provider =
        IntrospectionAuth::new(&format!("http://127.0.0.1:{port}/i"), "rs", SecretString::from("s"), None)
            .unwrap();
    assert!(matches!(check(&provider, "opaque-good").await, Err(AuthError::IntrospectionFailed(_))));
}
