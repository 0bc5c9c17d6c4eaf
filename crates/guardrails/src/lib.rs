//! # guardrails
//!
//! Palisade's guardrails scan what goes into the model and what comes out: PII and
//! secrets, and prompt injection, for user input, model output, tool results and memory.
//!
//! This first part is [`validate`]: the validators that separate real card numbers,
//! IBANs, SSNs and JWTs from their look-alikes, and placeholders from secrets. The
//! pattern engine, redaction and the injection detector build on it.

pub mod validate;
