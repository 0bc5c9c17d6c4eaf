//! Redaction with typed placeholders that stay consistent within one conversation.
//!
//! The same e-mail address becomes `[EMAIL_1]` every time it appears in one
//! conversation, a different one `[EMAIL_2]`, so the model can still tell the people in
//! a thread apart without seeing who they are. The mapping ([`Placeholders`]) is one per
//! conversation, safe to share between threads (one mutex; a peer's placeholder vault was
//! not thread-safe), bounded, and never holds a raw value: values are keyed by an HMAC
//! under a random key that lives only in memory.
//!
//! ```
//! use guardrails::pii::PiiScanner;
//! use guardrails::redact::{Placeholders, redact};
//!
//! let scanner = PiiScanner::new();
//! let conversation = Placeholders::new()?;
//! let first = "Write to ann@example.com and bob@example.org.";
//! let second = "Did ann@example.com answer?";
//! assert_eq!(redact(first, &scanner.scan(first), &conversation).text, "Write to [EMAIL_1] and [EMAIL_2].");
//! assert_eq!(redact(second, &scanner.scan(second), &conversation).text, "Did [EMAIL_1] answer?");
//! # Ok::<(), guardrails::redact::RandomnessUnavailable>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::pii::{Entity, Finding};

/// The operating system's random number generator failed; no mapping can be keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator is unavailable")]
pub struct RandomnessUnavailable;

/// Distinct values one conversation numbers before falling back to unnumbered
/// placeholders (still redacted, no longer told apart).
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
struct Numbering {
    by_value: HashMap<(Entity, [u8; 32]), u32>,
    next: HashMap<&'static str, u32>,
}

/// One conversation's placeholder numbering. See the module docs.
pub struct Placeholders {
    key: hmac::Key,
    capacity: usize,
    numbering: Mutex<Numbering>,
}

impl std::fmt::Debug for Placeholders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placeholders").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl Placeholders {
    /// A fresh numbering with [`DEFAULT_CAPACITY`].
    ///
    /// # Errors
    /// [`RandomnessUnavailable`].
    pub fn new() -> Result<Self, RandomnessUnavailable> {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A fresh numbering that numbers at most `capacity` distinct values.
    ///
    /// # Errors
    /// [`RandomnessUnavailable`].
    pub fn with_capacity(capacity: usize) -> Result<Self, RandomnessUnavailable> {
        let mut secret = [0u8; 32];
        SystemRandom::new().fill(&mut secret).map_err(|_| RandomnessUnavailable)?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            capacity,
            numbering: Mutex::new(Numbering::default()),
        })
    }

    /// The placeholder for `value` of type `entity`: `[EMAIL_3]`, the same for the same
    /// value every time, however it is written (`4111 1111 1111 1111` and
    /// `4111111111111111`, `Ann@Example.com` and `ann@example.com` are one value).
    #[must_use]
    pub fn placeholder(&self, entity: Entity, value: &str) -> String {
        let label = entity.label();
        let canonical = canonical(entity, value);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(hmac::sign(&self.key, canonical.as_bytes()).as_ref());
        // Every mutation below is a single insert; a panic elsewhere cannot leave the
        // numbering inconsistent, so a poisoned lock is still sound.
        let mut numbering = self.numbering.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&n) = numbering.by_value.get(&(entity, digest)) {
            return format!("[{label}_{n}]");
        }
        if numbering.by_value.len() >= self.capacity {
            return format!("[{label}]");
        }
        let next = numbering.next.entry(label).or_insert(0);
        *next += 1;
        let n = *next;
        numbering.by_value.insert((entity, digest), n);
        format!("[{label}_{n}]")
    }
}

/// One spelling per value: digits only for numbers, upper-case alphanumerics for IBANs,
/// lower case for e-mail addresses, the parsed form for IP addresses.
fn canonical(entity: Entity, value: &str) -> String {
    match entity {
        Entity::CreditCard | Entity::UsSsn => value.chars().filter(char::is_ascii_digit).collect(),
        Entity::PhoneNumber => crate::pii::phone_e164(value)
            .unwrap_or_else(|| value.chars().filter(char::is_ascii_digit).collect()),
        // Base58 is case-sensitive: the address is its own spelling.
        Entity::PersonalId("CRYPTO_WALLET") => value.to_owned(),
        // IBANs and national ids: separators and case are spelling, not identity.
        Entity::IbanCode
        | Entity::UkNino
        | Entity::EsNif
        | Entity::ItFiscalCode
        | Entity::NlBsn
        | Entity::InAadhaar
        | Entity::BrCpf
        | Entity::FrNir
        | Entity::CaSin
        | Entity::UkNhs
        | Entity::DeTaxId
        | Entity::PlPesel
        | Entity::SePersonnummer
        | Entity::CnResidentId
        | Entity::UsItin
        | Entity::UsBankRouting
        | Entity::Imei
        | Entity::PersonalId(_) => {
            value.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
        }
        Entity::EmailAddress => value.to_lowercase(),
        Entity::IpAddress => {
            value.parse::<std::net::IpAddr>().map_or_else(|_| value.to_owned(), |ip| ip.to_string())
        }
        _ => value.to_owned(),
    }
}

/// A redacted text and what was taken out of it (types and counts, never values: safe
/// to put in an audit entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every finding replaced by its placeholder.
    pub text: String,
    /// Findings replaced, by protocol type name.
    pub counts: BTreeMap<&'static str, usize>,
}

