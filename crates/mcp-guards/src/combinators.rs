//! `all_of`, `any_of` and `not`: guards built from guards.
//!
//! Combinators keep the allocation-free path: as long as every child answers at once,
//! so does the combinator; only a child that has to wait makes it box a future.

use identity_types::Scope;

use crate::denial::{Denial, DenialCode};
use crate::guard::{Guard, GuardContext, GuardFuture, Verdict};

/// Allows a call only if every guard allows it; the first denial wins.
pub fn all_of(guards: Vec<Box<dyn Guard>>) -> AllOf {
    AllOf { guards }
}

/// Allows a call if any guard allows it. With no guards it allows nothing.
pub fn any_of(guards: Vec<Box<dyn Guard>>) -> AnyOf {
    AnyOf { guards }
}

/// Allows a call when `guard` finds the caller does not match (e.g. "not a contractor").
/// Denials that are not about the caller's attributes (maintenance, read-only, approval,
/// `AccessDenied`) are passed through, never turned into an allow.
pub fn not(guard: impl Guard + 'static) -> Not {
    Not { guard: Box::new(guard) }
}

/// See [`all_of`].
pub struct AllOf {
    guards: Vec<Box<dyn Guard>>,
}

impl Guard for AllOf {
    fn name(&self) -> &'static str {
        "all_of"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        for (i, guard) in self.guards.iter().enumerate() {
            match guard.check(ctx).into_ready() {
                Ok(Ok(())) => {}
                Ok(Err(denial)) => return GuardFuture::ready(Err(denial)),
                Err(pending) => {
                    let rest = &self.guards[i + 1..];
                    return GuardFuture::boxed(async move {
                        pending.await?;
                        for guard in rest {
                            guard.check(ctx).await?;
                        }
                        Ok(())
                    });
                }
            }
        }
        GuardFuture::ready(Ok(()))
    }
    fn collect_scopes(&self, out: &mut Vec<Scope>) {
        for guard in &self.guards {
            guard.collect_scopes(out);
        }
    }
}

/// See [`any_of`].
pub struct AnyOf {
    guards: Vec<Box<dyn Guard>>,
}

fn none_allowed(first: Option<Denial>) -> Denial {
    // Report the first alternative's reason: it is the one a caller most likely missed.
    first
        .unwrap_or_else(|| Denial::new(DenialCode::AccessDenied, "any_of", "no alternative allows this call"))
}

impl Guard for AnyOf {
    fn name(&self) -> &'static str {
        "any_of"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        let mut first: Option<Denial> = None;
        for (i, guard) in self.guards.iter().enumerate() {
            match guard.check(ctx).into_ready() {
                Ok(Ok(())) => return GuardFuture::ready(Ok(())),
                Ok(Err(denial)) => {
                    first.get_or_insert(denial);
                }
                Err(pending) => {
                    let rest = &self.guards[i + 1..];
                    return GuardFuture::boxed(async move {
                        let outcome: Verdict = pending.await;
                        match outcome {
                            Ok(()) => return Ok(()),
                            Err(denial) => {
                                first.get_or_insert(denial);
                            }
                        }
                        for guard in rest {
                            match guard.check(ctx).await {
                                Ok(()) => return Ok(()),
                                Err(denial) => {
                                    first.get_or_insert(denial);
                                }
                            }
                        }
                        Err(none_allowed(first))
                    });
                }
            }
        }
        GuardFuture::ready(Err(none_allowed(first)))
    }
    fn collect_scopes(&self, out: &mut Vec<Scope>) {
        for guard in &self.guards {
            guard.collect_scopes(out);
        }
    }
}

/// See [`not`].
pub struct Not {
    guard: Box<dyn Guard>,
}

/// Inverts a verdict, but only a denial that means "the caller does not match" (a role,
/// scope, client, tenant or group it lacks). Any other denial, such as maintenance,
/// read-only, approval, or a custom guard's `AccessDenied` (which may mean "could not
/// decide"), passes through: negation must never turn a fail-closed refusal into an allow.
fn invert(verdict: Verdict) -> Verdict {
    match verdict {
        Ok(()) => Err(Denial::new(DenialCode::AccessDenied, "not", "excluded by policy")),
        Err(denial)
            if matches!(
                denial.code(),
                DenialCode::MissingRole
                    | DenialCode::InsufficientScope
                    | DenialCode::ClientNotAllowed
                    | DenialCode::TenantNotAllowed
                    | DenialCode::TenantRequired
                    | DenialCode::GroupNotAllowed
            ) =>
        {
            Ok(())
        }
        Err(denial) => Err(denial),
    }
}

impl Guard for Not {
    fn name(&self) -> &'static str {
        "not"
    }
    fn check<'a>(&'a self, ctx: &'a GuardContext<'a>) -> GuardFuture<'a> {
        // An anonymous caller is never let through by negation: "not an admin" must not
        // mean "anyone, including nobody".
        if ctx.client.is_none() {
            return GuardFuture::ready(Err(Denial::unauthenticated("not")));
        }
        match self.guard.check(ctx).into_ready() {
            Ok(verdict) => GuardFuture::ready(invert(verdict)),
            Err(pending) => GuardFuture::boxed(async move { invert(pending.await) }),
        }
    }
}

impl std::fmt::Debug for AllOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.guards.iter().map(|g| g.name())).finish()
    }
}
impl std::fmt::Debug for AnyOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.guards.iter().map(|g| g.name())).finish()
    }
}
impl std::fmt::Debug for Not {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Not({})", self.guard.name())
    }
}
