//! Server-dispatched approval latency (DESIGN §10), 100 requests: from the
//! agent's `require` to the Slack post, and from a signed click on the
//! server to the agent's permit. Agent gate (`approver = "server"`) and the
//! approval server (router + dispatcher) share a SQLite store, in one
//! process; Slack is a local fake Web API. Run with
//! `cargo bench --bench dispatch_latency`; prints p50/p99.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use signoff::Action;
use signoff_config::GateConfig;

const SECRET: &str = "bench-signing-secret";
const N: usize = 100;

type Posts = Arc<Mutex<Vec<(Instant, Value)>>>;

async fn fake(State(posts): State<Posts>, body: String) -> axum::Json<Value> {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let n = {
        let mut p = posts.lock().unwrap();
        p.push((Instant::now(), parsed));
        p.len()
    };
    axum::Json(json!({"ok": true, "channel": "C1", "ts": format!("1.{n:06}")}))
}

fn button(post: &Value) -> String {
    post["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "signoff_approve")
        .and_then(|e| e["value"].as_str().map(str::to_owned))
        .unwrap()
}

async fn click(http: &reqwest::Client, server: &str, value: &str) {
    let payload = json!({"type": "block_actions", "user": {"id": "U1"},
        "actions": [{"action_id": "signoff_approve", "value": value}]});
    let body = format!(
        "payload={}",
        payload
            .to_string()
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' =>
                    (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    );
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let status = http
        .post(format!("{server}/slack/interactivity"))
        .header("x-slack-request-timestamp", ts)
        .header(
            "x-slack-signature",
            format!("v0={}", hex::encode(mac.finalize().into_bytes())),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    with_secrets_in_env();
    let posts: Posts = Arc::default();
    let app = Router::new()
        .route("/api/{method}", post(fake))
        .with_state(Arc::clone(&posts));
    let slack_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slack_url = format!("http://{}/api", slack_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(slack_listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[groups]\nowners = [\"user:carol@example.com\"]\n[[rules]]\nid = \"export\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"owners\"\n",
    )
    .unwrap();
    let text = format!(
        "policy = \"policy.toml\"\nstore = \"sqlite:{}\"\napprover = \"server\"\n\
         [identity]\nactor = \"agent:bench\"\n\
         [slack]\napi_base = \"{slack_url}\"\nbot_token_env = \"SIGNOFF_BENCH_SLACK_TOKEN\"\nsigning_secret_env = \"SIGNOFF_BENCH_SLACK_SECRET\"\n\
         default_channel = \"#approvals\"\nlookup_emails = false\n[slack.users]\nU1 = \"user:carol@example.com\"\n",
        dir.path().join("s.db").display()
    );
    let cfg = GateConfig::from_toml_str(&text, dir.path(), "bench.toml").unwrap();
    let channels = cfg.channels().unwrap().unwrap();
    let server_gate = cfg
        .build_with(Arc::clone(&channels.approver))
        .await
        .unwrap();
    let router =
        signoff_server::router(server_gate.clone(), signoff_server::ServerConfig::default())
            .merge(channels.slack.as_ref().unwrap().routes(server_gate.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(signoff_server::serve_router(router, listener));
    let _dispatcher = signoff_server::Dispatcher::new(
        server_gate,
        Arc::clone(&channels.approver),
        signoff_server::DispatchConfig::default(),
    )
    .spawn();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let agent = cfg.build().await.unwrap();
    let http = reqwest::Client::new();

    let (mut to_post, mut to_permit) = (Vec::new(), Vec::new());
    for i in 0..N {
        let before = posts.lock().unwrap().len();
        let started = Instant::now();
        let gate = agent.clone();
        let waiting = tokio::spawn(async move {
            let permit = gate
                .require(Action::new("db.export").id(format!("bench-{i}")))
                .await
                .unwrap();
            let at = Instant::now();
            permit.complete(signoff::Outcome::success()).await.unwrap();
            at
        });
        let (posted_at, value) = loop {
            if let Some((at, body)) = posts.lock().unwrap().get(before) {
                break (*at, button(body));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        to_post.push(posted_at - started);
        let clicked = Instant::now();
        click(&http, &server, &value).await;
        let permitted = waiting.await.unwrap();
        to_permit.push(permitted - clicked);
    }
    let (p50, p99) = percentiles(to_post);
    println!(
        "require -> Slack post ({N} requests, SQLite store, 250 ms dispatcher poll): p50 {p50:?}, p99 {p99:?}"
    );
    let (p50, p99) = percentiles(to_permit);
    println!("signed click -> agent permit: p50 {p50:?}, p99 {p99:?}");
}

/// The channel secrets come from the environment (as in production); without
/// them the bench runs itself again with test values set (`set_var` is
/// unsafe, which the workspace forbids).
fn with_secrets_in_env() {
    if std::env::var("SIGNOFF_BENCH_SLACK_TOKEN").is_err()
        || std::env::var("SIGNOFF_BENCH_SLACK_SECRET").as_deref() != Ok(SECRET)
    {
        // re-run ourselves with the variables set
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args().skip(1))
            .env("SIGNOFF_BENCH_SLACK_TOKEN", "xoxb-bench")
            .env("SIGNOFF_BENCH_SLACK_SECRET", SECRET)
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
}
