//! Grants, break-glass, escalation and reminders in the gate (DESIGN §13).
//!
//! Grants are consulted only on an approve decision, and only for the
//! approve rules that matched: every one of them must be covered by a live
//! grant bound to its current content and to the action's scope values.
//! A deny decision never reaches here, so no grant overrides a deny rule.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Gate, VoteStep, checked_after, record_for, rules_field};
use crate::action::Action;
use crate::approval::{RequestStatus, Resolution, StoredRequest, Verdict, Vote};
use crate::approver::{Approver, Notice};
use crate::audit::{AuditRecord, Event};
use crate::error::{Error, RejectReason};
use crate::grant::{Grant, Revocation, grant_key, scope_values};
use crate::policy::{ApprovalRequirements, Decision, Policy, Requirement, format_duration};
use crate::principal::Principal;
use crate::store::StoreError;

/// How many compare-and-swap rounds a change may take.
const ROUNDS: usize = 32;

impl Gate {
    /// The live grants covering every approve rule of `decision` for
    /// `action`, or `None` when any rule is not covered (then it asks).
    /// Reads the store each time: a revoke anywhere is seen at once.
    pub(super) async fn grant_cover(
        &self,
        policy: &Policy,
        action: &Action,
        decision: &Decision,
    ) -> Result<Option<Vec<Grant>>, Error> {
        if decision.rules.is_empty() {
            return Ok(None);
        }
        let now = self.inner.clock.now();
        let mut cover = Vec::with_capacity(decision.rules.len());
        for id in &decision.rules {
            let Some(rule) = policy.rule_by_id(id) else {
                return Ok(None);
            };
            let Some(spec) = rule.approval.as_ref().and_then(|a| a.grant.as_ref()) else {
                return Ok(None);
            };
            let binding = policy.grant_binding(rule);
            // a scope path the action cannot follow binds nothing: it asks
            let Some(values) = scope_values(action, &spec.scope) else {
                return Ok(None);
            };
            let key = grant_key(id, &binding, &values);
            // a store that cannot read grants (or keeps none) covers nothing:
            // the action asks, which never permits anything by itself
            let Ok(found) = self.inner.store.grants_by_key(&key).await else {
                return Ok(None);
            };
            let mut best: Option<Grant> = None;
            for g in found {
                if !(g.is_live(now) && g.rule == *id && g.binding == binding && g.scope == values) {
                    continue;
                }
                // a grant never lets its approvers approve their own actions,
                // and holds only while they may still approve for the rule
                if self.approver_is_requester(policy, action, &g.approvers)
                    || !self
                        .approvers_still_eligible(policy, &decision.rules, &g.approvers)
                        .await
                    || !self.approvers_still_fill(policy, id, &g.approvers).await
                {
                    continue;
                }
                if best.as_ref().is_none_or(|b| g.expires_at > b.expires_at) {
                    best = Some(g);
                }
            }
            match best {
                Some(g) => cover.push(g),
                None => return Ok(None),
            }
        }
        Ok(Some(cover))
    }

    /// Whether one of `approvers` is the action's actor or on-behalf-of (or
    /// confusable with either), or owns its actor: a grant never covers
    /// what its approvers could not have approved themselves.
    fn approver_is_requester(
        &self,
        policy: &Policy,
        action: &Action,
        approvers: &[String],
    ) -> bool {
        let requesters: Vec<Principal> = [&action.actor, &action.on_behalf_of]
            .into_iter()
            .flatten()
            .filter_map(|p| Principal::parse(p).ok())
            .collect();
        let owners: Vec<&Principal> = action
            .actor
            .as_deref()
            .map(|a| policy.owners_of(a).collect())
            .unwrap_or_default();
        approvers.iter().any(|a| {
            let Ok(a) = Principal::parse(a) else {
                return true;
            };
            requesters
                .iter()
                .any(|r| *r == a || r.is_confusable_with(&a))
                || owners.iter().any(|o| o.is_confusable_with(&a))
        })
    }

    /// Whether every approver is still in the group (or escalation group)
    /// of one of `rules`: someone removed from them no longer grants anything.
    async fn approvers_still_eligible(
        &self,
        policy: &Policy,
        rules: &[String],
        approvers: &[String],
    ) -> bool {
        let mut groups: Vec<&str> = Vec::new();
        for id in rules {
            if let Some(spec) = policy.rule_by_id(id).and_then(|r| r.approval.as_ref()) {
                groups.push(&spec.group);
                if let Some((_, g)) = &spec.escalation {
                    groups.push(g);
                }
            }
        }
        for a in approvers {
            let Ok(who) = Principal::parse(a) else {
                return false;
            };
            let mut ok = false;
            for g in &groups {
                if self.is_member(g, &who).await.unwrap_or(false) {
                    ok = true;
                    break;
                }
            }
            if !ok {
                return false;
            }
        }
        true
    }

