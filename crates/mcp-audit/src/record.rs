//! The stored form of one entry: a JSON line.
//!
//! ```text
//! {"entry":<canonical event JSON>,"kid":"<chain key id>","mac":"<hex>","seq":<n>,"v":1}
//! ```
//!
//! Keys are in sorted order and the entry is canonical, so the whole line is canonical
//! JSON. The Merkle leaf is `SHA-256(0x00 ‖ line)` over the line's bytes without its
//! newline; the chain MAC covers the entry bytes (see [`crate::chain`]).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::chain::ChainKey;
use crate::merkle::{Hash, leaf_hash};

/// Record format version.
pub const RECORD_VERSION: u32 = 1;

/// A record built by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    /// The sequence number.
    pub seq: u64,
    /// The JSON line, without its newline.
    pub line: String,
    /// The chain MAC.
    pub mac: Hash,
    /// The Merkle leaf hash of the line.
    pub leaf: Hash,
}

/// Builds the record for `entry` (canonical JSON) at `seq`, chained after `prev`.
#[must_use]
pub fn encode(entry: &str, seq: u64, key: &ChainKey, prev: &Hash) -> EncodedRecord {
    let mac = key.mac(prev, seq, entry.as_bytes());
    let line = format!(
        r#"{{"entry":{entry},"kid":"{kid}","mac":"{mac}","seq":{seq},"v":{RECORD_VERSION}}}"#,
        kid = key.id(),
        mac = hex::encode(mac),
    );
    let leaf = leaf_hash(line.as_bytes());
    EncodedRecord { seq, line, mac, leaf }
}

/// A record read back, borrowing from its line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRef<'a> {
    /// The entry's bytes exactly as stored.
    #[serde(borrow)]
    pub entry: &'a RawValue,
    /// The chain key id.
    pub kid: &'a str,
    /// The chain MAC, hex.
    pub mac: &'a str,
    /// The sequence number.
    pub seq: u64,
    /// Format version.
    pub v: u32,
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of the record's shape.
    #[error("not a record: {0}")]
    Shape(String),
    /// An unknown format version.
    #[error("unknown record version {0}")]
    Version(u32),
    /// The MAC is not 64 hex digits.
    #[error("malformed MAC")]
    Mac,
}

impl<'a> RecordRef<'a> {
    /// Parses one line (without its newline).
    ///
    /// # Errors
    /// [`RecordError`] when the line is not a version-1 record.
    pub fn parse(line: &'a [u8]) -> Result<Self, RecordError> {
        let record: Self = serde_json::from_slice(line).map_err(|e| RecordError::Shape(e.to_string()))?;
        if record.v != RECORD_VERSION {
            return Err(RecordError::Version(record.v));
        }
        // Sequence numbers fit a signed 64-bit column (Postgres BIGINT) and leave room
        // for `seq + 1` everywhere.
        if i64::try_from(record.seq).is_err() {
            return Err(RecordError::Shape(format!("seq {} is out of range", record.seq)));
        }
        if !record.entry.get().starts_with('{') {
            return Err(RecordError::Shape("entry is not an object".into()));
        }
        Ok(record)
    }

    /// The MAC's bytes.
    ///
    /// # Errors
    /// [`RecordError::Mac`].
    pub fn mac_bytes(&self) -> Result<Hash, RecordError> {
        let mut out = [0u8; 32];
        if self.mac.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RecordError::Mac);
        }
        hex::decode_to_slice(self.mac, &mut out).map_err(|_| RecordError::Mac)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chain::GENESIS_MAC;

    #[test]
    fn encoded_records_parse_back_and_are_canonical() {
        let key = ChainKey::new(&[9; 32]).unwrap();
        let record = encode(r#"{"a":"x\"y","b":1}"#, 4, &key, &GENESIS_MAC);
        let parsed = RecordRef::parse(record.line.as_bytes()).unwrap();
        assert_eq!(parsed.seq, 4);
        assert_eq!(parsed.entry.get(), r#"{"a":"x\"y","b":1}"#);
        assert_eq!(parsed.mac_bytes().unwrap(), record.mac);
        assert!(key.check(&GENESIS_MAC, 4, parsed.entry.get().as_bytes(), &record.mac));
        let value: serde_json::Value = serde_json::from_str(&record.line).unwrap();
        assert_eq!(identity_types::canonical_json(&value), record.line);
    }

    #[test]
    fn hostile_lines_are_refused() {
        let cases: &[&[u8]] = &[
            b"",
            b"{",
            b"[]",
            br#"{"entry":{},"kid":"k","mac":"00","seq":1}"#,
            br#"{"entry":{},"kid":"k","mac":"00","seq":1,"v":2}"#,
            br#"{"entry":[],"kid":"k","mac":"00","seq":1,"v":1}"#,
            br#"{"entry":{},"kid":"k","mac":"00","seq":-1,"v":1}"#,
            // Beyond i64: would overflow `seq + 1` and a Postgres BIGINT.
            br#"{"entry":{},"kid":"k","mac":"00","seq":18446744073709551615,"v":1}"#,
            br#"{"entry":{},"kid":"k","mac":"00","seq":9223372036854775808,"v":1}"#,
            br#"{"entry":{},"kid":"k","mac":"00","seq":1,"v":1,"extra":0}"#,
        ];
        for case in cases {
            assert!(RecordRef::parse(case).is_err(), "{}", String::from_utf8_lossy(case));
        }
        let short = RecordRef::parse(br#"{"entry":{},"kid":"k","mac":"00","seq":1,"v":1}"#).unwrap();
        assert_eq!(short.mac_bytes(), Err(RecordError::Mac));
    }
}
