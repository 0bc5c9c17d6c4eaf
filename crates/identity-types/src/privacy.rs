//! [`PrivacyId`]: a stable pseudonym for logs, metrics and audit entries.
//!
//! Operators need to tell "the same user again" from "another user" without ever seeing
//! who the user is. A `PrivacyId` is HMAC-SHA256 of the principal's
//! [`IsolationKey`](crate::IsolationKey) under a per-deployment secret, truncated to 128
//! bits: stable within a deployment, unlinkable across deployments, and not reversible by
//! anyone without the secret (a plain hash of an e-mail address can be reversed by hashing
//! a list of addresses; a keyed one cannot).
//!
//! ```
//! use identity_types::{ClientId, IsolationKey, PrivacyKey};
//!
//! let key = PrivacyKey::new(&[7u8; 32])?;
//! let alice = IsolationKey::for_principal(None, &ClientId::new("alice@example.com")?);
//! let id = key.pseudonymize(&alice);
//! assert_eq!(id, key.pseudonymize(&alice));
//! assert!(!id.as_str().contains("alice"));
//! assert!(id.as_str().starts_with("pid_"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::isolation::IsolationKey;

/// Domain separation: the same secret used elsewhere never yields the same MACs.
const DOMAIN: &[u8] = b"palisade.privacy-id.v1\0";
/// Domain separation for tenant pseudonyms.
const TENANT_DOMAIN: &[u8] = b"palisade.tenant-id.v1\0";

/// The deployment secret behind [`PrivacyId`]s. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct PrivacyKey {
    key: hmac::Key,
}

/// The privacy secret is too short to resist guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the privacy-id secret is {actual} bytes; at least {min} are required")]
pub struct WeakSecret {
    /// The minimum length in bytes.
    pub min: usize,
    /// The length given.
    pub actual: usize,
}

impl PrivacyKey {
    /// The minimum secret length: 32 bytes (256 bits).
    pub const MIN_SECRET_LEN: usize = 32;

    /// A key from a deployment secret of at least [`Self::MIN_SECRET_LEN`] bytes.
    ///
    /// # Errors
    /// [`WeakSecret`] if the secret is shorter.
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(WeakSecret { min: Self::MIN_SECRET_LEN, actual: secret.len() });
        }
        Ok(Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) })
    }

    /// A key from exactly 32 bytes: cannot be too short, so cannot fail.
    #[must_use]
    pub fn from_array(secret: &[u8; 32]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// The pseudonym of a principal or session key.
    #[must_use]
    pub fn pseudonymize(&self, key: &IsolationKey) -> PrivacyId {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(DOMAIN);
        ctx.update(key.as_str().as_bytes());
        let tag = ctx.sign();
        PrivacyId(format!("pid_{}", hex::encode(&tag.as_ref()[..16])).into_boxed_str())
    }

    /// The pseudonym of a tenant, `tid_` and 32 hex digits, for metric labels and
    /// dashboards: a separate domain, so it never equals any principal's pseudonym.
    #[must_use]
    pub fn pseudonymize_tenant(&self, tenant: &crate::TenantId) -> PrivacyId {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(TENANT_DOMAIN);
        ctx.update(tenant.as_str().as_bytes());
        let tag = ctx.sign();
        PrivacyId(format!("tid_{}", hex::encode(&tag.as_ref()[..16])).into_boxed_str())
    }
}

impl fmt::Debug for PrivacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivacyKey([REDACTED])")
    }
}

/// A keyed pseudonym: of a principal, `pid_` followed by 32 lower-case hex digits; of a
/// tenant ([`PrivacyKey::pseudonymize_tenant`]), `tid_` and the same.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrivacyId(Box<str>);

impl PrivacyId {
    /// The pseudonym as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PrivacyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, TenantId};

    fn key_for(user: &str) -> IsolationKey {
        IsolationKey::for_principal(
            Some(&TenantId::new("acme").expect("t")),
            &ClientId::new(user).expect("u"),
        )
    }

    #[test]
    fn tenant_pseudonyms_are_stable_keyed_and_apart_from_principals() {
        let key = PrivacyKey::from_array(&[1u8; 32]);
        let acme = TenantId::new("acme").expect("t");
        let id = key.pseudonymize_tenant(&acme);
        assert!(id.as_str().starts_with("tid_") && id.as_str().len() == 36, "{id}");
        assert_eq!(id, key.pseudonymize_tenant(&acme));
        assert_ne!(id, key.pseudonymize_tenant(&TenantId::new("globex").expect("t")));
        assert_ne!(id, PrivacyKey::from_array(&[2u8; 32]).pseudonymize_tenant(&acme), "keyed");
        assert!(!id.as_str().contains("acme"));
        // Another domain: never a principal's pseudonym, even for the same text.
        assert_ne!(&id.as_str()[4..], &key.pseudonymize(&key_for("acme")).as_str()[4..]);
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(PrivacyKey::new(&[0u8; 31]).unwrap_err(), WeakSecret { min: 32, actual: 31 });
    }

    #[test]
    fn pseudonyms_are_stable_distinct_and_keyed() {
        let k1 = PrivacyKey::new(&[1u8; 32]).expect("key");
        let k2 = PrivacyKey::new(&[2u8; 32]).expect("key");
        let alice = key_for("alice");
        assert_eq!(k1.pseudonymize(&alice), k1.pseudonymize(&alice));
        assert_ne!(k1.pseudonymize(&alice), k1.pseudonymize(&key_for("bob")));
        assert_ne!(k1.pseudonymize(&alice), k2.pseudonymize(&alice));
        let id = k1.pseudonymize(&alice);
        assert_eq!(id.as_str().len(), 36);
        assert!(id.as_str()[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = PrivacyKey::new(b"super-secret-super-secret-super-secret").expect("key");
        assert_eq!(format!("{k:?}"), "PrivacyKey([REDACTED])");
    }
}
