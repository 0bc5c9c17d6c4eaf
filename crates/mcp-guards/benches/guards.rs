//! Guard evaluation cost: a chain of three guards. Run with `cargo xtask bench guards`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use identity_types::{AuthMethod, ClientContext, ClientId, Role, Scope, TenantId};
use mcp_guards::{Guard, GuardContext, HasRole, HasScope, RequireAuth, ToolInfo, all_of};

fn three_guards(c: &mut Criterion) {
    let guard = all_of(vec![
        Box::new(RequireAuth),
        Box::new(HasRole::new(["admin", "support"]).unwrap()),
        Box::new(HasScope::new(["write"]).unwrap()),
    ]);
    let client = ClientContext::builder(ClientId::new("alice").unwrap(), AuthMethod::Jwt)
        .tenant(TenantId::new("acme").unwrap())
        .roles([Role::new("support").unwrap(), Role::new("analyst").unwrap()])
        .scopes([Scope::new("read").unwrap(), Scope::new("write").unwrap()])
        .build();
    let tool = ToolInfo::new("customers.update_customer");
    c.bench_function("guards/three_guards_allow", |b| {
        b.iter(|| {
            let ctx = GuardContext::for_listing(Some(black_box(&client)), &tool);
            black_box(guard.check(&ctx).into_ready().unwrap()).unwrap();
        });
    });
    let viewer = ClientContext::builder(ClientId::new("vic").unwrap(), AuthMethod::Jwt)
        .roles([Role::new("viewer").unwrap()])
        .build();
    c.bench_function("guards/three_guards_deny", |b| {
        b.iter(|| {
            let ctx = GuardContext::for_listing(Some(black_box(&viewer)), &tool);
            black_box(guard.check(&ctx).into_ready().unwrap().unwrap_err());
        });
    });
}

criterion_group!(benches, three_guards);
criterion_main!(benches);
