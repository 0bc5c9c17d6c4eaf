//! The rmcp [`ServerHandler`]: every MCP request passes through here, so identity,
//! guards, middleware and audit apply to all of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use identity_types::{PrivacyKey, RequestId, canonical_json};
use mcp_guards::{DenialDetail, Guard, GuardContext, ToolInfo};
use ring::digest;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool as McpTool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext as RmcpContext, RoleServer};
use serde_json::{Map, Value};
use tower::ServiceExt as _;
use tracing::Instrument as _;

use crate::audit::{AuditEvent, AuditSink, Decision};
use crate::context::{Caller, RequestContext, StateMap};
use crate::error::ToolError;
use crate::inspect::{InspectedCall, Inspection, ResultInspector};
use crate::middleware::ToolService;
use crate::response::ToolResponse;

/// The `_meta` key under which a client passes an approval grant with a `tools/call`.
pub const APPROVAL_META_KEY: &str = "dev.palisade/approval";

/// Arguments nested deeper than this are refused before any guard or handler sees them.
pub(crate) const MAX_ARGUMENT_DEPTH: usize = 32;

/// What the audit event of one `tools/call` says beyond the caller.
struct CallRecord {
    tool: String,
    decision: Decision,
    outcome: &'static str,
    arguments_sha256: Option<String>,
    arguments: Option<Value>,
    result_sha256: Option<String>,
    metadata: Map<String, Value>,
}

impl CallRecord {
    fn denied(tool: &str, code: &'static str, arguments_sha256: Option<String>) -> Self {
        Self {
            tool: tool.to_owned(),
            decision: Decision::Denied { code: code.to_owned() },
            outcome: code,
            arguments_sha256,
            arguments: None,
            result_sha256: None,
            metadata: Map::new(),
        }
    }
}

/// One registered tool, ready to serve.
pub(crate) struct ToolEntry {
    pub(crate) info: Arc<ToolInfo>,
    pub(crate) descriptor: McpTool,
    pub(crate) guards: Vec<Arc<dyn Guard>>,
    pub(crate) service: ToolService,
    /// This tool's metric series, when the server counts.
    pub(crate) metrics: Option<observe::ToolMetrics>,
}

pub(crate) struct Shared {
    pub(crate) info: ServerConfig,
    pub(crate) tools: HashMap<String, ToolEntry>,
    /// Tool names in registration order, for stable listings.
    pub(crate) order: Vec<String>,
    /// Server-wide policies (maintenance, read-only, approval), checked on calls before
    /// each tool's own guards.
    pub(crate) policies: Vec<Arc<dyn Guard>>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) privacy: PrivacyKey,
    pub(crate) state: StateMap,
    pub(crate) denial_detail: DenialDetail,
    /// Makes the redacted copy of arguments audit entries carry, when configured.
    pub(crate) argument_copy: Option<Arc<dyn crate::audit::ArgumentRedactor>>,
    /// Looks at every successful result before the caller does, when configured.
    pub(crate) result_inspector: Option<Arc<dyn crate::inspect::ResultInspector>>,
    /// The approval workflow, when configured.
    pub(crate) approvals: Option<Arc<crate::approvals::Approvals>>,
    /// Background tasks of handlers, awaited on shutdown.
    pub(crate) background: tokio_util::task::TaskTracker,
    /// MCP POST requests in progress, until their response has been sent (one token
    /// each, see `http::audit_door`); drained on shutdown.
    pub(crate) calls: tokio_util::task::TaskTracker,
    /// Tool calls in progress, until audited (one token each, see `call_tool`): shutdown
    /// waits for them before it flushes the audit log.
    pub(crate) tool_calls: tokio_util::task::TaskTracker,
    /// Per-principal state behind `PrincipalState`.
    pub(crate) state_store: Arc<dyn state_store::StateStore>,
    /// The per-address budget of individually audited door refusals.
    pub(crate) door_budget: crate::http::RefusalBudget,
    /// Counters and histograms, when configured.
    pub(crate) metrics: Option<observe::ServerMetrics>,
    /// The series calls of unknown tools are counted under.
    pub(crate) unknown_tool_metrics: Option<observe::ToolMetrics>,
}

/// The MCP service: cheap to clone (rmcp makes one per session or per request).
#[derive(Clone)]
pub struct PalisadeService {
    pub(crate) shared: Arc<Shared>,
    /// The identity of a stdio session; set only by `McpServer::serve_stdio`, so no other
    /// transport can inherit it.
    pub(crate) stdio_caller: Option<Caller>,
}

