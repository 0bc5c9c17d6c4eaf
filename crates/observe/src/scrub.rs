//! The redaction layer: secrets never leave the process in a log line or a span.
//!
//! Everything the process writes passes one [`SecretScrubber`] on its way out:
//!
//! - log lines, whole, through [`ScrubbingMakeWriter`] (the formatter has already put
//!   the message, the event's fields and the current span's fields into the line);
//! - spans, through [`ScrubbingSpanExporter`], before the exporter sees them: the span
//!   name, every string attribute, every event (log messages recorded on the span) and
//!   the status message. It runs on the exporter's thread, off the request path.
//!
//! The scrubber is a trait so that this crate does not depend on the guardrails crate:
//! [`BuiltinScrubber`] knows the shapes that travel in HTTP (bearer and basic
//! credentials, cookies, JWTs, passwords in connection strings, `password=`-style pairs,
//! Palisade API keys), and a binary that has the guardrails' detectors chains them in
//! with [`ChainScrubber`].
//!
//! ```
//! use observe::{BuiltinScrubber, SecretScrubber};
//!
//! let scrubber = BuiltinScrubber::new();
//! let line = "connecting to postgres://app:hunter2@db:5432/main with Authorization: Bearer abc.def-123456";
//! let clean = scrubber.scrub(line);
//! assert!(!clean.contains("hunter2"));
//! assert!(!clean.contains("abc.def-123456"));
//! assert!(clean.contains("postgres://app:[REDACTED]@db:5432/main"));
//! ```

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use regex::{Captures, Regex};
use tracing_subscriber::fmt::MakeWriter;

/// The marker that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Finds secrets in text and replaces them.
///
/// Implementations must be conservative in the direction of privacy: a false positive
/// costs a log reader a few characters, a false negative leaks a credential.
pub trait SecretScrubber: Send + Sync + 'static {
    /// `text` with every secret found replaced; borrowed when nothing was found.
    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str>;
}

impl<S: SecretScrubber + ?Sized> SecretScrubber for Arc<S> {
    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        (**self).scrub(text)
    }
}

/// The secret shapes that travel in HTTP and configuration, found by one regex.
///
/// | shape | example | what is kept |
/// |---|---|---|
/// | `Bearer`/`Basic` credentials | `Authorization: Bearer eyJ…` | the scheme |
/// | JWTs anywhere | `eyJhbGciOi….eyJzdWIi….sig` | nothing |
/// | Palisade API keys | `psk_3kTMd9…` | nothing |
/// | passwords in URLs | `postgres://app:hunter2@db/x` | scheme, user, host |
/// | cookies | `cookie: sid=…; theme=dark` | the header name |
/// | secret-named pairs | `password=…`, `"api_key": "…"`, `?access_token=…` | the name |
#[derive(Debug, Clone)]
pub struct BuiltinScrubber {
    pattern: Regex,
}

impl Default for BuiltinScrubber {
    fn default() -> Self {
        Self::new()
    }
}

impl BuiltinScrubber {
    /// The scrubber with every built-in shape.
    #[must_use]
    pub fn new() -> Self {
        // One alternation, so a line is scanned once. ASCII classes only: the regex
        // crate's fast engines stay in use (a Unicode class can cost 10x).
        let pattern = concat!(
            // 1: an authorization scheme followed by its credential.
            r"(?i:\b(?P<scheme>bearer|basic)\s+)(?P<credential>[A-Za-z0-9._~+/=-]{6,})",
            // 2: a JWT (or JWE): base64url JSON header starting `{"`.
            r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_.-]*)",
            // 3: a Palisade API key.
            r"|(?P<apikey>\bpsk_[A-Za-z0-9]{16,})",
            // 4: the password of a URL's userinfo.
            r#"|(?P<userinfo>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@"'\\]*:)(?P<password>[^\s@"'\\/]+)@"#,
            // 5: a cookie header's value, up to the end of the quoted value or line.
            r#"|(?P<cookie>(?i:\b(?:set-)?cookie)(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?)(?P<cookies>[^"'\\\r\n]+)"#,
            // 6: a pair whose name says it holds a secret.
            r#"|(?P<name>(?i:\b[A-Za-z0-9_-]*(?:password|passwd|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|id[_-]?token|private[_-]?key|credential)s?)(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?)(?P<value>[^\s"'\\,;&}]+)"#,
        );
        // The pattern is a constant tested below; failing to compile it is a bug here.
        #[allow(clippy::expect_used)]
        let pattern = Regex::new(pattern).expect("the built-in scrubber pattern compiles");
        Self { pattern }
    }
}

