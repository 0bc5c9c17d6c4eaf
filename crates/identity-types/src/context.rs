//! [`ClientContext`]: who is calling an MCP server, as established by authentication.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::extensions::Extensions;
use crate::ids::{ClientId, Role, Scope, TenantId};
use crate::isolation::IsolationKey;

/// How a caller proved its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// A signed JWT bearer token (HMAC or asymmetric).
    Jwt,
    /// A Palisade API key.
    ApiKey,
    /// An opaque token checked by OAuth 2.0 token introspection (RFC 7662).
    Introspection,
    /// A custom provider; the string names it.
    Custom(&'static str),
}

impl AuthMethod {
    /// A stable lowercase name for logs and audit (`jwt`, `api_key`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
            Self::Introspection => "introspection",
            Self::Custom(name) => name,
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the credential itself says: shared by every request that presents the same
/// credential (an auth cache hands out clones of one `Arc`).
#[derive(Debug)]
struct Identity {
    client_id: ClientId,
    tenant: Option<TenantId>,
    roles: BTreeSet<Role>,
    scopes: BTreeSet<Scope>,
    claims: Map<String, Value>,
    issuer: Option<String>,
    audience: Vec<String>,
    subject: Option<String>,
    issued_at: Option<u64>,
    expires_at: Option<u64>,
    credential_id: Option<String>,
    auth_method: AuthMethod,
    isolation_key: IsolationKey,
}

/// An authenticated caller of an MCP server.
///
/// Built by an authentication provider ([`ClientContext::builder`]), then read by guards
/// and handlers. Cloning is cheap: the credential-derived part is shared, and only the
/// per-request part (peer address, user agent, extensions) is copied.
///
/// ```
/// use identity_types::{AuthMethod, ClientContext, ClientId, Role, Scope, TenantId};
///
/// let ctx = ClientContext::builder(ClientId::new("alice")?, AuthMethod::Jwt)
///     .tenant(TenantId::new("acme")?)
///     .roles([Role::new("support")?])
///     .scopes([Scope::new("read")?, Scope::new("write")?])
///     .build();
/// assert!(ctx.has_role("support"));
/// assert!(ctx.has_all_scopes(["read", "write"]));
/// assert!(!ctx.has_any_role(["admin", "ops"]));
/// # Ok::<(), identity_types::IdError>(())
/// ```
#[derive(Clone)]
pub struct ClientContext {
    identity: Arc<Identity>,
    peer_ip: Option<IpAddr>,
    user_agent: Option<Arc<str>>,
    extensions: Extensions,
}

impl ClientContext {
    /// Starts a context for `client_id`, authenticated by `method`.
    pub fn builder(client_id: ClientId, method: AuthMethod) -> ClientContextBuilder {
        ClientContextBuilder {
            client_id,
            tenant: None,
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            claims: Map::new(),
            issuer: None,
            audience: Vec::new(),
            subject: None,
            issued_at: None,
            expires_at: None,
            credential_id: None,
            auth_method: method,
        }
    }

    /// The principal: a user or a service.
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        &self.identity.client_id
    }
    /// The tenant, when the credential names one.
    #[must_use]
    pub fn tenant(&self) -> Option<&TenantId> {
        self.identity.tenant.as_ref()
    }
    /// The principal's roles.
    #[must_use]
    pub fn roles(&self) -> &BTreeSet<Role> {
        &self.identity.roles
    }
    /// The principal's scopes.
    #[must_use]
    pub fn scopes(&self) -> &BTreeSet<Scope> {
        &self.identity.scopes
    }
    /// Every claim of the credential, as received (for JWTs, the payload object).
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.identity.claims
    }
    /// The credential's issuer (`iss`).
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.identity.issuer.as_deref()
    }
    /// The credential's audiences (`aud`).
    #[must_use]
    pub fn audience(&self) -> &[String] {
        &self.identity.audience
    }
    /// The credential's subject (`sub`), when it has one.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.identity.subject.as_deref()
    }
    /// Issued-at, seconds since the Unix epoch.
    #[must_use]
    pub fn issued_at(&self) -> Option<u64> {
        self.identity.issued_at
    }
    /// Expiry, seconds since the Unix epoch.
    #[must_use]
    pub fn expires_at(&self) -> Option<u64> {
        self.identity.expires_at
    }
    /// An id of the credential itself (a JWT's `jti`, an API key's id), for revocation and audit.
    #[must_use]
    pub fn credential_id(&self) -> Option<&str> {
        self.identity.credential_id.as_deref()
    }
    /// How the caller authenticated.
    #[must_use]
    pub fn auth_method(&self) -> AuthMethod {
        self.identity.auth_method
    }
    /// The partition key of this principal.
    #[must_use]
    pub fn isolation_key(&self) -> &IsolationKey {
        &self.identity.isolation_key
    }
    /// The peer's IP address, when the transport knows it.
    #[must_use]
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer_ip
    }
    /// The caller's `User-Agent`.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    /// Values attached by an `on_authenticate` hook.
    #[must_use]
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }
    /// Mutable access for an `on_authenticate` hook.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The same identity, seen on another request.
    #[must_use]
    pub fn with_request_info(&self, peer_ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        Self {
            identity: Arc::clone(&self.identity),
            peer_ip,
            user_agent: user_agent.map(Arc::from),
            extensions: Extensions::new(),
        }
    }

    /// True if the principal has `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.identity.roles.contains(role)
    }
    /// True if the principal has at least one of `roles`. False for an empty list.
    pub fn has_any_role<'a>(&self, roles: impl IntoIterator<Item = &'a str>) -> bool {
        roles.into_iter().any(|r| self.has_role(r))
    }
    /// True if the principal has every one of `roles`. True for an empty list.
    pub fn has_all_roles<'a>(&self, roles: impl IntoIterator<Item = &'a str>) -> bool {
        roles.into_iter().all(|r| self.has_role(r))
    }
    /// True if the principal has `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.identity.scopes.contains(scope)
    }
    /// True if the principal has at least one of `scopes`. False for an empty list.
    pub fn has_any_scope<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().any(|s| self.has_scope(s))
    }
    /// True if the principal has every one of `scopes`. True for an empty list.
    pub fn has_all_scopes<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().all(|s| self.has_scope(s))
    }
}

