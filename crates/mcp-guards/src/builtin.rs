//! Identity guards: authentication, roles, scopes, client ids, tenants and groups.

use identity_types::{ClientContext, ClientId, IdError, Role, Scope, TenantId};
use serde_json::Value;

use crate::denial::{Denial, DenialCode, Requirement};
use crate::guard::{Guard, GuardContext, GuardFuture, Verdict};

/// Why a guard could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardConfigError {
    /// A role, scope, tenant or client id is invalid.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// A guard was given an empty list, which would allow everyone or no one by
    /// accident; say which you mean with another guard.
    #[error("{0} needs at least one entry")]
    EmptyList(&'static str),
    /// A role hierarchy names a role twice.
    #[error("the role hierarchy names {0:?} twice")]
    DuplicateRole(String),
    /// A role is not part of the hierarchy.
    #[error("{0:?} is not a level of the role hierarchy")]
    UnknownLevel(String),
    /// An approval signing key is shorter than 32 bytes.
    #[error("the approval signing key is {0} bytes; at least 32 are required")]
    WeakKey(usize),
}

pub(crate) fn parse_list<T>(
    guard: &'static str,
    items: impl IntoIterator<Item = impl AsRef<str>>,
    parse: impl Fn(&str) -> Result<T, IdError>,
) -> Result<Vec<T>, GuardConfigError> {
    let parsed = items.into_iter().map(|s| parse(s.as_ref())).collect::<Result<Vec<T>, IdError>>()?;
    if parsed.is_empty() {
        return Err(GuardConfigError::EmptyList(guard));
    }
    Ok(parsed)
}

/// The caller, or the standard unauthenticated denial.
pub(crate) fn caller<'a>(ctx: &GuardContext<'a>, guard: &'static str) -> Result<&'a ClientContext, Denial> {
    ctx.client.ok_or_else(|| Denial::unauthenticated(guard))
}

/// Allows any authenticated caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireAuth;

impl Guard for RequireAuth {
    fn name(&self) -> &'static str {
        "require_auth"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(caller(ctx, self.name()).map(|_| ()))
    }
}

macro_rules! set_guard {
    ($(#[$doc:meta])* $name:ident, $label:literal, $item:ty, $field:ident, any = $any:expr,
     $code:expr, $req:ident, collect = |$this:ident, $out:ident| $collect:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $field: Vec<$item>,
        }

        impl $name {
            /// Builds the guard.
            ///
            /// # Errors
            /// [`GuardConfigError`] for an invalid entry or an empty list.
            pub fn new(items: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Self, GuardConfigError> {
                Ok(Self { $field: parse_list($label, items, |s| <$item>::new(s))? })
            }
        }

        impl Guard for $name {
            fn name(&self) -> &'static str {
                $label
            }
            fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
                GuardFuture::ready(caller(ctx, $label).and_then(|client| {
                    let held = client.$field();
                    let ok = if $any {
                        self.$field.iter().any(|x| held.contains(x))
                    } else {
                        self.$field.iter().all(|x| held.contains(x))
                    };
                    if ok {
                        Ok(())
                    } else {
                        Err(Denial::new($code, $label, "access denied").with_requirement(Requirement::$req(self.$field.clone())))
                    }
                }))
            }
            fn collect_scopes(&self, $out: &mut Vec<Scope>) {
                let $this = self;
                $collect
            }
        }
    };
}

set_guard!(
    /// Allows callers with at least one of the roles.
    ///
    /// ```
    /// # use mcp_guards::HasRole;
    /// let guard = HasRole::new(["support", "admin"])?;
    /// # Ok::<(), mcp_guards::GuardConfigError>(())
    /// ```
    HasRole, "has_role", Role, roles, any = true, DenialCode::MissingRole, AnyRole,
    collect = |_this, _out| ()
);
set_guard!(
    /// Allows callers with every one of the roles.
    HasAllRoles, "has_all_roles", Role, roles, any = false, DenialCode::MissingRole, AllRoles,
    collect = |_this, _out| ()
);
set_guard!(
    /// Allows callers with at least one of the scopes.
    HasScope, "has_scope", Scope, scopes, any = true, DenialCode::InsufficientScope, AnyScope,
    collect = |this, out| out.extend(this.scopes.iter().cloned())
);
set_guard!(
    /// Allows callers with every one of the scopes.
    HasAllScopes, "has_all_scopes", Scope, scopes, any = false, DenialCode::InsufficientScope, AllScopes,
    collect = |this, out| out.extend(this.scopes.iter().cloned())
);

