//! Approval grants: short-lived, signed permission for one principal to make one call.
//!
//! A tool marked `requires_approval` refuses calls without a grant. The approval
//! workflow (who approves, over which endpoint) lives in the server; this module holds
//! the part that must be exactly right: what a grant binds, and how it is checked.
//!
//! A grant binds
//! - the **tool** name,
//! - the **arguments**, as SHA-256 of their canonical JSON
//!   ([`identity_types::canonical_json`]), so an approved `refund(10)` is not a
//!   `refund(10000)`,
//! - the **principal**, as an HMAC of its isolation key (the grant does not reveal who),
//! - an **expiry**, a random **id** (a grant is good for one call), and optionally the
//!   **server** it is for,
//!
//! and is signed with HMAC-SHA256 under the server's approval key.
//!
//! Format: `pag1.<base64url payload JSON>.<base64url HMAC of "pag1.<payload>">`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_types::{IsolationKey, canonical_json, unix_now};
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::builtin::{GuardConfigError, caller};
use crate::denial::{Denial, DenialCode};
use crate::guard::{Guard, GuardContext, GuardFuture, Verdict};

const PREFIX: &str = "pag1";
/// Largest grant accepted, in bytes.
const MAX_GRANT_LEN: usize = 2048;

/// What a call needs approved: the request an approver sees (without the arguments'
/// values, which the server shows from its own record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSubject {
    /// The tool.
    pub tool: String,
    /// Lower-case hex SHA-256 of the canonical JSON arguments.
    pub arguments_sha256: String,
    /// HMAC tag of the principal's isolation key, hex.
    pub principal: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    #[serde(flatten)]
    subject: ApprovalSubject,
    exp: u64,
    approver: String,
    /// A random id: a grant is good for one call.
    jti: String,
    /// The server the grant is for, when the signer names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

/// Why a grant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// Not a grant at all.
    #[error("the approval grant is malformed")]
    Malformed,
    /// The signature does not verify (forged, or signed under another key).
    #[error("the approval grant's signature is invalid")]
    BadSignature,
    /// The grant has expired.
    #[error("the approval grant has expired")]
    Expired,
    /// The grant is for another tool.
    #[error("the approval grant is for another tool")]
    WrongTool,
    /// The grant is for other arguments.
    #[error("the approval grant is for other arguments")]
    WrongArguments,
    /// The grant is for another principal.
    #[error("the approval grant is for another principal")]
    WrongPrincipal,
    /// The grant was issued for another server.
    #[error("the approval grant is for another server")]
    WrongAudience,
    /// The grant has been used already: a grant is good for one call.
    #[error("the approval grant has already been used")]
    AlreadyUsed,
}

/// Issues and checks grants under one key.
pub struct ApprovalSigner {
    key: hmac::Key,
    audience: Option<String>,
}

/// What a verified grant says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    /// The grant's unique id.
    pub jti: String,
    /// Its expiry, Unix seconds.
    pub exp: u64,
}

impl ApprovalSigner {
    /// A signer with a key of at least 32 bytes.
    ///
    /// # Errors
    /// [`GuardConfigError::WeakKey`] for a shorter key.
    pub fn new(key: &[u8]) -> Result<Self, GuardConfigError> {
        if key.len() < 32 {
            return Err(GuardConfigError::WeakKey(key.len()));
        }
        Ok(Self { key: hmac::Key::new(hmac::HMAC_SHA256, key), audience: None })
    }

