//! The [`Approver`] trait: how a request reaches reviewers.

use std::io::{BufRead, BufReader, Write};

use async_trait::async_trait;

use crate::approval::{ApprovalRequest, Delivery, Verdict, Vote};
use crate::error::Error;
use crate::gate::{Gate, VoteOutcome};

/// An approver could not present a request. The request is then cancelled
/// and the action fails closed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ApproverError(pub String);

impl ApproverError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ApproverError(message.into())
    }
}

/// Casts votes on one request, through the gate's vote rules.
#[derive(Clone)]
pub struct VoteSender {
    pub(crate) gate: Gate,
    pub(crate) request_id: String,
    /// The request version the approver was shown.
    pub(crate) version: u64,
}

impl std::fmt::Debug for VoteSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoteSender")
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl VoteSender {
    /// The request these votes are for.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Casts `vote`; the gate applies every vote rule and audits the result.
    pub async fn send(&self, vote: Vote) -> Result<VoteOutcome, Error> {
        self.gate.vote(&self.request_id, vote).await
    }

    /// Records what the approver posted (a Slack message's channel and
    /// `ts`...) in the store, so any process can update it later. The post
    /// shows the request as the approver was given it: a vote that came in
    /// meanwhile leaves the delivery behind, to be refreshed.
    pub async fn record_delivery(&self, mut delivery: Delivery) -> Result<(), Error> {
        delivery.shown_version = self.version;
        self.gate.record_delivery(&self.request_id, delivery).await
    }
}

/// Presents approval requests to reviewers.
///
/// Push approvers (Slack, Teams, webhook) post the request and return; the
/// votes come back through the approval server. Pull approvers (terminal,
/// custom code) cast votes with `votes` directly.
#[async_trait]
pub trait Approver: Send + Sync {
    /// Presents `request`. An error cancels the request (fail closed).
    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError>;

    /// Whether this approver can bring posts of `channel` up to date.
    fn refreshes(&self, channel: &str) -> bool {
        let _ = channel;
        false
    }

    /// Brings a post this approver made (its `delivery`, recorded with
    /// [`VoteSender::record_delivery`]) up to date with `request`: votes so
    /// far, or the resolution. Called only for channels it
    /// [`refreshes`](Approver::refreshes). The default has nothing to update.
    async fn refresh(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
    ) -> Result<(), ApproverError> {
        let _ = (request, delivery);
        Ok(())
    }

    /// Whether this approver can tell the readers of `channel`'s posts
    /// about a [`Notice`] (default: the channels it refreshes).
    fn notifies(&self, channel: &str) -> bool {
        self.refreshes(channel)
    }

    /// Tells the readers of a post this approver made about `notice` (a
    /// reminder, an escalation, a break-glass), e.g. as a reply in the
    /// post's thread. Called only for channels it
    /// [`notifies`](Approver::notifies). The default tells nobody.
    async fn notify(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
        notice: &Notice,
    ) -> Result<(), ApproverError> {
        let _ = (request, delivery, notice);
        Ok(())
    }
}

/// What the channels are told about a request after posting it (DESIGN §13).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// It is still pending: a reminder.
    Reminder,
    /// Its requirement is now open to `group` (`members`).
    Escalated {
        /// The escalation group.
        group: String,
        /// Its members, as principals.
        members: Vec<String>,
    },
    /// One member of the break-glass group resolved it alone.
    BreakGlass {
        /// Who.
        by: String,
        /// Their reason.
        reason: String,
    },
}

impl Notice {
    /// One line for a channel message.
    pub fn text(&self, request: &ApprovalRequest) -> String {
        match self {
            Notice::Reminder => format!(
                "Reminder: `{}` by {} still waits for approval (expires {}).",
                request.action,
                request.actor.as_deref().unwrap_or("?"),
                request.expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
            Notice::Escalated { group, members } => {
                let who = if members.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", members.join(", "))
                };
                format!(
                    "Escalated: no decision in time; members of `{group}`{who} may now approve `{}`.",
                    request.action
                )
            }
            Notice::BreakGlass { by, reason } => format!(
                "Break-glass: {by} approved `{}` alone. Reason: {reason}",
                request.action
            ),
        }
    }
}

/// For agents whose approvals an approval server dispatches (`approver =
/// "server"`): presents nothing itself, and fails at once, naming the
/// store, when no dispatcher has shown a heartbeat there lately, rather
/// than leaving the request to time out unseen.
#[derive(Debug, Clone, Copy)]
pub struct ServerDispatch {
    max_silence: std::time::Duration,
}

impl Default for ServerDispatch {
    fn default() -> Self {
        ServerDispatch {
            max_silence: std::time::Duration::from_secs(30),
        }
    }
}

