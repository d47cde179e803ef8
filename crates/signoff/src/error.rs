//! The gate's error: every way an action does not get a permit.

use std::time::Duration;

use crate::action::ActionError;
use crate::audit::AuditError;
use crate::policy::PolicyError;
use crate::store::StoreError;

/// Who denied an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeniedBy {
    /// The policy (a deny rule, the default, or an invalid action).
    Policy,
    /// A reviewer's deny vote.
    Reviewer {
        /// The reviewer.
        voter: String,
        /// Their comment.
        comment: Option<String>,
    },
    /// A reviewer edited the args into something the policy denies.
    Edit {
        /// The reviewer who edited.
        voter: String,
    },
}

/// Details of a denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The action's id.
    pub action_id: String,
    /// The approval request, when there was one.
    pub request_id: Option<String>,
    /// Who denied.
    pub by: DeniedBy,
    /// The deciding rule ids (empty when the default decided).
    pub rules: Vec<String>,
    /// Why.
    pub reason: String,
}

impl Denial {
    /// The first deciding rule.
    pub fn rule(&self) -> Option<&str> {
        self.rules.first().map(String::as_str)
    }

    /// The reviewer who denied, if a reviewer did.
    pub fn voter(&self) -> Option<&str> {
        match &self.by {
            DeniedBy::Reviewer { voter, .. } | DeniedBy::Edit { voter } => Some(voter),
            DeniedBy::Policy => None,
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.by {
            DeniedBy::Policy => write!(f, "denied by policy")?,
            DeniedBy::Reviewer { voter, .. } => write!(f, "denied by reviewer `{voter}`")?,
            DeniedBy::Edit { voter } => {
                write!(f, "denied by policy after `{voter}` edited the args")?
            }
        }
        if !self.rules.is_empty() {
            write!(f, " (rule `{}`)", self.rules.join("`, `"))?;
        }
        write!(f, ": {}", self.reason)?;
        if let DeniedBy::Reviewer {
            comment: Some(c), ..
        } = &self.by
        {
            write!(f, " — \"{c}\"")?;
        }
        Ok(())
    }
}

/// Details of a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    /// The action's id.
    pub action_id: String,
    /// The request that expired.
    pub request_id: String,
    /// The approve rules.
    pub rules: Vec<String>,
    /// How long reviewers had.
    pub timeout: Duration,
}

/// Why a vote was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The voter string is not a valid principal.
    InvalidVoter,
    /// Only `user:` principals vote.
    NotAUser,
    /// The voter is the action's actor or the person it acts for.
    SelfApproval,
    /// The voter is in none of the required groups.
    NotEligible,
    /// The voter already voted differently.
    AlreadyVoted,
    /// The vote names args the request no longer has.
    StaleArgs,
    /// The request is no longer pending.
    Resolved,
    /// Edits are not allowed by the rule.
    EditNotAllowed,
    /// The edited args are not valid.
    BadEdit,
    /// The rule counts votes only from other channels.
    ChannelNotAllowed,
    /// The attached grant is not allowed (no `max_grant`, too long, on a deny).
    BadGrant,
    /// A break-glass vote was refused (no reason, not in the group, no group).
    BreakGlassRefused,
}

impl RejectReason {
    /// A stable snake_case code, as written in the audit trail.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::InvalidVoter => "invalid_voter",
            RejectReason::NotAUser => "not_a_user",
            RejectReason::SelfApproval => "self_approval",
            RejectReason::NotEligible => "not_eligible",
            RejectReason::AlreadyVoted => "already_voted",
            RejectReason::StaleArgs => "stale_args",
            RejectReason::Resolved => "resolved",
            RejectReason::EditNotAllowed => "edit_not_allowed",
            RejectReason::BadEdit => "bad_edit",
            RejectReason::ChannelNotAllowed => "channel_not_allowed",
            RejectReason::BadGrant => "bad_grant",
            RejectReason::BreakGlassRefused => "break_glass_refused",
        }
    }
}