impl std::fmt::Debug for PalisadeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PalisadeService").field("tools", &self.shared.order).finish_non_exhaustive()
    }
}

/// What the transport established about the request a message came in.
struct Origin {
    caller: Caller,
    session: Option<identity_types::SessionId>,
    request_id: RequestId,
    user_agent: Option<Arc<str>>,
    /// The caller's pseudonym, once computed (an HMAC: done once per call).
    principal: Option<identity_types::PrivacyId>,
}

impl PalisadeService {
    fn origin(&self, ctx: &RmcpContext<RoleServer>) -> Origin {
        match ctx.extensions.get::<http::request::Parts>() {
            Some(parts) => Origin {
                session: parts
                    .headers
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| identity_types::SessionId::new(v).ok()),
                // No Caller in an HTTP request means the auth layer did not run: treat the
                // request as anonymous with no address, which can call nothing (fail closed).
                caller: parts
                    .extensions
                    .get::<Caller>()
                    .cloned()
                    .unwrap_or(Caller::Anonymous { peer_ip: None }),
                request_id: parts.extensions.get::<RequestId>().cloned().unwrap_or_else(fresh_request_id),
                user_agent: parts
                    .headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(Arc::from),
                principal: None,
            },
            None => Origin {
                caller: self.stdio_caller.clone().unwrap_or(Caller::Anonymous { peer_ip: None }),
                session: None,
                request_id: fresh_request_id(),
                user_agent: None,
                principal: None,
            },
        }
    }

    fn visible(&self, entry: &ToolEntry, caller: &Caller) -> bool {
        if caller.client().is_none() && !entry.info.public {
            return false;
        }
        let ctx = GuardContext::for_listing(caller.client(), &entry.info);
        // Listing must not wait on slow guards: a guard that cannot answer at once hides
        // the tool (fail closed); calling it still evaluates the guard fully.
        entry.guards.iter().all(|g| matches!(g.check(&ctx).into_ready(), Ok(Ok(()))))
    }

    async fn audit(
        &self,
        origin: &Origin,
        started: Instant,
        record: CallRecord,
    ) -> Result<Option<u64>, ToolError> {
        let client = origin.caller.client();
        let event = AuditEvent {
            timestamp_ms: identity_types::unix_now_ms(),
            request_id: origin.request_id.to_string(),
            principal: origin
                .principal
                .clone()
                .or_else(|| client.map(|c| self.shared.privacy.pseudonymize(c.isolation_key()))),
            tenant: client.and_then(|c| c.tenant().cloned()),
            auth_method: client.map_or("anonymous", |c| c.auth_method().as_str()).to_owned(),
            method: "tools/call".into(),
            tool: Some(record.tool),
            decision: record.decision,
            outcome: record.outcome.to_owned(),
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            arguments_sha256: record.arguments_sha256,
            arguments: record.arguments,
            result_sha256: record.result_sha256,
            metadata: record.metadata,
        };
        self.shared.audit.record(event).await.map_err(|error| {
            tracing::error!(%error, request_id = %origin.request_id, "audit sink refused an event");
            ToolError::AuditUnavailable
        })
    }

    async fn run_call(
        &self,
        origin: &Origin,
        entry: &ToolEntry,
        arguments: Value,
        grant: Option<String>,
        cancellation: tokio_util::sync::CancellationToken,
    ) -> Result<ToolResponse, (ToolError, bool)> {
        // (error, ran): `ran` says whether the handler was reached, for the audit decision.
        if origin.caller.client().is_none() && (!entry.info.public || origin.caller.isolation_key().is_none())
        {
            // Anonymous callers reach public tools only, and only with a known address
            // (they are partitioned and rate-limited by it).
            return Err((ToolError::Unauthenticated, false));
        }
        let guard_ctx =
            GuardContext::for_call(origin.caller.client(), &entry.info, &arguments, grant.as_deref());
        for guard in self.shared.policies.iter().chain(&entry.guards) {
            if let Err(denial) = guard.check(&guard_ctx).await {
                return Err((self.approval_or(denial, origin, entry, &arguments), false));
            }
        }
        self.shared.audit.ready().map_err(|error| {
            tracing::error!(%error, "audit sink not ready; refusing the call");
            (ToolError::AuditUnavailable, false)
        })?;
        let background = crate::extract::BackgroundTasks::default();
        let ctx = RequestContext {
            caller: origin.caller.clone(),
            request_id: origin.request_id.clone(),
            user_agent: origin.user_agent.clone(),
            tool: Arc::clone(&entry.info),
            arguments: Arc::new(arguments),
            cancellation,
            state: self.shared.state.clone(),
            background: background.clone(),
            state_store: Arc::clone(&self.shared.state_store),
            session: origin.session.clone(),
            entered: std::time::Instant::now(),
        };
        // A cancelled call (the client's `notifications/cancelled`, or a shutdown past its
        // grace) stops here: the handler's future is dropped, and the call is audited as
        // `cancelled` rather than finishing unseen after the log was closed.
        let cancelled = ctx.cancellation().clone();
        let outcome = tokio::select! {
            outcome = entry.service.clone().oneshot(ctx) => outcome,
            () = cancelled.cancelled() => Err(ToolError::Cancelled),
        };
        // The result is final: start what the handler queued for afterwards.
        background.start(&self.shared.background);
        outcome.map_err(|e| {
            // Refusals by middleware happen before the handler; everything else after.
            let ran = !matches!(
                e,
                ToolError::RateLimited { .. }
                    | ToolError::Overloaded
                    | ToolError::Unauthenticated
                    | ToolError::Unavailable { .. }
            );
            (e, ran)
        })
    }
}

