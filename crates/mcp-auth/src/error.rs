//! Why authentication failed ([`AuthError`]) and why a provider could not be built
//! ([`ConfigError`]).

use identity_types::{ErrorClass, ErrorCode};

/// Why a request was not authenticated. Every variant is a 401-class refusal.
///
/// Messages never contain the credential or any claim value, so an `AuthError` can be
/// logged and returned to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credential was presented.
    #[error("no credentials were presented")]
    MissingCredentials,
    /// A credential was presented but is not of a kind this provider handles (for example
    /// an API key given to a JWT provider). [`ChainAuth`](crate::ChainAuth) moves on to
    /// the next provider on this error only.
    #[error("the credential is not of a kind this server accepts")]
    UnrecognizedCredential,
    /// The `Authorization` header is not a well-formed `Bearer` credential.
    #[error("malformed Authorization header: {0}")]
    MalformedHeader(&'static str),
    /// The token is larger than the configured maximum.
    #[error("the token is {actual} bytes; the maximum is {max}")]
    TokenTooLarge {
        /// The configured maximum in bytes.
        max: usize,
        /// The token's length in bytes.
        actual: usize,
    },
    /// The token is not a well-formed JWT (wrong number of segments, bad base64url, a
    /// non-canonical spelling, undecodable JSON).
    #[error("malformed token: {0}")]
    MalformedToken(&'static str),
    /// The token's `alg` is not the one this server accepts (including `none`).
    #[error("the token's algorithm {found:?} is not accepted")]
    UnsupportedAlgorithm {
        /// The header's `alg`, truncated to 16 characters.
        found: String,
    },
    /// The token names a critical header extension (`crit`) this server does not implement.
    #[error("the token requires unsupported header extensions (crit)")]
    UnsupportedCriticalHeader,
    /// No key matches the token's `kid` (after at most one refresh of the key set).
    #[error("no verification key matches the token's key id")]
    UnknownKeyId,
    /// The verification keys could not be loaded (key set never fetched, IdP down at start).
    #[error("verification keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    InvalidSignature,
    /// The token has expired (`exp` plus leeway is in the past).
    #[error("the token has expired")]
    Expired,
    /// The token is not valid yet (`nbf` minus leeway is in the future).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token claims to be issued in the future (`iat` minus leeway).
    #[error("the token's issue time is in the future")]
    IssuedInFuture,
    /// The `iss` claim is not the configured issuer.
    #[error("the token was issued by an issuer this server does not trust")]
    InvalidIssuer,
    /// The `aud` claim does not name this server (or is missing).
    #[error("the token was not issued for this server (audience mismatch)")]
    InvalidAudience,
    /// A required claim is missing.
    #[error("the token lacks the required claim {0:?}")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an invalid value.
    #[error("the token's claim {claim:?} is invalid: {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: String,
        /// What is wrong with it (never its value).
        reason: &'static str,
    },
    /// The token or its subject has been revoked.
    #[error("the credential has been revoked")]
    Revoked,
    /// A revocation hook failed; the request is refused rather than let through.
    #[error("the revocation check could not be completed")]
    RevocationCheckFailed,
    /// The API key is malformed (wrong prefix, length, alphabet or checksum).
    #[error("malformed API key: {0}")]
    MalformedApiKey(&'static str),
    /// The API key is well-formed but unknown (or revoked).
    #[error("the API key is not valid")]
    UnknownApiKey,
    /// The API key has expired.
    #[error("the API key has expired")]
    ApiKeyExpired,
    /// The introspection endpoint says the token is not active.
    #[error("the token is not active")]
    TokenInactive,
    /// The introspection endpoint could not be reached or answered unusably.
    #[error("token introspection failed: {0}")]
    IntrospectionFailed(String),
    /// An `on_authenticate` hook refused the caller.
    #[error("authentication was refused by policy: {0}")]
    Rejected(String),
}

impl AuthError {
    /// True when the next provider of a chain may try this request: no credential, or
    /// one of a kind this provider does not handle. Any other error is final (a chain
    /// never falls through on a bad credential).
    #[must_use]
    pub fn is_not_applicable(&self) -> bool {
        matches!(self, Self::MissingCredentials | Self::UnrecognizedCredential)
    }
}

impl ErrorCode for AuthError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Unauthenticated
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::UnrecognizedCredential => "unrecognized_credential",
            Self::MalformedHeader(_) => "malformed_authorization_header",
            Self::TokenTooLarge { .. } => "token_too_large",
            Self::MalformedToken(_) => "malformed_token",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::UnsupportedCriticalHeader => "unsupported_critical_header",
            Self::UnknownKeyId => "unknown_key_id",
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::InvalidSignature => "invalid_signature",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::IssuedInFuture => "token_issued_in_future",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim { .. } => "invalid_claim",
            Self::Revoked => "credential_revoked",
            Self::RevocationCheckFailed => "revocation_check_failed",
            Self::MalformedApiKey(_) => "malformed_api_key",
            Self::UnknownApiKey => "invalid_api_key",
            Self::ApiKeyExpired => "api_key_expired",
            Self::TokenInactive => "token_inactive",
            Self::IntrospectionFailed(_) => "introspection_failed",
            Self::Rejected(_) => "authentication_rejected",
        }
    }
}

/// Why a provider could not be built. Providers validate their configuration up front,
/// so a running provider is always a sound one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The HMAC secret is too short.
    #[error("the JWT secret is {actual} bytes; at least {min} are required")]
    WeakSecret {
        /// The minimum in bytes.
        min: usize,
        /// The length given.
        actual: usize,
    },
    /// The algorithm does not belong to this provider (e.g. RS256 for `JwtAuth`).
    #[error("algorithm {0} is not supported by this provider")]
    UnsupportedAlgorithm(String),
    /// No audience was configured and the audience check was not explicitly disabled.
    #[error(
        "no audience configured: set this server's resource identifier, or call allow_any_audience() explicitly"
    )]
    MissingAudience,
    /// A key could not be parsed or does not fit its algorithm.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// No key or key source was configured.
    #[error("no verification keys configured")]
    NoKeys,
    /// A URL is invalid or uses plain HTTP to a non-loopback host.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
    /// An OIDC discovery document or JWKS could not be fetched or is invalid at build time.
    #[error("key discovery failed: {0}")]
    Discovery(String),
    /// A claim name is empty.
    #[error("claim names must not be empty")]
    EmptyClaimName,
}