impl SecretScrubber for BuiltinScrubber {
    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // Every shape needs one of these: whitespace (a scheme and its credential), `:`
        // or `=` (pairs, cookies, URLs), `eyJ` (a JWT) or `psk_` (an API key); non-ASCII
        // text may hold Unicode whitespace, so it goes to the regex. Most log values
        // (ids, codes, names) have none of them and are answered here.
        let maybe =
            text.bytes().any(|b| b.is_ascii_whitespace() || matches!(b, b':' | b'=' | 0x0b) || !b.is_ascii())
                || text.contains("eyJ")
                || text.contains("psk_");
        if !maybe {
            return Cow::Borrowed(text);
        }
        // Most text holds no secret: answer that without the capture machinery.
        if !self.pattern.is_match(text) {
            return Cow::Borrowed(text);
        }
        self.pattern.replace_all(text, |caps: &Captures<'_>| {
            let keep = ["scheme", "userinfo", "cookie", "name"]
                .iter()
                .find_map(|group| caps.name(group))
                .map_or("", |m| m.as_str());
            let tail = if caps.name("password").is_some() { "@" } else { "" };
            // The scheme group holds only the word; put back the space it ate.
            let gap = if caps.name("scheme").is_some() { " " } else { "" };
            format!("{keep}{gap}{REDACTED}{tail}")
        })
    }
}

/// Two scrubbers, one after the other.
#[derive(Debug, Clone)]
pub struct ChainScrubber<A, B> {
    first: A,
    second: B,
}

impl<A: SecretScrubber, B: SecretScrubber> ChainScrubber<A, B> {
    /// `first`, then `second` on what `first` left.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

impl<A: SecretScrubber, B: SecretScrubber> SecretScrubber for ChainScrubber<A, B> {
    fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.first.scrub(text) {
            Cow::Borrowed(text) => self.second.scrub(text),
            Cow::Owned(text) => Cow::Owned(self.second.scrub(&text).into_owned()),
        }
    }
}

/// A [`MakeWriter`] whose writers scrub each log line before it reaches `inner`.
///
/// The formatter hands a whole formatted event to one `write` call, and this writer
/// always takes the whole buffer, so a secret is never split across two scrubs.
#[derive(Clone)]
pub struct ScrubbingMakeWriter<M> {
    inner: M,
    scrubber: Arc<dyn SecretScrubber>,
}

impl<M> std::fmt::Debug for ScrubbingMakeWriter<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrubbingMakeWriter").finish_non_exhaustive()
    }
}

impl<M> ScrubbingMakeWriter<M> {
    /// Scrubs what goes to `inner`.
    pub fn new(inner: M, scrubber: Arc<dyn SecretScrubber>) -> Self {
        Self { inner, scrubber }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for ScrubbingMakeWriter<M> {
    type Writer = ScrubbingWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter { inner: self.inner.make_writer(), scrubber: &*self.scrubber }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        ScrubbingWriter { inner: self.inner.make_writer_for(meta), scrubber: &*self.scrubber }
    }
}

/// One scrubbing write; made by [`ScrubbingMakeWriter`].
pub struct ScrubbingWriter<'a, W> {
    inner: W,
    scrubber: &'a dyn SecretScrubber,
}

