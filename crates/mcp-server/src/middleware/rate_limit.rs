//! [`RateLimitLayer`]: a GCRA rate limit per principal.

use std::sync::Arc;
use std::task::{Context, Poll};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use identity_types::IsolationKey;
use tower::{Layer, Service};

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::handler::BoxFuture;
use crate::response::ToolResponse;

type Limiter = RateLimiter<IsolationKey, DefaultKeyedStateStore<IsolationKey>, DefaultClock>;

/// Limits calls per principal with the generic cell rate algorithm (`governor`).
///
/// Each authenticated principal has its own bucket, keyed by its
/// [`IsolationKey`]; each anonymous caller has one keyed by its peer address. There is no
/// shared bucket, so no caller can spend another's allowance. An anonymous caller whose
/// address is unknown is refused.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<Limiter>,
}

impl RateLimitLayer {
    /// A limit of `quota` per principal (e.g. `Quota::per_second(nonzero!(20))`).
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        Self { limiter: Arc::new(RateLimiter::keyed(quota)) }
    }

    /// Forgets buckets that are full again, bounding memory under many distinct callers.
    pub fn prune(&self) {
        self.limiter.retain_recent();
    }
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer").field("keys", &self.limiter.len()).finish()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit { inner, limiter: Arc::clone(&self.limiter) }
    }
}

/// The service made by [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

impl<S> Service<RequestContext> for RateLimit<S>
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
        let Some(key) = ctx.caller().isolation_key() else {
            return Box::pin(async { Err(ToolError::Unauthenticated) });
        };
        if let Err(not_until) = self.limiter.check_key(&key) {
            // The limiter's own clock: a new `DefaultClock` calibrates itself (CPUID and
            // timing reads), which made every refusal cost more than a served call, just
            // when refusals come by the thousand (`cargo xtask bench server`).
            let retry_after = not_until.wait_time_from(self.limiter.clock().now());
            return Box::pin(async move { Err(ToolError::RateLimited { retry_after }) });
        }
        Box::pin(self.inner.call(ctx))
    }
}
