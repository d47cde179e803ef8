//! Server-dispatched approvals across processes on one PostgreSQL database
//! (DESIGN §10): two agent processes and two `signoff serve` replicas post
//! 50 requests to a fake Slack Web API exactly once; Slack-signed clicks on
//! either replica count; a replica SIGKILLed after claiming a request and
//! before its post finished has the request posted by another replica once
//! the lease runs out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

const SECRET: &str = "dispatch-test-signing-secret";

mod common;

use common::{Killed, admin_url, binary};

/// A fake Slack Web API: records each call; `hang` makes chat.postMessage
/// never answer (a replica posting to it is stuck mid-post).
#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    hang: bool,
}

impl Fake {
    async fn start(hang: bool) -> (Fake, String) {
        let fake = Fake {
            hang,
            ..Fake::default()
        };
        let app = Router::new()
            .route("/api/{method}", post(answer))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, format!("http://{addr}/api"))
    }

    fn posts(&self) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == "chat.postMessage")
            .map(|(_, b)| b.clone())
            .collect()
    }

    async fn wait_posts(&self, n: usize, within: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let posts = self.posts();
            if posts.len() >= n {
                return posts;
            }
            assert!(
                started.elapsed() < within,
                "only {} of {n} posts",
                posts.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(
    State(fake): State<Fake>,
    axum::extract::Path(method): axum::extract::Path<String>,
    body: String,
) -> axum::Json<Value> {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(json!({ "raw": body }));
    let n = {
        let mut calls = fake.calls.lock().unwrap();
        calls.push((method.clone(), parsed));
        calls.len()
    };
    if fake.hang && method == "chat.postMessage" {
        std::future::pending::<()>().await;
    }
    axum::Json(match method.as_str() {
        "chat.postMessage" => json!({"ok": true, "channel": "C1", "ts": format!("1.{n:06}")}),
        _ => json!({"ok": true}),
    })
}

/// The `request_id|args_digest` value of a post's approve button.
fn button(post: &Value) -> String {
    post["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "signoff_approve")
        .and_then(|e| e["value"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no approve button: {post}"))
}

fn serve(signoff: &Path, config: &Path) -> (Killed, String) {
    common::serve(
        signoff,
        config,
        &[
            ("SIGNOFF_TEST_SLACK_TOKEN", "xoxb-test"),
            ("SIGNOFF_TEST_SLACK_SECRET", SECRET),
        ],
    )
}

async fn click(server: &str, value: &str) -> reqwest::StatusCode {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U1"},
        "actions": [{"action_id": "signoff_approve", "value": value}],
    });
    let mut encoded = String::from("payload=");
    for b in payload.to_string().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(b as char)
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{encoded}").as_bytes());
    let sig = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(format!("{server}/slack/interactivity"))
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded)
        .send()
        .await
        .unwrap()
        .status()
}

fn config(db: &str, stream: &str, slack: &str, lease: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\npolicy = \"policy.toml\"\nstore = \"{db}\"\naudit = [\"{db}\"]\nstream = \"{stream}\"\napprover = \"server\"\n\
         [dispatch]\nlease = \"{lease}\"\nmax_silence = \"10s\"\n\
         [slack]\napi_base = \"{slack}\"\nbot_token_env = \"SIGNOFF_TEST_SLACK_TOKEN\"\nsigning_secret_env = \"SIGNOFF_TEST_SLACK_SECRET\"\n\
         default_channel = \"#approvals\"\nlookup_emails = false\nattempts = 1\ntimeout_ms = 60000\n\
         [slack.users]\nU1 = \"user:carol@example.com\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_post_each_request_once_and_take_over_a_dead_replicas_claim() {
    let Some(admin) = admin_url("the dispatch test") else {
        return;
    };
    let name = format!("signoff_dispatch_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let db = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let signoff = binary("signoff", &["build", "-q", "-p", "signoff-cli"]);
    let agent_bin = binary(
        "examples/signoff_agent",
        &["build", "-q", "--example", "signoff_agent"],
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[groups]\nowners = [\"user:carol@example.com\"]\n\
         [[rules]]\nid = \"export\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"owners\"\n",
    )
    .unwrap();
    let (slack, slack_url) = Fake::start(false).await;
    let (stuck, stuck_url) = Fake::start(true).await;
    let write = |file: &str, text: String| {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        path
    };
    let a = write("a.toml", config(&db, "server-a", &slack_url, "3s"));
    let b = write("b.toml", config(&db, "server-b", &slack_url, "3s"));
    let (server_a, url_a) = serve(&signoff, &a);
    let (server_b, url_b) = serve(&signoff, &b);
    // the agents read the same kind of file (they ignore `listen` and [slack])
    let agent = |config: &Path, ids: Vec<String>| {
        let mut child = Command::new(&agent_bin)
            .args(["require", "--config"])
            .arg(config)
            .args(ids)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        (Killed(child), BufReader::new(out))
    };
    let ids1: Vec<String> = (0..25).map(|i| format!("one-{i}")).collect();
    let ids2: Vec<String> = (0..25).map(|i| format!("two-{i}")).collect();
    let agent_1 = write("agent-1.toml", config(&db, "agent-1", &slack_url, "3s"));
    let agent_2 = write("agent-2.toml", config(&db, "agent-2", &slack_url, "3s"));
    let (_agent1, out1) = agent(&agent_1, ids1);
    let (_agent2, out2) = agent(&agent_2, ids2);

    // 50 requests, each posted exactly once between the two replicas
    let posts = slack.wait_posts(50, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let posts_after = slack.posts();
    assert_eq!(posts_after.len(), 50, "a request was posted twice");
    let mut per_request: HashMap<String, usize> = HashMap::new();
    for p in &posts {
        let value = button(p);
        *per_request
            .entry(value.split('|').next().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_request.len(), 50);
    assert!(per_request.values().all(|n| *n == 1));

    // a signed click on either replica counts; every agent gets its permits
    for (i, p) in posts.iter().enumerate() {
        let server = if i % 2 == 0 { &url_a } else { &url_b };
        assert!(click(server, &button(p)).await.is_success());
    }
    let read = |mut out: BufReader<std::process::ChildStdout>| {
        let mut got = 0;
        for _ in 0..25 {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert!(line.starts_with("PERMIT "), "{line}");
            got += 1;
        }
        got
    };
    let (got1, got2) = tokio::task::spawn_blocking(move || (read(out1), read(out2)))
        .await
        .unwrap();
    assert_eq!((got1, got2), (25, 25));

    // a replica that dies after claiming, before its post is done
    drop(server_a);
    drop(server_b);
    let c = write("c.toml", config(&db, "server-c", &stuck_url, "3s"));
    let (server_c, _) = serve(&signoff, &c);
    let agent_3 = write("agent-3.toml", config(&db, "agent-3", &slack_url, "3s"));
    let (_agent3, out3) = agent(&agent_3, vec!["three-0".to_owned()]);
    let started = Instant::now();
    while stuck.posts().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "C never posted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut c = server_c;
    c.0.kill().unwrap(); // SIGKILL mid-post
    let killed_at = Instant::now();
    let d = write("d.toml", config(&db, "server-d", &slack_url, "3s"));
    let (_server_d, url_d) = serve(&signoff, &d);
    let taken = slack.wait_posts(51, Duration::from_secs(20)).await;
    let waited = killed_at.elapsed();
    assert!(
        waited <= Duration::from_secs(3) + Duration::from_secs(3),
        "taken over after {waited:?}, lease 3 s"
    );
    let last = taken.last().unwrap();
    assert!(click(&url_d, &button(last)).await.is_success());
    let line = tokio::task::spawn_blocking(move || {
        let mut out = out3;
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(line.starts_with("PERMIT three-0"), "{line}");
}
