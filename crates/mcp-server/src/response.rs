//! [`ToolResponse`]: what a tool returns, and what the audit layer records about it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ToolError;

/// A successful tool result: structured content (sent as JSON and as its text form, so
/// clients that only read text still see it) plus metadata for the audit log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolResponse {
    structured: Option<Value>,
    text: Option<String>,
    metadata: Map<String, Value>,
}

impl ToolResponse {
    /// A response carrying `value` as structured content.
    #[must_use]
    pub fn json(value: Value) -> Self {
        Self { structured: Some(value), ..Self::default() }
    }

    /// A plain-text response.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: Some(text.into()), ..Self::default() }
    }

    /// Adds a metadata entry recorded by the audit layer (e.g. `rows_affected`), never
    /// sent to the caller.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The structured content.
    #[must_use]
    pub fn structured(&self) -> Option<&Value> {
        self.structured.as_ref()
    }

    /// The text content (for structured responses, their JSON text).
    #[must_use]
    pub fn text_content(&self) -> String {
        match (&self.text, &self.structured) {
            (Some(text), _) => text.clone(),
            (None, Some(value)) => value.to_string(),
            (None, None) => String::new(),
        }
    }

    /// The structured content, to rewrite in place (a [`crate::ResultInspector`]
    /// redacting it).
    #[must_use]
    pub fn structured_mut(&mut self) -> Option<&mut Value> {
        self.structured.as_mut()
    }

    /// The plain-text content, to rewrite in place.
    #[must_use]
    pub fn text_mut(&mut self) -> Option<&mut String> {
        self.text.as_mut()
    }

    /// The audit metadata, to change in place.
    pub(crate) fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.metadata
    }

    /// The audit metadata.
    #[must_use]
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }
}

/// Anything a tool handler may return.
pub trait IntoToolResponse {
    /// Converts into a response or an error.
    ///
    /// # Errors
    /// The handler's own error, or [`ToolError::Internal`] if a value cannot be
    /// serialised.
    fn into_tool_response(self) -> Result<ToolResponse, ToolError>;
}

impl IntoToolResponse for ToolResponse {
    fn into_tool_response(self) -> Result<ToolResponse, ToolError> {
        Ok(self)
    }
}

impl IntoToolResponse for String {
    fn into_tool_response(self) -> Result<ToolResponse, ToolError> {
        Ok(ToolResponse::text(self))
    }
}

impl IntoToolResponse for Value {
    fn into_tool_response(self) -> Result<ToolResponse, ToolError> {
        Ok(ToolResponse::json(self))
    }
}

/// Wraps any serialisable value as structured content.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoToolResponse for Json<T> {
    fn into_tool_response(self) -> Result<ToolResponse, ToolError> {
        serde_json::to_value(self.0)
            .map(ToolResponse::json)
            .map_err(|_| ToolError::Internal { request_id: String::from("-") })
    }
}

impl<T: IntoToolResponse> IntoToolResponse for Result<T, ToolError> {
    fn into_tool_response(self) -> Result<ToolResponse, ToolError> {
        self.and_then(IntoToolResponse::into_tool_response)
    }
}
