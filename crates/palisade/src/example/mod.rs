//! The customer-operations example: 30 tools over a SQLite database of several tenants'
//! customers, orders, invoices, shipments, tickets and feature flags.
//!
//! Every handler takes a [`Tenant`] extractor and filters every query by it, so a record
//! of another tenant is indistinguishable from a missing one.

mod analytics;
mod customers;
pub(crate) mod db;
mod ops;
mod orders;
mod tickets;

use identity_types::{ErrorCode as _, TenantId};
use mcp_server::{FromContext, McpRouter, RequestContext, ToolError};
use ring::rand::SecureRandom as _;
use sqlx::SqlitePool;

/// The database handle, registered as server state.
pub(crate) struct Db(pub(crate) SqlitePool);

/// The caller's tenant (and who is acting, for notes and comments). Refuses callers
/// without a tenant: no query of the example runs outside one.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    /// The tenant id.
    pub(crate) id: TenantId,
    /// The acting principal's id.
    pub(crate) actor: String,
    request_id: String,
}

impl FromContext for Tenant {
    fn from_context(ctx: &RequestContext) -> Result<Self, ToolError> {
        let client = ctx.client().ok_or(ToolError::Unauthenticated)?;
        let id = client.tenant().cloned().ok_or_else(|| {
            ToolError::Denied(mcp_guards::Denial::new(
                mcp_guards::DenialCode::TenantRequired,
                "tenant",
                "this tool needs a caller with a tenant",
            ))
        })?;
        Ok(Self { id, actor: client.client_id().to_string(), request_id: ctx.request_id().to_string() })
    }
}

impl Tenant {
    /// Maps a database error to an internal error, logging the cause under the request id.
    pub(crate) fn db_error(&self, error: sqlx::Error) -> ToolError {
        let tool_error = ToolError::Internal { request_id: self.request_id.clone() };
        tracing::error!(request_id = %self.request_id, %error, code = tool_error.code(), "database error");
        tool_error
    }
}

/// A new random id with `prefix` (e.g. `cus_3f9a0c12d4e5`).
pub(crate) fn new_id(prefix: &str) -> Result<String, ToolError> {
    let mut bytes = [0u8; 6];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ToolError::Internal { request_id: "-".into() })?;
    Ok(format!("{prefix}_{}", hex::encode(bytes)))
}

/// SQL for "now" in the format the tables use.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

/// The five routers of the example (30 tools).
#[must_use]
pub(crate) fn routers() -> Vec<McpRouter> {
    vec![customers::router(), orders::router(), tickets::router(), analytics::router(), ops::router()]
}
