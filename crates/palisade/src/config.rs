//! `palisade serve --config palisade.toml`: the settings of a deployment.
//!
//! Every key can be overridden by an environment variable `PALISADE_<KEY>` (upper case,
//! e.g. `PALISADE_LISTEN`, `PALISADE_JWKS_URL`). Secrets are never read from the file: it
//! names where they are (`jwt_secret_env`, `jwt_secret_file`), and a file that holds one is
//! refused. See docs/CONFIGURATION.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Example;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) server: Server,
    #[serde(default)]
    pub(crate) auth: Auth,
    #[serde(default)]
    pub(crate) limits: Limits,
    #[serde(default)]
    pub(crate) audit: AuditSection,
    /// Logs, traces and metrics (`[observe.log]`, `[observe.otlp]`, `[observe.metrics]`).
    #[serde(default)]
    pub(crate) observe: observe::ObserveConfig,
    /// What tool results pass before callers see them.
    #[serde(default)]
    pub(crate) guardrails: GuardrailsSection,
}

/// `[guardrails]`: tool results are scanned for personal data, credentials and
/// injection attempts under each tenant's rules (`guardrails::policy`), layered: the
/// built-in rules, then `[guardrails.tool_result]`, then `[guardrails.tenants.<id>]`.
/// A key left out keeps the layer below, so writing one rule never resets the others.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GuardrailsSection {
    /// Scan every successful tool result (default true).
    pub(crate) scan_tool_results: bool,
    /// Changes to the built-in rules, for every tenant.
    pub(crate) tool_result: RulesOverride,
    /// Changes for one tenant, over `tool_result`.
    pub(crate) tenants: std::collections::BTreeMap<String, RulesOverride>,
}

impl Default for GuardrailsSection {
    fn default() -> Self {
        Self {
            scan_tool_results: true,
            tool_result: RulesOverride::default(),
            tenants: std::collections::BTreeMap::new(),
        }
    }
}

/// Some of a direction's rules; the rest come from the layer below.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesOverride {
    pub(crate) pii: Option<guardrails::policy::Action>,
    pub(crate) secrets: Option<guardrails::policy::Action>,
    /// Per-type exceptions by protocol name, added to the layer below's.
    pub(crate) entities: Option<std::collections::BTreeMap<String, guardrails::policy::Action>>,
    pub(crate) injection: Option<guardrails::policy::InjectionAction>,
    pub(crate) injection_threshold: Option<f32>,
}

impl RulesOverride {
    fn over(
        &self,
        mut rules: guardrails::policy::Rules,
        at: &str,
    ) -> Result<guardrails::policy::Rules, String> {
        rules.pii = self.pii.unwrap_or(rules.pii);
        rules.secrets = self.secrets.unwrap_or(rules.secrets);
        rules.injection = self.injection.unwrap_or(rules.injection);
        if let Some(threshold) = self.injection_threshold {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(format!("[{at}] injection_threshold {threshold} is outside [0, 1]"));
            }
            rules.injection_threshold = threshold;
        }
        for (name, action) in self.entities.iter().flatten() {
            let entity = guardrails::pii::Entity::from_name(name)
                .ok_or_else(|| format!("[{at}] entities: unknown entity type {name:?}"))?;
            rules.entities.insert(entity, *action);
        }
        Ok(rules)
    }
}

impl GuardrailsSection {
    /// The built-in rules for tool results: personal data the tool's guards already let
    /// this caller see is reported, not redacted (a support agent needs the customer's
    /// e-mail); credentials are redacted; an injection attempt withholds the result.
    pub(crate) fn built_in_rules() -> guardrails::policy::Rules {
        use guardrails::policy::{Action, Rules};
        Rules { pii: Action::Warn, ..Rules::default() }
    }