    /// Whether enough of `approvers` are still in `rule`'s group (or its
    /// escalation group) to fill its `min_approvals`: the grant of a rule
    /// stops when the people who stood behind that rule leave its group,
    /// even if they may still approve for another rule of the request.
    async fn approvers_still_fill(
        &self,
        policy: &Policy,
        rule: &str,
        approvers: &[String],
    ) -> bool {
        let Some(spec) = policy.rule_by_id(rule).and_then(|r| r.approval.as_ref()) else {
            return false;
        };
        let mut still = 0u32;
        for a in approvers {
            let Ok(who) = Principal::parse(a) else {
                continue;
            };
            let in_group = self.is_member(&spec.group, &who).await.unwrap_or(false);
            let escalated = match &spec.escalation {
                Some((_, g)) if !in_group => self.is_member(g, &who).await.unwrap_or(false),
                _ => false,
            };
            if in_group || escalated {
                still += 1;
            }
        }
        still >= spec.min
    }

    /// Audits the decision (`records[0]`, then any shadow record) and the
    /// grants used; the approvers to put on the permit.
    pub(super) async fn use_grants(
        &self,
        mut records: Vec<AuditRecord>,
        grants: &[Grant],
    ) -> Result<Vec<String>, Error> {
        let Some(first) = records.first_mut() else {
            return Err(Error::Config("no decision record".into()));
        };
        first.outcome = Some("granted".to_owned());
        let decided = first.clone();
        let mut approvers: Vec<String> = Vec::new();
        for g in grants {
            let mut r = decided.clone();
            r.event = Some(Event::GrantUsed);
            r.args = None;
            r.effect = None;
            r.error = None;
            r.policy_digest = None;
            r.grant = Some(g.id.clone());
            r.rule = Some(g.rule.clone());
            r.voter = Some(g.approvers.join(","));
            r.outcome = Some("allowed".to_owned());
            r.reason = Some(format!(
                "permitted by grant `{}` of rule `{}` (approved by {} on request `{}`; expires {})",
                g.id,
                g.rule,
                g.approvers.join(", "),
                g.request_id,
                g.expires_at.to_rfc3339()
            ));
            records.push(r);
            for a in &g.approvers {
                if !approvers.contains(a) {
                    approvers.push(a.clone());
                }
            }
        }
        self.inner.audit.append(records).await?;
        Ok(approvers)
    }