/// Replaces every finding in `text` with its placeholder. `findings` must come from
/// scanning this `text` (in order, without overlaps, as [`PiiScanner::scan`] returns
/// them); any that do not fit are skipped rather than trusted.
///
/// [`PiiScanner::scan`]: crate::pii::PiiScanner::scan
#[must_use]
pub fn redact(text: &str, findings: &[Finding], placeholders: &Placeholders) -> Redacted {
    let mut out = String::with_capacity(text.len());
    let mut counts = BTreeMap::new();
    let mut copied = 0;
    for finding in findings {
        let fits = finding.start >= copied
            && finding.start < finding.end
            && finding.end <= text.len()
            && text.is_char_boundary(finding.start)
            && text.is_char_boundary(finding.end);
        if !fits {
            continue;
        }
        out.push_str(&text[copied..finding.start]);
        out.push_str(&placeholders.placeholder(finding.entity, &text[finding.start..finding.end]));
        *counts.entry(finding.entity.name()).or_insert(0) += 1;
        copied = finding.end;
    }
    out.push_str(&text[copied..]);
    Redacted { text: out, counts }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::pii::PiiScanner;

    #[test]
    fn consistent_within_a_conversation_and_distinct_across() {
        let scanner = PiiScanner::new();
        let one = Placeholders::new().unwrap();
        let text = "ann@example.com paid with 4111 1111 1111 1111; cc bob@example.org and ann@example.com";
        let redacted = redact(text, &scanner.scan(text), &one);
        assert_eq!(redacted.text, "[EMAIL_1] paid with [CARD_1]; cc [EMAIL_2] and [EMAIL_1]");
        assert_eq!(redacted.counts, BTreeMap::from([("CREDIT_CARD", 1), ("EMAIL_ADDRESS", 3)]));
        assert!(!format!("{one:?}").contains("ann"), "no value is kept or printed");
        // Another conversation numbers afresh, in its own order.
        let two = Placeholders::new().unwrap();
        let text = "bob@example.org first";
        assert_eq!(redact(text, &scanner.scan(text), &two).text, "[EMAIL_1] first");
    }

    #[test]
    fn one_numbering_shared_by_threads_stays_consistent() {
        let placeholders = std::sync::Arc::new(Placeholders::new().unwrap());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let placeholders = std::sync::Arc::clone(&placeholders);
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| {
                            let value = format!("user{}@example.com", (i * 7 + t) % 50);
                            (value.clone(), placeholders.placeholder(Entity::EmailAddress, &value))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen: HashMap<String, String> = HashMap::new();
        for handle in handles {
            for (value, placeholder) in handle.join().unwrap() {
                let previous = seen.entry(value.clone()).or_insert_with(|| placeholder.clone());
                assert_eq!(*previous, placeholder, "{value} got two placeholders");
            }
        }
        let mut numbers: Vec<u32> = seen
            .values()
            .map(|p| p.trim_start_matches("[EMAIL_").trim_end_matches(']').parse().unwrap())
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=50).collect::<Vec<_>>(), "50 values, numbered 1..=50 without gaps");
    }

    #[test]
    fn one_value_written_two_ways_is_one_placeholder() {
        let p = Placeholders::new().unwrap();
        let pairs = [
            (Entity::CreditCard, "4111 1111 1111 1111", "4111111111111111"),
            (Entity::EmailAddress, "Ann@Example.com", "ann@example.com"),
            (Entity::IbanCode, "gb82 west 1234 5698 7654 32", "GB82WEST12345698765432"),
            (Entity::IpAddress, "2001:db8:0:0:0:0:0:1", "2001:db8::1"),
            (Entity::PhoneNumber, "+1 650-253-0000", "(650) 253-0000"),
            (Entity::PhoneNumber, "+44 20 7946 0958", "020 7946 0958"),
            (Entity::UkNino, "AB 12 34 56 C", "ab123456c"),
            (Entity::BrCpf, "111.444.777-35", "11144477735"),
        ];
        for (entity, a, b) in pairs {
            assert_eq!(p.placeholder(entity, a), p.placeholder(entity, b), "{a} / {b}");
        }
        assert_ne!(
            p.placeholder(Entity::EmailAddress, "ann@example.com"),
            p.placeholder(Entity::EmailAddress, "bob@example.com")
        );
    }

    #[test]
    fn capacity_bounds_the_mapping_and_redaction_continues() {
        let placeholders = Placeholders::with_capacity(2).unwrap();
        assert_eq!(placeholders.placeholder(Entity::IpAddress, "10.0.0.1"), "[IP_1]");
        assert_eq!(placeholders.placeholder(Entity::IpAddress, "10.0.0.2"), "[IP_2]");
        assert_eq!(placeholders.placeholder(Entity::IpAddress, "10.0.0.3"), "[IP]");
        assert_eq!(placeholders.placeholder(Entity::IpAddress, "10.0.0.1"), "[IP_1]");
    }

    #[test]
    fn findings_that_do_not_fit_the_text_are_skipped() {
        let placeholders = Placeholders::new().unwrap();
        let bogus = [
            Finding { entity: Entity::Jwt, start: 5, end: 3, confidence: 1.0, detector: "test" },
            Finding { entity: Entity::Jwt, start: 0, end: 99, confidence: 1.0, detector: "test" },
            Finding { entity: Entity::Jwt, start: 1, end: 2, confidence: 1.0, detector: "test" },
        ];
        let text = "é!";
        let redacted = redact(text, &bogus, &placeholders);
        assert_eq!(redacted.text, "é!", "a span inside a character is not cut");
        assert!(redacted.counts.is_empty());
    }
}
