//! `cargo xtask bench server`: tools/call load on 127.0.0.1 at concurrency 1, 8 and 32 in
//! four modes (bare, auth + guard, full, and full with observe: JSON logs, spans and
//! metrics), with the server's CPU time per call read from
//! `/proc/<pid>/stat`. The server and the load generator are separate processes built in
//! release mode (`crates/mcp-server/examples/bench_{server,load}.rs`).
//!
//! The modes run in interleaved rounds (`BENCH_ROUNDS`, default 5: every mode once per
//! round), and the table gives medians over the rounds; each ratio is the median of the
//! ratios within a round. This machine's speed drifts by ±15 % over minutes, so modes
//! measured minutes apart would compare the machine, not the modes.

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
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let modes = ["bare", "auth", "full", "observed"];
    let concurrencies = ["1", "8", "32"];
    // (round, mode, concurrency) -> [req/s, p50, p99, CPU per call]
    let mut runs: Vec<(usize, &str, &str, [f64; 4])> = Vec::new();
    for round in 0..rounds {
        // Each round starts with another mode, so no mode always follows the same one
        // (a killed server's unsynced writes are still being flushed as the next starts).
        for &mode in modes.iter().cycle().skip(round).take(modes.len()) {
            eprintln!("bench server: round {}/{rounds}, {mode}", round + 1);
            for (concurrency, row) in run_mode(&examples, mode, &concurrencies, tick)? {
                runs.push((round, mode, concurrency, row));
            }
        }
    }
    let cell = |round: usize, mode: &str, c: &str, i: usize| {
        runs.iter().find(|r| r.0 == round && r.1 == mode && r.2 == c).map_or(f64::NAN, |r| r.3[i])
    };
    println!(
        "\n{rounds} interleaved rounds, medians\n\n| mode | concurrency | req/s | p50 | p99 | server CPU per call |\n|---|---|---|---|---|---|"
    );
    for mode in modes {
        for c in concurrencies {
            let m = |i| median((0..rounds).map(|r| cell(r, mode, c, i)).collect());
            println!("| {mode} | {c} | {:.0} | {:.0} µs | {:.0} µs | {:.1} µs |", m(0), m(1), m(2), m(3));
        }
    }
    for c in concurrencies {
        let ratio =
            |a: &str, b: &str| median((0..rounds).map(|r| cell(r, a, c, 3) / cell(r, b, c, 3)).collect());
        println!(
            "c={c}: server CPU per call (median of per-round ratios), full / bare = {:.2}, auth / bare = {:.2}, observed / full = {:.2}",
            ratio("full", "bare"),
            ratio("auth", "bare"),
            ratio("observed", "full"),
        );
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Starts the bench server in `mode`, runs the load at each concurrency against it, and
/// returns `[req/s, p50 µs, p99 µs, server CPU µs per call]` for each.
fn run_mode<'c>(
    examples: &std::path::Path,
    mode: &str,
    concurrencies: &[&'c str],
    tick: f64,
) -> Result<Vec<(&'c str, [f64; 4])>, String> {
    // The server is killed, so its temporary directories (the audit log, log files)
    // are never removed by it: they live under a directory removed here.
    let scratch = workspace_root().join("target/bench-server-tmp");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut server = Command::new(examples.join("bench_server"))
        .arg(mode)
        .env("BENCH_JWT_SECRET", SECRET)
        .env("TMPDIR", &scratch)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("bench_server: {e}"))?;
    let result = load_server(&mut server, examples, mode, concurrencies, tick);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn load_server<'c>(
    server: &mut std::process::Child,
    examples: &std::path::Path,
    mode: &str,
    concurrencies: &[&'c str],
    tick: f64,
) -> Result<Vec<(&'c str, [f64; 4])>, String> {
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
    let mut rows = Vec::new();
    for &concurrency in concurrencies {
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
            concurrency,
            [
                result["rps"].as_f64().unwrap_or(0.0),
                result["p50_us"].as_f64().unwrap_or(0.0),
                result["p99_us"].as_f64().unwrap_or(0.0),
                cpu_us,
            ],
        ));
    }
    Ok(rows)
}
