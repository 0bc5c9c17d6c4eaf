//! The PII and secret scanner: literal prefilter, regular-expression confirmation,
//! validators.
//!
//! 1. **Prefilter.** One `aho-corasick` automaton holds every pattern's anchor literals
//!    (`AKIA`, `ghp_`, `-----BEGIN`, `@`, `://`…); one pass over the text says which
//!    patterns can match at all. Patterns without a literal (card numbers, IBANs, SSNs,
//!    IPv4 addresses) run only when the text contains a digit. Ordinary prose triggers few
//!    patterns, so most of the text is read once.
//! 2. **Confirmation.** Each triggered pattern's regex (`regex` crate: linear time, no
//!    backtracking) finds candidates; a candidate glued to more characters of its own
//!    alphabet is part of a longer token and is dropped.
//! 3. **Validation.** Checksums and structure ([`validate`]) reject
//!    look-alikes; placeholders never count as secrets.
//! 4. **Overlaps.** Where findings overlap, the more specific one wins (a database URL
//!    over the e-mail address inside it).
//!
//! Offsets are byte offsets into the text; [`char_offsets`] converts them.
//!
//! ```
//! use guardrails::pii::{Entity, PiiScanner};
//!
//! let scanner = PiiScanner::new();
//! let text = "card 4111 1111 1111 1111, key AKIAZ7SKPC2LQFOVIWEB, order 1234-5678-9012-3456";
//! let found: Vec<(Entity, &str)> = scanner.scan(text).iter().map(|f| (f.entity, &text[f.start..f.end])).collect();
//! assert_eq!(found, [(Entity::CreditCard, "4111 1111 1111 1111"), (Entity::AwsAccessKeyId, "AKIAZ7SKPC2LQFOVIWEB")]);
//! ```

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet};

use crate::validate;

