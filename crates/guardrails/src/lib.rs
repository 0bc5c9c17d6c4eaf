//! # guardrails
//!
//! Palisade's guardrails scan what goes into the model and what comes out: PII and
//! secrets, and prompt injection, for user input, model output, tool results and memory.
//!
//! So far: [`validate`], the validators that separate real card numbers, IBANs, SSNs and
//! JWTs from their look-alikes, and placeholders from secrets; and [`pii`], the scanner
//! that finds PII and secrets with a literal prefilter, regex confirmation and those
//! validators; and [`redact`], typed placeholders (`[EMAIL_1]`) that stay consistent within
//! one conversation; and [`injection`], the layered prompt-injection detector
//! (normalisation, rules in several languages, an optional learned layer, one calibrated
//! score).

pub mod injection;
pub mod pii;
pub mod redact;
pub mod validate;