/// A rejected vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRejection {
    /// The request voted on.
    pub request_id: String,
    /// Who tried.
    pub voter: String,
    /// Why it was refused.
    pub reason: RejectReason,
    /// A sentence for the reviewer.
    pub message: String,
}

/// Everything that keeps an action from running. Every variant fails closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The action is malformed.
    #[error("invalid action: {0}")]
    InvalidAction(#[from] ActionError),
    /// Denied by policy or by a reviewer.
    #[error("{0}")]
    Denied(Box<Denial>),
    /// Nobody approved in time.
    #[error("approval request `{}` timed out after {}", .0.request_id, humantime::format_duration(.0.timeout))]
    TimedOut(Box<TimedOut>),
    /// The request was cancelled (the requester gave up or the approver failed).
    #[error("approval request `{request_id}` was cancelled: {reason}")]
    Cancelled {
        /// The request.
        request_id: String,
        /// Why.
        reason: String,
    },
    /// Approval is required but the gate has no approver.
    #[error("action `{action}` needs approval (rule `{}`) but no approver is configured", rules.join("`, `"))]
    NoApprover {
        /// The action name.
        action: String,
        /// The approve rules.
        rules: Vec<String>,
    },
    /// The audit trail could not record the decision.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The approval store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The approver failed to present the request.
    #[error("approver failed on request `{request_id}`: {message}")]
    Approver {
        /// The request.
        request_id: String,
        /// What the approver reported.
        message: String,
    },
    /// A vote was refused (and audited).
    #[error("vote by `{}` rejected: {}", .0.voter, .0.message)]
    VoteRejected(Box<VoteRejection>),
    /// No such approval request.
    #[error("no approval request `{0}`")]
    NotFound(String),
    /// The action id was already used for an action that ran (or was abandoned).
    #[error("action `{0}` already ran; an action id is used once")]
    AlreadyCompleted(String),
    /// The permit was already completed.
    #[error("permit for action `{0}` was already completed")]
    PermitUsed(String),
    /// The approval's one permit was already issued (to this or another
    /// process); an approval is used once.
    #[error("the approval of action `{0}` was already used: its permit was issued once")]
    AlreadyIssued(String),
    /// An action id already names a different action (refused and audited).
    #[error(
        "action id `{action_id}` already names a different action (`{existing}`); use a new id"
    )]
    IdReused {
        /// The id.
        action_id: String,
        /// The name of the action it already names.
        existing: String,
    },
    /// The permit expired before it was completed (refused and audited).
    #[error("permit for action `{action_id}` expired at {expired_at}")]
    PermitExpired {
        /// The action.
        action_id: String,
        /// When it expired (RFC 3339).
        expired_at: String,
    },
    /// A policy failed to load.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The gate is misconfigured.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// A stable code per kind, used by the bindings (`SIGNOFF_DENIED`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Denied(_) => "SIGNOFF_DENIED",
            Error::TimedOut(_) => "SIGNOFF_TIMEOUT",
            Error::Cancelled { .. } => "SIGNOFF_CANCELLED",
            Error::Policy(_) => "SIGNOFF_POLICY",
            Error::Audit(_) => "SIGNOFF_AUDIT",
            Error::InvalidAction(_) => "SIGNOFF_INVALID_ACTION",
            Error::NoApprover { .. } => "SIGNOFF_NO_APPROVER",
            Error::Store(_) => "SIGNOFF_STORE",
            Error::Approver { .. } => "SIGNOFF_APPROVER",
            Error::VoteRejected(_) => "SIGNOFF_VOTE_REJECTED",
            Error::NotFound(_) => "SIGNOFF_NOT_FOUND",
            Error::AlreadyCompleted(_) | Error::PermitUsed(_) | Error::AlreadyIssued(_) => {
                "SIGNOFF_USED"
            }
            Error::IdReused { .. } => "SIGNOFF_ID_REUSED",
            Error::PermitExpired { .. } => "SIGNOFF_PERMIT_EXPIRED",
            Error::Config(_) => "SIGNOFF_CONFIG",
        }
    }
}
