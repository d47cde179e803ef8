//! The Slack approver against a local fake Slack Web API that records calls.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use signoff::{
    Action, ApprovalStore, Error, Gate, JsonlSink, MemoryStore, Outcome, Policy, RequestStatus,
    Submission,
};
use signoff_slack::{SlackApp, SlackConfig, signature};

const SECRET: &str = "slack-signing-secret-for-tests";

const POLICY: &str = r#"
[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com"]
[[rules]]
id = "prod-export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
min_approvals = 2
redact = ["args.password"]
risk = "high"
reason = "bulk export of production data"
"#;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(String, Value)>>,
    /// answers to give `chat.postMessage` before succeeding
    fail_post: Mutex<Vec<u16>>,
    /// answers to give `chat.update` before succeeding
    fail_update: Mutex<Vec<u16>>,
    /// how long `chat.update` takes (recorded once it is done)
    update_delay: Duration,
    /// how long the `response_url` takes (recorded once it is done)
    respond_delay: Duration,
}

fn next_failure(queue: &Mutex<Vec<u16>>) -> Option<Response> {
    let code = {
        let mut q = queue.lock().unwrap();
        if q.is_empty() {
            return None;
        }
        q.remove(0)
    };
    let mut r = (StatusCode::from_u16(code).unwrap(), "busy").into_response();
    if code == 429 {
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
    }
    Some(r)
}

async fn api(
    State(fake): State<Arc<Fake>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    assert_eq!(
        headers["authorization"].to_str().unwrap(),
        "Bearer xoxb-test-token"
    );
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if method == "chat.update" {
        tokio::time::sleep(fake.update_delay).await;
    }
    fake.calls.lock().unwrap().push((method.clone(), body));
    if method == "chat.postMessage" {
        if let Some(r) = next_failure(&fake.fail_post) {
            return r;
        }
        return axum::Json(json!({"ok": true, "channel": "C123", "ts": "1700000000.000100"}))
            .into_response();
    }
    if method == "chat.update"
        && let Some(r) = next_failure(&fake.fail_update)
    {
        return r;
    }
    axum::Json(json!({"ok": true})).into_response()
}

async fn users_info(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    fake.calls
        .lock()
        .unwrap()
        .push(("users.info".into(), json!(q)));
    let email = match q.get("user").map(String::as_str) {
        Some("U_CAROL") => "Carol@Example.com",
        Some("U_DAN") => "dan@example.com",
        Some("U_ALICE") => "alice@example.com",
        Some("U_ERIN") => "erin@example.com",
        _ => return axum::Json(json!({"ok": false, "error": "user_not_found"})).into_response(),
    };
    axum::Json(json!({"ok": true, "user": {"profile": {"email": email}}})).into_response()
}

async fn respond(State(fake): State<Arc<Fake>>, body: Bytes) -> StatusCode {
    tokio::time::sleep(fake.respond_delay).await;
    fake.calls.lock().unwrap().push((
        "response_url".into(),
        serde_json::from_slice(&body).unwrap(),
    ));
    StatusCode::OK
}

struct Setup {
    fake: Arc<Fake>,
    gate: Gate,
    slack: Arc<SlackApp>,
    base: String,
    trail: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A local fake Slack Web API (and `response_url`), and its address.
async fn fake_slack(fake: Fake) -> (Arc<Fake>, String) {
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/api/users.info", get(users_info))
        .route("/api/{method}", post(api))
        .route("/respond", post(respond))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, fake_url)
}

/// A Slack app on the fake, as every process of a deployment configures it.
fn slack_app(fake_url: &str, dir: &std::path::Path, timeout_ms: u64) -> Arc<SlackApp> {
    std::fs::write(dir.join("token"), "xoxb-test-token\n").unwrap();
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    SlackApp::new(SlackConfig {
        api_base: format!("{fake_url}/api"),
        bot_token_file: Some(dir.join("token").display().to_string()),
        signing_secret_file: Some(dir.join("secret").display().to_string()),
        default_channel: "#approvals".into(),
        page_url: Some("https://approvals.example.com".into()),
        timeout_ms,
        ..SlackConfig::default()
    })
    .unwrap()
}

