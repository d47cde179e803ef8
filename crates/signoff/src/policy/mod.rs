//! Policies: rules that answer **allow**, **deny** or **approve** for an action.
//!
//! A [`Policy`] is an immutable, cheaply cloned value. Load it from TOML or
//! JSON ([`Policy::from_toml_str`], [`Policy::from_file`],
//! [`Policy::from_json_str`]) or build it in code ([`Policy::builder`]);
//! every form is validated the same way and has the same digest.
//!
//! ```
//! use serde_json::json;
//! use signoff::{Action, Effect, Policy};
//!
//! let policy = Policy::from_toml_str(r#"
//!     [policy]
//!     default = "deny"
//!     [[rules]]
//!     id = "reads"
//!     effect = "allow"
//!     actions = ["db.query"]
//! "#).unwrap();
//! let eval = policy.evaluate(&Action::new("db.query").actor("agent:bot"));
//! assert_eq!(eval.effect(), Effect::Allow);
//! assert_eq!(eval.rule_ids(), ["reads"]);
//! ```

mod builder;
pub(crate) mod cel;
mod glob;
mod index;
mod load;
mod raw;
pub mod replay;
pub mod testing;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use self::builder::{PolicyBuilder, RuleBuilder};
pub use self::cel::ConditionError;
pub use self::glob::{Glob, GlobError};
pub use self::load::{PolicyError, PolicyIssue};

use self::cel::{Condition, Input};
use self::index::Index;
use crate::action::{Action, ActionError, ActionView};
use crate::principal::Principal;

/// What a policy answers for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The action may run now.
    Allow,
    /// The action waits for enough human approvals.
    Approve,
    /// The action may not run.
    Deny,
}

impl Effect {
    /// `allow`, `approve` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Approve => "approve",
            Effect::Deny => "deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How risky a rule says the action is; shown to reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Routine.
    Low,
    /// Worth a look.
    Medium,
    /// Damaging if wrong.
    High,
    /// Irreversible or company-wide.
    Critical,
}

impl Risk {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Risk::Low),
            "medium" => Some(Risk::Medium),
            "high" => Some(Risk::High),
            "critical" => Some(Risk::Critical),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

/// What happens when an approval is not given in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// The action is denied (the default).
    Deny,
    /// The action runs anyway; only with `unsafe_allow_on_timeout` in the policy.
    Allow,
}

/// The approval settings of one approve rule.
#[derive(Debug, Clone)]
pub(crate) struct ApprovalSpec {
    pub group: Box<str>,
    pub min: u32,
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    pub allow_edit: bool,
    pub redact: Box<[Box<str>]>,
    /// The vote channels that count (`None`: every channel).
    pub channels: Option<Box<[Box<str>]>>,
    /// `max_grant` and `grant_scope`: whether reviewers may attach grants.
    pub grant: Option<GrantSpec>,
    /// `remind_every`.
    pub remind_every: Option<Duration>,
    /// `escalate_after` and `escalate_to`.
    pub escalation: Option<(Duration, Box<str>)>,
}

/// A rule's grant settings (DESIGN §13).
#[derive(Debug, Clone)]
pub(crate) struct GrantSpec {
    pub max: Duration,
    pub scope: Box<[crate::grant::ScopeField]>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub(crate) id: Box<str>,
    pub(crate) description: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) actions: Option<Box<[Glob]>>,
    pub(crate) resources: Option<Box<[Glob]>>,
    pub(crate) actors: Option<Box<[Glob]>>,
    pub(crate) env: Option<Box<[Box<str>]>>,
    pub(crate) when: Option<Condition>,
    pub(crate) reason: Option<String>,
    pub(crate) approval: Option<ApprovalSpec>,
    pub(crate) risk: Option<Risk>,
    /// This rule's own `redact` paths (also part of the policy's redaction).
    pub(crate) redact: Box<[Box<str>]>,
}

