//! The SQLite backends: the conformance suites, restarts, and the trail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::PathBuf;

use serde_json::json;
use signoff::testkit::{audit_sink_conformance, store_conformance};
use signoff::{Action, Gate, Outcome, Policy, Queue, RequestStatus, Submission, Vote};
use signoff_sqlite::{SqliteSink, SqliteStore, verify};

fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signoff.db");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_store_meets_the_store_contract() {
    let (_dir, path) = db();
    store_conformance(|| SqliteStore::open(&path).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_sink_meets_the_sink_contract() {
    let (_dir, path) = db();
    let lines = {
        let path = path.clone();
        move || signoff_sqlite::dump_lines(&path).unwrap()
    };
    audit_sink_conformance(
        || SqliteSink::open(&path, Some("conformance")).unwrap(),
        || SqliteSink::open(&path, Some("conformance")).unwrap(),
        lines,
    )
    .await;
    let report = verify(&path, None, None).unwrap();
    assert_eq!(report.records, 61);
}

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com", "user:dan@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
min_approvals = 2
timeout = "1h"
"#;

fn gate(path: &std::path::Path, stream: &str) -> Gate {
    Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .store(SqliteStore::open(path).unwrap())
        .audit(SqliteSink::open(path, Some(stream)).unwrap())
        .build()
        .unwrap()
}

fn export(n: u32) -> Action {
    Action::new("db.export")
        .id(format!("act-{n}"))
        .actor("agent:bot")
        .args(json!({"rows": n}))
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_requests_survive_a_restart_and_resume_by_action_id() {
    let (_dir, path) = db();
    let first = gate(&path, "agent-1");
    for n in 0..100 {
        assert!(matches!(
            first.submit(export(n)).await.unwrap(),
            Submission::Pending { .. }
        ));
    }
    first.close().await.unwrap();
    drop(first);
    // while the agent is down, reviewers vote through another process's gate
    let server = gate(&path, "server");
    for r in server.pending().await.unwrap().iter().take(50) {
        server
            .vote(&r.id, Vote::approve("user:carol@example.com"))
            .await
            .unwrap();
        server
            .vote(&r.id, Vote::approve("user:dan@example.com"))
            .await
            .unwrap();
    }
    // the agent restarts: every request resumes by action id
    let again = gate(&path, "agent-1");
    let mut ran = 0;
    for n in 0..50 {
        let permit = again.require(export(n)).await.unwrap();
        permit.complete(Outcome::success()).await.unwrap();
        ran += 1;
    }
    assert_eq!(ran, 50);
    for n in 50..100 {
        let submitted = again.submit(export(n)).await.unwrap();
        assert!(
            matches!(submitted, Submission::Pending { .. }),
            "still pending"
        );
    }
    // no action runs twice
    let err = again.require(export(7)).await.unwrap_err();
    assert!(matches!(err, signoff::Error::AlreadyCompleted(_)), "{err}");
    // a vote cast in one process wakes a waiter in another (by polling)
    let waiter = tokio::spawn({
        let g = gate(&path, "agent-2");
        async move { g.require(export(60)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let id = server
        .store()
        .get_by_action("act-60")
        .await
        .unwrap()
        .unwrap()
        .id;
    server
        .vote(&id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    server
        .vote(&id, Vote::approve("user:dan@example.com"))
        .await
        .unwrap();
    let permit = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    permit.complete(Outcome::success()).await.unwrap();
    let report = verify(&path, None, None).unwrap();
    assert!(
        report.streams.len() >= 3 && report.records > 300,
        "{report:?}"
    );
    let status = server
        .store()
        .get_by_action("act-99")
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, RequestStatus::Pending);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stores_on_one_file_never_double_count_a_vote() {
    let (_dir, path) = db();
    let a = gate(&path, "a");
    let b = gate(&path, "b");
    let Submission::Pending { request_id } = a.submit(export(1)).await.unwrap() else {
        panic!()
    };
    let mut tasks = Vec::new();
    for g in [a.clone(), b.clone(), a.clone(), b.clone()] {
        let id = request_id.clone();
        tasks.push(tokio::spawn(async move {
            g.vote(&id, Vote::approve("user:carol@example.com")).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let req = a.request(&request_id).await.unwrap();
    assert_eq!(req.votes.len(), 1);
    assert_eq!(req.status, RequestStatus::Pending);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_sqlite_trail_fails_verification_at_the_seq() {
    let (_dir, path) = db();
    let g = gate(&path, "t");
    for _ in 0..5 {
        g.require(Action::new("db.query").actor("agent:bot"))
            .await
            .unwrap()
            .complete(Outcome::success())
            .await
            .unwrap();
    }
    g.close().await.unwrap(); // completions are queued (DESIGN §15)
    // one decision record per action (DESIGN §15): 5 × (decided, completed)
    assert_eq!(verify(&path, None, None).unwrap().records, 10);
    signoff_sqlite::tamper_for_tests(&path, 7, "agent:bot", "agent:evil").unwrap();
    let failure = verify(&path, None, None).unwrap_err();
    assert_eq!(failure.seq, Some(7), "{failure}");
}
