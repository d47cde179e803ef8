//! `signoff audit report`: an evidence report over a period of one or more
//! JSONL trails, for SOC 2 / ISO 27001 reviews (docs/audit-report.md).
//!
//! The trail is verified first, with the core's verifier; a broken chain
//! still yields a report, with the break first, and exits 1. Then every
//! *privileged action* (every `policy.decided` record in the period: allow,
//! deny and approve) is joined with the records about it in any of the given
//! files (approval request, votes, resolution, completion), and counted.

mod csv;
mod html;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signoff::audit::{VerifyingKey, verify_reader};
use signoff::{Event, RejectReason};

use crate::exit;

/// The report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained, printable HTML page.
    Html,
    /// One row per privileged action (RFC 4180).
    Csv,
    /// The whole report as one JSON object (`signoff.audit-report/1`).
    Json,
}

/// The JSON shape's name and version; bumped on any incompatible change.
pub const SCHEMA: &str = "signoff.audit-report/1";

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 instant; `end_of_day` moves a
/// plain date to the start of the next day (so `--to` includes that day).
pub fn parse_date(text: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("`{text}` is not a date (expected YYYY-MM-DD or an RFC 3339 time such as 2026-01-31T23:59:59Z)")
    })?;
    let day = if end_of_day {
        day.succ_opt()
            .ok_or_else(|| format!("`{text}` is past the last representable day"))?
    } else {
        day
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// The period covered: records with `from <= ts < to`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Period {
    /// Inclusive start, or the beginning of time.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end, or the end of time.
    pub to: Option<DateTime<Utc>>,
}

impl Period {
    /// Reads `--from` / `--to`.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period, String> {
        let from = from
            .map(|f| parse_date(f, false).map_err(|e| format!("--from: {e}")))
            .transpose()?;
        let to = to
            .map(|t| parse_date(t, true).map_err(|e| format!("--to: {e}")))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(format!(
                "--from {} is not before --to {}: the period is empty",
                rfc3339(f),
                rfc3339(t)
            ));
        }
        Ok(Period { from, to })
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One trail line, read leniently: an event this version does not know
/// (added by a later one) is kept by name and counted, never refused.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrailRecord {
    /// Position in its stream.
    #[serde(default)]
    pub seq: u64,
    /// RFC 3339 time of sealing.
    #[serde(default)]
    pub ts: String,
    /// The writer's chain.
    #[serde(default)]
    pub stream: String,
    /// What happened (any name).
    #[serde(default)]
    pub event: String,
    /// The action's id.
    pub action_id: Option<String>,
    /// The grant (`grant.*` records).
    pub grant: Option<String>,
    /// The approval request's id.
    pub request_id: Option<String>,
    /// Who asked.
    pub actor: Option<String>,
    /// For whom.
    pub on_behalf_of: Option<String>,
    /// The action name.
    pub action: Option<String>,
    /// The resource.
    pub resource: Option<String>,
    /// The environment.
    pub env: Option<String>,
    /// The args as recorded (redacted paths are digests).
    pub args: Option<Value>,
    /// Digest of the real args.
    pub args_digest: Option<String>,
    /// The policy's effect.
    pub effect: Option<String>,
    /// Deciding rule ids, comma separated.
    pub rule: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Digest of the deciding policy.
    pub policy_digest: Option<String>,
    /// Who voted.
    pub voter: Option<String>,
    /// `approve` or `deny`.
    pub verdict: Option<String>,
    /// The reviewer's comment.
    pub comment: Option<String>,
    /// Where a vote came from.
    pub channel: Option<String>,
    /// `authenticated` or `asserted`.
    pub assurance: Option<String>,
    /// Final state or reason code.
    pub outcome: Option<String>,
    /// An error message.
    pub error: Option<String>,
    /// The record's hash.
    #[serde(default)]
    pub hash: String,
    /// Parsed `ts` (not in the line).
    #[serde(skip)]
    pub time: Option<DateTime<Utc>>,
    /// The file it came from (index into the trails).
    #[serde(skip)]
    pub file: usize,
    /// Its 1-based line.
    #[serde(skip)]
    pub line: u64,
}

/// One trail file: its verification and its records.
#[derive(Debug)]
pub struct LoadedTrail {
    /// What verification found.
    pub verification: FileVerification,
    /// Lines that are not JSON objects (counted, not used).
    pub unreadable_lines: u64,
}

