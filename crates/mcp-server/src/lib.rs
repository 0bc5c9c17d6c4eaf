//! # mcp-server
//!
//! Palisade's MCP server framework on the official Rust SDK (`rmcp`). It knows who is
//! calling before anything else happens, and every tool call passes one pipeline:
//!
//! ```text
//! HTTP request ─▶ Origin check ─▶ request id ─▶ AuthLayer (401 + challenge) ─▶ session binding
//!   ─▶ rmcp Streamable HTTP ─▶ PalisadeService::call_tool
//!        ─▶ unknown tool? (JSON-RPC invalid params)
//!        ─▶ policies + guards (typed denial) ─▶ audit ready?
//!        ─▶ tower stack: RateLimit ─▶ ConcurrencyLimit ─▶ CircuitBreaker ─▶ Timeout ─▶ handler(extractors…)
//!        ─▶ result inspection (redact / withhold, when configured) ─▶ audit event ─▶ CallToolResult
//! ```
//!
//! Identity comes from each HTTP request (rmcp hands the request's `http::request::Parts`
//! to the handler with every message), never from a session's first request.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use mcp_auth::{Algorithm, JwtAuth, JwtOptions, ProtectedResourceMetadata};
//! use mcp_server::{Args, Authenticated, Json, McpRouter, McpServer, Tool, ToolError};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Lookup { customer_id: String }
//!
//! async fn get_customer(Args(a): Args<Lookup>, caller: Authenticated) -> Result<Json<serde_json::Value>, ToolError> {
//!     // Real handlers filter by caller.tenant(): another tenant's record is "not found".
//!     Err(ToolError::NotFound(format!("customer {}", a.customer_id)))
//! }
//!
//! let resource = "http://127.0.0.1:8080/mcp";
//! let auth = JwtAuth::new(&[7u8; 32], Algorithm::HS256, JwtOptions::for_audience(resource))?;
//! let server = McpServer::builder("customer-ops", "0.1.0")
//!     .auth(Arc::new(auth))
//!     .resource(ProtectedResourceMetadata::new(resource))
//!     .router(McpRouter::new("customers").tool(Tool::new("get_customer", get_customer).read_only().roles(["support"])))
//!     .build()?;
//! let app: axum::Router = server.http_router();
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod approvals;
mod audit;
mod context;
mod error;
mod extract;
mod handler;
mod http;
mod inspect;
pub mod middleware;
mod response;
mod server;
mod service;
mod token_endpoint;
mod tool;

pub use approvals::ApprovalConfig;
pub use audit::{
    ArgumentRedactor, AuditError, AuditEvent, AuditFailureMode, AuditSink, Decision, DurableAudit,
    MemoryAuditSink, RedactFields,
};
pub use context::{Caller, RequestContext};
pub use error::ToolError;
pub use extract::{Args, Authenticated, BackgroundTasks, FromContext, PrincipalState, SessionState, State};
pub use governor::Quota;
pub use handler::{BoxFuture, Handler};
pub use http::{AuthLayer, AuthService, REQUEST_ID_HEADER};
pub use inspect::{InspectedCall, Inspection, ResultInspector};
pub use response::{IntoToolResponse, Json, ToolResponse};
pub use server::{BuildError, McpServer, McpServerBuilder};
pub use service::{APPROVAL_META_KEY, PalisadeService};
pub use token_endpoint::{DevClient, TokenEndpointConfig};
pub use tool::{McpRouter, Tool};
