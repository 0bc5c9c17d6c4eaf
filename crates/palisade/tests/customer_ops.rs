//! The example deployment, black-box: the real `palisade` binary on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const SECRET: &str = "customer-ops-test-secret-0123456789abcdef";

struct Deployment {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Deployment {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--example", "customer-ops", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("PALISADE_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut endpoint = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("MCP endpoint: ") {
            endpoint = Some(url.trim().to_owned());
            break;
        }
    }
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Deployment {
        child,
        endpoint: endpoint.expect("the banner names the endpoint"),
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

fn mint(deployment: &Deployment, sub: &str, tenant: &str, roles: &str, scopes: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "token",
            "mint",
            "--sub",
            sub,
            "--tenant",
            tenant,
            "--roles",
            roles,
            "--scopes",
            scopes,
            "--aud",
            &deployment.endpoint,
        ])
        .env("PALISADE_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Deployment {
    async fn rpc(&self, token: &str, session: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
        let mut request = self
            .http
            .post(&self.endpoint)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let session = response.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|d| serde_json::from_str(d.trim()).ok())
            .or_else(|| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        (status, session, body)
    }

    async fn session(&self, token: &str) -> String {
        let (status, session, _) = self
            .rpc(token, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
            .await;
        assert_eq!(status, 200);
        let session = session.unwrap();
        self.rpc(token, Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        session
    }

    async fn tools(&self, token: &str) -> Vec<String> {
        let session = self.session(token).await;
        let (_, _, body) =
            self.rpc(token, Some(&session), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn call(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let session = self.session(token).await;
        let (_, _, body) = self
            .rpc(token, Some(&session), json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))
            .await;
        body["result"].clone()
    }
}

fn error_code(result: &Value) -> &str {
    if result["isError"] == json!(true) {
        result["structuredContent"]["error"]["code"].as_str().unwrap_or("?")
    } else {
        "ok"
    }
}

#[tokio::test]
async fn the_example_serves_thirty_tools_filtered_by_role() {
    let d = start();
    let everything =
        mint(&d, "root", "acme", "admin,support,analyst,ops", "read write billing:read billing:write");
    let viewer = mint(&d, "vic", "globex", "viewer", "read");
    let support = mint(&d, "alice", "acme", "support", "read write");
    assert_eq!(d.tools(&everything).await.len(), 30);
    assert_eq!(d.tools(&viewer).await, ["ops.health_check"]);
    let support_tools = d.tools(&support).await;
    assert!(support_tools.contains(&"customers.get_customer".to_owned()));
    assert!(!support_tools.contains(&"customers.delete_customer".to_owned()), "needs admin and support");
    assert!(!support_tools.contains(&"analytics.revenue_report".to_owned()));
}

#[tokio::test]
async fn tenants_see_only_their_own_records() {
    let d = start();
    let acme = mint(&d, "alice", "acme", "support", "read write");
    let globex = mint(&d, "gina", "globex", "admin,support", "read write");
    let own = d.call(&acme, "customers.get_customer", json!({"customer_id": "cus_1001"})).await;
    assert_eq!(own["structuredContent"]["customer"]["name"], "Ada Lovelace");
    let foreign = d.call(&acme, "customers.get_customer", json!({"customer_id": "cus_2001"})).await;
    assert_eq!(error_code(&foreign), "not_found", "globex's customer does not exist for acme");
    let listed = d.call(&globex, "customers.list_customers", json!({})).await;
    let ids: Vec<&str> = listed["structuredContent"]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cus_2001", "cus_2002", "cus_2003"]);
    let cancel_foreign = d.call(&globex, "orders.cancel_order", json!({"order_id": "ord_5004"})).await;
    assert_eq!(error_code(&cancel_foreign), "not_found", "writes are tenant-scoped too");
}

#[tokio::test]
async fn writes_write_and_guards_refuse() {
    let d = start();
    let support = mint(&d, "alice", "acme", "support", "read write");
    let created = d
        .call(
            &support,
            "customers.create_customer",
            json!({"name": "Katherine Johnson", "email": "kj@acme.example", "tier": "gold"}),
        )
        .await;
    assert_eq!(error_code(&created), "ok", "{created}");
    let id = created["structuredContent"]["customer"]["id"].as_str().unwrap().to_owned();
    let found = d.call(&support, "customers.search_customers", json!({"query": "Katherine"})).await;
    assert_eq!(found["structuredContent"]["customers"][0]["id"], json!(id));
    let cancelled = d.call(&support, "orders.cancel_order", json!({"order_id": "ord_5004"})).await;
    assert_eq!(error_code(&cancelled), "ok");
    let again = d.call(&support, "orders.cancel_order", json!({"order_id": "ord_5004"})).await;
    assert_eq!(error_code(&again), "conflict");
    let delete = d.call(&support, "customers.delete_customer", json!({"customer_id": id})).await;
    assert_eq!(error_code(&delete), "missing_role");
    let reader = mint(&d, "rita", "acme", "support", "read");
    let session = d.session(&reader).await;
    let (status, _, _) = d
        .rpc(
            &reader,
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "tickets.close_ticket", "arguments": {"ticket_id": "tkt_101"}}}),
        )
        .await;
    assert_eq!(status, 403, "a missing scope is an HTTP scope challenge");
}

#[tokio::test]
async fn a_refund_runs_only_after_an_approver_grants_it_with_the_cli() {
    let d = start();
    let gina = mint(&d, "gina", "globex", "admin,support", "read write billing:read billing:write");
    let otto = mint(&d, "otto", "globex", "approver", "read");
    let refused = d.call(&gina, "orders.refund_order", json!({"order_id": "ord_6002"})).await;
    assert_eq!(error_code(&refused), "approval_required");
    let id = refused["structuredContent"]["error"]["approval_id"].as_str().unwrap().to_owned();

    let base = d.endpoint.trim_end_matches("/mcp").to_owned();
    let grant = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["approvals", "grant", &id, "--server", &base, "--token-env", "APPROVER_TOKEN"])
            .env("APPROVER_TOKEN", token)
            .output()
            .unwrap()
    };
    let own = grant(&gina);
    assert!(!own.status.success(), "the requester cannot approve (and lacks the role)");
    let granted = grant(&otto);
    assert!(granted.status.success(), "{}", String::from_utf8_lossy(&granted.stderr));
    let token = String::from_utf8(granted.stdout).unwrap().trim().to_owned();

    let session = d.session(&gina).await;
    let call = |meta: Value| {
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "orders.refund_order", "arguments": {"order_id": "ord_6002"}, "_meta": meta}})
    };
    let (_, _, done) = d.rpc(&gina, Some(&session), call(json!({"dev.palisade/approval": token}))).await;
    assert_eq!(error_code(&done["result"]), "ok", "{done}");
    let (_, _, again) = d.rpc(&gina, Some(&session), call(json!({"dev.palisade/approval": token}))).await;
    assert_eq!(error_code(&again["result"]), "approval_invalid", "a grant is good for one call");
}
