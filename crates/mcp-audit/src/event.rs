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
    /// SHA-256 (hex) of the canonical JSON result as delivered (after any redaction by
    /// the server's result inspector).
    pub result_sha256: Option<String>,
    /// Metadata the handler attached to its response, and the server's result
    /// inspection report under `inspection` when it inspects results.
    pub metadata: Map<String, Value>,
}

impl AuditEvent {
    /// The event's canonical JSON: the exact bytes the chain MAC and Merkle leaf cover.
    #[must_use]
    pub fn canonical(&self) -> String {
        // Written field by field in sorted key order: the same bytes as
        // `canonical_json(&serde_json::to_value(self))` (a test holds them equal), without
        // building the intermediate tree. This runs on every request's path.
        let mut out = String::with_capacity(512);
        let mut first = true;
        let mut key = |out: &mut String, name: &str| {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
        };
        if let Some(arguments) = &self.arguments {
            key(&mut out, "arguments");
            out.push_str(&canonical_json(arguments));
        }
        key(&mut out, "arguments_sha256");
        push_opt_str(&mut out, self.arguments_sha256.as_deref());
        key(&mut out, "auth_method");
        push_str(&mut out, &self.auth_method);
        let decision = match &self.decision {
            Decision::Allowed => "allowed",
            Decision::Denied { code } => {
                key(&mut out, "code");
                push_str(&mut out, code);
                "denied"
            }
        };
        key(&mut out, "decision");
        push_str(&mut out, decision);
        key(&mut out, "duration_us");
        out.push_str(&self.duration_us.to_string());
        key(&mut out, "metadata");
        out.push_str(&canonical_json(&Value::Object(self.metadata.clone())));
        key(&mut out, "method");
        push_str(&mut out, &self.method);
        key(&mut out, "outcome");
        push_str(&mut out, &self.outcome);
        key(&mut out, "principal");
        push_opt_str(&mut out, self.principal.as_ref().map(PrivacyId::as_str));
        key(&mut out, "request_id");
        push_str(&mut out, &self.request_id);
        key(&mut out, "result_sha256");
        push_opt_str(&mut out, self.result_sha256.as_deref());
        key(&mut out, "tenant");
        push_opt_str(&mut out, self.tenant.as_ref().map(TenantId::as_str));
        key(&mut out, "timestamp_ms");
        out.push_str(&self.timestamp_ms.to_string());
        key(&mut out, "tool");
        push_opt_str(&mut out, self.tool.as_deref());
        out.push('}');
        out
    }
}

/// A JSON string, escaped exactly as `serde_json` (and so `canonical_json`) escapes it.
fn push_str(out: &mut String, text: &str) {
    // Writing a `&str` to a `String` through serde_json cannot fail.
    if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}

fn push_opt_str(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => push_str(out, text),
        None => out.push_str("null"),
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

    fn slow_canonical(event: &AuditEvent) -> String {
        canonical_json(&serde_json::to_value(event).unwrap())
    }

    proptest::proptest! {
        /// The hand-written encoder and the generic canonical JSON agree on every event.
        #[test]
        fn fast_and_generic_encodings_agree(
            text in "\\PC{0,12}",
            control in "[\\x00-\\x1f\"\\\\é\u{2028}]{0,6}",
            n in proptest::num::u64::ANY,
            denied in proptest::bool::ANY,
            with_arguments in proptest::bool::ANY,
            optional in proptest::bool::ANY,
        ) {
            let mut metadata = Map::new();
            metadata.insert(format!("{text}{control}"), serde_json::json!({"z": [n, -1.5, null], "a": control.clone()}));
            let event = AuditEvent {
                timestamp_ms: n,
                request_id: format!("{control}{text}"),
                principal: None,
                tenant: optional.then(|| TenantId::new("acme").unwrap()),
                auth_method: text.clone(),
                method: control.clone(),
                tool: optional.then(|| text.clone()),
                decision: if denied { Decision::Denied { code: control.clone() } } else { Decision::Allowed },
                outcome: text.clone(),
                duration_us: n / 3,
                arguments_sha256: optional.then(|| control.clone()),
                arguments: with_arguments.then(|| serde_json::json!({"k": text.clone(), "b": [true, {"y": 1, "x": 2}]})),
                result_sha256: (!optional).then(|| text.clone()),
                metadata,
            };
            proptest::prop_assert_eq!(event.canonical(), slow_canonical(&event));
        }
    }
}
