//! `cargo xtask bench server`: tools/call load on 127.0.0.1 at concurrency 1, 8 and 32 in
//! four modes (bare, auth + guard, full, and full with observe: JSON logs, spans and
//! metrics), with the server's CPU time per call read from
//! `/proc/<pid>/stat`. The server and the load generator are separate processes built in
//! release mode (`crates/mcp-server/examples/bench_{server,load}.rs`).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use crate::{cargo, step, workspace_root};

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
const SECONDS: &str = "5";

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|f| f.parse().ok()).ok_or("no utime")?;
    let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).ok_or("no stime")?;
    Ok(utime + stime)
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

pub(crate) fn run() -> Result<(), String> {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--locked",
        "-p",
        "mcp-server",
        "--example",
        "bench_server",
        "--example",
        "bench_load",
    ]);
    step("bench server: build (release)", build)?;
    let mut cli = cargo();
    cli.args(["build", "--locked", "-p", "palisade"]);
    step("bench server: build the palisade CLI (token minting)", cli)?;
    let examples = workspace_root().join("target/release/examples");
    let tick = ticks_per_second();
    let mut rows = Vec::new();
    for mode in ["bare", "auth", "full", "observed"] {
        let mut server = Command::new(examples.join("bench_server"))
            .arg(mode)
            .env("BENCH_JWT_SECRET", SECRET)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("bench_server: {e}"))?;
        let pid = server.id();
        let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("LISTEN ").map(str::to_owned))
            .ok_or("bench_server did not start")?;
        std::thread::spawn(move || lines.for_each(drop));
        let url = format!("http://{addr}/mcp");
        let token = if mode == "bare" {
            "-".to_owned()
        } else {
            let out = Command::new(workspace_root().join("target/debug/palisade"))
                .args([
                    "token", "mint", "--sub", "bench", "--roles", "bench", "--scopes", "read", "--aud", &url,
                    "--ttl", "3600",
                ])
                .env("PALISADE_JWT_SECRET", SECRET)
                .output()
                .map_err(|e| e.to_string())?;
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        for concurrency in ["1", "8", "32"] {
            let before = cpu_ticks(pid)?;
            let out = Command::new(examples.join("bench_load"))
                .args([&url, &token, concurrency, SECONDS])
                .output()
                .map_err(|e| format!("bench_load: {e}"))?;
            let after = cpu_ticks(pid)?;
            let result: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|_| format!("bench_load failed: {}", String::from_utf8_lossy(&out.stderr)))?;
            let calls = result["calls"].as_f64().unwrap_or(0.0).max(1.0);
            let cpu_us = (after - before) as f64 / tick / calls * 1e6;
            rows.push((
                mode,
                concurrency,
                result["rps"].as_f64().unwrap_or(0.0),
                result["p50_us"].as_f64().unwrap_or(0.0),
                result["p99_us"].as_f64().unwrap_or(0.0),
                cpu_us,
            ));
        }
        let _ = server.kill();
        let _ = server.wait();
    }
    println!("\n| mode | concurrency | req/s | p50 | p99 | server CPU per call |\n|---|---|---|---|---|---|");
    for (mode, c, rps, p50, p99, cpu) in &rows {
        println!("| {mode} | {c} | {rps:.0} | {p50:.0} µs | {p99:.0} µs | {cpu:.1} µs |");
    }
    for c in ["1", "8", "32"] {
        let cpu = |m: &str| rows.iter().find(|r| r.0 == m && r.1 == c).map_or(0.0, |r| r.5);
        if cpu("bare") > 0.0 {
            println!(
                "c={c}: server CPU per call, full / bare = {:.2}, auth / bare = {:.2}, observed / full = {:.2} ({:+.1} µs)",
                cpu("full") / cpu("bare"),
                cpu("auth") / cpu("bare"),
                cpu("observed") / cpu("full"),
                cpu("observed") - cpu("full")
            );
        }
    }
    Ok(())
}
