//! `cargo xtask bench guardrails`: PII and secret scan throughput on ordinary prose of
//! 1 KB and 100 KB, and on prose dense with findings.
//!
//! Target (issue 7): ≥ 200 MB/s per core for ordinary prose. One thread here, so the
//! figure is per core. Each row prints measured / target (the machine is shared and
//! noisy; compare ratios from one run).
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use guardrails::pii::PiiScanner;

/// Ordinary support-ticket prose: words, numbers that are not PII, punctuation, a URL.
fn prose(bytes: usize) -> String {
    const SENTENCES: &[&str] = &[
        "The customer asked why the invoice for March was higher than usual, and the agent explained the new pricing tier. ",
        "Order 4411 shipped on the 12th via the regional carrier; tracking shows it left the depot at 09:40 this morning. ",
        "We upgraded the service to version 2.14.3 last week, which fixed the timeout that affected about 3% of requests. ",
        "Please see https://status.example.com/incidents for the incident report; the root cause was a misconfigured cache. ",
        "The quarterly review found that response times improved by 18 percent after the team adopted the new runbook. ",
        "She would like a callback tomorrow between two and four, and prefers that we do not send further marketing e-mail. ",
    ];
    let mut out = String::with_capacity(bytes + 128);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(SENTENCES[i % SENTENCES.len()]);
        i += 1;
    }
    out.truncate(bytes);
    out
}

/// Prose with a finding every few hundred bytes (cards, addresses, keys, IBANs).
fn dense(bytes: usize) -> String {
    let items = [
        "card 4111 1111 1111 1111 ",
        "mail ann.smith@example.com ",
        "key AKIAZ7SKPC2LQFOVIWEB ",
        "IBAN DE89 3704 0044 0532 0130 00 ",
        "from 10.0.12.7 ",
    ];
    let base = prose(bytes);
    let mut out = String::with_capacity(bytes * 2);
    for (n, chunk) in base.as_bytes().chunks(300).enumerate() {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push_str(items[n % items.len()]);
    }
    out
}

fn throughput(scanner: &PiiScanner, text: &str) -> f64 {
    let rounds = (20_000_000 / text.len()).max(5);
    for _ in 0..3 {
        std::hint::black_box(scanner.scan(text));
    }
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(scanner.scan(std::hint::black_box(text)));
    }
    (text.len() * rounds) as f64 / started.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let scanner = PiiScanner::new();
    println!("\n| benchmark | MB/s (one core) | target | measured / target |\n|---|---|---|---|");
    for (name, text) in [
        ("ordinary prose, 1 KB", prose(1_024)),
        ("ordinary prose, 100 KB", prose(100 * 1_024)),
        ("dense with findings, 100 KB", dense(100 * 1_024)),
    ] {
        let rate = throughput(&scanner, &text);
        let (target, ratio) = if name.starts_with("ordinary") {
            ("≥ 200 MB/s", format!("{:.2}", rate / 200.0))
        } else {
            ("—", "—".to_owned())
        };
        println!("| {name} | {rate:.0} | {target} | {ratio} |");
    }
}