/// What a finding is. [`Entity::name`] gives the scanner protocol's type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Entity {
    /// A payment card number (issuer range, length and Luhn checked).
    CreditCard,
    /// A US Social Security number (SSA rules checked).
    UsSsn,
    /// An e-mail address.
    EmailAddress,
    /// An IBAN (country length and mod-97 checked).
    IbanCode,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// An AWS access key id.
    AwsAccessKeyId,
    /// An AWS secret access key (found next to an AWS context word).
    AwsSecretAccessKey,
    /// A GitHub token.
    GithubToken,
    /// A Slack token.
    SlackToken,
    /// A Slack incoming-webhook URL.
    SlackWebhookUrl,
    /// A Stripe secret or restricted key.
    StripeKey,
    /// A Google API key.
    GoogleApiKey,
    /// An OpenAI API key.
    OpenaiApiKey,
    /// An Anthropic API key.
    AnthropicApiKey,
    /// A JSON Web Token.
    Jwt,
    /// A PEM or OpenSSH private key.
    PrivateKey,
    /// A database connection URL carrying a password.
    DbConnectionString,
    /// A UK National Insurance number (HMRC prefix rules).
    UkNino,
    /// A Spanish DNI or NIE (check letter).
    EsNif,
    /// An Italian codice fiscale (layout and check letter).
    ItFiscalCode,
    /// A Dutch BSN (eleven test), after a BSN context word.
    NlBsn,
    /// An Indian Aadhaar number (Verhoeff check digit).
    InAadhaar,
    /// A Brazilian CPF (two mod-11 check digits).
    BrCpf,
    /// A French social security number (NIR key mod 97).
    FrNir,
    /// A Canadian social insurance number (Luhn), after a SIN context word.
    CaSin,
    /// A UK NHS number (mod-11 check digit), after a context word.
    UkNhs,
    /// A German tax id (ISO 7064 MOD 11,10), after a context word.
    DeTaxId,
    /// A Polish PESEL (date fields and weighted check digit), after a context word.
    PlPesel,
    /// A Swedish personnummer (date and Luhn), after a context word.
    SePersonnummer,
    /// A Chinese resident identity number (birth date and MOD 11-2).
    CnResidentId,
    /// A US ITIN (9XX-GG-NNNN with an issued group).
    UsItin,
    /// A US bank routing number (ABA checksum), after a context word.
    UsBankRouting,
    /// A device IMEI (Luhn), after a context word.
    Imei,
    /// A telephone number, valid in its country's numbering plan (libphonenumber's
    /// metadata, through the `phonenumber` crate).
    PhoneNumber,
    /// A credential in a vendor's published format that has no entity of its own: the
    /// protocol type name it reports (`GITLAB_TOKEN`, `HUGGINGFACE_TOKEN`, …).
    Token(&'static str),
    /// Personal data in a national, document, device or wallet format that has no
    /// entity of its own: the protocol type name it reports (`AU_TFN`, `FI_HETU`,
    /// `PASSPORT_MRZ`, `MAC_ADDRESS`, `CRYPTO_WALLET`, …).
    PersonalId(&'static str),
    /// A credential no vendor format names: a high-entropy value assigned to a key named
    /// like a secret (`api_key = …`, `"client_secret": "…"`), or a password assigned
    /// to `password` / `passwd` / `pwd`.
    GenericSecret,
}

impl Entity {
    /// The type name of the scanner protocol (`CREDIT_CARD`, `AWS_ACCESS_KEY_ID`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::CreditCard => "CREDIT_CARD",
            Self::UsSsn => "US_SSN",
            Self::EmailAddress => "EMAIL_ADDRESS",
            Self::IbanCode => "IBAN_CODE",
            Self::IpAddress => "IP_ADDRESS",
            Self::AwsAccessKeyId => "AWS_ACCESS_KEY_ID",
            Self::AwsSecretAccessKey => "AWS_SECRET_ACCESS_KEY",
            Self::GithubToken => "GITHUB_TOKEN",
            Self::SlackToken => "SLACK_TOKEN",
            Self::SlackWebhookUrl => "SLACK_WEBHOOK_URL",
            Self::StripeKey => "STRIPE_KEY",
            Self::GoogleApiKey => "GOOGLE_API_KEY",
            Self::OpenaiApiKey => "OPENAI_API_KEY",
            Self::AnthropicApiKey => "ANTHROPIC_API_KEY",
            Self::Jwt => "JWT",
            Self::PrivateKey => "PRIVATE_KEY",
            Self::DbConnectionString => "DB_CONNECTION_STRING",
            Self::GenericSecret => "SECRET",
            Self::Token(name) | Self::PersonalId(name) => name,
            Self::PhoneNumber => "PHONE_NUMBER",
            Self::UkNhs => "UK_NHS",
            Self::DeTaxId => "DE_TAX_ID",
            Self::PlPesel => "PL_PESEL",
            Self::SePersonnummer => "SE_PERSONNUMMER",
            Self::CnResidentId => "CN_RESIDENT_ID",
            Self::UsItin => "US_ITIN",
            Self::UsBankRouting => "US_BANK_ROUTING",
            Self::Imei => "IMEI",
            Self::UkNino => "UK_NINO",
            Self::EsNif => "ES_NIF",
            Self::ItFiscalCode => "IT_FISCAL_CODE",
            Self::NlBsn => "NL_BSN",
            Self::InAadhaar => "IN_AADHAAR",
            Self::BrCpf => "BR_CPF",
            Self::FrNir => "FR_NIR",
            Self::CaSin => "CA_SIN",
        }
    }

    /// Every entity type with a variant of its own, in declaration order (the
    /// [`Entity::Token`] and [`Entity::PersonalId`] types are listed by
    /// [`PiiScanner::detectors`]).
    pub const ALL: [Self; 35] = [
        Self::CreditCard,
        Self::UsSsn,
        Self::EmailAddress,
        Self::IbanCode,
        Self::IpAddress,
        Self::AwsAccessKeyId,
        Self::AwsSecretAccessKey,
        Self::GithubToken,
        Self::SlackToken,
        Self::SlackWebhookUrl,
        Self::StripeKey,
        Self::GoogleApiKey,
        Self::OpenaiApiKey,
        Self::AnthropicApiKey,
        Self::Jwt,
        Self::PrivateKey,
        Self::DbConnectionString,
        Self::GenericSecret,
        Self::PhoneNumber,
        Self::UkNino,
        Self::EsNif,
        Self::ItFiscalCode,
        Self::NlBsn,
        Self::InAadhaar,
        Self::BrCpf,
        Self::FrNir,
        Self::CaSin,
        Self::UkNhs,
        Self::DeTaxId,
        Self::PlPesel,
        Self::SePersonnummer,
        Self::CnResidentId,
        Self::UsItin,
        Self::UsBankRouting,
        Self::Imei,
    ];

    /// The entity type with protocol name `name` (the inverse of [`Entity::name`]),
    /// vendor token and personal id types included.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(all_patterns().map(|pattern| pattern.entity))
            .find(|entity| entity.name() == name)
    }

    /// The short label of redaction placeholders (`[EMAIL_1]`, `[CARD_2]`).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::CreditCard => "CARD",
            Self::UsSsn => "SSN",
            Self::EmailAddress => "EMAIL",
            Self::IbanCode => "IBAN",
            Self::IpAddress => "IP",
            Self::AwsAccessKeyId => "AWS_KEY_ID",
            Self::AwsSecretAccessKey => "AWS_SECRET",
            Self::GithubToken => "GITHUB_TOKEN",
            Self::SlackToken => "SLACK_TOKEN",
            Self::SlackWebhookUrl => "SLACK_WEBHOOK",
            Self::StripeKey => "STRIPE_KEY",
            Self::GoogleApiKey => "GOOGLE_KEY",
            Self::OpenaiApiKey => "OPENAI_KEY",
            Self::AnthropicApiKey => "ANTHROPIC_KEY",
            Self::Jwt => "JWT",
            Self::PrivateKey => "PRIVATE_KEY",
            Self::DbConnectionString => "DB_URL",
            Self::GenericSecret => "SECRET",
            Self::Token(name) | Self::PersonalId(name) => name,
            Self::PhoneNumber => "PHONE",
            Self::UkNhs => "NHS",
            Self::DeTaxId => "DE_TAX_ID",
            Self::PlPesel => "PESEL",
            Self::SePersonnummer => "PNR",
            Self::CnResidentId => "CN_ID",
            Self::UsItin => "ITIN",
            Self::UsBankRouting => "ROUTING",
            Self::Imei => "IMEI",
            Self::UkNino => "NINO",
            Self::EsNif => "ES_ID",
            Self::ItFiscalCode => "IT_CF",
            Self::NlBsn => "BSN",
            Self::InAadhaar => "AADHAAR",
            Self::BrCpf => "CPF",
            Self::FrNir => "NIR",
            Self::CaSin => "SIN",
        }
    }

    /// True for credentials (as opposed to personal data).
    #[must_use]
    pub fn is_secret(self) -> bool {
        !matches!(
            self,
            Self::CreditCard
                | Self::UsSsn
                | Self::EmailAddress
                | Self::IbanCode
                | Self::IpAddress
                | Self::PhoneNumber
                | Self::UkNino
                | Self::EsNif
                | Self::ItFiscalCode
                | Self::NlBsn
                | Self::InAadhaar
                | Self::BrCpf
                | Self::FrNir
                | Self::CaSin
                | Self::UkNhs
                | Self::DeTaxId
                | Self::PlPesel
                | Self::SePersonnummer
                | Self::CnResidentId
                | Self::UsItin
                | Self::UsBankRouting
                | Self::Imei
                | Self::PersonalId(_)
        )
    }
}

/// One thing found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What it is.
    pub entity: Entity,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// How sure the detector is, in `[0, 1]`.
    pub confidence: f32,
    /// The detector that found it (a pattern name, stable across releases).
    pub detector: &'static str,
}

/// Bytes that may continue a token of some alphabet: a match with one of these on either
/// side is a fragment of something longer.
type Alphabet = fn(u8) -> bool;

fn base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn key_chars(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn base64_chars(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
}
fn digits_and_separators(b: u8) -> bool {
    b.is_ascii_digit() || b == b'-' || b == b'_'
}
fn ipv4_chars(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.'
}
fn ipv6_chars(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b':'
}
fn none(_: u8) -> bool {
    false
}

/// One detector.
struct Pattern {
    entity: Entity,
    name: &'static str,
    /// Anchor literals (ASCII, matched case-insensitively); empty: runs when the text has
    /// a digit.
    literals: &'static [&'static str],
    regex: &'static str,
    /// The capture group to report (0: the whole match).
    group: usize,
    boundary: Alphabet,
    validate: fn(&str) -> bool,
    confidence: f32,
    /// Refuse matches continued by `.digit` (numeric patterns; see `in_decimal`).
    decimal_guard: bool,
}