/// Serves `routes` on a local port; its base URL.
async fn serve(routes: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes).await });
    base
}

async fn setup(fail_post: Vec<u16>) -> Setup {
    setup_with(
        Fake {
            fail_post: Mutex::new(fail_post),
            ..Fake::default()
        },
        2000,
        Arc::new(MemoryStore::new()),
    )
    .await
}

async fn setup_with(fake: Fake, timeout_ms: u64, store: Arc<dyn ApprovalStore>) -> Setup {
    let (fake, fake_url) = fake_slack(fake).await;
    let dir = tempfile::tempdir().unwrap();
    let slack = slack_app(&fake_url, dir.path(), timeout_ms);
    let trail = dir.path().join("audit.jsonl");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(slack.approver())
        .store_arc(store)
        .audit(JsonlSink::open(&trail).unwrap())
        .build()
        .unwrap();
    let base = serve(slack.routes(gate.clone())).await;
    Setup {
        fake,
        gate,
        slack,
        base: format!("{base}|{fake_url}"),
        trail,
        _dir: dir,
    }
}

impl Setup {
    fn server(&self) -> &str {
        self.base.split('|').next().unwrap()
    }
    fn fake_url(&self) -> &str {
        self.base.split('|').nth(1).unwrap()
    }
    fn calls(&self, method: &str) -> Vec<Value> {
        self.fake
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, b)| b.clone())
            .collect()
    }
    /// The calls of `method` once there are at least `n` (within 15 s).
    async fn wait_calls(&self, method: &str, n: usize) -> Vec<Value> {
        for _ in 0..1500 {
            let calls = self.calls(method);
            if calls.len() >= n {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} {method} calls: {:?}", self.calls(method));
    }
    /// A button click, as Slack sends it.
    fn click(&self, user: &str, action: &str, value: &str, comment: Option<&str>) -> String {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user},
            "actions": [{"action_id": action, "value": value}],
            "state": {"values": {"comment": {"comment": {"value": comment}}}},
            "response_url": format!("{}/respond", self.fake_url()),
        });
        let mut encoded = String::new();
        for b in payload.to_string().bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    encoded.push(b as char)
                }
                _ => encoded.push_str(&format!("%{b:02X}")),
            }
        }
        format!("payload={encoded}")
    }
    async fn send(&self, body: String, ts: Option<i64>, secret: &str) -> StatusCode {
        let ts = ts.unwrap_or_else(now).to_string();
        let sig = signature::sign(secret, &ts, body.as_bytes());
        reqwest::Client::new()
            .post(format!("{}/slack/interactivity", self.server()))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.trail)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn export(id: &str) -> Action {
    Action::new("db.export")
        .id(id)
        .actor("agent:billing-bot")
        .on_behalf_of("user:alice@example.com")
        .resource("postgres://prod/customers")
        .env("prod")
        .justification("monthly churn report")
        .args(json!({"rows": 50000, "password": "hunter2"}))
}

