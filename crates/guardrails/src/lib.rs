//! # guardrails
//!
//! Palisade's guardrails scan what goes into the model and what comes out: PII and
//! secrets, and prompt injection, for user input, model output, tool results and memory.
//!
//! So far: [`validate`], the validators that separate real card numbers, IBANs, SSNs and
//! JWTs from their look-alikes, and placeholders from secrets; and [`pii`], the scanner
//! that finds PII and secrets with a literal prefilter, regex confirmation and those
//! validators; and [`redact`], typed placeholders (`[EMAIL_1]`) that stay consistent within
//! one conversation; [`injection`], the layered prompt-injection detector (normalisation,
//! rules in several languages, an optional learned layer, one calibrated score); and,
//! over them, [`policy`] (per tenant and direction: allow, warn, redact or block each
//! category) and [`scanner`], one call that applies a policy to a text and reports what
//! it did in a form an audit log can keep.

pub mod injection;
pub mod pii;
pub mod policy;
pub mod redact;
pub mod scanner;
pub mod validate;
