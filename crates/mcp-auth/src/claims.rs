//! Mapping verified token claims onto a [`ClientContext`].

use identity_types::{AuthMethod, ClientContext, ClientId, Role, Scope, TenantId};
use serde_json::{Map, Value};

use crate::error::{AuthError, ConfigError};

/// Which claims carry the tenant, the roles and the scopes.
///
/// Defaults: tenant from `tenant_id`, roles from `roles` (an array of strings), scopes
/// from `scope` (a space-separated string, as in RFC 8693/9068, or an array of strings).
///
/// The subject always comes from `sub`, and is required: a token without one is refused
/// rather than mapped to a shared "unknown" identity whose data every such token would
/// share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    tenant: String,
    roles: String,
    scope: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self { tenant: "tenant_id".into(), roles: "roles".into(), scope: "scope".into() }
    }
}

/// Upper bound on roles or scopes in one credential; more is refused as hostile.
const MAX_LIST_ENTRIES: usize = 256;

impl ClaimMapping {
    /// The default mapping.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the tenant from `claim`.
    ///
    /// # Errors
    /// [`ConfigError::EmptyClaimName`] for an empty name.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Result<Self, ConfigError> {
        self.tenant = non_empty(claim.into())?;
        Ok(self)
    }

    /// Reads roles from `claim`.
    ///
    /// # Errors
    /// [`ConfigError::EmptyClaimName`] for an empty name.
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Result<Self, ConfigError> {
        self.roles = non_empty(claim.into())?;
        Ok(self)
    }

    /// Reads scopes from `claim`.
    ///
    /// # Errors
    /// [`ConfigError::EmptyClaimName`] for an empty name.
    pub fn scope_claim(mut self, claim: impl Into<String>) -> Result<Self, ConfigError> {
        self.scope = non_empty(claim.into())?;
        Ok(self)
    }

    /// The name of the tenant claim.
    #[must_use]
    pub fn tenant_claim_name(&self) -> &str {
        &self.tenant
    }

    /// Builds the context from a verified claim set.
    ///
    /// # Errors
    /// [`AuthError::MissingClaim`] without `sub`; [`AuthError::InvalidClaim`] when a
    /// claim has the wrong type (e.g. `roles` as a string: it is never split into
    /// letters) or an invalid value.
    pub fn to_context(
        &self,
        claims: Map<String, Value>,
        method: AuthMethod,
    ) -> Result<ClientContext, AuthError> {
        let subject = match claims.get("sub") {
            None | Some(Value::Null) => return Err(AuthError::MissingClaim("sub")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("sub", "must be a string")),
        };
        let client_id =
            ClientId::new(subject.clone()).map_err(|_| invalid("sub", "is not a valid client id"))?;

        let tenant = match claims.get(&self.tenant) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                TenantId::new(s.as_str()).map_err(|_| invalid(&self.tenant, "is not a valid tenant id"))?,
            ),
            Some(_) => return Err(invalid(&self.tenant, "must be a string")),
        };

        let roles = match claims.get(&self.roles) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => string_list(&self.roles, items, Role::new)?,
            Some(_) => return Err(invalid(&self.roles, "must be an array of strings")),
        };

        let scopes = match claims.get(&self.scope) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => {
                let parts: Vec<Value> =
                    s.split(' ').filter(|p| !p.is_empty()).map(|p| Value::String(p.into())).collect();
                string_list(&self.scope, &parts, Scope::new)?
            }
            Some(Value::Array(items)) => string_list(&self.scope, items, Scope::new)?,
            Some(_) => {
                return Err(invalid(&self.scope, "must be a space-separated string or an array of strings"));
            }
        };

        let mut builder = ClientContext::builder(client_id, method)
            .maybe_tenant(tenant)
            .roles(roles)
            .scopes(scopes)
            .subject(subject);
        if let Some(iss) = claims.get("iss") {
            builder = builder.issuer(iss.as_str().ok_or_else(|| invalid("iss", "must be a string"))?);
        }
        match claims.get("aud") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => builder = builder.audience(vec![s.clone()]),
            Some(Value::Array(items)) => {
                let aud = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid("aud", "must be a string or an array of strings"))?;
                builder = builder.audience(aud);
            }
            Some(_) => return Err(invalid("aud", "must be a string or an array of strings")),
        }
        if let Some(iat) = claims.get("iat") {
            builder = builder
                .issued_at(iat.as_u64().ok_or_else(|| invalid("iat", "must be a non-negative integer"))?);
        }
        if let Some(exp) = claims.get("exp") {
            builder = builder
                .expires_at(exp.as_u64().ok_or_else(|| invalid("exp", "must be a non-negative integer"))?);
        }
        match claims.get("jti") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => {
                builder = builder.credential_id(s.clone())
            }
            Some(_) => return Err(invalid("jti", "must be a non-empty string of at most 256 bytes")),
        }
        Ok(builder.claims(claims).build())
    }
}

