//! The gate end to end: every vote rule, every outcome, fail-closed paths.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use signoff::testkit::{
    FailingApprover, FailingSink, FailingStore, ScriptedApprover, ScriptedVote, SilentApprover,
    store_conformance,
};
use signoff::{
    Action, AuditRecord, DeniedBy, Error, Event, Gate, JsonlSink, MemoryStore, Outcome, Policy,
    Queue, RejectReason, RequestStatus, Submission, Vote, VoteOutcome,
};

const POLICY: &str = r#"
[policy]
name = "gate-tests"
default = "deny"
unsafe_allow_on_timeout = true

[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com"]
sre = ["user:erin@example.com", "user:carol@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]

[[rules]]
id = "no-drop"
effect = "deny"
actions = ["sql.exec"]
when = 'args.sql.matches("(?i)drop\\s+table")'
reason = "destructive DDL is never run by agents"

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
when = "args.rows > 1000"
approvers = "data-owners"
min_approvals = 2
timeout = "15m"
allow_edit = true
redact = ["args.password"]
risk = "high"
reason = "bulk export of production data"

[[rules]]
id = "export-huge"
effect = "deny"
actions = ["db.export"]
when = "args.rows > 1000000"
reason = "too much data"

[[rules]]
id = "small-export"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 1000"

[[rules]]
id = "iam-owner"
effect = "approve"
actions = ["iam.grant"]
approvers = "data-owners"
min_approvals = 1
timeout = "10m"

[[rules]]
id = "iam-sre"
effect = "approve"
actions = ["iam.grant"]
approvers = "sre"
min_approvals = 1
timeout = "5m"

[[rules]]
id = "deploy"
effect = "approve"
actions = ["deploy.push"]
approvers = "sre"
timeout = "1m"
on_timeout = "allow"
"#;

fn policy() -> Policy {
    Policy::from_toml_str(POLICY).unwrap()
}

fn export(rows: u64) -> Action {
    Action::new("db.export")
        .actor("agent:billing-bot")
        .on_behalf_of("user:alice@example.com")
        .resource("postgres://prod/customers")
        .env("prod")
        .args(json!({"rows": rows, "password": "hunter2"}))
}

fn iam() -> Action {
    Action::new("iam.grant")
        .actor("agent:ops-bot")
        .on_behalf_of("user:bob@example.com")
        .args(json!({"role": "admin"}))
}

struct Trail {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Trail {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        Trail { _dir: dir, path }
    }

    fn sink(&self) -> JsonlSink {
        JsonlSink::open(&self.path).unwrap()
    }

    fn records(&self) -> Vec<AuditRecord> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn events(&self) -> Vec<Event> {
        self.records().iter().filter_map(|r| r.event).collect()
    }

    fn verify(&self) {
        signoff::audit::verify_file(&self.path, None, None).unwrap();
    }
}

fn gate_with(approver: ScriptedApprover, trail: &Trail) -> Gate {
    Gate::builder()
        .policy(policy())
        .approver(approver)
        .audit(trail.sink())
        .build()
        .unwrap()
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn an_allowed_action_gets_a_permit_and_its_decision_is_durable_first() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let permit = gate
        .require(
            Action::new("db.query")
                .actor("agent:bot")
                .args(json!({"sql": "select 1"})),
        )
        .await
        .unwrap();
    // the decision is in the file before the permit is used
    // one record per decision, carrying the action (DESIGN §15)
    assert_eq!(trail.events(), [Event::PolicyDecided]);
    let decided = &trail.records()[0];
    assert_eq!(decided.args, Some(json!({"sql": "select 1"})));
    assert_eq!(decided.effect.as_deref(), Some("allow"));
    assert_eq!(decided.rule.as_deref(), Some("reads"));
    assert_eq!(
        decided.policy_digest.as_deref(),
        Some(gate.policy().digest())
    );
    assert!(permit.approved_by().is_empty());
    permit.complete(Outcome::success()).await.unwrap();
    // a completion is queued, and durable once the gate flushes (DESIGN §15)
    gate.close().await.unwrap();
    assert_eq!(trail.events().last(), Some(&Event::ActionCompleted));
    trail.verify();
}

#[tokio::test]
async fn a_policy_denial_names_the_rule_and_reason() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let err = gate
        .require(
            Action::new("sql.exec")
                .actor("agent:bot")
                .args(json!({"sql": "DROP TABLE users"})),
        )
        .await
        .unwrap_err();
    let Error::Denied(d) = err else {
        panic!("not denied: {err}")
    };
    assert_eq!(d.by, DeniedBy::Policy);
    assert_eq!(d.rule(), Some("no-drop"));
    assert_eq!(d.reason, "destructive DDL is never run by agents");
    assert_eq!(trail.records()[0].outcome.as_deref(), Some("denied"));
}

#[tokio::test]
async fn two_data_owners_approve_an_export_and_the_trail_tells_the_story() {
    let trail = Trail::new();
    let approver = ScriptedApprover::new([
        Vote::approve("user:carol@example.com").comment("ok for finance"),
        Vote::approve("user:dan@example.com"),
    ]);
    let gate = gate_with(approver.clone(), &trail);
    let permit = gate.require(export(50_000)).await.unwrap();
    let mut by = permit.approved_by().to_vec();
    by.sort();
    assert_eq!(by, ["user:carol@example.com", "user:dan@example.com"]);
    assert_eq!(permit.args()["rows"], 50_000);
    permit.complete(Outcome::success()).await.unwrap();
    gate.close().await.unwrap();
    // the reviewer saw redacted args, never the password
    let seen = &approver.seen()[0];
    assert!(
        seen.args["password"]
            .as_str()
            .unwrap()
            .starts_with("redacted:ephemeral-")
    );
    assert_eq!(seen.requirements[0].min, 2);
    assert_eq!(seen.risk, Some(signoff::Risk::High));
    assert_eq!(
        trail.events(),
        [
            Event::PolicyDecided,
            Event::ApprovalRequested,
            Event::ApprovalVote,
            Event::ApprovalVote,
            Event::ApprovalResolved,
            Event::ActionCompleted
        ]
    );
    let text = std::fs::read_to_string(&trail.path).unwrap();
    assert!(
        !text.contains("hunter2"),
        "a redacted value reached the trail"
    );
    trail.verify();
}

#[tokio::test]
async fn self_approval_by_the_launcher_is_rejected_and_audited() {
    let trail = Trail::new();
    // alice launched the agent and is a data owner; her vote must not count
    let approver = ScriptedApprover::new([
        Vote::approve("user:alice@example.com"),
        Vote::approve("user:carol@example.com"),
    ]);
    let gate = gate_with(approver.clone(), &trail);
    let submission = gate.submit(export(50_000)).await.unwrap();
    let Submission::Pending { request_id } = submission else {
        panic!("not pending")
    };
    settle().await;
    let req = gate.request(&request_id).await.unwrap();
    assert_eq!(
        req.status,
        RequestStatus::Pending,
        "one valid approval is not two"
    );
    let results = approver.results();
    assert!(
        results[0].as_ref().unwrap_err().contains("cannot vote"),
        "{results:?}"
    );
    let rejected: Vec<AuditRecord> = trail
        .records()
        .into_iter()
        .filter(|r| r.event == Some(Event::ApprovalVoteRejected))
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].voter.as_deref(), Some("user:alice@example.com"));
    assert_eq!(rejected[0].outcome.as_deref(), Some("self_approval"));
    // the actor itself (an agent) cannot vote either
    let err = gate
        .vote(&request_id, Vote::approve("agent:billing-bot"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::NotAUser),
        "{err}"
    );
}