/// The verification of one file, as shown in the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileVerification {
    /// The path.
    pub path: String,
    /// Whether every check passed.
    pub ok: bool,
    /// Records checked (up to the break).
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Streams seen (up to the break), each with its last seq.
    pub streams: BTreeMap<String, u64>,
    /// Checkpoint records seen.
    pub checkpoints: u64,
    /// Checkpoint signatures verified against `--pubkey`.
    pub signatures_verified: u64,
    /// Readable records from the break on, which verification could not
    /// vouch for (counted in the report all the same).
    pub unverified_records: u64,
    /// The first problem, when there is one.
    #[serde(rename = "break")]
    pub failure: Option<Break>,
}

/// Where and why a trail stops verifying.
#[derive(Debug, Clone, Serialize)]
pub struct Break {
    /// The file.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// The bad record's seq, when readable.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// Reads and verifies every trail. `Err` is a located message for an input
/// that cannot be read at all (exit 2).
pub fn load(
    paths: &[PathBuf],
    key: Option<&VerifyingKey>,
) -> Result<(Vec<LoadedTrail>, Vec<TrailRecord>), String> {
    let mut trails = Vec::with_capacity(paths.len());
    let mut records = Vec::new();
    for (file, path) in paths.iter().enumerate() {
        let text = path.to_str().unwrap_or_default();
        if text.starts_with("sqlite:")
            || text.starts_with("postgres://")
            || text.starts_with("postgresql://")
        {
            return Err(format!(
                "{text}: the report reads JSONL trails (verify a database trail with `signoff audit verify`)"
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut verification = match verify_reader(&bytes[..], key, None) {
            Ok(r) => FileVerification {
                ok: true,
                records: r.records,
                bytes: r.bytes,
                streams: r
                    .streams
                    .iter()
                    .map(|(s, (seq, _))| (s.clone(), *seq))
                    .collect(),
                checkpoints: r.checkpoints,
                signatures_verified: r.signatures_verified,
                ..FileVerification::default()
            },
            Err(f) => FileVerification {
                ok: false,
                records: f.line.saturating_sub(1),
                bytes: bytes.len() as u64,
                failure: Some(Break {
                    path: path.display().to_string(),
                    line: f.line,
                    seq: f.seq,
                    reason: f.reason,
                }),
                ..FileVerification::default()
            },
        };
        verification.path = path.display().to_string();
        let mut unreadable_lines = 0;
        let break_line = verification.failure.as_ref().map_or(u64::MAX, |b| b.line);
        let mut stream_heads: BTreeMap<String, u64> = BTreeMap::new();
        let mut checkpoints = 0;
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<TrailRecord>(line) {
                Ok(mut r) => {
                    r.time = DateTime::parse_from_rfc3339(&r.ts)
                        .ok()
                        .map(|t| t.with_timezone(&Utc));
                    r.file = file;
                    r.line = i as u64 + 1;
                    if !verification.ok {
                        // the verifier stopped at the break: what it checked
                        // is the lines before it
                        if r.line < break_line {
                            let head = stream_heads.entry(r.stream.clone()).or_default();
                            *head = (*head).max(r.seq);
                            if r.event == Event::AuditCheckpoint.as_str() {
                                checkpoints += 1;
                            }
                        } else {
                            verification.unverified_records += 1;
                        }
                    }
                    records.push(r);
                }
                Err(_) => unreadable_lines += 1,
            }
        }
        if !verification.ok {
            verification.streams = stream_heads;
            verification.checkpoints = checkpoints;
        }
        trails.push(LoadedTrail {
            verification,
            unreadable_lines,
        });
    }
    Ok((trails, records))
}

/// The core's refusal reasons, in the order the report lists them, each
/// with a sentence. A reason the core adds later is shown by its code.
const REJECT_REASONS: [(RejectReason, &str); 12] = [
    (
        RejectReason::SelfApproval,
        "self-approval (the actor, the person it acts for, or its owner)",
    ),
    (
        RejectReason::NotEligible,
        "not eligible (in none of the required groups)",
    ),
    (
        RejectReason::StaleArgs,
        "stale (voted on args the request no longer has)",
    ),
    (RejectReason::AlreadyVoted, "already voted differently"),
    (
        RejectReason::Resolved,
        "late (the request was already resolved)",
    ),
    (
        RejectReason::ChannelNotAllowed,
        "channel not allowed by the rule",
    ),
    (RejectReason::EditNotAllowed, "edit not allowed by the rule"),
    (RejectReason::BadEdit, "edited args not valid"),
    (RejectReason::NotAUser, "only users vote"),
    (RejectReason::InvalidVoter, "not a valid principal"),
    (
        RejectReason::BreakGlassRefused,
        "break-glass refused (no reason, or not in the break-glass group)",
    ),
    (
        RejectReason::BadGrant,
        "grant not allowed (no max_grant, too long, or on a deny)",
    ),
];

/// The label for a refusal code written in a trail (codes of refused
/// callbacks and access, such as `bad_signature` or `bad_token`, and reasons
/// newer than this list are shown as they are).
pub fn refusal_label(code: &str) -> String {
    REJECT_REASONS
        .iter()
        .find(|(r, _)| r.code() == code)
        .map_or_else(|| code.replace('_', " "), |(_, label)| (*label).to_owned())
}

/// Every event the report interprets; others (`grant.created`,
/// `approval.escalated`, `policy.shadow`, and any added later) are listed
/// under "other events".
fn known_event(name: &str) -> bool {
    const KNOWN: [Event; 12] = [
        Event::GrantUsed,
        Event::ApprovalBreakGlass,
        Event::ActionRequested,
        Event::PolicyDecided,
        Event::ApprovalRequested,
        Event::ApprovalVote,
        Event::ApprovalVoteRejected,
        Event::ApprovalResolved,
        Event::ActionCompleted,
        Event::ActionAbandoned,
        Event::AuditRecovered,
        Event::AuditCheckpoint,
    ];
    KNOWN.iter().any(|e| e.as_str() == name)
}

/// The whole report, as written by `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// When the report was made.
    pub generated_at: String,
    /// signoff's version.
    pub generator: String,
    /// The period.
    pub period: PeriodOut,
    /// Verification first.
    pub verification: Verification,
    /// The headline numbers.
    pub summary: Summary,
    /// Every privileged action decided in the period, in time order.
    pub actions: Vec<ActionRow>,
    /// Refused votes in the period, by reason code.
    pub refused_votes: Vec<RefusalCount>,
    /// Every refused vote in the period.
    pub refusals: Vec<RefusalRow>,
    /// Approval requests of the period's actions that expired.
    pub timeouts: Vec<TimeoutRow>,
    /// Per deciding rule: what it decided and how its approvals ended.
    pub rules: Vec<RuleCount>,
    /// Per voter: counted and refused votes.
    pub approvers: Vec<ApproverCount>,
    /// Per UTC day: decisions by effect.
    pub days: Vec<DayCount>,
    /// Every event in the period, by name.
    pub events: BTreeMap<String, u64>,
    /// Events this version does not know (added later), by name.
    pub other_events: BTreeMap<String, u64>,
}

/// The period as written.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodOut {
    /// Inclusive start (RFC 3339), or null for "from the first record".
    pub from: Option<String>,
    /// Exclusive end (RFC 3339), or null for "to the last record".
    pub to: Option<String>,
}

/// The verification of all files.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether every file verified.
    pub ok: bool,
    /// Whether signatures were checked (`--pubkey`).
    pub signatures_checked: bool,
    /// Records checked, all files.
    pub records: u64,
    /// Streams, all files.
    pub streams: u64,
    /// Checkpoints, all files.
    pub checkpoints: u64,
    /// Signatures verified, all files.
    pub signatures_verified: u64,
    /// Lines that are not audit records at all.
    pub unreadable_lines: u64,
    /// Records without a valid timestamp (left out of the period).
    pub undated_records: u64,
    /// The breaks found (one per broken file).
    pub breaks: Vec<Break>,
    /// Each file.
    pub files: Vec<FileVerification>,
}

