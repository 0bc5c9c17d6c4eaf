//! The HMAC chain: each record's MAC commits to the previous record's MAC, so no record
//! can be changed, dropped or moved without breaking every MAC after it, for anyone
//! who holds the key.
//!
//! ```text
//! mac(seq) = HMAC-SHA256(key[kid], "palisade-audit-chain-v1" ‖ 0x00 ‖ mac(seq-1) ‖ seq (u64 BE) ‖ entry bytes)
//! mac(-1)  = 32 zero bytes
//! ```
//!
//! Keys rotate: every record names its key id (`kid`), and a [`HmacKeyring`] holds the
//! active key plus any older ones still needed to verify. A key id is derived from the
//! key itself (a truncated SHA-256 under a domain label), so ids never collide by
//! accident and a verifier given the wrong key reports an unknown key rather than a
//! flood of bad MACs.

use std::collections::HashMap;
use std::fmt;

use ring::digest::{Context, SHA256};
use ring::hmac;

use crate::merkle::Hash;

/// Keys shorter than this are refused: HMAC-SHA256 wants at least 256 bits.
pub const MIN_KEY_BYTES: usize = 32;

const DOMAIN: &[u8] = b"palisade-audit-chain-v1\0";

/// The MAC that precedes the first record.
pub const GENESIS_MAC: Hash = [0; 32];

/// An HMAC key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainKeyError {
    /// The key is too short.
    #[error("HMAC keys must be at least {MIN_KEY_BYTES} bytes, got {0}")]
    TooShort(usize),
    /// No keys were given.
    #[error("no HMAC key given")]
    Empty,
}

/// One HMAC key with its derived id.
#[derive(Clone)]
pub struct ChainKey {
    id: String,
    key: hmac::Key,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl ChainKey {
    /// A key from its bytes.
    ///
    /// # Errors
    /// [`ChainKeyError::TooShort`] under [`MIN_KEY_BYTES`].
    pub fn new(secret: &[u8]) -> Result<Self, ChainKeyError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(ChainKeyError::TooShort(secret.len()));
        }
        let mut ctx = Context::new(&SHA256);
        ctx.update(b"palisade-audit-chain-key-id\0");
        ctx.update(secret);
        let id = format!("h{}", hex::encode(&ctx.finish().as_ref()[..8]));
        Ok(Self { id, key: hmac::Key::new(hmac::HMAC_SHA256, secret) })
    }

    /// The key id recorded in each record.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The MAC of one record.
    #[must_use]
    pub fn mac(&self, prev: &Hash, seq: u64, entry: &[u8]) -> Hash {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(DOMAIN);
        ctx.update(prev);
        ctx.update(&seq.to_be_bytes());
        ctx.update(entry);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether `mac` is the MAC of this record (constant time).
    #[must_use]
    pub fn check(&self, prev: &Hash, seq: u64, entry: &[u8], mac: &Hash) -> bool {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(DOMAIN);
        ctx.update(prev);
        ctx.update(&seq.to_be_bytes());
        ctx.update(entry);
        // Constant time: the difference is accumulated over every byte before it is read.
        let diff = ctx.sign().as_ref().iter().zip(mac).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// The active key for writing, plus older keys for verifying.
#[derive(Debug, Clone)]
pub struct HmacKeyring {
    active: ChainKey,
    by_id: HashMap<String, ChainKey>,
}

impl HmacKeyring {
    /// A keyring whose first key is the active one.
    ///
    /// # Errors
    /// A key too short, or no key.
    pub fn new<I, K>(keys: I) -> Result<Self, ChainKeyError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let mut keys = keys.into_iter().map(|k| ChainKey::new(k.as_ref()));
        let active = keys.next().ok_or(ChainKeyError::Empty)??;
        let mut by_id = HashMap::new();
        by_id.insert(active.id.clone(), active.clone());
        for key in keys {
            let key = key?;
            by_id.insert(key.id.clone(), key);
        }
        Ok(Self { active, by_id })
    }

    /// Parses keys from text: one or more secrets separated by commas, each used as
    /// its UTF-8 bytes (the form `--hmac-key-env` and the example's key file take).
    ///
    /// # Errors
    /// As [`HmacKeyring::new`].
    pub fn from_text(text: &str) -> Result<Self, ChainKeyError> {
        Self::new(text.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }

    /// The key new records are written with.
    #[must_use]
    pub fn active(&self) -> &ChainKey {
        &self.active
    }

    /// The key with this id, if the ring holds it.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&ChainKey> {
        self.by_id.get(id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const K1: &[u8] = b"0123456789abcdef0123456789abcdef";
    const K2: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(ChainKey::new(b"short").unwrap_err(), ChainKeyError::TooShort(5));
        assert_eq!(HmacKeyring::from_text(" , ").unwrap_err(), ChainKeyError::Empty);
    }

    #[test]
    fn every_input_is_bound() {
        let key = ChainKey::new(K1).unwrap();
        let mac = key.mac(&GENESIS_MAC, 7, b"{}");
        assert!(key.check(&GENESIS_MAC, 7, b"{}", &mac));
        assert!(!key.check(&[1; 32], 7, b"{}", &mac), "previous MAC");
        assert!(!key.check(&GENESIS_MAC, 8, b"{}", &mac), "sequence number");
        assert!(!key.check(&GENESIS_MAC, 7, b"{ }", &mac), "entry bytes");
        assert!(!ChainKey::new(K2).unwrap().check(&GENESIS_MAC, 7, b"{}", &mac), "key");
    }

    #[test]
    fn keyring_finds_old_keys_by_id() {
        let ring = HmacKeyring::new([K2, K1]).unwrap();
        let old = ChainKey::new(K1).unwrap();
        assert_eq!(ring.active().id(), ChainKey::new(K2).unwrap().id());
        assert!(ring.get(old.id()).is_some());
        assert_ne!(old.id(), ring.active().id());
        assert!(format!("{:?}", ring).contains(old.id()), "ids are not secret");
        assert!(!format!("{:?}", ring).contains("0123456789"), "keys are");
    }
}