#[tokio::test]
async fn case_and_unicode_tricks_do_not_bypass_self_approval() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(export(5000)).await.unwrap() else {
        panic!()
    };
    for alias in ["USER:Alice@Example.COM", "user:\u{ff41}lice@example.com"] {
        let err = gate
            .vote(&request_id, Vote::approve(alias))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::SelfApproval),
            "{alias}: {err}"
        );
    }
}

#[tokio::test]
async fn only_users_in_a_required_group_vote() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(export(5000)).await.unwrap() else {
        panic!()
    };
    for (voter, reason) in [
        ("service:ci", RejectReason::NotAUser),
        ("agent:helper", RejectReason::NotAUser),
        ("user:erin@example.com", RejectReason::NotEligible),
        ("mallory", RejectReason::InvalidVoter),
    ] {
        let err = gate
            .vote(&request_id, Vote::approve(voter))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::VoteRejected(r) if r.reason == reason),
            "{voter}: {err}"
        );
    }
    let rejected = trail
        .records()
        .iter()
        .filter(|r| r.event == Some(Event::ApprovalVoteRejected))
        .count();
    assert_eq!(rejected, 4, "every rejected vote is audited");
}

#[tokio::test]
async fn a_repeated_vote_counts_once() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(export(5000)).await.unwrap() else {
        panic!()
    };
    let carol = || Vote::approve("user:carol@example.com");
    assert_eq!(
        gate.vote(&request_id, carol()).await.unwrap(),
        VoteOutcome::Counted(RequestStatus::Pending)
    );
    assert_eq!(
        gate.vote(&request_id, carol()).await.unwrap(),
        VoteOutcome::Duplicate(RequestStatus::Pending)
    );
    assert_eq!(gate.request(&request_id).await.unwrap().votes.len(), 1);
    // changing one's mind is not a second vote
    let err = gate
        .vote(&request_id, Vote::deny("user:carol@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::AlreadyVoted));
}

#[tokio::test]
async fn one_deny_resolves_the_request_with_who_and_why() {
    let trail = Trail::new();
    let approver = ScriptedApprover::new([
        Vote::approve("user:carol@example.com"),
        Vote::deny("user:dan@example.com").comment("not this month"),
    ]);
    let gate = gate_with(approver, &trail);
    let err = gate.require(export(50_000)).await.unwrap_err();
    let Error::Denied(d) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        d.by,
        DeniedBy::Reviewer {
            voter: "user:dan@example.com".into(),
            comment: Some("not this month".into())
        }
    );
    assert!(err.to_string().contains("not this month"));
    // later votes are rejected: the request is resolved
    let request_id = d.request_id.clone().unwrap();
    let err = gate
        .vote(&request_id, Vote::approve("user:alice@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::Resolved));
}

#[tokio::test]
async fn one_person_in_both_groups_does_not_meet_two_requirements() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(iam()).await.unwrap() else {
        panic!()
    };
    let req = gate.request(&request_id).await.unwrap();
    assert_eq!(req.requirements.len(), 2);
    // carol is in data-owners and sre: alone she fills one slot
    gate.vote(&request_id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    assert_eq!(
        gate.request(&request_id).await.unwrap().status,
        RequestStatus::Pending
    );
    // erin (sre only) takes the sre slot, so carol is assigned to data-owners
    assert_eq!(
        gate.vote(&request_id, Vote::approve("user:erin@example.com"))
            .await
            .unwrap(),
        VoteOutcome::Counted(RequestStatus::Approved)
    );
    let permit = gate.resume(&request_id).await.unwrap();
    assert_eq!(permit.approved_by().len(), 2);
    permit.complete(Outcome::success()).await.unwrap();
}

#[tokio::test]
async fn a_vote_for_stale_args_does_not_count() {
    let trail = Trail::new();
    let approver = ScriptedApprover::new([ScriptedVote {
        vote: Vote::approve("user:carol@example.com"),
        delay: None,
        stale: true,
    }]);
    let gate = gate_with(approver.clone(), &trail);
    let Submission::Pending { request_id } = gate.submit(export(5000)).await.unwrap() else {
        panic!()
    };
    settle().await;
    assert!(
        approver.results()[0]
            .as_ref()
            .unwrap_err()
            .contains("changed")
    );
    assert!(gate.request(&request_id).await.unwrap().votes.is_empty());
}

#[tokio::test]
async fn an_edit_is_re_evaluated_and_older_approvals_stop_counting() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(export(50_000)).await.unwrap() else {
        panic!()
    };
    let before = gate.request(&request_id).await.unwrap();
    gate.vote(
        &request_id,
        Vote::approve("user:carol@example.com").saw(&before.args_digest),
    )
    .await
    .unwrap();
    // dan edits rows down; carol approved the old args, so one approval is missing
    let edited = json!({"rows": 20_000, "password": "hunter2"});
    gate.vote(
        &request_id,
        Vote::approve("user:dan@example.com")
            .saw(&before.args_digest)
            .edit(edited.clone()),
    )
    .await
    .unwrap();
    let after = gate.request(&request_id).await.unwrap();
    assert_ne!(after.args_digest, before.args_digest);
    assert_eq!(after.status, RequestStatus::Pending);
    // a vote naming the old digest is stale now
    let err = gate
        .vote(
            &request_id,
            Vote::approve("user:carol@example.com").saw(&before.args_digest),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::StaleArgs));
    gate.vote(
        &request_id,
        Vote::approve("user:carol@example.com").saw(&after.args_digest),
    )
    .await
    .unwrap();
    let permit = gate.resume(&request_id).await.unwrap();
    assert_eq!(permit.args(), &edited, "the permit carries the edited args");
    assert_eq!(permit.args_digest(), after.args_digest);
    permit.complete(Outcome::success()).await.unwrap();
}

