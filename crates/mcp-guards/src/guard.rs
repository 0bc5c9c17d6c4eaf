//! The [`Guard`] trait, what a guard sees ([`GuardContext`], [`ToolInfo`]), and the
//! allocation-free [`GuardFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use identity_types::{ClientContext, Scope};
use serde_json::Value;

use crate::denial::Denial;

/// The outcome of a guard: allowed, or a [`Denial`].
pub type Verdict = Result<(), Denial>;

/// What a guard knows about the tool being called.
///
/// `read_only` follows the MCP `readOnlyHint` annotation; a tool not marked read-only is
/// treated as one that writes (the safe assumption for read-only mode).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolInfo {
    /// The tool's full name (`customers.get_customer`).
    pub name: String,
    /// The tool only reads.
    pub read_only: bool,
    /// The tool may destroy data.
    pub destructive: bool,
    /// Calling the tool twice has the effect of calling it once.
    pub idempotent: bool,
    /// Callable without identity.
    pub public: bool,
    /// Needs an approval grant.
    pub requires_approval: bool,
}

impl ToolInfo {
    /// A tool that writes, is not public and needs no approval.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
    /// Marks the tool read-only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
    /// Marks the tool destructive.
    #[must_use]
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }
    /// Marks the tool public.
    #[must_use]
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
    /// Marks the tool as needing approval.
    #[must_use]
    pub fn requires_approval(mut self) -> Self {
        self.requires_approval = true;
        self
    }
}

/// Everything a guard may look at for one call.
#[derive(Debug, Clone, Copy)]
pub struct GuardContext<'a> {
    /// The authenticated caller; `None` for an anonymous caller of a server that admits them.
    pub client: Option<&'a ClientContext>,
    /// The tool.
    pub tool: &'a ToolInfo,
    /// The call's arguments, when the guard runs for a call (not for `tools/list`).
    pub arguments: Option<&'a Value>,
    /// An approval grant presented with the call.
    pub approval_grant: Option<&'a str>,
}

impl<'a> GuardContext<'a> {
    /// A context for listing: no arguments, no grant.
    #[must_use]
    pub fn for_listing(client: Option<&'a ClientContext>, tool: &'a ToolInfo) -> Self {
        Self { client, tool, arguments: None, approval_grant: None }
    }

    /// A context for a call.
    #[must_use]
    pub fn for_call(
        client: Option<&'a ClientContext>,
        tool: &'a ToolInfo,
        arguments: &'a Value,
        approval_grant: Option<&'a str>,
    ) -> Self {
        Self { client, tool, arguments: Some(arguments), approval_grant }
    }
}

/// Decides whether a caller may use a tool. Evaluated in code, before any handler runs,
/// never in a prompt.
///
/// Most guards decide from the context alone and return [`GuardFuture::ready`], which
/// costs no allocation; a guard that must wait (a database, a policy engine) returns
/// [`GuardFuture::boxed`].
///
/// ```
/// use mcp_guards::{Denial, DenialCode, Guard, GuardContext, GuardFuture};
///
/// /// Refuses calls on weekends (a toy rule; time zones left out).
/// struct WeekdaysOnly { weekend: bool }
///
/// impl Guard for WeekdaysOnly {
///     fn name(&self) -> &'static str { "weekdays_only" }
///     fn check<'a>(&'a self, _ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
///         GuardFuture::ready(if self.weekend {
///             Err(Denial::new(DenialCode::AccessDenied, self.name(), "this tool is closed at weekends"))
///         } else {
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Guard: Send + Sync {
    /// A short name for denials and logs.
    fn name(&self) -> &'static str;

    /// Checks one call (or, with no arguments, whether to list the tool).
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a>;

    /// Adds the scopes this guard can require to `out`, so a transport can name every
    /// needed scope in a 403.
    fn collect_scopes(&self, out: &mut Vec<Scope>) {
        let _ = out;
    }
}

impl<G: Guard + ?Sized> Guard for std::sync::Arc<G> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        (**self).check(ctx)
    }
    fn collect_scopes(&self, out: &mut Vec<Scope>) {
        (**self).collect_scopes(out);
    }
}

impl<G: Guard + ?Sized> Guard for Box<G> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        (**self).check(ctx)
    }
    fn collect_scopes(&self, out: &mut Vec<Scope>) {
        (**self).collect_scopes(out);
    }
}

/// A guard's pending or immediate verdict.
#[must_use = "a guard's verdict must be awaited"]
pub struct GuardFuture<'a>(Inner<'a>);

enum Inner<'a> {
    Ready(Option<Verdict>),
    Boxed(Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>),
}

impl<'a> GuardFuture<'a> {
    /// A verdict known now (no allocation).
    pub fn ready(verdict: Verdict) -> Self {
        Self(Inner::Ready(Some(verdict)))
    }

    /// A verdict that needs to wait.
    pub fn boxed(future: impl Future<Output = Verdict> + Send + 'a) -> Self {
        Self(Inner::Boxed(Box::pin(future)))
    }

    /// The verdict if it is already known, else the future back.
    ///
    /// # Errors
    /// The future itself, when it still has to be awaited.
    pub fn into_ready(self) -> Result<Verdict, Self> {
        match self.0 {
            Inner::Ready(Some(verdict)) => Ok(verdict),
            other => Err(Self(other)),
        }
    }
}

impl Future for GuardFuture<'_> {
    type Output = Verdict;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Verdict> {
        match &mut self.0 {
            // Polling a completed guard again is a caller bug; answer with a denial
            // rather than a panic or an allow.
            Inner::Ready(verdict) => Poll::Ready(verdict.take().unwrap_or_else(|| {
                Err(Denial::new(crate::DenialCode::AccessDenied, "guard", "guard polled after completion"))
            })),
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for GuardFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Inner::Ready(_) => "GuardFuture::Ready",
            Inner::Boxed(_) => "GuardFuture::Boxed",
        })
    }
}
