//! Grants (DESIGN §13): "approve this for the next 30 minutes". A reviewer
//! approving a request may attach a grant length; once the request is
//! approved, later actions that the same rule sends to approval, with the
//! same values in every field of the rule's `grant_scope`, are permitted
//! without new votes until the grant expires or is revoked.
//!
//! A grant is bound to:
//! - its rule's id **and content** (the rule's canonical form and its
//!   group's members): a rule that is edited, or whose group changes, never
//!   silently inherits the grants given under the old one;
//! - the exact scope values of the approved action (an action outside the
//!   scope asks again);
//! - its approvers and its expiry, never later than the rule's `max_grant`.
//!
//! Grants live in the [`crate::ApprovalStore`], so a revoke in any process
//! stops the next use in every process sharing the store: the gate reads the
//! store on every use and keeps no cache.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::action::Action;

/// One field of a rule's `grant_scope`: what a later action must share with
/// the approved one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScopeField {
    /// The action name.
    Action,
    /// The actor.
    Actor,
    /// The person the action runs for.
    OnBehalfOf,
    /// The resource.
    Resource,
    /// The environment.
    Env,
    /// A value inside the args, by dotted path (`args.table`).
    Args(Vec<String>),
}

impl ScopeField {
    /// Parses `action`, `actor`, `on_behalf_of`, `resource`, `env` or
    /// `args.PATH`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "action" => ScopeField::Action,
            "actor" => ScopeField::Actor,
            "on_behalf_of" => ScopeField::OnBehalfOf,
            "resource" => ScopeField::Resource,
            "env" => ScopeField::Env,
            "args" => {
                return Err(
                    "`args` as a whole is not a scope field; name a path such as `args.table`"
                        .to_owned(),
                );
            }
            other => match other.strip_prefix("args.") {
                Some(path) => {
                    let segs: Vec<String> = path.split('.').map(str::to_owned).collect();
                    if segs.iter().any(String::is_empty) {
                        return Err(format!("scope field `{other}` has an empty path segment"));
                    }
                    ScopeField::Args(segs)
                }
                None => {
                    return Err(format!(
                        "unknown scope field `{other}` (expected `action`, `actor`, `on_behalf_of`, `resource`, `env` or `args.PATH`)"
                    ));
                }
            },
        })
    }

    /// The default scope: action, actor, resource, env.
    pub fn defaults() -> Vec<ScopeField> {
        vec![
            ScopeField::Action,
            ScopeField::Actor,
            ScopeField::Resource,
            ScopeField::Env,
        ]
    }

    /// This field's value in `action`. The action's own fields are their
    /// string or `null` when absent; an `args` path is `[value]`, or `[]`
    /// when its last key is absent, so an absent value only matches another
    /// absent one and never an explicit `null` or a crafted object. `None`
    /// when the path runs into a value it cannot step into (a string where
    /// an object was expected, an index past an array's end): such a scope
    /// value is never bound, and the action asks.
    pub fn value_in(&self, action: &Action) -> Option<Value> {
        let s = |o: &Option<String>| o.as_ref().map_or(Value::Null, |v| json!(v));
        Some(match self {
            ScopeField::Action => json!(action.name),
            ScopeField::Actor => s(&action.actor),
            ScopeField::OnBehalfOf => s(&action.on_behalf_of),
            ScopeField::Resource => s(&action.resource),
            ScopeField::Env => s(&action.env),
            ScopeField::Args(path) => {
                let mut v = &action.args;
                for (i, seg) in path.iter().enumerate() {
                    let last = i + 1 == path.len();
                    let next = match v {
                        Value::Object(m) => m.get(seg.as_str()),
                        Value::Array(a) => match seg.parse::<usize>() {
                            Ok(n) => a.get(n),
                            Err(_) => return None,
                        },
                        _ => return None,
                    };
                    match next {
                        Some(n) => v = n,
                        None if last && v.is_object() => return Some(json!([])),
                        None => return None,
                    }
                }
                json!([v])
            }
        })
    }
}

impl fmt::Display for ScopeField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeField::Action => f.write_str("action"),
            ScopeField::Actor => f.write_str("actor"),
            ScopeField::OnBehalfOf => f.write_str("on_behalf_of"),
            ScopeField::Resource => f.write_str("resource"),
            ScopeField::Env => f.write_str("env"),
            ScopeField::Args(p) => write!(f, "args.{}", p.join(".")),
        }
    }
}

/// The scope values of `action` under `fields`, keyed by field name.
///
/// `None` when a field's path cannot be followed in `action` (see
/// [`ScopeField::value_in`]): no grant binds it and none covers it.
pub fn scope_values(
    action: &Action,
    fields: &[ScopeField],
) -> Option<serde_json::Map<String, Value>> {
    fields
        .iter()
        .map(|f| f.value_in(action).map(|v| (f.to_string(), v)))
        .collect()
}