    /// The policy book these layers describe (only the tool-result direction is used by
    /// the server).
    pub(crate) fn book(&self) -> Result<guardrails::policy::PolicyBook, String> {
        use guardrails::policy::{Direction, Policy, PolicyBook};
        let default = self.tool_result.over(Self::built_in_rules(), "guardrails.tool_result")?;
        let mut book = PolicyBook::new(Policy::default().with(Direction::ToolResult, default.clone()));
        for (tenant, changes) in &self.tenants {
            let at = format!("guardrails.tenants.{tenant}");
            let id = tenant
                .parse::<identity_types::TenantId>()
                .map_err(|e| format!("[{at}]: not a tenant id: {e}"))?;
            let rules = changes.over(default.clone(), &at)?;
            book = book.with_tenant(id, Policy::default().with(Direction::ToolResult, rules));
        }
        Ok(book)
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Server {
    /// Which tool set to serve.
    pub(crate) example: String,
    pub(crate) listen: SocketAddr,
    /// The resource identifier (and required token audience); default `http://<listen>/mcp`.
    pub(crate) public_url: Option<String>,
    pub(crate) data_dir: PathBuf,
    pub(crate) allow_anonymous: bool,
    pub(crate) max_body_bytes: usize,
    pub(crate) default_timeout_secs: u64,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) dev_token_endpoint: bool,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            example: "customer-ops".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("palisade-data"),
            allow_anonymous: false,
            max_body_bytes: 1024 * 1024,
            default_timeout_secs: 30,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            dev_token_endpoint: false,
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Auth {
    /// Environment variable holding an HS256 secret.
    pub(crate) jwt_secret_env: Option<String>,
    /// File holding an HS256 secret.
    pub(crate) jwt_secret_file: Option<PathBuf>,
    /// Required `iss` of JWTs.
    pub(crate) issuer: Option<String>,
    /// JWKS URL for asymmetric JWTs.
    pub(crate) jwks_url: Option<String>,
    /// OIDC issuer whose discovery document names the JWKS.
    pub(crate) oidc_issuer: Option<String>,
    /// Accept API keys from `<data_dir>/api-keys.json`.
    pub(crate) api_keys: bool,
    pub(crate) tenant_claim: String,
    pub(crate) cache_capacity: usize,
    pub(crate) leeway_secs: u64,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            jwt_secret_env: None,
            jwt_secret_file: None,
            issuer: None,
            jwks_url: None,
            oidc_issuer: None,
            api_keys: true,
            tenant_claim: "tenant_id".into(),
            cache_capacity: 256,
            leeway_secs: 60,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limits {
    /// Calls per second per principal, all tools together (0: unlimited).
    pub(crate) rate_per_second: u32,
    pub(crate) max_concurrency: usize,
    pub(crate) max_concurrency_per_principal: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { rate_per_second: 50, max_concurrency: 256, max_concurrency_per_principal: 16 }
    }
}

/// `[audit]`: the tamper-evident log.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuditSection {
    /// The log directory (default `<data_dir>/audit`).
    pub(crate) dir: Option<PathBuf>,
    /// The Ed25519 checkpoint signing key, PEM (default `<data_dir>/audit-checkpoint.key`,
    /// generated when missing). Keep it away from the log.
    pub(crate) signing_key_file: Option<PathBuf>,
    /// The HMAC chain key file when `PALISADE_AUDIT_HMAC_KEY` is unset (default
    /// `<data_dir>/audit-hmac.secret`, generated when missing).
    pub(crate) hmac_key_file: Option<PathBuf>,
    pub(crate) checkpoint_every: u64,
    pub(crate) checkpoint_interval_ms: u64,
    pub(crate) max_segment_bytes: u64,
    /// The writer thread's niceness (0 to 19; only ever lowered to it).
    pub(crate) writer_nice: u8,
    /// Run tool calls even when they cannot be audited (default false: refuse them).
    pub(crate) fail_open: bool,
    /// Record a redacted copy of each call's arguments (default false: digests only).
    pub(crate) record_arguments: bool,
    /// Field names redacted in those copies, beyond the built-in sensitive ones.
    pub(crate) redact_fields: Vec<String>,
    /// Export every checkpoint to this file (on another volume).
    pub(crate) witness_file: Option<PathBuf>,
    /// POST every checkpoint to this URL.
    pub(crate) witness_url: Option<String>,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            dir: None,
            signing_key_file: None,
            hmac_key_file: None,
            checkpoint_every: 10_000,
            checkpoint_interval_ms: 1_000,
            max_segment_bytes: 64 << 20,
            writer_nice: 5,
            fail_open: false,
            record_arguments: false,
            redact_fields: Vec::new(),
            witness_file: None,
            witness_url: None,
        }
    }
}

