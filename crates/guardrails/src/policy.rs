//! Policies: for each direction a text travels, what to do with PII, with secrets and
//! with injection attempts; one policy per tenant.
//!
//! A [`Policy`] holds a [`Rules`] for each [`Direction`]. [`Policy::default`] is the safe
//! default: PII and secrets redacted in every direction (a peer we studied leaves user
//! input unredacted by default), and injection blocked in every direction, since tool
//! results and recalled memory are the main path for indirect injection and a model's
//! output can carry an exfiltration link. A [`PolicyBook`] picks a tenant's policy, or
//! the default for tenants it does not name.
//!
//! Policies deserialize from configuration with a strict schema: an unknown key, an
//! unknown entity type or an action that makes no sense for its category (injection
//! cannot be "redacted") is an error, never ignored.
//!
//! ```
//! use guardrails::policy::{Action, Direction, Policy};
//!
//! let policy: Policy = serde_json::from_str(r#"{
//!     "user_input": { "pii": "warn", "injection": "warn" },
//!     "tool_result": { "entities": { "EMAIL_ADDRESS": "allow" } }
//! }"#)?;
//! assert_eq!(policy.rules(Direction::UserInput).pii, Action::Warn);
//! assert_eq!(policy.rules(Direction::ToolResult).pii, Action::Redact); // the default
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use identity_types::TenantId;
use serde::Deserialize;

use crate::pii::Entity;

/// Where a text is in the agent's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A user's message, on its way to the model.
    UserInput,
    /// The model's answer, on its way to the user (or to a tool).
    ModelOutput,
    /// A tool's result, on its way into the model's context.
    ToolResult,
    /// A recalled memory, on its way into the model's context.
    Memory,
}

impl Direction {
    /// Every direction, in declaration order.
    pub const ALL: [Self; 4] = [Self::UserInput, Self::ModelOutput, Self::ToolResult, Self::Memory];

    /// `user_input`, `model_output`, `tool_result` or `memory`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::UserInput => "user_input",
            Self::ModelOutput => "model_output",
            Self::ToolResult => "tool_result",
            Self::Memory => "memory",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What to do with a PII or secret finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let it through, unreported.
    Allow,
    /// Let it through, reported.
    Warn,
    /// Replace it with a typed placeholder (`[EMAIL_1]`), reported.
    Redact,
    /// Stop the whole text, reported.
    Block,
}

impl Action {
    /// `allow`, `warn`, `redact` or `block`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Redact => "redact",
            Self::Block => "block",
        }
    }
}

/// What to do with an injection attempt (it cannot be redacted: the instruction is the
/// whole text's meaning, not a span of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectionAction {
    /// Do not look.
    Allow,
    /// Let it through, reported.
    Warn,
    /// Stop the text, reported.
    Block,
}

/// One direction's rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Personal data (cards, SSNs, e-mail and IP addresses, IBANs…).
    pub pii: Action,
    /// Credentials (API keys, tokens, private keys, connection strings…).
    pub secrets: Action,
    /// Per-type exceptions to `pii` and `secrets`, by protocol type name
    /// (`"EMAIL_ADDRESS": "allow"`).
    #[serde(deserialize_with = "entities")]
    pub entities: BTreeMap<Entity, Action>,
    /// Injection attempts.
    pub injection: InjectionAction,
    /// The injection score at or above which the text counts as an attempt.
    #[serde(deserialize_with = "threshold")]
    pub injection_threshold: f32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            pii: Action::Redact,
            secrets: Action::Redact,
            entities: BTreeMap::new(),
            injection: InjectionAction::Block,
            injection_threshold: crate::injection::DEFAULT_THRESHOLD,
        }
    }
}

impl Rules {
    /// The action for one entity type: its exception if it has one, else its category's.
    #[must_use]
    pub fn action(&self, entity: Entity) -> Action {
        self.entities.get(&entity).copied().unwrap_or(if entity.is_secret() {
            self.secrets
        } else {
            self.pii
        })
    }
}

fn entities<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<Entity, Action>, D::Error> {
    let named = BTreeMap::<String, Action>::deserialize(deserializer)?;
    named
        .into_iter()
        .map(|(name, action)| {
            Entity::from_name(&name)
                .map(|entity| (entity, action))
                .ok_or_else(|| serde::de::Error::custom(format!("unknown entity type {name:?}")))
        })
        .collect()
}

fn threshold<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    let value = f32::deserialize(deserializer)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!("injection_threshold {value} is outside [0, 1]")))
    }
}

