//! Tower middleware around every tool call.
//!
//! A tool call is a `tower::Service<RequestContext, Response = ToolResponse, Error =
//! ToolError>`. Each concern is one `Layer` + `Service` pair in its own module, so they
//! compose with each other and with the tower ecosystem. The server stacks them per tool,
//! outermost first: [`CircuitBreakerLayer`] (when the tool asks for one), [`TimeoutLayer`],
//! [`ConcurrencyLimitLayer`], [`RateLimitLayer`], then the handler; guards run before the
//! stack and the audit hook around everything.

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
