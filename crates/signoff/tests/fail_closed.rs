//! Regression tests for the paths that once let an action through or leaked
//! a secret into the trail (issue 11), one class per test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use signoff::redact::RedactionKey;
use signoff::testkit::{FailingSink, SilentApprover};
use signoff::{
    Action, ActionError, Effect, Error, Gate, MemoryStore, Outcome, Policy, RejectReason,
    RequestStatus, Submission, Vote,
};

const POLICY: &str = r#"
[policy]
name = "fail-closed"
redact = ["args.creds[*].secret", "context.session"]

[groups]
owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com", "user:\u0430lice@example.com", "user:erin@example.com"]

[owners]
"agent:erin-*" = ["user:erin@example.com"]

[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
redact = ["args.query_token"]

[[rules]]
id = "no-sql"
effect = "deny"
actions = ["sql.exec"]
reason = "no raw sql"

[[rules]]
id = "no-iam"
effect = "deny"
actions = ["iam.grant"]

[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
redact = ["args.pin"]

[[rules]]
id = "slack-only"
effect = "approve"
actions = ["deploy.push"]
approvers = "owners"
channels = ["slack"]
"#;

fn policy() -> Policy {
    Policy::from_toml_str(POLICY).unwrap()
}

fn gate(sink: &FailingSink) -> Gate {
    Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .audit(sink.clone())
        .build()
        .unwrap()
}

fn lines(sink: &FailingSink) -> Vec<Value> {
    sink.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn pending(gate: &Gate, action: Action) -> String {
    match gate.submit(action).await.unwrap() {
        Submission::Pending { request_id } => request_id,
        Submission::Permitted(_) => panic!("expected a pending request"),
    }
}

fn export() -> Action {
    Action::new("db.export")
        .actor("agent:billing-bot")
        .on_behalf_of("user:alice@example.com")
        .args(json!({"rows": 5}))
}

// 1. null is not absent

#[test]
fn null_for_any_optional_key_is_a_load_error_with_its_location() {
    for key in [
        "actions",
        "resources",
        "actors",
        "env",
        "when",
        "reason",
        "risk",
        "description",
        "redact",
    ] {
        let text = format!(
            "{{\"rules\": [\n  {{\"id\": \"r\", \"effect\": \"allow\", \"{key}\": null}}\n]}}"
        );
        let err = Policy::from_json_str(&text).unwrap_err();
        let issue = &err.issues[0];
        assert!(issue.message.contains("null"), "{key}: {err}");
        assert_eq!(issue.line, 2, "{key}: {err}");
        assert!(issue.column > 0, "{key}: {err}");
    }
    for header in ["default", "name", "redact", "redact_defaults"] {
        let text = format!("{{\"policy\": {{\"{header}\": null}}}}");
        assert!(Policy::from_json_str(&text).is_err(), "[policy] {header}");
    }
    for top in ["policy", "groups", "rules", "owners"] {
        let text = format!("{{\"{top}\": null}}");
        assert!(Policy::from_json_str(&text).is_err(), "{top}");
    }
}

// 2. invisible characters, case and lookalikes

#[tokio::test]
async fn invisible_characters_in_principals_names_and_env_are_refused_and_audited() {
    let sink = FailingSink::after(1_000_000);
    let gate = gate(&sink);
    for c in [
        '\u{200b}', '\u{200d}', '\u{00ad}', '\u{2060}', '\u{feff}', '\u{202e}',
    ] {
        let obo = format!("user:ali{c}ce@example.com");
        let err = gate.require(export().on_behalf_of(obo)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidAction(_)), "{err}");
        let name = format!("sql.exec{c}");
        let err = gate
            .require(Action::new(name).actor("agent:bot"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidAction(ActionError::Hidden { field: "name", .. })
            ),
            "{err}"
        );
        let err = gate
            .require(
                Action::new("db.query")
                    .actor("agent:bot")
                    .env(format!("prod{c}")),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidAction(ActionError::Hidden { field: "env", .. })
            ),
            "{err}"
        );
    }
    // a fullwidth lookalike of a denied name is refused, not matched past the deny
    let err = gate
        .require(Action::new("\u{ff53}ql.exec").actor("agent:bot"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidAction(ActionError::NotNormalized { .. })),
        "{err}"
    );
    gate.close().await.unwrap();
    let refused = lines(&sink)
        .iter()
        .filter(|l| {
            l["error"]
                .as_str()
                .is_some_and(|e| e.contains("invalid action"))
        })
        .count();
    assert_eq!(refused, 6 * 3 + 1, "every refusal is in the trail");
    assert_eq!(
        policy()
            .evaluate(&Action::new("sql.exec\u{200b}").actor("agent:bot"))
            .effect(),
        Effect::Deny
    );
}

#[tokio::test]
async fn a_requester_cannot_approve_under_another_case_or_a_lookalike_or_as_owner() {
    let sink = FailingSink::after(1_000_000);
    let gate = gate(&sink);
    // case: user:Alice launched it, user:alice votes
    let id = pending(&gate, export().on_behalf_of("user:Alice@Example.com")).await;
    let err = gate
        .vote(&id, Vote::approve("user:alice@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::SelfApproval),
        "{err}"
    );
    // lookalike: a Cyrillic а in the voter's address (a member of the group)
    let err = gate
        .vote(&id, Vote::approve("user:\u{430}lice@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::SelfApproval && r.message.contains("looks like")),
        "{err}"
    );
    // owners: erin runs agent:erin-reporter; a false on_behalf_of does not help
    let id = pending(
        &gate,
        export()
            .actor("agent:erin-reporter")
            .on_behalf_of("user:dan@example.com"),
    )
    .await;
    let err = gate
        .vote(&id, Vote::approve("user:erin@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::SelfApproval && r.message.contains("owns")),
        "{err}"
    );
    // someone else still can
    gate.vote(&id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    gate.close().await.unwrap();
    let rejected = lines(&sink)
        .iter()
        .filter(|l| l["event"] == "approval.vote_rejected" && l["outcome"] == "self_approval")
        .count();
    assert_eq!(rejected, 3);
}

// 3. an action id names one action

#[tokio::test]
async fn an_action_id_reused_for_another_action_is_refused_and_audited() {
    let sink = FailingSink::after(1_000_000);
    let gate = Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .audit(sink.clone())
        .build()
        .unwrap();
    let id = pending(&gate, export().id("X1")).await;
    gate.vote(&id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    for other in [
        Action::new("iam.grant").actor("agent:billing-bot").id("X1"),
        export().id("X1").args(json!({"rows": 6})),
        export().id("X1").resource("postgres://prod/other"),
    ] {
        let err = gate.require(other).await.unwrap_err();
        assert!(matches!(err, Error::IdReused { .. }), "{err}");
    }
    // the same action with the same id still gets its one permit
    let permit = gate.require(export().id("X1")).await.unwrap();
    permit.complete(Outcome::success()).await.unwrap();
    gate.close().await.unwrap();
    let refused: Vec<Value> = lines(&sink)
        .into_iter()
        .filter(|l| {
            l["error"]
                .as_str()
                .is_some_and(|e| e.contains("action id reused"))
        })
        .collect();
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0]["action"], "iam.grant");
    assert_eq!(refused[0]["outcome"], "denied");
}

// 4. one approval, one permit; an expired permit cannot complete

#[tokio::test]
async fn one_approval_yields_one_permit_even_across_gates_sharing_a_store() {
    let store = Arc::new(MemoryStore::new());
    let (a, b) = (on_store(&store), on_store(&store));
    let id = pending(&a, export().id("once")).await;
    a.vote(&id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    let (r1, r2, r3) = tokio::join!(a.resume(&id), b.resume(&id), b.submit(export().id("once")));
    let permits = [
        r1.is_ok(),
        r2.is_ok(),
        matches!(r3, Ok(Submission::Permitted(_))),
    ];
    assert_eq!(permits.iter().filter(|p| **p).count(), 1, "{permits:?}");
    let stored = store_get(&a, &id).await;
    assert_eq!(stored, RequestStatus::Issued);
}

/// A gate on `store`, as another process sharing it would have.
fn on_store(store: &Arc<MemoryStore>) -> Gate {
    Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .store_arc(store.clone())
        .build()
        .unwrap()
}

async fn store_get(gate: &Gate, id: &str) -> RequestStatus {
    gate.store().get(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn an_expired_permit_cannot_complete_and_the_refusal_is_audited() {
    let sink = FailingSink::after(1_000_000);
    let gate = Gate::builder()
        .policy(policy())
        .audit(sink.clone())
        .permit_ttl(Duration::from_millis(1))
        .build()
        .unwrap();
    let permit = gate
        .require(Action::new("db.query").actor("agent:bot"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(permit.is_expired());
    let err = permit.complete(Outcome::success()).await.unwrap_err();
    assert!(matches!(err, Error::PermitExpired { .. }), "{err}");
    gate.close().await.unwrap();
    let last = lines(&sink).pop().unwrap();
    assert_eq!(last["outcome"], "expired");
    assert!(
        !lines(&sink)
            .iter()
            .any(|l| l["event"] == "action.completed")
    );
}

// 5. unknown CEL is a load error

#[test]
fn conditions_calling_unknown_functions_or_wrong_arity_do_not_load() {
    for when in [
        "frobnicate(args.x) == 1",
        "args.sql.containz(\"drop\")",
        "args.sql.contains(\"a\", \"b\")",
        "size(args.a, args.b) > 1",
        "args.items.all(x)",
        "optional.of(1) == 1",
    ] {
        let text = format!("[[rules]]\nid = \"r\"\neffect = \"deny\"\nwhen = '{when}'\n");
        let err = Policy::from_toml_str(&text).unwrap_err();
        let issue = &err.issues[0];
        assert_eq!(issue.rule.as_deref(), Some("r"), "{when}: {err}");
        assert_eq!(issue.line, 4, "{when}: {err}");
        assert!(err.to_string().contains("unknown"), "{when}: {err}");
    }
    for when in [
        "args.sql.contains(\"a\") && size(args.sql) > 1",
        "args.items.all(x, x > 1) && args.items.exists(x, x == 2)",
        "has(args.x) && int(args.x) > 1 && string(args.y).startsWith(\"a\")",
        "now.getHours(\"UTC\") > 1 && now.getDayOfWeek() < 6",
        "args.sql.matches(\"drop\") || matches(args.sql, \"x\")",
    ] {
        let text = format!("[[rules]]\nid = \"r\"\neffect = \"deny\"\nwhen = '{when}'\n");
        Policy::from_toml_str(&text).unwrap_or_else(|e| panic!("{when}: {e}"));
    }
}

// 6. durations are bounded

#[test]
fn an_absurd_duration_is_a_load_error_not_a_panic() {
    for t in ["300000y", "367days", "100000000000000s"] {
        let text = format!(
            "[groups]\ng = [\"user:a@example.com\"]\n[[rules]]\nid = \"r\"\neffect = \"approve\"\napprovers = \"g\"\ntimeout = \"{t}\"\n"
        );
        let err = Policy::from_toml_str(&text).unwrap_err();
        assert!(err.to_string().contains("maximum of a year"), "{t}: {err}");
    }
}

// redaction

#[tokio::test]
async fn secrets_are_redacted_with_keyed_digests_whichever_rule_decides() {
    let sink = FailingSink::after(1_000_000);
    let key = RedactionKey::from_secret(b"a test secret of enough length!!");
    let gate = Gate::builder()
        .policy(policy())
        .audit(sink.clone())
        .redaction_key(key.clone())
        .build()
        .unwrap();
    let args = json!({
        "pin": "1234", "password": "hunter2", "query_token": "qt",
        "creds": [{"secret": "s1"}, {"secret": "s2"}],
        "nested": {"api_key": "ak", "Authorization": "Bearer zz"}
    });
    // a deny rule decides: the approve rule's `redact` still applies
    let _ = gate
        .require(
            Action::new("iam.grant")
                .actor("agent:bot")
                .args(args.clone()),
        )
        .await
        .unwrap_err();
    // an allow rule decides
    let permit = gate
        .require(
            Action::new("db.query")
                .actor("agent:bot")
                .args(args.clone())
                .context(json!({"session": "sess-secret"})),
        )
        .await
        .unwrap();
    assert_eq!(permit.args(), &args, "the agent still gets the real args");
    permit.complete(Outcome::success()).await.unwrap();
    gate.close().await.unwrap();
    let text = sink.lines().join("\n");
    for secret in [
        "1234",
        "hunter2",
        "\"qt\"",
        "s1",
        "s2",
        "\"ak\"",
        "Bearer zz",
    ] {
        assert!(!text.contains(secret), "`{secret}` reached the trail");
    }
    assert!(text.contains(&format!("redacted:{}:", key.id())));
    // no unkeyed digest of a secret, and args_digest confirms nothing
    let unkeyed = signoff::canonical::digest(&json!("1234"));
    assert!(!text.contains(unkeyed.trim_start_matches("blake3:")));
    let raw_digest = signoff::canonical::digest(&args);
    assert!(
        !text.contains(&raw_digest),
        "args_digest of the clear args was written"
    );
}

#[tokio::test]
async fn reviewers_see_redacted_args_and_context_from_every_process() {
    let store = Arc::new(MemoryStore::new());
    let agent = Gate::builder()
        .policy(policy())
        .approver(SilentApprover)
        .store_arc(store.clone())
        .build()
        .unwrap();
    let server = Gate::builder()
        .policy(policy())
        .store_arc(store)
        .build()
        .unwrap();
    let id = pending(
        &agent,
        export()
            .args(json!({"pin": "1234", "rows": 5}))
            .context(json!({"session": "s-1"})),
    )
    .await;
    let seen = server.request(&id).await.unwrap();
    assert!(
        seen.args["pin"]
            .as_str()
            .unwrap()
            .starts_with("redacted:ephemeral-")
    );
    assert!(
        seen.context["session"]
            .as_str()
            .unwrap()
            .starts_with("redacted:")
    );
    assert_eq!(seen.args["rows"], 5);
    assert_eq!(seen, agent.request(&id).await.unwrap(), "one view for all");
}

#[test]
fn redaction_paths_are_checked_at_load() {
    let err =
        Policy::from_toml_str("[policy]\nredact = [\"password\", \"args.a[x]\"]").unwrap_err();
    assert_eq!(err.issues.len(), 2, "{err}");
    assert!(err.issues.iter().all(|i| i.line == 2), "{err}");
}

// channel assurance

#[tokio::test]
async fn a_rule_requiring_a_channel_counts_only_authenticated_votes_through_it() {
    let sink = FailingSink::after(1_000_000);
    let gate = gate(&sink);
    let id = pending(&gate, Action::new("deploy.push").actor("agent:bot")).await;
    for vote in [
        Vote::approve("user:carol@example.com"),
        Vote::approve("user:carol@example.com").channel("slack"),
        Vote::approve("user:carol@example.com")
            .channel("web")
            .authenticated(),
    ] {
        let err = gate.vote(&id, vote).await.unwrap_err();
        assert!(
            matches!(&err, Error::VoteRejected(r) if r.reason == RejectReason::ChannelNotAllowed),
            "{err}"
        );
    }
    gate.vote(
        &id,
        Vote::approve("user:carol@example.com")
            .channel("slack")
            .authenticated(),
    )
    .await
    .unwrap();
    gate.close().await.unwrap();
    let all = lines(&sink);
    let counted = all.iter().find(|l| l["event"] == "approval.vote").unwrap();
    assert_eq!(counted["assurance"], "authenticated");
    let refused: Vec<&Value> = all
        .iter()
        .filter(|l| l["outcome"] == "channel_not_allowed")
        .collect();
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0]["assurance"], "asserted");
    assert_eq!(refused[0]["channel"], "code");
}

// gate defaults (DESIGN §9)

#[tokio::test]
async fn gate_defaults_fill_unset_fields_and_a_missing_actor_says_where_to_set_one() {
    let sink = FailingSink::after(1_000_000);
    let gate = Gate::builder()
        .policy(policy())
        .audit(sink.clone())
        .actor("agent:reader")
        .env("prod")
        .context(json!({"team": "billing"}))
        .build()
        .unwrap();
    let permit = gate.require(Action::new("db.query")).await.unwrap();
    permit.complete(Outcome::success()).await.unwrap();
    let own = gate
        .require(Action::new("db.query").actor("agent:other"))
        .await
        .unwrap();
    own.complete(Outcome::success()).await.unwrap();
    gate.close().await.unwrap();
    let actors: Vec<Value> = lines(&sink)
        .iter()
        .filter(|l| l["event"] == "policy.decided")
        .map(|l| l["actor"].clone())
        .collect();
    assert_eq!(actors, [json!("agent:reader"), json!("agent:other")]);
    let bare = Gate::builder().policy(policy()).build().unwrap();
    let err = bare.require(Action::new("db.query")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("set it on the call or once on the gate"),
        "{err}"
    );
    let bad = Gate::builder().policy(policy()).actor("robot:x").build();
    assert!(matches!(bad, Err(Error::Config(_))));
}

#[tokio::test]
async fn an_approver_failing_after_submit_cancels_the_request_at_once() {
    let gate = Gate::builder()
        .policy(policy())
        .approver(signoff::testkit::FailingApprover)
        .build()
        .unwrap();
    let id = pending(&gate, export()).await;
    let err = tokio::time::timeout(Duration::from_secs(5), gate.resume(&id))
        .await
        .expect("not left to time out")
        .unwrap_err();
    assert!(matches!(err, Error::Approver { .. }), "{err}");
}

#[tokio::test]
async fn cancel_waiting_cancels_only_this_gates_waits() {
    let store = Arc::new(MemoryStore::new());
    let (mine, other) = (on_store(&store), on_store(&store));
    let left = pending(&other, export().id("left-for-resume")).await;
    let waiter = {
        let mine = mine.clone();
        tokio::spawn(async move { mine.require(export().id("waited")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    mine.cancel_waiting("the gate was closed").await.unwrap();
    let err = waiter.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert_eq!(
        store_get(&other, &left).await,
        RequestStatus::Pending,
        "another gate's request stays"
    );
}
