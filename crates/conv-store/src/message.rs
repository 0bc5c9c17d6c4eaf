//! The message model. Its stored form is documented on [`record`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ConvError, Limits};

/// Who wrote a message, as in the OpenAI-compatible Chat Completions API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// Instructions from the deployment.
    System,
    /// The human user.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

/// One tool call requested by the assistant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed by the tool message that answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model produced them (JSON text, kept verbatim).
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: MessageRole,
    /// The text (may be empty, e.g. an assistant turn that only calls tools).
    #[serde(default)]
    pub content: String,
    /// Tool calls (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The tool call this message answers (tool messages only, and required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// An optional name of the author (e.g. the tool's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Token count of this message, when the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u32>,
    /// Free-form string metadata (bounded by [`Limits`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Message {
    fn new(role: MessageRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            tokens: None,
            metadata: BTreeMap::new(),
        }
    }

    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(MessageRole::System, content)
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(MessageRole::User, content)
    }

    /// An assistant message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(MessageRole::Assistant, content)
    }

    /// An assistant message that calls tools.
    #[must_use]
    pub fn assistant_tool_calls(calls: Vec<ToolCall>) -> Self {
        Self { tool_calls: calls, ..Self::new(MessageRole::Assistant, "") }
    }

    /// A tool's result answering the call `tool_call_id`.
    #[must_use]
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: Some(tool_call_id.into()), ..Self::new(MessageRole::Tool, content) }
    }

    /// Sets the author's name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the token count.
    #[must_use]
    pub fn with_tokens(mut self, tokens: u32) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Adds one metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A message as stored: its position in the conversation and when the store accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Position in the conversation, from 0, without gaps.
    pub seq: u64,
    /// When the store accepted it (Unix milliseconds).
    pub created_at_ms: u64,
    /// The message.
    pub message: Message,
}

/// Bounds on short identifier-like fields (tool call ids, names, metadata keys).
const MAX_SHORT_FIELD: usize = 256;

/// Checks one message against the limits and the role rules, before anything is written.
pub(crate) fn validate(index: usize, message: &Message, limits: &Limits) -> Result<(), ConvError> {
    let invalid = |reason: String| ConvError::InvalidMessage { index, reason };
    match message.role {
        MessageRole::Tool if message.tool_call_id.is_none() => {
            return Err(invalid("a tool message needs the tool_call_id it answers".into()));
        }
        MessageRole::Tool | MessageRole::Assistant => {}
        MessageRole::System | MessageRole::User if !message.tool_calls.is_empty() => {
            return Err(invalid("only assistant messages carry tool calls".into()));
        }
        MessageRole::System | MessageRole::User => {}
    }
    if message.role != MessageRole::Tool && message.tool_call_id.is_some() {
        return Err(invalid("only tool messages carry a tool_call_id".into()));
    }
    if message.tool_calls.len() > limits.max_tool_calls {
        return Err(invalid(format!(
            "{} tool calls, at most {} allowed",
            message.tool_calls.len(),
            limits.max_tool_calls
        )));
    }
    let short_fields = message
        .tool_calls
        .iter()
        .flat_map(|call| [("tool call id", call.id.as_str()), ("tool name", call.name.as_str())])
        .chain(message.tool_call_id.as_deref().map(|id| ("tool_call_id", id)))
        .chain(message.name.as_deref().map(|name| ("name", name)))
        .chain(message.metadata.keys().map(|key| ("metadata key", key.as_str())));
    for (what, value) in short_fields {
        if value.is_empty() || value.len() > MAX_SHORT_FIELD {
            return Err(invalid(format!("{what} must be 1-{MAX_SHORT_FIELD} bytes, got {}", value.len())));
        }
    }
    if message.metadata.len() > limits.max_metadata_entries {
        return Err(invalid(format!(
            "{} metadata entries, at most {} allowed",
            message.metadata.len(),
            limits.max_metadata_entries
        )));
    }
    Ok(())
}