/// Why a rule did or did not match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Check {
    Hit,
    Miss(Miss),
    /// The condition failed at run time.
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Miss {
    Action,
    Resource,
    NoResource,
    Actor,
    NoActor,
    Env,
    NoEnv,
    WhenFalse,
}

impl Rule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rule's effect.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The reason shown to agents and reviewers.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    pub(crate) fn check(&self, view: &ActionView<'_>, input: &Input<'_>) -> Check {
        if let Some(miss) = self.scope_miss(view) {
            return Check::Miss(miss);
        }
        if let Some(cond) = &self.when {
            return match cond.eval(input) {
                Ok(true) => Check::Hit,
                Ok(false) => Check::Miss(Miss::WhenFalse),
                Err(e) => Check::Error(e),
            };
        }
        Check::Hit
    }

    /// Why the rule's matchers (`actions`, `resources`, `actors`, `env`)
    /// miss the action, leaving its condition aside; `None` when they match.
    fn scope_miss(&self, view: &ActionView<'_>) -> Option<Miss> {
        if let Some(p) = &self.actions
            && !p.iter().any(|g| g.matches(view.name))
        {
            return Some(Miss::Action);
        }
        if let Some(p) = &self.resources {
            match view.resource {
                None => return Some(Miss::NoResource),
                Some(r) if !p.iter().any(|g| g.matches(r)) => return Some(Miss::Resource),
                _ => {}
            }
        }
        if let Some(p) = &self.actors {
            match view.actor.as_deref() {
                None => return Some(Miss::NoActor),
                Some(a) if !p.iter().any(|g| g.matches(a)) => return Some(Miss::Actor),
                _ => {}
            }
        }
        if let Some(list) = &self.env {
            match view.env {
                None => return Some(Miss::NoEnv),
                Some(e) if !list.iter().any(|x| **x == *e) => return Some(Miss::Env),
                _ => {}
            }
        }
        None
    }

    /// Whether a check result counts as a match: a condition error matches
    /// deny and approve rules and never matches allow rules (fail closed).
    pub(crate) fn counts(&self, check: &Check) -> bool {
        match check {
            Check::Hit => true,
            Check::Miss(_) => false,
            Check::Error(_) => self.effect != Effect::Allow,
        }
    }

    fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(&*self.id));
        m.insert("effect".into(), json!(self.effect));
        fn globs(g: &Option<Box<[Glob]>>) -> Option<Vec<&str>> {
            g.as_ref().map(|g| g.iter().map(Glob::as_str).collect())
        }
        if let Some(v) = globs(&self.actions) {
            m.insert("actions".into(), json!(v));
        }
        if let Some(v) = globs(&self.resources) {
            m.insert("resources".into(), json!(v));
        }
        if let Some(v) = globs(&self.actors) {
            m.insert("actors".into(), json!(v));
        }
        if let Some(v) = &self.env {
            m.insert(
                "env".into(),
                json!(v.iter().map(|s| &**s).collect::<Vec<_>>()),
            );
        }
        if let Some(c) = &self.when {
            m.insert("when".into(), json!(c.source()));
        }
        if let Some(r) = &self.reason {
            m.insert("reason".into(), json!(r));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(r) = self.risk {
            m.insert("risk".into(), json!(r));
        }
        if let Some(a) = &self.approval {
            approval_json(a, &mut m);
        }
        if !self.redact.is_empty() {
            m.insert(
                "redact".into(),
                json!(self.redact.iter().map(|s| &**s).collect::<Vec<_>>()),
            );
        }
        Value::Object(m)
    }
}

