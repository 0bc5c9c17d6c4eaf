//! # mcp-guards
//!
//! Authorization for Palisade MCP servers: may *this* caller use *this* tool, decided in
//! code before any handler runs, never left to a prompt.
//!
//! Depends only on `identity-types`. `mcp-server` evaluates a tool's guards after
//! authentication (for `tools/list`, to show each caller only what it may call, and for
//! `tools/call`, to refuse with a typed [`Denial`]).
//!
//! ## Pieces
//!
//! - [`Guard`]: an async check over the caller ([`identity_types::ClientContext`]) and the
//!   tool ([`ToolInfo`]) that allows or returns a [`Denial`] with a stable
//!   [`DenialCode`], the guard's name and a message. Guards that decide at once cost no
//!   allocation ([`GuardFuture::ready`]).
//! - Built-ins: [`RequireAuth`], [`HasRole`], [`HasAllRoles`], [`HasScope`],
//!   [`HasAllScopes`], [`RequireClientId`], [`RequireTenant`], [`HasTenant`],
//!   [`GroupAcl`], and [`AtLeastRole`] over a [`RoleHierarchy`].
//! - Combinators: [`all_of`], [`any_of`], [`not`].
//! - Policies switched at run time: [`ReadOnlyMode`], [`MaintenanceMode`], and
//!   [`RequireApproval`] with grants from an [`ApprovalSigner`].
//! - [`DenialDetail`]: whether a denial names the roles or scopes it needed (the
//!   default) or hides them. The caller's own roles are never echoed.
//!
//! ## Example
//!
//! ```
//! use identity_types::{AuthMethod, ClientContext, ClientId, Role, Scope};
//! use mcp_guards::{all_of, DenialCode, DenialDetail, GuardContext, Guard, HasRole, HasScope, RequireAuth, ToolInfo};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let guard = all_of(vec![
//!     Box::new(RequireAuth),
//!     Box::new(HasRole::new(["admin", "support"])?),
//!     Box::new(HasScope::new(["write"])?),
//! ]);
//! let tool = ToolInfo::new("customers.delete_customer").destructive();
//! let viewer = ClientContext::builder(ClientId::new("vic")?, AuthMethod::Jwt)
//!     .roles([Role::new("viewer")?])
//!     .scopes([Scope::new("read")?])
//!     .build();
//!
//! let denial = guard.check(&GuardContext::for_listing(Some(&viewer), &tool)).await.unwrap_err();
//! assert_eq!(denial.code(), DenialCode::MissingRole);
//! assert_eq!(denial.public_message(DenialDetail::Named), "access denied: requires one of the roles: admin, support");
//! assert_eq!(denial.public_message(DenialDetail::Hidden), "access denied by policy");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod approval;
mod builtin;
mod combinators;
mod denial;
mod guard;
mod hierarchy;
mod policy;

pub use approval::{ApprovalError, ApprovalSigner, ApprovalSubject, RequireApproval, VerifiedGrant};
pub use builtin::{
    GroupAcl, GuardConfigError, HasAllRoles, HasAllScopes, HasRole, HasScope, HasTenant, RequireAuth,
    RequireClientId, RequireTenant,
};
pub use combinators::{AllOf, AnyOf, Not, all_of, any_of, not};
pub use denial::{Denial, DenialCode, DenialDetail, Requirement};
pub use guard::{Guard, GuardContext, GuardFuture, ToolInfo, Verdict};
pub use hierarchy::{AtLeastRole, RoleHierarchy};
pub use policy::{MaintenanceMode, ReadOnlyMode};
