//! [`Denial`]: why a guard refused, and how much of that the caller is told.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use identity_types::{ErrorClass, ErrorCode, Role, Scope};

/// The machine-readable reason for a denial. Stable: clients and dashboards match on
/// [`DenialCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenialCode {
    /// No authenticated identity, and the tool is not public.
    Unauthenticated,
    /// A required role is missing.
    MissingRole,
    /// A required scope is missing (HTTP transports answer 403 `insufficient_scope`).
    InsufficientScope,
    /// The client id is not on the tool's list.
    ClientNotAllowed,
    /// The caller has no tenant and the tool needs one.
    TenantRequired,
    /// The caller's tenant is not on the tool's list.
    TenantNotAllowed,
    /// The caller is in none of the allowed groups.
    GroupNotAllowed,
    /// The tool writes and the server, tenant or user is read-only.
    ReadOnly,
    /// The server is in maintenance.
    Maintenance,
    /// The tool needs an approval grant and none was presented.
    ApprovalRequired,
    /// The presented approval grant is invalid, expired, or for another call.
    ApprovalInvalid,
    /// Any other refusal (a `not(...)` guard, a custom guard).
    AccessDenied,
}

impl DenialCode {
    /// The stable snake_case code.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::MissingRole => "missing_role",
            Self::InsufficientScope => "insufficient_scope",
            Self::ClientNotAllowed => "client_not_allowed",
            Self::TenantRequired => "tenant_required",
            Self::TenantNotAllowed => "tenant_not_allowed",
            Self::GroupNotAllowed => "group_not_allowed",
            Self::ReadOnly => "read_only",
            Self::Maintenance => "maintenance",
            Self::ApprovalRequired => "approval_required",
            Self::ApprovalInvalid => "approval_invalid",
            Self::AccessDenied => "access_denied",
        }
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller would have needed, kept structured so a transport can, for example,
/// list every needed scope in a `WWW-Authenticate: Bearer error="insufficient_scope"`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// Any one of these roles.
    AnyRole(Vec<Role>),
    /// All of these roles.
    AllRoles(Vec<Role>),
    /// At least this role in a hierarchy.
    AtLeastRole(Role),
    /// Any one of these scopes.
    AnyScope(Vec<Scope>),
    /// All of these scopes.
    AllScopes(Vec<Scope>),
}

impl Requirement {
    /// The scopes this requirement names (empty for role requirements).
    #[must_use]
    pub fn scopes(&self) -> &[Scope] {
        match self {
            Self::AnyScope(s) | Self::AllScopes(s) => s,
            _ => &[],
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(items: &[T]) -> String {
            items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
        match self {
            Self::AnyRole(r) => write!(f, "requires one of the roles: {}", list(r)),
            Self::AllRoles(r) => write!(f, "requires all of the roles: {}", list(r)),
            Self::AtLeastRole(r) => write!(f, "requires role {r} or higher"),
            Self::AnyScope(s) => write!(f, "requires one of the scopes: {}", list(s)),
            Self::AllScopes(s) => write!(f, "requires all of the scopes: {}", list(s)),
        }
    }
}

/// How much a denial tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenialDetail {
    /// Name what was required (the roles or scopes). The default, because the MCP
    /// authorization spec wants every needed scope named in a 403.
    #[default]
    Named,
    /// Say only the code and a generic message; for deployments whose role names are
    /// themselves sensitive.
    Hidden,
}

/// A guard's refusal: a code, the guard's name, a message, and what was required.
///
/// The caller's own roles, scopes or tenant are never part of a denial: the message
/// describes the rule, not the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    code: DenialCode,
    guard: Cow<'static, str>,
    message: Cow<'static, str>,
    requirement: Option<Requirement>,
    retry_after: Option<Duration>,
}

impl Denial {
    /// A denial by `guard` with `code` and `message`.
    #[must_use]
    pub fn new(
        code: DenialCode,
        guard: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { code, guard: guard.into(), message: message.into(), requirement: None, retry_after: None }
    }

    /// The standard refusal of a caller with no identity.
    #[must_use]
    pub fn unauthenticated(guard: &'static str) -> Self {
        Self::new(DenialCode::Unauthenticated, guard, "authentication is required")
    }

    /// Attaches what was required.
    #[must_use]
    pub fn with_requirement(mut self, requirement: Requirement) -> Self {
        self.requirement = Some(requirement);
        self
    }

    /// Attaches a retry hint.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The code.
    #[must_use]
    pub fn code(&self) -> DenialCode {
        self.code
    }
    /// The name of the guard that refused.
    #[must_use]
    pub fn guard(&self) -> &str {
        &self.guard
    }
    /// What was required, if the guard says.
    #[must_use]
    pub fn requirement(&self) -> Option<&Requirement> {
        self.requirement.as_ref()
    }
    /// When to retry (maintenance).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The message for the caller under `detail`.
    #[must_use]
    pub fn public_message(&self, detail: DenialDetail) -> String {
        match (detail, &self.requirement) {
            (DenialDetail::Named, Some(requirement)) => format!("{}: {requirement}", self.message),
            (DenialDetail::Hidden, Some(_)) => "access denied by policy".to_owned(),
            (_, None) => self.message.to_string(),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.public_message(DenialDetail::Named))
    }
}

impl std::error::Error for Denial {}

impl ErrorCode for Denial {
    fn class(&self) -> ErrorClass {
        match self.code {
            DenialCode::Unauthenticated => ErrorClass::Unauthenticated,
            _ => ErrorClass::AccessDenied,
        }
    }
    fn code(&self) -> &'static str {
        self.code.as_str()
    }
}
