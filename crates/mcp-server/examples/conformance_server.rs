//! The target of the official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! run by `cargo xtask test`): our framework with the tools the suite's server scenarios
//! call, open to anonymous callers (the suite sends no credentials), on 127.0.0.1.
//!
//! Everything else is the framework's defaults: Host and Origin validation, body limits,
//! both protocol eras. Prints `LISTEN <addr>` once serving.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write as _;

use mcp_server::{McpServer, Tool, ToolError, ToolResponse};

/// `tools-call-simple-text`: a tool that answers with text.
async fn simple_text() -> ToolResponse {
    ToolResponse::text("This is a simple text response for testing.")
}

/// `tools-call-error`: a tool that fails, which must come back as `isError: true` with a
/// message, not as a protocol error.
async fn error_handling() -> Result<ToolResponse, ToolError> {
    Err(ToolError::Conflict("this tool always fails, for the conformance suite".into()))
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = McpServer::builder("palisade-conformance", env!("CARGO_PKG_VERSION"))
        .allow_anonymous()
        // Without protected-resource metadata the framework knows no origin of its own, so
        // it admits no browser Origin at all; name this server's own.
        .allowed_origins([format!("http://{addr}"), format!("http://localhost:{}", addr.port())])
        .tool(
            Tool::new("test_simple_text", simple_text)
                .description("Returns simple text.")
                .read_only()
                .public(),
        )
        .tool(
            Tool::new("test_error_handling", error_handling)
                .description("Always fails with a tool error.")
                .read_only()
                .public(),
        )
        .build()
        .unwrap();
    println!("LISTEN {addr}");
    std::io::stdout().flush().unwrap();
    server.serve(listener, std::future::pending()).await.unwrap();
}
