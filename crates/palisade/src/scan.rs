//! `palisade scan --task injection|pii|tools`: the scanner protocol of JSON lines on
//! standard input and output (the team's `scanner-protocol.md`), so any evaluator can
//! score the guardrails without knowing our code. It never touches the network.
//!
//! ```text
//! {"task":"pii","id":"x2","text":"card 4111 1111 1111 1111"}
//! {"id":"x2","findings":[{"type":"CREDIT_CARD","start":5,"end":24}]}
//! ```
//!
//! ```text
//! {"task":"injection","id":"x1","text":"Ignore all previous instructions."}
//! {"id":"x1","label":"injection","score":0.731,"rules":["override.en.ignore_previous"]}
//! ```
//!
//! The `pii` task is served by `guardrails::pii`, the `injection` task by
//! `guardrails::injection`: rules and signals, plus, where the model files are in the
//! cache (`cargo xtask fetch-models`), the learned layer: the text's all-MiniLM-L6-v2
//! embedding through the MLP head (`--learned auto|on|off`; every text is untrusted).
//! The `tools` task ranks the given tools for the query ([`crate::tool_rank`]): by MiniLM
//! embeddings when the model cache has them, else by a documented lexical method (BM25).

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use embeddings::ModelPaths;
use guardrails::injection::InjectionDetector;
use guardrails::injection::head::MlpHead;
use guardrails::pii::{PiiScanner, char_offsets};

use crate::local_embedder::{Activations, LocalEmbedder};
use crate::tool_rank::{self, Semantic};
use serde_json::{Map, Value, json};

/// The unit of `start` and `end` in PII findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Offsets {
    /// Unicode code points (the default).
    Chars,
    /// UTF-8 bytes.
    Bytes,
}

/// What the scanner is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Task {
    /// Prompt-injection detection: a label, a score in [0, 1] and the rules that matched.
    Injection,
    /// PII and secrets: findings with type, start and end.
    Pii,
    /// Tool ranking: every tool given, best first (semantic, else lexical).
    Tools,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Self::Injection => "injection",
            Self::Pii => "pii",
            Self::Tools => "tools",
        }
    }
}

/// Whether the injection task adds the learned layer (embedding + MLP head).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Learned {
    /// Use it when the model files are in the cache; say on standard error either way.
    Auto,
    /// Require it: exit with status 2 if the model files cannot be loaded.
    On,
    /// Rules and signals only.
    Off,
}

/// The head's weights inside the model cache (see `models/manifest.json`).
const HEAD_FILE: &str = "injection-head/neural_binary_200k.json";
/// The embedding window the head was trained on: jailguard's tokenizer truncates at 128
/// tokens. Half the default window, so also about half the inference time.
const HEAD_WINDOW: usize = 128;

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// The task every input line must name.
    #[arg(long, value_enum)]
    task: Task,
    /// Unit of `start`/`end` in PII findings: `chars` (Unicode code points, the default)
    /// or `bytes` (UTF-8). `end` is exclusive.
    #[arg(long, value_enum, default_value = "chars")]
    offsets: Offsets,
    /// Use the model files of the cache `cargo xtask fetch-models` fills: for injection,
    /// the learned layer (the text's MiniLM embedding through the MLP head); for tools,
    /// semantic ranking (else BM25). `auto` when the files are there, `on` to require
    /// them, `off` for rules and the lexical method only.
    #[arg(long, value_enum, default_value = "auto")]
    learned: Learned,
}

/// The learned layer: the embedder and the head.
struct LearnedLayer {
    embedder: LocalEmbedder,
    head: MlpHead,
    /// Which model variant embeds (said on standard error).
    activations: Activations,
}

impl LearnedLayer {
    fn load() -> Result<Self, String> {
        let head_path = ModelPaths::cache_dir().map_err(|e| e.to_string())?.join(HEAD_FILE);
        let json = std::fs::read_to_string(&head_path).map_err(|e| {
            format!("{}: {e}; run `cargo xtask fetch-models` or set PALISADE_MODELS_DIR", head_path.display())
        })?;
        let head = MlpHead::from_json(&json).map_err(|e| format!("{}: {e}", head_path.display()))?;
        // Int8 activations: twice as fast, and the evaluation is measured with them; on
        // a CPU without VNNI, or with a cache from before the variant existed, the
        // exported model.
        let int8_ready = ModelPaths::int8_activations_supported()
            && ModelPaths::from_env().is_ok_and(|paths| paths.with_int8_activations().check().is_ok());
        let activations = if int8_ready { Activations::Int8 } else { Activations::Float };
        let embedder = LocalEmbedder::load(HEAD_WINDOW, activations)?;
        if head.dimension() != embedder.dimension() {
            return Err(format!(
                "the head takes {} dimensions, the embedder gives {}",
                head.dimension(),
                embedder.dimension()
            ));
        }
        Ok(Self { embedder, head, activations })
    }

    fn probability(&self, text: &str) -> Result<f32, String> {
        let vectors = self.embedder.embed(&[text.to_owned()])?;
        let vector = vectors.first().ok_or("the embedder returned no vector")?;
        self.head.probability(vector).map_err(|e| e.to_string())
    }
}

