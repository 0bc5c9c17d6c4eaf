//! Every guard's allow and deny path, denial detail policies, the role hierarchy, the
//! run-time policies and approval grants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use identity_types::{AuthMethod, ClientContext, ClientId, ErrorClass, ErrorCode, Role, Scope, TenantId};
use mcp_guards::*;
use serde_json::{Map, Value, json};

fn user(id: &str, tenant: Option<&str>, roles: &[&str], scopes: &[&str], claims: Value) -> ClientContext {
    let claims: Map<String, Value> = match claims {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    ClientContext::builder(ClientId::new(id).unwrap(), AuthMethod::Jwt)
        .maybe_tenant(tenant.map(|t| TenantId::new(t).unwrap()))
        .roles(roles.iter().map(|r| Role::new(*r).unwrap()))
        .scopes(scopes.iter().map(|s| Scope::new(*s).unwrap()))
        .claims(claims)
        .build()
}

fn support() -> ClientContext {
    user("sam", Some("acme"), &["support"], &["read", "write"], json!({"groups": ["eng", "oncall"]}))
}

fn admin() -> ClientContext {
    user("ada", Some("globex"), &["admin", "support"], &["read", "write", "billing:read"], json!({}))
}

fn check_now(guard: &dyn Guard, client: Option<&ClientContext>, tool: &ToolInfo) -> Verdict {
    guard
        .check(&GuardContext::for_listing(client, tool))
        .into_ready()
        .expect("built-in guards answer at once")
}

fn code(verdict: Verdict) -> &'static str {
    match verdict {
        Ok(()) => "allow",
        Err(d) => d.code().as_str(),
    }
}

#[test]
fn builtin_guard_table() {
    let tool = ToolInfo::new("t");
    let s = support();
    let a = admin();
    let nobody: Option<&ClientContext> = None;
    let no_tenant = user("x", None, &[], &[], json!({}));
    let groups_as_string = user("x", None, &[], &[], json!({"groups": "eng"}));
    let teams = user("x", None, &[], &[], json!({"teams": ["eng"]}));
    // (guard, caller, expected code)
    let cases: Vec<(Box<dyn Guard>, Option<&ClientContext>, &str)> = vec![
        (Box::new(RequireAuth), Some(&s), "allow"),
        (Box::new(RequireAuth), nobody, "unauthenticated"),
        (Box::new(HasRole::new(["admin", "support"]).unwrap()), Some(&s), "allow"),
        (Box::new(HasRole::new(["admin"]).unwrap()), Some(&s), "missing_role"),
        (Box::new(HasRole::new(["admin"]).unwrap()), nobody, "unauthenticated"),
        (Box::new(HasAllRoles::new(["admin", "support"]).unwrap()), Some(&a), "allow"),
        (Box::new(HasAllRoles::new(["admin", "support"]).unwrap()), Some(&s), "missing_role"),
        (Box::new(HasScope::new(["billing:read", "write"]).unwrap()), Some(&s), "allow"),
        (Box::new(HasScope::new(["billing:read"]).unwrap()), Some(&s), "insufficient_scope"),
        (Box::new(HasAllScopes::new(["read", "write"]).unwrap()), Some(&s), "allow"),
        (Box::new(HasAllScopes::new(["read", "billing:read"]).unwrap()), Some(&s), "insufficient_scope"),
        (Box::new(RequireClientId::new(["sam"]).unwrap()), Some(&s), "allow"),
        (Box::new(RequireClientId::new(["sam"]).unwrap()), Some(&a), "client_not_allowed"),
        (Box::new(RequireTenant), Some(&s), "allow"),
        (Box::new(RequireTenant), Some(&no_tenant), "tenant_required"),
        (Box::new(HasTenant::new(["acme"]).unwrap()), Some(&s), "allow"),
        (Box::new(HasTenant::new(["acme"]).unwrap()), Some(&a), "tenant_not_allowed"),
        (Box::new(HasTenant::new(["acme"]).unwrap()), Some(&no_tenant), "tenant_required"),
        (Box::new(GroupAcl::any_of(["oncall"]).unwrap()), Some(&s), "allow"),
        (Box::new(GroupAcl::any_of(["finance"]).unwrap()), Some(&s), "group_not_allowed"),
        (Box::new(GroupAcl::any_of(["eng"]).unwrap()), Some(&groups_as_string), "group_not_allowed"),
        (Box::new(GroupAcl::any_of(["eng"]).unwrap().claim("teams")), Some(&teams), "allow"),
    ];
    for (i, (guard, caller, expected)) in cases.iter().enumerate() {
        assert_eq!(code(check_now(guard.as_ref(), *caller, &tool)), *expected, "row {i} ({})", guard.name());
    }
}

