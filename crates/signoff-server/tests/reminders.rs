//! Reminders, escalation and break-glass notices from the dispatcher
//! (DESIGN §13) on a fake Slack Web API: each is a reply in the request's
//! thread (`chat.postMessage` with `thread_ts`), never a new message, sent
//! at the right times of a clock the test moves.
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
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use signoff::clock::ManualClock;
use signoff::{
    Action, ApprovalStore, Gate, JsonlSink, MemoryStore, Policy, Queue, Submission, Vote,
};
use signoff_server::{DispatchConfig, Dispatcher};
use signoff_slack::{SlackApp, SlackConfig};

const POLICY: &str = r#"
[policy]
break_glass = { approvers = "oncall" }
[groups]
owners = ["user:carol@example.com"]
sre = ["user:erin@example.com", "user:frank@example.com"]
oncall = ["user:olga@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
timeout = "2h"
remind_every = "10m"
escalate_after = "25m"
escalate_to = "sre"
[[rules]]
id = "deploy"
effect = "approve"
actions = ["deploy.push"]
approvers = "owners"
"#;

const MIN: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(String, Value)>>,
}

async fn api(State(fake): State<Arc<Fake>>, Path(method): Path<String>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.calls.lock().unwrap().push((method.clone(), body));
    if method == "chat.postMessage" {
        return axum::Json(json!({"ok": true, "channel": "C123", "ts": "1700000000.000100"}))
            .into_response();
    }
    axum::Json(json!({"ok": true})).into_response()
}

struct Setup {
    fake: Arc<Fake>,
    clock: ManualClock,
    agent: Gate,
    server: Gate,
    trail: std::path::PathBuf,
    _dispatcher: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let fake = Arc::new(Fake::default());
        let app = Router::new()
            .route("/api/{method}", post(api))
            .with_state(Arc::clone(&fake));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "xoxb-test\n").unwrap();
        std::fs::write(dir.path().join("secret"), "secret").unwrap();
        let slack = SlackApp::new(SlackConfig {
            api_base: format!("{url}/api"),
            bot_token_file: Some(dir.path().join("token").display().to_string()),
            signing_secret_file: Some(dir.path().join("secret").display().to_string()),
            default_channel: "#approvals".into(),
            ..SlackConfig::default()
        })
        .unwrap();
        let store: Arc<dyn ApprovalStore> = Arc::new(MemoryStore::new());
        let clock = ManualClock::new();
        let trail = dir.path().join("server.jsonl");
        let policy = Policy::from_toml_str(POLICY).unwrap();
        // the agent: nothing posts from it; the server's dispatcher does
        let agent = Gate::builder()
            .policy(policy.clone())
            .approver(Queue)
            .store_arc(Arc::clone(&store))
            .clock(clock.clone())
            .build()
            .unwrap();
        let server = Gate::builder()
            .policy(policy)
            .approver(slack.approver())
            .store_arc(store)
            .audit(JsonlSink::open(&trail).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap();
        let dispatcher = Dispatcher::new(
            server.clone(),
            Arc::new(slack.approver()),
            DispatchConfig {
                replica: "test".into(),
                lease: Duration::from_secs(30),
                poll: Duration::from_millis(20),
            },
        )
        .spawn();
        Setup {
            fake,
            clock,
            agent,
            server,
            trail,
            _dispatcher: dispatcher,
            _dir: dir,
        }
    }

    fn posts(&self) -> Vec<Value> {
        self.fake
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == "chat.postMessage")
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn replies(&self) -> Vec<Value> {
        self.posts()
            .into_iter()
            .filter(|p| p.get("thread_ts").is_some())
            .collect()
    }

    /// Waits until there are `n` posts (the first is the message itself).
    async fn wait_posts(&self, n: usize) -> Vec<Value> {
        for _ in 0..500 {
            let posts = self.posts();
            if posts.len() >= n {
                return posts;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} posts: {:?}", self.posts());
    }

    /// Lets the dispatcher run a few rounds and checks nothing more was posted.
    async fn still(&self, n: usize) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(self.posts().len(), n, "{:?}", self.posts());
    }

    fn events(&self, event: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.trail)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["event"] == event)
            .collect()
    }
}

async fn pending(gate: &Gate, action: Action) -> String {
    match gate.submit(action).await.unwrap() {
        Submission::Pending { request_id } => request_id,
        Submission::Permitted(_) => panic!("expected pending"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_come_every_remind_every_as_thread_replies_until_it_resolves() {
    let s = Setup::new().await;
    let id = pending(
        &s.agent,
        Action::new("db.export")
            .actor("agent:bot")
            .args(json!({"rows": 9})),
    )
    .await;
    let first = s.wait_posts(1).await;
    assert!(first[0].get("thread_ts").is_none(), "the request itself");
    s.still(1).await;
    // 9 minutes: nothing yet; 10: the first reminder, in the thread
    s.clock.advance(9 * MIN);
    s.still(1).await;
    s.clock.advance(MIN);
    let posts = s.wait_posts(2).await;
    let reply = &posts[1];
    assert_eq!(reply["thread_ts"], "1700000000.000100");
    assert_eq!(reply["channel"], "C123");
    assert!(
        reply["text"].as_str().unwrap().starts_with("Reminder:"),
        "{reply}"
    );
    assert!(
        reply.get("blocks").is_none(),
        "a reply, not a new request message"
    );
    s.still(2).await;
    // the next one 10 minutes after the first, not before
    s.clock.advance(9 * MIN);
    s.still(2).await;
    s.clock.advance(MIN);
    s.wait_posts(3).await;
    // 25 minutes: escalated to sre, told in the thread, audited once
    s.clock.advance(5 * MIN);
    let posts = s.wait_posts(4).await;
    let escalated = posts.last().unwrap();
    assert_eq!(escalated["thread_ts"], "1700000000.000100");
    let text = escalated["text"].as_str().unwrap();
    assert!(
        text.starts_with("Escalated:") && text.contains("user:erin@example.com"),
        "{text}"
    );
    s.still(4).await;
    assert_eq!(s.events("approval.escalated").len(), 1);
    // an sre member's vote now counts and resolves it; no reminder after
    s.server
        .vote(&id, Vote::approve("user:erin@example.com"))
        .await
        .unwrap();
    s.clock.advance(30 * MIN);
    s.still(4).await;
    assert_eq!(s.replies().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_break_glass_approval_is_announced_in_the_thread() {
    let s = Setup::new().await;
    let id = pending(&s.agent, Action::new("deploy.push").actor("agent:ci")).await;
    s.wait_posts(1).await;
    // a rule without remind_every is never reminded
    s.clock.advance(60 * MIN);
    s.still(1).await;
    s.server
        .vote(
            &id,
            Vote::break_glass("user:olga@example.com", "INC-7: prod is down"),
        )
        .await
        .unwrap();
    let posts = s.wait_posts(2).await;
    let text = posts[1]["text"].as_str().unwrap();
    assert_eq!(posts[1]["thread_ts"], "1700000000.000100");
    assert!(
        text.starts_with("Break-glass:")
            && text.contains("user:olga@example.com")
            && text.contains("INC-7"),
        "{text}"
    );
    s.server.close().await.unwrap();
    assert_eq!(s.events("approval.break_glass").len(), 1);
}