/// The headline numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Privileged actions (decision records) in the period.
    pub decisions: u64,
    /// Allowed by policy.
    pub allow: u64,
    /// Denied by policy (including invalid actions and reused ids).
    pub deny: u64,
    /// Sent to reviewers.
    pub approve: u64,
    /// Approval requests approved.
    pub approved: u64,
    /// Approve decisions permitted by an earlier grant (no new votes).
    pub granted: u64,
    /// Approval requests denied by a reviewer.
    pub denied_by_reviewer: u64,
    /// Approval requests that expired (timeouts).
    pub expired: u64,
    /// Approval requests cancelled.
    pub cancelled: u64,
    /// Approval requests with no resolution in the trail.
    pub unresolved: u64,
    /// Approve decisions that never reached reviewers (no approver: denied).
    pub not_requested: u64,
    /// Completions reported as success.
    pub completed_success: u64,
    /// Completions reported as failure.
    pub completed_failure: u64,
    /// Permits dropped without an outcome.
    pub abandoned: u64,
    /// Refused votes in the period.
    pub refused_votes: u64,
    /// Votes counted in the period (approve and deny).
    pub votes: u64,
    /// Actions permitted through a grant (`grant.used`, DESIGN §13).
    pub grants_used: u64,
    /// Break-glass resolutions (`approval.break_glass`, DESIGN §13).
    pub break_glass: u64,
    /// Median seconds from decision to resolution, approved or denied.
    pub median_seconds_to_decision: Option<f64>,
    /// 90th percentile of the same.
    pub p90_seconds_to_decision: Option<f64>,
    /// Longest of the same.
    pub max_seconds_to_decision: Option<f64>,
}