fn approval_json(a: &ApprovalSpec, m: &mut serde_json::Map<String, Value>) {
    m.insert("approvers".into(), json!(&*a.group));
    m.insert("min_approvals".into(), json!(a.min));
    m.insert(
        "timeout".into(),
        json!(humantime::format_duration(a.timeout).to_string()),
    );
    m.insert("on_timeout".into(), json!(a.on_timeout));
    m.insert("allow_edit".into(), json!(a.allow_edit));
    if let Some(ch) = &a.channels {
        m.insert(
            "channels".into(),
            json!(ch.iter().map(|s| &**s).collect::<Vec<_>>()),
        );
    }
    // grants, reminders, escalation (DESIGN §13); absent keys keep old digests
    if let Some(g) = &a.grant {
        m.insert("max_grant".into(), json!(format_duration(g.max)));
        m.insert(
            "grant_scope".into(),
            json!(g.scope.iter().map(ToString::to_string).collect::<Vec<_>>()),
        );
    }
    if let Some(d) = a.remind_every {
        m.insert("remind_every".into(), json!(format_duration(d)));
    }
    if let Some((after, to)) = &a.escalation {
        m.insert("escalate_after".into(), json!(format_duration(*after)));
        m.insert("escalate_to".into(), json!(&**to));
    }
}

/// An immutable, validated policy. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    description: Option<String>,
    default: Effect,
    default_approval: Option<ApprovalSpec>,
    groups: BTreeMap<String, Vec<Principal>>,
    rules: Vec<Rule>,
    index: Index,
    digest: String,
    uses_now: bool,
    unsafe_allow_on_timeout: bool,
    redaction: crate::redact::Redaction,
    owners: Vec<(Glob, Vec<Principal>)>,
    /// `[policy] break_glass`'s group.
    break_glass: Option<String>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.inner.name)
            .field("rules", &self.inner.rules.len())
            .field("digest", &self.inner.digest)
            .finish()
    }
}

