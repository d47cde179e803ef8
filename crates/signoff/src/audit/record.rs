//! The audit record and its canonical, hash-chained line
//! (`docs/audit-trail.md` §2–§6).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{write_canonical, write_string};

/// What happened. Every event is described in `docs/audit-trail.md` §4 (a
/// new one must be added there: `tests/verifier` checks the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// An agent asked to run an action.
    #[serde(rename = "action.requested")]
    ActionRequested,
    /// The policy decided allow, deny or approve.
    #[serde(rename = "policy.decided")]
    PolicyDecided,
    /// Reviewers were asked.
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// A reviewer's vote was counted.
    #[serde(rename = "approval.vote")]
    ApprovalVote,
    /// A vote was refused (self-approval, not eligible, stale, late...).
    #[serde(rename = "approval.vote_rejected")]
    ApprovalVoteRejected,
    /// The request was approved, denied, expired or cancelled.
    #[serde(rename = "approval.resolved")]
    ApprovalResolved,
    /// The action ran and its outcome was reported.
    #[serde(rename = "action.completed")]
    ActionCompleted,
    /// A permit was dropped without reporting an outcome.
    #[serde(rename = "action.abandoned")]
    ActionAbandoned,
    /// A torn final line was cut when the log was opened.
    #[serde(rename = "audit.recovered")]
    AuditRecovered,
    /// A signed checkpoint of the chain.
    #[serde(rename = "audit.checkpoint")]
    AuditCheckpoint,
    /// An approval created a grant (DESIGN §13).
    #[serde(rename = "grant.created")]
    GrantCreated,
    /// A grant permitted an action without new votes.
    #[serde(rename = "grant.used")]
    GrantUsed,
    /// A grant was revoked.
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    /// One member of the break-glass group resolved a request alone.
    #[serde(rename = "approval.break_glass")]
    ApprovalBreakGlass,
    /// A request's requirement was opened to its escalation group.
    #[serde(rename = "approval.escalated")]
    ApprovalEscalated,
    /// A shadow (candidate) policy decided differently from the live one;
    /// the record holds the candidate's effect, rules, reason and digest and
    /// follows the live `policy.decided` record of the same action.
    #[serde(rename = "policy.shadow")]
    PolicyShadow,
}

impl Event {
    /// The dotted name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::ActionRequested => "action.requested",
            Event::PolicyDecided => "policy.decided",
            Event::ApprovalRequested => "approval.requested",
            Event::ApprovalVote => "approval.vote",
            Event::ApprovalVoteRejected => "approval.vote_rejected",
            Event::ApprovalResolved => "approval.resolved",
            Event::ActionCompleted => "action.completed",
            Event::ActionAbandoned => "action.abandoned",
            Event::AuditRecovered => "audit.recovered",
            Event::AuditCheckpoint => "audit.checkpoint",
            Event::GrantCreated => "grant.created",
            Event::GrantUsed => "grant.used",
            Event::GrantRevoked => "grant.revoked",
            Event::ApprovalBreakGlass => "approval.break_glass",
            Event::ApprovalEscalated => "approval.escalated",
            Event::PolicyShadow => "policy.shadow",
        }
    }
}

/// One audit record. Optional fields are omitted from the line when absent.
/// `seq`, `ts`, `stream`, `prev` and `hash` are set when the record is sealed.
/// Every field is described in `docs/audit-trail.md` §3 (a new one must be
/// added there: `tests/verifier` checks the table).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in its stream, from 1.
    #[serde(default)]
    pub seq: u64,
    /// RFC 3339 UTC time of sealing.
    #[serde(default)]
    pub ts: String,
    /// The writer's chain.
    #[serde(default)]
    pub stream: String,
    /// What happened.
    pub event: Option<Event>,
    /// The action's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    /// The approval request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// For whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// The action name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Digest of the real args.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_digest: Option<String>,
    /// The args with redacted paths replaced by their digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// The policy's effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// Deciding rule ids, comma separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Digest of the deciding policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<String>,
    /// Who voted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voter: Option<String>,
    /// `approve` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The reviewer's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The action's context with redacted paths replaced by their digest
    /// (on `policy.decided`, so a decision can be replayed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// `authenticated` when the vote's channel authenticated the voter,
    /// `asserted` when the identity is only claimed (terminal, code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assurance: Option<String>,
    /// The operating-system user behind an asserted (terminal) vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
    /// Where the vote came from (`slack`, `web`, `api`, `terminal`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Final state: `allowed`, `denied`, `approved`, `expired`, `success`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// An error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The grant concerned (`grant.*` records), DESIGN §13.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// ed25519 signature of a checkpoint, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Hash of the previous record in the stream (64 zeros for the first).
    #[serde(default)]
    pub prev: String,
    /// blake3(prev ‖ canonical JSON of this record without `hash`), hex.
    #[serde(default)]
    pub hash: String,
}

