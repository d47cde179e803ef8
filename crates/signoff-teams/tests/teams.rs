//! The Teams approver against a local Workflows webhook receiver.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use signoff::{Action, Error, Gate, Policy, RequestStatus, Submission};
use signoff_teams::card::{approval_card, validate};
use signoff_teams::{TeamsApprover, TeamsConfig};

#[derive(Default)]
struct Receiver {
    bodies: Mutex<Vec<Value>>,
    answers: Mutex<Vec<u16>>,
}

async fn hook(State(r): State<Arc<Receiver>>, body: Bytes) -> Response {
    r.bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    let next = {
        let mut a = r.answers.lock().unwrap();
        if a.is_empty() { 202 } else { a.remove(0) }
    };
    let mut resp = StatusCode::from_u16(next).unwrap().into_response();
    if next == 429 {
        resp.headers_mut()
            .insert("retry-after", "1".parse().unwrap());
    }
    resp
}

async fn setup(answers: Vec<u16>) -> (Arc<Receiver>, Gate, tempfile::TempDir) {
    let rx = Arc::new(Receiver {
        answers: Mutex::new(answers),
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/workflows/T0/secret-trigger", post(hook))
        .with_state(Arc::clone(&rx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/workflows/T0/secret-trigger",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("url"), &url).unwrap();
    let teams = TeamsApprover::new(TeamsConfig {
        webhook_url_env: None,
        webhook_url_file: Some(dir.path().join("url").display().to_string()),
        page_url: "https://approvals.example.com".into(),
        timeout_ms: 1000,
        attempts: 3,
    })
    .unwrap();
    let policy = Policy::from_toml_str(
        "[groups]\nowners = [\"user:carol@example.com\"]\n[[rules]]\nid = \"export\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"owners\"\nredact = [\"args.password\"]\nrisk = \"high\"\nreason = \"bulk export\"\n",
    )
    .unwrap();
    let gate = Gate::builder()
        .policy(policy)
        .approver(teams)
        .build()
        .unwrap();
    (rx, gate, dir)
}

fn export(id: &str) -> Action {
    Action::new("db.export")
        .id(id)
        .actor("agent:bot")
        .on_behalf_of("user:alice@example.com")
        .resource("postgres://prod/customers")
        .justification("churn report")
        .args(json!({"rows": 5, "password": "hunter2"}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_card_with_the_context_and_links_to_the_page_is_posted() {
    let (rx, gate, _dir) = setup(vec![]).await;
    let Submission::Pending { request_id } = gate.submit(export("t-1")).await.unwrap() else {
        panic!()
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = rx.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["version"], "1.5");
    validate(card).unwrap();
    let text = card.to_string();
    for needle in [
        "db.export",
        "agent:bot",
        "user:alice@example.com",
        "postgres://prod/customers",
        "churn report",
        "bulk export",
        "high",
        "1 of owners",
        "redacted:ephemeral-",
    ] {
        assert!(text.contains(needle), "the card lacks {needle}");
    }
    assert!(!text.contains("hunter2"));
    let link = format!("https://approvals.example.com/requests/{request_id}");
    let urls: Vec<&str> = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, [link.as_str(), link.as_str()]);
    // the post is recorded in the store, for every process to see
    let mut stored = gate.store().get(&request_id).await.unwrap().unwrap();
    for _ in 0..100 {
        if !stored.deliveries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        stored = gate.store().get(&request_id).await.unwrap().unwrap();
    }
    assert_eq!(stored.deliveries.len(), 1);
    assert_eq!(stored.deliveries[0].channel, "teams");
    assert!(stored.deliveries[0].reference["delivery_id"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_receiver_is_retried_and_a_failing_one_fails_closed() {
    let (rx, gate, _dir) = setup(vec![500, 429]).await;
    let Submission::Pending { request_id } = gate.submit(export("t-2")).await.unwrap() else {
        panic!()
    };
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(rx.bodies.lock().unwrap().len(), 3);
    assert_eq!(
        gate.request(&request_id).await.unwrap().status,
        RequestStatus::Pending
    );

    let (_rx, gate, _dir) = setup(vec![503, 503, 503]).await;
    let err = gate.require(export("t-3")).await.unwrap_err();
    let Error::Approver { message, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        message.contains("503") && message.contains("3 attempt"),
        "{message}"
    );
    assert!(
        !message.contains("secret-trigger"),
        "the webhook URL is a secret: {message}"
    );
}

#[test]
fn cards_are_checked_against_the_version_they_declare() {
    let request: signoff::ApprovalRequest = serde_json::from_value(json!({
        "id": "r1", "action_id": "a1", "action": "db.export", "actor": "agent:bot", "on_behalf_of": null,
        "resource": null, "env": null, "args": {}, "justification": null, "context": {}, "args_digest": "blake3:x",
        "rules": ["export"], "reason": "why", "risk": null, "requirements": [{"group": "owners", "min": 1}],
        "allow_edit": false, "status": "pending", "votes": [], "created_at": "2026-11-21T00:00:00Z",
        "expires_at": "2026-11-21T01:00:00Z"
    }))
    .unwrap();
    let card = approval_card(&request, "https://approvals.example.com");
    validate(&card).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = card.clone();
        f(&mut c);
        validate(&c).unwrap_err()
    };
    // heading style is 1.5, action styles 1.2: a 1.0 card may not use them
    assert!(with(&|c| c["version"] = json!("1.0")).contains("needs Adaptive Cards 1.5"));
    assert!(with(&|c| c["version"] = json!("1.4")).contains("TextBlock.style"));
    assert!(with(&|c| c["version"] = json!("2.0")).contains("version"));
    assert!(with(&|c| c["body"][0]["text"] = json!("")).contains("`text`"));
    assert!(with(&|c| c["actions"][0]["url"] = json!("javascript:alert(1)")).contains("http(s)"));
    assert!(with(&|c| c["body"][1]["type"] = json!("Carousel")).contains("Carousel"));
    assert!(with(&|c| c["actions"][1]["style"] = json!("loud")).contains("style"));
    assert!(with(&|c| c["type"] = json!("Card")).contains("AdaptiveCard"));
}

#[test]
fn the_webhook_url_never_appears_in_debug_output() {
    let cfg = TeamsConfig {
        webhook_url_env: Some("X".into()),
        webhook_url_file: None,
        page_url: "https://p".into(),
        timeout_ms: 1,
        attempts: 1,
    };
    assert!(format!("{cfg:?}").contains("<hidden>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_is_a_valid_notice_card_linking_to_the_request() {
    let (rx, gate, dir) = setup(vec![]).await;
    let Submission::Pending { request_id } = gate.submit(export("t-9")).await.unwrap() else {
        panic!()
    };
    for _ in 0..100 {
        if !gate
            .store()
            .get(&request_id)
            .await
            .unwrap()
            .unwrap()
            .deliveries
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // what a dispatcher holding the same channel config does
    let teams = TeamsApprover::new(TeamsConfig {
        webhook_url_env: None,
        webhook_url_file: Some(dir.path().join("url").display().to_string()),
        page_url: "https://approvals.example.com".into(),
        timeout_ms: 1000,
        attempts: 1,
    })
    .unwrap();
    gate.notify_deliveries(&teams, &request_id, &signoff::Notice::Reminder)
        .await
        .unwrap();
    let bodies = rx.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "the request's card, then the notice");
    let card = &bodies[1]["attachments"][0]["content"];
    validate(card).unwrap();
    assert!(
        card["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Reminder: `db.export`")
    );
    assert_eq!(
        card["actions"][0]["url"],
        format!("https://approvals.example.com/requests/{request_id}")
    );
}
