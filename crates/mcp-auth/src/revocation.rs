//! Revocation: an in-process deny list and an async hook for an external one.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use identity_types::{ClientContext, unix_now};

use crate::provider::BoxFuture;

/// Revoked token ids (`jti`) and revoked subjects, checked on every authentication,
/// cached or not.
///
/// Revoked `jti`s are remembered until the token would have expired anyway, then pruned,
/// so the list stays as small as the set of live revoked tokens.
#[derive(Debug, Default)]
pub struct RevocationList {
    tokens: RwLock<HashMap<String, u64>>,
    subjects: RwLock<HashSet<String>>,
}

impl RevocationList {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token with id `jti`, which expires at `expires_at` (Unix seconds).
    pub fn revoke_token(&self, jti: impl Into<String>, expires_at: u64) {
        let now = unix_now();
        let mut tokens = self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Expired tokens are refused by `exp` anyway; forget them.
        tokens.retain(|_, exp| *exp >= now);
        tokens.insert(jti.into(), expires_at);
    }

    /// Revokes every credential of `subject` until [`Self::restore_subject`].
    pub fn revoke_subject(&self, subject: impl Into<String>) {
        self.subjects.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(subject.into());
    }

    /// Lifts a subject revocation.
    pub fn restore_subject(&self, subject: &str) {
        self.subjects.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(subject);
    }

    /// True if the credential's `jti` or subject is revoked.
    #[must_use]
    pub fn is_revoked(&self, context: &ClientContext) -> bool {
        if let Some(jti) = context.credential_id()
            && self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(jti)
        {
            return true;
        }
        let subjects = self.subjects.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        !subjects.is_empty() && subjects.contains(context.client_id().as_str())
    }
}

/// An external revocation check (a database, a cache shared by replicas).
///
/// Called on every authentication, cached or not. An `Err` refuses the request: when
/// revocation cannot be checked, Palisade fails closed.
pub trait RevocationHook: Send + Sync {
    /// `Ok(true)` if the credential is revoked.
    fn is_revoked<'a>(
        &'a self,
        context: &'a ClientContext,
    ) -> BoxFuture<'a, Result<bool, RevocationHookError>>;
}

/// A revocation hook could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revocation hook failed: {0}")]
pub struct RevocationHookError(pub String);