impl<W> std::fmt::Debug for ScrubbingWriter<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrubbingWriter").finish_non_exhaustive()
    }
}

impl<W: io::Write> io::Write for ScrubbingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(self.scrubber.scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A [`SpanExporter`] that scrubs each span before handing the batch to `inner` (the
/// OTLP exporter). It runs on the span export thread, so scrubbing costs the request
/// path nothing, and no span leaves the process unscrubbed.
#[derive(Debug)]
pub struct ScrubbingSpanExporter<E> {
    inner: E,
    scrubber: ScrubberHandle,
}

/// A shared scrubber with a `Debug` that says nothing.
#[derive(Clone)]
struct ScrubberHandle(Arc<dyn SecretScrubber>);

impl std::fmt::Debug for ScrubberHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretScrubber")
    }
}

impl<E: SpanExporter> ScrubbingSpanExporter<E> {
    /// Scrubs spans on their way to `inner`.
    pub fn new(inner: E, scrubber: Arc<dyn SecretScrubber>) -> Self {
        Self { inner, scrubber: ScrubberHandle(scrubber) }
    }
}

fn scrub_string(scrubber: &dyn SecretScrubber, text: StringValue) -> StringValue {
    match scrubber.scrub(text.as_str()) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => StringValue::from(clean),
    }
}

fn scrub_value(scrubber: &dyn SecretScrubber, value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(scrub_string(scrubber, text)),
        Value::Array(Array::String(items)) => {
            Value::Array(Array::String(items.into_iter().map(|s| scrub_string(scrubber, s)).collect()))
        }
        other => other,
    }
}

/// Whether a field's *name* says its value is a credential (`password`, `api_key`,
/// `client_secret`, `cookie`, `authorization`, `session`, anything with `token`...).
/// Such a value is replaced whole, whatever it looks like: a pattern could miss a
/// password with spaces in it, the name cannot. ASCII case is ignored.
#[must_use]
pub fn is_secret_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "secret",
        "apikey",
        "api_key",
        "api-key",
        "token",
        "cookie",
        "authorization",
        "credential",
        "private_key",
        "privatekey",
        "session",
    ];
    // Asked for every field of every line: one automaton pass, no allocation.
    static NAMES: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> = std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(WORDS).ok()
    });
    match &*NAMES {
        Some(words) => words.is_match(name),
        // The automaton of a fixed word list always builds; were it not to, every
        // field would count as a secret (fail closed).
        None => true,
    }
}

/// What a field's name says about its value, as the log formatter asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldName {
    /// [`is_secret_name`]: the value is replaced whole.
    Secret,
    /// One of [`PRODUCED_BY_PALISADE`]: the value skips scanning when it has their shape.
    Produced,
    /// `http.request.method`: only the standard methods skip scanning.
    Method,
    /// Anything else: the value is scanned.
    Other,
}

fn classify_uncached(name: &str) -> FieldName {
    if is_secret_name(name) { FieldName::Secret } else { scan_class(name) }
}

/// What the name says about skipping the scan, secret names aside.
fn scan_class(name: &str) -> FieldName {
    if name == "http.request.method" {
        FieldName::Method
    } else if PRODUCED_BY_PALISADE.contains(&name) {
        FieldName::Produced
    } else {
        FieldName::Other
    }
}

/// [`FieldName`] of a `tracing` field name, remembered per thread. Field names are
/// `'static` strings in the binary, so the same name comes back at the same address:
/// a small direct-mapped table keyed by address and length answers the repeat
/// questions without running the word automaton again (every field of every line asks).
pub(crate) fn classify_field(name: &'static str) -> FieldName {
    const SLOTS: usize = 128;
    thread_local! {
        static SEEN: [std::cell::Cell<(usize, usize, FieldName)>; SLOTS] =
            const { [const { std::cell::Cell::new((0, 0, FieldName::Other)) }; SLOTS] };
    }
    let address = name.as_ptr() as usize;
    let slot = (address ^ (address >> 7) ^ name.len()) % SLOTS;
    SEEN.with(|seen| {
        let (seen_address, seen_len, class) = seen[slot].get();
        // A zero address never matches: no string lives there.
        if seen_address == address && seen_len == name.len() {
            return class;
        }
        let class = classify_uncached(name);
        seen[slot].set((address, name.len(), class));
        class
    })
}

