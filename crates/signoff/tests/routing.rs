//! Several channels at once: routes by rule or group, all must succeed, and
//! one person voting from two channels counts once.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::sync::Arc;

use serde_json::json;
use signoff::testkit::{FailingApprover, ScriptedApprover, SilentApprover};
use signoff::{Action, Approver, Error, Gate, Policy, RequestStatus, Routes, Vote};

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com", "user:dan@example.com"]
sre = ["user:erin@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
min_approvals = 2
[[rules]]
id = "deploy"
effect = "approve"
actions = ["deploy.*"]
approvers = "sre"
"#;

fn gate(routes: Routes) -> Gate {
    Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(routes)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_rule_routed_to_two_channels_counts_each_person_once() {
    // "slack" and "teams": carol votes in both, dan in one
    let slack = ScriptedApprover::new([Vote::approve("user:carol@example.com").channel("slack")]);
    let teams = ScriptedApprover::new([
        Vote::approve("user:carol@example.com").channel("teams"),
        Vote::approve("user:dan@example.com").channel("teams"),
    ]);
    let other = ScriptedApprover::default();
    let routes = Routes::new()
        .route(
            "export",
            vec![
                Arc::new(slack.clone()) as Arc<dyn Approver>,
                Arc::new(teams.clone()),
            ],
        )
        .route("sre", vec![Arc::new(other.clone()) as Arc<dyn Approver>]);
    let g = gate(routes);
    let permit = g
        .require(Action::new("db.export").actor("agent:bot").args(json!({})))
        .await
        .unwrap();
    let mut by = permit.approved_by().to_vec();
    by.sort();
    assert_eq!(by, ["user:carol@example.com", "user:dan@example.com"]);
    assert_eq!(slack.seen().len(), 1);
    assert_eq!(teams.seen().len(), 1);
    assert!(other.seen().is_empty(), "only the routed channels see it");
    let req = g
        .store()
        .get(permit.request_id().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.votes.len(), 2, "carol counted once across two channels");
    permit.complete(signoff::Outcome::success()).await.unwrap();
}

#[tokio::test]
async fn a_failing_channel_fails_the_request_closed() {
    // one channel posts fine (and nobody has voted yet), the other is down
    let routes = Routes::new().route(
        "sre",
        vec![
            Arc::new(SilentApprover) as Arc<dyn Approver>,
            Arc::new(FailingApprover),
        ],
    );
    let g = gate(routes);
    let err = g
        .require(Action::new("deploy.push").actor("agent:ci"))
        .await
        .unwrap_err();
    match &err {
        Error::Approver {
            message,
            request_id,
        } => {
            assert!(message.contains("500"), "{message}");
            let status = g.store().get(request_id).await.unwrap().unwrap().status;
            assert_eq!(status, RequestStatus::Cancelled);
        }
        Error::Denied(_) => panic!("{err}"),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn unrouted_requests_use_the_fallback_and_none_at_all_fails_closed() {
    let fallback = ScriptedApprover::new([Vote::approve("user:erin@example.com")]);
    let g = gate(Routes::new().fallback(vec![Arc::new(fallback.clone()) as Arc<dyn Approver>]));
    g.require(Action::new("deploy.push").actor("agent:ci"))
        .await
        .unwrap()
        .complete(signoff::Outcome::success())
        .await
        .unwrap();
    assert_eq!(fallback.seen().len(), 1);
    let err = gate(Routes::new())
        .require(Action::new("deploy.push").actor("agent:ci"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Approver { message, .. } if message.contains("no approver")),
        "{err}"
    );
}