fn not_placeholder(text: &str) -> bool {
    !validate::is_placeholder(text)
}
fn github_token(text: &str) -> bool {
    validate::github_token_checksum(text) && not_placeholder(text)
}
fn card(text: &str) -> bool {
    // Twelve digits in groups is an order number's shape far more often than a
    // twelve-digit Maestro card's (those are written in one run when they are written).
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let grouped = text.bytes().any(|b| b == b' ' || b == b'-');
    validate::card_brand(text).is_some() && !(digits == 12 && grouped)
}
fn ipv4(text: &str) -> bool {
    text.parse::<std::net::Ipv4Addr>().is_ok()
}
fn ipv6(text: &str) -> bool {
    // The parser wants `::` or all eight groups, so times and MAC addresses fail; a digit
    // is required so that identifiers such as `::add` or `dead::beef` do not pass.
    text.parse::<std::net::Ipv6Addr>().is_ok() && text.bytes().any(|b| b.is_ascii_digit())
}
fn aws_secret(text: &str) -> bool {
    validate::shannon_entropy(text.as_bytes()) > 4.2 && not_placeholder(text)
}
fn db_url(text: &str) -> bool {
    // The password is between the first `:` after the scheme's `//` and the last `@`.
    let rest = text.split_once("://").map_or("", |(_, rest)| rest);
    // Only the authority: an `@` in the path or query says nothing about credentials.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let credentials = authority.rsplit_once('@').map_or("", |(credentials, _)| credentials);
    let password = credentials.split_once(':').map_or("", |(_, password)| password);
    !password.is_empty() && not_placeholder(password)
}
/// A value assigned to a secret-named key: long, mixed letters and digits, high entropy,
/// not a placeholder. The context word already said "secret"; the value must look random.
fn generic_secret(text: &str) -> bool {
    text.len() >= 16
        && text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().any(|b| b.is_ascii_alphabetic())
        && validate::shannon_entropy(text.as_bytes()) >= 3.3
        && not_placeholder(text)
}
/// A value assigned to `password`: anything but a placeholder, a reference to where the
/// password really is (`${DB_PASSWORD}`, `os.environ[…]`, `{password}`), or a word that
/// describes rather than is one (`required`, `none`, `string`…).
fn password_value(text: &str) -> bool {
    const NOT_PASSWORDS: &[&str] = &[
        "none", "null", "nil", "true", "false", "required", "optional", "string", "empty", "hidden",
        "password", "secret",
    ];
    // A trailing full stop or comma belongs to the sentence ("Password: required.").
    let text = text.trim_end_matches(['.', '!', '?', ':']);
    let lower = text.to_ascii_lowercase();
    let reference = text.starts_with(['$', '{', '%', '@', '/', '~'])
        || text.contains('(')
        || lower.contains("env")
        || lower.contains("secret")
        || lower.contains("vault");
    // Plain words are prose or form labels ("password: see below", "Password: Required"),
    // not credentials; a path is a working directory (`PWD=/home/alice`).
    let word_like = text.bytes().all(|b| b.is_ascii_alphabetic()) || text.contains('/');
    !reference && !word_like && !NOT_PASSWORDS.contains(&lower.as_str()) && not_placeholder(text)
}
/// Valid in its numbering plan, by the country code it carries (`+44 20 7946 0958`).
fn international_phone(text: &str) -> bool {
    phonenumber::parse(None, text).is_ok_and(|number| number.is_valid())
}
/// A North American number written the North American way (`(415) 555-2671`).
fn nanp_phone(text: &str) -> bool {
    phonenumber::parse(Some(phonenumber::country::Id::US), text).is_ok_and(|number| number.is_valid())
        || phonenumber::parse(Some(phonenumber::country::Id::CA), text).is_ok_and(|number| number.is_valid())
}
/// Countries whose national numbers start with a trunk 0, tried for a national number.
const TRUNK_ZERO_REGIONS: &[phonenumber::country::Id] = {
    use phonenumber::country::Id;
    &[
        Id::GB,
        Id::DE,
        Id::FR,
        Id::NL,
        Id::BE,
        Id::AT,
        Id::CH,
        Id::ES,
        Id::IT,
        Id::PT,
        Id::IE,
        Id::SE,
        Id::AU,
        Id::NZ,
        Id::BR,
        Id::IN,
        Id::JP,
        Id::KR,
        Id::ZA,
        Id::TR,
    ]
};
/// The number `text` is, in the first plan it could belong to and is valid in: by its
/// country code; by its trunk 0 (the trunk 0 is what makes a national number
/// recognisable as one: without it, libphonenumber accepts most six- to eight-digit runs
/// somewhere); else as North American.
fn valid_phone(text: &str) -> Option<phonenumber::PhoneNumber> {
    use phonenumber::country::Id;
    let regions: &[Option<Id>] = if text.starts_with('+') {
        &[None]
    } else if text.starts_with('0') || text.starts_with("(0") {
        return TRUNK_ZERO_REGIONS.iter().find_map(|region| {
            phonenumber::parse(Some(*region), text).ok().filter(phonenumber::PhoneNumber::is_valid)
        });
    } else {
        &[Some(Id::US), Some(Id::CA)]
    };
    regions
        .iter()
        .find_map(|region| phonenumber::parse(*region, text).ok().filter(phonenumber::PhoneNumber::is_valid))
}
/// After a telephone word, a number valid in any plan it could belong to.
fn phone_in_context(text: &str) -> bool {
    valid_phone(text).is_some()
}
/// The E.164 form of a phone number the detectors accept (`+442079460958`), found the
/// way they validate it. One number written two ways (`+1 650-253-0000`,
/// `(650) 253-0000`) gives one form, so redaction gives it one placeholder.
#[must_use]
pub fn phone_e164(text: &str) -> Option<String> {
    valid_phone(text).map(|number| number.format().mode(phonenumber::Mode::E164).to_string())
}
fn email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else { return false };
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !domain.contains("..")
}

/// An `Authorization` header's credentials: Basic credentials (base64 of
/// `user:password`), or a bearer token that looks random (not a word, not a
/// placeholder).
fn auth_header_value(text: &str) -> bool {
    encoded_user_password(text)
        || (text.len() >= 16
            && text.bytes().any(|b| b.is_ascii_digit())
            && text.bytes().any(|b| b.is_ascii_alphabetic())
            && validate::shannon_entropy(text.as_bytes()) >= 3.0
            && not_placeholder(text))
}
/// Base64 of `user:password` with both parts present (Docker's `auths`, HTTP Basic).
fn encoded_user_password(text: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .is_some_and(|decoded| {
            decoded.split_once(':').is_some_and(|(user, password)| {
                !user.is_empty()
                    && !password.is_empty()
                    && !decoded.contains(char::is_control)
                    && not_placeholder(password)
            })
        })
}
/// Base64 of a PEM private key block (a kubeconfig's `client-key-data`).
fn encoded_private_key(text: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok_and(|bytes| bytes.starts_with(b"-----BEGIN") && bytes.windows(11).any(|w| w == b"PRIVATE KEY"))
}

