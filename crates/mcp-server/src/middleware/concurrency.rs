//! [`ConcurrencyLimitLayer`]: in-flight call limits, per principal and in total.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use identity_types::IsolationKey;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::handler::BoxFuture;
use crate::response::ToolResponse;

/// Bounds calls in flight: at most `per_principal` for any one caller, refused at once
/// beyond that ([`ToolError::Overloaded`]), and at most `global` in total, queued in
/// arrival order (tokio's semaphore is fair). Because no principal can hold more than
/// its share, one busy caller cannot starve the queue. A queued call waits at most
/// [`max_wait`](Self::max_wait) (unbounded unless set), then is refused as
/// [`ToolError::Overloaded`]: it never ran, so its outcome is known.
#[derive(Clone)]
pub struct ConcurrencyLimitLayer {
    shared: Arc<Shared>,
    max_wait: Option<Duration>,
}

struct Shared {
    global: Arc<Semaphore>,
    per_principal: usize,
    principals: Mutex<HashMap<IsolationKey, Arc<Semaphore>>>,
}

impl ConcurrencyLimitLayer {
    /// Limits of `global` calls in total and `per_principal` per caller (each at least 1).
    #[must_use]
    pub fn new(global: usize, per_principal: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                global: Arc::new(Semaphore::new(global.max(1))),
                per_principal: per_principal.max(1),
                principals: Mutex::new(HashMap::new()),
            }),
            max_wait: None,
        }
    }

    /// The same limits (shared with `self`), with calls queued for a global slot refused
    /// after `wait`. The server sets each tool's timeout here: the timeout itself starts
    /// only once the call holds its slots.
    #[must_use]
    pub fn max_wait(&self, wait: Option<Duration>) -> Self {
        Self { shared: Arc::clone(&self.shared), max_wait: wait }
    }
}

impl std::fmt::Debug for ConcurrencyLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrencyLimitLayer").field("per_principal", &self.shared.per_principal).finish()
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;
    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit { inner, shared: Arc::clone(&self.shared), max_wait: self.max_wait }
    }
}

/// The service made by [`ConcurrencyLimitLayer`].
#[derive(Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    shared: Arc<Shared>,
    max_wait: Option<Duration>,
}

/// Releases the principal's slot and drops its semaphore once idle, so the map holds
/// only callers with calls in flight.
struct PrincipalPermit {
    shared: Arc<Shared>,
    key: IsolationKey,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for PrincipalPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut principals = self.shared.principals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if principals.get(&self.key).is_some_and(|s| s.available_permits() == self.shared.per_principal) {
            principals.remove(&self.key);
        }
    }
}

impl Shared {
    fn try_principal(self: &Arc<Self>, key: IsolationKey) -> Option<PrincipalPermit> {
        let semaphore = {
            let mut principals = self.principals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(
                principals.entry(key.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.per_principal))),
            )
        };
        let permit = semaphore.try_acquire_owned().ok()?;
        Some(PrincipalPermit { shared: Arc::clone(self), key, permit: Some(permit) })
    }
}

impl<S> Service<RequestContext> for ConcurrencyLimit<S>
where
    S: Service<RequestContext, Response = ToolResponse, Error = ToolError> + Clone + Send + 'static,
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
        let Some(principal) = self.shared.try_principal(key) else {
            return Box::pin(async { Err(ToolError::Overloaded) });
        };
        let global = Arc::clone(&self.shared.global);
        let max_wait = self.max_wait;
        // The inner service was made ready by our poll_ready; take it and leave a clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let _principal = principal;
            let acquire = global.acquire_owned();
            let permit = match max_wait {
                Some(wait) => tokio::time::timeout(wait, acquire).await.map_err(|_| ToolError::Overloaded)?,
                None => acquire.await,
            };
            let _global = permit.map_err(|_| ToolError::Overloaded)?;
            inner.call(ctx).await
        })
    }
}