#[tokio::test]
async fn an_edit_into_something_the_policy_denies_is_denied() {
    let trail = Trail::new();
    let approver = ScriptedApprover::new([
        Vote::approve("user:carol@example.com").edit(json!({"rows": 5_000_000}))
    ]);
    let gate = gate_with(approver, &trail);
    let err = gate.require(export(50_000)).await.unwrap_err();
    let Error::Denied(d) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        d.by,
        DeniedBy::Edit {
            voter: "user:carol@example.com".into()
        }
    );
    assert!(d.reason.contains("too much data"), "{}", d.reason);
}

#[tokio::test]
async fn edits_are_refused_where_the_rule_does_not_allow_them() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(iam()).await.unwrap() else {
        panic!()
    };
    let err = gate
        .vote(
            &request_id,
            Vote::approve("user:carol@example.com").edit(json!({"role": "viewer"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::EditNotAllowed));
}

#[tokio::test(start_paused = true)]
async fn nobody_answering_times_out_and_denies() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .audit(trail.sink())
        .build()
        .unwrap();
    let err = gate.require(export(50_000)).await.unwrap_err();
    let Error::TimedOut(t) = &err else {
        panic!("{err}")
    };
    assert_eq!(t.timeout, Duration::from_secs(15 * 60));
    assert_eq!(t.rules, ["export"]);
    let resolved = trail
        .records()
        .into_iter()
        .find(|r| r.event == Some(Event::ApprovalResolved))
        .unwrap();
    assert_eq!(resolved.outcome.as_deref(), Some("expired"));
}