/// A vendor credential in its published format: the prefix is the anchor, the whole
/// match is reported, placeholders are refused.
macro_rules! token {
    ($kind:literal, $name:literal, [$($literal:literal),*], $regex:literal) => {
        Pattern {
            entity: Entity::Token($kind),
            name: $name,
            literals: &[$($literal),*],
            regex: $regex,
            group: 0,
            boundary: key_chars,
            validate: not_placeholder,
            confidence: 0.95,
            decimal_guard: false,
        }
    };
}

mod credentials;
mod world_ids;

/// Every detector: the core ones below, vendor credentials, and more countries' ids.
fn all_patterns() -> impl Iterator<Item = &'static Pattern> {
    PATTERNS.iter().chain(credentials::CREDENTIALS).chain(world_ids::WORLD_IDS)
}

const PATTERNS: &[Pattern] = &[
    Pattern {
        entity: Entity::PrivateKey,
        name: "pem_private_key",
        literals: &["PRIVATE KEY-----", "PRIVATE KEY BLOCK-----"],
        // The header line; the block is extended to its END marker below.
        regex: r"-----BEGIN (?:[A-Z0-9]+ ){0,2}PRIVATE KEY(?: BLOCK)?-----",
        group: 0,
        boundary: none,
        validate: |_| true,
        confidence: 0.99,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::AwsAccessKeyId,
        name: "aws_access_key_id",
        literals: &["AKIA", "ASIA", "ABIA", "ACCA"],
        regex: r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        group: 0,
        boundary: base62,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::AwsSecretAccessKey,
        name: "aws_secret_access_key",
        literals: &["aws", "secretaccesskey", "secret_access_key", "secret-access-key"],
        regex: r#"(?i:aws[A-Za-z0-9_ .-]{0,30}?|secret_?access_?key|secret-access-key)[A-Za-z0-9_ .-]{0,20}?["']?\s*(?:[:=]|=>)?\s*["']?([A-Za-z0-9/+]{40})"#,
        group: 1,
        boundary: base64_chars,
        validate: aws_secret,
        confidence: 0.85,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::GithubToken,
        name: "github_token",
        literals: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        regex: r"gh[pousr]_[A-Za-z0-9]{36}",
        group: 0,
        boundary: key_chars,
        validate: github_token,
        confidence: 0.99,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::GithubToken,
        name: "github_fine_grained_pat",
        literals: &["github_pat_"],
        regex: r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.97,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::SlackWebhookUrl,
        name: "slack_webhook_url",
        literals: &["hooks.slack.com"],
        regex: r"https://hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{6,12}/[AB][A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
        group: 0,
        boundary: base62,
        validate: not_placeholder,
        confidence: 0.98,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::SlackToken,
        name: "slack_token",
        literals: &["xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxr-", "xoxs-", "xoxe-", "xoxe.", "xapp-"],
        // Bot, user, refresh (`xoxe.xoxp-1-…`, `xoxe-1-…`) and app-level (`xapp-1-…`) tokens.
        regex: r"(?:xoxe\.)?xox[abeoprs]-(?:[0-9]{1,14}-){1,3}[A-Za-z0-9-]{8,200}|xapp-[0-9]-[A-Z0-9]{8,14}-[0-9]{8,14}-[a-f0-9]{32,80}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::StripeKey,
        name: "stripe_secret_key",
        // Publishable keys (pk_) are public by design and are not reported.
        literals: &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        regex: r"[sr]k_(?:live|test)_[0-9A-Za-z]{20,255}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::GoogleApiKey,
        name: "google_api_key",
        literals: &["AIza"],
        regex: r"AIza[0-9A-Za-z_-]{35}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::AnthropicApiKey,
        name: "anthropic_api_key",
        literals: &["sk-ant-"],
        regex: r"sk-ant-(?:api|admin|oat|ort)[0-9]{2}-[A-Za-z0-9_-]{80,120}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.98,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::OpenaiApiKey,
        name: "openai_project_key",
        literals: &["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"],
        regex: r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,200}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::OpenaiApiKey,
        name: "openai_legacy_key",
        // "T3BlbkFJ" is base64 for "OpenAI", embedded in every legacy key.
        literals: &["T3BlbkFJ"],
        regex: r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}",
        group: 0,
        boundary: key_chars,
        validate: not_placeholder,
        confidence: 0.98,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::Jwt,
        name: "jwt",
        literals: &["eyJ"],
        regex: r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
        group: 0,
        boundary: key_chars,
        validate: validate::jwt,
        confidence: 0.97,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::DbConnectionString,
        name: "db_connection_url",
        literals: &["://"],
        regex: r"(?i:postgres(?:ql)?|mysql|mariadb|mongodb|rediss?|amqps?|mssql|sqlserver|oracle|cockroachdb)(?:\+[A-Za-z0-9]+)?://[^\s:/@]*:[^\s@/]+@[^\s/?#]+(?:/[^\s]*)?",
        group: 0,
        boundary: none,
        validate: db_url,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::Token("AZURE_STORAGE_KEY"),
        name: "azure_storage_account_key",
        literals: &["accountkey="],
        regex: r"(?i:AccountKey)=([A-Za-z0-9+/]{86}==)",
        group: 1,
        boundary: base64_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::GenericSecret,
        name: "generic_secret_assignment",
        literals: &["key", "secret", "token", "passphrase"],
        regex: r#"(?i:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?token|secret|token|passphrase)["']?\s*(?::=|=>|:|=)\s*["']?([A-Za-z0-9+/_.~=-]{16,})"#,
        group: 1,
        // Not `=`: it separates the key from the value, and pads base64 only at the end.
        boundary: |b| b.is_ascii_alphanumeric() || b"+/_.~-".contains(&b),
        validate: generic_secret,
        confidence: 0.8,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::GenericSecret,
        name: "password_assignment",
        literals: &["password", "passwd", "pwd"],
        // The key starts a word or follows `_`/`-` (`DB_PASSWORD`), so `OLDPWD` and
        // `NOPASSWD` are not keys.
        regex: r#"(?:^|[^A-Za-z0-9])(?i:password|passwd|pwd)["']?\s*(?::=|=>|:|=)\s*["']?([^\s"'`<>,;]{6,})"#,
        group: 1,
        boundary: |b| !(b.is_ascii_whitespace() || b"\"'`<>,;=:".contains(&b)),
        validate: password_value,
        confidence: 0.75,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::UkNino,
        name: "uk_nino_in_context",
        // No check digit: without a context word a part number (`HP123456A`) has the shape.
        literals: &["national insurance", "ni number", "ni no", "nino", "nin:", "nin "],
        regex: r"(?:(?i:national insurance(?: number| no\.?)?)|\bNI (?:number|no\.?)|\bNINO\b|\bNIN\b)[^A-Z0-9\n]{0,20}?([A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])",
        group: 1,
        boundary: base62,
        validate: validate::uk_nino,
        confidence: 0.85,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::EsNif,
        name: "es_dni_nie",
        literals: &[],
        regex: r"(?:[XYZ][0-9]{7}|[0-9]{8})-?[A-Z]",
        group: 0,
        boundary: base62,
        validate: validate::es_nif,
        confidence: 0.9,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::ItFiscalCode,
        name: "it_codice_fiscale",
        literals: &[],
        regex: r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]",
        group: 0,
        boundary: base62,
        validate: validate::it_fiscal_code,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::NlBsn,
        name: "nl_bsn_in_context",
        literals: &["bsn", "burgerservicenummer", "sofinummer"],
        regex: r"(?i:bsn|burgerservicenummer|sofinummer)[^0-9\n]{0,20}?([0-9]{4}\.?[0-9]{2}\.?[0-9]{3})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::nl_bsn,
        confidence: 0.85,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::InAadhaar,
        name: "in_aadhaar_in_context",
        // After a context word: Verhoeff passes one twelve-digit order number in ten.
        literals: &["aadhaar", "aadhar", "uidai", "आधार"],
        regex: r"(?:(?i:aadhaa?r|uidai)|आधार)[^0-9\n]{0,20}?([2-9][0-9]{3} ?[0-9]{4} ?[0-9]{4})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::in_aadhaar,
        confidence: 0.85,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::BrCpf,
        name: "br_cpf",
        literals: &[],
        regex: r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}",
        group: 0,
        boundary: digits_and_separators,
        validate: validate::br_cpf,
        confidence: 0.95,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::FrNir,
        name: "fr_nir",
        literals: &[],
        regex: r"[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}",
        group: 0,
        boundary: digits_and_separators,
        validate: validate::fr_nir,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::CaSin,
        name: "ca_sin_in_context",
        literals: &["sin:", "sin ", "sin#", "social insurance", "nas:", "nas "],
        // Upper-case SIN and NAS only: Spanish "sin" means "without".
        regex: r"(?:\bSIN\b|(?i:social insurance(?: number)?)|\bNAS\b)[^0-9\n]{0,20}?([0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::ca_sin,
        confidence: 0.85,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::UkNhs,
        name: "uk_nhs_in_context",
        // Ten digits grouped 3-3-4 is also a North American phone number: context only.
        literals: &["nhs"],
        regex: r"\bNHS\b(?:[^0-9\n]{0,20}?)([0-9]{3} ?[0-9]{3} ?[0-9]{4})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::uk_nhs,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::DeTaxId,
        name: "de_tax_id_in_context",
        literals: &["steuer", "identifikationsnummer", "idnr", "tax id"],
        regex: r"(?i:steuer-?id(?:entifikationsnummer)?|steueridentifikationsnummer|identifikationsnummer|\bidnr\b|tax id)[^0-9\n]{0,20}?([1-9][0-9](?: ?[0-9]){9})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::de_tax_id,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::PlPesel,
        name: "pl_pesel_in_context",
        literals: &["pesel"],
        regex: r"(?i:\bpesel\b)[^0-9\n]{0,20}?([0-9]{11})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::pl_pesel,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::SePersonnummer,
        name: "se_personnummer_in_context",
        literals: &["personnummer", "personnr", "samordningsnummer"],
        regex: r"(?i:personnummer|personnr|samordningsnummer)[^0-9\n]{0,20}?((?:19|20)?[0-9]{6}[-+ ]?[0-9]{4})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::se_personnummer,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::CnResidentId,
        name: "cn_resident_id",
        literals: &[],
        regex: r"[1-8][0-9]{16}[0-9Xx]",
        group: 0,
        boundary: base62,
        validate: validate::cn_resident_id,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::UsItin,
        name: "us_itin",
        literals: &[],
        regex: r"9[0-9]{2}[- ][5-9][0-9][- ][0-9]{4}",
        group: 0,
        boundary: digits_and_separators,
        validate: validate::us_itin,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::UsBankRouting,
        name: "us_bank_routing_in_context",
        literals: &["routing", "aba", "rtn"],
        regex: r"(?:(?i:routing(?: number| no\.?| #)?)|\bABA\b|\bRTN\b)[^0-9\n]{0,20}?([0-9]{9})",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::us_bank_routing,
        confidence: 0.85,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::Imei,
        name: "imei_in_context",
        literals: &["imei"],
        regex: r"(?i:\bimei\b)[^0-9\n]{0,20}?([0-9]{2}[ -]?[0-9]{6}[ -]?[0-9]{6}[ -]?[0-9])",
        group: 1,
        boundary: digits_and_separators,
        validate: validate::imei,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::PhoneNumber,
        name: "phone_international",
        literals: &["+"],
        regex: r"\+[1-9](?:[ .()-]{0,2}[0-9]){6,16}",
        group: 0,
        boundary: digits_and_separators,
        validate: international_phone,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::PhoneNumber,
        name: "phone_nanp",
        literals: &[],
        // The separators are required: a bare ten-digit run is an id as often as a phone.
        regex: r"(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}",
        group: 0,
        boundary: digits_and_separators,
        validate: nanp_phone,
        confidence: 0.85,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::PhoneNumber,
        name: "phone_national_in_context",
        // Not bare "tel" or "call": hotels, telemetry and callbacks are everywhere.
        literals: &[
            "phone",
            "tel:",
            "tel.",
            "tel ",
            "mobile",
            "cell",
            "fax",
            "whatsapp",
            "call me",
            "call us",
            "call on",
            "call at",
            "handy",
            "portable",
            "móvil",
            "MÓVIL",
            "telefon",
            "teléfono",
            "TELÉFONO",
            "téléphone",
            "TÉLÉPHONE",
        ],
        // Whole words only: "microphone", "hotel", "Intel" and "excellent" are not cues.
        regex: r"(?i:\b(?:phone|telephone|tel[:. ]|mobile|cell|fax|whatsapp|call (?:me|us|on|at)|handy|portable|móvil|telefon|teléfono|telefone|téléphone))[^0-9+\n]{0,20}?(\+?\(?[0-9]{1,4}\)?(?:[ .-]?[0-9]{2,4}){2,4})",
        group: 1,
        boundary: digits_and_separators,
        validate: phone_in_context,
        confidence: 0.8,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::EmailAddress,
        name: "email_address",
        literals: &["@"],
        // ASCII here keeps the search on the fast DFA (a Unicode class would not); an
        // internationalised local part (RFC 6531, `jürgen.müller@…`) is taken in whole by
        // `extend_local_part` after the match.
        regex: r"[A-Za-z0-9._%+-]{0,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}",
        group: 0,
        boundary: |b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' || b >= 0x80,
        validate: email,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::CreditCard,
        name: "credit_card",
        literals: &[],
        regex: r"[0-9](?:[ -]?[0-9]){11,18}",
        group: 0,
        boundary: digits_and_separators,
        validate: card,
        confidence: 0.99,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::UsSsn,
        name: "us_ssn",
        literals: &[],
        // Separated forms only: a bare nine-digit number is as likely an order number.
        regex: r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}",
        group: 0,
        boundary: digits_and_separators,
        validate: validate::us_ssn,
        confidence: 0.9,
        decimal_guard: true,
    },
    Pattern {
        entity: Entity::IbanCode,
        name: "iban",
        literals: &[],
        regex: r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}",
        group: 0,
        boundary: base62,
        validate: validate::iban,
        confidence: 0.99,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::IpAddress,
        name: "ipv4_address",
        literals: &[],
        regex: r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}",
        group: 0,
        boundary: ipv4_chars,
        validate: ipv4,
        confidence: 0.85,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::IpAddress,
        name: "ipv6_address",
        literals: &[":"],
        // Hex groups and colons, greedily; the standard library's parser decides.
        regex: r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}",
        group: 0,
        boundary: ipv6_chars,
        validate: ipv6,
        confidence: 0.85,
        decimal_guard: false,
    },
];

