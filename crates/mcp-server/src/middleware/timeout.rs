//! [`TimeoutLayer`]: bounds a call's duration.

use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::handler::BoxFuture;
use crate::response::ToolResponse;

/// Fails calls that run longer than a duration with [`ToolError::Timeout`], whose
/// message says the outcome is unknown: the handler may have written before it was cut
/// off. The handler's future is dropped, and its cancellation token cancelled.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    after: Duration,
}

impl TimeoutLayer {
    /// A layer with the given limit.
    #[must_use]
    pub fn new(after: Duration) -> Self {
        Self { after }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout { inner, after: self.after }
    }
}

/// The service made by [`TimeoutLayer`].
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
}

impl<S> Service<RequestContext> for Timeout<S>
where
    S: Service<RequestContext, Response = ToolResponse, Error = ToolError>,
    S::Future: Send + 'static,
{
    type Response = ToolResponse;
    type Error = ToolError;
    type Future = BoxFuture<Result<ToolResponse, ToolError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ToolError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, ctx: RequestContext) -> Self::Future {
        let after = self.after;
        let token = ctx.cancellation().clone();
        let call = self.inner.call(ctx);
        Box::pin(async move {
            match tokio::time::timeout(after, call).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    token.cancel();
                    Err(ToolError::Timeout { after })
                }
            }
        })
    }
}
