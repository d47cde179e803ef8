//! Replaying recorded decisions under another policy (DESIGN §12).
//!
//! A `policy.decided` record carries the action as the trail shows it: the
//! name, principals, resource and env in clear, the args and context with
//! redacted values replaced by keyed digests. [`recorded_action`] rebuilds
//! the action from such a record and lists what is not known about it (each
//! redacted value, and `args` or `context` when the record has none).
//! [`Policy::replay`] then decides it, but a rule whose condition reads an
//! unknown field is not evaluated: when such a rule could change the effect
//! or the deciding rules, the result is [`Replayed::Undecidable`], never a
//! guess.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::cel::Input;
use super::{Decision, Effect, Evaluation, Matched, Policy, rank};
use crate::action::Action;
use crate::audit::{AuditRecord, Event};

/// A field of a recorded action whose value the trail does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// `args` or `context`.
    pub var: &'static str,
    /// The keys (array indices as decimal text) below it; empty when the
    /// whole variable is unrecorded.
    pub keys: Vec<String>,
    /// `redacted` or `unrecorded`.
    pub why: &'static str,
}

impl std::fmt::Display for UnknownField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.var)?;
        for k in &self.keys {
            write!(f, ".{k}")?;
        }
        write!(f, " ({})", self.why)
    }
}

/// What a replay decided.
#[derive(Debug, Clone)]
pub enum Replayed {
    /// The policy decides this, whatever the unknown fields hold.
    Decided(Decision),
    /// Rules whose conditions read unknown fields could change the decision.
    Undecidable {
        /// Those rules.
        rules: Vec<String>,
        /// The unknown fields they read.
        fields: Vec<String>,
    },
}

/// A recorded action rebuilt from a `policy.decided` record.
#[derive(Debug, Clone)]
pub struct RecordedAction {
    /// The action as the trail shows it.
    pub action: Action,
    /// When it was decided (the record's `ts`): what conditions see as `now`.
    pub now: DateTime<Utc>,
    /// What the trail does not hold.
    pub unknown: Vec<UnknownField>,
}

/// Rebuilds the action of a `policy.decided` record. `Err` says why the
/// record cannot be replayed: another event, or a decision made before the
/// policy was consulted (an invalid action or a reused action id, which
/// carry no `args_digest`).
pub fn recorded_action(record: &AuditRecord) -> Result<RecordedAction, String> {
    if record.event != Some(Event::PolicyDecided) {
        return Err("not a policy.decided record".to_owned());
    }
    if record.args_digest.is_none() {
        return Err(format!(
            "refused before the policy was consulted ({})",
            record.error.as_deref().unwrap_or("no args digest")
        ));
    }
    let name = record
        .action
        .clone()
        .ok_or_else(|| "the record has no action name".to_owned())?;
    let now = DateTime::parse_from_rfc3339(&record.ts)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`ts` `{}` is not RFC 3339: {e}", record.ts))?;
    let mut unknown = Vec::new();
    let mut object = |var: &'static str, value: &Option<Value>| -> Value {
        match value {
            Some(v @ Value::Object(_)) => {
                find_redacted(var, v, &mut Vec::new(), &mut unknown);
                v.clone()
            }
            _ => {
                unknown.push(UnknownField {
                    var,
                    keys: Vec::new(),
                    why: "unrecorded",
                });
                Value::Object(Map::new())
            }
        }
    };
    let args = object("args", &record.args);
    let context = object("context", &record.context);
    let action = Action {
        id: record.action_id.clone(),
        name,
        actor: record.actor.clone(),
        on_behalf_of: record.on_behalf_of.clone(),
        resource: record.resource.clone(),
        args,
        env: record.env.clone(),
        justification: None,
        context,
    };
    Ok(RecordedAction {
        action,
        now,
        unknown,
    })
}