/// The length in bytes of the IBAN at the start of `candidate`: as many characters as
/// its country's IBAN has (single spaces between groups allowed), or `None`.
fn iban_span(candidate: &str) -> Option<usize> {
    let country = candidate.get(..2)?.to_ascii_uppercase();
    let wanted = validate::iban_length(&country)?;
    let mut seen = 0;
    for (index, byte) in candidate.bytes().enumerate() {
        if byte.is_ascii_alphanumeric() {
            seen += 1;
            if seen == wanted {
                return Some(index + 1);
            }
        } else if byte != b' ' {
            return None;
        }
    }
    None
}

/// A digit run continued by `.digit` on either side is part of a decimal or a dotted
/// number (`1234567890123.45`, `1.536-22-1412`), not a card or an SSN; a sentence's full
/// stop is not.
fn in_decimal(bytes: &[u8], start: usize, end: usize) -> bool {
    let before = start >= 2 && bytes[start - 1] == b'.' && bytes[start - 2].is_ascii_digit();
    let after = end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit();
    before || after
}

/// How far past a PEM header its END marker is looked for.
const PEM_BLOCK_LIMIT: usize = 16 * 1024;

struct Compiled {
    pattern: &'static Pattern,
    regex: Regex,
}

/// The compiled scanner: build once, share everywhere (`Send + Sync`, stateless).
pub struct PiiScanner {
    patterns: Vec<Compiled>,
    prefilter: AhoCorasick,
    /// For each prefilter literal, the pattern it anchors.
    literal_owner: Vec<usize>,
    /// The patterns without a literal (the number-shaped ones), as one set: a single
    /// pass over a text with digits says which of them need their own search.
    digit_set: RegexSet,
    /// For each member of `digit_set`, its index in `patterns`.
    digit_owner: Vec<usize>,
}