impl ServerDispatch {
    /// Fails requests when the newest dispatcher heartbeat is older than `max_silence`.
    pub fn new(max_silence: std::time::Duration) -> Self {
        ServerDispatch { max_silence }
    }
}

#[async_trait]
impl Approver for ServerDispatch {
    async fn review(&self, _: ApprovalRequest, votes: VoteSender) -> Result<(), ApproverError> {
        let store = votes.gate.store();
        let latest = store
            .latest_beat()
            .await
            .map_err(|e| ApproverError::new(e.to_string()))?;
        let fresh = latest.is_some_and(|t| {
            (chrono::Utc::now() - t)
                .to_std()
                .is_ok_and(|age| age <= self.max_silence)
                || t > chrono::Utc::now()
        });
        if fresh {
            return Ok(());
        }
        let seen = latest.map_or_else(
            || "no dispatcher has ever beaten".to_owned(),
            |t| format!("the newest dispatcher heartbeat is from {}", t.to_rfc3339()),
        );
        Err(ApproverError::new(format!(
            "no approval server is dispatching from store `{}` ({seen}; allowed silence {}s): run `signoff serve --config` on the same store",
            store.describe(),
            self.max_silence.as_secs()
        )))
    }
}

/// Leaves requests in the store for reviewers who vote through the approval
/// server or [`Gate::vote`]; presents nothing itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queue;

#[async_trait]
impl Approver for Queue {
    async fn review(&self, _: ApprovalRequest, _: VoteSender) -> Result<(), ApproverError> {
        Ok(())
    }
}

/// Asks on the controlling terminal (`/dev/tty`), showing the whole request
/// with redacted args. Fails closed when there is no terminal.
#[derive(Debug, Clone, Default)]
pub struct Terminal {
    voter: Option<String>,
}

impl Terminal {
    /// Asks who is voting each time.
    pub fn new() -> Self {
        Terminal { voter: None }
    }

    /// Votes as `voter` without asking who you are.
    pub fn as_voter(voter: impl Into<String>) -> Self {
        Terminal {
            voter: Some(voter.into()),
        }
    }
}

/// Renders a request for people: used by the terminal approver and the CLI.
pub fn render_request(r: &ApprovalRequest) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: &str| {
        out.push_str(&format!("  {k:<14} {v}\n"));
    };
    out.push_str(&format!("approval request {}\n", r.id));
    line(&mut out, "action", &r.action);
    line(&mut out, "actor", r.actor.as_deref().unwrap_or("-"));
    line(
        &mut out,
        "on behalf of",
        r.on_behalf_of.as_deref().unwrap_or("-"),
    );
    line(&mut out, "resource", r.resource.as_deref().unwrap_or("-"));
    line(&mut out, "env", r.env.as_deref().unwrap_or("-"));
    line(&mut out, "args", &r.args.to_string());
    line(
        &mut out,
        "justification",
        r.justification.as_deref().unwrap_or("-"),
    );
    line(&mut out, "rules", &r.rules.join(", "));
    line(&mut out, "reason", &r.reason);
    line(&mut out, "risk", r.risk.map_or("-", |r| r.as_str()));
    let reqs: Vec<String> = r
        .requirements
        .iter()
        .map(|q| format!("{} of {}", q.min, q.group))
        .collect();
    line(&mut out, "needs", &reqs.join(" + "));
    line(&mut out, "expires", &r.expires_at.to_rfc3339());
    line(&mut out, "args digest", &r.args_digest);
    out
}

#[async_trait]
impl Approver for Terminal {
    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError> {
        let preset = self.voter.clone();
        let answer = tokio::task::spawn_blocking(move || ask_on_tty(&request, preset))
            .await
            .map_err(|e| ApproverError::new(format!("terminal prompt failed: {e}")))??;
        if let Some(vote) = answer {
            votes
                .send(vote)
                .await
                .map_err(|e| ApproverError::new(e.to_string()))?;
        }
        Ok(())
    }
}