/// The lookup key of a grant: a digest of the rule id, the rule binding
/// (its content) and the scope values. Two actions share a key exactly
/// when a grant for one covers the other.
pub fn grant_key(rule: &str, binding: &str, values: &serde_json::Map<String, Value>) -> String {
    crate::canonical::digest(&json!({
        "rule": rule,
        "binding": binding,
        "scope": values,
    }))
}

/// Reads a grant length as reviewers write it (`30m`, `1h`, `2h 30m`):
/// longer than zero, at most a year.
pub fn parse_length(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err("a grant must be longer than zero".to_owned()),
        Ok(d) if d > crate::policy::MAX_GRANT => {
            Err(format!("a grant of `{text}` is longer than a year"))
        }
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{text}` is not a duration ({e}); write e.g. `30m` or `1h`"
        )),
    }
}

/// The grant lengths reviewers are offered (the page, Slack) when a
/// request allows grants up to `max`: the usual ones that fit, then `max`.
pub fn offered_lengths(max: std::time::Duration) -> Vec<String> {
    const USUAL: [&str; 6] = ["15m", "30m", "1h", "4h", "8h", "24h"];
    let mut out: Vec<String> = USUAL
        .iter()
        .filter(|g| parse_length(g).is_ok_and(|d| d <= max))
        .map(|g| (*g).to_owned())
        .collect();
    if !USUAL
        .iter()
        .any(|g| parse_length(g).is_ok_and(|d| d == max))
    {
        out.push(crate::policy::format_duration(max));
    }
    out
}

/// How a grant was revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    /// Who revoked it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A grant as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant id.
    pub id: String,
    /// The approve rule it stands in for.
    pub rule: String,
    /// Digest of the rule's content when it was granted.
    pub binding: String,
    /// The lookup key ([`grant_key`]).
    pub key: String,
    /// The scope values a covered action must have.
    pub scope: serde_json::Map<String, Value>,
    /// The people whose approval it carries.
    pub approvers: Vec<String>,
    /// The request whose approval created it.
    pub request_id: String,
    /// The digest of the policy that decided that request.
    pub policy_digest: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops covering actions.
    pub expires_at: DateTime<Utc>,
    /// Set once revoked; a revoked grant never covers anything again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

impl Grant {
    /// Whether it covers actions at `now`: not revoked, not expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_fields_parse_and_print_back() {
        for text in [
            "action",
            "actor",
            "on_behalf_of",
            "resource",
            "env",
            "args.table",
            "args.a.b",
        ] {
            assert_eq!(ScopeField::parse(text).unwrap().to_string(), text);
        }
        for bad in ["args", "args.", "args..x", "rows", ""] {
            assert!(ScopeField::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_absent_value_only_matches_an_absent_one() {
        let a = Action::new("db.export").actor("agent:bot");
        let b = Action::new("db.export")
            .actor("agent:bot")
            .resource("postgres://prod/x");
        let fields = ScopeField::defaults();
        assert_ne!(
            grant_key("r", "b", &scope_values(&a, &fields).unwrap()),
            grant_key("r", "b", &scope_values(&b, &fields).unwrap())
        );
        let path = [ScopeField::parse("args.table").unwrap()];
        let c = Action::new("x").args(json!({"table": "t1", "rows": 5}));
        let d = Action::new("x").args(json!({"table": "t1", "rows": 9}));
        assert_eq!(scope_values(&c, &path), scope_values(&d, &path));
    }

    #[test]
    fn scope_paths_never_confuse_types_or_absence() {
        let field = |p: &str| [ScopeField::parse(p).unwrap()];
        let values = |args: Value, p: &str| scope_values(&Action::new("x").args(args), &field(p));
        // a path into a string, a number or past an array cannot bind
        assert_eq!(values(json!({"target": "staging"}), "args.target.db"), None);
        assert_eq!(values(json!({"target": 5}), "args.target.db"), None);
        assert_eq!(values(json!({"hosts": ["a"]}), "args.hosts.1"), None);
        assert_eq!(values(json!({"hosts": ["a"]}), "args.hosts.x"), None);
        // arrays are indexed
        let a = values(json!({"hosts": ["a", "b"]}), "args.hosts.1").unwrap();
        assert_eq!(a["args.hosts.1"], json!(["b"]));
        // absent, explicit null and a crafted object all differ
        let absent = values(json!({"t": {}}), "args.t.db").unwrap();
        let null = values(json!({"t": {"db": null}}), "args.t.db").unwrap();
        let crafted = values(json!({"t": {"db": []}}), "args.t.db").unwrap();
        assert_ne!(absent, null);
        assert_ne!(absent, crafted);
        assert_ne!(null, crafted);
        // an absent parent is not an absent key
        assert_eq!(values(json!({}), "args.t.db"), None);
    }
}