impl std::fmt::Debug for PiiScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiScanner").field("patterns", &self.patterns.len()).finish_non_exhaustive()
    }
}

impl Default for PiiScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl PiiScanner {
    /// Compiles every pattern.
    ///
    /// # Panics
    /// Never at run time: the patterns are constants, and a test compiles each one.
    #[must_use]
    pub fn new() -> Self {
        Self::with_entities(|_| true)
    }

    /// Compiles the detectors of the entities `wanted` accepts, and no others: a scanner
    /// for log lines that looks for credentials and e-mail addresses only skips the
    /// number-shaped detectors that every timestamp and id would set off.
    ///
    /// ```
    /// use guardrails::pii::{Entity, PiiScanner};
    ///
    /// let scanner = PiiScanner::with_entities(|e| e.is_secret() || e == Entity::EmailAddress);
    /// let found: Vec<_> = scanner.scan("card 4111 1111 1111 1111 for ada@example.com").iter().map(|f| f.entity).collect();
    /// assert_eq!(found, [Entity::EmailAddress]);
    /// ```
    ///
    /// # Panics
    /// Never at run time, as [`PiiScanner::new`].
    #[must_use]
    pub fn with_entities(wanted: impl Fn(Entity) -> bool) -> Self {
        let patterns: Vec<Compiled> = all_patterns()
            .filter(|pattern| wanted(pattern.entity))
            .map(|pattern| Compiled {
                pattern,
                // The patterns are fixed at compile time and tested; an error is a bug here.
                #[allow(clippy::expect_used)]
                regex: Regex::new(&ascii_word_boundaries(pattern.regex))
                    .expect("a built-in pattern compiles"),
            })
            .collect();
        let mut literals = Vec::new();
        let mut literal_owner = Vec::new();
        for (index, compiled) in patterns.iter().enumerate() {
            for literal in compiled.pattern.literals {
                literals.push(*literal);
                literal_owner.push(index);
            }
        }
        #[allow(clippy::expect_used)]
        // A DFA: with over a hundred anchors, most starting with common letters, the
        // default (a non-contiguous NFA here) stepped through prose noticeably slower.
        let prefilter = AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&literals)
            .expect("the literal set is small and fixed");
        let digit_owner: Vec<usize> =
            (0..patterns.len()).filter(|&index| patterns[index].pattern.literals.is_empty()).collect();
        #[allow(clippy::expect_used)]
        let digit_set = RegexSet::new(
            digit_owner.iter().map(|&index| ascii_word_boundaries(patterns[index].pattern.regex)),
        )
        .expect("the built-in patterns compile");
        Self { patterns, prefilter, literal_owner, digit_set, digit_owner }
    }

    /// Names of the detectors, for reports and documentation.
    pub fn detectors(&self) -> impl Iterator<Item = (&'static str, Entity)> + '_ {
        self.patterns.iter().map(|c| (c.pattern.name, c.pattern.entity))
    }

    /// Every finding in `text`, in order of position, without overlaps.
    #[must_use]
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        resolve_overlaps(self.scan_overlapping(text))
    }

    /// Every finding in `text`, overlapping ones included (a database URL and the IP
    /// address inside it both), in order of position. A policy must see them all: which
    /// one [`PiiScanner::scan`] keeps says nothing about which one the policy blocks.
    #[must_use]
    pub fn scan_overlapping(&self, text: &str) -> Vec<Finding> {
        // Which detectors to run, as bits: on the stack for the built-in set (a scan of
        // a short log value is otherwise dominated by allocating this).
        const INLINE_WORDS: usize = 4;
        let words = self.patterns.len().div_ceil(64);
        let mut inline = [0_u64; INLINE_WORDS];
        let mut spilled = Vec::new();
        let triggered: &mut [u64] = if words <= INLINE_WORDS {
            &mut inline[..words]
        } else {
            spilled.resize(words, 0);
            &mut spilled
        };
        let mut mark = |index: usize| {
            if let Some(word) = triggered.get_mut(index / 64) {
                *word |= 1 << (index % 64);
            }
        };
        for found in self.prefilter.find_overlapping_iter(text) {
            mark(self.literal_owner[found.pattern().as_usize()]);
        }
        if !self.digit_owner.is_empty() && text.bytes().any(|b| b.is_ascii_digit()) {
            for member in self.digit_set.matches(text).iter() {
                mark(self.digit_owner[member]);
            }
        }
        let mut findings = Vec::new();
        // Set bits only, in index order.
        for (word_index, &word) in triggered.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let index = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(compiled) = self.patterns.get(index) {
                    scan_pattern(text, compiled, &mut findings);
                }
            }
        }
        findings.sort_by_key(|f| (f.start, f.end));
        findings
    }
}

