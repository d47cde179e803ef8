//! `signoff audit export --format ocsf`: trail records as OCSF 1.3.0 API
//! Activity events (class 6003), one JSON object per line, for a SIEM. The
//! mapping, field by field, is docs/ocsf.md.
//!
//! Why API Activity: every record is about one call an agent wanted to make
//! (an API operation named by the action), with the decision about it.
//! OCSF's IAM classes (Authentication, Authorize Session) describe logons and
//! the privileges a session gets, not a per-call decision; API Activity
//! carries the call (`api.operation`), who made it (`actor`), what it touched
//! (`resources`), whether it went through (`status_id`) and, in
//! `actor.authorizations`, the policy decision and the rule that made it.

use serde_json::{Map, Value, json};

use crate::report::TrailRecord;

/// The OCSF version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// API Activity.
pub const CLASS_UID: u64 = 6003;
/// Application Activity.
pub const CATEGORY_UID: u64 = 6;
/// API Activity's `Other` activity: a decision is none of create, read,
/// update or delete; `activity_name` says which record it is.
pub const ACTIVITY_OTHER: u64 = 99;

/// `status_id` / `status` for a record: 1 Success when the action went
/// through, 2 Failure when it was stopped or a vote refused, 0 Unknown while
/// it waits (and for records that are neither).
fn status(r: &TrailRecord) -> (u64, &'static str) {
    let outcome = r.outcome.as_deref().unwrap_or("");
    match r.event.as_str() {
        "policy.decided" => match r.effect.as_deref() {
            Some("allow") if outcome != "denied" => (1, "Success"),
            Some("approve") if outcome != "denied" => (0, "Unknown"),
            _ => (2, "Failure"),
        },
        "approval.vote" => (1, "Success"),
        "approval.vote_rejected" => (2, "Failure"),
        "approval.resolved" => match outcome {
            "approved" => (1, "Success"),
            o if o.contains("allowed") => (1, "Success"),
            _ => (2, "Failure"),
        },
        "action.completed" => match outcome {
            "success" | "handed_over" => (1, "Success"),
            _ => (2, "Failure"),
        },
        "action.abandoned" => (2, "Failure"),
        _ => (0, "Unknown"),
    }
}

/// `severity_id` / `severity`: denials and refused votes are Medium, a
/// refused self-approval is High (someone tried to approve their own agent),
/// everything else Informational.
fn severity(r: &TrailRecord, status_id: u64) -> (u64, &'static str) {
    match r.event.as_str() {
        "approval.vote_rejected" if r.outcome.as_deref() == Some("self_approval") => (4, "High"),
        "approval.vote_rejected" => (3, "Medium"),
        "approval.break_glass" => (4, "High"),
        "policy.decided" | "approval.resolved" if status_id == 2 => (3, "Medium"),
        _ => (1, "Informational"),
    }
}

fn user(principal: &str) -> Value {
    // `kind:id`: an agent or a service is a non-human account
    let (kind, _) = principal.split_once(':').unwrap_or(("", principal));
    let (type_id, type_name) = match kind {
        "user" => (1, "User"),
        "agent" | "service" => (3, "System"),
        _ => (99, "Other"),
    };
    json!({"uid": principal, "name": principal, "type_id": type_id, "type": type_name})
}

