//! Signed checkpoints: Ed25519 signatures over (key id, tree size, root hash, time).
//!
//! A checkpoint commits the log to its first `size` entries. Verifying one needs only
//! the public key, so whoever holds the log files but not the signing key can neither
//! rewrite history nor cut the tail below a checkpoint without being detected.
//!
//! The signed message is plain text, so a verifier in any language can rebuild it:
//!
//! ```text
//! palisade-audit-checkpoint-v1\n
//! <key id>\n
//! <tree size, decimal>\n
//! <root hash, lowercase hex>\n
//! <timestamp, milliseconds since the Unix epoch, decimal>\n
//! ```
//!
//! Keys are stored in the standard PEM forms (`PRIVATE KEY` PKCS#8, `PUBLIC KEY`
//! SubjectPublicKeyInfo), so `openssl pkey -pubin -in checkpoint.pub -text` reads them.
//!
//! ```
//! use mcp_audit::checkpoint::{CheckpointSigner, CheckpointPublicKey};
//!
//! let signer = CheckpointSigner::generate().unwrap();
//! let checkpoint = signer.sign(3, [7; 32], 1_700_000_000_000);
//! let public = CheckpointPublicKey::from_pem(&signer.public_key().to_pem()).unwrap();
//! assert!(public.verify(&checkpoint).is_ok());
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::merkle::Hash;

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// A key could not be read or made, or a checkpoint did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The PEM text is not the expected kind or not valid base64.
    #[error("not a PEM {0} block")]
    BadPem(&'static str),
    /// The key bytes are not an Ed25519 key.
    #[error("not an Ed25519 key")]
    NotEd25519,
    /// The system random generator failed.
    #[error("could not generate a key")]
    Rng,
    /// The checkpoint names a different key.
    #[error("checkpoint signed by unknown key {0}")]
    UnknownKey(String),
    /// The signature does not match.
    #[error("bad checkpoint signature")]
    BadSignature,
    /// A field is malformed.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
}

/// One signed checkpoint, as stored (one JSON line each) and exported to witnesses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The signing key's id.
    pub key_id: String,
    /// The root hash of the first `size` entries, lowercase hex.
    pub root: String,
    /// The Ed25519 signature over [`Checkpoint::signed_message`], lowercase hex.
    pub signature: String,
    /// The tree size: how many entries the checkpoint covers.
    pub size: u64,
    /// When it was signed, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Format version (1).
    pub v: u32,
}

impl Checkpoint {
    /// The bytes the signature covers.
    #[must_use]
    pub fn signed_message(&self) -> String {
        signed_message(&self.key_id, self.size, &self.root, self.timestamp_ms)
    }

    /// The root hash.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] unless `root` is 64 hex digits.
    pub fn root_hash(&self) -> Result<Hash, CheckpointError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.root, &mut out).map_err(|_| CheckpointError::Malformed("root"))?;
        Ok(out)
    }

    /// The canonical JSON line (sorted keys, no whitespace).
    #[must_use]
    pub fn to_line(&self) -> String {
        // Fields are declared in sorted order and hold no maps: serde's output is canonical.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn signed_message(key_id: &str, size: u64, root_hex: &str, timestamp_ms: u64) -> String {
    format!("palisade-audit-checkpoint-v1\n{key_id}\n{size}\n{root_hex}\n{timestamp_ms}\n")
}

fn key_id_of(public: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    format!("e{}", hex::encode(&digest.as_ref()[..8]))
}

/// The private half: signs checkpoints. Keep it away from the log files.
pub struct CheckpointSigner {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    key_id: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A fresh key from the system's CSPRNG.
    ///
    /// # Errors
    /// [`CheckpointError::Rng`].
    pub fn generate() -> Result<Self, CheckpointError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| CheckpointError::Rng)?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A key from PKCS#8 DER (v1, as OpenSSL writes, or v2, as ring writes).
    ///
    /// # Errors
    /// [`CheckpointError::NotEd25519`].
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CheckpointError> {
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| CheckpointError::NotEd25519)?;
        let key_id = key_id_of(pair.public_key().as_ref());
        Ok(Self { pair, pkcs8: der.to_vec(), key_id })
    }

    /// A key from a PEM `PRIVATE KEY` block.
    ///
    /// # Errors
    /// [`CheckpointError::BadPem`] or [`CheckpointError::NotEd25519`].
    pub fn from_pem(pem: &str) -> Result<Self, CheckpointError> {
        Self::from_pkcs8(&pem_decode(pem, "PRIVATE KEY")?)
    }

    /// The key as a PEM `PRIVATE KEY` block (store it with mode 0600).
    #[must_use]
    pub fn to_pem(&self) -> String {
        pem_encode(&self.pkcs8, "PRIVATE KEY")
    }

    /// The key id written into each checkpoint.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> CheckpointPublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        CheckpointPublicKey { raw, key_id: self.key_id.clone() }
    }

    /// Signs a checkpoint over the first `size` entries.
    #[must_use]
    pub fn sign(&self, size: u64, root: Hash, timestamp_ms: u64) -> Checkpoint {
        let root = hex::encode(root);
        let message = signed_message(&self.key_id, size, &root, timestamp_ms);
        let signature = hex::encode(self.pair.sign(message.as_bytes()));
        Checkpoint { key_id: self.key_id.clone(), root, signature, size, timestamp_ms, v: 1 }
    }
}