impl Policy {
    /// Parses and validates a TOML policy.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let (_, compiled) = load::from_toml(text, None)?;
        Ok(Self::from_compiled(compiled))
    }

    /// Parses and validates a JSON policy with the same schema as the TOML one.
    pub fn from_json_str(text: &str) -> Result<Self, PolicyError> {
        let (_, compiled) = load::from_json(text, None)?;
        Ok(Self::from_compiled(compiled))
    }

    /// Reads a policy file: `.json` is JSON, anything else TOML. Errors name
    /// the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            PolicyError::single(Some(&name), format!("cannot read policy file: {e}"))
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
                let (line, column) = load::line_col(&prefix, prefix.len());
                return Err(PolicyError {
                    issues: vec![PolicyIssue {
                        file: Some(name),
                        line,
                        column,
                        rule: None,
                        field: String::new(),
                        message: format!("policy file is not valid UTF-8 (byte {valid})"),
                    }],
                });
            }
        };
        let (_, compiled) = if path.extension().is_some_and(|e| e == "json") {
            load::from_json(&text, Some(&name))?
        } else {
            load::from_toml(&text, Some(&name))?
        };
        Ok(Self::from_compiled(compiled))
    }

    /// Starts a policy in code.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    fn from_compiled(c: load::Compiled) -> Self {
        let index = Index::build(&c.rules);
        let uses_now = c
            .rules
            .iter()
            .any(|r| r.when.as_ref().is_some_and(Condition::uses_now));
        let mut inner = Inner {
            name: c.name,
            description: c.description,
            default: c.default,
            default_approval: c.default_approval,
            groups: c.groups,
            rules: c.rules,
            index,
            digest: String::new(),
            uses_now,
            unsafe_allow_on_timeout: c.unsafe_allow_on_timeout,
            redaction: c.redaction,
            owners: c.owners,
            break_glass: c.break_glass,
        };
        inner.digest = crate::canonical::digest(&canonical_json(&inner));
        Policy {
            inner: Arc::new(inner),
        }
    }

    /// The group of `[policy] break_glass`, if set: one of its members may
    /// resolve an approve request alone, with a reason (DESIGN §13).
    pub fn break_glass_group(&self) -> Option<&str> {
        self.inner.break_glass.as_deref()
    }

    /// The rule with this id.
    pub fn rule_by_id(&self, id: &str) -> Option<&Rule> {
        self.inner.rules.iter().find(|r| &*r.id == id)
    }

    /// What a grant under `rule` is bound to: a digest of the rule's
    /// canonical form and of its group's members, so an edited rule or a
    /// changed group never inherits the grants given before.
    pub(crate) fn grant_binding(&self, rule: &Rule) -> String {
        let members: Vec<&str> = rule
            .approval
            .as_ref()
            .and_then(|a| self.inner.groups.get(&*a.group))
            .map(|m| m.iter().map(Principal::as_str).collect())
            .unwrap_or_default();
        crate::canonical::digest(&json!({ "rule": rule.to_json(), "members": members }))
    }

    /// The policy's name from `[policy] name`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `blake3:<hex>` of the policy's canonical form: equal for equal
    /// policies whatever their source format or layout.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The effect when no rule matches.
    pub fn default_effect(&self) -> Effect {
        self.inner.default
    }

    /// The rules in policy order.
    pub fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// The static groups: name → members.
    pub fn groups(&self) -> &BTreeMap<String, Vec<Principal>> {
        &self.inner.groups
    }

    /// What every record and request hides: `[policy] redact`, every
    /// rule's `redact` (whichever rule decides), and secret-named keys.
    pub fn redaction(&self) -> &crate::redact::Redaction {
        &self.inner.redaction
    }

    /// The people who run `actor` (from `[owners]`): they never vote on its
    /// actions, whatever `on_behalf_of` says.
    pub fn owners_of<'a>(&'a self, actor: &'a str) -> impl Iterator<Item = &'a Principal> + 'a {
        self.inner
            .owners
            .iter()
            .filter(move |(g, _)| g.matches(actor))
            .flat_map(|(_, people)| people.iter())
    }

    /// The canonical JSON form (the schema of [`Policy::from_json_str`]).
    pub fn to_json(&self) -> Value {
        canonical_json(&self.inner)
    }

    /// Decides `action` now. Never fails: an invalid action is denied and a
    /// condition error fails closed; both are reported on the evaluation.
    pub fn evaluate(&self, action: &Action) -> Evaluation<'_> {
        self.evaluate_with(action, None)
    }

    /// Decides `action` as if the time were `now` (what conditions see as `now`).
    pub fn evaluate_at(&self, action: &Action, now: DateTime<Utc>) -> Evaluation<'_> {
        self.evaluate_with(action, Some(now))
    }

    fn evaluate_with(&self, action: &Action, now: Option<DateTime<Utc>>) -> Evaluation<'_> {
        let view = match action.view() {
            Ok(v) => v,
            Err(e) => return Evaluation::invalid(self, e),
        };
        let now = self.now(now);
        let input = Input { view: &view, now };
        let inner = &*self.inner;
        let candidates = inner.index.candidates(view.name);
        let mut errors = Vec::new();
        for effect in [Effect::Deny, Effect::Approve, Effect::Allow] {
            let mut matched = Matched::default();
            candidates.for_each(effect, |i| {
                let Some(rule) = inner.rules.get(i as usize) else {
                    return;
                };
                let check = rule.check(&view, &input);
                if rule.counts(&check) {
                    matched.push(i);
                }
                if let Check::Error(e) = check {
                    errors.push((i, e));
                }
            });
            if !matched.is_empty() {
                return Evaluation {
                    policy: self,
                    effect,
                    matched,
                    errors,
                    invalid: None,
                };
            }
        }
        Evaluation {
            policy: self,
            effect: inner.default,
            matched: Matched::default(),
            errors,
            invalid: None,
        }
    }

    /// Whether `action` is denied whatever its args, context and time: a
    /// deny rule without a condition matches it, or no allow or approve rule
    /// could (none matches its name, actor, resource and env) and the default
    /// is deny. An invalid action is denied outright. Used to leave such tools
    /// out of what an agent is shown; calls are still decided by
    /// [`Policy::evaluate`].
    pub fn denies_outright(&self, action: &Action) -> bool {
        let Ok(view) = action.view() else {
            return true;
        };
        let mut could_pass = false;
        for rule in self.inner.rules.iter() {
            if rule.scope_miss(&view).is_some() {
                continue;
            }
            match rule.effect {
                Effect::Deny if rule.when.is_none() => return true,
                Effect::Deny => {}
                Effect::Allow | Effect::Approve => could_pass = true,
            }
        }
        !could_pass && self.inner.default == Effect::Deny
    }

    fn now(&self, now: Option<DateTime<Utc>>) -> DateTime<Utc> {
        match now {
            Some(n) => n,
            None if self.inner.uses_now => Utc::now(),
            None => DateTime::UNIX_EPOCH,
        }
    }

    /// Decides `action` by checking every rule in order, and reports why each
    /// did or did not match. Same decision as [`Policy::evaluate`].
    pub fn explain(&self, action: &Action) -> Explanation {
        self.explain_with(action, None)
    }

    /// [`Policy::explain`] at a given time.
    pub fn explain_at(&self, action: &Action, now: DateTime<Utc>) -> Explanation {
        self.explain_with(action, Some(now))
    }

    fn explain_with(&self, action: &Action, now: Option<DateTime<Utc>>) -> Explanation {
        let view = match action.view() {
            Ok(v) => v,
            Err(e) => {
                return Explanation {
                    decision: Evaluation::invalid(self, e).decision(),
                    trace: Vec::new(),
                };
            }
        };
        let now = self.now(now);
        let input = Input { view: &view, now };
        let mut trace = Vec::with_capacity(self.inner.rules.len());
        let mut by_effect: [Matched; 3] = Default::default();
        let mut errors = Vec::new();
        for (i, rule) in self.inner.rules.iter().enumerate() {
            let check = rule.check(&view, &input);
            let matched = rule.counts(&check);
            if matched {
                by_effect[rank(rule.effect)].push(i as u32);
            }
            let (detail, error) = describe(rule, &view, &check);
            if let Check::Error(e) = &check {
                errors.push((i as u32, e.clone()));
            }
            trace.push(RuleTrace {
                rule: rule.id.to_string(),
                effect: rule.effect,
                matched,
                detail,
                error,
            });
        }
        let (effect, matched) = [Effect::Deny, Effect::Approve, Effect::Allow]
            .into_iter()
            .find_map(|e| {
                let m = std::mem::take(&mut by_effect[rank(e)]);
                (!m.is_empty()).then_some((e, m))
            })
            .unwrap_or((self.inner.default, Matched::default()));
        let decision = Evaluation {
            policy: self,
            effect,
            matched,
            errors,
            invalid: None,
        }
        .decision();
        Explanation { decision, trace }
    }

    /// Rule lookup by index (evaluation internals).
    pub(crate) fn rule(&self, i: u32) -> Option<&Rule> {
        self.inner.rules.get(i as usize)
    }
}

