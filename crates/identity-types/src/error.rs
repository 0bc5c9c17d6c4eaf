//! The shared error vocabulary.
//!
//! Every Palisade error falls into one of three classes, and the class decides how a
//! transport reports it: an HTTP server answers 401, 403 or 400, an MCP server answers a
//! JSON-RPC error or a tool error carrying the same stable machine code.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The class of a refusal: who has to do something differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The caller did not prove who it is (missing, malformed, expired or revoked credential).
    /// HTTP 401.
    Unauthenticated,
    /// The caller is known but not allowed to do this. HTTP 403.
    AccessDenied,
    /// The request itself is malformed or out of bounds. HTTP 400.
    InvalidInput,
}

impl ErrorClass {
    /// The HTTP status code a transport should answer with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::AccessDenied => 403,
            Self::InvalidInput => 400,
        }
    }

    /// A stable lowercase name (`unauthenticated`, `access_denied`, `invalid_input`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::AccessDenied => "access_denied",
            Self::InvalidInput => "invalid_input",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every Palisade error type that can reach a caller.
///
/// The code is stable across releases (clients and dashboards match on it); the message
/// (the type's `Display`) is for humans and may change.
pub trait ErrorCode: fmt::Display {
    /// Which class of refusal this is.
    fn class(&self) -> ErrorClass;
    /// A stable, lowercase, snake_case machine code such as `token_expired`.
    fn code(&self) -> &'static str;

    /// The error in its wire form, safe to send to the caller.
    fn to_public(&self) -> PublicError {
        PublicError { class: self.class(), code: Cow::Borrowed(self.code()), message: self.to_string() }
    }
}

/// An error in the form sent to callers and written to audit logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicError {
    /// The class (decides the HTTP status).
    pub class: ErrorClass,
    /// The stable machine code.
    pub code: Cow<'static, str>,
    /// A human-readable message; never contains secrets.
    pub message: String,
}

impl fmt::Display for PublicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.class, self.message)
    }
}

impl std::error::Error for PublicError {}
