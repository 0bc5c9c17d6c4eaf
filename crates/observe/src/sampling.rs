//! Deciding, before a request's spans open, whether its trace is exported.
//!
//! Recording a span for export costs something on the request path (ids, times, a copy
//! of its fields: see [`crate::export`]); a sampler that decides when the span ends
//! would save the export but not that. Here the decision is made first: a request whose
//! trace is not kept opens its spans under [`UNSAMPLED_TARGET`], which the export layer
//! skips, and costs what logging alone costs.
//!
//! The decision is made once per request, by the HTTP layer (or per call where there is
//! no HTTP request, as with stdio): a draw with probability `sample_ratio`. Nothing the
//! caller sends decides it: not the sampled flag of its `traceparent`, and not its trace
//! id either (both arrive before authentication; a chosen id would let anyone keep or
//! drop their own traffic). Spans under the request follow its decision, including a
//! tool call whose `_meta` names the caller's trace. Every span the export layer
//! records is exported.

use std::cell::Cell;

use tracing::Subscriber;
use tracing_subscriber::Layer;

/// The target of spans whose trace is not exported; the OpenTelemetry layer filters it out.
/// (Under `observe`, so the directive that turns the exported spans on or off in a log
/// filter, `observe=…`, does the same for these.)
pub const UNSAMPLED_TARGET: &str = "observe::unsampled";

/// Carries the export ratio inside the subscriber (a layer with no callbacks), so code
/// that opens spans can ask the current subscriber whether traces are exported at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportGate {
    pub(crate) ratio: f64,
}

impl<S: Subscriber> Layer<S> for ExportGate {}

/// The export ratio of the current subscriber, or `None` when it exports no traces.
#[must_use]
pub fn export_ratio() -> Option<f64> {
    tracing::dispatcher::get_default(|dispatch| dispatch.downcast_ref::<ExportGate>().map(|gate| gate.ratio))
}

thread_local! {
    /// A per-thread SplitMix64 state for root sampling draws (not for anything secret).
    static DRAW: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    // The OS generator seeds each thread once; should it fail, the thread id and the
    // clock still give distinct streams (sampling needs spread, not secrecy).
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        #[allow(clippy::cast_possible_truncation)]
        let mixed = (nanos as u64) ^ (std::ptr::addr_of!(bytes) as u64);
        bytes = mixed.to_le_bytes();
    }
    u64::from_le_bytes(bytes)
}

/// The export decision for one request: true with probability `ratio`.
#[must_use]
pub fn draw(ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    let next = DRAW.with(|state| {
        let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    });
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    (next >> 1) < bound
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn draws_follow_the_ratio() {
        let kept = (0..20_000).filter(|_| draw(0.1)).count();
        assert!((1_600..2_400).contains(&kept), "{kept} of 20000 at 0.1");
        assert!((0..100).all(|_| draw(1.0)));
        assert!((0..100).all(|_| !draw(0.0)));
    }
}