fn ask_on_tty(
    request: &ApprovalRequest,
    voter: Option<String>,
) -> Result<Option<Vote>, ApproverError> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| ApproverError::new(format!("no controlling terminal to ask on: {e}")))?;
    let mut out = tty
        .try_clone()
        .map_err(|e| ApproverError::new(format!("terminal: {e}")))?;
    let mut input = BufReader::new(tty);
    let io = |e: std::io::Error| ApproverError::new(format!("terminal: {e}"));
    write!(out, "\n{}", render_request(request)).map_err(io)?;
    let mut ask = |prompt: &str| -> Result<String, ApproverError> {
        write!(out, "{prompt}").map_err(io)?;
        out.flush().map_err(io)?;
        let mut s = String::new();
        input.read_line(&mut s).map_err(io)?;
        Ok(s.trim().to_owned())
    };
    let voter = match voter {
        Some(v) => v,
        None => ask("your principal (user:you@example.com): ")?,
    };
    let verdict = match ask("approve or deny? [a/d, anything else skips]: ")?.as_str() {
        "a" | "approve" | "y" | "yes" => Verdict::Approve,
        "d" | "deny" | "n" | "no" => Verdict::Deny,
        _ => return Ok(None),
    };
    let comment = ask("comment (optional): ")?;
    let mut vote = Vote::new(voter, verdict)
        .channel("terminal")
        .saw(request.args_digest.clone());
    // the typed identity is only asserted: record who was at the keyboard
    vote.os_user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| Some("unknown".to_owned()));
    if !comment.is_empty() {
        vote = vote.comment(comment);
    }
    Ok(Some(vote))
}

/// Presents each request through several approvers at once, chosen by the
/// request's rules or approver groups (Slack and Teams for one rule, the
/// webhook for another). The web page and the API work for every request
/// anyway. All chosen approvers must succeed, or the request fails closed.
/// A person voting from two channels still counts once.
#[derive(Clone, Default)]
pub struct Routes {
    by_key: std::collections::HashMap<String, Vec<std::sync::Arc<dyn Approver>>>,
    fallback: Vec<std::sync::Arc<dyn Approver>>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("keys", &self.by_key.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.len())
            .finish()
    }
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests decided by rule `key`, or needing group `key`, go to `approvers`.
    pub fn route(
        mut self,
        key: impl Into<String>,
        approvers: Vec<std::sync::Arc<dyn Approver>>,
    ) -> Self {
        self.by_key.entry(key.into()).or_default().extend(approvers);
        self
    }

    /// Where requests no route names go.
    pub fn fallback(mut self, approvers: Vec<std::sync::Arc<dyn Approver>>) -> Self {
        self.fallback = approvers;
        self
    }

    /// Every approver behind the routes, once each.
    fn all(&self) -> Vec<&std::sync::Arc<dyn Approver>> {
        let mut seen: Vec<&std::sync::Arc<dyn Approver>> = Vec::new();
        for a in self.by_key.values().flatten().chain(self.fallback.iter()) {
            if !seen.iter().any(|s| std::sync::Arc::ptr_eq(s, a)) {
                seen.push(a);
            }
        }
        seen
    }

    fn select(&self, r: &ApprovalRequest) -> Vec<std::sync::Arc<dyn Approver>> {
        let mut chosen: Vec<std::sync::Arc<dyn Approver>> = Vec::new();
        let keys = r
            .rules
            .iter()
            .chain(r.requirements.iter().map(|q| &q.group));
        for key in keys {
            for a in self.by_key.get(key).into_iter().flatten() {
                if !chosen.iter().any(|c| std::sync::Arc::ptr_eq(c, a)) {
                    chosen.push(std::sync::Arc::clone(a));
                }
            }
        }
        if chosen.is_empty() {
            chosen.clone_from(&self.fallback);
        }
        chosen
    }
}

#[async_trait]
impl Approver for Routes {
    async fn review(
        &self,
        request: ApprovalRequest,
        votes: VoteSender,
    ) -> Result<(), ApproverError> {
        let chosen = self.select(&request);
        if chosen.is_empty() {
            return Err(ApproverError::new("no approver is routed for this request"));
        }
        let tasks: Vec<_> = chosen
            .into_iter()
            .map(|a| {
                let (request, votes) = (request.clone(), votes.clone());
                tokio::spawn(async move { a.review(request, votes).await })
            })
            .collect();
        let mut failures = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e.0),
                Err(e) => failures.push(format!("approver task failed: {e}")),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApproverError::new(failures.join("; ")))
        }
    }

    fn refreshes(&self, channel: &str) -> bool {
        self.all().iter().any(|a| a.refreshes(channel))
    }

    async fn refresh(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
    ) -> Result<(), ApproverError> {
        // every approver of that channel gets its turn, whatever the others do
        let mut first = None;
        for a in self.all() {
            if a.refreshes(&delivery.channel)
                && let Err(e) = a.refresh(request, delivery).await
            {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn notifies(&self, channel: &str) -> bool {
        self.all().iter().any(|a| a.notifies(channel))
    }

    async fn notify(
        &self,
        request: &ApprovalRequest,
        delivery: &Delivery,
        notice: &Notice,
    ) -> Result<(), ApproverError> {
        let mut first = None;
        for a in self.all() {
            if a.notifies(&delivery.channel)
                && let Err(e) = a.notify(request, delivery, notice).await
            {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
