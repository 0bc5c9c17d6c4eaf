//! [`CircuitBreakerLayer`]: stops calling a tool whose backend keeps failing.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tower::{Layer, Service};

use crate::context::RequestContext;
use crate::error::ToolError;
use crate::handler::BoxFuture;
use crate::response::ToolResponse;

/// After `failures` consecutive failures of a tool, refuses its calls for `cooldown`
/// with [`ToolError::Unavailable`] (nothing reaches the handler, so a struggling
/// database or upstream API gets room to recover), then lets one trial call through:
/// success closes the circuit, failure opens it again.
///
/// Only failures of the tool itself count: [`ToolError::Internal`] and
/// [`ToolError::Timeout`]. A caller's mistakes or refusals (invalid arguments, not
/// found, denied, rate-limited, cancelled) say nothing about the tool's health.
///
/// One breaker is shared by every caller of the tool, by design: the state it tracks is
/// the backend's, not a principal's.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    breaker: Arc<Breaker>,
}

#[derive(Debug)]
struct Breaker {
    failures: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        consecutive: u32,
    },
    Open {
        until: Instant,
    },
    /// The cooldown is over and one trial call is running.
    Trial,
}

impl CircuitBreakerLayer {
    /// Opens after `failures` consecutive failures (at least 1), for `cooldown`.
    #[must_use]
    pub fn new(failures: u32, cooldown: Duration) -> Self {
        Self {
            breaker: Arc::new(Breaker {
                failures: failures.max(1),
                cooldown,
                state: Mutex::new(State::Closed { consecutive: 0 }),
            }),
        }
    }
}

impl Breaker {
    /// May a call go through now? `Ok(true)` for the trial call after a cooldown; `Err`
    /// carries how long until the next trial.
    fn admit(&self) -> Result<bool, Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Closed { .. } => Ok(false),
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::Trial;
                    Ok(true)
                } else {
                    Err(until - now)
                }
            }
            // One trial at a time; the others wait for its verdict.
            State::Trial => Err(Duration::from_millis(100).min(self.cooldown)),
        }
    }

    /// The trial call ended without an outcome (it was cancelled): the trial is over,
    /// and with no verdict the circuit opens again (the next trial comes after a
    /// cooldown). Other calls ending without an outcome change nothing.
    fn abandon(&self, trial: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if trial && matches!(*state, State::Trial) {
            *state = State::Open { until: Instant::now() + self.cooldown };
        }
    }

    /// Records an outcome. Only the trial decides a trial: a call admitted before the
    /// circuit opened and finishing late changes nothing while it is open or on trial.
    fn record(&self, outcome: &Result<ToolResponse, ToolError>, trial: bool) {
        let failed = matches!(outcome, Err(ToolError::Internal { .. } | ToolError::Timeout { .. }));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = match (*state, failed) {
            (State::Trial, _) if !trial => State::Trial,
            (State::Closed { .. } | State::Trial, false) => State::Closed { consecutive: 0 },
            (State::Closed { consecutive }, true) if consecutive + 1 < self.failures => {
                State::Closed { consecutive: consecutive + 1 }
            }
            (State::Closed { .. } | State::Trial, true) => {
                tracing::warn!(cooldown_ms = self.cooldown.as_millis() as u64, "circuit opened");
                State::Open { until: Instant::now() + self.cooldown }
            }
            (open @ State::Open { .. }, _) => open,
        };
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;
    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker { inner, breaker: Arc::clone(&self.breaker) }
    }
}

/// The service made by [`CircuitBreakerLayer`].
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    breaker: Arc<Breaker>,
}

impl<S> Service<RequestContext> for CircuitBreaker<S>
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
        let trial = match self.breaker.admit() {
            Ok(trial) => trial,
            Err(retry_after) => return Box::pin(async move { Err(ToolError::Unavailable { retry_after }) }),
        };
        let verdict = Verdict { breaker: Arc::clone(&self.breaker), trial, recorded: false };
        let call = self.inner.call(ctx);
        Box::pin(async move {
            let mut verdict = verdict;
            let outcome = call.await;
            verdict.record(&outcome);
            outcome
        })
    }
}

