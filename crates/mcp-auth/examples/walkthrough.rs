//! The foundation's main job: mint tokens for a few users of two tenants, authenticate
//! them, and decide with guards which tools each may call. Run it with `cargo xtask demo`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use identity_types::{ClientId, ErrorCode, ExposeSecret, PrivacyKey, Role, Scope, TenantId};
use mcp_auth::{
    Algorithm, ApiKeyAuth, ApiKeySpec, AuthProvider, AuthRequest, BearerChallenge, ChainAuth, JwtAuth,
    JwtOptions, ProtectedResourceMetadata, TokenSpec,
};
use mcp_guards::{DenialDetail, Guard, GuardContext, HasAllRoles, HasRole, HasScope, ToolInfo, all_of};

const RESOURCE: &str = "http://127.0.0.1:8080/mcp";

fn bearer(token: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    headers
}

fn ids<T: std::str::FromStr>(items: &[&str]) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    items.iter().map(|s| s.parse().unwrap()).collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fresh random secret each run; a real deployment reads PALISADE_JWT_SECRET.
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| "no OS randomness")?;
    let jwt = Arc::new(JwtAuth::new(&secret, Algorithm::HS256, JwtOptions::for_audience(RESOURCE))?);
    let keys = ApiKeyAuth::new();
    let privacy = PrivacyKey::new(&secret)?;

    let users: [(&str, &str, &[&str], &[&str]); 4] = [
        ("alice@acme.example", "acme", &["support"], &["read", "write"]),
        ("bob@acme.example", "acme", &["analyst"], &["read", "billing:read"]),
        (
            "gina@globex.example",
            "globex",
            &["admin", "support"],
            &["read", "write", "billing:read", "billing:write"],
        ),
        ("olga@globex.example", "globex", &["ops"], &["read"]),
    ];
    let tools: Vec<(ToolInfo, Box<dyn Guard>)> = vec![
        (ToolInfo::new("customers.get_customer").read_only(), Box::new(HasScope::new(["read"])?)),
        (
            ToolInfo::new("customers.delete_customer").destructive(),
            Box::new(all_of(vec![
                Box::new(HasAllRoles::new(["admin", "support"])?),
                Box::new(HasScope::new(["write"])?),
            ])),
        ),
        (ToolInfo::new("orders.list_invoices").read_only(), Box::new(HasScope::new(["billing:read"])?)),
        (ToolInfo::new("ops.feature_toggle"), Box::new(HasAllRoles::new(["admin", "ops"])?)),
        (
            ToolInfo::new("analytics.revenue_report").read_only(),
            Box::new(HasRole::new(["analyst", "admin"])?),
        ),
    ];

    println!("Palisade foundation walkthrough: resource {RESOURCE}\n");
    let metadata =
        ProtectedResourceMetadata::new(RESOURCE).scopes(["read", "write", "billing:read", "billing:write"]);
    println!(
        "Protected-resource metadata would be served at {}",
        metadata.metadata_url().unwrap_or_default()
    );
    println!(
        "An anonymous request is answered: 401, WWW-Authenticate: {}\n",
        BearerChallenge::missing_token()
            .resource_metadata(metadata.metadata_url().unwrap_or_default())
            .to_header_value()
    );

    let svc = keys.create(
        ApiKeySpec::new(ClientId::new("nightly-report")?)
            .tenant(TenantId::new("acme")?)
            .scopes(ids::<Scope>(&["read"])),
    )?;
    let auth = ChainAuth::new().then(Arc::clone(&jwt)).then(keys);

    let mut callers = Vec::new();
    for (user, tenant, roles, scopes) in users {
        let token = jwt.create_token(
            &TokenSpec::new(user)
                .tenant(TenantId::new(tenant)?)
                .roles(ids::<Role>(roles))
                .scopes(ids::<Scope>(scopes)),
        )?;
        callers.push((user.to_owned(), token));
    }
    callers.push(("nightly-report (API key)".to_owned(), svc.key.expose_secret().to_owned()));

    for (label, credential) in &callers {
        let headers = bearer(credential);
        let ctx = auth.authenticate(AuthRequest::new(&headers, Some("127.0.0.1".parse()?))).await?;
        println!(
            "{label}: authenticated by {} as {} (tenant {}, logged as {})",
            ctx.auth_method(),
            ctx.client_id(),
            ctx.tenant().map_or("-", |t| t.as_str()),
            privacy.pseudonymize(ctx.isolation_key()),
        );
        for (tool, guard) in &tools {
            let verdict = guard.check(&GuardContext::for_listing(Some(&ctx), tool)).await;
            match verdict {
                Ok(()) => println!("    allow  {}", tool.name),
                Err(denial) => println!(
                    "    deny   {:<28} [{}] {}",
                    tool.name,
                    denial.code(),
                    denial.public_message(DenialDetail::Named)
                ),
            }
        }
    }

    println!("\nRefusals:");
    let foreign_key = ApiKeyAuth::new().create(ApiKeySpec::new(ClientId::new("stranger")?))?;
    let (_, alice_token) = &callers[0];
    let mut tampered = alice_token.clone();
    tampered.replace_range(tampered.len() - 5..tampered.len() - 4, "A");
    for (label, credential) in [
        ("tampered signature", tampered),
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none"}"#), alice_token.split('.').nth(1).unwrap_or_default()),
        ),
        ("API key from another deployment", foreign_key.key.expose_secret().to_owned()),
    ] {
        let headers = bearer(&credential);
        match auth.authenticate(AuthRequest::new(&headers, None)).await {
            Ok(ctx) => println!("    {label}: unexpectedly accepted as {}", ctx.client_id()),
            Err(e) => println!("    {label}: refused [{}] {e}", e.code()),
        }
    }
    Ok(())
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