/// The public half: verifies checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPublicKey {
    raw: [u8; 32],
    key_id: String,
}

impl CheckpointPublicKey {
    /// A key from its 32 raw bytes.
    #[must_use]
    pub fn from_raw(raw: [u8; 32]) -> Self {
        Self { key_id: key_id_of(&raw), raw }
    }

    /// A key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    ///
    /// # Errors
    /// [`CheckpointError::BadPem`] or [`CheckpointError::NotEd25519`].
    pub fn from_pem(pem: &str) -> Result<Self, CheckpointError> {
        let der = pem_decode(pem, "PUBLIC KEY")?;
        let raw = der
            .strip_prefix(&SPKI_PREFIX[..])
            .and_then(|rest| <[u8; 32]>::try_from(rest).ok())
            .ok_or(CheckpointError::NotEd25519)?;
        Ok(Self::from_raw(raw))
    }

    /// The key as a PEM `PUBLIC KEY` block.
    #[must_use]
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.raw);
        pem_encode(&der, "PUBLIC KEY")
    }

    /// The key id checkpoints signed by this key carry.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Checks a checkpoint's key id, format and signature.
    ///
    /// # Errors
    /// [`CheckpointError::UnknownKey`], [`CheckpointError::Malformed`] or
    /// [`CheckpointError::BadSignature`].
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        if checkpoint.key_id != self.key_id {
            return Err(CheckpointError::UnknownKey(checkpoint.key_id.clone()));
        }
        if checkpoint.v != 1 {
            return Err(CheckpointError::Malformed("version"));
        }
        checkpoint.root_hash()?;
        if checkpoint.root.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(CheckpointError::Malformed("root"));
        }
        let signature = hex::decode(&checkpoint.signature).map_err(|_| CheckpointError::BadSignature)?;
        UnparsedPublicKey::new(&ED25519, &self.raw)
            .verify(checkpoint.signed_message().as_bytes(), &signature)
            .map_err(|_| CheckpointError::BadSignature)
    }
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &str, label: &'static str) -> Result<Vec<u8>, CheckpointError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .ok_or(CheckpointError::BadPem(label))?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| CheckpointError::BadPem(label))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_round_trip_through_pem() {
        let signer = CheckpointSigner::generate().unwrap();
        let again = CheckpointSigner::from_pem(&signer.to_pem()).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
        let public = CheckpointPublicKey::from_pem(&signer.public_key().to_pem()).unwrap();
        assert_eq!(public, signer.public_key());
        assert!(
            CheckpointPublicKey::from_pem(&signer.to_pem()).is_err(),
            "a private key is not a public key"
        );
        assert!(
            CheckpointSigner::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }

    #[test]
    fn every_signed_field_is_bound() {
        let signer = CheckpointSigner::generate().unwrap();
        let public = signer.public_key();
        let good = signer.sign(10, [0xab; 32], 1000);
        assert_eq!(public.verify(&good), Ok(()));
        type Mutation = Box<dyn Fn(&mut Checkpoint)>;
        let mutations: Vec<(&str, Mutation)> = vec![
            ("size", Box::new(|c| c.size += 1)),
            ("timestamp", Box::new(|c| c.timestamp_ms -= 1)),
            ("root", Box::new(|c| c.root = hex::encode([4; 32]))),
            ("root case", Box::new(|c| c.root = c.root.to_uppercase())),
            ("signature", Box::new(|c| c.signature = c.signature.replace('a', "b").replace('0', "1"))),
            ("key id", Box::new(|c| c.key_id = "e0000000000000000".into())),
            ("version", Box::new(|c| c.v = 2)),
        ];
        for (what, mutate) in mutations {
            let mut bad = good.clone();
            mutate(&mut bad);
            assert!(public.verify(&bad).is_err(), "{what} was not bound");
        }
        let other = CheckpointSigner::generate().unwrap().public_key();
        assert!(matches!(other.verify(&good), Err(CheckpointError::UnknownKey(_))));
    }

    #[test]
    fn line_is_canonical_json() {
        let signer = CheckpointSigner::generate().unwrap();
        let checkpoint = signer.sign(1, [0; 32], 5);
        let line = checkpoint.to_line();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(identity_types::canonical_json(&value), line);
        assert_eq!(serde_json::from_str::<Checkpoint>(&line).unwrap(), checkpoint);
    }
}
