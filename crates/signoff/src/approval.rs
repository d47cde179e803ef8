//! Approval requests, votes and their lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;
use crate::policy::{ApprovalRequirements, Decision, Requirement, Risk};

/// Where a request is in its lifecycle:
/// `pending → approved | denied | expired | cancelled`, and `approved →
/// completed` once its permit is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for votes.
    Pending,
    /// Enough approvals; a permit may be issued.
    Approved,
    /// A reviewer (or an edit the policy denies) denied it.
    Denied,
    /// Nobody decided in time.
    Expired,
    /// The requester gave up, or the approver failed.
    Cancelled,
    /// Its one permit was issued (a compare-and-swap from `approved`): no
    /// second permit can ever be issued for it.
    Issued,
    /// Its permit was completed or abandoned: it can never run again.
    Completed,
}

impl RequestStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
            RequestStatus::Expired => "expired",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Issued => "issued",
            RequestStatus::Completed => "completed",
        }
    }
}

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let it run.
    Approve,
    /// Stop it.
    Deny,
}

impl Verdict {
    /// `approve` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// One reviewer's vote on a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// The reviewer, a `user:` principal.
    pub voter: String,
    /// approve or deny.
    pub verdict: Verdict,
    /// Optional comment, recorded in the trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Edited args (only where the rule has `allow_edit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// The args digest the reviewer saw; absent means the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_digest: Option<String>,
    /// Where the vote came from: `terminal`, `web`, `api`, `slack`, `code`...
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Whether the channel authenticated the voter (a signed Slack
    /// callback, a web login, an API token). Votes from in-process code and
    /// the terminal only assert who voted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authenticated: bool,
    /// The operating-system user who cast an asserted vote (terminal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
    /// When it was counted (set by the gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// A grant the approver attaches: later actions the same rule sends to
    /// approval, in its scope, are permitted for this long (DESIGN §13).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::policy::opt_duration"
    )]
    pub grant: Option<std::time::Duration>,
    /// Break-glass: one member of `[policy] break_glass`'s group resolves
    /// the request alone; the comment is the required reason.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

fn default_channel() -> String {
    "code".to_owned()
}

impl Vote {
    /// An approval by `voter`.
    pub fn approve(voter: impl Into<String>) -> Self {
        Self::new(voter, Verdict::Approve)
    }

    /// A denial by `voter`.
    pub fn deny(voter: impl Into<String>) -> Self {
        Self::new(voter, Verdict::Deny)
    }

    /// A vote with the given verdict.
    pub fn new(voter: impl Into<String>, verdict: Verdict) -> Self {
        Vote {
            voter: voter.into(),
            verdict,
            comment: None,
            args: None,
            args_digest: None,
            channel: default_channel(),
            authenticated: false,
            os_user: None,
            at: None,
            grant: None,
            break_glass: false,
        }
    }

    /// Attaches a grant of `length` to an approval (DESIGN §13).
    pub fn grant(mut self, length: std::time::Duration) -> Self {
        self.grant = Some(length);
        self
    }

    /// A break-glass approval by `voter` with its required `reason`.
    pub fn break_glass(voter: impl Into<String>, reason: impl Into<String>) -> Self {
        let mut v = Self::approve(voter).comment(reason);
        v.break_glass = true;
        v
    }

    /// Adds a comment.
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self
    }

    /// Names the channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Marks the vote as coming through a channel that authenticated the
    /// voter (set by the approval server and the Slack endpoint).
    pub fn authenticated(mut self) -> Self {
        self.authenticated = true;
        self
    }

    /// How sure the gate is of who voted: `authenticated` or `asserted`.
    pub fn assurance(&self) -> &'static str {
        if self.authenticated {
            "authenticated"
        } else {
            "asserted"
        }
    }

    /// Binds the vote to the args digest the reviewer saw.
    pub fn saw(mut self, args_digest: impl Into<String>) -> Self {
        self.args_digest = Some(args_digest.into());
        self
    }

    /// Approves edited args.
    pub fn edit(mut self, args: Value) -> Self {
        self.args = Some(args);
        self
    }
}

/// What one channel posted for a request (a Slack message's channel and
/// `ts`, a webhook's delivery id), kept in the store so any process or
/// replica can update it after a vote or when the request resolves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The channel that posted (`slack`, `teams`, `webhook`).
    pub channel: String,
    /// What that channel needs to find its post again.
    pub reference: Value,
    /// When it was posted.
    pub at: DateTime<Utc>,
    /// The request version the post shows; behind `version` means the
    /// post needs refreshing.
    #[serde(default)]
    pub shown_version: u64,
}

