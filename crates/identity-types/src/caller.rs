//! [`CallerContext`]: the identity an agent acts with on a user's behalf.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::ids::{ClientId, Role, Scope, TenantId};
use crate::isolation::IsolationKey;

/// The user an agent serves, carried through the chat pipeline to every store and every
/// MCP tool call it makes.
///
/// The user's bearer token is held in a [`SecretString`]: it is never printed (`Debug`
/// shows `[REDACTED]`) and `CallerContext` does not implement `Serialize`, so it cannot
/// end up in a log line or a stored message by accident.
///
/// ```
/// use identity_types::{CallerContext, ClientId, TenantId};
///
/// let caller = CallerContext::new(ClientId::new("alice")?)
///     .with_tenant(TenantId::new("acme")?)
///     .with_bearer_token("eyJhbGciOi...");
/// assert!(!format!("{caller:?}").contains("eyJ"));
/// assert_eq!(caller.bearer_token(), Some("eyJhbGciOi..."));
/// # Ok::<(), identity_types::IdError>(())
/// ```
#[derive(Clone)]
pub struct CallerContext {
    user: ClientId,
    tenant: Option<TenantId>,
    roles: BTreeSet<Role>,
    scopes: BTreeSet<Scope>,
    bearer_token: Option<SecretString>,
    metadata: BTreeMap<String, String>,
}

impl CallerContext {
    /// A caller with no tenant, roles, scopes or token yet.
    #[must_use]
    pub fn new(user: ClientId) -> Self {
        Self {
            user,
            tenant: None,
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            bearer_token: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the tenant.
    #[must_use]
    pub fn with_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }
    /// Adds roles.
    #[must_use]
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles.extend(roles);
        self
    }
    /// Adds scopes.
    #[must_use]
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes.extend(scopes);
        self
    }
    /// Sets the bearer token the agent forwards to MCP servers for this user.
    #[must_use]
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(SecretString::from(token.into()));
        self
    }
    /// Adds a metadata entry (free-form, non-secret: e.g. locale, client app).
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The user.
    #[must_use]
    pub fn user(&self) -> &ClientId {
        &self.user
    }
    /// The tenant.
    #[must_use]
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }
    /// The roles.
    #[must_use]
    pub fn roles(&self) -> &BTreeSet<Role> {
        &self.roles
    }
    /// The scopes.
    #[must_use]
    pub fn scopes(&self) -> &BTreeSet<Scope> {
        &self.scopes
    }
    /// The bearer token, exposed for the one place that sends it (an `Authorization` header).
    #[must_use]
    pub fn bearer_token(&self) -> Option<&str> {
        self.bearer_token.as_ref().map(ExposeSecret::expose_secret)
    }
    /// The metadata.
    #[must_use]
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    /// The partition key of this user.
    #[must_use]
    pub fn isolation_key(&self) -> IsolationKey {
        IsolationKey::for_principal(self.tenant.as_ref(), &self.user)
    }
}

impl fmt::Debug for CallerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallerContext")
            .field("user", &self.user)
            .field("tenant", &self.tenant)
            .field("roles", &self.roles)
            .field("scopes", &self.scopes)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "[REDACTED]"))
            .field("metadata", &self.metadata)
            .finish()
    }
}