/// Checks that `value`, where a setting names an environment variable, looks like a
/// variable's name. The value is never repeated: the usual mistake is pasting the secret
/// itself where its variable's name belongs.
pub(crate) fn env_name(setting: &str, value: Option<&str>) -> Result<(), String> {
    let Some(value) = value else { return Ok(()) };
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && value.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "{setting} must name an environment variable (letters, digits and _, not starting with a digit); the value given is not shown, in case it is the secret itself"
        ))
    }
}

/// The dotted path of the first key, at any depth, that would put a secret in the file:
/// a secret-named key holding a value (a table of that name, a tenant called `secret`
/// say, is not one).
fn secret_key(table: &toml::Table, prefix: &str) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => secret_key(inner, &path),
            toml::Value::Array(items) => items.iter().find_map(|item| match item {
                toml::Value::Table(inner) => secret_key(inner, &path),
                _ => SECRET_KEYS.contains(&key.as_str()).then(|| path.clone()),
            }),
            _ => SECRET_KEYS.contains(&key.as_str()).then_some(path),
        }
    })
}

/// A TOML error without the source text: toml's own message quotes the offending line,
/// which may hold a secret (a mistyped key's value, say), and errors reach logs. Values
/// quoted in the message itself (`invalid type: string "…"`, ``unknown variant `…` ``)
/// are cut out too; names of keys stay, they say what to fix.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = redact_quoted_values(error.message());
    match error.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