/// One privileged action.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionRow {
    /// The decision's time.
    pub ts: String,
    /// The action id.
    pub action_id: String,
    /// The writer's stream.
    pub stream: String,
    /// The action name.
    pub action: String,
    /// The actor.
    pub actor: String,
    /// For whom.
    pub on_behalf_of: Option<String>,
    /// The resource.
    pub resource: Option<String>,
    /// The environment.
    pub env: Option<String>,
    /// The args as recorded (redacted values are keyed digests).
    pub args: Option<Value>,
    /// `allow`, `deny` or `approve`.
    pub effect: String,
    /// Deciding rule ids.
    pub rules: Vec<String>,
    /// The policy's reason.
    pub reason: Option<String>,
    /// An error recorded with the decision (invalid action, no approver).
    pub error: Option<String>,
    /// The approval request.
    pub request_id: Option<String>,
    /// Voters whose approve was counted.
    pub approvers: Vec<String>,
    /// Voters whose deny was counted.
    pub deniers: Vec<String>,
    /// The counted votes' comments, as `voter: comment`.
    pub comments: Vec<String>,
    /// How the approval ended: `approved`, `denied`, `expired`, `cancelled`...
    pub resolution: Option<String>,
    /// When it ended.
    pub resolved_at: Option<String>,
    /// Seconds from the decision record to `approval.resolved`.
    pub seconds_to_decision: Option<f64>,
    /// `success`, `failure`, `abandoned`, `handed_over`, or none reported.
    pub completion: Option<String>,
    /// The failure's detail.
    pub completion_error: Option<String>,
    /// Whether the action finally ran (was permitted).
    pub permitted: bool,
    /// The grants that permitted it without new votes (`grant.used`).
    pub grants: Vec<String>,
    /// Who resolved it alone by break-glass, and why.
    pub break_glass: Option<String>,
    /// The decision record's hash.
    pub hash: String,
}

/// Refused votes with one reason.
#[derive(Debug, Clone, Serialize)]
pub struct RefusalCount {
    /// The code in the trail (`self_approval`, `not_eligible`, `stale_args`...).
    pub code: String,
    /// A sentence.
    pub label: String,
    /// How many.
    pub count: u64,
}

/// One refused vote.
#[derive(Debug, Clone, Serialize)]
pub struct RefusalRow {
    /// When.
    pub ts: String,
    /// Who tried.
    pub voter: Option<String>,
    /// The code.
    pub code: String,
    /// The message given.
    pub reason: Option<String>,
    /// The action.
    pub action_id: Option<String>,
    /// The action name.
    pub action: Option<String>,
    /// The request.
    pub request_id: Option<String>,
    /// Through which channel.
    pub channel: Option<String>,
}

/// One expired approval request.
#[derive(Debug, Clone, Serialize)]
pub struct TimeoutRow {
    /// The action.
    pub action_id: String,
    /// The action name.
    pub action: String,
    /// The request.
    pub request_id: Option<String>,
    /// The rules.
    pub rules: Vec<String>,
    /// Decided at.
    pub requested_at: String,
    /// Expired at.
    pub expired_at: Option<String>,
    /// `expired` (denied) or `expired; allowed by on_timeout`.
    pub resolution: String,
}

/// What one rule decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleCount {
    /// The rule id (`(none)` for decisions without a rule: the default, an
    /// invalid action, a reused id).
    pub rule: String,
    /// Allowed.
    pub allow: u64,
    /// Denied by the policy.
    pub deny: u64,
    /// Sent to reviewers.
    pub approve: u64,
    /// ...then approved.
    pub approved: u64,
    /// ...or permitted by a grant.
    pub granted: u64,
    /// ...then denied by a reviewer.
    pub denied_by_reviewer: u64,
    /// ...then expired.
    pub expired: u64,
    /// ...then cancelled.
    pub cancelled: u64,
    /// Denials of all kinds: by policy, by a reviewer, by timeout.
    pub denials: u64,
}

/// What one voter did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApproverCount {
    /// The voter.
    pub voter: String,
    /// Approve votes counted.
    pub approved: u64,
    /// Deny votes counted.
    pub denied: u64,
    /// Votes refused.
    pub refused: u64,
    /// Of those, self-approvals.
    pub self_approvals: u64,
}

