//! Ordered role levels (viewer < developer < sqa < manager) and [`AtLeastRole`].

use std::sync::Arc;

use identity_types::Role;

use crate::builtin::{GuardConfigError, caller, parse_list};
use crate::denial::{Denial, DenialCode, Requirement};
use crate::guard::{Guard, GuardContext, GuardFuture};

/// Roles in increasing order of privilege. A caller's level is that of its highest
/// role in the hierarchy; roles outside it count for nothing.
///
/// ```
/// use mcp_guards::RoleHierarchy;
///
/// let levels = RoleHierarchy::new(["viewer", "developer", "sqa", "manager"])?;
/// assert!(levels.level("sqa") > levels.level("developer"));
/// assert_eq!(levels.level("intern"), None);
/// # Ok::<(), mcp_guards::GuardConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RoleHierarchy {
    levels: Vec<Role>,
}

impl RoleHierarchy {
    /// Levels from least to most privileged.
    ///
    /// # Errors
    /// [`GuardConfigError`] for an invalid or repeated role, or an empty list.
    pub fn new(levels: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Self, GuardConfigError> {
        let levels = parse_list("role_hierarchy", levels, |s| Role::new(s))?;
        for (i, role) in levels.iter().enumerate() {
            if levels[..i].contains(role) {
                return Err(GuardConfigError::DuplicateRole(role.to_string()));
            }
        }
        Ok(Self { levels })
    }

    /// The level of `role` (0 = least privileged), if it is in the hierarchy.
    #[must_use]
    pub fn level(&self, role: &str) -> Option<usize> {
        self.levels.iter().position(|r| r.as_str() == role)
    }

    /// A guard allowing callers at `minimum` or above.
    ///
    /// # Errors
    /// [`GuardConfigError::UnknownLevel`] if `minimum` is not in the hierarchy.
    pub fn at_least(self: &Arc<Self>, minimum: &str) -> Result<AtLeastRole, GuardConfigError> {
        let level = self.level(minimum).ok_or_else(|| GuardConfigError::UnknownLevel(minimum.to_owned()))?;
        Ok(AtLeastRole { hierarchy: Arc::clone(self), minimum: level })
    }
}

/// Allows callers whose highest role is at or above a level of a [`RoleHierarchy`].
#[derive(Debug, Clone)]
pub struct AtLeastRole {
    hierarchy: Arc<RoleHierarchy>,
    minimum: usize,
}

impl Guard for AtLeastRole {
    fn name(&self) -> &'static str {
        "at_least_role"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(caller(ctx, self.name()).and_then(|client| {
            let highest = client.roles().iter().filter_map(|r| self.hierarchy.level(r.as_str())).max();
            if highest.is_some_and(|level| level >= self.minimum) {
                Ok(())
            } else {
                let required = self.hierarchy.levels[self.minimum].clone();
                Err(Denial::new(DenialCode::MissingRole, self.name(), "access denied")
                    .with_requirement(Requirement::AtLeastRole(required)))
            }
        }))
    }
}