#[test]
fn combinator_table() {
    let tool = ToolInfo::new("t");
    let s = support();
    let a = admin();
    let role = |r: &str| -> Box<dyn Guard> { Box::new(HasRole::new([r]).unwrap()) };
    let cases: Vec<(Box<dyn Guard>, Option<&ClientContext>, &str)> = vec![
        (Box::new(all_of(vec![Box::new(RequireAuth), role("support")])), Some(&s), "allow"),
        (Box::new(all_of(vec![role("support"), role("admin")])), Some(&s), "missing_role"),
        (Box::new(all_of(vec![role("support"), role("admin")])), Some(&a), "allow"),
        (Box::new(all_of(vec![])), Some(&s), "allow"),
        (Box::new(any_of(vec![role("admin"), role("support")])), Some(&s), "allow"),
        (Box::new(any_of(vec![role("admin"), role("ops")])), Some(&s), "missing_role"),
        (Box::new(any_of(vec![])), Some(&s), "access_denied"),
        (Box::new(not(HasRole::new(["admin"]).unwrap())), Some(&s), "allow"),
        (Box::new(not(HasRole::new(["admin"]).unwrap())), Some(&a), "access_denied"),
        (Box::new(not(HasRole::new(["admin"]).unwrap())), None, "unauthenticated"),
    ];
    for (i, (guard, caller, expected)) in cases.iter().enumerate() {
        assert_eq!(code(check_now(guard.as_ref(), *caller, &tool)), *expected, "row {i}");
    }
}

/// A guard that answers only after yielding, to exercise the combinators' slow path.
struct Slow(bool);

impl Guard for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn check<'a>(&'a self, _ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        let allow = self.0;
        GuardFuture::boxed(async move {
            tokio::task::yield_now().await;
            if allow { Ok(()) } else { Err(Denial::new(DenialCode::AccessDenied, "slow", "no")) }
        })
    }
}

#[tokio::test]
async fn combinators_await_slow_guards() {
    let tool = ToolInfo::new("t");
    let s = support();
    let ctx = GuardContext::for_listing(Some(&s), &tool);
    let role = |r: &str| -> Box<dyn Guard> { Box::new(HasRole::new([r]).unwrap()) };
    assert!(all_of(vec![role("support"), Box::new(Slow(true)), role("support")]).check(&ctx).await.is_ok());
    assert_eq!(
        all_of(vec![Box::new(Slow(true)), role("admin")]).check(&ctx).await.unwrap_err().code(),
        DenialCode::MissingRole,
        "guards after a slow one still run"
    );
    assert!(any_of(vec![Box::new(Slow(false)), role("support")]).check(&ctx).await.is_ok());
    assert!(any_of(vec![Box::new(Slow(false)), Box::new(Slow(false))]).check(&ctx).await.is_err());
    assert!(
        not(Slow(false)).check(&ctx).await.is_err(),
        "a guard that could not decide (AccessDenied) stays a denial under not()"
    );
    let maintenance = Arc::new(MaintenanceMode::new());
    maintenance.start(Duration::from_secs(1));
    assert_eq!(not(maintenance).check(&ctx).await.unwrap_err().code(), DenialCode::Maintenance);
}

#[test]
fn denial_detail_policies() {
    let tool = ToolInfo::new("t");
    let s = support();
    let denial =
        check_now(&HasScope::new(["billing:read", "billing:write"]).unwrap(), Some(&s), &tool).unwrap_err();
    assert_eq!(denial.guard(), "has_scope");
    assert_eq!(
        denial.public_message(DenialDetail::Named),
        "access denied: requires one of the scopes: billing:read, billing:write"
    );
    assert_eq!(denial.public_message(DenialDetail::Hidden), "access denied by policy");
    assert_eq!(denial.requirement().unwrap().scopes().len(), 2);
    for detail in [DenialDetail::Named, DenialDetail::Hidden] {
        let message = denial.public_message(detail);
        // The caller's own scopes ("read", "write") and role ("support") never appear as items.
        let items: Vec<&str> = message.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        for own in ["read", "write", "support"] {
            assert!(!items.contains(&own), "{message}");
        }
    }
    assert_eq!(denial.class(), ErrorClass::AccessDenied);
    assert_eq!(Denial::unauthenticated("x").class(), ErrorClass::Unauthenticated);
}

