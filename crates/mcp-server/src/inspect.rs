//! Inspecting tool results before the caller sees them: the hook a content scanner (the
//! `guardrails` crate, wired in by `palisade`) plugs into.
//!
//! Tool results are where indirect injection comes from (a ticket comment, a web page, a
//! document an attacker wrote), and where data the caller should not get leaks out (a
//! credential in a config dump). A [`ResultInspector`] sees every successful result,
//! may rewrite it (redaction), or withhold it; the caller then gets the typed error
//! `result_withheld`. Either way the inspector's report, which must name types and
//! counts and never a value, goes into the call's audit entry under `"inspection"`
//! (`{"clean": true}` when there was nothing to report; a handler's own `inspection`
//! metadata is kept as `handler_inspection`, so it cannot pass for the server's).
//!
//! ```
//! use mcp_server::{Caller, InspectedCall, Inspection, ResultInspector, ToolResponse};
//!
//! /// Withholds any result that mentions a launch code.
//! struct NoLaunchCodes;
//!
//! impl ResultInspector for NoLaunchCodes {
//!     fn inspect(&self, _call: &InspectedCall<'_>, response: &mut ToolResponse) -> Inspection {
//!         if response.text_content().contains("launch code") {
//!             Inspection::Withheld(serde_json::json!({"rule": "launch_code"}))
//!         } else {
//!             Inspection::Clean
//!         }
//!     }
//! }
//!
//! let caller = Caller::Anonymous { peer_ip: None };
//! let call = InspectedCall::new("ops.status", &caller);
//! let mut response = ToolResponse::text("all systems nominal");
//! assert!(matches!(NoLaunchCodes.inspect(&call, &mut response), Inspection::Clean));
//! ```

use serde_json::Value;

use crate::context::Caller;
use crate::response::ToolResponse;

/// The call whose result is inspected.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct InspectedCall<'a> {
    /// The tool's full name (`tickets.get_ticket`).
    pub tool: &'a str,
    /// Who called: the tenant whose policy applies.
    pub caller: &'a Caller,
}

impl<'a> InspectedCall<'a> {
    /// A call of `tool` by `caller`.
    #[must_use]
    pub fn new(tool: &'a str, caller: &'a Caller) -> Self {
        Self { tool, caller }
    }
}

/// What an inspector decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Inspection {
    /// Nothing to report; the result goes out as it is.
    Clean,
    /// The result goes out as the inspector left it (perhaps redacted); the report is
    /// audited.
    Reported(Value),
    /// The result is withheld: the caller gets `result_withheld`; the report is audited.
    Withheld(Value),
}

/// Looks at every successful tool result before the caller does.
///
/// It runs inside the call, after the tool's timeout; on a multi-threaded runtime the
/// server moves it off the async workers (`block_in_place`), since scanning a large
/// result takes a while (the guardrails scanner: about 60 µs per KB with the injection
/// rules). Fail closed: an inspector that cannot decide should withhold; one that panics
/// is treated as withholding. Handler error messages are not inspected: a tool that puts
/// data into its errors must scan them itself.
pub trait ResultInspector: Send + Sync + 'static {
    /// Inspects (and may rewrite) `response` of `call`.
    fn inspect(&self, call: &InspectedCall<'_>, response: &mut ToolResponse) -> Inspection;
}