pub mod record {
    //! The stable serialised form of a message.
    //!
    //! Every backend stores a message as one **record**: a JSON object carrying the schema
    //! version `v`, the time the store accepted it (`at`, Unix milliseconds) and the message's
    //! fields. Only the sequence number lives outside the record (it is the row's key, or the
    //! position in a Redis list). A record with another version is refused on load with
    //! [`ConvError::UnsupportedSchema`] rather than guessed at.
    //!
    //! ```
    //! use conv_store::{Message, record};
    //!
    //! let text = record::encode(1_700_000_000_000, &Message::user("hello"));
    //! assert_eq!(text, r#"{"v":1,"at":1700000000000,"role":"user","content":"hello"}"#);
    //! let stored = record::decode(0, text.as_bytes())?;
    //! assert_eq!(stored.message, Message::user("hello"));
    //! # Ok::<(), conv_store::ConvError>(())
    //! ```

    use super::{Message, StoredMessage};
    use crate::ConvError;
    use serde::{Deserialize, Serialize};

    /// The record schema version this build writes and reads.
    pub const SCHEMA_VERSION: u32 = 1;

    #[derive(Serialize)]
    struct Outgoing<'a> {
        v: u32,
        at: u64,
        #[serde(flatten)]
        message: &'a Message,
    }

    #[derive(Deserialize)]
    struct Incoming {
        at: u64,
        #[serde(flatten)]
        message: Message,
    }

    #[derive(Deserialize)]
    struct VersionProbe {
        v: Option<u32>,
    }

    /// The record of `message` accepted at `created_at_ms`.
    #[must_use]
    pub fn encode(created_at_ms: u64, message: &Message) -> String {
        // Cannot fail: only strings, integers and string-keyed maps, no custom Serialize.
        serde_json::to_string(&Outgoing { v: SCHEMA_VERSION, at: created_at_ms, message }).unwrap_or_default()
    }

    /// Decodes the record stored at position `seq`.
    ///
    /// # Errors
    /// [`ConvError::Corrupt`] for bytes that are not UTF-8 JSON of the record's shape, and
    /// [`ConvError::UnsupportedSchema`] for a record of another version.
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<StoredMessage, ConvError> {
        let corrupt = |reason: String| ConvError::Corrupt { seq, reason };
        let text = std::str::from_utf8(bytes).map_err(|e| corrupt(format!("not UTF-8: {e}")))?;
        let probe: VersionProbe =
            serde_json::from_str(text).map_err(|e| corrupt(format!("not a record: {e}")))?;
        match probe.v {
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(ConvError::UnsupportedSchema { seq, found }),
            None => return Err(corrupt("the record has no schema version".into())),
        }
        let record: Incoming = serde_json::from_str(text).map_err(|e| corrupt(format!("bad record: {e}")))?;
        Ok(StoredMessage { seq, created_at_ms: record.at, message: record.message })
    }
}

