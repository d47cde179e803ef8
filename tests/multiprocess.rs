//! Separate OS processes sharing one PostgreSQL database: two agents and two
//! approval servers. Votes through a server reach the right agent; the same
//! person's vote sent to both servers at once counts once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{Killed, admin_url, binary};

fn serve(config: &Path) -> (Killed, String) {
    common::serve(
        &binary("signoff", &["build", "-q", "-p", "signoff-cli"]),
        config,
        &[],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_and_servers_in_separate_processes_share_one_queue() {
    let Some(admin) = admin_url("the multi-process test") else {
        return;
    };
    // a fresh database
    let name = format!("signoff_mp_{}", std::process::id());
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

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[groups]\nowners = [\"user:carol@example.com\", \"user:dan@example.com\"]\n\
         [[rules]]\nid = \"export\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"owners\"\nmin_approvals = 2\n",
    )
    .unwrap();
    let tokens = format!(
        "[server]\ntokens = [{{ principal = \"user:carol@example.com\", token_hash = \"{}\" }}, {{ principal = \"user:dan@example.com\", token_hash = \"{}\" }}]\n",
        signoff_server::hash_token("carol"),
        signoff_server::hash_token("dan")
    );
    for (file, stream, extra) in [
        ("server-a.toml", "server-a", tokens.as_str()),
        ("server-b.toml", "server-b", tokens.as_str()),
        ("agent-1.toml", "agent-1", ""),
        ("agent-2.toml", "agent-2", ""),
    ] {
        std::fs::write(
            dir.path().join(file),
            format!("listen = \"127.0.0.1:0\"\npolicy = \"policy.toml\"\nstore = \"{db}\"\naudit = [\"{db}\"]\nstream = \"{stream}\"\n{extra}"),
        )
        .unwrap();
    }
    // agent configs have no `listen`/[server]: the agent ignores neither, so strip listen
    for file in ["agent-1.toml", "agent-2.toml"] {
        let p = dir.path().join(file);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("listen = \"127.0.0.1:0\"\n", "");
        std::fs::write(&p, text).unwrap();
    }
    let (_server_a, url_a) = serve(&dir.path().join("server-a.toml"));
    let (_server_b, url_b) = serve(&dir.path().join("server-b.toml"));
    let agent = |config: &str, ids: &[&str]| {
        let mut child = Command::new(binary(
            "examples/signoff_agent",
            &["build", "-q", "--example", "signoff_agent"],
        ))
        .args(["require", "--config"])
        .arg(dir.path().join(config))
        .args(ids)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let out = child.stdout.take().unwrap();
        (Killed(child), BufReader::new(out))
    };
    let (_agent1, out1) = agent("agent-1.toml", &["a-1", "a-2"]);
    let (_agent2, out2) = agent("agent-2.toml", &["b-1", "b-2"]);

    let http = reqwest::Client::new();
    let pending = |url: String| {
        let http = http.clone();
        async move {
            http.get(format!("{url}/v1/requests?status=pending"))
                .bearer_auth("carol")
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let started = Instant::now();
    let list = loop {
        let list = pending(url_a.clone()).await;
        if list.as_array().unwrap().len() == 4 {
            break list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "agents never submitted: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // every vote goes through server A, except dan's on agent 2's requests (server B)
    for r in list.as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        let action = r["action_id"].as_str().unwrap();
        let dan_server = if action.starts_with('b') {
            &url_b
        } else {
            &url_a
        };
        for (token, url) in [("carol", &url_a), ("dan", dan_server)] {
            let resp = http
                .post(format!("{url}/v1/requests/{id}/votes"))
                .bearer_auth(token)
                .json(&json!({"verdict": "approve"}))
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        }
    }
    let read = |mut out: BufReader<std::process::ChildStdout>| {
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            got.push(line.split_whitespace().nth(1).unwrap().to_owned());
        }
        got.sort();
        got
    };
    let (got1, got2) = tokio::task::spawn_blocking(move || (read(out1), read(out2)))
        .await
        .unwrap();
    assert_eq!(got1, ["a-1", "a-2"], "agent 1 got its own permits");
    assert_eq!(got2, ["b-1", "b-2"], "agent 2 got its own permits");

    // the same person's vote, to both servers at once: counted once
    let (_agent3, out3) = agent("agent-1.toml", &["c-1"]);
    let id = loop {
        let list = pending(url_b.clone()).await;
        if let Some(r) = list.as_array().unwrap().first() {
            break r["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let vote = |url: String| {
        let (http, id) = (http.clone(), id.clone());
        tokio::spawn(async move {
            http.post(format!("{url}/v1/requests/{id}/votes"))
                .bearer_auth("carol")
                .json(&json!({"verdict": "approve"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let racers: Vec<_> = (0..6)
        .map(|i| {
            vote(if i % 2 == 0 {
                url_a.clone()
            } else {
                url_b.clone()
            })
        })
        .collect();
    for r in racers {
        assert!(r.await.unwrap().is_success());
    }
    let req: Value = http
        .get(format!("{url_a}/v1/requests/{id}"))
        .bearer_auth("carol")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        req["votes"].as_array().unwrap().len(),
        1,
        "counted once: {req}"
    );
    assert_eq!(req["status"], "pending");
    drop(out3);

    // every process's stream verifies
    let verify = Command::new(binary("signoff", &["build", "-q", "-p", "signoff-cli"]))
        .args(["audit", "verify", &db])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("stream agent-1") && stdout.contains("stream server-b"),
        "{stdout}"
    );
}
