//! Validated identifier newtypes.
//!
//! Every identifier that crosses a trust boundary (a claim in a token, a header, a path
//! segment, a store key) is parsed into one of these types first. Each type guarantees:
//!
//! - it is never empty and never longer than its documented maximum (in bytes);
//! - it holds no control characters and no invisible formatting characters (zero-width
//!   spaces, bidi overrides), which would let one id masquerade as another in logs;
//! - types with a narrower alphabet (`Scope`, `RequestId`, `SessionId`, `Role`) enforce it.
//!
//! ```
//! use identity_types::{TenantId, Scope, IdError};
//!
//! let tenant: TenantId = "acme".parse()?;
//! assert_eq!(tenant.as_str(), "acme");
//! assert!(matches!("".parse::<TenantId>(), Err(IdError::Empty { .. })));
//! assert!("read write".parse::<Scope>().is_err()); // a scope never contains a space
//! # Ok::<(), IdError>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::error::{ErrorClass, ErrorCode};

/// Which identifier type a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// [`TenantId`].
    Tenant,
    /// [`ClientId`].
    Client,
    /// [`Role`].
    Role,
    /// [`Scope`].
    Scope,
    /// [`SessionId`].
    Session,
    /// [`RequestId`].
    Request,
}

impl IdKind {
    /// A lowercase name for messages.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant id",
            Self::Client => "client id",
            Self::Role => "role",
            Self::Scope => "scope",
            Self::Session => "session id",
            Self::Request => "request id",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid identifier. Positions are character indexes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// The identifier type.
        kind: IdKind,
    },
    /// The string is shorter than the type's minimum.
    #[error("{kind} is {actual} bytes long; the minimum is {min}")]
    TooShort {
        /// The identifier type.
        kind: IdKind,
        /// The minimum length in bytes.
        min: usize,
        /// The actual length in bytes.
        actual: usize,
    },
    /// The string is longer than the type's maximum.
    #[error("{kind} is {actual} bytes long; the maximum is {max}")]
    TooLong {
        /// The identifier type.
        kind: IdKind,
        /// The maximum length in bytes.
        max: usize,
        /// The actual length in bytes.
        actual: usize,
    },
    /// The string contains a control or invisible formatting character.
    #[error("{kind} contains a control or invisible character at position {position}")]
    ControlCharacter {
        /// The identifier type.
        kind: IdKind,
        /// Character index of the first offending character.
        position: usize,
    },
    /// The string contains a character outside the type's alphabet.
    #[error("{kind} contains a character that is not allowed ({found:?}) at position {position}")]
    InvalidCharacter {
        /// The identifier type.
        kind: IdKind,
        /// Character index of the first offending character.
        position: usize,
        /// The offending character (printable: control characters are reported as
        /// [`IdError::ControlCharacter`] instead).
        found: char,
    },
}

impl ErrorCode for IdError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidInput
    }
    fn code(&self) -> &'static str {
        "invalid_identifier"
    }
}

/// True for characters that are invisible or reorder text: Unicode `Cc` (control) plus the
/// format characters used to spoof identifiers (zero-width, bidi embedding and isolates,
/// soft hyphen, word joiner, byte-order mark).
pub(crate) fn is_control_or_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

/// The alphabet of an identifier type.
#[derive(Clone, Copy)]
enum Alphabet {
    /// Anything printable (no control or invisible characters).
    Printable,
    /// Printable and no whitespace.
    NoWhitespace,
    /// RFC 6749 `scope-token`: `%x21 / %x23-5B / %x5D-7E`.
    ScopeToken,
    /// `A-Z a-z 0-9 . _ : -`.
    Safe,
    /// `A-Z a-z 0-9 _ -` (base64url).
    Base64Url,
}

impl Alphabet {
    fn allows(self, c: char) -> bool {
        match self {
            Self::Printable => true,
            Self::NoWhitespace => !c.is_whitespace(),
            Self::ScopeToken => matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'),
            Self::Safe => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'),
            Self::Base64Url => c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
        }
    }
}