/// Decisions on one UTC day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Allowed.
    pub allow: u64,
    /// Denied by policy.
    pub deny: u64,
    /// Sent to reviewers.
    pub approve: u64,
}

fn split_rules(rule: Option<&str>) -> Vec<String> {
    rule.map(|r| {
        r.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // nearest rank
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_microseconds()
        .map_or(d.num_seconds() as f64, |us| us as f64 / 1e6)
}

/// Builds the report from loaded trails.
pub fn build(trails: &[LoadedTrail], mut records: Vec<TrailRecord>, period: Period) -> Report {
    // one order over all files: by time, then by file and line
    records.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    let mut summary = Summary::default();
    let mut actions: Vec<ActionRow> = Vec::new();
    let mut action_times: Vec<DateTime<Utc>> = Vec::new();
    let mut by_action: HashMap<String, usize> = HashMap::new();
    let mut by_request: HashMap<String, usize> = HashMap::new();
    let mut events: BTreeMap<String, u64> = BTreeMap::new();
    let mut other_events: BTreeMap<String, u64> = BTreeMap::new();
    let mut days: BTreeMap<String, DayCount> = BTreeMap::new();
    let mut undated = 0;

    // pass 1: the decisions of the period
    for r in &records {
        let Some(time) = r.time else {
            undated += 1;
            continue;
        };
        if !period.contains(time) {
            continue;
        }
        *events.entry(r.event.clone()).or_default() += 1;
        if !known_event(&r.event) {
            *other_events.entry(r.event.clone()).or_default() += 1;
        }
        if r.event != Event::PolicyDecided.as_str() {
            continue;
        }
        let effect = r.effect.clone().unwrap_or_else(|| "deny".to_owned());
        let day = days.entry(time.format("%Y-%m-%d").to_string()).or_default();
        summary.decisions += 1;
        match effect.as_str() {
            "allow" => {
                summary.allow += 1;
                day.allow += 1;
            }
            "approve" => {
                summary.approve += 1;
                day.approve += 1;
            }
            _ => {
                summary.deny += 1;
                day.deny += 1;
            }
        }
        let row = ActionRow {
            ts: r.ts.clone(),
            action_id: r.action_id.clone().unwrap_or_default(),
            stream: r.stream.clone(),
            action: r.action.clone().unwrap_or_default(),
            actor: r.actor.clone().unwrap_or_default(),
            on_behalf_of: r.on_behalf_of.clone(),
            resource: r.resource.clone(),
            env: r.env.clone(),
            args: r.args.clone(),
            permitted: effect == "allow",
            effect,
            rules: split_rules(r.rule.as_deref()),
            reason: r.reason.clone(),
            error: r.error.clone(),
            hash: r.hash.clone(),
            // a reused id's refusal names the existing request, not its own
            ..ActionRow::default()
        };
        let mut row = row;
        if row.effect == "approve" && r.outcome.as_deref() == Some("granted") {
            row.resolution = Some("granted".to_owned());
            row.permitted = true;
        }
        if let Some(id) = &r.action_id {
            by_action.insert(id.clone(), actions.len());
        }
        actions.push(row);
        action_times.push(time);
    }

    // pass 2: what happened to them, from any file and any time
    let mut refusals: Vec<RefusalRow> = Vec::new();
    let mut approvers: BTreeMap<String, ApproverCount> = BTreeMap::new();
    let mut resolved_seen: HashMap<String, ()> = HashMap::new();
    for r in &records {
        let in_period = r.time.is_some_and(|t| period.contains(t));
        let row = r
            .action_id
            .as_ref()
            .and_then(|id| by_action.get(id))
            .copied();
        match r.event.as_str() {
            "approval.requested" => {
                if let (Some(i), Some(req)) = (row, &r.request_id)
                    && actions[i].effect == "approve"
                {
                    actions[i].request_id = Some(req.clone());
                    by_request.insert(req.clone(), i);
                }
            }
            "approval.vote" => {
                if in_period {
                    summary.votes += 1;
                    if let Some(v) = &r.voter {
                        let a = approvers.entry(v.clone()).or_default();
                        match r.verdict.as_deref() {
                            Some("approve") => a.approved += 1,
                            _ => a.denied += 1,
                        }
                    }
                }
                let i = r
                    .request_id
                    .as_ref()
                    .and_then(|q| by_request.get(q))
                    .copied()
                    .or(row);
                if let (Some(i), Some(v)) = (i, &r.voter) {
                    let list = match r.verdict.as_deref() {
                        Some("approve") => &mut actions[i].approvers,
                        _ => &mut actions[i].deniers,
                    };
                    if !list.contains(v) {
                        list.push(v.clone());
                    }
                    if let Some(c) = &r.comment {
                        actions[i].comments.push(format!("{v}: {c}"));
                    }
                }
            }
            "approval.vote_rejected" if in_period => {
                let code = r.outcome.clone().unwrap_or_else(|| "unknown".to_owned());
                if let Some(v) = &r.voter {
                    let a = approvers.entry(v.clone()).or_default();
                    a.refused += 1;
                    if code == RejectReason::SelfApproval.code() {
                        a.self_approvals += 1;
                    }
                }
                refusals.push(RefusalRow {
                    ts: r.ts.clone(),
                    voter: r.voter.clone(),
                    code,
                    reason: r.reason.clone(),
                    action_id: r.action_id.clone(),
                    action: r.action.clone(),
                    request_id: r.request_id.clone(),
                    channel: r.channel.clone(),
                });
            }
            "grant.used" => {
                if let Some(i) = row {
                    let a = &mut actions[i];
                    if let Some(g) = &r.grant {
                        a.grants.push(g.clone());
                    }
                    for v in split_rules(r.voter.as_deref()) {
                        if !a.approvers.contains(&v) {
                            a.approvers.push(v);
                        }
                    }
                }
            }
            "approval.break_glass" => {
                let i = r
                    .request_id
                    .as_ref()
                    .and_then(|q| by_request.get(q))
                    .copied()
                    .or(row);
                if let Some(i) = i {
                    let who = r.voter.as_deref().unwrap_or("?");
                    actions[i].break_glass = Some(match &r.comment {
                        Some(c) => format!("{who}: {c}"),
                        None => who.to_owned(),
                    });
                }
            }
            "approval.resolved" => {
                let i = r
                    .request_id
                    .as_ref()
                    .and_then(|q| by_request.get(q))
                    .copied()
                    .or(row);
                let Some(i) = i else { continue };
                // several processes may each record the same resolution:
                // the first one counts
                let key = r
                    .request_id
                    .clone()
                    .unwrap_or_else(|| actions[i].action_id.clone());
                if resolved_seen.insert(key, ()).is_some() || actions[i].resolution.is_some() {
                    continue;
                }
                let a = &mut actions[i];
                let outcome = r.outcome.clone().unwrap_or_default();
                a.permitted = outcome == "approved" || outcome.contains("allowed");
                a.resolution = Some(outcome);
                a.resolved_at = Some(r.ts.clone());
                if let Some(t) = r.time {
                    a.seconds_to_decision = Some(seconds(t - action_times[i]));
                }
                if a.request_id.is_none() {
                    a.request_id.clone_from(&r.request_id);
                }
            }
            "action.completed" | "action.abandoned" => {
                if let Some(i) = row
                    && actions[i].completion.is_none()
                {
                    let outcome = r.outcome.clone().unwrap_or_else(|| {
                        if r.event == "action.abandoned" {
                            "abandoned".to_owned()
                        } else {
                            "unknown".to_owned()
                        }
                    });
                    actions[i].completion = Some(outcome);
                    actions[i].completion_error.clone_from(&r.error);
                }
            }
            _ => {}
        }
    }

    // the rule, timeout and outcome tables
    let mut rules: BTreeMap<String, RuleCount> = BTreeMap::new();
    let mut timeouts = Vec::new();
    let mut to_decision = Vec::new();
    for a in &actions {
        let names = if a.rules.is_empty() {
            vec!["(none)".to_owned()]
        } else {
            a.rules.clone()
        };
        let resolution = a.resolution.as_deref().unwrap_or("");
        if a.effect == "approve" {
            match resolution {
                "approved" => summary.approved += 1,
                "granted" => summary.granted += 1,
                "denied" => summary.denied_by_reviewer += 1,
                "cancelled" => summary.cancelled += 1,
                r if r.starts_with("expired") => summary.expired += 1,
                _ if a.request_id.is_none() => summary.not_requested += 1,
                _ => summary.unresolved += 1,
            }
            if matches!(resolution, "approved" | "denied")
                && let Some(s) = a.seconds_to_decision
            {
                to_decision.push(s);
            }
            if resolution.starts_with("expired") {
                timeouts.push(TimeoutRow {
                    action_id: a.action_id.clone(),
                    action: a.action.clone(),
                    request_id: a.request_id.clone(),
                    rules: a.rules.clone(),
                    requested_at: a.ts.clone(),
                    expired_at: a.resolved_at.clone(),
                    resolution: resolution.to_owned(),
                });
            }
        }
        match a.completion.as_deref() {
            Some("success") => summary.completed_success += 1,
            Some("failure") => summary.completed_failure += 1,
            Some("abandoned") => summary.abandoned += 1,
            _ => {}
        }
        for name in names {
            let c = rules.entry(name.clone()).or_default();
            c.rule = name;
            match a.effect.as_str() {
                "allow" => c.allow += 1,
                "approve" => {
                    c.approve += 1;
                    match resolution {
                        "approved" => c.approved += 1,
                        "granted" => c.granted += 1,
                        "denied" => c.denied_by_reviewer += 1,
                        "cancelled" => c.cancelled += 1,
                        r if r.starts_with("expired") => c.expired += 1,
                        _ => {}
                    }
                    if !a.permitted && a.resolution.as_deref().is_some_and(|r| r != "cancelled") {
                        c.denials += 1;
                    }
                }
                _ => {
                    c.deny += 1;
                    c.denials += 1;
                }
            }
        }
    }
    to_decision.sort_by(f64::total_cmp);
    summary.median_seconds_to_decision = percentile(&to_decision, 0.5);
    summary.p90_seconds_to_decision = percentile(&to_decision, 0.9);
    summary.max_seconds_to_decision = to_decision.last().copied();
    summary.refused_votes = refusals.len() as u64;
    summary.grants_used = events.get("grant.used").copied().unwrap_or(0);
    summary.break_glass = events.get("approval.break_glass").copied().unwrap_or(0);

    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    for r in &refusals {
        *refused.entry(r.code.clone()).or_default() += 1;
    }
    // the core's reasons in a fixed order (zeros included, so an auditor
    // sees "self-approval: 0"), then any other code
    let mut refused_votes: Vec<RefusalCount> = REJECT_REASONS
        .iter()
        .map(|(r, label)| RefusalCount {
            code: r.code().to_owned(),
            label: (*label).to_owned(),
            count: refused.remove(r.code()).unwrap_or(0),
        })
        .collect();
    refused_votes.extend(refused.into_iter().map(|(code, count)| RefusalCount {
        label: refusal_label(&code),
        code,
        count,
    }));

    let mut breaks = Vec::new();
    let mut files = Vec::new();
    let mut streams = std::collections::BTreeSet::new();
    let mut unreadable = 0;
    for t in trails {
        if let Some(b) = &t.verification.failure {
            breaks.push(b.clone());
        }
        streams.extend(t.verification.streams.keys().cloned());
        unreadable += t.unreadable_lines;
        files.push(t.verification.clone());
    }
    Report {
        schema: SCHEMA,
        generated_at: rfc3339(Utc::now()),
        generator: format!("signoff {}", env!("CARGO_PKG_VERSION")),
        period: PeriodOut {
            from: period.from.map(rfc3339),
            to: period.to.map(rfc3339),
        },
        verification: Verification {
            ok: breaks.is_empty(),
            signatures_checked: false,
            records: files.iter().map(|f| f.records).sum(),
            streams: streams.len() as u64,
            checkpoints: files.iter().map(|f| f.checkpoints).sum(),
            signatures_verified: files.iter().map(|f| f.signatures_verified).sum(),
            unreadable_lines: unreadable,
            undated_records: undated,
            breaks,
            files,
        },
        summary,
        actions,
        refused_votes,
        refusals,
        timeouts,
        rules: {
            let mut v: Vec<RuleCount> = rules.into_values().collect();
            v.sort_by(|a, b| {
                (b.allow + b.deny + b.approve)
                    .cmp(&(a.allow + a.deny + a.approve))
                    .then(a.rule.cmp(&b.rule))
            });
            v
        },
        approvers: approvers
            .into_iter()
            .map(|(voter, mut c)| {
                c.voter = voter;
                c
            })
            .collect(),
        days: days
            .into_iter()
            .map(|(day, mut c)| {
                c.day = day;
                c
            })
            .collect(),
        events,
        other_events,
    }
}

/// Reads `--pubkey` (hex, or a file holding it).
fn load_key(pubkey: Option<&str>) -> Result<Option<VerifyingKey>, String> {
    let Some(arg) = pubkey else { return Ok(None) };
    let hex = crate::audit_cmd::read_key(arg)?;
    signoff::audit::verifying_key_from_hex(&hex)
        .map(Some)
        .map_err(|e| format!("--pubkey: {e}"))
}

/// Writes `text` to `out` (or standard output).
fn write_out(out: Option<&Path>, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    match out {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| format!("{}: cannot write: {e}", p.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write to standard output: {e}"))
        }
    }
}

/// The options of `signoff audit report`.
pub struct ReportArgs<'a> {
    /// The trail files.
    pub trails: &'a [PathBuf],
    /// `--from`.
    pub from: Option<&'a str>,
    /// `--to`.
    pub to: Option<&'a str>,
    /// `--format`.
    pub format: ReportFormat,
    /// `--pubkey`.
    pub pubkey: Option<&'a str>,
    /// `--output`.
    pub output: Option<&'a Path>,
}

/// `signoff audit report`: 0 when every file verifies, 1 when one is broken
/// (the report is still written, the break first), 2 for unusable input.
pub fn report(args: &ReportArgs<'_>) -> u8 {
    let period = match Period::parse(args.from, args.to) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let key = match load_key(args.pubkey) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let (trails, records) = match load(args.trails, key.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let mut report = build(&trails, records, period);
    report.verification.signatures_checked = key.is_some();
    let text = match args.format {
        ReportFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(mut t) => {
                t.push('\n');
                t
            }
            Err(e) => {
                eprintln!("cannot write the report: {e}");
                return exit::USAGE;
            }
        },
        ReportFormat::Csv => csv::render(&report),
        ReportFormat::Html => html::render(&report),
    };
    if let Err(e) = write_out(args.output, &text) {
        eprintln!("{e}");
        return exit::USAGE;
    }
    for b in &report.verification.breaks {
        eprintln!(
            "{}:{}: TAMPERED — {}{}",
            b.path,
            b.line,
            b.seq.map(|s| format!("seq {s}: ")).unwrap_or_default(),
            b.reason
        );
    }
    if report.verification.ok {
        exit::OK
    } else {
        exit::DENIED
    }
}

/// The options of `signoff audit export`.
pub struct ExportArgs<'a> {
    /// The trail files.
    pub trails: &'a [PathBuf],
    /// `--from`.
    pub from: Option<&'a str>,
    /// `--to`.
    pub to: Option<&'a str>,
    /// `--pubkey`.
    pub pubkey: Option<&'a str>,
    /// `--output`.
    pub output: Option<&'a Path>,
}