    /// Binds every grant to `audience` (this server's resource identifier), so servers
    /// that share a key cannot accept each other's grants.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// What a call by `principal` of `tool` with `arguments` needs approved.
    #[must_use]
    pub fn subject(&self, tool: &str, arguments: &Value, principal: &IsolationKey) -> ApprovalSubject {
        let args = digest::digest(&digest::SHA256, canonical_json(arguments).as_bytes());
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"palisade.approval.principal.v1\0");
        ctx.update(principal.principal().as_str().as_bytes());
        ApprovalSubject {
            tool: tool.to_owned(),
            arguments_sha256: hex::encode(args),
            principal: hex::encode(ctx.sign()),
        }
    }

    /// Signs a grant for `subject`, valid for `ttl`, naming the approver (a pseudonym or
    /// role, for the audit trail).
    ///
    /// # Errors
    /// Never in practice; serialisation of the payload cannot fail.
    pub fn grant(
        &self,
        subject: ApprovalSubject,
        approver: &str,
        ttl: Duration,
    ) -> Result<String, ApprovalError> {
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| ApprovalError::Malformed)?;
        let payload = Payload {
            subject,
            exp: unix_now().saturating_add(ttl.as_secs()),
            approver: approver.to_owned(),
            jti: hex::encode(nonce),
            aud: self.audience.clone(),
        };
        let json = serde_json::to_vec(&payload).map_err(|_| ApprovalError::Malformed)?;
        let signing_input = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(json));
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    /// Checks `grant` against the call it is presented with. (Single use is enforced by
    /// [`RequireApproval`], which remembers the ids of grants it accepted.)
    ///
    /// # Errors
    /// The [`ApprovalError`] saying which binding failed.
    pub fn verify(&self, grant: &str, expected: &ApprovalSubject) -> Result<VerifiedGrant, ApprovalError> {
        if grant.len() > MAX_GRANT_LEN {
            return Err(ApprovalError::Malformed);
        }
        let (signing_input, signature) = grant.rsplit_once('.').ok_or(ApprovalError::Malformed)?;
        let (prefix, payload) = signing_input.split_once('.').ok_or(ApprovalError::Malformed)?;
        if prefix != PREFIX {
            return Err(ApprovalError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| ApprovalError::Malformed)?;
        // Constant-time comparison inside ring.
        hmac::verify(&self.key, signing_input.as_bytes(), &signature)
            .map_err(|_| ApprovalError::BadSignature)?;
        let payload: Payload = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(ApprovalError::Malformed)?;
        if payload.exp < unix_now() {
            return Err(ApprovalError::Expired);
        }
        if payload.subject.tool != expected.tool {
            return Err(ApprovalError::WrongTool);
        }
        if payload.subject.arguments_sha256 != expected.arguments_sha256 {
            return Err(ApprovalError::WrongArguments);
        }
        if payload.subject.principal != expected.principal {
            return Err(ApprovalError::WrongPrincipal);
        }
        if payload.aud != self.audience {
            return Err(ApprovalError::WrongAudience);
        }
        Ok(VerifiedGrant { jti: payload.jti, exp: payload.exp })
    }
}

impl std::fmt::Debug for ApprovalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApprovalSigner([REDACTED])")
    }
}

/// Refuses calls of tools marked `requires_approval` unless they carry a valid grant
/// that has not been used before. Listing such a tool is allowed: the caller needs to see
/// it to ask for approval.
#[derive(Debug)]
pub struct RequireApproval {
    signer: Arc<ApprovalSigner>,
    /// Ids of accepted grants, until they expire.
    used: Mutex<HashMap<String, u64>>,
}

impl RequireApproval {
    /// A guard checking grants with `signer`.
    #[must_use]
    pub fn new(signer: Arc<ApprovalSigner>) -> Self {
        Self { signer, used: Mutex::new(HashMap::new()) }
    }

    /// Records a grant's use; refuses a second use.
    fn consume(&self, grant: &VerifiedGrant) -> Result<(), ApprovalError> {
        let now = unix_now();
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, exp| *exp >= now);
        if used.insert(grant.jti.clone(), grant.exp).is_some() {
            return Err(ApprovalError::AlreadyUsed);
        }
        Ok(())
    }

    fn verdict(&self, ctx: &GuardContext<'_>) -> Verdict {
        let (true, Some(arguments)) = (ctx.tool.requires_approval, ctx.arguments) else {
            return Ok(());
        };
        let client = caller(ctx, "require_approval")?;
        let Some(grant) = ctx.approval_grant else {
            return Err(Denial::new(
                DenialCode::ApprovalRequired,
                "require_approval",
                "this call needs an approval grant",
            ));
        };
        let expected = self.signer.subject(&ctx.tool.name, arguments, client.isolation_key());
        self.signer
            .verify(grant, &expected)
            .and_then(|verified| self.consume(&verified))
            .map_err(|e| Denial::new(DenialCode::ApprovalInvalid, "require_approval", e.to_string()))
    }
}

impl Guard for RequireApproval {
    fn name(&self) -> &'static str {
        "require_approval"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        GuardFuture::ready(self.verdict(ctx))
    }
}
