//! [`IsolationKey`]: the one partition key for every per-principal store.
//!
//! Conversation stores, caches, memories, rate limiters and state handles all partition
//! their data by this key, so there is exactly one derivation to get right. The derivation
//! is **injective**: two different (tenant, user, session) triples never give the same key,
//! whatever characters the ids contain. (A system we studied built its cache key by replacing
//! `:` with `_`, so `google:123` and `google_123` shared a partition and one user read the
//! other's cached answers.)
//!
//! # Encoding
//!
//! ```text
//! v1:u:<tenant>:<user>            an authenticated principal (tenant empty when absent)
//! v1:a:<peer ip>                  an anonymous caller, partitioned by peer address
//! <principal key>:s:<session>     a session of that principal
//! ```
//!
//! Each component is percent-encoded: every byte outside `A-Z a-z 0-9 . _ -` becomes `%XX`
//! (upper-case hex). Encoded components therefore never contain `:`, so the separators are
//! unambiguous, and percent-encoding is itself injective. A present tenant is never empty
//! ([`TenantId`] forbids it), so an empty tenant field means "no tenant" and nothing else.
//!
//! ```
//! use identity_types::{ClientId, IsolationKey, TenantId};
//!
//! let tenant = TenantId::new("acme")?;
//! let a = IsolationKey::for_principal(Some(&tenant), &ClientId::new("google:123")?);
//! let b = IsolationKey::for_principal(Some(&tenant), &ClientId::new("google_123")?);
//! assert_ne!(a, b);
//! assert_eq!(a.as_str(), "v1:u:acme:google%3A123");
//! # Ok::<(), identity_types::IdError>(())
//! ```

use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::ids::{ClientId, SessionId, TenantId};

/// The partition key of one principal, or of one session of one principal.
///
/// Build it from validated ids with [`IsolationKey::for_principal`] or
/// [`IsolationKey::anonymous`]; it cannot be built from an arbitrary string, so a store
/// can trust that a key it is handed was derived the one correct way.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsolationKey {
    encoded: Box<str>,
    /// Byte length of the principal part (everything before `:s:`).
    principal_len: usize,
}

const VERSION: &str = "v1";

fn push_component(out: &mut String, component: &str) {
    for byte in component.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

impl IsolationKey {
    /// The key of an authenticated principal, optionally within a tenant.
    #[must_use]
    pub fn for_principal(tenant: Option<&TenantId>, user: &ClientId) -> Self {
        let mut out = String::with_capacity(8 + user.as_str().len() + tenant.map_or(0, |t| t.as_str().len()));
        out.push_str(VERSION);
        out.push_str(":u:");
        if let Some(tenant) = tenant {
            push_component(&mut out, tenant.as_str());
        }
        out.push(':');
        push_component(&mut out, user.as_str());
        Self::from_principal(out)
    }

    /// The key of an anonymous caller: partitioned by peer address, never one shared
    /// bucket for all anonymous callers, and never equal to any authenticated principal's.
    ///
    /// IPv6 peers are keyed by their /64 prefix: one subscriber usually holds a whole /64,
    /// and keying by full address would let them mint a fresh bucket per request.
    #[must_use]
    pub fn anonymous(peer: IpAddr) -> Self {
        let mut out = String::with_capacity(48);
        out.push_str(VERSION);
        out.push_str(":a:");
        // Normalise IPv4-mapped IPv6 so one client cannot get two buckets.
        let peer = match peer {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            },
            v4 => v4,
        };
        push_component(&mut out, &peer.to_string());
        Self::from_principal(out)
    }

    fn from_principal(encoded: String) -> Self {
        let principal_len = encoded.len();
        Self { encoded: encoded.into_boxed_str(), principal_len }
    }

    /// The key of one session of this principal. Replaces any session already present.
    #[must_use]
    pub fn with_session(&self, session: &SessionId) -> Self {
        let principal = self.principal_str();
        let mut out = String::with_capacity(principal.len() + 3 + session.as_str().len());
        out.push_str(principal);
        out.push_str(":s:");
        // Session ids are base64url, which needs no escaping; encode anyway so the
        // injectivity argument does not depend on another type's alphabet.
        push_component(&mut out, session.as_str());
        Self { encoded: out.into_boxed_str(), principal_len: self.principal_len }
    }

    /// The principal's key without any session part.
    #[must_use]
    pub fn principal(&self) -> Self {
        Self::from_principal(self.principal_str().to_owned())
    }

    /// True when this key names a session rather than a whole principal.
    #[must_use]
    pub fn has_session(&self) -> bool {
        self.encoded.len() != self.principal_len
    }

    /// True for keys made by [`IsolationKey::anonymous`].
    #[must_use]
    pub fn is_anonymous(&self) -> bool {
        self.encoded.starts_with("v1:a:")
    }

    /// The encoded key, e.g. `v1:u:acme:alice`. Safe as a Redis key prefix, a SQL text
    /// value or a map key. It contains the ids in recoverable form: for logs use a
    /// [`PrivacyId`](crate::PrivacyId) instead.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// The encoded tenant component (`acme` in `v1:u:acme:alice`): empty when the principal
    /// has no tenant, and for anonymous keys. Stores that keep a tenant column beside the
    /// owner (e.g. for a row-level security policy on both) take it from here, so the two
    /// can never disagree.
    #[must_use]
    pub fn tenant_component(&self) -> &str {
        if self.is_anonymous() {
            return "";
        }
        // `v1:u:<tenant>:<user>`: components never contain `:` (see the module docs).
        self.principal_str().split(':').nth(2).unwrap_or("")
    }

    fn principal_str(&self) -> &str {
        &self.encoded[..self.principal_len]
    }
}

impl fmt::Display for IsolationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