async fn pending(
    s: &Setup,
    id: &str,
) -> (
    tokio::task::JoinHandle<Result<signoff::Permit, Error>>,
    String,
    String,
) {
    let waiting = tokio::spawn({
        let gate = s.gate.clone();
        let a = export(id);
        async move { gate.require(a).await }
    });
    for _ in 0..200 {
        if let Some(r) = s.gate.store().get_by_action(id).await.unwrap()
            && !s.calls("chat.postMessage").is_empty()
        {
            return (waiting, r.id, r.args_digest);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never posted");
}

#[test]
fn slacks_documented_example_signature_verifies() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let ts = "1531420618";
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert_eq!(signature::sign(secret, ts, body.as_bytes()), expected);
    assert!(
        signature::verify(
            secret,
            Some(ts),
            Some(expected),
            body.as_bytes(),
            1531420618 + 60
        )
        .is_ok()
    );
    assert_eq!(
        signature::verify(
            secret,
            Some(ts),
            Some(expected),
            body.as_bytes(),
            1531420618 + 301
        ),
        Err(signature::SignatureError::Stale)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_click_approves_the_message_updates_and_a_second_click_counts_once() {
    let s = setup(vec![]).await;
    let (waiting, request_id, digest) = pending(&s, "a-1").await;
    let post = &s.calls("chat.postMessage")[0];
    let text = post["blocks"].to_string();
    for needle in [
        "db.export",
        "agent:billing-bot",
        "user:alice@example.com",
        "postgres://prod/customers",
        "monthly churn report",
        "bulk export of production data",
        "high",
        "2 of data-owners",
        "redacted:ephemeral-",
    ] {
        assert!(text.contains(needle), "the message lacks {needle}");
    }
    assert!(!text.contains("hunter2"), "a redacted value reached Slack");
    assert_eq!(post["channel"], "#approvals");
    let value = format!("{request_id}|{digest}");
    assert_eq!(
        s.send(
            s.click("U_CAROL", "signoff_approve", &value, Some("ok for finance")),
            None,
            SECRET
        )
        .await,
        StatusCode::OK
    );
    // carol clicks again: counted once
    assert_eq!(
        s.send(
            s.click("U_CAROL", "signoff_approve", &value, None),
            None,
            SECRET
        )
        .await,
        StatusCode::OK
    );
    let req = s.gate.request(&request_id).await.unwrap();
    assert_eq!(req.votes.len(), 1);
    assert_eq!(
        req.votes[0].voter, "user:carol@example.com",
        "looked up by e-mail, lowercased"
    );
    assert_eq!(req.votes[0].comment.as_deref(), Some("ok for finance"));
    let updates = s.wait_calls("chat.update", 1).await;
    assert_eq!(updates[0]["ts"], "1700000000.000100");
    assert!(
        updates[0]["blocks"].to_string().contains("signoff_approve"),
        "buttons stay while pending"
    );
    // dan approves: resolved, the buttons disappear, the agent gets its permit
    s.send(
        s.click("U_DAN", "signoff_approve", &value, None),
        None,
        SECRET,
    )
    .await;
    let permit = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(permit.approved_by().len(), 2);
    permit.complete(Outcome::success()).await.unwrap();
    let last = s
        .wait_calls("chat.update", 2)
        .await
        .last()
        .cloned()
        .unwrap();
    assert!(
        !last["blocks"].to_string().contains("signoff_approve"),
        "no buttons once resolved"
    );
    assert!(last["blocks"].to_string().contains("Resolved: approved"));
    let users_info = s.calls("users.info").len();
    assert_eq!(users_info, 2, "lookups are cached");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_are_refused_before_parsing_and_audited() {
    let s = setup(vec![]).await;
    let (_waiting, request_id, digest) = pending(&s, "a-2").await;
    let value = format!("{request_id}|{digest}");
    let click = || s.click("U_CAROL", "signoff_approve", &value, None);
    // wrong secret
    assert_eq!(
        s.send(click(), None, "not-the-secret").await,
        StatusCode::UNAUTHORIZED
    );
    // a timestamp older than 5 minutes
    assert_eq!(
        s.send(click(), Some(now() - 301), SECRET).await,
        StatusCode::UNAUTHORIZED
    );
    // a body changed after signing
    let ts = now().to_string();
    let sig = signature::sign(SECRET, &ts, click().as_bytes());
    let forged = click().replace("U_CAROL", "U_DAN");
    let r = reqwest::Client::new()
        .post(format!("{}/slack/interactivity", s.server()))
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", sig)
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // missing headers
    let r = reqwest::Client::new()
        .post(format!("{}/slack/interactivity", s.server()))
        .body(click())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        s.gate.request(&request_id).await.unwrap().votes.is_empty(),
        "nothing was counted"
    );
    assert!(
        s.calls("users.info").is_empty(),
        "nothing was read from Slack either"
    );
    let outcomes: Vec<String> = s
        .events()
        .iter()
        .filter(|e| e["event"] == "approval.vote_rejected")
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        outcomes,
        [
            "bad_signature",
            "stale_timestamp",
            "bad_signature",
            "missing_signature"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_outsiders_and_the_launcher_get_an_ephemeral_reason_and_are_audited() {
    let s = setup(vec![]).await;
    let (_waiting, request_id, digest) = pending(&s, "a-3").await;
    let value = format!("{request_id}|{digest}");
    for user in ["U_NOBODY", "U_ERIN", "U_ALICE"] {
        assert_eq!(
            s.send(s.click(user, "signoff_approve", &value, None), None, SECRET)
                .await,
            StatusCode::OK
        );
    }
    let replies: Vec<String> = s
        .wait_calls("response_url", 3)
        .await
        .iter()
        .map(|r| {
            assert_eq!(r["response_type"], "ephemeral");
            r["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(replies[0].contains("not linked"), "{replies:?}");
    assert!(replies[1].contains("not in data-owners"), "{replies:?}");
    assert!(replies[2].contains("cannot vote"), "{replies:?}");
    let req = s.gate.request(&request_id).await.unwrap();
    assert!(req.votes.is_empty());
    assert_eq!(req.status, RequestStatus::Pending);
    let outcomes: Vec<String> = s
        .events()
        .iter()
        .filter(|e| e["event"] == "approval.vote_rejected")
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["unknown_user", "not_eligible", "self_approval"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_answering_500_then_429_is_retried_and_slack_down_fails_closed() {
    // 500, then 429 with Retry-After: 1, then success
    let s = setup(vec![500, 429]).await;
    let Submission::Pending { request_id } = s.gate.submit(export("a-4")).await.unwrap() else {
        panic!()
    };
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(s.calls("chat.postMessage").len(), 3);
    assert_eq!(
        s.gate.request(&request_id).await.unwrap().status,
        RequestStatus::Pending
    );
    // always failing: retries, then the request fails closed with a clear error
    let s = setup(vec![503, 503, 503]).await;
    let err = s.gate.require(export("a-5")).await.unwrap_err();
    let Error::Approver { message, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        message.contains("chat.postMessage answered 503") && message.contains("3 attempt"),
        "{message}"
    );
    assert!(!message.contains("xoxb-test-token"));
    let r = s.gate.store().get_by_action("a-5").await.unwrap().unwrap();
    assert_eq!(r.status, RequestStatus::Cancelled);
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "xoxb-debug-token\n").unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    let cfg = SlackConfig {
        bot_token_file: Some(dir.path().join("token").display().to_string()),
        signing_secret_file: Some(dir.path().join("secret").display().to_string()),
        default_channel: "#approvals".into(),
        ..SlackConfig::default()
    };
    let app = SlackApp::new(cfg.clone()).unwrap();
    for shown in [format!("{cfg:?}"), format!("{app:?}")] {
        assert!(!shown.contains("xoxb-debug-token"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }
    assert!(format!("{app:?}").contains("<secret>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_answers_within_three_seconds_while_slack_is_slow_and_the_update_and_refusal_follow()
 {
    let s = setup_with(
        Fake {
            update_delay: Duration::from_secs(5),
            respond_delay: Duration::from_secs(4),
            ..Fake::default()
        },
        10_000,
        Arc::new(MemoryStore::new()),
    )
    .await;
    let (_waiting, request_id, digest) = pending(&s, "slow-1").await;
    let value = format!("{request_id}|{digest}");
    // a counted vote: answered at once, the update follows
    let started = std::time::Instant::now();
    let status = s
        .send(
            s.click("U_CAROL", "signoff_approve", &value, None),
            None,
            SECRET,
        )
        .await;
    let answered = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(
        answered < Duration::from_secs(3),
        "answered after {answered:?}"
    );
    assert_eq!(
        s.gate.request(&request_id).await.unwrap().votes.len(),
        1,
        "counted before the answer"
    );
    assert!(
        s.calls("chat.update").is_empty(),
        "the slow update is not done yet"
    );
    // an outsider: refused at once, told why afterwards
    let started = std::time::Instant::now();
    let status = s
        .send(
            s.click("U_ERIN", "signoff_approve", &value, None),
            None,
            SECRET,
        )
        .await;
    let answered = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(
        answered < Duration::from_secs(3),
        "answered after {answered:?}"
    );
    assert!(
        s.calls("response_url").is_empty(),
        "the slow reply is not done yet"
    );
    let replies = s.wait_calls("response_url", 1).await;
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("not in data-owners"),
        "{replies:?}"
    );
    assert_eq!(replies[0]["response_type"], "ephemeral");
    let updates = s.wait_calls("chat.update", 1).await;
    assert_eq!(updates[0]["ts"], "1700000000.000100");
    assert!(
        updates[0]["blocks"]
            .to_string()
            .contains("user:carol@example.com")
    );
    // the gate and the endpoint both refresh after a vote: one update is sent
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.calls("chat.update").len(),
        1,
        "the same view is not sent twice"
    );
    let stored = s.gate.store().get(&request_id).await.unwrap().unwrap();
    assert!(
        stored
            .deliveries
            .iter()
            .all(|d| d.shown_version >= stored.version),
        "the delivery is marked shown: {stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_posted_by_one_process_is_updated_by_another_from_the_stored_reference() {
    let store: Arc<dyn ApprovalStore> = Arc::new(MemoryStore::new());
    // process A: the agent's gate posts the request, and takes no callbacks
    let a = setup_with(Fake::default(), 2000, Arc::clone(&store)).await;
    // process B: a server with the same Slack config and the same store
    let dir = tempfile::tempdir().unwrap();
    let slack_b = slack_app(a.fake_url(), dir.path(), 2000);
    let gate_b = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(slack_b.approver())
        .store_arc(Arc::clone(&store))
        .build()
        .unwrap();
    let server_b = serve(slack_b.routes(gate_b.clone())).await;
    let (waiting, request_id, digest) = pending(&a, "two-1").await;
    // the message's reference is in the store, not in A's memory
    let stored = store.get(&request_id).await.unwrap().unwrap();
    assert_eq!(stored.deliveries.len(), 1);
    assert_eq!(stored.deliveries[0].channel, "slack");
    assert_eq!(
        stored.deliveries[0].reference,
        json!({"channel": "C123", "ts": "1700000000.000100"})
    );
    let value = format!("{request_id}|{digest}");
    let click_b = |user: &str| {
        let body = a.click(user, "signoff_approve", &value, None);
        let ts = now().to_string();
        let sig = signature::sign(SECRET, &ts, body.as_bytes());
        reqwest::Client::new()
            .post(format!("{server_b}/slack/interactivity"))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    };
    assert_eq!(click_b("U_CAROL").await.unwrap().status(), StatusCode::OK);
    let updates = a.wait_calls("chat.update", 1).await;
    assert_eq!(updates[0]["channel"], "C123");
    assert_eq!(updates[0]["ts"], "1700000000.000100");
    assert!(
        updates[0]["blocks"]
            .to_string()
            .contains("user:carol@example.com")
    );
    assert!(updates[0]["blocks"].to_string().contains("signoff_approve"));
    // the second approval resolves it: B shows the resolution, A gets its permit
    assert_eq!(click_b("U_DAN").await.unwrap().status(), StatusCode::OK);
    let permit = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let last = a
        .wait_calls("chat.update", 2)
        .await
        .last()
        .cloned()
        .unwrap();
    let blocks = last["blocks"].to_string();
    assert!(blocks.contains("Resolved: approved"), "{blocks}");
    assert!(
        blocks.contains("user:dan@example.com"),
        "who approved: {blocks}"
    );
    assert!(
        !blocks.contains("signoff_approve"),
        "no buttons once resolved"
    );
    assert_eq!(a.calls("chat.postMessage").len(), 1, "B posted nothing");
    permit.complete(Outcome::success()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_request_loses_its_buttons_and_says_so() {
    let s = setup(vec![]).await;
    let (_waiting, request_id, _) = pending(&s, "c-1").await;
    s.gate.cancel(&request_id, "withdrawn").await.unwrap();
    let last = s
        .wait_calls("chat.update", 1)
        .await
        .last()
        .cloned()
        .unwrap();
    let blocks = last["blocks"].to_string();
    assert!(blocks.contains("Resolved: cancelled"), "{blocks}");
    assert!(!blocks.contains("signoff_approve") && !blocks.contains("signoff_deny"));
    assert!(
        !blocks.contains("\"input\""),
        "no comment field once resolved"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_update_stays_behind_and_the_next_refresh_redoes_it() {
    // the gate and the endpoint each refresh after the vote, 3 attempts
    // each: all of them fail
    let s = setup_with(
        Fake {
            fail_update: Mutex::new(vec![503; 6]),
            ..Fake::default()
        },
        2000,
        Arc::new(MemoryStore::new()),
    )
    .await;
    let (_waiting, request_id, digest) = pending(&s, "f-1").await;
    let value = format!("{request_id}|{digest}");
    s.send(
        s.click("U_CAROL", "signoff_deny", &value, Some("not now")),
        None,
        SECRET,
    )
    .await;
    // the clicker hears that their vote counted but the message lags
    let replies = s.wait_calls("response_url", 1).await;
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("could not be updated yet"),
        "{replies:?}"
    );
    let behind = s.gate.store().get(&request_id).await.unwrap().unwrap();
    assert!(
        behind.deliveries[0].shown_version < behind.version,
        "still behind"
    );
    // the next refresh (a dispatcher's, or the next vote's) redoes it
    s.gate
        .refresh_deliveries(&s.slack.approver(), &request_id)
        .await
        .unwrap();
    let last = s.calls("chat.update").last().cloned().unwrap();
    let blocks = last["blocks"].to_string();
    assert!(blocks.contains("Resolved: denied"), "{blocks}");
    assert!(blocks.contains("not now"), "why: {blocks}");
    let shown = s.gate.store().get(&request_id).await.unwrap().unwrap();
    assert!(shown.deliveries[0].shown_version >= shown.version);
}

const GRANT_POLICY: &str = r#"
[groups]
data-owners = ["user:carol@example.com", "user:dan@example.com"]
[[rules]]
id = "prod-export"
effect = "approve"
actions = ["db.export"]
approvers = "data-owners"
max_grant = "1h"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_grant_choice_is_offered_up_to_max_grant_and_read_with_the_approve_click() {
    let (fake, fake_url) = fake_slack(Fake::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let slack = slack_app(&fake_url, dir.path(), 2000);
    let trail = dir.path().join("audit.jsonl");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(GRANT_POLICY).unwrap())
        .approver(slack.approver())
        .audit(JsonlSink::open(&trail).unwrap())
        .build()
        .unwrap();
    let base = serve(slack.routes(gate.clone())).await;
    let s = Setup {
        fake,
        gate,
        slack,
        base: format!("{base}|{fake_url}"),
        trail,
        _dir: dir,
    };
    let (waiting, request_id, digest) = pending(&s, "g-1").await;
    let post = &s.calls("chat.postMessage")[0];
    signoff_slack::limits::check_message(post).unwrap();
    let choice = post["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "grant")
        .expect("a grant choice")
        .clone();
    assert_eq!(choice["element"]["type"], "static_select");
    let values: Vec<&str> = choice["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["none", "15m", "30m", "1h"],
        "nothing past max_grant"
    );
    // carol picks 30 minutes and approves
    let value = format!("{request_id}|{digest}");
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U_CAROL"},
        "actions": [{"action_id": "signoff_approve", "value": value}],
        "state": {"values": {"grant": {"grant": {"type": "static_select", "selected_option": {"value": "30m"}}}}},
        "response_url": format!("{}/respond", s.fake_url()),
    });
    let mut encoded = String::new();
    for b in payload.to_string().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(b as char)
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    assert_eq!(
        s.send(format!("payload={encoded}"), None, SECRET).await,
        StatusCode::OK
    );
    let permit = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    permit.complete(Outcome::success()).await.unwrap();
    let grants = s.gate.grants().await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].expires_at - grants[0].created_at,
        chrono::Duration::minutes(30)
    );
    // the same action again is permitted at once, with no new message
    let posts = s.calls("chat.postMessage").len();
    match s.gate.submit(export("g-2")).await.unwrap() {
        Submission::Permitted(p) => p.complete(Outcome::success()).await.unwrap(),
        Submission::Pending { .. } => panic!("the grant should cover it"),
    }
    assert_eq!(s.calls("chat.postMessage").len(), posts);
    let _ = &s.slack;
}