#[tokio::test(start_paused = true)]
async fn the_shortest_timeout_of_combined_rules_applies() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .audit(trail.sink())
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = gate.require(iam()).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut(_)));
    // 5 minutes (iam-sre), not 10 (iam-owner); the waiter sleeps for what
    // is left of the request's lifetime, a hair under 300 s
    let waited = start.elapsed().as_secs_f64();
    assert!((295.0..=300.5).contains(&waited), "waited {waited} s");
}

#[tokio::test(start_paused = true)]
async fn on_timeout_allow_permits_only_where_the_policy_opted_in() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .audit(trail.sink())
        .build()
        .unwrap();
    let permit = gate
        .require(Action::new("deploy.push").actor("agent:ci-bot"))
        .await
        .unwrap();
    assert!(permit.approved_by().is_empty());
    permit.complete(Outcome::success()).await.unwrap();
    // without the opt-in the policy does not even load
    let without = POLICY.replace("unsafe_allow_on_timeout = true", "");
    let err = Policy::from_toml_str(&without).unwrap_err();
    assert!(err.to_string().contains("unsafe_allow_on_timeout"), "{err}");
}

#[tokio::test]
async fn dropping_the_require_future_cancels_the_request() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .audit(trail.sink())
        .build()
        .unwrap();
    let action = export(50_000).id("act-cancel");
    let waiting =
        tokio::time::timeout(Duration::from_millis(50), gate.require(action.clone())).await;
    assert!(waiting.is_err(), "still waiting");
    settle().await;
    let req = gate
        .store()
        .get_by_action("act-cancel")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.status, RequestStatus::Cancelled);
    let err = gate.require(action).await.unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert!(
        trail
            .records()
            .iter()
            .any(|r| r.outcome.as_deref() == Some("cancelled"))
    );
}