impl fmt::Debug for IsolationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IsolationKey({:?})", &*self.encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_component(s: &str) -> Vec<u8> {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn tenant_component_table() {
        let user = ClientId::new("a:b").expect("valid");
        let cases: &[(Option<&str>, &str)] =
            &[(Some("acme"), "acme"), (Some("a:c me"), "a%3Ac%20me"), (None, "")];
        for (tenant, expected) in cases {
            let tenant = tenant.map(|t| TenantId::new(t).expect("valid"));
            let key = IsolationKey::for_principal(tenant.as_ref(), &user);
            assert_eq!(key.tenant_component(), *expected);
            let session = SessionId::new("AAAAAAAAAAAAAAAAAAAA").expect("valid");
            assert_eq!(key.with_session(&session).tenant_component(), *expected);
        }
        assert_eq!(IsolationKey::anonymous("192.0.2.1".parse().expect("ip")).tenant_component(), "");
    }

    /// Decodes a principal key back into (tenant, user): the existence of this inverse is
    /// what makes the encoding injective.
    fn decode(key: &IsolationKey) -> (Option<String>, String, Option<String>) {
        let parts: Vec<&str> = key.as_str().split(':').collect();
        assert_eq!(parts[0], "v1");
        assert_eq!(parts[1], "u");
        let tenant =
            (!parts[2].is_empty()).then(|| String::from_utf8(decode_component(parts[2])).expect("utf8"));
        let user = String::from_utf8(decode_component(parts[3])).expect("utf8");
        let session = match parts.len() {
            4 => None,
            6 => {
                assert_eq!(parts[4], "s");
                Some(String::from_utf8(decode_component(parts[5])).expect("utf8"))
            }
            n => panic!("unexpected component count {n} in {key}"),
        };
        (tenant, user, session)
    }

    // Ids drawn from an alphabet rich in separators and escapes, to hunt for collisions.
    fn id_strategy() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-c:_%.\\-/ é€😀]{1,12}").expect("regex")
    }

    fn session_strategy() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(proptest::string::string_regex("[A-Za-z0-9_-]{16,20}").expect("regex"))
    }

    fn key_of(tenant: &Option<String>, user: &str, session: &Option<String>) -> IsolationKey {
        let tenant = tenant.as_ref().map(|t| TenantId::new(t.as_str()).expect("tenant"));
        let user = ClientId::new(user).expect("user");
        let key = IsolationKey::for_principal(tenant.as_ref(), &user);
        match session {
            Some(s) => key.with_session(&SessionId::new(s.as_str()).expect("session")),
            None => key,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn encoding_round_trips(tenant in proptest::option::of(id_strategy()), user in id_strategy(), session in session_strategy()) {
            let key = key_of(&tenant, &user, &session);
            prop_assert_eq!(decode(&key), (tenant, user, session));
        }

        #[test]
        fn distinct_inputs_give_distinct_keys(
            a in (proptest::option::of(id_strategy()), id_strategy(), session_strategy()),
            b in (proptest::option::of(id_strategy()), id_strategy(), session_strategy()),
        ) {
            let ka = key_of(&a.0, &a.1, &a.2);
            let kb = key_of(&b.0, &b.1, &b.2);
            prop_assert_eq!(a == b, ka == kb, "{:?} vs {:?} gave {} and {}", a, b, ka, kb);
        }
    }

    #[test]
    fn known_collision_pairs_stay_apart() {
        type Principal<'a> = (Option<&'a str>, &'a str);
        let cases: &[(Principal<'_>, Principal<'_>)] = &[
            ((None, "google:123"), (None, "google_123")),
            ((Some("a"), "b:c"), (Some("a:b"), "c")),
            ((None, "a"), (Some("a"), "a")),
            ((Some("t"), "u%3A"), (Some("t"), "u:")),
            ((None, "x"), (Some("-"), "x")),
        ];
        for ((t1, u1), (t2, u2)) in cases {
            let k1 = key_of(&t1.map(str::to_owned), u1, &None);
            let k2 = key_of(&t2.map(str::to_owned), u2, &None);
            assert_ne!(k1, k2, "{k1} vs {k2}");
        }
    }

    #[test]
    fn anonymous_keys_never_equal_principal_keys() {
        let anon = IsolationKey::anonymous("127.0.0.1".parse().expect("ip"));
        assert_eq!(anon.as_str(), "v1:a:127.0.0.1");
        assert!(anon.is_anonymous());
        let user = IsolationKey::for_principal(None, &ClientId::new("127.0.0.1").expect("id"));
        assert_ne!(anon, user);
        let mapped = IsolationKey::anonymous("::ffff:127.0.0.1".parse().expect("ip"));
        assert_eq!(anon, mapped);
        let a = IsolationKey::anonymous("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = IsolationKey::anonymous("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let c = IsolationKey::anonymous("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b, "one /64, one bucket");
        assert_ne!(a, c);
        assert_eq!(a.as_str(), "v1:a:2001%3Adb8%3A1%3A2%3A%3A");
    }

    #[test]
    fn session_part_can_be_replaced_and_removed() {
        let user = key_of(&Some("acme".into()), "alice", &None);
        let s1 = SessionId::new("AAAAAAAAAAAAAAAA").expect("sid");
        let s2 = SessionId::new("BBBBBBBBBBBBBBBB").expect("sid");
        let k1 = user.with_session(&s1);
        assert!(k1.has_session());
        assert_eq!(k1.as_str(), "v1:u:acme:alice:s:AAAAAAAAAAAAAAAA");
        assert_eq!(k1.with_session(&s2), user.with_session(&s2));
        assert_eq!(k1.principal(), user);
        assert!(!user.has_session());
    }
}