/// A dispatcher's claim on posting a request (a lease in the store): with
/// several replicas each request is posted once, and a replica that dies
/// mid-post is taken over once `until` has passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The dispatcher (replica) holding it.
    pub by: String,
    /// When the lease ends, unless `done`.
    pub until: DateTime<Utc>,
    /// Posting finished: nobody needs to post it again.
    #[serde(default)]
    pub done: bool,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// The final status.
    pub status: RequestStatus,
    /// Who decided: the approvers, or the one who denied.
    #[serde(default)]
    pub by: Vec<String>,
    /// The denier's comment, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Why, in one sentence.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A request as an [`crate::ApprovalStore`] keeps it: the whole action (real
/// args), the decision, the votes and the status. Backends store it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    /// The request id.
    pub id: String,
    /// The action, normalised, with its id and current (possibly edited) args.
    pub action: Action,
    /// Digest of the current args, taken over their redacted form (so it
    /// confirms no guess of a hidden value).
    pub args_digest: String,
    /// The current args as reviewers see them: hidden values sealed.
    #[serde(default)]
    pub shown_args: Value,
    /// The context as reviewers see it.
    #[serde(default)]
    pub shown_context: Value,
    /// Digest of the action as first submitted (never shown): a later
    /// `require` with the same action id must carry the same action.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub submitted_digest: String,
    /// The policy decision that asked for approval (updated on edits).
    pub decision: Decision,
    /// Lifecycle state.
    pub status: RequestStatus,
    /// Every counted vote.
    pub votes: Vec<Vote>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Bumped on every change; updates are compare-and-swap on it.
    pub version: u64,
    /// What each channel posted for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Delivery>,
    /// The dispatcher's claim on posting it (server-dispatched approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// The groups it was escalated to (notified and audited), DESIGN §13.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalated: Vec<String>,
    /// When the channels were last reminded of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
}

/// A vote as shown to reviewers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteSummary {
    /// Who.
    pub voter: String,
    /// What.
    pub verdict: Verdict,
    /// Their comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether it counts for the current args.
    pub current: bool,
}

/// What a reviewer sees: everything needed to decide, with redacted args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The request id (vote on this).
    pub id: String,
    /// The action's id.
    pub action_id: String,
    /// Action name.
    pub action: String,
    /// Who asks.
    pub actor: Option<String>,
    /// For whom.
    pub on_behalf_of: Option<String>,
    /// What it touches.
    pub resource: Option<String>,
    /// Environment.
    pub env: Option<String>,
    /// Args with redacted paths replaced by their digest.
    pub args: Value,
    /// The agent's justification.
    pub justification: Option<String>,
    /// Context (redacted likewise).
    pub context: Value,
    /// Digest of the real args: votes name it.
    pub args_digest: String,
    /// The deciding rules.
    pub rules: Vec<String>,
    /// The rules' reason.
    pub reason: String,
    /// The highest risk of the rules.
    pub risk: Option<Risk>,
    /// Who must approve.
    pub requirements: Vec<Requirement>,
    /// Whether reviewers may edit args.
    pub allow_edit: bool,
    /// The longest grant an approver may attach; absent when the rules
    /// allow none (DESIGN §13).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::policy::opt_duration"
    )]
    pub max_grant: Option<std::time::Duration>,
    /// Status now.
    pub status: RequestStatus,
    /// Votes so far.
    pub votes: Vec<VoteSummary>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
    /// How it ended (approved, denied, expired, cancelled: who and why);
    /// absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

impl StoredRequest {
    /// The reviewer's view of this request.
    pub fn to_request(&self) -> ApprovalRequest {
        let approval = self.decision.approval.as_ref();
        ApprovalRequest {
            id: self.id.clone(),
            action_id: self.action.id.clone().unwrap_or_default(),
            action: self.action.name.clone(),
            actor: self.action.actor.clone(),
            on_behalf_of: self.action.on_behalf_of.clone(),
            resource: self.action.resource.clone(),
            env: self.action.env.clone(),
            args: self.shown_args.clone(),
            justification: self.action.justification.clone(),
            context: self.shown_context.clone(),
            args_digest: self.args_digest.clone(),
            rules: self.decision.rules.clone(),
            reason: self.decision.reason.clone(),
            risk: approval.and_then(|a| a.risk),
            requirements: approval.map(|a| a.requirements.clone()).unwrap_or_default(),
            allow_edit: approval.is_some_and(|a| a.allow_edit),
            max_grant: approval.and_then(ApprovalRequirements::max_grant),
            status: self.status,
            votes: self
                .votes
                .iter()
                .map(|v| VoteSummary {
                    voter: v.voter.clone(),
                    verdict: v.verdict,
                    comment: v.comment.clone(),
                    current: v.args_digest.as_deref() == Some(self.args_digest.as_str()),
                })
                .collect(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            resolution: self.resolution.clone(),
        }
    }
}
