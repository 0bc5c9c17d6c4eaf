//! Authentication costs: HS256 verify uncached and cached, RS256 and ES256 verify, API
//! key lookup. Run with `cargo xtask bench auth`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use identity_types::{ClientId, ExposeSecret, Role, Scope, TenantId};
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::{
    Algorithm, ApiKeyAuth, ApiKeySpec, AsymmetricJwtAuth, AuthProvider, AuthRequest, JwtAuth, JwtOptions,
    TokenSpec,
};

const AUDIENCE: &str = "https://mcp.bench/mcp";

/// Every provider here answers without I/O, so one poll completes it.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("benchmark future did pending I/O"),
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    headers
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "sub": "alice", "aud": AUDIENCE, "exp": identity_types::unix_now() + 3600, "iat": identity_types::unix_now(),
        "tenant_id": "acme", "roles": ["support", "analyst"], "scope": "read write billing:read", "jti": "bench",
    })
}

fn bench_auth(provider: &dyn AuthProvider, headers: &HeaderMap) {
    let request = AuthRequest::new(headers, Some("127.0.0.1".parse().unwrap()));
    black_box(ready(provider.authenticate(black_box(request))).unwrap());
}

fn hmac(c: &mut Criterion) {
    let secret = [42u8; 32];
    let spec = TokenSpec::new("alice")
        .tenant(TenantId::new("acme").unwrap())
        .roles([Role::new("support").unwrap(), Role::new("analyst").unwrap()])
        .scopes([Scope::new("read").unwrap(), Scope::new("write").unwrap()]);
    let uncached =
        JwtAuth::new(&secret, Algorithm::HS256, JwtOptions::for_audience(AUDIENCE).cache_capacity(0))
            .unwrap();
    let cached = JwtAuth::new(&secret, Algorithm::HS256, JwtOptions::for_audience(AUDIENCE)).unwrap();
    let headers = bearer(&uncached.create_token(&spec).unwrap());
    c.bench_function("auth/hs256_uncached", |b| b.iter(|| bench_auth(&uncached, &headers)));
    c.bench_function("auth/hs256_cached", |b| b.iter(|| bench_auth(&cached, &headers)));
}

fn asymmetric(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (name, alg, stem) in [("rs256", Algorithm::RS256, "rsa1"), ("es256", Algorithm::ES256, "ec256")] {
        let provider = runtime
            .block_on(
                AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE).cache_capacity(0))
                    .pem_key(Some("k"), alg, fixture(&format!("{stem}.pub.pem")))
                    .build(),
            )
            .unwrap();
        let private = fixture(&format!("{stem}.key.pem"));
        let key = if alg == Algorithm::ES256 {
            EncodingKey::from_ec_pem(&private)
        } else {
            EncodingKey::from_rsa_pem(&private)
        };
        let mut header = Header::new(alg);
        header.kid = Some("k".into());
        let headers = bearer(&jsonwebtoken::encode(&header, &claims(), &key.unwrap()).unwrap());
        c.bench_function(&format!("auth/{name}_uncached"), |b| b.iter(|| bench_auth(&provider, &headers)));
    }
}

fn api_keys(c: &mut Criterion) {
    let keys = ApiKeyAuth::new();
    // A realistic store: the lookup is by digest, so its size should not matter.
    for i in 0..10_000 {
        keys.create(ApiKeySpec::new(ClientId::new(format!("svc-{i}")).unwrap())).unwrap();
    }
    let issued = keys.create(ApiKeySpec::new(ClientId::new("svc").unwrap())).unwrap();
    let headers = bearer(issued.key.expose_secret());
    c.bench_function("auth/api_key_lookup_10k", |b| b.iter(|| bench_auth(&keys, &headers)));
}

criterion_group!(benches, hmac, asymmetric, api_keys);
criterion_main!(benches);