impl fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Raw claims can hold personal data (e-mail, name): show only their keys.
        let claim_names: Vec<&str> = self.identity.claims.keys().map(String::as_str).collect();
        f.debug_struct("ClientContext")
            .field("client_id", &self.identity.client_id)
            .field("tenant", &self.identity.tenant)
            .field("roles", &self.identity.roles)
            .field("scopes", &self.identity.scopes)
            .field("auth_method", &self.identity.auth_method)
            .field("claim_names", &claim_names)
            .field("expires_at", &self.identity.expires_at)
            .field("peer_ip", &self.peer_ip)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ClientContext`]; see [`ClientContext::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientContextBuilder {
    client_id: ClientId,
    tenant: Option<TenantId>,
    roles: BTreeSet<Role>,
    scopes: BTreeSet<Scope>,
    claims: Map<String, Value>,
    issuer: Option<String>,
    audience: Vec<String>,
    subject: Option<String>,
    issued_at: Option<u64>,
    expires_at: Option<u64>,
    credential_id: Option<String>,
    auth_method: AuthMethod,
}

impl ClientContextBuilder {
    /// Sets the tenant.
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }
    /// Sets the tenant, or clears it.
    pub fn maybe_tenant(mut self, tenant: Option<TenantId>) -> Self {
        self.tenant = tenant;
        self
    }
    /// Adds roles.
    pub fn roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles.extend(roles);
        self
    }
    /// Adds scopes.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes.extend(scopes);
        self
    }
    /// Sets the raw claims.
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }
    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Sets the audiences.
    pub fn audience(mut self, audience: Vec<String>) -> Self {
        self.audience = audience;
        self
    }
    /// Sets the subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
    /// Sets issued-at (seconds since the Unix epoch).
    pub fn issued_at(mut self, secs: u64) -> Self {
        self.issued_at = Some(secs);
        self
    }
    /// Sets the expiry (seconds since the Unix epoch).
    pub fn expires_at(mut self, secs: u64) -> Self {
        self.expires_at = Some(secs);
        self
    }
    /// Sets the credential id (`jti`, API key id).
    pub fn credential_id(mut self, id: impl Into<String>) -> Self {
        self.credential_id = Some(id.into());
        self
    }

    /// Finishes the context (no peer information yet; see
    /// [`ClientContext::with_request_info`]).
    #[must_use]
    pub fn build(self) -> ClientContext {
        let isolation_key = IsolationKey::for_principal(self.tenant.as_ref(), &self.client_id);
        ClientContext {
            identity: Arc::new(Identity {
                client_id: self.client_id,
                tenant: self.tenant,
                roles: self.roles,
                scopes: self.scopes,
                claims: self.claims,
                issuer: self.issuer,
                audience: self.audience,
                subject: self.subject,
                issued_at: self.issued_at,
                expires_at: self.expires_at,
                credential_id: self.credential_id,
                auth_method: self.auth_method,
                isolation_key,
            }),
            peer_ip: None,
            user_agent: None,
            extensions: Extensions::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ClientContext {
        ClientContext::builder(ClientId::new("alice").expect("id"), AuthMethod::Jwt)
            .tenant(TenantId::new("acme").expect("t"))
            .roles([Role::new("support").expect("r"), Role::new("analyst").expect("r")])
            .scopes([Scope::new("read").expect("s")])
            .build()
    }

    #[test]
    fn role_and_scope_helpers() {
        let c = ctx();
        // (check, expected)
        let table: &[(bool, bool)] = &[
            (c.has_role("support"), true),
            (c.has_role("admin"), false),
            (c.has_any_role(["admin", "analyst"]), true),
            (c.has_any_role([]), false),
            (c.has_all_roles(["support", "analyst"]), true),
            (c.has_all_roles(["support", "admin"]), false),
            (c.has_all_roles([]), true),
            (c.has_scope("read"), true),
            (c.has_scope("write"), false),
            (c.has_any_scope(["write", "read"]), true),
            (c.has_all_scopes(["read", "write"]), false),
        ];
        for (i, (got, want)) in table.iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn request_info_is_per_request_and_identity_is_shared() {
        let c = ctx();
        let mut on_request = c.with_request_info(Some("10.0.0.1".parse().expect("ip")), Some("curl/8"));
        on_request.extensions_mut().insert(42u32);
        assert_eq!(on_request.peer_ip(), Some("10.0.0.1".parse().expect("ip")));
        assert_eq!(on_request.user_agent(), Some("curl/8"));
        assert_eq!(on_request.client_id(), c.client_id());
        assert_eq!(c.peer_ip(), None);
        assert!(c.extensions().get::<u32>().is_none());
        assert_eq!(on_request.isolation_key().as_str(), "v1:u:acme:alice");
    }

    #[test]
    fn debug_hides_claim_values() {
        let mut claims = Map::new();
        claims.insert("email".into(), Value::String("alice@example.com".into()));
        let c = ClientContext::builder(ClientId::new("alice").expect("id"), AuthMethod::Jwt)
            .claims(claims)
            .build();
        let shown = format!("{c:?}");
        assert!(shown.contains("email"));
        assert!(!shown.contains("alice@example.com"));
    }
}