impl PalisadeService {
    /// A missing grant opens an approval request; any other denial stays as it is.
    fn approval_or(
        &self,
        denial: mcp_guards::Denial,
        origin: &Origin,
        entry: &ToolEntry,
        arguments: &Value,
    ) -> ToolError {
        let (Some(approvals), mcp_guards::DenialCode::ApprovalRequired, Some(client)) =
            (&self.shared.approvals, denial.code(), origin.caller.client())
        else {
            return ToolError::Denied(denial);
        };
        match approvals.open(&entry.info.name, arguments, client.isolation_key(), client.tenant().cloned()) {
            Some(approval_id) => ToolError::ApprovalRequired { approval_id },
            None => ToolError::Denied(denial),
        }
    }
}

fn fresh_request_id() -> RequestId {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    RequestId::generate().unwrap_or_else(|_| {
        RequestId::from_counter(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    })
}

/// The audit metadata key of the result inspector's report.
const INSPECTION_KEY: &str = "inspection";

/// Runs the inspector off the async workers when the runtime allows it (a large result
/// can take milliseconds to scan), and fails closed if it panics: the tool ran, so the
/// call is still audited, and nothing uninspected goes out.
fn inspect(
    inspector: &dyn ResultInspector,
    call: &InspectedCall<'_>,
    response: &mut ToolResponse,
) -> Inspection {
    let mut run = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inspector.inspect(call, response)))
            .unwrap_or_else(|_| Inspection::Withheld(serde_json::json!({ "error": "inspector_panicked" })))
    };
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

/// The digest of a result: its structured content, else its text.
fn result_digest(response: &ToolResponse) -> String {
    match response.structured() {
        Some(value) => sha256_hex(value),
        None => sha256_hex(&Value::String(response.text_content())),
    }
}

pub(crate) fn sha256_hex(value: &Value) -> String {
    let d = digest::digest(&digest::SHA256, canonical_json(value).as_bytes());
    hex::encode(d)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn descriptor(info: &ToolInfo, description: Option<&str>, schema: Map<String, Value>) -> McpTool {
    let annotations = ToolAnnotations::new()
        .read_only(info.read_only)
        .destructive(info.destructive)
        .idempotent(info.idempotent);
    McpTool::new(info.name.clone(), description.unwrap_or_default().to_owned(), schema)
        .with_annotations(annotations)
}

pub(crate) fn server_config(name: &str, version: &str, instructions: Option<&str>) -> ServerConfig {
    let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new(name.to_owned(), version.to_owned()));
    if let Some(text) = instructions {
        info = info.with_instructions(text.to_owned());
    }
    info
}