/// `signoff audit export --format ocsf`: one OCSF event per line; exit codes
/// as [`report`] (a broken trail is still exported, and named on stderr).
pub fn export(args: &ExportArgs<'_>) -> u8 {
    let period = match Period::parse(args.from, args.to) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let key = match load_key(args.pubkey) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let (trails, mut records) = match load(args.trails, key.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let undated = records.iter().filter(|r| r.time.is_none()).count();
    if undated > 0 {
        eprintln!("{undated} record(s) without a valid `ts` left out of the export");
    }
    records.retain(|r| r.time.is_some_and(|t| period.contains(t)));
    records.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    let text = crate::ocsf::render(&records);
    if let Err(e) = write_out(args.output, &text) {
        eprintln!("{e}");
        return exit::USAGE;
    }
    let mut ok = true;
    for t in &trails {
        if let Some(b) = &t.verification.failure {
            ok = false;
            eprintln!(
                "{}:{}: TAMPERED — {}{} (exported all the same; records from here on cannot be trusted)",
                b.path,
                b.line,
                b.seq.map(|s| format!("seq {s}: ")).unwrap_or_default(),
                b.reason
            );
        }
    }
    if ok { exit::OK } else { exit::DENIED }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_to_date_includes_that_whole_day() {
        let p = Period::parse(Some("2026-01-01"), Some("2026-03-31")).unwrap();
        assert_eq!(rfc3339(p.from.unwrap()), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(p.to.unwrap()), "2026-04-01T00:00:00Z");
        assert!(p.contains(parse_date("2026-03-31T23:59:59.999Z", false).unwrap()));
        assert!(!p.contains(parse_date("2026-04-01T00:00:00Z", false).unwrap()));
        let exact = Period::parse(None, Some("2026-03-31T12:00:00+02:00")).unwrap();
        assert_eq!(rfc3339(exact.to.unwrap()), "2026-03-31T10:00:00Z");
    }

    #[test]
    fn bad_and_empty_periods_are_refused_with_the_flag_named() {
        let e = Period::parse(Some("last quarter"), None).unwrap_err();
        assert!(e.starts_with("--from: `last quarter` is not a date"), "{e}");
        let e = Period::parse(Some("2026-02-01"), Some("2026-01-01")).unwrap_err();
        assert!(e.contains("the period is empty"), "{e}");
    }

    #[test]
    fn every_core_refusal_code_has_a_label() {
        assert!(refusal_label("self_approval").starts_with("self-approval"));
        assert_eq!(refusal_label("bad_signature"), "bad signature");
        let codes: std::collections::HashSet<_> =
            REJECT_REASONS.iter().map(|(r, _)| r.code()).collect();
        assert_eq!(codes.len(), REJECT_REASONS.len());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.9), Some(10.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
