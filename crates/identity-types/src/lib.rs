//! # identity-types
//!
//! The shared vocabulary of Palisade: who is calling, on whose behalf, and how their data
//! is partitioned. Every other Palisade crate depends on this one; it depends on no other
//! Palisade crate and does no I/O (no network, no files, no async runtime).
//!
//! The pieces, in the order a request meets them:
//!
//! 1. **Validated ids** ([`TenantId`], [`ClientId`], [`Role`], [`Scope`], [`SessionId`],
//!    [`RequestId`]): parsed once at the boundary, then trusted. Never empty, bounded in
//!    length, free of control and invisible characters.
//! 2. **[`ClientContext`]**: what an MCP server knows about an authenticated caller
//!    (roles, scopes, claims, peer), built by an `mcp-auth` provider and read by
//!    `mcp-guards`.
//! 3. **[`CallerContext`]**: the identity an agent acts with for one user, including that
//!    user's bearer token in a secret wrapper that never prints.
//! 4. **[`IsolationKey`]**: the single, injective partition key every store, cache,
//!    memory and rate limiter uses.
//! 5. **[`PrivacyId`]**: a keyed pseudonym for logs, metrics and audit, so no raw user id
//!    leaves the request path.
//! 6. **Errors**: [`ErrorClass`] (401 / 403 / 400) and [`ErrorCode`], the stable
//!    machine codes every Palisade error carries.
//!
//! ```
//! use identity_types::{AuthMethod, ClientContext, ClientId, PrivacyKey, TenantId};
//!
//! let ctx = ClientContext::builder(ClientId::new("alice@example.com")?, AuthMethod::Jwt)
//!     .tenant(TenantId::new("acme")?)
//!     .build();
//! let privacy = PrivacyKey::new(&[42u8; 32])?;
//! let pid = privacy.pseudonymize(ctx.isolation_key());
//! // Logs get `pid`, stores get the isolation key, nobody gets the e-mail address.
//! assert!(!pid.to_string().contains("alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod caller;
mod canonical;
mod context;
mod error;
mod extensions;
mod ids;
mod isolation;
mod privacy;
mod random;

pub use caller::CallerContext;
pub use canonical::canonical_json;
pub use context::{AuthMethod, ClientContext, ClientContextBuilder};
pub use error::{ErrorClass, ErrorCode, PublicError};
pub use extensions::Extensions;
pub use ids::{
    ClientId, IdError, IdKind, RandomnessUnavailable, RequestId, Role, Scope, SessionId, TenantId,
};
pub use isolation::IsolationKey;
pub use privacy::{PrivacyId, PrivacyKey, WeakSecret};
pub use secrecy::{ExposeSecret, SecretString};

/// Seconds since the Unix epoch, as used in JWT `NumericDate` claims.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch, as audit entries and checkpoints record time.
#[must_use]
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