/// [`needs_no_scan`] for a name already classified.
pub(crate) fn needs_no_scan_classified(class: FieldName, value: &str) -> bool {
    match class {
        FieldName::Method => matches!(
            value,
            "GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH" | "CONNECT" | "TRACE" | "_OTHER"
        ),
        FieldName::Produced => {
            value.len() <= 128
                && value
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b':' | b'/' | b'-'))
        }
        FieldName::Secret | FieldName::Other => false,
    }
}

/// Fields whose values Palisade itself produces from bounded, validated sources
/// (registered tool names, pseudonyms, outcome codes, trace ids it generated).
const PRODUCED_BY_PALISADE: &[&str] = &[
    "mcp.method.name",
    "gen_ai.tool.name",
    "enduser.pseudo.id",
    "palisade.tenant",
    "palisade.outcome",
    "error.type",
    "trace_id",
    "outcome",
    "code",
];

/// Whether a string value can skip scanning: its field is one Palisade fills itself
/// *and* the value has the shape such values have (lower-case letters, digits and
/// `._:/-`, at most 128 bytes). Names alone are not trusted: a handler could log any
/// text under `trace_id`; but no credential format fits the shape except plain
/// lower-case hex, and Palisade puts none of those under these names.
#[must_use]
pub fn needs_no_scan(name: &str, value: &str) -> bool {
    needs_no_scan_classified(scan_class(name), value)
}

fn scrub_attributes(scrubber: &dyn SecretScrubber, attributes: &mut [KeyValue]) {
    for attribute in attributes.iter_mut() {
        let class = classify_uncached(attribute.key.as_str());
        if class == FieldName::Secret {
            attribute.value = Value::String(StringValue::from(REDACTED));
            continue;
        }
        if let Value::String(text) = &attribute.value
            && needs_no_scan_classified(class, text.as_str())
        {
            continue;
        }
        let value = std::mem::replace(&mut attribute.value, Value::Bool(false));
        attribute.value = scrub_value(scrubber, value);
    }
}

fn scrub_cow(scrubber: &dyn SecretScrubber, text: Cow<'static, str>) -> Cow<'static, str> {
    match scrubber.scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => Cow::Owned(clean),
    }
}

/// Scrubs every string a span carries: its name, attributes, events, links and status.
pub fn scrub_span(scrubber: &dyn SecretScrubber, span: &mut SpanData) {
    span.name = scrub_cow(scrubber, std::mem::take(&mut span.name));
    scrub_attributes(scrubber, &mut span.attributes);
    for event in span.events.events.iter_mut() {
        event.name = scrub_cow(scrubber, std::mem::take(&mut event.name));
        scrub_attributes(scrubber, &mut event.attributes);
    }
    for link in span.links.links.iter_mut() {
        scrub_attributes(scrubber, &mut link.attributes);
    }
    if let opentelemetry::trace::Status::Error { description } = &mut span.status {
        *description = scrub_cow(scrubber, std::mem::take(description));
    }
}

