//! 100 pending approvals, the agent process SIGKILLed, votes cast while it
//! is down, the agent restarted: all 100 resume by action id and run; a
//! third start runs none of them again. SQLite, and PostgreSQL when
//! `SIGNOFF_TEST_DATABASE_URL` is set (required under CI).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signoff::{ApprovalStore, Gate, Policy, Queue, RequestStatus, Vote};

const POLICY: &str = "[groups]\nowners = [\"user:carol@example.com\", \"user:dan@example.com\"]\n\
[[rules]]\nid = \"export\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"owners\"\nmin_approvals = 2\ntimeout = \"1h\"\n";

fn agent_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join("signoff_agent");
    if !bin.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-q", "--example", "signoff_agent"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    bin
}

async fn kill_vote_restart(store_url: &str, store: Arc<dyn ApprovalStore>, dir: &Path) {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let config = dir.join("agent.toml");
    std::fs::write(&config, format!("policy = \"policy.toml\"\nstore = \"{store_url}\"\naudit = [\"{store_url}\"]\nstream = \"agent\"\n")).unwrap();
    let ids: Vec<String> = (0..100)
        .map(|n| format!("restart-{}-{n}", std::process::id()))
        .collect();
    let run = || {
        Command::new(agent_bin())
            .args(["require", "--config"])
            .arg(&config)
            .args(&ids)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    // 1. the agent submits 100 actions and waits; kill it once all are pending
    let mut first = run();
    let started = Instant::now();
    loop {
        let pending = store.list(Some(RequestStatus::Pending)).await.unwrap();
        if ids
            .iter()
            .all(|id| pending.iter().any(|r| r.action.id.as_deref() == Some(id)))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the agent did not submit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    let _ = first.wait();

    // 2. reviewers vote while the agent is down
    let reviewers = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .store_arc(Arc::clone(&store))
        .build()
        .unwrap();
    for id in &ids {
        let r = store.get_by_action(id).await.unwrap().unwrap();
        reviewers
            .vote(&r.id, Vote::approve("user:carol@example.com"))
            .await
            .unwrap();
        reviewers
            .vote(&r.id, Vote::approve("user:dan@example.com"))
            .await
            .unwrap();
    }

    // 3. the restarted agent picks every one up by action id and runs it
    let mut second = run();
    let out = BufReader::new(second.stdout.take().unwrap());
    let mut permitted: Vec<String> = out
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            l.strip_prefix("PERMIT ")
                .map(|r| r.split_whitespace().next().unwrap_or_default().to_owned())
        })
        .collect();
    assert!(second.wait().unwrap().success());
    permitted.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(permitted, want, "all 100 resumed");

    // 4. no action runs twice
    let third = run().wait_with_output().unwrap();
    assert!(
        !third.status.success(),
        "a completed action id must not run again"
    );
    assert!(!String::from_utf8_lossy(&third.stdout).contains("PERMIT"));
    for id in &ids {
        assert_eq!(
            store.get_by_action(id).await.unwrap().unwrap().status,
            RequestStatus::Completed
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_agent_resumes_all_hundred_approvals_from_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("signoff.db");
    let store: Arc<dyn ApprovalStore> = Arc::new(signoff_sqlite::SqliteStore::open(&db).unwrap());
    kill_vote_restart(&format!("sqlite:{}", db.display()), store, dir.path()).await;
    assert!(signoff_sqlite::verify(&db, None, None).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_agent_resumes_all_hundred_approvals_from_postgres() {
    let admin = match std::env::var("SIGNOFF_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("SIGNOFF_TEST_DATABASE_URL is not set")
        }
        _ => {
            eprintln!("SIGNOFF_TEST_DATABASE_URL is not set: this test did not run");
            return;
        }
    };
    let name = format!("signoff_restart_{}", std::process::id());
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
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let store: Arc<dyn ApprovalStore> =
        Arc::new(signoff_postgres::PgStore::connect(&url).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    kill_vote_restart(&url, store, dir.path()).await;
    assert!(signoff_postgres::verify(&url, None, None).await.is_ok());
}
