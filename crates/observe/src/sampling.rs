//! Deciding, before a request's spans open, whether its trace is exported.
//!
//! The `tracing-opentelemetry` bridge does most of its work (an OpenTelemetry span
//! builder, an allocated attribute per field) for every span it sees, sampled or not;
//! the SDK's sampler only runs when the span is built. So sampling there saves the export
//! but little of the cost. Here the decision is made first: a request whose trace is not
//! kept opens its spans under [`UNSAMPLED_TARGET`], which the OpenTelemetry layer never
//! sees, and costs what logging alone costs.
//!
//! The decision is made once per trace, by the HTTP layer:
//!
//! - with a valid `traceparent`, by the caller's trace id (so every Palisade process
//!   keeps or drops the same traces), never by the caller's sampled flag, which arrives
//!   before authentication and would let anyone switch export on or off;
//! - without one, by a fresh random draw.
//!
//! Spans under a request follow its decision; a tool call whose `_meta` names another
//! trace is decided by that trace's id. The SDK's own sampler is then `AlwaysOn`.

use std::cell::Cell;

use opentelemetry::trace::TraceId;
use tracing::Subscriber;
use tracing_subscriber::Layer;

/// The target of spans whose trace is not exported; the OpenTelemetry layer filters it out.
pub const UNSAMPLED_TARGET: &str = "palisade::unsampled";

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

/// Whether the trace `trace_id` is kept at `ratio`: its low 63 bits against the ratio's
/// share of them, the rule OpenTelemetry's `TraceIdRatioBased` sampler uses.
#[must_use]
pub fn keeps(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..16]);
    let value = u64::from_be_bytes(low) >> 1;
    // 2^63 * ratio, ratio in (0, 1): exact enough for a sampling threshold.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    value < bound
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

/// A random draw for a trace that starts here: true with probability `ratio`.
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
    fn trace_ids_decide_by_their_low_bits() {
        let id = |low: u64| TraceId::from_bytes([[0u8; 8], low.to_be_bytes()].concat().try_into().unwrap());
        for (low, ratio, kept) in [
            (0, 0.5, true),
            (u64::MAX, 0.5, false),
            ((1u64 << 62) << 1, 0.5, false), // value 2^62 is exactly the bound at 0.5
            (((1u64 << 62) - 1) << 1, 0.5, true),
            (u64::MAX, 1.0, true),
            (0, 0.0, false),
            (0, f64::NAN, false),
        ] {
            assert_eq!(keeps(id(low), ratio), kept, "low={low:#x} ratio={ratio}");
        }
    }

    #[test]
    fn draws_follow_the_ratio() {
        let kept = (0..20_000).filter(|_| draw(0.1)).count();
        assert!((1_600..2_400).contains(&kept), "{kept} of 20000 at 0.1");
        assert!((0..100).all(|_| draw(1.0)));
        assert!((0..100).all(|_| !draw(0.0)));
    }
}
