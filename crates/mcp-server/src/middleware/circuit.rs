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
    /// May a call go through now? `Err` carries how long until the next trial.
    fn admit(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::Trial;
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            // One trial at a time; the others wait for its verdict.
            State::Trial => Err(Duration::from_millis(100).min(self.cooldown)),
        }
    }

    fn record(&self, outcome: &Result<ToolResponse, ToolError>) {
        let failed = matches!(outcome, Err(ToolError::Internal { .. } | ToolError::Timeout { .. }));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = match (*state, failed) {
            (State::Closed { .. } | State::Trial, false) => State::Closed { consecutive: 0 },
            (State::Closed { consecutive }, true) if consecutive + 1 < self.failures => {
                State::Closed { consecutive: consecutive + 1 }
            }
            (State::Closed { .. } | State::Trial, true) => {
                tracing::warn!(cooldown_ms = self.cooldown.as_millis() as u64, "circuit opened");
                State::Open { until: Instant::now() + self.cooldown }
            }
            // A call admitted before the circuit opened finished late: the state stands.
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
        if let Err(retry_after) = self.breaker.admit() {
            return Box::pin(async move { Err(ToolError::Unavailable { retry_after }) });
        }
        let breaker = Arc::clone(&self.breaker);
        let call = self.inner.call(ctx);
        Box::pin(async move {
            let outcome = call.await;
            breaker.record(&outcome);
            outcome
        })
    }
}
