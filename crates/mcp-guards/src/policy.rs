//! Server-wide policies that switch at run time: read-only mode and maintenance mode.

use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use identity_types::{ClientContext, IsolationKey, TenantId};

use crate::denial::{Denial, DenialCode};
use crate::guard::{Guard, GuardContext, GuardFuture};

/// Refuses tools that write while the server, the caller's tenant, or the caller is
/// read-only. A tool counts as writing unless it is annotated read-only.
///
/// Share it as `Arc<ReadOnlyMode>` between the guard chain and an admin endpoint.
///
/// ```
/// use std::sync::Arc;
/// use identity_types::TenantId;
/// use mcp_guards::ReadOnlyMode;
///
/// let mode = Arc::new(ReadOnlyMode::new());
/// mode.set_tenant(&TenantId::new("acme")?, true); // acme is migrating; reads only
/// # Ok::<(), identity_types::IdError>(())
/// ```
#[derive(Debug, Default)]
pub struct ReadOnlyMode {
    server: AtomicBool,
    tenants: RwLock<HashSet<TenantId>>,
    users: RwLock<HashSet<IsolationKey>>,
}

impl ReadOnlyMode {
    /// Everything writable.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Makes the whole server read-only, or writable again.
    pub fn set_server(&self, read_only: bool) {
        self.server.store(read_only, Ordering::SeqCst);
    }
    /// Makes one tenant read-only, or writable again.
    pub fn set_tenant(&self, tenant: &TenantId, read_only: bool) {
        let mut tenants = self.tenants.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if read_only {
            tenants.insert(tenant.clone());
        } else {
            tenants.remove(tenant);
        }
    }
    /// Makes one principal read-only, or writable again.
    pub fn set_user(&self, user: &IsolationKey, read_only: bool) {
        let mut users = self.users.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if read_only {
            users.insert(user.principal());
        } else {
            users.remove(&user.principal());
        }
    }

    /// Which scope of read-only applies to `client`, if any.
    #[must_use]
    pub fn applies_to(&self, client: Option<&ClientContext>) -> Option<&'static str> {
        if self.server.load(Ordering::SeqCst) {
            return Some("the server is read-only");
        }
        let client = client?;
        if let Some(tenant) = client.tenant()
            && self.tenants.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(tenant)
        {
            return Some("your tenant is read-only");
        }
        let users = self.users.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (!users.is_empty() && users.contains(client.isolation_key())).then_some("your account is read-only")
    }
}

impl Guard for ReadOnlyMode {
    fn name(&self) -> &'static str {
        "read_only_mode"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        if ctx.tool.read_only {
            return GuardFuture::ready(Ok(()));
        }
        GuardFuture::ready(match self.applies_to(ctx.client) {
            Some(reason) => Err(Denial::new(DenialCode::ReadOnly, self.name(), reason)),
            None => Ok(()),
        })
    }
}

/// Refuses every non-public tool while on, telling callers when to retry.
#[derive(Debug, Default)]
pub struct MaintenanceMode {
    on: AtomicBool,
    retry_after_secs: AtomicU64,
}

impl MaintenanceMode {
    /// Off.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Turns maintenance on, with a retry hint for callers.
    pub fn start(&self, retry_after: Duration) {
        self.retry_after_secs.store(retry_after.as_secs(), Ordering::SeqCst);
        self.on.store(true, Ordering::SeqCst);
    }
    /// Turns maintenance off.
    pub fn end(&self) {
        self.on.store(false, Ordering::SeqCst);
    }
    /// True while on.
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }
}

impl Guard for MaintenanceMode {
    fn name(&self) -> &'static str {
        "maintenance_mode"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        if ctx.tool.public || !self.is_on() {
            return GuardFuture::ready(Ok(()));
        }
        let retry = Duration::from_secs(self.retry_after_secs.load(Ordering::SeqCst));
        GuardFuture::ready(Err(Denial::new(
            DenialCode::Maintenance,
            self.name(),
            "the server is in maintenance; retry later",
        )
        .with_retry_after(retry)))
    }
}