/// Validates a batch and encodes every record, so a backend writes all of it or nothing.
pub(crate) fn prepare_batch(
    messages: &[Message],
    now_ms: u64,
    limits: &Limits,
) -> Result<Vec<String>, ConvError> {
    if messages.is_empty() {
        return Err(ConvError::EmptyAppend);
    }
    if messages.len() > limits.max_append_batch {
        return Err(ConvError::BatchTooLarge { count: messages.len(), max: limits.max_append_batch });
    }
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            validate(index, message, limits)?;
            let encoded = record::encode(now_ms, message);
            if encoded.len() > limits.max_message_bytes {
                return Err(ConvError::MessageTooLarge {
                    index,
                    bytes: encoded.len(),
                    max: limits.max_message_bytes,
                });
            }
            Ok(encoded)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_round_trip_every_field() {
        let message = Message::assistant_tool_calls(vec![ToolCall {
            id: "call_1".into(),
            name: "get_customer".into(),
            arguments: r#"{"id":"c-1"}"#.into(),
        }])
        .with_name("agent")
        .with_tokens(17)
        .with_metadata("model", "m-1");
        let stored = record::decode(7, record::encode(42, &message).as_bytes()).unwrap();
        assert_eq!(stored, StoredMessage { seq: 7, created_at_ms: 42, message });
        // NUL and other control characters are escaped, so a record is valid Postgres TEXT.
        let text = record::encode(1, &Message::user("a\0b\u{7}"));
        assert!(!text.contains('\0'));
        assert_eq!(record::decode(0, text.as_bytes()).unwrap().message.content, "a\0b\u{7}");
    }

    #[test]
    fn hostile_records_are_refused_with_the_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xff\xfe", "corrupt"),
            (b"", "corrupt"),
            (b"[1,2]", "corrupt"),
            (br#"{"at":1,"role":"user","content":"x"}"#, "corrupt"),
            (br#"{"v":2,"at":1,"role":"user","content":"x"}"#, "schema"),
            (br#"{"v":99,"whatever":true}"#, "schema"),
            (br#"{"v":1,"at":1,"role":"wizard","content":"x"}"#, "corrupt"),
            (br#"{"v":1,"role":"user","content":"x"}"#, "corrupt"),
            (br#"{"v":"1","at":1,"role":"user"}"#, "corrupt"),
        ];
        for (bytes, expected) in cases {
            let got = record::decode(3, bytes);
            let kind = match got {
                Err(ConvError::Corrupt { seq: 3, .. }) => "corrupt",
                Err(ConvError::UnsupportedSchema { seq: 3, .. }) => "schema",
                other => panic!("{:?}: unexpected {other:?}", String::from_utf8_lossy(bytes)),
            };
            assert_eq!(kind, *expected, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn role_rules_and_bounds() {
        let limits = Limits::default();
        let call = ToolCall { id: "c".into(), name: "t".into(), arguments: "{}".into() };
        let bad: Vec<(Message, &str)> = vec![
            (Message { tool_call_id: None, ..Message::tool_result("x", "r") }, "needs the tool_call_id"),
            (Message { tool_calls: vec![call.clone()], ..Message::user("u") }, "only assistant"),
            (Message { tool_call_id: Some("c".into()), ..Message::user("u") }, "only tool messages"),
            (Message::user("u").with_name(""), "name must be"),
            (Message::user("u").with_name("n".repeat(257)), "name must be"),
            (
                Message::assistant_tool_calls(vec![ToolCall { id: String::new(), ..call.clone() }]),
                "tool call id must be",
            ),
            (Message::assistant_tool_calls(vec![call.clone(); 129]), "tool calls, at most"),
            (
                (0..33).fold(Message::user("u"), |m, i| m.with_metadata(format!("k{i}"), "v")),
                "metadata entries",
            ),
        ];
        for (message, expected) in bad {
            match validate(0, &message, &limits) {
                Err(ConvError::InvalidMessage { index: 0, reason }) => {
                    assert!(reason.contains(expected), "{reason:?} should mention {expected:?}");
                }
                other => panic!("{message:?} gave {other:?}"),
            }
        }
        assert!(validate(0, &Message::assistant_tool_calls(vec![call]), &limits).is_ok());
        assert!(validate(0, &Message::tool_result("c", "42").with_name("t"), &limits).is_ok());
    }

    #[test]
    fn batches_are_checked_whole_before_anything_is_encoded_for_storage() {
        let limits = Limits { max_message_bytes: 100, max_append_batch: 3, ..Limits::default() };
        assert!(matches!(prepare_batch(&[], 0, &limits), Err(ConvError::EmptyAppend)));
        assert!(matches!(
            prepare_batch(&vec![Message::user("x"); 4], 0, &limits),
            Err(ConvError::BatchTooLarge { count: 4, max: 3 })
        ));
        let batch = [Message::user("ok"), Message::user("x".repeat(100))];
        assert!(matches!(
            prepare_batch(&batch, 0, &limits),
            Err(ConvError::MessageTooLarge { index: 1, max: 100, .. })
        ));
        assert_eq!(prepare_batch(&batch[..1], 5, &limits).unwrap().len(), 1);
    }
}