/// The `prev` of a stream's first record (`docs/audit-trail.md` §6).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditRecord {
    /// A record of the given event with every other field empty.
    pub fn new(event: Event) -> Self {
        AuditRecord {
            event: Some(event),
            ..AuditRecord::default()
        }
    }

    /// Writes the canonical line (no newline) and sets `hash`, given `seq`,
    /// `ts`, `stream` and `prev` already set. Keys are written in sorted order
    /// by hand, so no map is built; `hash` is spliced in at its sorted place
    /// and hashed bytes are exactly the line without `,"hash":"…"`, after
    /// `prev` (the rule `docs/audit-trail.md` §6 states for verifiers).
    pub fn seal_into(&mut self, line: &mut String) {
        let start = line.len();
        let mut first = true;
        let mut key = |line: &mut String, k: &str| {
            line.push(if first { '{' } else { ',' });
            first = false;
            write_string(k, line);
            line.push(':');
        };
        let s = |line: &mut String, v: &str| write_string(v, line);
        macro_rules! opt {
            ($name:literal, $field:expr) => {
                if let Some(v) = &$field {
                    key(line, $name);
                    s(line, v);
                }
            };
        }
        opt!("action", self.action);
        opt!("action_id", self.action_id);
        opt!("actor", self.actor);
        if let Some(v) = &self.args {
            key(line, "args");
            write_canonical(v, line);
        }
        opt!("args_digest", self.args_digest);
        opt!("assurance", self.assurance);
        opt!("channel", self.channel);
        opt!("comment", self.comment);
        if let Some(v) = &self.context {
            key(line, "context");
            write_canonical(v, line);
        }
        opt!("effect", self.effect);
        opt!("env", self.env);
        opt!("error", self.error);
        if let Some(e) = self.event {
            key(line, "event");
            s(line, e.as_str());
        }
        opt!("grant", self.grant);
        let split = line.len();
        let mut tail = String::with_capacity(256);
        let key2 = |tail: &mut String, k: &str| {
            tail.push(',');
            write_string(k, tail);
            tail.push(':');
        };
        macro_rules! opt2 {
            ($name:literal, $field:expr) => {
                if let Some(v) = &$field {
                    key2(&mut tail, $name);
                    write_string(v, &mut tail);
                }
            };
        }
        opt2!("on_behalf_of", self.on_behalf_of);
        opt2!("os_user", self.os_user);
        opt2!("outcome", self.outcome);
        opt2!("policy_digest", self.policy_digest);
        key2(&mut tail, "prev");
        write_string(&self.prev, &mut tail);
        opt2!("reason", self.reason);
        opt2!("request_id", self.request_id);
        opt2!("resource", self.resource);
        opt2!("rule", self.rule);
        key2(&mut tail, "seq");
        let _ = write!(tail, "{}", self.seq);
        opt2!("signature", self.signature);
        key2(&mut tail, "stream");
        write_string(&self.stream, &mut tail);
        key2(&mut tail, "ts");
        write_string(&self.ts, &mut tail);
        opt2!("verdict", self.verdict);
        opt2!("voter", self.voter);
        tail.push('}');

        let mut hasher = blake3::Hasher::new();
        hasher.update(self.prev.as_bytes());
        hasher.update(&line.as_bytes()[start..split]);
        hasher.update(tail.as_bytes());
        self.hash = hasher.finalize().to_hex().to_string();
        if split == start {
            // no key before `hash` (never the case for real records): keep JSON valid
            line.push('{');
            line.push_str("\"hash\":");
            write_string(&self.hash, line);
            line.push_str(&tail[..]);
            // tail starts with ',' which now follows the hash member
        } else {
            line.push_str(",\"hash\":");
            write_string(&self.hash, line);
            line.push_str(&tail);
        }
    }

    /// The sealed canonical line, without newline.
    pub fn to_line(&mut self) -> String {
        let mut line = String::with_capacity(512);
        self.seal_into(&mut line);
        line
    }
}

/// The hash a line should carry, computed from its bytes: `prev` followed by
/// the line without its `,"hash":"…"` member. `None` when the line has no
/// well-formed hash member.
pub fn line_hash(line: &str, prev: &str, hash: &str) -> Option<String> {
    line_hash_hex(line, prev, hash).map(|h| h.to_hex().to_string())
}

/// Whether the line's content hashes to its `hash` member.
pub fn line_hash_matches(line: &str, prev: &str, hash: &str) -> bool {
    line_hash_hex(line, prev, hash).is_some_and(|h| h.to_hex().as_str() == hash)
}

fn line_hash_hex(line: &str, prev: &str, hash: &str) -> Option<blake3::Hash> {
    // (compared as hex by the callers)
    const KEY: &str = ",\"hash\":\"";
    // `hash` sorts after every key holding an object, so the top-level
    // member is the last occurrence of the key
    let at = line.rfind(KEY)?;
    let value_start = at + KEY.len();
    let value = line.get(value_start..value_start + hash.len())?;
    if value != hash || line.as_bytes().get(value_start + hash.len()) != Some(&b'"') {
        return None;
    }
    let end = value_start + hash.len() + 1;
    let mut hasher = blake3::Hasher::new();
    hasher.update(prev.as_bytes());
    hasher.update(&line.as_bytes()[..at]);
    hasher.update(&line.as_bytes()[end..]);
    Some(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_line_is_canonical_json_and_its_hash_verifies() {
        let mut r = AuditRecord::new(Event::PolicyDecided);
        r.seq = 1;
        r.ts = "2026-11-21T00:00:00Z".into();
        r.stream = "s".into();
        r.prev = GENESIS.into();
        r.action = Some("db.export".into());
        r.args = Some(json!({"b": 1, "a": "x\"y"}));
        r.context = Some(json!({"ticket": "T-1", "nested": {"z": [1, 2.5]}}));
        r.comment = Some("c".into());
        r.effect = Some("allow".into());
        r.rule = Some("r1".into());
        let line = r.to_line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(crate::canonical::to_canonical(&value), line);
        assert_eq!(
            line_hash(&line, GENESIS, &r.hash).as_deref(),
            Some(r.hash.as_str())
        );
        // the record round-trips
        let back: AuditRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }
}