/// Replaces each `"…"` in a serde message, and the `` `…` `` after `unknown variant`, by
/// `"…"`: those quote the value the file held.
fn redact_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let quote = rest.find('"');
        let variant = rest.find("unknown variant `").map(|i| i + "unknown variant ".len());
        let (at, close) = match (quote, variant) {
            (Some(q), Some(v)) if v < q => (v, '`'),
            (Some(q), _) => (q, '"'),
            (None, Some(v)) => (v, '`'),
            (None, None) => break,
        };
        out.push_str(&rest[..at]);
        match rest[at + 1..].find(close) {
            Some(end) => {
                out.push_str("\"…\"");
                rest = &rest[at + 1 + end + 1..];
            }
            None => {
                out.push_str("\"…\"");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Keys that would put a secret in the file.
const SECRET_KEYS: &[&str] = &[
    "jwt_secret",
    "secret",
    "client_secret",
    "password",
    "api_key",
    "privacy_secret",
    "hmac_key",
    "signing_key",
];

impl Config {
    /// Reads `path`, then applies `PALISADE_*` overrides from `env`.
    pub(crate) fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, env).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub(crate) fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let raw: toml::Table = text.parse().map_err(|e: toml::de::Error| toml_error(text, &e))?;
        if let Some(path) = secret_key(&raw, "") {
            return Err(format!(
                "{path}: secrets are never read from the config file; name an environment variable (jwt_secret_env) or a file (jwt_secret_file)"
            ));
        }
        let mut config: Self = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        fn parsed<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value.parse().map_err(|_| format!("PALISADE_{key}: cannot parse {value:?}"))
        }
        let s = &mut self.server;
        let a = &mut self.auth;
        let l = &mut self.limits;
        for key in [
            "EXAMPLE",
            "LISTEN",
            "PUBLIC_URL",
            "DATA_DIR",
            "ALLOW_ANONYMOUS",
            "MAX_BODY_BYTES",
            "DEFAULT_TIMEOUT_SECS",
            "DEV_TOKEN_ENDPOINT",
            "JWT_SECRET_ENV",
            "JWT_SECRET_FILE",
            "ISSUER",
            "JWKS_URL",
            "OIDC_ISSUER",
            "API_KEYS",
            "TENANT_CLAIM",
            "CACHE_CAPACITY",
            "LEEWAY_SECS",
            "RATE_PER_SECOND",
            "MAX_CONCURRENCY",
            "MAX_CONCURRENCY_PER_PRINCIPAL",
            "AUDIT_DIR",
            "AUDIT_FAIL_OPEN",
            "AUDIT_WITNESS_FILE",
            "AUDIT_WITNESS_URL",
            "LOG_FORMAT",
            "LOG_FILTER",
            "OTLP_ENDPOINT",
            "METRICS_LISTEN",
            "METRICS_TOKEN_ENV",
            "GUARDRAILS_SCAN_TOOL_RESULTS",
        ] {
            let Some(value) = env(&format!("PALISADE_{key}")) else { continue };
            match key {
                "EXAMPLE" => s.example = value,
                "LISTEN" => s.listen = parsed(key, &value)?,
                "PUBLIC_URL" => s.public_url = Some(value),
                "DATA_DIR" => s.data_dir = PathBuf::from(value),
                "ALLOW_ANONYMOUS" => s.allow_anonymous = parsed(key, &value)?,
                "MAX_BODY_BYTES" => s.max_body_bytes = parsed(key, &value)?,
                "DEFAULT_TIMEOUT_SECS" => s.default_timeout_secs = parsed(key, &value)?,
                "DEV_TOKEN_ENDPOINT" => s.dev_token_endpoint = parsed(key, &value)?,
                "JWT_SECRET_ENV" => a.jwt_secret_env = Some(value),
                "JWT_SECRET_FILE" => a.jwt_secret_file = Some(PathBuf::from(value)),
                "ISSUER" => a.issuer = Some(value),
                "JWKS_URL" => a.jwks_url = Some(value),
                "OIDC_ISSUER" => a.oidc_issuer = Some(value),
                "API_KEYS" => a.api_keys = parsed(key, &value)?,
                "TENANT_CLAIM" => a.tenant_claim = value,
                "CACHE_CAPACITY" => a.cache_capacity = parsed(key, &value)?,
                "LEEWAY_SECS" => a.leeway_secs = parsed(key, &value)?,
                "RATE_PER_SECOND" => l.rate_per_second = parsed(key, &value)?,
                "MAX_CONCURRENCY" => l.max_concurrency = parsed(key, &value)?,
                "AUDIT_DIR" => self.audit.dir = Some(PathBuf::from(value)),
                "AUDIT_FAIL_OPEN" => self.audit.fail_open = parsed(key, &value)?,
                "AUDIT_WITNESS_FILE" => self.audit.witness_file = Some(PathBuf::from(value)),
                "AUDIT_WITNESS_URL" => self.audit.witness_url = Some(value),
                "LOG_FORMAT" => {
                    self.observe.log.format = match value.as_str() {
                        "json" => observe::LogFormat::Json,
                        "text" => observe::LogFormat::Text,
                        _ => return Err(format!("PALISADE_{key}: {value:?} is neither json nor text")),
                    }
                }
                "LOG_FILTER" => self.observe.log.filter = value,
                "OTLP_ENDPOINT" => {
                    let otlp = self.observe.otlp.get_or_insert_with(|| observe::OtlpConfig {
                        endpoint: String::new(),
                        sample_ratio: 1.0,
                        service_name: "palisade".into(),
                        timeout_ms: 5_000,
                    });
                    otlp.endpoint = value;
                }
                "METRICS_LISTEN" => self.observe.metrics.listen = parsed(key, &value)?,
                "METRICS_TOKEN_ENV" => self.observe.metrics.bearer_token_env = Some(value),
                "GUARDRAILS_SCAN_TOOL_RESULTS" => self.guardrails.scan_tool_results = parsed(key, &value)?,
                _ => l.max_concurrency_per_principal = parsed(key, &value)?,
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        self.example()?;
        self.guardrails.book()?;
        let a = &self.auth;
        env_name("[auth] jwt_secret_env", a.jwt_secret_env.as_deref())?;
        env_name("[observe.metrics] bearer_token_env", self.observe.metrics.bearer_token_env.as_deref())?;
        if a.jwt_secret_env.is_some() && a.jwt_secret_file.is_some() {
            return Err("[auth] name the JWT secret once: jwt_secret_env or jwt_secret_file".into());
        }
        if a.jwks_url.is_some() && a.oidc_issuer.is_some() {
            return Err("[auth] jwks_url and oidc_issuer are alternatives; give one".into());
        }
        let any_provider = a.jwt_secret_env.is_some()
            || a.jwt_secret_file.is_some()
            || a.jwks_url.is_some()
            || a.oidc_issuer.is_some()
            || a.api_keys;
        if !any_provider && !self.server.allow_anonymous {
            return Err("[auth] configures no way to authenticate; set a JWT secret, jwks_url, oidc_issuer or api_keys, or allow_anonymous".into());
        }
        Ok(())
    }

    /// The example named by `server.example`.
    pub(crate) fn example(&self) -> Result<Example, String> {
        match self.server.example.as_str() {
            "customer-ops" => Ok(Example::CustomerOps),
            other => Err(format!("[server] example: unknown example {other:?} (known: customer-ops)")),
        }
    }

    /// The resource identifier.
    pub(crate) fn resource(&self, bound: SocketAddr) -> String {
        self.server.public_url.clone().unwrap_or_else(|| format!("http://{bound}/mcp"))
    }

    /// The HS256 secret, from the named environment variable or file.
    pub(crate) fn jwt_secret(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Vec<u8>>, String> {
        if let Some(var) = &self.auth.jwt_secret_env {
            return env(var)
                .map(|s| Some(s.into_bytes()))
                .ok_or_else(|| format!("[auth] jwt_secret_env: {var} is not set"));
        }
        if let Some(path) = &self.auth.jwt_secret_file {
            let bytes =
                std::fs::read(path).map_err(|e| format!("[auth] jwt_secret_file {}: {e}", path.display()))?;
            return Ok(Some(bytes.trim_ascii().to_vec()));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_and_overrides() {
        let text = "[server]\nlisten = \"127.0.0.1:9000\"\n[auth]\njwt_secret_env = \"MY_SECRET\"\n";
        let config = Config::parse(text, no_env).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.limits.rate_per_second, 50);
        let env = |k: &str| match k {
            "PALISADE_LISTEN" => Some("0.0.0.0:7000".to_owned()),
            "PALISADE_RATE_PER_SECOND" => Some("5".to_owned()),
            "PALISADE_PUBLIC_URL" => Some("https://mcp.example.com/mcp".to_owned()),
            _ => None,
        };
        let config = Config::parse(text, env).unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:7000".parse().unwrap());
        assert_eq!(config.limits.rate_per_second, 5);
        assert_eq!(config.resource("0.0.0.0:7000".parse().unwrap()), "https://mcp.example.com/mcp");
    }

    #[test]
    fn guardrails_rules_are_layered() {
        use guardrails::pii::Entity;
        use guardrails::policy::{Action, Direction, InjectionAction};
        let config = Config::parse("", no_env).unwrap();
        assert!(config.guardrails.scan_tool_results, "on unless turned off");
        let book = config.guardrails.book().unwrap();
        let rules = book.default_policy().rules(Direction::ToolResult);
        assert_eq!(
            (rules.pii, rules.secrets, rules.injection),
            (Action::Warn, Action::Redact, InjectionAction::Block)
        );
        let text = "[auth]\njwt_secret_env = \"S\"\n[guardrails.tool_result]\nsecrets = \"block\"\nentities = { US_SSN = \"redact\" }\n\n[guardrails.tenants.acme]\npii = \"redact\"\nentities = { EMAIL_ADDRESS = \"allow\" }\n";
        let book = Config::parse(text, no_env).unwrap().guardrails.book().unwrap();
        let default = book.default_policy().rules(Direction::ToolResult);
        // Writing one rule keeps the built-in others.
        assert_eq!(
            (default.pii, default.secrets, default.injection),
            (Action::Warn, Action::Block, InjectionAction::Block)
        );
        let acme = book.for_tenant(&"acme".parse().unwrap()).rules(Direction::ToolResult);
        // A tenant's changes sit on the section's, not on the built-in rules.
        assert_eq!((acme.pii, acme.secrets), (Action::Redact, Action::Block));
        assert_eq!(acme.action(Entity::EmailAddress), Action::Allow);
        assert_eq!(acme.action(Entity::UsSsn), Action::Redact, "the section's exception stays");
        let off = |k: &str| (k == "PALISADE_GUARDRAILS_SCAN_TOOL_RESULTS").then(|| "false".to_owned());
        assert!(!Config::parse("", off).unwrap().guardrails.scan_tool_results);
    }

    #[test]
    fn refusals_table() {
        let cases = [
            ("[auth]\njwt_secret = \"hunter2hunter2hunter2hunter2hunter2\"\n", "secrets are never read"),
            ("[dev]\npassword = \"x\"\n", "secrets are never read"),
            ("[server]\nlisten_port = 8080\n", "unknown field"),
            ("[server]\nexample = \"nope\"\n", "unknown example"),
            ("[auth]\njwks_url = \"https://a\"\noidc_issuer = \"https://b\"\n", "alternatives"),
            ("[auth]\napi_keys = false\n", "no way to authenticate"),
            ("[server\n", "expected"),
            ("[guardrails]\nscan_results = true\n", "unknown field"),
            ("[guardrails.tool_result]\npii = \"hide\"\n", "unknown variant"),
            ("[guardrails.tool_result]\nentities = { EMAIL = \"allow\" }\n", "unknown entity type"),
            ("[guardrails.tool_result]\ninjection_threshold = 1.5\n", "outside [0, 1]"),
            (
                "[guardrails.tenants.acme]\nsecret = \"block\"\n",
                "guardrails.tenants.acme.secret: secrets are never read",
            ),
            ("jwt_secret = \"hunter2hunter2hunter2\"\n", "jwt_secret: secrets are never read"),
            (
                "[observe.otlp]\npassword = \"hunter2hunter2\"\n",
                "observe.otlp.password: secrets are never read",
            ),
            ("[guardrails.tenants.\"\"]\npii = \"block\"\n", "not a tenant id"),
        ];
        for (text, expected) in cases {
            let err = Config::parse(text, no_env).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        // An error never quotes the file: a mistyped secret key's value stays out of it,
        // as does a secret pasted where a setting wants a variable's name.
        for text in [
            "[auth]\njwt_secert = \"hunter2hunter2hunter2\"\n",
            "[auth]\njwt_secret_env = \"hunter2hunter2hunter2\n",
            "[server]\nlisten = \"hunter2hunter2hunter2\"\n",
            "[auth]\napi_keys = \"hunter2hunter2hunter2\"\n",
            "[guardrails]\ntool_result = { pii = \"hunter2hunter2hunter2\" }\n",
        ] {
            let err = Config::parse(text, no_env).unwrap_err();
            assert!(!err.contains("hunter2"), "{text:?}: {err}");
            assert!(err.starts_with("line 2: "), "{text:?}: {err}");
        }
        for text in [
            "[auth]\njwt_secret_env = \"hunter2 hunter2-hunter2\"\n",
            "[observe.metrics]\nbearer_token_env = \"Bearer hunter2hunter2\"\n",
        ] {
            let err = Config::parse(text, no_env).unwrap_err();
            assert!(
                !err.contains("hunter2") && err.contains("must name an environment variable"),
                "{text:?}: {err}"
            );
        }
        // A table named like a secret is not one (a tenant called `secret`).
        let tenant = "[auth]\njwt_secret_env = \"S\"\n[guardrails.tenants.secret]\npii = \"block\"\n";
        assert!(Config::parse(tenant, no_env).is_ok());
        assert_eq!(
            redact_quoted_values("invalid type: string \"s3cr3t\", expected a boolean"),
            "invalid type: string \"…\", expected a boolean"
        );
        assert_eq!(
            redact_quoted_values("unknown variant `s3cr3t`, expected one of `allow`, `block`"),
            "unknown variant \"…\", expected one of `allow`, `block`"
        );
        assert_eq!(redact_quoted_values("unknown field `listen_port`"), "unknown field `listen_port`");
        let bad_env = |k: &str| (k == "PALISADE_RATE_PER_SECOND").then(|| "fast".to_owned());
        assert!(Config::parse("", bad_env).unwrap_err().contains("PALISADE_RATE_PER_SECOND"));
    }
}