/// One record as one OCSF event.
pub fn event(r: &TrailRecord) -> Value {
    let (status_id, status_name) = status(r);
    let (severity_id, severity_name) = severity(r, status_id);
    let time = r
        .time
        .map_or(0, |t| u64::try_from(t.timestamp_millis()).unwrap_or(0));
    // who did this: the voter for votes, else the agent
    let is_vote = r.event.starts_with("approval.vote") || r.event == "approval.break_glass";
    let who = if is_vote {
        r.voter.as_deref().unwrap_or("unknown")
    } else {
        r.actor.as_deref().unwrap_or("unknown")
    };
    let mut actor = Map::new();
    actor.insert("user".into(), user(who));
    actor.insert("app_name".into(), json!("signoff"));
    if r.event == "policy.decided" {
        let mut policy = Map::new();
        if let Some(rule) = &r.rule {
            policy.insert("name".into(), json!(rule));
        }
        if let Some(d) = &r.policy_digest {
            policy.insert("uid".into(), json!(d));
        }
        if let Some(reason) = &r.reason {
            policy.insert("desc".into(), json!(reason));
        }
        let mut auth = Map::new();
        auth.insert(
            "decision".into(),
            json!(r.effect.as_deref().unwrap_or("deny")),
        );
        if !policy.is_empty() {
            auth.insert("policy".into(), Value::Object(policy));
        }
        actor.insert("authorizations".into(), json!([auth]));
    }
    let mut api = Map::new();
    api.insert(
        "operation".into(),
        json!(r.action.as_deref().unwrap_or(r.event.as_str())),
    );
    api.insert("service".into(), json!({"name": "signoff"}));
    if let Some(id) = &r.action_id {
        api.insert("request".into(), json!({"uid": id}));
    }
    let mut ev = Map::new();
    ev.insert("class_uid".into(), json!(CLASS_UID));
    ev.insert("class_name".into(), json!("API Activity"));
    ev.insert("category_uid".into(), json!(CATEGORY_UID));
    ev.insert("category_name".into(), json!("Application Activity"));
    ev.insert("activity_id".into(), json!(ACTIVITY_OTHER));
    ev.insert("activity_name".into(), json!(r.event));
    ev.insert("type_uid".into(), json!(CLASS_UID * 100 + ACTIVITY_OTHER));
    ev.insert("type_name".into(), json!("API Activity: Other"));
    ev.insert("severity_id".into(), json!(severity_id));
    ev.insert("severity".into(), json!(severity_name));
    ev.insert("status_id".into(), json!(status_id));
    ev.insert("status".into(), json!(status_name));
    if let Some(code) = &r.outcome {
        ev.insert("status_code".into(), json!(code));
    }
    if let Some(detail) = r.reason.as_ref().or(r.error.as_ref()) {
        ev.insert("status_detail".into(), json!(detail));
    }
    if let Some(text) = &r.reason {
        ev.insert("message".into(), json!(text));
    }
    ev.insert("time".into(), json!(time));
    ev.insert("actor".into(), Value::Object(actor));
    ev.insert("api".into(), Value::Object(api));
    // the writer process of the record: the gate the agent called in-process
    ev.insert("src_endpoint".into(), json!({"name": r.stream}));
    if let Some(res) = &r.resource {
        ev.insert(
            "resources".into(),
            json!([{"name": res, "uid": res, "type": "resource"}]),
        );
    }
    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(OCSF_VERSION));
    metadata.insert(
        "product".into(),
        json!({"name": "signoff", "vendor_name": "signoff", "version": env!("CARGO_PKG_VERSION")}),
    );
    metadata.insert("uid".into(), json!(r.hash));
    metadata.insert("original_time".into(), json!(r.ts));
    metadata.insert("log_name".into(), json!(r.stream));
    metadata.insert("sequence".into(), json!(r.seq));
    metadata.insert("event_code".into(), json!(r.event));
    if let Some(id) = r.request_id.as_ref().or(r.action_id.as_ref()) {
        metadata.insert("correlation_uid".into(), json!(id));
    }
    ev.insert("metadata".into(), Value::Object(metadata));
    let mut unmapped = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            unmapped.insert(k.into(), json!(v));
        }
    };
    put("action_id", &r.action_id);
    put("request_id", &r.request_id);
    put("on_behalf_of", &r.on_behalf_of);
    put("env", &r.env);
    put("effect", &r.effect);
    put("rule", &r.rule);
    put("policy_digest", &r.policy_digest);
    put("args_digest", &r.args_digest);
    put("verdict", &r.verdict);
    put("comment", &r.comment);
    put("channel", &r.channel);
    put("assurance", &r.assurance);
    put("outcome", &r.outcome);
    put("error", &r.error);
    if is_vote {
        put("actor", &r.actor);
    } else {
        put("voter", &r.voter);
    }
    if let Some(args) = &r.args {
        unmapped.insert("args".into(), args.clone());
    }
    if !unmapped.is_empty() {
        ev.insert("unmapped".into(), Value::Object(unmapped));
    }
    Value::Object(ev)
}

/// Every record except checkpoints (chain bookkeeping, not activity), one
/// event per line.
pub fn render(records: &[TrailRecord]) -> String {
    let mut out = String::with_capacity(records.len() * 900);
    for r in records {
        if r.event == "audit.checkpoint" {
            continue;
        }
        out.push_str(&event(r).to_string());
        out.push('\n');
    }
    out
}