#[test]
fn scopes_are_collected_for_insufficient_scope_challenges() {
    let guard = all_of(vec![
        Box::new(HasRole::new(["support"]).unwrap()),
        Box::new(HasAllScopes::new(["read", "billing:read"]).unwrap()),
        Box::new(any_of(vec![Box::new(HasScope::new(["write"]).unwrap())])),
    ]);
    let mut scopes = Vec::new();
    guard.collect_scopes(&mut scopes);
    let names: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
    assert_eq!(names, ["read", "billing:read", "write"]);
}

#[test]
fn empty_lists_and_bad_ids_are_configuration_errors() {
    assert!(matches!(HasRole::new(Vec::<&str>::new()), Err(GuardConfigError::EmptyList("has_role"))));
    assert!(matches!(HasAllScopes::new(Vec::<&str>::new()), Err(GuardConfigError::EmptyList(_))));
    assert!(matches!(HasScope::new(["read write"]), Err(GuardConfigError::InvalidId(_))));
    assert!(matches!(GroupAcl::any_of(Vec::<String>::new()), Err(GuardConfigError::EmptyList(_))));
}

#[test]
fn role_hierarchy() {
    let levels = Arc::new(RoleHierarchy::new(["viewer", "developer", "sqa", "manager"]).unwrap());
    let guard = levels.at_least("sqa").unwrap();
    let tool = ToolInfo::new("t");
    let cases = [
        (&["manager"][..], "allow"),
        (&["sqa"][..], "allow"),
        (&["developer"][..], "missing_role"),
        (&["viewer", "intern"][..], "missing_role"),
        (&["intern"][..], "missing_role"),
        (&["viewer", "manager"][..], "allow"),
        (&[][..], "missing_role"),
    ];
    for (roles, expected) in cases {
        let c = user("u", None, roles, &[], json!({}));
        assert_eq!(code(check_now(&guard, Some(&c), &tool)), expected, "{roles:?}");
    }
    let denial = check_now(&guard, Some(&user("u", None, &["viewer"], &[], json!({}))), &tool).unwrap_err();
    assert_eq!(denial.public_message(DenialDetail::Named), "access denied: requires role sqa or higher");
    assert!(matches!(levels.at_least("ceo"), Err(GuardConfigError::UnknownLevel(_))));
    assert!(matches!(RoleHierarchy::new(["a", "b", "a"]), Err(GuardConfigError::DuplicateRole(_))));
}

#[test]
fn read_only_mode_at_each_level() {
    let mode = ReadOnlyMode::new();
    let s = support();
    let a = admin();
    let writer = ToolInfo::new("orders.cancel_order");
    let reader = ToolInfo::new("orders.get_order").read_only();
    assert!(check_now(&mode, Some(&s), &writer).is_ok());

    mode.set_tenant(&TenantId::new("acme").unwrap(), true);
    assert_eq!(code(check_now(&mode, Some(&s), &writer)), "read_only");
    assert!(check_now(&mode, Some(&a), &writer).is_ok(), "another tenant is unaffected");
    assert!(check_now(&mode, Some(&s), &reader).is_ok(), "reads go on");
    mode.set_tenant(&TenantId::new("acme").unwrap(), false);

    mode.set_user(a.isolation_key(), true);
    assert_eq!(code(check_now(&mode, Some(&a), &writer)), "read_only");
    assert!(check_now(&mode, Some(&s), &writer).is_ok());
    mode.set_user(a.isolation_key(), false);

    mode.set_server(true);
    assert_eq!(code(check_now(&mode, Some(&s), &writer)), "read_only");
    assert_eq!(code(check_now(&mode, None, &writer)), "read_only");
    assert!(check_now(&mode, Some(&s), &reader).is_ok());
}