/// A tenant's policy: one [`Rules`] per [`Direction`]. See the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    rules: [Rules; 4],
}

impl Policy {
    /// The rules for `direction`.
    #[must_use]
    pub fn rules(&self, direction: Direction) -> &Rules {
        &self.rules[direction.index()]
    }

    /// This policy with `rules` for `direction`.
    #[must_use]
    pub fn with(mut self, direction: Direction, rules: Rules) -> Self {
        self.rules[direction.index()] = rules;
        self
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ByDirection {
            #[serde(default)]
            user_input: Rules,
            #[serde(default)]
            model_output: Rules,
            #[serde(default)]
            tool_result: Rules,
            #[serde(default)]
            memory: Rules,
        }
        let d = ByDirection::deserialize(deserializer)?;
        Ok(Self { rules: [d.user_input, d.model_output, d.tool_result, d.memory] })
    }
}

/// One policy per tenant, and the default for every other tenant.
#[derive(Debug, Clone, Default)]
pub struct PolicyBook {
    default: Policy,
    tenants: HashMap<TenantId, Policy>,
}

impl PolicyBook {
    /// A book whose every tenant gets `default`.
    #[must_use]
    pub fn new(default: Policy) -> Self {
        Self { default, tenants: HashMap::new() }
    }

    /// This book with `policy` for `tenant`.
    #[must_use]
    pub fn with_tenant(mut self, tenant: TenantId, policy: Policy) -> Self {
        self.tenants.insert(tenant, policy);
        self
    }

    /// The policy of callers without a tenant, and of tenants without their own.
    #[must_use]
    pub fn default_policy(&self) -> &Policy {
        &self.default
    }

    /// The policy of `tenant` (the default if it has none of its own).
    #[must_use]
    pub fn for_tenant(&self, tenant: &TenantId) -> &Policy {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_default_redacts_everywhere_and_blocks_injection_everywhere() {
        let policy = Policy::default();
        for direction in Direction::ALL {
            let rules = policy.rules(direction);
            assert_eq!(
                (rules.pii, rules.secrets, rules.injection),
                (Action::Redact, Action::Redact, InjectionAction::Block)
            );
        }
    }

    #[test]
    fn entity_exceptions_override_their_category() {
        let rules =
            Rules { entities: BTreeMap::from([(Entity::EmailAddress, Action::Allow)]), ..Rules::default() };
        assert_eq!(rules.action(Entity::EmailAddress), Action::Allow);
        assert_eq!(rules.action(Entity::CreditCard), Action::Redact);
        let secrets_blocked = Rules { secrets: Action::Block, ..Rules::default() };
        assert_eq!(secrets_blocked.action(Entity::AwsAccessKeyId), Action::Block);
        assert_eq!(secrets_blocked.action(Entity::IpAddress), Action::Redact);
    }

    #[test]
    fn configuration_mistakes_are_errors_not_defaults() {
        let refused = [
            (r#"{"user_imput": {}}"#, "unknown field"),
            (r#"{"user_input": {"pii": "hide"}}"#, "unknown variant"),
            (r#"{"user_input": {"injection": "redact"}}"#, "unknown variant"),
            (r#"{"memory": {"entities": {"EMAIL": "allow"}}}"#, "unknown entity type"),
            (r#"{"memory": {"injection_threshold": 1.5}}"#, "outside [0, 1]"),
            (r#"{"memory": {"secret": "allow"}}"#, "unknown field"),
        ];
        for (json, reason) in refused {
            let error = serde_json::from_str::<Policy>(json).unwrap_err().to_string();
            assert!(error.contains(reason), "{json}: {error}");
        }
    }

    #[test]
    fn tenants_get_their_own_policy_and_everyone_else_the_default() {
        let strict: Policy =
            serde_json::from_str(r#"{"model_output": {"secrets": "block", "injection_threshold": 0.3}}"#)
                .unwrap();
        let book = PolicyBook::default().with_tenant("acme".parse().unwrap(), strict.clone());
        assert_eq!(book.for_tenant(&"acme".parse().unwrap()), &strict);
        assert_eq!(book.for_tenant(&"globex".parse().unwrap()), &Policy::default());
        let rules = strict.rules(Direction::ModelOutput);
        assert_eq!((rules.secrets, rules.injection_threshold), (Action::Block, 0.3));
        assert_eq!(strict.rules(Direction::UserInput), &Rules::default());
    }
}
