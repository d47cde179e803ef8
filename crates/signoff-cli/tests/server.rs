//! `signoff serve`, `signoff approve|deny` and `signoff token hash`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::json;
use signoff::{Action, Gate, Policy, Queue, RequestStatus, Submission};
use signoff_server::ServerConfig;

const BIN: &str = env!("CARGO_BIN_EXE_signoff");

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com", "user:dan@example.com", "user:alice@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
min_approvals = 2
"#;

#[test]
fn token_hash_reads_the_token_from_stdin() {
    let mut child = Command::new(BIN)
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        signoff_server::hash_token("s3cret")
    );
}

#[test]
fn serve_starts_from_a_config_file_and_answers_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\npolicy = \"policy.toml\"\naudit = [\"jsonl:server.jsonl\"]\n\
         [server]\ntokens = [{{ principal = \"user:carol@example.com\", token_hash = \"{}\" }}]\n",
        signoff_server::hash_token("carol-token")
    );
    std::fs::write(dir.path().join("serve.toml"), config).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(dir.path().join("serve.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (health, unauthorized, listed) = rt.block_on(async {
        let c = reqwest::Client::new();
        let health = c
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        let unauthorized = c
            .get(format!("{url}/v1/requests"))
            .send()
            .await
            .unwrap()
            .status();
        let listed: serde_json::Value = c
            .get(format!("{url}/v1/requests"))
            .bearer_auth("carol-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (health, unauthorized, listed)
    });
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(health.as_u16(), 200);
    assert_eq!(unauthorized.as_u16(), 401);
    assert_eq!(listed, json!([]));
    assert!(dir.path().join("server.jsonl").exists());
    // a bad config is a usage error naming the file
    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = 8080\npolicy = \"policy.toml\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_and_deny_vote_through_the_server_with_the_token_from_the_environment() {
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .build()
        .unwrap();
    let config = ServerConfig::default()
        .with_token("user:carol@example.com", "carol-token")
        .with_token("user:dan@example.com", "dan-token")
        .with_token("user:alice@example.com", "alice-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(signoff_server::serve(gate.clone(), config, listener));
    let export = || {
        Action::new("db.export")
            .actor("agent:bot")
            .on_behalf_of("user:alice@example.com")
            .args(json!({"rows": 1}))
    };
    let Submission::Pending { request_id } = gate.submit(export()).await.unwrap() else {
        panic!()
    };
    let run = |args: Vec<String>, token: Option<&'static str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_remove("SIGNOFF_TOKEN");
        if let Some(t) = token {
            cmd.env("SIGNOFF_TOKEN", t);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let approve = |token| {
        run(
            vec![
                "approve".into(),
                request_id.clone(),
                "--server".into(),
                url.clone(),
                "--comment".into(),
                "ok".into(),
            ],
            token,
        )
    };
    let no_token = approve(None).await.unwrap();
    assert_eq!(no_token.status.code(), Some(2));
    let self_vote = approve(Some("alice-token")).await.unwrap();
    assert_eq!(self_vote.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&self_vote.stderr).contains("403"));
    let wrong = approve(Some("nope")).await.unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let carol = approve(Some("carol-token")).await.unwrap();
    assert_eq!(
        carol.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&carol.stderr)
    );
    assert!(String::from_utf8_lossy(&carol.stdout).contains("is pending"));
    let deny = run(
        vec![
            "deny".into(),
            request_id.clone(),
            "--server".into(),
            url.clone(),
            "--reason".into(),
            "not this month".into(),
        ],
        Some("dan-token"),
    )
    .await
    .unwrap();
    assert_eq!(deny.status.code(), Some(0));
    let req = gate.request(&request_id).await.unwrap();
    assert_eq!(req.status, RequestStatus::Denied);
    assert!(
        req.votes
            .iter()
            .any(|v| v.comment.as_deref() == Some("not this month"))
    );
    let unknown = run(
        vec![
            "approve".into(),
            "nope".into(),
            "--server".into(),
            url.clone(),
        ],
        Some("carol-token"),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_verify_reads_a_sqlite_trail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trail.db");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str("[policy]\ndefault = \"allow\"").unwrap())
        .audit(signoff_sqlite::SqliteSink::open(&db, Some("cli")).unwrap())
        .build()
        .unwrap();
    for _ in 0..3 {
        let permit = gate
            .require(Action::new("x.y").actor("agent:bot"))
            .await
            .unwrap();
        permit.complete(signoff::Outcome::success()).await.unwrap();
    }
    gate.close().await.unwrap(); // completions are queued (DESIGN §15)
    let target = format!("sqlite:{}", db.display());
    let ok = Command::new(BIN)
        .args(["audit", "verify", &target])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // one decision record per action (DESIGN §15): 3 × (decided, completed)
    assert!(String::from_utf8_lossy(&ok.stdout).contains("6 records"));
    signoff_sqlite::tamper_for_tests(&db, 5, "agent:bot", "agent:evil").unwrap();
    let bad = Command::new(BIN)
        .args(["audit", "verify", &target])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("seq 5,"));
}