#[tokio::test]
async fn submit_then_resume_and_idempotent_require_by_action_id() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let action = export(50_000).id("act-42");
    let Submission::Pending { request_id } = gate.submit(action.clone()).await.unwrap() else {
        panic!()
    };
    // a second submit of the same action id joins the same request
    let Submission::Pending { request_id: again } = gate.submit(action.clone()).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(again, request_id);
    // a waiter started before the votes wakes up when they arrive
    let waiter = {
        let gate = gate.clone();
        let action = action.clone();
        tokio::spawn(async move { gate.require(action).await })
    };
    settle().await;
    gate.vote(&request_id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    gate.vote(&request_id, Vote::approve("user:dan@example.com"))
        .await
        .unwrap();
    let permit = waiter.await.unwrap().unwrap();
    assert_eq!(permit.request_id(), Some(request_id.as_str()));
    // approved and its permit issued: no second permit, by resume or submit
    let err = gate.resume(&request_id).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyIssued(_)), "{err}");
    let err = gate.submit(action.clone()).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyIssued(_)), "{err}");
    permit.complete(Outcome::success()).await.unwrap();
    // completed: the action id can never run again
    let err = gate.require(action).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyCompleted(_)), "{err}");
    assert!(matches!(
        gate.resume("no-such").await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn a_permit_is_bound_to_its_action_and_an_abandoned_one_is_recorded() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let a = gate
        .require(
            Action::new("db.query")
                .actor("agent:bot")
                .args(json!({"sql": "select 1"})),
        )
        .await
        .unwrap();
    let b = gate
        .require(
            Action::new("db.query")
                .actor("agent:bot")
                .args(json!({"sql": "select 2"})),
        )
        .await
        .unwrap();
    assert_ne!(a.action_digest(), b.action_digest());
    assert_ne!(a.args_digest(), b.args_digest());
    assert!(!a.is_expired());
    drop(a);
    b.complete(Outcome::success()).await.unwrap();
    gate.close().await.unwrap();
    settle().await;
    gate.close().await.unwrap();
    let abandoned: Vec<_> = trail
        .records()
        .into_iter()
        .filter(|r| r.event == Some(Event::ActionAbandoned))
        .collect();
    assert_eq!(abandoned.len(), 1);
    trail.verify();
}

#[tokio::test]
async fn an_abandoned_approved_permit_cannot_be_reused() {
    let trail = Trail::new();
    let approver = ScriptedApprover::new([
        Vote::approve("user:carol@example.com"),
        Vote::approve("user:dan@example.com"),
    ]);
    let gate = gate_with(approver, &trail);
    let action = export(50_000).id("act-drop");
    drop(gate.require(action.clone()).await.unwrap());
    settle().await;
    let err = gate.require(action).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyCompleted(_)), "{err}");
}

#[tokio::test]
async fn run_requires_runs_and_completes() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let out = gate
        .run(
            Action::new("db.query").actor("agent:bot"),
            |args| async move { Ok::<_, String>(args.to_string()) },
        )
        .await
        .unwrap();
    assert_eq!(out.unwrap(), "{}");
    let failed = gate
        .run(Action::new("db.query").actor("agent:bot"), |_| async {
            Err::<(), _>("boom".to_owned())
        })
        .await
        .unwrap();
    assert!(failed.is_err());
    gate.close().await.unwrap();
    let completed: Vec<_> = trail
        .records()
        .into_iter()
        .filter(|r| r.event == Some(Event::ActionCompleted))
        .collect();
    assert_eq!(completed[1].outcome.as_deref(), Some("failure"));
    assert_eq!(completed[1].error.as_deref(), Some("boom"));
}

#[tokio::test]
async fn approval_without_an_approver_fails_closed() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .audit(trail.sink())
        .build()
        .unwrap();
    let err = gate.require(export(50_000)).await.unwrap_err();
    assert!(matches!(err, Error::NoApprover { .. }), "{err}");
    assert!(err.to_string().contains("no approver"));
}