fn rank(e: Effect) -> usize {
    match e {
        Effect::Deny => 0,
        Effect::Approve => 1,
        Effect::Allow => 2,
    }
}

fn describe(rule: &Rule, view: &ActionView<'_>, check: &Check) -> (String, Option<String>) {
    let list = |g: &Option<Box<[Glob]>>| {
        g.as_ref()
            .map(|g| {
                g.iter()
                    .map(|g| format!("`{}`", g.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    match check {
        Check::Hit => (
            match &rule.when {
                Some(c) => format!("matched; `when` `{}` is true", c.source()),
                None => "matched".to_owned(),
            },
            None,
        ),
        Check::Miss(m) => (
            match m {
                Miss::Action => format!(
                    "action `{}` matches none of {}",
                    view.name,
                    list(&rule.actions)
                ),
                Miss::Resource => format!(
                    "resource `{}` matches none of {}",
                    view.resource.unwrap_or_default(),
                    list(&rule.resources)
                ),
                Miss::NoResource => {
                    "the action has no resource and the rule requires one".to_owned()
                }
                Miss::Actor => format!(
                    "actor `{}` matches none of {}",
                    view.actor.as_deref().unwrap_or_default(),
                    list(&rule.actors)
                ),
                Miss::NoActor => "the action has no actor and the rule requires one".to_owned(),
                Miss::Env => format!(
                    "env `{}` is not one of {}",
                    view.env.unwrap_or_default(),
                    rule.env
                        .as_ref()
                        .map(|e| e
                            .iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ),
                Miss::NoEnv => "the action has no env and the rule requires one".to_owned(),
                Miss::WhenFalse => format!(
                    "`when` `{}` is false",
                    rule.when
                        .as_ref()
                        .map(Condition::source)
                        .unwrap_or_default()
                ),
            },
            None,
        ),
        Check::Error(e) => (
            if rule.effect == Effect::Allow {
                format!("`when` failed ({e}); an allow rule does not match on error")
            } else {
                format!(
                    "`when` failed ({e}); a {} rule matches on error (fail closed)",
                    rule.effect
                )
            },
            Some(e.clone()),
        ),
    }
}

fn canonical_json(inner: &Inner) -> Value {
    let mut header = serde_json::Map::new();
    header.insert("name".into(), json!(inner.name));
    header.insert("default".into(), json!(inner.default));
    if let Some(d) = &inner.description {
        header.insert("description".into(), json!(d));
    }
    if inner.unsafe_allow_on_timeout {
        header.insert("unsafe_allow_on_timeout".into(), json!(true));
    }
    let policy_paths: Vec<&str> = inner.redaction.paths().collect();
    if !policy_paths.is_empty() {
        header.insert("redact".into(), json!(policy_paths));
    }
    if !inner.redaction.hides_secret_names() {
        header.insert("redact_defaults".into(), json!(false));
    }
    if let Some(g) = &inner.break_glass {
        header.insert("break_glass".into(), json!({ "approvers": g }));
    }
    if let Some(a) = &inner.default_approval {
        header.insert("approvers".into(), json!(&*a.group));
        header.insert("min_approvals".into(), json!(a.min));
        header.insert(
            "timeout".into(),
            json!(humantime::format_duration(a.timeout).to_string()),
        );
    }
    let groups: serde_json::Map<String, Value> = inner
        .groups
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!(v.iter().map(Principal::as_str).collect::<Vec<_>>()),
            )
        })
        .collect();
    let mut doc = json!({
        "policy": header,
        "groups": groups,
        "rules": inner.rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
    });
    if !inner.owners.is_empty()
        && let Some(map) = doc.as_object_mut()
    {
        let owners: serde_json::Map<String, Value> = inner
            .owners
            .iter()
            .map(|(g, people)| {
                (
                    g.as_str().to_owned(),
                    json!(people.iter().map(Principal::as_str).collect::<Vec<_>>()),
                )
            })
            .collect();
        map.insert("owners".into(), Value::Object(owners));
    }
    doc
}

/// Rule indices matched, without allocating for the common single match.
#[derive(Debug, Clone, Default)]
pub(crate) enum Matched {
    #[default]
    None,
    One(u32),
    Many(Vec<u32>),
}

impl Matched {
    fn push(&mut self, i: u32) {
        *self = match std::mem::take(self) {
            Matched::None => Matched::One(i),
            Matched::One(a) => Matched::Many(vec![a, i]),
            Matched::Many(mut v) => {
                v.push(i);
                Matched::Many(v)
            }
        };
    }

    fn is_empty(&self) -> bool {
        matches!(self, Matched::None)
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Matched::None => &[],
            Matched::One(i) => std::slice::from_ref(i),
            Matched::Many(v) => v,
        }
    }
}

/// The result of [`Policy::evaluate`]: borrowed from the policy, cheap to
/// produce. [`Evaluation::decision`] gives an owned copy.
#[derive(Debug)]
pub struct Evaluation<'p> {
    policy: &'p Policy,
    effect: Effect,
    matched: Matched,
    errors: Vec<(u32, String)>,
    invalid: Option<ActionError>,
}

impl<'p> Evaluation<'p> {
    fn invalid(policy: &'p Policy, e: ActionError) -> Self {
        Evaluation {
            policy,
            effect: Effect::Deny,
            matched: Matched::None,
            errors: Vec::new(),
            invalid: Some(e),
        }
    }

    /// The decision.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The deciding rules: every matching rule of the winning effect, in
    /// policy order; empty when the default decided.
    pub fn rules(&self) -> impl Iterator<Item = &'p Rule> + '_ {
        self.matched
            .as_slice()
            .iter()
            .filter_map(|i| self.policy.rule(*i))
    }

    /// The ids of [`Evaluation::rules`].
    pub fn rule_ids(&self) -> Vec<&'p str> {
        self.rules().map(Rule::id).collect()
    }

    /// Why the action was invalid, when it was (the decision is then deny).
    pub fn invalid_action(&self) -> Option<&ActionError> {
        self.invalid.as_ref()
    }

    /// Condition errors met while deciding, as (rule id, message).
    pub fn errors(&self) -> impl Iterator<Item = (&'p str, &str)> + '_ {
        self.errors
            .iter()
            .filter_map(|(i, e)| self.policy.rule(*i).map(|r| (r.id(), e.as_str())))
    }

    /// A sentence saying why: the deciding rule's reason, or what decided.
    pub fn reason(&self) -> String {
        if let Some(e) = &self.invalid {
            return format!("invalid action: {e}");
        }
        let reasons: Vec<&str> = self.rules().filter_map(Rule::reason).collect();
        if !reasons.is_empty() {
            return reasons.join("; ");
        }
        match self.rules().next() {
            Some(r) => format!("rule `{}` decided {}", r.id(), self.effect),
            None => format!("no rule matched; the policy default is {}", self.effect),
        }
    }

    /// What an approve decision requires; `None` for allow and deny.
    pub fn approval(&self) -> Option<ApprovalRequirements> {
        if self.effect != Effect::Approve {
            return None;
        }
        let mut specs: Vec<(&ApprovalSpec, Option<Risk>, Option<&str>)> = self
            .rules()
            .filter_map(|r| r.approval.as_ref().map(|a| (a, r.risk, Some(r.id()))))
            .collect();
        if specs.is_empty() {
            specs.extend(
                self.policy
                    .inner
                    .default_approval
                    .as_ref()
                    .map(|a| (a, None, None)),
            );
        }
        let first = specs.first()?;
        let mut req = ApprovalRequirements {
            requirements: Vec::new(),
            timeout: first.0.timeout,
            on_timeout: OnTimeout::Allow,
            allow_edit: true,
            redact: Vec::new(),
            risk: None,
            channels: None,
        };
        for (spec, risk, rule) in &specs {
            if let Some(list) = &spec.channels {
                let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
                req.channels = Some(match req.channels.take() {
                    None => list,
                    Some(prev) => prev.into_iter().filter(|c| list.contains(c)).collect(),
                });
            }
            req.requirements.push(Requirement {
                group: spec.group.to_string(),
                min: spec.min,
                rule: rule.map(str::to_owned),
                escalate_after: spec.escalation.as_ref().map(|e| e.0),
                escalate_to: spec.escalation.as_ref().map(|e| e.1.to_string()),
                max_grant: rule.and(spec.grant.as_ref().map(|g| g.max)),
                remind_every: spec.remind_every,
            });
            req.timeout = req.timeout.min(spec.timeout);
            if spec.on_timeout == OnTimeout::Deny {
                req.on_timeout = OnTimeout::Deny;
            }
            req.allow_edit &= spec.allow_edit;
            for r in spec.redact.iter() {
                if !req.redact.iter().any(|x| **x == **r) {
                    req.redact.push(r.to_string());
                }
            }
            req.risk = req.risk.max(*risk);
        }
        Some(req)
    }

    /// An owned copy of everything decided.
    pub fn decision(&self) -> Decision {
        Decision {
            effect: self.effect,
            rules: self.rule_ids().into_iter().map(str::to_owned).collect(),
            reason: self.reason(),
            approval: self.approval(),
            policy_digest: self.policy.digest().to_owned(),
            errors: self
                .errors()
                .map(|(rule, message)| RuleError {
                    rule: rule.to_owned(),
                    message: message.to_owned(),
                })
                .collect(),
            invalid_action: self.invalid.as_ref().map(ToString::to_string),
        }
    }
}

/// One requirement of an approval: `min` distinct members of `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The group whose members may fill it.
    pub group: String,
    /// How many distinct members must approve.
    pub min: u32,
    /// The rule that asked for it (none for the policy default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// After how long since the request was made `escalate_to`'s members
    /// may fill it too (DESIGN §13).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub escalate_after: Option<Duration>,
    /// The group escalated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
    /// The rule's `max_grant`: the longest grant an approver may attach.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub max_grant: Option<Duration>,
    /// The rule's `remind_every`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub remind_every: Option<Duration>,
}

