//! Decoded views: instructions hidden in base64, hex or percent-encoding are decoded and
//! scanned like the text around them.
//!
//! A run of the encoding's alphabet long enough to carry a sentence is decoded; the
//! result is kept only if it is UTF-8 and mostly printable, so a hash digest, a UUID or
//! a compressed blob decodes to nothing worth scanning. Decoding is bounded: the runs of
//! one encoding never overlap, so decoding them all is linear in the text; at most
//! [`MAX_PAYLOADS`] readable payloads are kept, never more decoded bytes than the text
//! has, so scanning them stays linear too.

use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;

/// Readable payloads scanned per text, at most. Runs that decode to nothing readable
/// do not count: a text cannot push its real payload past the limit with digests.
pub const MAX_PAYLOADS: usize = 64;

/// Shortest base64 run decoded (18 bytes of payload: a short instruction).
const MIN_BASE64: usize = 24;
/// Shortest hex run decoded, in hex digits (12 bytes of payload).
const MIN_HEX: usize = 24;

/// How a payload was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// Base64, standard or URL-safe alphabet, padded or not.
    Base64,
    /// Hexadecimal digits, bare or as `\x41` escapes.
    Hex,
    /// Percent-encoding (`%69%67%6E`).
    Percent,
}

impl Encoding {
    /// A short name for reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Base64 => "base64",
            Self::Hex => "hex",
            Self::Percent => "percent",
        }
    }
}

// The patterns are constants; a test builds each one.
#[allow(clippy::expect_used)]
static BASE64_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_\-]{24,}={0,2}").expect("a constant pattern"));
#[allow(clippy::expect_used)]
static HEX_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[0-9A-Fa-f]{2}){12,}|(?:\\x[0-9A-Fa-f]{2}){12,}").expect("a constant pattern")
});
#[allow(clippy::expect_used)]
static PERCENT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:%[0-9A-Fa-f]{2}[^%\s]{0,3}){6,}").expect("a constant pattern"));

/// Text worth scanning: valid UTF-8, at least 85 % printable, with some letters.
fn readable(bytes: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    let printable = text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r')).count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    (total > 0 && printable * 100 >= total * 85 && letters * 2 >= total).then_some(text)
}

fn decode_base64(run: &str) -> Option<Vec<u8>> {
    let body = run.trim_end_matches('=');
    let url_safe = body.contains(['-', '_']);
    if url_safe && body.contains(['+', '/']) {
        return None;
    }
    let engine = if url_safe {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        base64::engine::general_purpose::STANDARD_NO_PAD
    };
    // A run may be cut mid-quantum; decode the longest whole prefix.
    let whole = body.len() - body.len() % 4;
    let cut = if body.len() % 4 == 1 { whole } else { body.len() };
    engine.decode(&body[..cut]).ok()
}

fn decode_hex(run: &str) -> Option<Vec<u8>> {
    let digits: String = run.replace("\\x", "");
    hex::decode(digits).ok()
}

fn decode_percent(run: &str) -> Vec<u8> {
    let bytes = run.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = run.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Every readable payload hidden in `text`, with its encoding; bounded as the module
/// docs say.
#[must_use]
pub fn payloads(text: &str) -> Vec<(Encoding, String)> {
    let mut found = Vec::new();
    let mut budget = text.len();
    let mut take = |encoding: Encoding, decoded: Option<Vec<u8>>, found: &mut Vec<(Encoding, String)>| {
        if let Some(bytes) = decoded
            && bytes.len() <= budget
            && found.len() < MAX_PAYLOADS
            && let Some(readable) = readable(bytes)
        {
            budget -= readable.len();
            found.push((encoding, readable));
        }
    };
    // Cheap gates first: most texts have no run long enough for any encoding.
    if text.contains('%') {
        for run in PERCENT_RUN.find_iter(text) {
            take(Encoding::Percent, Some(decode_percent(run.as_str())), &mut found);
        }
    }
    for run in HEX_RUN.find_iter(text) {
        if run.len() >= MIN_HEX {
            take(Encoding::Hex, decode_hex(run.as_str()), &mut found);
        }
    }
    for run in BASE64_RUN.find_iter(text) {
        let run = run.as_str();
        // All hex digits is hex's business (and a digest decodes to noise either way).
        if run.len() >= MIN_BASE64 && !run.bytes().all(|b| b.is_ascii_hexdigit()) {
            take(Encoding::Base64, decode_base64(run), &mut found);
        }
    }
    found
}