/// Answers one input line: `Ok(answer)`, or `Err(reason)` when the line has no usable id
/// (reported on standard error; the exit status becomes 2).
fn answer(line: &str, args: &ScanArgs, scanners: &Scanners) -> Result<Value, String> {
    // Python's json.dumps writes lone surrogates (`"\ud800"`), which serde_json refuses;
    // only then is the line repaired (each becomes U+FFFD, one code point for one, so
    // character offsets are unchanged) and parsed again.
    let parsed: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(_) => {
            serde_json::from_str(&replace_lone_surrogates(line)).map_err(|e| format!("not JSON: {e}"))?
        }
    };
    let Value::Object(object) = parsed else { return Err("not a JSON object".into()) };
    let id = match object.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => return Err("no string or number \"id\"".into()),
    };
    let error = |message: String| json!({ "id": id, "error": message });
    match object.get("task").and_then(Value::as_str) {
        Some(task) if task == args.task.name() => {}
        Some(task) => {
            return Ok(error(format!("task {task:?}, but this scanner runs --task {}", args.task.name())));
        }
        None => return Ok(error("missing \"task\"".into())),
    }
    Ok(match args.task {
        Task::Pii => match object.get("text").and_then(Value::as_str) {
            Some(text) => pii(&id, text, args.offsets, &scanners.pii),
            None => error("missing string \"text\"".into()),
        },
        Task::Injection => match object.get("text").and_then(Value::as_str) {
            Some(text) => injection(
                &id,
                text,
                &scanners.injection,
                scanners.learned.as_ref(),
                args.learned == Learned::On,
            ),
            None => error("missing string \"text\"".into()),
        },
        Task::Tools => tools(&id, &object, scanners.semantic.as_ref(), args.learned == Learned::On),
    })
}