impl ApprovalRequirements {
    /// The longest grant an approver may attach: the shortest `max_grant`
    /// of the rules, and only when every rule allows grants (a grant must
    /// cover every approve rule that matched to be of use), DESIGN §13.
    pub fn max_grant(&self) -> Option<Duration> {
        let mut max: Option<Duration> = None;
        for r in &self.requirements {
            let d = r.max_grant?;
            max = Some(max.map_or(d, |m| m.min(d)));
        }
        max
    }

    /// How often the channels are reminded: the shortest `remind_every`.
    pub fn remind_every(&self) -> Option<Duration> {
        self.requirements
            .iter()
            .filter_map(|r| r.remind_every)
            .min()
    }
}

/// Everything an approve decision asks for, combined over its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequirements {
    /// Every requirement; each voter fills at most one slot across them.
    pub requirements: Vec<Requirement>,
    /// The shortest timeout of the rules.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// `allow` only if every rule says so.
    pub on_timeout: OnTimeout,
    /// Whether reviewers may edit args: only if every rule allows it.
    pub allow_edit: bool,
    /// Paths hidden from reviewers and the audit trail (union of the rules).
    pub redact: Vec<String>,
    /// The highest risk of the rules.
    pub risk: Option<Risk>,
    /// The channels whose votes count (every rule's list must name it);
    /// `None`: any channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
}