impl ServerHandler for PalisadeService {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RmcpContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let origin = self.origin(&context);
        let tools: Vec<McpTool> = self
            .shared
            .order
            .iter()
            .filter_map(|name| self.shared.tools.get(name))
            .filter(|entry| self.visible(entry, &origin.caller))
            .map(|entry| entry.descriptor.clone())
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        // Each caller sees its own list: no shared cache may serve it to someone else.
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RmcpContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let _in_flight = self.shared.tool_calls.token();
        let mut origin = self.origin(&context);
        // Attacker-supplied: bounded before it goes anywhere (audit, messages, spans).
        let name: String = request.name.chars().take(128).collect();
        let entry = self.shared.tools.get(&name);
        origin.principal =
            origin.caller.client().map(|c| self.shared.privacy.pseudonymize(c.isolation_key()));
        let client = origin.caller.client();
        let tenant = client.and_then(|c| c.tenant());
        let tenant_pseudonym = tenant
            .filter(|_| observe::span::tool_call_spans_enabled())
            .map(|t| self.shared.privacy.pseudonymize_tenant(t));
        let jsonrpc_id: String = context.id.to_string().chars().take(64).collect();
        let http_span = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<observe::HttpSpan>());
        let fields = observe::span::ToolCallFields {
            tool: if entry.is_some() { &name } else { observe::UNKNOWN_TOOL },
            request_id: origin.request_id.as_str(),
            jsonrpc_id: &jsonrpc_id,
            principal: origin.principal.as_ref().map(identity_types::PrivacyId::as_str),
            tenant: tenant_pseudonym.as_ref().map(identity_types::PrivacyId::as_str),
        };
        // rmcp moves a request's `_meta` into the context; look in both places.
        let meta = request
            .meta
            .as_ref()
            .map(|m| &m.0.0)
            .filter(|m| m.contains_key(observe::propagation::TRACEPARENT));
        let span = observe::span::tool_call_span(&fields, Some(meta.unwrap_or(&context.meta.0.0)), http_span);
        let metrics = entry.and_then(|e| e.metrics.as_ref()).or(self.shared.unknown_tool_metrics.as_ref());
        let in_flight = metrics.map(observe::ToolMetrics::start);
        let mut summary = CallSummary { code: "internal_error", audit_seq: None };
        let response = self
            .call_tool_inner(request, context, &origin, started, name, &mut summary)
            .instrument(span.clone())
            .await;
        let outcome = classify(summary.code);
        observe::span::record_outcome(&span, outcome, summary.code, summary.audit_seq);
        let elapsed = match in_flight {
            Some(call) => call.finish(outcome, tenant),
            None => started.elapsed(),
        };
        span.in_scope(|| {
            tracing::info!(
                outcome = outcome.as_str(),
                code = summary.code,
                duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                audit_seq = summary.audit_seq,
                "tool call finished"
            );
        });
        response
    }
}

/// How a call ended, for its span, its metrics and its log line.
struct CallSummary {
    code: &'static str,
    audit_seq: Option<u64>,
}

/// The metric outcome of an error code.
fn classify(code: &str) -> observe::Outcome {
    use observe::Outcome;
    match code {
        "ok" => Outcome::Ok,
        "unauthenticated" => Outcome::Unauthenticated,
        "rate_limited" | "overloaded" => Outcome::RateLimited,
        "timeout" => Outcome::TimedOut,
        // The tool ran; the server's content policy kept its output back.
        "result_withheld" => Outcome::Denied,
        "unknown_tool" | "invalid_arguments" | "not_found" | "conflict" | "cancelled" | "unavailable"
        | "audit_unavailable" | "internal_error" => Outcome::Error,
        // Guard and policy denial codes, approval_required.
        _ => Outcome::Denied,
    }
}