/// Records a call's outcome with its breaker, and, if the call is dropped before it
/// has one (cancelled by its client or a shutdown), ends a trial it may have been: the
/// circuit opens again for another cooldown instead of waiting for a verdict forever.
struct Verdict {
    breaker: Arc<Breaker>,
    /// This call is the trial after a cooldown.
    trial: bool,
    recorded: bool,
}

impl Verdict {
    fn record(&mut self, outcome: &Result<ToolResponse, ToolError>) {
        self.recorded = true;
        self.breaker.record(outcome, self.trial);
    }
}

impl Drop for Verdict {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.abandon(self.trial);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::future::Future as _;

    use tower::ServiceExt as _;

    use super::*;

    fn failing_then<F>(
        then: F,
    ) -> impl Service<RequestContext, Response = ToolResponse, Error = ToolError, Future: Send + 'static> + Clone
    where
        F: Fn() -> BoxFuture<Result<ToolResponse, ToolError>> + Clone + Send + 'static,
    {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tower::service_fn(move |ctx: RequestContext| {
            let first = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            let then = then.clone();
            async move {
                if first {
                    Err(ToolError::Internal { request_id: ctx.request_id().to_string() })
                } else {
                    then().await
                }
            }
        })
    }

    /// A trial call that is dropped before it has an outcome (its client cancelled it,
    /// or a shutdown did) ends the trial: the circuit opens for another cooldown and the
    /// next trial gets through, instead of every call being refused for good.
    #[tokio::test]
    async fn a_cancelled_trial_reopens_the_circuit() {
        let cooldown = Duration::from_millis(200);
        let hang = || -> BoxFuture<Result<ToolResponse, ToolError>> { Box::pin(std::future::pending()) };
        let layer = CircuitBreakerLayer::new(1, cooldown);
        let service = layer.layer(failing_then(hang));
        let call = |service: &CircuitBreaker<_>| service.clone().oneshot(RequestContext::for_test("t"));

        assert!(matches!(call(&service).await, Err(ToolError::Internal { .. })), "one failure opens it");
        assert!(matches!(call(&service).await, Err(ToolError::Unavailable { .. })));
        tokio::time::sleep(cooldown * 2).await;
        // The trial hangs; its caller goes away.
        let mut trial = Box::pin(call(&service));
        let waker = std::task::Waker::noop();
        assert!(trial.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        drop(trial);
        let again = tokio::time::timeout(Duration::from_millis(40), call(&service)).await;
        assert!(matches!(again, Ok(Err(ToolError::Unavailable { .. }))), "open again");
        tokio::time::sleep(cooldown * 2).await;
        let next = tokio::time::timeout(Duration::from_millis(100), call(&service)).await;
        assert!(next.is_err(), "the next trial reached the (hanging) tool instead of being refused");
    }

    /// Only the trial decides a trial: a call admitted before the circuit opened, which
    /// ends (or is cancelled) while the trial runs, changes nothing.
    #[test]
    fn only_the_trial_decides_the_trial() {
        let breaker = Breaker {
            failures: 1,
            cooldown: Duration::ZERO,
            state: Mutex::new(State::Closed { consecutive: 0 }),
        };
        assert_eq!(breaker.admit(), Ok(false), "an early call, admitted while closed");
        let failure = Err(ToolError::Internal { request_id: "r".into() });
        breaker.record(&failure, false);
        assert_eq!(breaker.admit(), Ok(true), "after the (zero) cooldown: the trial");
        breaker.abandon(false);
        breaker.record(&Ok(ToolResponse::default()), false);
        breaker.record(&failure, false);
        assert!(matches!(*breaker.state.lock().unwrap(), State::Trial), "others leave the trial alone");
        breaker.record(&Ok(ToolResponse::default()), true);
        assert!(
            matches!(*breaker.state.lock().unwrap(), State::Closed { .. }),
            "the trial's success closes it"
        );
    }
}
