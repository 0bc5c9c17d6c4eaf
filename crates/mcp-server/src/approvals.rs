//! The approval workflow for tools marked `requires_approval`.
//!
//! 1. A call without a grant is refused with [`ToolError::ApprovalRequired`] naming a new
//!    approval request id; the request records the tool, the SHA-256 of the arguments and
//!    the requester, never the arguments themselves.
//! 2. An approver calls `POST /approvals/{id}/grant` with their own credentials. They must
//!    hold the configured role, belong to the requester's tenant, and not be the requester
//!    (four eyes). They receive a signed grant bound to tool, arguments and requester
//!    (see `mcp_guards::ApprovalSigner`), valid for the configured time.
//! 3. The requester retries the same call with the grant in `_meta["dev.palisade/approval"]`.
//!
//! Every step produces an audit event, refusals included: those before the approver is
//! known (bad origin, a credential in the URL, no or a bad credential) are recorded by
//! the door as at the MCP endpoint, budgeted per address; the rest by the grant itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use identity_types::{IsolationKey, PrivacyKey, RequestId, Role, TenantId};
use mcp_auth::{AuthProvider, AuthRequest, BearerChallenge};
use mcp_guards::{ApprovalSigner, ApprovalSubject};
use ring::rand::SecureRandom as _;
use serde_json::{Map, json};

use crate::audit::{AuditEvent, AuditSink, Decision};
use crate::http::{Audited, Marked as _, Refusal};

/// How approvals work on a server.
#[derive(Clone)]
pub struct ApprovalConfig {
    /// Signs and checks grants.
    pub signer: Arc<ApprovalSigner>,
    /// The role an approver must hold.
    pub approver_role: Role,
    /// How long a grant stays valid.
    pub grant_ttl: Duration,
    /// How long an ungranted request is kept.
    pub request_ttl: Duration,
}

impl std::fmt::Debug for ApprovalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalConfig")
            .field("approver_role", &self.approver_role)
            .field("grant_ttl", &self.grant_ttl)
            .finish_non_exhaustive()
    }
}

impl ApprovalConfig {
    /// Grants valid 10 minutes, requests kept 1 hour.
    #[must_use]
    pub fn new(signer: Arc<ApprovalSigner>, approver_role: Role) -> Self {
        Self {
            signer,
            approver_role,
            grant_ttl: Duration::from_secs(600),
            request_ttl: Duration::from_secs(3600),
        }
    }
}

struct Pending {
    subject: ApprovalSubject,
    tool: String,
    tenant: Option<TenantId>,
    requester: IsolationKey,
    created: Instant,
}

/// At most this many open requests in all; expired ones are dropped to make room.
const MAX_PENDING: usize = 10_000;
/// At most this many open requests per principal, so that one caller cannot fill the
/// table and leave everyone else's approval-required calls without a request.
pub(crate) const MAX_PENDING_PER_PRINCIPAL: usize = 16;

pub(crate) struct Approvals {
    pub(crate) config: ApprovalConfig,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Approvals {
    pub(crate) fn new(config: ApprovalConfig) -> Self {
        Self { config, pending: Mutex::new(HashMap::new()) }
    }

    /// Opens a request for a refused call, or finds the open one for the same tool,
    /// arguments and requester (a retried call does not open another); returns its id.
    /// `None` when the requester already has [`MAX_PENDING_PER_PRINCIPAL`] open requests
    /// or the table is full.
    pub(crate) fn open(
        &self,
        tool: &str,
        arguments: &serde_json::Value,
        requester: &IsolationKey,
        tenant: Option<TenantId>,
    ) -> Option<String> {
        let subject = self.config.signer.subject(tool, arguments, requester);
        let principal = requester.principal();
        let ttl = self.config.request_ttl;
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut open_for_principal = 0;
        for (id, request) in pending.iter() {
            if request.requester != principal || request.created.elapsed() >= ttl {
                continue;
            }
            if request.subject == subject {
                return Some(id.clone());
            }
            open_for_principal += 1;
        }
        if open_for_principal >= MAX_PENDING_PER_PRINCIPAL {
            tracing::warn!("approval request refused: the requester has too many open requests");
            return None;
        }
        if pending.len() >= MAX_PENDING {
            pending.retain(|_, p| p.created.elapsed() < ttl);
            if pending.len() >= MAX_PENDING {
                return None;
            }
        }
        let mut bytes = [0u8; 16];
        ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
        let id = format!("apr_{}", hex::encode(bytes));
        pending.insert(
            id.clone(),
            Pending { subject, tool: tool.to_owned(), tenant, requester: principal, created: Instant::now() },
        );
        Some(id)
    }
}

/// The most characters of a presented approval id that go into the audit entry (a
/// minted id has 36).
const MAX_LOGGED_ID_CHARS: usize = 64;

pub(crate) struct GrantState {
    /// Named in the 401 challenge, as at the MCP endpoint.
    pub(crate) metadata_url: Option<String>,
    pub(crate) approvals: Arc<Approvals>,
    pub(crate) auth: Arc<dyn AuthProvider>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) privacy: PrivacyKey,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "error_description": message }))).into_response()
}