impl PalisadeService {
    async fn call_tool_inner(
        &self,
        request: CallToolRequestParams,
        context: RmcpContext<RoleServer>,
        origin: &Origin,
        started: Instant,
        name: String,
        summary: &mut CallSummary,
    ) -> Result<CallToolResponse, ErrorData> {
        let entry = self.shared.tools.get(&name);
        if origin.caller.client().is_none() && !entry.is_some_and(|e| e.info.public) {
            // To an anonymous caller, an unknown tool and a non-public one look the same.
            summary.code = "unauthenticated";
            summary.audit_seq = self
                .audit(origin, started, CallRecord::denied(&name, "unauthenticated", None))
                .await
                .ok()
                .flatten();
            return Ok(CallToolResult::structured_error(
                ToolError::Unauthenticated.to_json(self.shared.denial_detail),
            )
            .into());
        }
        let Some(entry) = entry else {
            summary.code = "unknown_tool";
            summary.audit_seq = self
                .audit(origin, started, CallRecord::denied(&name, "unknown_tool", None))
                .await
                .ok()
                .flatten();
            return Err(ErrorData::invalid_params(format!("unknown tool: {name}"), None));
        };
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let arguments_sha256 = Some(sha256_hex(&arguments));
        if depth(&arguments) > MAX_ARGUMENT_DEPTH {
            let error = ToolError::InvalidArguments(format!(
                "arguments nest deeper than {MAX_ARGUMENT_DEPTH} levels"
            ));
            summary.code = "invalid_arguments";
            summary.audit_seq = self
                .audit(origin, started, CallRecord::denied(&name, "invalid_arguments", arguments_sha256))
                .await
                .ok()
                .flatten();
            return Ok(CallToolResult::structured_error(error.to_json(self.shared.denial_detail)).into());
        }
        // rmcp moves a request's `_meta` into the context; look in both places.
        let grant = [
            context.meta.0.0.get(APPROVAL_META_KEY),
            request.meta.as_ref().and_then(|m| m.0.0.get(APPROVAL_META_KEY)),
        ]
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .map(str::to_owned);

        let arguments_copy = self.shared.argument_copy.as_ref().map(|r| r.redact(&name, &arguments));
        let mut outcome = self.run_call(origin, entry, arguments, grant, context.ct.clone()).await;
        // The key is the server's: a handler's own "inspection" entry is kept under
        // another name, so an audit reader never mistakes it for the server's report.
        if let Ok(response) = &mut outcome
            && let Some(claimed) = response.metadata_mut().remove(INSPECTION_KEY)
        {
            response.metadata_mut().insert(format!("handler_{INSPECTION_KEY}"), claimed);
        }
        // What the inspector saw and did, for the audit entry (never a value).
        let mut inspection = None;
        let mut withheld_metadata = None;
        if let (Ok(response), Some(inspector)) = (&mut outcome, &self.shared.result_inspector) {
            match inspect(inspector.as_ref(), &InspectedCall::new(&name, &origin.caller), response) {
                Inspection::Clean => inspection = Some(serde_json::json!({ "clean": true })),
                Inspection::Reported(report) => inspection = Some(report),
                Inspection::Withheld(mut report) => {
                    // The digest of what was withheld, so the entry can be matched to the
                    // tool's own records; the handler's metadata (rows affected…) stays.
                    if let Value::Object(fields) = &mut report {
                        fields.insert("withheld_sha256".to_owned(), Value::String(result_digest(response)));
                    }
                    inspection = Some(report);
                    withheld_metadata = Some(response.metadata().clone());
                    // The tool ran: its effects stand, its output does not go out.
                    outcome = Err((ToolError::ResultWithheld, true));
                }
            }
        }
        let (decision, code, result, result_sha256, mut metadata) = match &outcome {
            Ok(response) => {
                // The digest of what the caller receives (after any redaction).
                (Decision::Allowed, "ok", None, Some(result_digest(response)), response.metadata().clone())
            }
            Err((error, ran)) => {
                let code = identity_types::ErrorCode::code(error);
                let decision =
                    if *ran { Decision::Allowed } else { Decision::Denied { code: code.to_owned() } };
                let kept = withheld_metadata.take().unwrap_or_default();
                (decision, code, Some(error.to_json(self.shared.denial_detail)), None, kept)
            }
        };
        if let Some(report) = inspection {
            metadata.insert(INSPECTION_KEY.to_owned(), report);
        }
        let record = CallRecord {
            tool: name,
            decision,
            outcome: code,
            arguments_sha256,
            arguments: arguments_copy,
            result_sha256,
            metadata,
        };
        summary.code = code;
        match self.audit(origin, started, record).await {
            Ok(seq) => summary.audit_seq = seq,
            Err(audit_error) => {
                summary.code = identity_types::ErrorCode::code(&audit_error);
                return Ok(
                    CallToolResult::structured_error(audit_error.to_json(self.shared.denial_detail)).into()
                );
            }
        }
        Ok(match (outcome, result) {
            (Ok(response), _) => match response.structured() {
                Some(value) => CallToolResult::structured(value.clone()),
                None => {
                    CallToolResult::success(vec![rmcp::model::ContentBlock::text(response.text_content())])
                }
            },
            (Err(_), Some(error_json)) => CallToolResult::structured_error(error_json),
            (Err((error, _)), None) => {
                CallToolResult::structured_error(error.to_json(self.shared.denial_detail))
            }
        }
        .into())
    }
}