/// `\uD800`–`\uDFFF` escapes that are not a high-low pair become `\uFFFD`.
fn replace_lone_surrogates(line: &str) -> String {
    let surrogate = |s: &str| u16::from_str_radix(s, 16).ok().filter(|u| (0xD800..=0xDFFF).contains(u));
    let escape_at = |i: usize| {
        line.get(i..i + 2).filter(|p| *p == "\\u").and_then(|_| line.get(i + 2..i + 6)).and_then(surrogate)
    };
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    let bytes = line.as_bytes();
    while i < line.len() {
        // An escaped backslash is copied whole, so `\\ud800` (a literal text) is left alone.
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'\\') {
            out.push_str("\\\\");
            i += 2;
            continue;
        }
        if let Some(unit) = escape_at(i) {
            let paired = (0xD800..=0xDBFF).contains(&unit)
                && escape_at(i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
            if paired {
                out.push_str(&line[i..i + 12]);
                i += 12;
            } else {
                out.push_str("\\ufffd");
                i += 6;
            }
            continue;
        }
        let ch = line[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn pii(id: &Value, text: &str, offsets: Offsets, scanner: &PiiScanner) -> Value {
    let findings = scanner.scan(text);
    let spans: Vec<(usize, usize)> = match offsets {
        Offsets::Chars => char_offsets(text, &findings),
        Offsets::Bytes => findings.iter().map(|f| (f.start, f.end)).collect(),
    };
    let findings: Vec<Value> = findings
        .iter()
        .zip(spans)
        .map(|(f, (start, end))| {
            let mut finding = Map::new();
            finding.insert("type".into(), f.entity.name().into());
            finding.insert("start".into(), start.into());
            finding.insert("end".into(), end.into());
            // Three decimals: an f32 printed through f64 would show 0.949999988.
            finding.insert("confidence".into(), json!((f64::from(f.confidence) * 1000.0).round() / 1000.0));
            finding.insert("detector".into(), f.detector.into());
            Value::Object(finding)
        })
        .collect();
    json!({ "id": id, "findings": findings })
}

/// Three decimals: an f32 printed through f64 would show 0.949999988.
fn rounded(value: f32) -> f64 {
    (f64::from(value) * 1000.0).round() / 1000.0
}

fn injection(
    id: &Value,
    text: &str,
    detector: &InjectionDetector,
    learned: Option<&LearnedLayer>,
    required: bool,
) -> Value {
    let probability = match learned.map(|layer| layer.probability(text)) {
        Some(Ok(p)) => Some(p),
        // Required: no verdict without the layer, rather than a rules-only one that
        // looks like the real thing.
        Some(Err(error)) if required => {
            return json!({ "id": id, "error": format!("the learned layer failed: {error}") });
        }
        Some(Err(error)) => {
            // The rules' verdict still stands; `"learned": null` shows the layer was missing.
            eprintln!("palisade scan: the learned layer failed for id {id}: {error}");
            None
        }
        None => None,
    };
    let verdict = match probability {
        Some(p) => detector.scan_with_learned(text, p),
        None => detector.scan(text),
    };
    let rules: Vec<&str> = verdict.hits.iter().map(|hit| hit.rule).collect();
    let mut answer = json!({
        "id": id,
        "label": verdict.label.name(),
        "score": rounded(verdict.score),
        "rules": rules,
    });
    if learned.is_some() {
        answer["learned"] = verdict.learned.map_or(Value::Null, |p| json!(rounded(p)));
    }
    answer
}

/// Answers a `tools` line: `{"id", "ranked": [names best first], "method"}`.
fn tools(id: &Value, object: &Map<String, Value>, semantic: Option<&Semantic>, required: bool) -> Value {
    let error = |message: String| json!({ "id": id, "error": message });
    let Some(query) = object.get("query").and_then(Value::as_str) else {
        return error("missing string \"query\"".into());
    };
    let Some(list) = object.get("tools").and_then(Value::as_array) else {
        return error("missing array \"tools\"".into());
    };
    if list.len() > tool_rank::MAX_TOOLS {
        return error(format!("{} tools; at most {} per line", list.len(), tool_rank::MAX_TOOLS));
    }
    let mut given = Vec::with_capacity(list.len());
    for (index, tool) in list.iter().enumerate() {
        let name = tool.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
        let description = match tool.get("description") {
            None | Some(Value::Null) => Some(""),
            Some(Value::String(d)) => Some(d.as_str()),
            Some(_) => None,
        };
        match (name, description) {
            (Some(name), Some(description)) => given.push((name.to_owned(), description.to_owned())),
            _ => {
                return error(format!(
                    "tools[{index}] needs a non-empty string \"name\" and a string \"description\""
                ));
            }
        }
    }
    match tool_rank::rank(query, &given, semantic) {
        Ok((ranked, method)) => json!({ "id": id, "ranked": ranked, "method": method }),
        Err(reason) if required => error(format!("semantic ranking failed: {reason}")),
        Err(reason) => {
            eprintln!("palisade scan: semantic ranking failed for id {id}: {reason}; ranked lexically");
            match tool_rank::rank(query, &given, None) {
                Ok((ranked, method)) => json!({ "id": id, "ranked": ranked, "method": method }),
                Err(reason) => error(reason),
            }
        }
    }
}

/// The scanners of one run (the PII patterns are compiled only for the `pii` task).
struct Scanners {
    pii: PiiScanner,
    injection: InjectionDetector,
    learned: Option<LearnedLayer>,
    semantic: Option<Semantic>,
}

/// Runs the protocol until end of input.
pub(crate) fn run(args: &ScanArgs) -> ExitCode {
    let learned = match (args.task, args.learned) {
        (Task::Injection, Learned::Auto | Learned::On) => match LearnedLayer::load() {
            Ok(layer) => {
                let variant = match layer.activations {
                    Activations::Int8 => "int8 activations",
                    Activations::Float => {
                        "float activations: this CPU lacks VNNI or the int8 variant is not in the cache (cargo xtask fetch-models)"
                    }
                };
                eprintln!(
                    "palisade scan: injection: rules, signals and the learned layer (MiniLM with {variant} + MLP head)"
                );
                Some(layer)
            }
            Err(error) if args.learned == Learned::On => {
                eprintln!("palisade scan: --learned on, but the learned layer cannot load: {error}");
                return ExitCode::from(2);
            }
            Err(error) => {
                eprintln!(
                    "palisade scan: injection: rules and signals only; the learned layer is unavailable: {error}"
                );
                None
            }
        },
        _ => None,
    };
    let semantic = match (args.task, args.learned) {
        (Task::Tools, Learned::Auto | Learned::On) => match Semantic::load() {
            Ok(semantic) => {
                eprintln!("palisade scan: tools: semantic ranking (MiniLM embeddings)");
                Some(semantic)
            }
            Err(error) if args.learned == Learned::On => {
                eprintln!("palisade scan: --learned on, but the embedder cannot load: {error}");
                return ExitCode::from(2);
            }
            Err(error) => {
                eprintln!(
                    "palisade scan: tools: lexical ranking (BM25); the embedder is unavailable: {error}"
                );
                None
            }
        },
        (Task::Tools, Learned::Off) => {
            eprintln!("palisade scan: tools: lexical ranking (BM25)");
            None
        }
        _ => None,
    };
    let scanner = Scanners {
        pii: if args.task == Task::Pii { PiiScanner::new() } else { PiiScanner::with_entities(|_| false) },
        injection: InjectionDetector::new(),
        learned,
        semantic,
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut malformed = 0usize;
    for (number, line) in stdin.lock().split(b'\n').enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                eprintln!("palisade scan: reading standard input: {error}");
                return ExitCode::from(2);
            }
        };
        let Ok(line) = std::str::from_utf8(&line) else {
            eprintln!("palisade scan: line {}: not UTF-8", number + 1);
            malformed += 1;
            continue;
        };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        match answer(line, args, &scanner) {
            Ok(value) => {
                if writeln!(out, "{value}").is_err() {
                    // The reader went away (e.g. a closed pipe): nothing left to answer.
                    return ExitCode::from(2);
                }
            }
            Err(reason) => {
                eprintln!("palisade scan: line {}: {reason}", number + 1);
                malformed += 1;
            }
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    if malformed > 0 {
        eprintln!("palisade scan: {malformed} malformed line(s) without an id");
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
