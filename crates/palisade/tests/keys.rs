//! `palisade keys create|list|revoke` against a running deployment: a key works once
//! created and stops working once revoked, without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;

fn keys(dir: &std::path::Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "keys {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// `palisade keys create` of a support key of tenant acme for `client_id`.
fn create(dir: &std::path::Path, client_id: &str) -> Output {
    keys(
        dir,
        &["create", "--client-id", client_id, "--tenant", "acme", "--roles", "support", "--scopes", "read"],
    )
}

/// The key `palisade keys create` printed.
fn printed_key(created: Output) -> String {
    String::from_utf8(created.stdout).unwrap().trim().to_owned()
}

/// The status of an `initialize` with `key`, polled until `wanted` or 10 s.
async fn status_becomes(d: &common::Deployment, key: &str, wanted: u16) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = d
            .rpc(key, None, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
            .await;
        if status == wanted || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn keys_take_effect_on_the_running_server() {
    let d = common::start();
    let dir = d.dir.path();
    let created = create(dir, "robot");
    let stderr = String::from_utf8(created.stderr.clone()).unwrap();
    let key = printed_key(created);
    assert!(key.starts_with("psk_"), "{key}");
    let id = stderr.split_whitespace().find(|w| w.starts_with("key_")).expect("the key id").to_owned();
    let stored = std::fs::read_to_string(dir.join("api-keys.json")).unwrap();
    assert!(!stored.contains(&key), "only the key's digest is stored");

    assert_eq!(status_becomes(&d, &key, 200).await, 200, "a new key works without a restart");
    assert!(d.tools(&key).await.contains(&"customers.get_customer".to_owned()));
    let listed = String::from_utf8(keys(dir, &["list"]).stdout).unwrap();
    assert!(listed.contains(&id) && listed.contains("robot") && !listed.contains(&key), "{listed}");

    keys(dir, &["revoke", &id]);
    assert_eq!(status_becomes(&d, &key, 401).await, 401, "a revoked key stops working without a restart");
    assert!(!String::from_utf8(keys(dir, &["list"]).stdout).unwrap().contains(&id));

    // A broken key file fails closed: no key authenticates until it is fixed.
    let other = printed_key(create(dir, "robot2"));
    assert_eq!(status_becomes(&d, &other, 200).await, 200);
    std::fs::write(dir.join("api-keys.json"), b"{ not json").unwrap();
    assert_eq!(status_becomes(&d, &other, 401).await, 401, "an unreadable key file refuses every key");
    // Fixed, the file is followed again.
    std::fs::write(dir.join("api-keys.json"), b"[]").unwrap();
    let fixed = printed_key(create(dir, "robot3"));
    assert_eq!(status_becomes(&d, &fixed, 200).await, 200, "a repaired key file is loaded");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("api-keys.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
}