/// The longest grant (and timeout) a policy may ask for: a year.
pub const MAX_GRANT: Duration = load::MAX_DURATION;

/// An optional humantime duration (`"30m"`).
pub(crate) mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => humantime::parse_duration(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// A condition that failed at run time while deciding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// The rule whose `when` failed.
    pub rule: String,
    /// The evaluator's message.
    pub message: String,
}

/// An owned decision: what the gate records and the bindings return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// allow, approve or deny.
    pub effect: Effect,
    /// Deciding rule ids.
    pub rules: Vec<String>,
    /// Why, in one sentence.
    pub reason: String,
    /// Approval requirements when the effect is approve.
    pub approval: Option<ApprovalRequirements>,
    /// Digest of the policy that decided.
    pub policy_digest: String,
    /// Condition errors met (they failed closed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RuleError>,
    /// Why the action itself was invalid, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_action: Option<String>,
}

/// One rule's part in an explained decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleTrace {
    /// The rule id.
    pub rule: String,
    /// Its effect.
    pub effect: Effect,
    /// Whether it counted as matching.
    pub matched: bool,
    /// Why it did or did not match.
    pub detail: String,
    /// The condition's run-time error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A decision with the trace of every rule considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The decision (the same as [`Policy::evaluate`] gives).
    pub decision: Decision,
    /// Every rule, in policy order.
    pub trace: Vec<RuleTrace>,
}

/// A point in time as conditions see it (`now`).
pub type Timestamp = DateTime<Utc>;

/// Parses an RFC 3339 timestamp such as `2026-11-21T10:00:00Z`.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 timestamp: {e}"))
}

/// Formats a duration the way policies write it (`15m`, `1h 30m`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