fn validate(kind: IdKind, s: &str, min: usize, max: usize, alphabet: Alphabet) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > max {
        return Err(IdError::TooLong { kind, max, actual: s.len() });
    }
    if s.len() < min {
        return Err(IdError::TooShort { kind, min, actual: s.len() });
    }
    for (position, c) in s.chars().enumerate() {
        if is_control_or_invisible(c) {
            return Err(IdError::ControlCharacter { kind, position });
        }
        if !alphabet.allows(c) {
            return Err(IdError::InvalidCharacter { kind, position, found: c });
        }
    }
    Ok(())
}

macro_rules! validated_id {
    (
        $(#[$meta:meta])*
        $name:ident, kind = $kind:expr, min = $min:expr, max = $max:expr, alphabet = $alphabet:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            /// The maximum length in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates `s` and wraps it.
            ///
            /// # Errors
            /// An [`IdError`] saying which rule `s` breaks.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                validate($kind, &s, $min, $max, $alphabet)?;
                Ok(Self(s.into_boxed_str()))
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), &*self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Sound because `Eq`, `Ord` and `Hash` are derived from the inner string.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(s.into_owned()).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_id!(
    /// A tenant: the organisation a principal belongs to. 1–128 bytes, printable.
    TenantId, kind = IdKind::Tenant, min = 1, max = 128, alphabet = Alphabet::Printable
);

validated_id!(
    /// A principal: a user or a service (a token's `sub`, an API key's owner). 1–256 bytes,
    /// printable. Any characters are allowed; stores partition through
    /// [`IsolationKey`](crate::IsolationKey), which is injective whatever they contain.
    ClientId, kind = IdKind::Client, min = 1, max = 256, alphabet = Alphabet::Printable
);

validated_id!(
    /// A role such as `admin` or `support`. 1–64 bytes, no whitespace.
    Role, kind = IdKind::Role, min = 1, max = 64, alphabet = Alphabet::NoWhitespace
);

validated_id!(
    /// An OAuth scope such as `read` or `billing:write`: an RFC 6749 `scope-token`
    /// (printable ASCII except space, `"` and `\`), 1–128 bytes.
    Scope, kind = IdKind::Scope, min = 1, max = 128, alphabet = Alphabet::ScopeToken
);

validated_id!(
    /// A request id, e.g. from `X-Request-ID`: 1–128 characters of `A-Z a-z 0-9 . _ : -`.
    RequestId, kind = IdKind::Request, min = 1, max = 128, alphabet = Alphabet::Safe
);

validated_id!(
    /// A conversation or protocol session id: 16–128 characters of base64url
    /// (`A-Z a-z 0-9 _ -`). [`SessionId::generate`] makes unguessable ones.
    SessionId, kind = IdKind::Session, min = 16, max = 128, alphabet = Alphabet::Base64Url
);

impl SessionId {
    /// Random bytes in a generated session id: 192 bits, well above the 128-bit floor that
    /// makes guessing another user's session infeasible.
    pub const GENERATED_BYTES: usize = 24;

    /// A fresh session id: 192 bits from the operating system's CSPRNG, base64url-encoded
    /// (32 characters).
    ///
    /// # Errors
    /// [`RandomnessUnavailable`] if the operating system cannot supply randomness; the
    /// caller must fail the request rather than fall back to a weaker source.
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let bytes: [u8; Self::GENERATED_BYTES] = crate::random::bytes()?;
        Ok(Self(crate::random::base64url(&bytes).into_boxed_str()))
    }
}

impl RequestId {
    /// A request id from a local counter (`local-<n>`): always valid, for when the OS
    /// random number generator is unavailable and a request must still be traceable.
    #[must_use]
    pub fn from_counter(n: u64) -> Self {
        Self(format!("local-{n}").into_boxed_str())
    }

    /// A fresh random request id (128 bits, base64url).
    ///
    /// # Errors
    /// [`RandomnessUnavailable`] if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let bytes: [u8; 16] = crate::random::bytes()?;
        Ok(Self(crate::random::base64url(&bytes).into_boxed_str()))
    }
}

