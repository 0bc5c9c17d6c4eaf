//! `palisade serve --transport stdio`: one MCP session over stdin/stdout, as the principal
//! whose token is in `PALISADE_TOKEN`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const SECRET: &str = "stdio-test-secret-0123456789abcdef-xyz";

fn mint(sub: &str, tenant: &str, roles: &str, scopes: &str) -> String {
    // The default audience is the default listen address's resource, which a stdio
    // server also uses.
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["token", "mint", "--sub", sub, "--tenant", tenant, "--roles", roles, "--scopes", scopes])
        .env("PALISADE_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn serve(token: Option<&str>) -> (std::process::Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command
        .args(["serve", "--example", "customer-ops", "--transport", "stdio", "--data-dir"])
        .arg(dir.path())
        .env("PALISADE_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("PALISADE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("PALISADE_TOKEN", token);
    }
    (command.spawn().unwrap(), dir)
}

#[test]
fn a_stdio_session_runs_as_the_tokens_principal() {
    let (mut child, _dir) = serve(Some(&mint("alice", "acme", "support", "read write")));
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |message: Value| {
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    };
    let mut receive = |id: i64| -> Value {
        loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the server closed stdout");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == json!(id) {
                return message;
            }
        }
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}));
    assert_eq!(receive(1)["result"]["serverInfo"]["name"], "palisade-customer-ops");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let tools = receive(2)["result"]["tools"].as_array().unwrap().len();
    assert!(tools > 1 && tools < 30, "a support user sees some tools, not all: {tools}");
    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "customers.get_customer", "arguments": {"customer_id": "cus_1001"}}}),
    );
    assert_eq!(receive(3)["result"]["structuredContent"]["customer"]["name"], "Ada Lovelace");
    send(
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "customers.get_customer", "arguments": {"customer_id": "cus_2001"}}}),
    );
    assert_eq!(
        receive(4)["result"]["structuredContent"]["error"]["code"],
        "not_found",
        "tenant isolation holds over stdio"
    );
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "closing stdin ends the session cleanly: {status}");
}

#[test]
fn stdio_without_a_valid_token_refuses_to_start() {
    for token in [None, Some("not-a-token.x.y")] {
        let (child, _dir) = serve(token);
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "{token:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("PALISADE_TOKEN"), "{token:?}: {stderr}");
    }
}