/// Whether `s` has the shape of a redacted value, `redacted:<key id>:<64 hex>`.
pub fn is_redacted(s: &str) -> bool {
    s.strip_prefix("redacted:")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn find_redacted(
    var: &'static str,
    value: &Value,
    keys: &mut Vec<String>,
    out: &mut Vec<UnknownField>,
) {
    match value {
        Value::String(s) if is_redacted(s) => out.push(UnknownField {
            var,
            keys: keys.clone(),
            why: "redacted",
        }),
        Value::Object(m) => {
            for (k, v) in m {
                keys.push(k.clone());
                find_redacted(var, v, keys, out);
                keys.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                keys.push(i.to_string());
                find_redacted(var, v, keys, out);
                keys.pop();
            }
        }
        _ => {}
    }
}

impl Policy {
    /// Decides a recorded action as [`Policy::evaluate_at`] would, except
    /// that rules whose conditions read an `unknown` field are not
    /// evaluated; if one of them could change the effect or the deciding
    /// rules the result is [`Replayed::Undecidable`].
    pub fn replay(
        &self,
        action: &Action,
        now: DateTime<Utc>,
        unknown: &[UnknownField],
    ) -> Replayed {
        let view = match action.view() {
            Ok(v) => v,
            Err(e) => return Replayed::Decided(Evaluation::invalid(self, e).decision()),
        };
        let input = Input { view: &view, now };
        let mut by_effect: [Matched; 3] = Default::default();
        let mut errors = Vec::new();
        let mut open: Vec<(usize, Vec<String>)> = Vec::new();
        for (i, rule) in self.inner.rules.iter().enumerate() {
            if rule.scope_miss(&view).is_some() {
                continue;
            }
            if let Some(cond) = &rule.when {
                let fields: Vec<String> = unknown
                    .iter()
                    .filter(|u| cond.reads().iter().any(|r| r.overlaps(u.var, &u.keys)))
                    .map(ToString::to_string)
                    .collect();
                if !fields.is_empty() {
                    open.push((i, fields));
                    continue;
                }
            }
            let check = rule.check(&view, &input);
            if rule.counts(&check) {
                by_effect[rank(rule.effect)].push(i as u32);
            }
            if let super::Check::Error(e) = check {
                errors.push((i as u32, e));
            }
        }
        let winner = [Effect::Deny, Effect::Approve, Effect::Allow]
            .into_iter()
            .find(|e| !by_effect[rank(*e)].is_empty());
        // an unknown rule matters when, matching, it would be among or
        // above the deciding effect (or replace the default)
        let decisive: Vec<&(usize, Vec<String>)> = open
            .iter()
            .filter(|(i, _)| {
                self.inner
                    .rules
                    .get(*i)
                    .is_some_and(|r| winner.is_none_or(|w| rank(r.effect) <= rank(w)))
            })
            .collect();
        if !decisive.is_empty() {
            let mut fields: Vec<String> = decisive.iter().flat_map(|(_, f)| f.clone()).collect();
            fields.sort();
            fields.dedup();
            return Replayed::Undecidable {
                rules: decisive
                    .iter()
                    .filter_map(|(i, _)| self.inner.rules.get(*i).map(|r| r.id.to_string()))
                    .collect(),
                fields,
            };
        }
        let (effect, matched) = match winner {
            Some(w) => (w, std::mem::take(&mut by_effect[rank(w)])),
            None => (self.inner.default, Matched::default()),
        };
        Replayed::Decided(
            Evaluation {
                policy: self,
                effect,
                matched,
                errors,
                invalid: None,
            }
            .decision(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy::from_toml_str(
            r#"
            [policy]
            default = "deny"
            [[rules]]
            id = "reads"
            effect = "allow"
            actions = ["db.query"]
            [[rules]]
            id = "pw"
            effect = "deny"
            actions = ["db.login"]
            when = "args.password == 'hunter2'"
            [[rules]]
            id = "login"
            effect = "allow"
            actions = ["db.login"]
            [[rules]]
            id = "ticket"
            effect = "allow"
            actions = ["deploy"]
            when = "has(context.ticket)"
            "#,
        )
        .unwrap()
    }

    fn record(name: &str, args: Value, context: Option<Value>) -> AuditRecord {
        let mut r = AuditRecord::new(Event::PolicyDecided);
        r.ts = "2026-03-02T10:00:00Z".into();
        r.action = Some(name.into());
        r.actor = Some("agent:a".into());
        r.args_digest = Some("d".into());
        r.args = Some(args);
        r.context = context;
        r
    }

    #[test]
    fn redacted_and_unrecorded_fields_make_only_the_rules_reading_them_undecidable() {
        let p = policy();
        let hidden = format!("redacted:k1:{}", "ab".repeat(32));
        let replay = |r: &AuditRecord| {
            let ra = recorded_action(r).unwrap();
            p.replay(&ra.action, ra.now, &ra.unknown)
        };
        // the deny rule reads the redacted password: undecidable
        let r = record(
            "db.login",
            json!({"password": hidden, "user": "x"}),
            Some(json!({})),
        );
        match replay(&r) {
            Replayed::Undecidable { rules, fields } => {
                assert_eq!(rules, ["pw"]);
                assert_eq!(fields, ["args.password (redacted)"]);
            }
            other => panic!("{other:?}"),
        }
        // a redacted value no rule reads changes nothing
        let r = record("db.query", json!({"token": hidden}), Some(json!({})));
        assert!(matches!(replay(&r), Replayed::Decided(d) if d.effect == Effect::Allow));
        // an old record without context: a rule reading context is undecidable
        let r = record("deploy", json!({}), None);
        assert!(matches!(replay(&r), Replayed::Undecidable { rules, .. } if rules == ["ticket"]));
        let r = record("deploy", json!({}), Some(json!({"ticket": "T-1"})));
        assert!(matches!(replay(&r), Replayed::Decided(d) if d.rules == ["ticket"]));
        // refusals made before the policy was consulted are not replayed
        let mut r = record("x", json!({}), None);
        r.args_digest = None;
        assert!(recorded_action(&r).is_err());
    }

    #[test]
    fn an_unknown_rule_below_the_winner_does_not_matter() {
        let p = Policy::from_toml_str(
            r#"
            [[rules]]
            id = "no"
            effect = "deny"
            actions = ["x"]
            [[rules]]
            id = "maybe"
            effect = "allow"
            actions = ["x"]
            when = "args.secret == 'a'"
            "#,
        )
        .unwrap();
        let hidden = format!("redacted:k1:{}", "cd".repeat(32));
        let ra = recorded_action(&record("x", json!({"secret": hidden}), Some(json!({})))).unwrap();
        assert!(matches!(
            p.replay(&ra.action, ra.now, &ra.unknown),
            Replayed::Decided(d) if d.effect == Effect::Deny && d.rules == ["no"]
        ));
        assert!(is_redacted(&hidden));
        assert!(!is_redacted("redacted:k1:xyz"));
    }
}