fn non_empty(name: String) -> Result<String, ConfigError> {
    if name.is_empty() { Err(ConfigError::EmptyClaimName) } else { Ok(name) }
}

fn invalid(claim: &str, reason: &'static str) -> AuthError {
    AuthError::InvalidClaim { claim: claim.to_owned(), reason }
}

fn string_list<T, E>(
    claim: &str,
    items: &[Value],
    parse: impl Fn(String) -> Result<T, E>,
) -> Result<Vec<T>, AuthError> {
    if items.len() > MAX_LIST_ENTRIES {
        return Err(invalid(claim, "has too many entries"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => parse(s.clone()).map_err(|_| invalid(claim, "contains an invalid entry")),
            _ => Err(invalid(claim, "must be an array of strings")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn claim_mapping_table() {
        let m = ClaimMapping::default();
        // (claims, expected error code or "ok")
        let cases = [
            (json!({"sub": "alice"}), "ok"),
            (json!({}), "missing_claim"),
            (json!({"sub": null}), "missing_claim"),
            (json!({"sub": 7}), "invalid_claim"),
            (json!({"sub": ""}), "invalid_claim"),
            (json!({"sub": "a", "roles": "admin"}), "invalid_claim"),
            (json!({"sub": "a", "roles": ["admin", 1]}), "invalid_claim"),
            (json!({"sub": "a", "roles": ["ad min"]}), "invalid_claim"),
            (json!({"sub": "a", "roles": ["admin"]}), "ok"),
            (json!({"sub": "a", "scope": "read write"}), "ok"),
            (json!({"sub": "a", "scope": ["read", "write"]}), "ok"),
            (json!({"sub": "a", "scope": 5}), "invalid_claim"),
            (json!({"sub": "a", "tenant_id": ""}), "invalid_claim"),
            (json!({"sub": "a", "tenant_id": ["acme"]}), "invalid_claim"),
            (json!({"sub": "a", "aud": [1]}), "invalid_claim"),
            (json!({"sub": "a", "iat": -5}), "invalid_claim"),
            (json!({"sub": "a", "jti": 5}), "invalid_claim"),
        ];
        for (claims, expected) in cases {
            let got = match m.to_context(map(claims.clone()), AuthMethod::Jwt) {
                Ok(_) => "ok",
                Err(e) => identity_types::ErrorCode::code(&e),
            };
            assert_eq!(got, expected, "{claims}");
        }
    }

    #[test]
    fn roles_string_is_never_split_into_letters() {
        let err = ClaimMapping::default()
            .to_context(map(json!({"sub": "a", "roles": "admin"})), AuthMethod::Jwt)
            .expect_err("string roles must be refused");
        assert_eq!(
            err,
            AuthError::InvalidClaim { claim: "roles".into(), reason: "must be an array of strings" }
        );
    }

    #[test]
    fn scopes_and_tenant_are_mapped() {
        let ctx = ClaimMapping::default()
            .to_context(
                map(json!({"sub": "alice", "tenant_id": "acme", "roles": ["support"], "scope": "read  billing:read", "jti": "j1"})),
                AuthMethod::Jwt,
            )
            .expect("valid");
        assert_eq!(ctx.tenant().map(TenantId::as_str), Some("acme"));
        assert!(ctx.has_all_scopes(["read", "billing:read"]));
        assert!(ctx.has_role("support"));
        assert_eq!(ctx.credential_id(), Some("j1"));
        let custom = ClaimMapping::default().tenant_claim("org").expect("name");
        let ctx =
            custom.to_context(map(json!({"sub": "a", "org": "globex"})), AuthMethod::Jwt).expect("valid");
        assert_eq!(ctx.tenant().map(TenantId::as_str), Some("globex"));
    }
}
