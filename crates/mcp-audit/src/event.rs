//! What one audit entry says: [`AuditEvent`], and its canonical bytes.

use identity_types::{PrivacyId, TenantId, canonical_json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The call ran (its outcome is in [`AuditEvent::outcome`]).
    Allowed,
    /// The request was refused before any handler ran.
    Denied {
        /// The stable machine code of the refusal.
        code: String,
    },
}

/// One audited decision. Identities appear only as [`PrivacyId`]s; arguments and
/// results only as SHA-256 digests of their canonical JSON.
///
/// The log stores the event's [canonical JSON](identity_types::canonical_json) as the
/// record's `entry`; the sequence number and chain MAC sit beside it in the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The request id.
    pub request_id: String,
    /// The caller's pseudonym; `None` for anonymous or unauthenticated callers.
    pub principal: Option<PrivacyId>,
    /// The caller's tenant.
    pub tenant: Option<TenantId>,
    /// How the caller authenticated (`jwt`, `api_key`, …), or `anonymous`.
    pub auth_method: String,
    /// The MCP method (`tools/call`, `tools/list`) or `http` for transport-level refusals.
    pub method: String,
    /// The tool, for tool calls.
    pub tool: Option<String>,
    /// Allowed or denied, with the code.
    #[serde(flatten)]
    pub decision: Decision,
    /// `ok`, or the error code the call ended with.
    pub outcome: String,
    /// Wall-clock duration in microseconds.
    pub duration_us: u64,
    /// SHA-256 (hex) of the canonical JSON arguments.
    pub arguments_sha256: Option<String>,
    /// A redacted copy of the arguments, when the deployment records one (off by
    /// default; absent from the entry when off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// SHA-256 (hex) of the canonical JSON result.
    pub result_sha256: Option<String>,
    /// Metadata the handler attached to its response.
    pub metadata: Map<String, Value>,
}

impl AuditEvent {
    /// The event's canonical JSON: the exact bytes the chain MAC and Merkle leaf cover.
    #[must_use]
    pub fn canonical(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_value(self).map(|v| canonical_json(&v)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn canonical_form_is_stable() {
        let mut metadata = Map::new();
        metadata.insert("z".into(), Value::from(1));
        metadata.insert("a".into(), serde_json::json!({"y": 2, "b": [1]}));
        let event = AuditEvent {
            timestamp_ms: 5,
            request_id: "r1".into(),
            principal: None,
            tenant: Some(TenantId::new("acme").unwrap()),
            auth_method: "jwt".into(),
            method: "tools/call".into(),
            tool: Some("t".into()),
            decision: Decision::Denied { code: "missing_role".into() },
            outcome: "missing_role".into(),
            duration_us: 9,
            arguments_sha256: None,
            arguments: None,
            result_sha256: None,
            metadata,
        };
        assert_eq!(
            event.canonical(),
            r#"{"arguments_sha256":null,"auth_method":"jwt","code":"missing_role","decision":"denied","duration_us":9,"metadata":{"a":{"b":[1],"y":2},"z":1},"method":"tools/call","outcome":"missing_role","principal":null,"request_id":"r1","result_sha256":null,"tenant":"acme","timestamp_ms":5,"tool":"t"}"#
        );
        let back: AuditEvent = serde_json::from_str(&event.canonical()).unwrap();
        assert_eq!(back, event);
    }
}