/// Allows only the listed client ids (a service account allow-list).
#[derive(Debug, Clone)]
pub struct RequireClientId {
    clients: Vec<ClientId>,
}

impl RequireClientId {
    /// Builds the guard.
    ///
    /// # Errors
    /// [`GuardConfigError`] for an invalid id or an empty list.
    pub fn new(clients: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Self, GuardConfigError> {
        Ok(Self { clients: parse_list("require_client_id", clients, |s| ClientId::new(s))? })
    }
}

impl Guard for RequireClientId {
    fn name(&self) -> &'static str {
        "require_client_id"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(caller(ctx, self.name()).and_then(|client| {
            if self.clients.contains(client.client_id()) {
                Ok(())
            } else {
                Err(Denial::new(
                    DenialCode::ClientNotAllowed,
                    self.name(),
                    "this client may not use this tool",
                ))
            }
        }))
    }
}

/// Allows only callers that belong to some tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireTenant;

impl Guard for RequireTenant {
    fn name(&self) -> &'static str {
        "require_tenant"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(caller(ctx, self.name()).and_then(|client| match client.tenant() {
            Some(_) => Ok(()),
            None => Err(Denial::new(
                DenialCode::TenantRequired,
                self.name(),
                "this tool needs a caller with a tenant",
            )),
        }))
    }
}

/// Allows only callers of the listed tenants.
#[derive(Debug, Clone)]
pub struct HasTenant {
    tenants: Vec<TenantId>,
}

impl HasTenant {
    /// Builds the guard.
    ///
    /// # Errors
    /// [`GuardConfigError`] for an invalid id or an empty list.
    pub fn new(tenants: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Self, GuardConfigError> {
        Ok(Self { tenants: parse_list("has_tenant", tenants, |s| TenantId::new(s))? })
    }
}

impl Guard for HasTenant {
    fn name(&self) -> &'static str {
        "has_tenant"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(caller(ctx, self.name()).and_then(|client| match client.tenant() {
            Some(t) if self.tenants.contains(t) => Ok(()),
            Some(_) => Err(Denial::new(
                DenialCode::TenantNotAllowed,
                self.name(),
                "this tool is not available to your tenant",
            )),
            None => Err(Denial::new(
                DenialCode::TenantRequired,
                self.name(),
                "this tool needs a caller with a tenant",
            )),
        }))
    }
}

/// Allows members of at least one listed group, read from a claim holding an array of
/// strings (default `groups`). A claim of any other shape allows no one.
#[derive(Debug, Clone)]
pub struct GroupAcl {
    claim: String,
    groups: Vec<String>,
}

impl GroupAcl {
    /// Members of any of `groups`, from the `groups` claim.
    ///
    /// # Errors
    /// [`GuardConfigError::EmptyList`] for no groups.
    pub fn any_of(groups: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, GuardConfigError> {
        let groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        if groups.is_empty() {
            return Err(GuardConfigError::EmptyList("group_acl"));
        }
        Ok(Self { claim: "groups".into(), groups })
    }

    /// Reads groups from another claim.
    #[must_use]
    pub fn claim(mut self, claim: impl Into<String>) -> Self {
        self.claim = claim.into();
        self
    }

    fn verdict(&self, client: &ClientContext) -> Verdict {
        let member = match client.claims().get(&self.claim) {
            Some(Value::Array(items)) => {
                items.iter().filter_map(Value::as_str).any(|g| self.groups.iter().any(|allowed| allowed == g))
            }
            _ => false,
        };
        if member {
            Ok(())
        } else {
            Err(Denial::new(
                DenialCode::GroupNotAllowed,
                "group_acl",
                "you are in none of the groups this tool allows",
            ))
        }
    }
}

impl Guard for GroupAcl {
    fn name(&self) -> &'static str {
        "group_acl"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(caller(ctx, self.name()).and_then(|client| self.verdict(client)))
    }
}