/// `POST /approvals/{id}/grant`.
pub(crate) async fn grant(
    State(state): State<Arc<GrantState>>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    extensions: axum::http::Extensions,
) -> Response {
    let started = Instant::now();
    // As at the MCP endpoint: a credential in the URL is refused, never looked at.
    // Refusals before the approver is known are audited by `audit_door` (budgeted per
    // address, as at the MCP endpoint); everything after is audited here.
    if crate::http::token_in_query(uri.query()) {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "a token in the query string is refused")
            .marked(Refusal { code: "token_in_query", caller: None });
    }
    let peer_ip = extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let approver = match state.auth.authenticate(AuthRequest::new(&headers, peer_ip)).await {
        Ok(context) => context,
        Err(error) => {
            let code = identity_types::ErrorCode::code(&error);
            let mut challenge = BearerChallenge::for_auth_error(&error);
            if let Some(url) = &state.metadata_url {
                challenge = challenge.resource_metadata(url.clone());
            }
            return crate::http::refusal(StatusCode::UNAUTHORIZED, &challenge, code, &error.to_string())
                .marked(Refusal { code, caller: None });
        }
    };
    let approvals = &state.approvals;
    let outcome: Result<(String, String), (StatusCode, &'static str, &'static str)> = (|| {
        if !approver.has_role(approvals.config.approver_role.as_str()) {
            return Err((StatusCode::FORBIDDEN, "missing_role", "approving needs the approver role"));
        }
        let mut pending = approvals.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Unknown, expired, other-tenant and own requests all look alike to the caller
        // except the last, which says why (the caller knows it is theirs).
        let Some(request) = pending.get(&id) else {
            return Err((StatusCode::NOT_FOUND, "approval_not_found", "no such approval request"));
        };
        if request.created.elapsed() >= approvals.config.request_ttl
            || request.tenant.as_ref() != approver.tenant()
        {
            return Err((StatusCode::NOT_FOUND, "approval_not_found", "no such approval request"));
        }
        if &request.requester == approver.isolation_key() {
            return Err((
                StatusCode::FORBIDDEN,
                "self_approval",
                "a request cannot be approved by its requester",
            ));
        }
        let approver_id = state.privacy.pseudonymize(approver.isolation_key()).to_string();
        let grant = approvals
            .config
            .signer
            .grant(request.subject.clone(), &approver_id, approvals.config.grant_ttl)
            .map_err(|_| {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "the grant could not be signed")
            })?;
        let tool = request.tool.clone();
        // One grant per request: a granted request is closed.
        pending.remove(&id);
        Ok((grant, tool))
    })();
    let (decision, outcome_code, tool) = match &outcome {
        Ok((_, tool)) => (Decision::Allowed, "ok", Some(tool.clone())),
        Err((_, code, _)) => (Decision::Denied { code: (*code).to_owned() }, *code, None),
    };
    let event = AuditEvent {
        timestamp_ms: identity_types::unix_now_ms(),
        request_id: extensions.get::<RequestId>().map(|r| r.as_str().to_owned()).unwrap_or_default(),
        principal: Some(state.privacy.pseudonymize(approver.isolation_key())),
        tenant: approver.tenant().cloned(),
        auth_method: approver.auth_method().as_str().to_owned(),
        method: "approvals/grant".into(),
        tool,
        decision,
        outcome: outcome_code.to_owned(),
        duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        arguments_sha256: None,
        arguments: None,
        result_sha256: None,
        // The id as presented, bounded: it comes from the URL.
        metadata: Map::from_iter([(
            "approval_id".to_owned(),
            json!(id.chars().take(MAX_LOGGED_ID_CHARS).collect::<String>()),
        )]),
    };
    let mut response = if state.audit.record(event).await.is_err() {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the grant was refused because it could not be audited",
        )
    } else {
        match outcome {
            Ok((grant, _)) => Json(json!({ "grant": grant, "expires_in": approvals.config.grant_ttl.as_secs(), "meta_key": crate::APPROVAL_META_KEY })).into_response(),
            Err((status, code, message)) => refuse(status, code, message),
        }
    };
    response.extensions_mut().insert(Audited);
    response
}