/// `\b` as an ASCII word boundary. A Unicode one sends the regex engines' lazy DFA to a
/// slower engine as soon as the text holds a non-ASCII character, and the set of
/// number-shaped patterns is searched over every text with a digit. The context words
/// are ASCII, or scripts without case and spaces where `\b` is not used.
fn ascii_word_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

/// True when `start..end` is glued to more of the pattern's token on either side (a
/// sentence's full stop does not glue; a `.digit` continuation does, for numbers).
fn glued(bytes: &[u8], pattern: &Pattern, start: usize, end: usize) -> bool {
    let continues_after = end < bytes.len()
        && (pattern.boundary)(bytes[end])
        && (bytes[end] != b'.' || bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric));
    (start > 0 && (pattern.boundary)(bytes[start - 1]))
        || continues_after
        || (pattern.decimal_guard && in_decimal(bytes, start, end))
}

/// One detector over the whole text. The search resumes after each accepted finding, or,
/// for a rejected greedy candidate that may hide a real one (an IBAN after an unknown
/// country code), one character later; every resumption makes progress, so the pass
/// stays linear.
fn scan_pattern(text: &str, compiled: &Compiled, findings: &mut Vec<Finding>) {
    let pattern = compiled.pattern;
    let bytes = text.as_bytes();
    let mut position = 0;
    // Headers inside a block already reported are not searched again.
    let mut pem_until = 0;
    while position <= text.len() {
        let Some(captures) = compiled.regex.captures_at(text, position) else { break };
        let Some(found) = captures.get(pattern.group) else { break };
        let whole = captures.get(0).map_or(found.end(), |m| m.end());
        let (start, mut end) = (found.start(), found.end());
        let mut next = whole.max(position + 1);
        let accept = |start: usize, end: usize, findings: &mut Vec<Finding>| {
            findings.push(Finding {
                entity: pattern.entity,
                start,
                end,
                confidence: pattern.confidence,
                detector: pattern.name,
            });
        };
        match pattern.entity {
            Entity::IbanCode => match iban_span(&text[start..end]) {
                Some(length)
                    if !glued(bytes, pattern, start, start + length)
                        && validate::iban(&text[start..start + length]) =>
                {
                    accept(start, start + length, findings);
                    next = start + length;
                }
                _ => next = start + 1,
            },
            Entity::CreditCard => {
                if !glued(bytes, pattern, start, end) && (pattern.validate)(&text[start..end]) {
                    accept(start, end, findings);
                } else {
                    // A card next to another number (a CVV, an expiry, a quantity): try the
                    // runs of whole digit groups inside the candidate.
                    for (s, e) in cards_within(bytes, start, end) {
                        accept(s, e, findings);
                    }
                }
            }
            Entity::PrivateKey if pattern.name == "putty_private_key" => {
                end = putty_block_end(text, end);
                accept(start, end, findings);
                next = end.max(position + 1);
            }
            Entity::PrivateKey if pattern.name == "pem_private_key" => {
                if start >= pem_until {
                    end = pem_block_end(text, found.as_str(), end);
                    pem_until = end;
                    accept(start, end, findings);
                    next = end.max(position + 1);
                }
            }
            Entity::EmailAddress => {
                let start = extend_local_part(text, start);
                if !glued(bytes, pattern, start, end) && (pattern.validate)(&text[start..end]) {
                    accept(start, end, findings);
                }
            }
            _ => {
                let version = pattern.name == "ipv4_address" && after_version_word(bytes, start);
                if !version && !glued(bytes, pattern, start, end) && (pattern.validate)(&text[start..end]) {
                    accept(start, end, findings);
                }
            }
        }
        // Resume on a character boundary.
        while next < text.len() && !text.is_char_boundary(next) {
            next += 1;
        }
        position = next;
    }
}