    /// After `req` resolved approved: one grant per approve rule, when every
    /// counted approver attached a grant length and the rule allows grants.
    /// The length is the shortest attached, never more than `max_grant`.
    /// No grant when the live policy is not the one that decided (an edited
    /// rule never inherits), and never for break-glass.
    pub(super) async fn create_grants(&self, req: &StoredRequest) -> Result<(), Error> {
        let Some(approval) = req.decision.approval.as_ref() else {
            return Ok(());
        };
        let (Some(max), Some(resolution)) = (approval.max_grant(), req.resolution.as_ref()) else {
            return Ok(());
        };
        if req.votes.iter().any(|v| v.break_glass) || resolution.by.is_empty() {
            return Ok(());
        }
        let mut length = max;
        for who in &resolution.by {
            let vote = req.votes.iter().find(|v| {
                v.voter == *who
                    && v.verdict == Verdict::Approve
                    && v.args_digest.as_deref() == Some(req.args_digest.as_str())
            });
            match vote.and_then(|v| v.grant) {
                Some(d) => length = length.min(d),
                None => return Ok(()),
            }
        }
        let policy = self.policy();
        if policy.digest() != req.decision.policy_digest {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let mut records = Vec::new();
        let mut stored: Vec<String> = Vec::new();
        for id in &req.decision.rules {
            let Some(rule) = policy.rule_by_id(id) else {
                continue;
            };
            let Some(spec) = rule.approval.as_ref().and_then(|a| a.grant.as_ref()) else {
                continue;
            };
            let length = length.min(spec.max);
            let binding = policy.grant_binding(rule);
            let Some(scope) = scope_values(&req.action, &spec.scope) else {
                let mut r = record_for(Event::GrantCreated, &req.action, &req.args_digest);
                r.request_id = Some(req.id.clone());
                r.rule = Some(id.clone());
                r.outcome = Some("failed".to_owned());
                r.error = Some(
                    "a `grant_scope` path does not reach a value in this action's args; no grant"
                        .to_owned(),
                );
                records.push(r);
                continue;
            };
            let grant = Grant {
                id: uuid::Uuid::now_v7().to_string(),
                rule: id.clone(),
                key: grant_key(id, &binding, &scope),
                binding,
                scope,
                approvers: resolution.by.clone(),
                request_id: req.id.clone(),
                policy_digest: req.decision.policy_digest.clone(),
                created_at: now,
                expires_at: checked_after(now, length)?,
                revoked: None,
            };
            let mut r = record_for(Event::GrantCreated, &req.action, &req.args_digest);
            r.request_id = Some(req.id.clone());
            r.grant = Some(grant.id.clone());
            r.rule = Some(id.clone());
            r.voter = Some(grant.approvers.join(","));
            match self.inner.store.put_grant(&grant).await {
                Ok(()) => {
                    stored.push(grant.id.clone());
                    r.outcome = Some("created".to_owned());
                    r.reason = Some(format!(
                        "grant of {} on {} (until {})",
                        format_duration(length),
                        grant
                            .scope
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        grant.expires_at.to_rfc3339()
                    ));
                }
                Err(e) => {
                    // the approval stands; later actions simply ask again
                    r.outcome = Some("failed".to_owned());
                    r.error = Some(e.to_string());
                }
            }
            records.push(r);
        }
        if !records.is_empty()
            && let Err(e) = self.inner.audit.append(records).await
        {
            // no grant may cover anything without its `grant.created` record:
            // withdraw the ones just stored (the approval itself stands)
            for id in &stored {
                let revocation = Revocation {
                    by: "signoff".to_owned(),
                    at: self.inner.clock.now(),
                    reason: Some(format!("the trail refused its grant.created record: {e}")),
                };
                let _ = self.inner.store.revoke_grant(id, revocation).await;
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Every grant in the store, oldest first (revoked and expired ones too).
    pub async fn grants(&self) -> Result<Vec<Grant>, Error> {
        Ok(self.inner.store.list_grants().await?)
    }

    /// Whether `grant` covers actions now, by this gate's clock.
    pub fn grant_is_live(&self, grant: &Grant) -> bool {
        grant.is_live(self.inner.clock.now())
    }

    /// Revokes a grant at once, for every process sharing the store, and
    /// audits it. [`Error::NotFound`] when there is no such grant.
    pub async fn revoke_grant(
        &self,
        grant_id: &str,
        by: &str,
        reason: Option<String>,
    ) -> Result<Grant, Error> {
        let revocation = Revocation {
            by: by.to_owned(),
            at: self.inner.clock.now(),
            reason: reason.clone(),
        };
        let grant = self
            .inner
            .store
            .revoke_grant(grant_id, revocation)
            .await?
            .ok_or_else(|| Error::NotFound(grant_id.to_owned()))?;
        let mut r = AuditRecord::new(Event::GrantRevoked);
        r.grant = Some(grant.id.clone());
        r.request_id = Some(grant.request_id.clone());
        r.rule = Some(grant.rule.clone());
        r.voter = Some(by.to_owned());
        r.outcome = Some("revoked".to_owned());
        r.reason = Some(reason.unwrap_or_else(|| format!("revoked by {by}")));
        self.inner.audit.append(vec![r]).await?;
        Ok(grant)
    }

    /// Refuses a grant a vote may not attach.
    pub(super) fn check_grant(
        vote: &Vote,
        approval: &ApprovalRequirements,
    ) -> Result<(), (RejectReason, String)> {
        let Some(length) = vote.grant else {
            return Ok(());
        };
        let bad = |m: String| Err((RejectReason::BadGrant, m));
        if vote.verdict != Verdict::Approve {
            return bad("only an approval can attach a grant".to_owned());
        }
        if vote.break_glass {
            return bad("a break-glass approval cannot attach a grant".to_owned());
        }
        let Some(max) = approval.max_grant() else {
            return bad("the rules of this request give no grants (no `max_grant`)".to_owned());
        };
        if length.is_zero() {
            return bad("a grant must be longer than zero".to_owned());
        }
        if length > max {
            return bad(format!(
                "a grant of {} is longer than this request's `max_grant` of {}",
                format_duration(length),
                format_duration(max)
            ));
        }
        Ok(())
    }

    /// Whether `who` may fill requirement `r` of `req` at `now`: a member of
    /// its group, or of its escalation group once `escalate_after` passed.
    pub(super) async fn fills(
        &self,
        req: &StoredRequest,
        r: &Requirement,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<bool, String> {
        if self.is_member(&r.group, who).await? {
            return Ok(true);
        }
        match escalation_group(req, r, now) {
            Some(group) => self.is_member(group, who).await,
            None => Ok(false),
        }
    }

    /// A break-glass vote: one member of `[policy] break_glass`'s group
    /// resolves the request alone, with a required reason. The voter has
    /// already passed the user and self-approval checks.
    pub(super) async fn apply_break_glass(
        &self,
        req: &StoredRequest,
        vote: &Vote,
        voter: &Principal,
    ) -> Result<VoteStep, (RejectReason, String)> {
        let refuse = |m: &str| Err((RejectReason::BreakGlassRefused, m.to_owned()));
        if vote.verdict != Verdict::Approve {
            return refuse("break-glass only approves; deny with an ordinary vote");
        }
        let policy = self.policy();
        let Some(group) = policy.break_glass_group() else {
            return refuse("the policy has no `break_glass` group");
        };
        let reason = vote.comment.as_deref().map(str::trim).unwrap_or_default();
        if reason.is_empty() {
            return refuse("break-glass needs a reason (the vote's comment)");
        }
        if vote.args.is_some() {
            return refuse("break-glass cannot edit the args");
        }
        if vote.grant.is_some() {
            return refuse("a break-glass approval cannot attach a grant");
        }
        match self.is_member(group, voter).await {
            Ok(true) => {}
            Ok(false) => {
                return Err((
                    RejectReason::BreakGlassRefused,
                    format!("`{voter}` is not in the break-glass group `{group}`"),
                ));
            }
            Err(e) => {
                return Err((
                    RejectReason::BreakGlassRefused,
                    format!("group lookup failed: {e}"),
                ));
            }
        }
        if let Some(seen) = &vote.args_digest
            && *seen != req.args_digest
        {
            return Err((
                RejectReason::StaleArgs,
                "the args changed since this reviewer saw them; review the current args".to_owned(),
            ));
        }
        let now = self.inner.clock.now();
        let mut new = req.clone();
        new.votes.retain(|v| v.voter != voter.as_str());
        let mut counted = vote.clone();
        counted.voter = voter.as_str().to_owned();
        counted.at = Some(now);
        counted.args_digest = Some(req.args_digest.clone());
        new.votes.push(counted);
        new.status = RequestStatus::Approved;
        let why = format!("break-glass by `{voter}`: {reason}");
        new.resolution = Some(Resolution {
            status: RequestStatus::Approved,
            by: vec![voter.as_str().to_owned()],
            comment: Some(reason.to_owned()),
            reason: why.clone(),
            at: now,
        });
        new.version += 1;
        let mut v = record_for(Event::ApprovalVote, &new.action, &new.args_digest);
        v.request_id = Some(new.id.clone());
        v.voter = Some(voter.as_str().to_owned());
        v.verdict = Some("approve".to_owned());
        v.comment = Some(reason.to_owned());
        v.channel = Some(vote.channel.clone());
        v.assurance = Some(vote.assurance().to_owned());
        v.os_user.clone_from(&vote.os_user);
        v.reason = Some("break-glass".to_owned());
        let mut bg = v.clone();
        bg.event = Some(Event::ApprovalBreakGlass);
        bg.verdict = None;
        bg.rule = rules_field(&new.decision.rules);
        bg.outcome = Some("approved".to_owned());
        bg.reason = Some(format!("{why} (break-glass group `{group}`)"));
        Ok(VoteStep::Update(Box::new(new), vec![v, bg]))
    }

    /// Opens the requirements of a pending request whose `escalate_after`
    /// has passed to their escalation groups, once each: marks them in the
    /// store (compare-and-swap, so one replica does it) and audits
    /// `approval.escalated`. Returns the groups newly escalated to, for the
    /// caller (the dispatcher) to notify. Votes count from the escalation
    /// group once the time has passed, whether or not this ran.
    pub async fn escalate_due(&self, request_id: &str) -> Result<Vec<String>, Error> {
        for _ in 0..ROUNDS {
            let Some(mut req) = self.inner.store.get(request_id).await? else {
                return Err(Error::NotFound(request_id.to_owned()));
            };
            if req.status != RequestStatus::Pending {
                return Ok(Vec::new());
            }
            let now = self.inner.clock.now();
            let mut due: Vec<String> = Vec::new();
            if let Some(a) = &req.decision.approval {
                for r in &a.requirements {
                    if let Some(g) = escalation_group(&req, r, now)
                        && !req.escalated.iter().any(|e| e == g)
                        && !due.iter().any(|e| e == g)
                    {
                        due.push(g.to_owned());
                    }
                }
            }
            if due.is_empty() {
                return Ok(due);
            }
            req.escalated.extend(due.iter().cloned());
            req.version += 1;
            if !self.inner.store.update(&req).await? {
                continue;
            }
            let records = due
                .iter()
                .map(|g| {
                    let mut r = record_for(Event::ApprovalEscalated, &req.action, &req.args_digest);
                    r.request_id = Some(req.id.clone());
                    r.rule = rules_field(&req.decision.rules);
                    r.outcome = Some("escalated".to_owned());
                    r.reason = Some(format!(
                        "no decision in time; members of `{g}` may now approve"
                    ));
                    r
                })
                .collect();
            self.inner.audit.append(records).await?;
            return Ok(due);
        }
        Err(Error::Store(StoreError::new(
            self.inner.store.describe(),
            "too many concurrent updates",
        )))
    }

    /// Whether a pending request is due a reminder (`remind_every` since it
    /// was made or last reminded); if so marks it reminded (compare-and-swap,
    /// so one replica reminds) and returns true.
    pub async fn remind_due(&self, request_id: &str) -> Result<bool, Error> {
        for _ in 0..ROUNDS {
            let Some(mut req) = self.inner.store.get(request_id).await? else {
                return Err(Error::NotFound(request_id.to_owned()));
            };
            let Some(every) = req
                .decision
                .approval
                .as_ref()
                .and_then(ApprovalRequirements::remind_every)
            else {
                return Ok(false);
            };
            if req.status != RequestStatus::Pending {
                return Ok(false);
            }
            let now = self.inner.clock.now();
            let last = req.reminded_at.unwrap_or(req.created_at);
            if now < checked_after(last, every)? {
                return Ok(false);
            }
            req.reminded_at = Some(now);
            req.version += 1;
            if self.inner.store.update(&req).await? {
                return Ok(true);
            }
        }
        Err(Error::Store(StoreError::new(
            self.inner.store.describe(),
            "too many concurrent updates",
        )))
    }

    /// Tells every post of a request about `notice` through `approver`
    /// (reminders as thread replies, escalations, break-glass). Errors of
    /// one channel do not stop the others; the first is returned.
    pub async fn notify_deliveries(
        &self,
        approver: &dyn Approver,
        request_id: &str,
        notice: &Notice,
    ) -> Result<(), Error> {
        let Some(req) = self.inner.store.get(request_id).await? else {
            return Err(Error::NotFound(request_id.to_owned()));
        };
        let view = req.to_request();
        let mut first = None;
        for d in req
            .deliveries
            .iter()
            .filter(|d| approver.notifies(&d.channel))
        {
            if let Err(e) = approver.notify(&view, d, notice).await {
                first.get_or_insert(Error::Approver {
                    request_id: request_id.to_owned(),
                    message: e.0,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Gate {
    /// After a break-glass approval, tells the request's posts (as replies)
    /// through this gate's own approver, in the background: the server
    /// that took the vote holds the channels.
    pub(super) fn announce_break_glass(&self, req: &StoredRequest) {
        let Some(vote) = req.votes.iter().find(|v| v.break_glass) else {
            return;
        };
        let Some(approver) = self.inner.approver.clone() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let notice = Notice::BreakGlass {
            by: vote.voter.clone(),
            reason: vote.comment.clone().unwrap_or_default(),
        };
        let (gate, id) = (self.clone(), req.id.clone());
        handle.spawn(async move {
            if let Err(e) = gate
                .notify_deliveries(approver.as_ref(), &id, &notice)
                .await
            {
                eprintln!("signoff: request `{id}`: the break-glass notice failed: {e}");
            }
        });
    }
}

/// The escalation group of requirement `r`, once its time has passed.
fn escalation_group<'r>(
    req: &StoredRequest,
    r: &'r Requirement,
    now: DateTime<Utc>,
) -> Option<&'r str> {
    let after: Duration = r.escalate_after?;
    let group = r.escalate_to.as_deref()?;
    let at = chrono::Duration::from_std(after)
        .ok()
        .and_then(|d| req.created_at.checked_add_signed(d))?;
    (now >= at).then_some(group)
}