/// The operating system's random number generator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator is unavailable")]
pub struct RandomnessUnavailable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        // (input, expected result as a short tag)
        let tenant_cases: &[(&str, &str)] = &[
            ("acme", "ok"),
            ("Globex Corp", "ok"),
            ("ünïcødé-tenant", "ok"),
            ("", "empty"),
            ("a\u{0}b", "control"),
            ("a\nb", "control"),
            ("admin\u{202E}nimda", "control"),
            ("zero\u{200B}width", "control"),
            ("bom\u{FEFF}", "control"),
        ];
        for (input, expected) in tenant_cases {
            let got = match TenantId::new(*input) {
                Ok(_) => "ok",
                Err(IdError::Empty { .. }) => "empty",
                Err(IdError::ControlCharacter { .. }) => "control",
                Err(e) => panic!("unexpected {e:?} for {input:?}"),
            };
            assert_eq!(got, *expected, "tenant {input:?}");
        }
    }

    #[test]
    fn length_limits_are_in_bytes() {
        assert!(TenantId::new("a".repeat(128)).is_ok());
        assert_eq!(
            TenantId::new("a".repeat(129)),
            Err(IdError::TooLong { kind: IdKind::Tenant, max: 128, actual: 129 })
        );
        // 43 three-byte characters = 129 bytes.
        assert!(matches!(TenantId::new("€".repeat(43)), Err(IdError::TooLong { .. })));
        assert!(ClientId::new("u".repeat(256)).is_ok());
        assert!(ClientId::new("u".repeat(257)).is_err());
    }

    #[test]
    fn scope_follows_rfc6749_alphabet() {
        for ok in ["read", "billing:write", "https://api.example.com/x", "a!#[]~"] {
            assert!(Scope::new(ok).is_ok(), "{ok}");
        }
        for (bad, position) in [("read write", 4), ("quo\"te", 3), ("back\\slash", 4), ("é", 0)] {
            match Scope::new(bad) {
                Err(IdError::InvalidCharacter { position: p, .. }) => assert_eq!(p, position, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn role_refuses_whitespace() {
        assert!(Role::new("admin").is_ok());
        assert!(matches!(Role::new("ad min"), Err(IdError::InvalidCharacter { .. })));
        assert!(matches!(Role::new("admin\t"), Err(IdError::ControlCharacter { .. })));
    }

    #[test]
    fn request_id_alphabet_is_header_safe() {
        assert!(RequestId::new("req-1.2_3:4").is_ok());
        assert!(RequestId::new("a b").is_err());
        assert!(RequestId::new("<script>").is_err());
        assert!(RequestId::new("x".repeat(129)).is_err());
    }

    #[test]
    fn session_ids_are_random_and_well_formed() {
        let a = SessionId::generate().expect("rng");
        let b = SessionId::generate().expect("rng");
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(SessionId::new(a.as_str()), Ok(a));
        assert!(matches!(SessionId::new("short"), Err(IdError::TooShort { .. })));
        assert!(matches!(SessionId::new("has/slash/in/it/x"), Err(IdError::InvalidCharacter { .. })));
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let ok: TenantId = serde_json::from_str("\"acme\"").expect("valid");
        assert_eq!(serde_json::to_string(&ok).expect("ser"), "\"acme\"");
        assert!(serde_json::from_str::<TenantId>("\"\"").is_err());
        assert!(serde_json::from_str::<Scope>("\"a b\"").is_err());
    }

    #[test]
    fn errors_are_invalid_input_class() {
        let e = TenantId::new("").unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidInput);
        assert_eq!(e.code(), "invalid_identifier");
        assert_eq!(e.to_string(), "tenant id must not be empty");
    }
}