impl<E: SpanExporter> SpanExporter for ScrubbingSpanExporter<E> {
    fn export(&self, mut batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            scrub_span(&*self.scrubber.0, span);
        }
        self.inner.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// (input, secret that must be gone, text that must survive)
    const CASES: &[(&str, &str, &str)] = &[
        ("Authorization: Bearer abcdef123456", "abcdef123456", "Authorization: Bearer [REDACTED]"),
        ("authorization: bearer abc.def_ghi-jkl", "abc.def_ghi-jkl", "bearer [REDACTED]"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Basic [REDACTED]"),
        ("Bearer\u{a0}abcdef123456", "abcdef123456", "Bearer [REDACTED]"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl", "eyJzdWIiOiJhIn0", "[REDACTED]"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl done",
            "eyJzdWIiOiJhbGljZSJ9",
            " done",
        ),
        (
            "key psk_3kTMd9yQ0bWcJ7rXe1LhV5gN2pAsZ8uF4oKiYj6t0Rw2Ab1 used",
            "psk_3kTMd9yQ0bWcJ7rXe1",
            "key [REDACTED] used",
        ),
        ("postgres://app:hunter2@db:5432/main", "hunter2", "postgres://app:[REDACTED]@db:5432/main"),
        ("redis://:s3cret@127.0.0.1:6379", "s3cret", "redis://:[REDACTED]@127.0.0.1"),
        ("{\"cookie\":\"sid=abc123; theme=dark\"}", "sid=abc123", "{\"cookie\":\"[REDACTED]\"}"),
        ("Set-Cookie: session=xyz789; HttpOnly", "xyz789", "Set-Cookie: [REDACTED]"),
        ("password=hunter2 user=alice", "hunter2", "password=[REDACTED] user=alice"),
        ("{\"api_key\": \"k-123456\", \"n\": 1}", "k-123456", "\"api_key\": \"[REDACTED]\", \"n\": 1"),
        ("GET /cb?code=1&access_token=tok123&x=2", "tok123", "access_token=[REDACTED]&x=2"),
        ("client_secret: abc", "client_secret: abc", "client_secret: [REDACTED]"),
        ("DB_PASSWORD='pa55'", "pa55", "DB_PASSWORD='[REDACTED]'"),
        // Inside a JSON string, quotes are escaped: the escape is kept, the value is not.
        (r#"{"message":"config {\"password\": \"pa55\"}"}"#, "pa55", r#"\"password\": \"[REDACTED]\"}"#),
        (r#"{"message":"headers {\"cookie\": \"sid=1\"}"}"#, "sid=1", r#"\"cookie\": \"[REDACTED]\"}"#),
    ];

    #[test]
    fn every_shape_is_redacted_and_the_context_kept() {
        let scrubber = BuiltinScrubber::new();
        for (input, secret, kept) in CASES {
            let out = scrubber.scrub(input);
            assert!(!out.contains(secret), "{input:?} -> {out:?} still holds {secret:?}");
            assert!(out.contains(kept), "{input:?} -> {out:?} lost {kept:?}");
        }
    }

    #[test]
    fn cached_field_classes_match_the_uncached_answer() {
        // More names than the table has slots, asked three times each, so slots are
        // shared and overwritten: every answer must still be the one for that name.
        let mut names: Vec<&'static str> = vec![
            "password",
            "client_secret",
            "Authorization",
            "session_id",
            "http.request.method",
            "trace_id",
            "gen_ai.tool.name",
            "outcome",
            "request_id",
            "duration_us",
            "message",
            "token",
        ];
        for i in 0..300 {
            names.push(Box::leak(format!("field_{i}").into_boxed_str()));
            names.push(Box::leak(format!("api_key_{i}").into_boxed_str()));
        }
        for _ in 0..3 {
            for name in &names {
                assert_eq!(classify_field(name), classify_uncached(name), "{name}");
            }
        }
        assert_eq!(classify_field("password"), FieldName::Secret);
        assert_eq!(classify_field("trace_id"), FieldName::Produced);
        assert_eq!(classify_field("http.request.method"), FieldName::Method);
        assert_eq!(classify_field("request_id"), FieldName::Other);
        assert!(needs_no_scan_classified(FieldName::Method, "POST"));
        assert!(!needs_no_scan_classified(FieldName::Method, "EYJHBGCI"));
        assert!(!needs_no_scan_classified(FieldName::Produced, "Bearer abc"));
        assert!(!needs_no_scan_classified(FieldName::Other, "abc"));
    }

    #[test]
    fn secret_names_and_safe_shapes() {
        for name in [
            "password",
            "DB_PASSWORD",
            "api_key",
            "X-Api-Key",
            "client_secret",
            "cookie",
            "Authorization",
            "access_token",
            "session_id",
            "has_api_key",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["request_id", "trace_id", "outcome", "gen_ai.tool.name", "duration_us", "message"] {
            assert!(!is_secret_name(name), "{name}");
        }
        assert!(needs_no_scan("enduser.pseudo.id", "pid_5f2b8c1d9e0a4b7c8d6e5f4a3b2c1d0e"));
        assert!(needs_no_scan("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"));
        // A JWT under a trusted name: upper case and the shape fail, so it is scanned.
        assert!(!needs_no_scan("trace_id", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
        assert!(!needs_no_scan("trace_id", "ada@example.com"));
        assert!(!needs_no_scan("request_id", "req-1"), "caller-supplied names are always scanned");
        assert!(!needs_no_scan("trace_id", &"a".repeat(129)));
        assert!(needs_no_scan("http.request.method", "POST"));
        assert!(!needs_no_scan("http.request.method", "eyJhbGciOiJIUzI1NiJ9"));
    }

    #[test]
    fn span_attributes_under_secret_names_are_replaced_whole() {
        let scrubber = BuiltinScrubber::new();
        let mut attributes = vec![
            KeyValue::new("password", "correct horse battery staple"),
            KeyValue::new("has_api_key", true),
            KeyValue::new("note", "Bearer abcdef123456"),
            KeyValue::new("trace_id", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"),
            KeyValue::new("gen_ai.tool.name", "customers.get_customer"),
        ];
        scrub_attributes(&scrubber, &mut attributes);
        let text: Vec<String> = attributes.iter().map(|kv| kv.value.as_str().into_owned()).collect();
        assert_eq!(text[0], REDACTED);
        assert_eq!(text[1], REDACTED);
        assert_eq!(text[2], "Bearer [REDACTED]");
        assert!(!text[3].contains("eyJzdWIi"), "{}", text[3]);
        assert_eq!(text[4], "customers.get_customer");
    }

    #[test]
    fn ordinary_text_is_borrowed_untouched() {
        let scrubber = BuiltinScrubber::new();
        for text in [
            "tool call finished outcome=ok duration_us=812",
            "the bearer of bad news",
            "https://example.com/path?x=1",
            "password policy changed",
            "{\"tool\":\"get_customer\",\"principal\":\"pid_0123456789abcdef0123456789abcdef\"}",
        ] {
            assert!(matches!(scrubber.scrub(text), Cow::Borrowed(_)), "{text:?} was changed");
        }
    }

    #[test]
    fn chained_scrubbers_both_apply() {
        struct Word(&'static str);
        impl SecretScrubber for Word {
            fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
                if text.contains(self.0) {
                    Cow::Owned(text.replace(self.0, REDACTED))
                } else {
                    Cow::Borrowed(text)
                }
            }
        }
        let chain = ChainScrubber::new(BuiltinScrubber::new(), Word("alice@example.com"));
        let out = chain.scrub("user alice@example.com with password=x1");
        assert_eq!(out, "user [REDACTED] with password=[REDACTED]");
        assert!(matches!(chain.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_scrubs_whole_lines() {
        use std::io::Write as _;
        let sink = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        #[derive(Clone)]
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl io::Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let make = ScrubbingMakeWriter::new(
            {
                let sink = Shared(Arc::clone(&sink));
                move || sink.clone()
            },
            Arc::new(BuiltinScrubber::new()),
        );
        make.make_writer().write_all(b"{\"msg\":\"Bearer abcdef123456\"}\n").unwrap();
        let written = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "{\"msg\":\"Bearer [REDACTED]\"}\n");
    }
}
