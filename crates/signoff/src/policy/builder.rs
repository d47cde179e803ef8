//! Building a policy in code. The builder fills the same schema the files use
//! and goes through the same validation, so a built policy and its TOML twin
//! have the same digest.

use std::time::Duration;

use super::load::{self, NoSource};
use super::raw::{RawPolicy, RawRule};
use super::{Effect, OnTimeout, Policy, PolicyError, Risk};

/// Builds a [`Policy`] in code.
///
/// ```
/// use signoff::{Effect, Policy, RuleBuilder};
/// let policy = Policy::builder()
///     .name("prod-agents")
///     .group("data-owners", ["user:carol@example.com", "user:dan@example.com"])
///     .rule(RuleBuilder::allow("reads").actions(["db.query"]))
///     .rule(RuleBuilder::approve("export").actions(["db.export"]).approvers("data-owners").min_approvals(2))
///     .build()
///     .unwrap();
/// assert_eq!(policy.default_effect(), Effect::Deny);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PolicyBuilder {
    raw: RawPolicy,
}

impl PolicyBuilder {
    /// Sets the policy name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.raw.policy.name = Some(name.into());
        self
    }

    /// Sets the effect when no rule matches (deny when never set).
    pub fn default_effect(mut self, effect: Effect) -> Self {
        self.raw.policy.default = Some(effect.as_str().to_owned());
        self
    }

    /// Reviewers for `default_effect(Effect::Approve)`.
    pub fn default_approvers(mut self, group: impl Into<String>, min: u32) -> Self {
        self.raw.policy.approvers = Some(group.into());
        self.raw.policy.min_approvals = Some(i64::from(min));
        self
    }

    /// Permits `on_timeout = allow` in rules.
    pub fn unsafe_allow_on_timeout(mut self, yes: bool) -> Self {
        self.raw.policy.unsafe_allow_on_timeout = Some(yes);
        self
    }

    /// Defines a group.
    pub fn group<I, S>(mut self, name: impl Into<String>, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.raw
            .groups
            .insert(name.into(), members.into_iter().map(Into::into).collect());
        self
    }

    /// Paths redacted in every record and request (`[policy] redact`).
    pub fn redact<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        self.raw.policy.redact = strings(paths);
        self
    }

    /// Whether secret-named keys are redacted by default (on when never set).
    pub fn redact_defaults(mut self, yes: bool) -> Self {
        self.raw.policy.redact_defaults = Some(yes);
        self
    }

    /// Names the people who run the agents matching `actors` (`[owners]`).
    pub fn owners<I, S>(mut self, actors: impl Into<String>, people: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.raw
            .owners
            .insert(actors.into(), people.into_iter().map(Into::into).collect());
        self
    }

    /// Appends a rule.
    pub fn rule(mut self, rule: RuleBuilder) -> Self {
        self.raw.rules.push(rule.raw);
        self
    }

    /// Validates and compiles the policy.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let compiled = load::compile(&self.raw, None, &NoSource)?;
        Ok(Policy::from_compiled(compiled))
    }
}

/// Builds one rule for [`PolicyBuilder::rule`].
#[derive(Debug, Clone, Default)]
pub struct RuleBuilder {
    raw: RawRule,
}

fn strings<I, S>(items: I) -> Option<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Some(items.into_iter().map(Into::into).collect())
}

impl RuleBuilder {
    /// A rule with the given id and effect.
    pub fn new(id: impl Into<String>, effect: Effect) -> Self {
        RuleBuilder {
            raw: RawRule {
                id: Some(id.into()),
                effect: Some(effect.as_str().to_owned()),
                ..RawRule::default()
            },
        }
    }

    /// An allow rule.
    pub fn allow(id: impl Into<String>) -> Self {
        Self::new(id, Effect::Allow)
    }

    /// A deny rule.
    pub fn deny(id: impl Into<String>) -> Self {
        Self::new(id, Effect::Deny)
    }

    /// An approve rule.
    pub fn approve(id: impl Into<String>) -> Self {
        Self::new(id, Effect::Approve)
    }

    /// Action-name globs.
    pub fn actions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.raw.actions = strings(globs);
        self
    }

    /// Resource globs.
    pub fn resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.raw.resources = strings(globs);
        self
    }

    /// Actor globs.
    pub fn actors<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.raw.actors = strings(globs);
        self
    }

    /// Environments.
    pub fn env<I: IntoIterator<Item = S>, S: Into<String>>(mut self, envs: I) -> Self {
        self.raw.env = strings(envs);
        self
    }

    /// CEL condition.
    pub fn when(mut self, cel: impl Into<String>) -> Self {
        self.raw.when = Some(cel.into());
        self
    }

    /// Reason shown to agents and reviewers.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.raw.reason = Some(reason.into());
        self
    }

    /// Group whose members may approve.
    pub fn approvers(mut self, group: impl Into<String>) -> Self {
        self.raw.approvers = Some(group.into());
        self
    }

    /// Distinct approvals needed.
    pub fn min_approvals(mut self, n: u32) -> Self {
        self.raw.min_approvals = Some(i64::from(n));
        self
    }

    /// How long reviewers have.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.raw.timeout = Some(humantime::format_duration(d).to_string());
        self
    }

    /// What happens at the timeout.
    pub fn on_timeout(mut self, t: OnTimeout) -> Self {
        self.raw.on_timeout = Some(
            match t {
                OnTimeout::Deny => "deny",
                OnTimeout::Allow => "allow",
            }
            .to_owned(),
        );
        self
    }

    /// Whether reviewers may edit args.
    pub fn allow_edit(mut self, yes: bool) -> Self {
        self.raw.allow_edit = Some(yes);
        self
    }

    /// Paths hidden from reviewers and the audit trail.
    pub fn redact<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        self.raw.redact = strings(paths);
        self
    }

    /// The vote channels that count for this approve rule.
    pub fn channels<I: IntoIterator<Item = S>, S: Into<String>>(mut self, channels: I) -> Self {
        self.raw.channels = strings(channels);
        self
    }

    /// Risk shown to reviewers.
    pub fn risk(mut self, risk: Risk) -> Self {
        self.raw.risk = Some(risk.as_str().to_owned());
        self
    }
}
