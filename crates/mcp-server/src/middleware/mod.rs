//! Tower middleware around every tool call.
//!
//! A tool call is a `tower::Service<RequestContext, Response = ToolResponse, Error =
//! ToolError>`. Each concern is one `Layer` + `Service` pair in its own module, so they
//! compose with each other and with the tower ecosystem. The server stacks them per tool,
//! outermost first: [`RateLimitLayer`] (server, then tool), [`ConcurrencyLimitLayer`]
//! (server, then tool; a call queued past its timeout is refused as `overloaded`),
//! [`CircuitBreakerLayer`] (when the tool asks for one), [`TimeoutLayer`] (started once
//! the call holds its slots), then any layers of your own
//! ([`McpServerBuilder::layer`](crate::McpServerBuilder::layer), then
//! [`McpRouter::layer`](crate::McpRouter::layer), then [`Tool::layer`](crate::Tool::layer)),
//! then the handler; guards run before the stack and the audit hook around everything.
//! Your layers sit inside the built-in ones, so they see only calls that were admitted
//! and cannot lift a limit or a guard.
//!
//! ```
//! use std::time::Duration;
//! use mcp_server::{Json, Tool};
//!
//! async fn report() -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "rows": 3 }))
//! }
//!
//! // Any tower layer over a tool call: here, every response gets a metadata entry
//! // (recorded in the call's audit entry).
//! let tool = Tool::new("report", report).layer(tower::util::MapResponseLayer::new(
//!     |response: mcp_server::ToolResponse| response.with_metadata("served_by", "replica-1"),
//! ));
//! # let _ = (tool, Duration::ZERO);
//! ```

mod circuit;
mod concurrency;
mod rate_limit;
mod timeout;

pub use circuit::{CircuitBreaker, CircuitBreakerLayer};
pub use concurrency::{ConcurrencyLimit, ConcurrencyLimitLayer};
pub use rate_limit::{RateLimit, RateLimitLayer};
pub use timeout::{Timeout, TimeoutLayer};

use tower::util::BoxCloneSyncService;

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::response::ToolResponse;

/// A type-erased tool call service.
pub type ToolService = BoxCloneSyncService<RequestContext, ToolResponse, ToolError>;

/// A tower layer that can wrap a tool call: what [`Tool::layer`](crate::Tool::layer),
/// [`McpRouter::layer`](crate::McpRouter::layer) and
/// [`McpServerBuilder::layer`](crate::McpServerBuilder::layer) accept. Every
/// `tower::Layer<ToolService>` whose service answers a [`RequestContext`] with a
/// [`ToolResponse`] or a [`ToolError`], and can be shared between threads, is one.
pub trait ToolLayer: Send + Sync + 'static {
    /// Wraps `inner` in this layer, erased.
    fn wrap(&self, inner: ToolService) -> ToolService;
}

impl<L> ToolLayer for L
where
    L: tower::Layer<ToolService> + Send + Sync + 'static,
    L::Service: tower::Service<RequestContext, Response = ToolResponse, Error = ToolError>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<RequestContext>>::Future: Send + 'static,
{
    fn wrap(&self, inner: ToolService) -> ToolService {
        BoxCloneSyncService::new(self.layer(inner))
    }
}

/// A layer of the user's, erased.
pub(crate) type WrapFn = std::sync::Arc<dyn ToolLayer>;