#[tokio::test]
async fn an_invalid_action_is_refused_and_audited() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    for action in [
        Action::new("db.query").actor("robot:x"),
        Action::new("db.query"),
        Action::new("").actor("agent:bot"),
        Action::new("db.query")
            .actor("agent:bot")
            .args(json!([1, 2])),
    ] {
        let err = gate.require(action).await.unwrap_err();
        assert!(matches!(err, Error::InvalidAction(_)), "{err}");
    }
    assert_eq!(trail.records().len(), 4);
}

#[tokio::test]
async fn a_failing_audit_sink_never_yields_a_permit() {
    let gate = Gate::builder()
        .policy(policy())
        .audit(FailingSink::new())
        .build()
        .unwrap();
    let err = gate
        .require(Action::new("db.query").actor("agent:bot"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Audit(_)), "{err}");
    assert!(err.to_string().contains("No space left"));
    // and it stays closed
    let err = gate
        .require(Action::new("db.query").actor("agent:bot"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Audit(_)), "{err}");
}

#[tokio::test]
async fn a_sink_failing_during_approval_never_yields_a_permit() {
    let sink = FailingSink::after(2);
    let approver = ScriptedApprover::new([
        Vote::approve("user:carol@example.com"),
        Vote::approve("user:dan@example.com"),
    ]);
    let gate = Gate::builder()
        .policy(policy())
        .approver(approver)
        .audit(sink)
        .build()
        .unwrap();
    let err = gate.require(export(50_000)).await.unwrap_err();
    assert!(
        matches!(err, Error::Audit(_) | Error::Cancelled { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_failing_store_never_yields_a_permit() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(Queue)
        .store(FailingStore::down())
        .audit(trail.sink())
        .build()
        .unwrap();
    let err = gate.require(export(50_000)).await.unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    // a store that fails while the agent waits
    let store = FailingStore::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(Queue)
        .store(store.clone())
        .audit(trail.sink())
        .build()
        .unwrap();
    let waiting = tokio::spawn({
        let gate = gate.clone();
        async move { gate.require(export(50_000)).await }
    });
    settle().await;
    store.fail();
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
}

#[tokio::test]
async fn an_approver_that_errors_fails_closed() {
    let trail = Trail::new();
    let gate = Gate::builder()
        .policy(policy())
        .approver(FailingApprover)
        .audit(trail.sink())
        .build()
        .unwrap();
    let err = gate.require(export(50_000)).await.unwrap_err();
    let Error::Approver {
        message,
        request_id,
    } = &err
    else {
        panic!("{err}")
    };
    assert!(message.contains("500"));
    let req = gate.store().get(request_id).await.unwrap().unwrap();
    assert_eq!(req.status, RequestStatus::Cancelled);
    // votes after the failure do not resurrect it
    let err = gate
        .vote(request_id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VoteRejected(_)));
}

#[tokio::test]
async fn many_concurrent_votes_resolve_exactly_once() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let Submission::Pending { request_id } = gate.submit(export(50_000)).await.unwrap() else {
        panic!()
    };
    let mut tasks = Vec::new();
    for voter in ["user:carol@example.com", "user:dan@example.com"] {
        for _ in 0..10 {
            let gate = gate.clone();
            let id = request_id.clone();
            tasks.push(tokio::spawn(async move {
                gate.vote(&id, Vote::approve(voter)).await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let req = gate.request(&request_id).await.unwrap();
    assert_eq!(req.status, RequestStatus::Approved);
    assert_eq!(req.votes.len(), 2);
}

#[tokio::test]
async fn the_memory_store_meets_the_store_contract() {
    store_conformance(MemoryStore::new).await;
}

#[tokio::test]
async fn swapping_the_policy_is_atomic_and_affects_new_decisions() {
    let trail = Trail::new();
    let gate = gate_with(ScriptedApprover::default(), &trail);
    let old = gate.policy().digest().to_owned();
    gate.set_policy(Policy::from_toml_str("[policy]\ndefault = \"allow\"").unwrap());
    assert_ne!(gate.policy().digest(), old);
    let permit = gate
        .require(Action::new("anything.at.all").actor("agent:bot"))
        .await
        .unwrap();
    permit.complete(Outcome::success()).await.unwrap();
}
