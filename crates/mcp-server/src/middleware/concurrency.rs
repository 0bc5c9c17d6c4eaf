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
/// [`max_wait`](Self::max_wait) from the moment it entered the tool's middleware
/// (unbounded unless set), in this queue and any other before it together, then is
/// refused as [`ToolError::Overloaded`]: it never ran, so its outcome is known.
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
        let mut principals = self.shared.principals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(self.permit.take());
        if principals.get(&self.key).is_some_and(|s| s.available_permits() == self.shared.per_principal) {
            principals.remove(&self.key);
        }
    }
}

impl Shared {
    fn try_principal(self: &Arc<Self>, key: IsolationKey) -> Option<PrincipalPermit> {
        // The permit is taken under the map's lock, as `PrincipalPermit::drop` releases
        // and removes under it: otherwise a drop could remove the semaphore between our
        // lookup and our acquire, and the next call would get a fresh one beside ours.
        let mut principals = self.principals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let semaphore =
            principals.entry(key.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.per_principal)));
        let permit = Arc::clone(semaphore).try_acquire_owned().ok()?;
        drop(principals);
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
        // One deadline for every queue a call waits in (the server's and the tool's).
        // (A wait too long to add, `Duration::MAX` say, is no deadline.)
        let deadline =
            self.max_wait.and_then(|wait| tokio::time::Instant::from_std(ctx.entered).checked_add(wait));
        // The inner service was made ready by our poll_ready; take it and leave a clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let _principal = principal;
            let acquire = global.acquire_owned();
            let permit = match deadline {
                Some(deadline) => {
                    tokio::time::timeout_at(deadline, acquire).await.map_err(|_| ToolError::Overloaded)?
                }
                None => acquire.await,
            };
            let _global = permit.map_err(|_| ToolError::Overloaded)?;
            inner.call(ctx).await
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tower::ServiceExt as _;

    use super::*;

    /// The wait for a global slot is measured from when the call entered the tool's
    /// middleware, so the queues of the server's and the tool's layers share one
    /// deadline: a call that already waited most of it elsewhere gets only the rest.
    #[tokio::test]
    async fn queues_share_one_deadline_from_when_the_call_entered() {
        let release = Arc::new(tokio::sync::Notify::new());
        let held = Arc::clone(&release);
        let inner = tower::service_fn(move |_ctx: RequestContext| {
            let held = Arc::clone(&held);
            async move {
                held.notified().await;
                Ok::<_, ToolError>(ToolResponse::default())
            }
        });
        let service =
            ConcurrencyLimitLayer::new(1, 1).max_wait(Some(Duration::from_millis(400))).layer(inner);
        let mut holder = RequestContext::for_test("t");
        holder.caller = crate::context::Caller::Anonymous { peer_ip: Some([10, 0, 0, 1].into()) };
        let holding = tokio::spawn(service.clone().oneshot(holder));
        tokio::time::sleep(Duration::from_millis(20)).await;

        let mut late = RequestContext::for_test("t");
        late.caller = crate::context::Caller::Anonymous { peer_ip: Some([10, 0, 0, 2].into()) };
        late.entered = std::time::Instant::now().checked_sub(Duration::from_millis(350)).unwrap();
        let started = std::time::Instant::now();
        let refused = service.clone().oneshot(late).await;
        assert!(matches!(refused, Err(ToolError::Overloaded)), "{refused:?}");
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "waited only the rest: {:?}",
            started.elapsed()
        );
        release.notify_one();
        assert!(holding.await.unwrap().is_ok());
    }
}