#[test]
fn maintenance_mode_spares_public_tools_and_says_when_to_retry() {
    let mode = MaintenanceMode::new();
    let s = support();
    let private = ToolInfo::new("customers.get_customer").read_only();
    let public = ToolInfo::new("ops.health").read_only().public();
    assert!(check_now(&mode, Some(&s), &private).is_ok());
    mode.start(Duration::from_secs(120));
    let denial = check_now(&mode, Some(&s), &private).unwrap_err();
    assert_eq!(denial.code(), DenialCode::Maintenance);
    assert_eq!(denial.retry_after(), Some(Duration::from_secs(120)));
    assert!(check_now(&mode, None, &public).is_ok());
    mode.end();
    assert!(check_now(&mode, Some(&s), &private).is_ok());
}

#[test]
fn approval_grants_bind_tool_arguments_principal_and_time() {
    let signer = Arc::new(ApprovalSigner::new(&[9u8; 32]).unwrap());
    let guard = RequireApproval::new(Arc::clone(&signer));
    let tool = ToolInfo::new("orders.refund_order").requires_approval();
    let s = support();
    let args = json!({"order_id": "o-1", "amount": 10});
    let grant = signer
        .grant(signer.subject(&tool.name, &args, s.isolation_key()), "approver-pid", Duration::from_secs(60))
        .unwrap();

    let call = |client: &ClientContext, tool: &ToolInfo, args: &Value, grant: Option<&str>| -> Verdict {
        guard.check(&GuardContext::for_call(Some(client), tool, args, grant)).into_ready().unwrap()
    };
    let reason = |v: Verdict| v.unwrap_err().public_message(DenialDetail::Named);

    // Argument order does not matter (canonical JSON), values do.
    assert!(call(&s, &tool, &json!({"amount": 10, "order_id": "o-1"}), Some(&grant)).is_ok());
    assert_eq!(
        reason(call(&s, &tool, &args, Some(&grant))),
        "the approval grant has already been used",
        "one call per grant"
    );
    let grant = signer
        .grant(signer.subject(&tool.name, &args, s.isolation_key()), "approver-pid", Duration::from_secs(60))
        .unwrap();
    assert_eq!(code(call(&s, &tool, &args, None)), "approval_required");
    assert_eq!(
        reason(call(&s, &tool, &json!({"order_id": "o-1", "amount": 10000}), Some(&grant))),
        "the approval grant is for other arguments"
    );
    assert_eq!(
        reason(call(&admin(), &tool, &args, Some(&grant))),
        "the approval grant is for another principal"
    );
    assert_eq!(
        reason(call(&s, &ToolInfo::new("orders.cancel_order").requires_approval(), &args, Some(&grant))),
        "the approval grant is for another tool"
    );

    let other_signer = ApprovalSigner::new(&[8u8; 32]).unwrap();
    let forged = other_signer
        .grant(signer.subject(&tool.name, &args, s.isolation_key()), "x", Duration::from_secs(60))
        .unwrap();
    assert_eq!(reason(call(&s, &tool, &args, Some(&forged))), "the approval grant's signature is invalid");

    let expired =
        signer.grant(signer.subject(&tool.name, &args, s.isolation_key()), "x", Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(reason(call(&s, &tool, &args, Some(&expired))), "the approval grant has expired");

    for junk in ["", "pag1", "pag1..", "xyz.abc.def", &format!("{grant}x"), &"a".repeat(5000)] {
        assert_eq!(code(call(&s, &tool, &args, Some(junk))), "approval_invalid", "{junk:.40}");
    }
    // Listing a tool that needs approval is allowed, and tools without the mark ignore grants.
    assert!(guard.check(&GuardContext::for_listing(Some(&s), &tool)).into_ready().unwrap().is_ok());
    assert!(call(&s, &ToolInfo::new("orders.get_order"), &args, None).is_ok());
    assert!(matches!(ApprovalSigner::new(&[1u8; 31]), Err(GuardConfigError::WeakKey(31))));

    // A grant for another server is refused even under the same key.
    let here = Arc::new(ApprovalSigner::new(&[9u8; 32]).unwrap().with_audience("https://a.test/mcp"));
    let there = ApprovalSigner::new(&[9u8; 32]).unwrap().with_audience("https://b.test/mcp");
    let foreign = there
        .grant(here.subject(&tool.name, &args, s.isolation_key()), "x", Duration::from_secs(60))
        .unwrap();
    let guard_here = RequireApproval::new(here);
    let verdict = guard_here
        .check(&GuardContext::for_call(Some(&s), &tool, &args, Some(&foreign)))
        .into_ready()
        .unwrap();
    assert_eq!(reason(verdict), "the approval grant is for another server");
}