/// Where a PuTTY key whose header ends at `header_end` ends: at its `Private-MAC` line if
/// that comes within 80 lines, else after the last line that belongs to a key file (a
/// `Name: value` field or a base64 line), so a key pasted without its MAC is still
/// covered whole and redaction never runs on into unrelated text.
fn putty_block_end(text: &str, header_end: usize) -> usize {
    let mut end = header_end;
    let mut offset = header_end;
    for (index, line) in text[header_end..].split_inclusive('\n').take(81).enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        if content.starts_with("Private-MAC: ") {
            return offset + content.len();
        }
        let field = content.split_once(": ").is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')
        });
        let base64 = !content.is_empty()
            && content.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if field || base64 {
            end = offset + content.len();
        } else if index > 0 {
            // The rest of the header line (index 0) may be empty; any other line that is
            // not part of a key file ends it.
            break;
        }
        offset += line.len();
        if offset - header_end > PEM_BLOCK_LIMIT {
            break;
        }
    }
    end
}

/// Extends an e-mail match leftwards over the non-ASCII letters and digits of an
/// internationalised local part, so that redaction covers the whole address.
fn extend_local_part(text: &str, start: usize) -> usize {
    let mut extended = start;
    for (index, ch) in text[..start].char_indices().rev() {
        let local = ch.is_alphanumeric() || matches!(ch, '.' | '_' | '%' | '+' | '-');
        if !local || start - index > 256 {
            break;
        }
        extended = index;
    }
    extended
}

/// True when the dotted quad at `start` follows the word `v`, `ver` or `version` and a
/// space (any case; a `v` glued to the address is refused as a fragment already):
/// `version 1.0.0.0` is a version, not an address. A word that merely ends so
/// (`server 10.0.0.1`, `failover 10.0.0.2`) is not.
fn after_version_word(bytes: &[u8], start: usize) -> bool {
    let before = &bytes[..start];
    let word_starts_at = |len: usize| {
        before.len() >= len
            && (before.len() == len || !before[before.len() - len - 1].is_ascii_alphanumeric())
    };
    let lower = |suffix: &[u8]| {
        before.len() >= suffix.len() && before[before.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    (lower(b"version ") && word_starts_at(8))
        || (lower(b"ver ") && word_starts_at(4))
        || (lower(b"v ") && word_starts_at(2))
}

/// Valid card numbers made of whole digit groups of the candidate `start..end` (digits
/// separated by single spaces or dashes): the longest from each group on, without
/// overlaps, and not glued to a digit outside the candidate.
fn cards_within(bytes: &[u8], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut at = start;
    while at < end {
        let group_start = at;
        while at < end && bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at > group_start {
            groups.push((group_start, at));
        }
        at += 1;
    }
    if groups.len() < 2 {
        return Vec::new();
    }
    let free_before = |s: usize| s == 0 || !bytes[s - 1].is_ascii_digit();
    let free_after = |e: usize| e >= bytes.len() || !bytes[e].is_ascii_digit();
    let mut found = Vec::new();
    let mut i = 0;
    while i < groups.len() {
        let mut best = None;
        let mut digits = 0;
        for (j, group) in groups.iter().enumerate().skip(i) {
            digits += group.1 - group.0;
            if digits > 19 {
                break;
            }
            let (s, e) = (groups[i].0, group.1);
            if (12..=19).contains(&digits)
                && free_before(s)
                && free_after(e)
                && std::str::from_utf8(&bytes[s..e]).is_ok_and(card)
            {
                best = Some((j, s, e));
            }
        }
        match best {
            Some((j, s, e)) => {
                found.push((s, e));
                i = j + 1;
            }
            None => i += 1,
        }
    }
    found
}

/// The end of the PEM block whose header ends at `header_end`: its END line if it is
/// within 16 KiB; otherwise, so that redaction never leaves key material behind, the
/// run of base64 (and `Proc-Type:`/`DEK-Info:`) lines that follows the header.
fn pem_block_end(text: &str, header: &str, header_end: usize) -> usize {
    let kind = header.trim_start_matches("-----BEGIN ").trim_end_matches("-----");
    let marker = format!("-----END {kind}-----");
    let window_end = floor_char_boundary(text, header_end.saturating_add(PEM_BLOCK_LIMIT));
    let window = &text[header_end..window_end];
    if let Some(at) = window.find(&marker) {
        return header_end + at + marker.len();
    }
    let mut end = header_end;
    let mut offset = 0;
    for (n, line) in window.split_inclusive('\n').enumerate() {
        let body = line.trim();
        let key_line = body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            || body.starts_with("Proc-Type:")
            || body.starts_with("DEK-Info:");
        // The first piece is the rest of the header line itself.
        if n > 0 && (body.is_empty() || !key_line) {
            break;
        }
        offset += line.len();
        end = header_end + offset - (line.len() - line.trim_end().len());
    }
    end.max(header_end)
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Keeps, of overlapping findings, the secret over the PII, then the longer, then the
/// one that starts first.
pub(crate) fn resolve_overlaps(mut findings: Vec<Finding>) -> Vec<Finding> {
    // Secrets over PII, a vendor's format over the generic detector, then the longer.
    let rank = |f: &Finding| (f.entity.is_secret(), f.entity != Entity::GenericSecret, f.end - f.start);
    findings.sort_by(|a, b| rank(b).cmp(&rank(a)).then(a.start.cmp(&b.start)));
    // Kept spans never overlap, so a candidate only has to be checked against its two
    // neighbours by start: O(n log n) even for a megabyte of card numbers.
    let mut taken: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
    for finding in findings {
        let before = taken.range(..=finding.start).next_back().is_some_and(|(_, &end)| end > finding.start);
        let after = taken.range(finding.start..).next().is_some_and(|(&start, _)| start < finding.end);
        if !before && !after {
            taken.insert(finding.start, finding.end);
            kept.push(finding);
        }
    }
    kept.sort_by_key(|f| (f.start, f.end));
    kept
}

/// Converts byte offsets to character (Unicode code point) offsets, as the scanner
/// protocol's default `--offsets chars` expects.
#[must_use]
pub fn char_offsets(text: &str, findings: &[Finding]) -> Vec<(usize, usize)> {
    // Findings are in order: count each stretch once (linear, not findings × text).
    let (mut byte, mut chars) = (0, 0);
    let mut advance = |to: usize| {
        if to >= byte {
            chars += text.get(byte..to).map_or(0, |s| s.chars().count());
            byte = to;
            chars
        } else {
            text.get(..to).map_or(0, |s| s.chars().count())
        }
    };
    findings.iter().map(|f| (advance(f.start), advance(f.end))).collect()
}

#[cfg(test)]
mod tests;
