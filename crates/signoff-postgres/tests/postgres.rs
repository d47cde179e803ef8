//! The PostgreSQL backends against a real server (scripts/test starts one).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::Duration;

use serde_json::json;
use signoff::testkit::{audit_sink_conformance, store_conformance};
use signoff::{Action, Gate, Outcome, Policy, Queue, RequestStatus, Submission, Vote};
use signoff_postgres::{PgSink, PgStore, dump_lines, verify};

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
"#;

async fn gate(url: &str, stream: &str) -> Gate {
    Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .store(PgStore::connect(url).await.unwrap())
        .audit(PgSink::connect(url, Some(stream)).await.unwrap())
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
async fn the_postgres_store_meets_the_store_contract() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::fresh_db(&admin).await;
    let store = PgStore::connect(&url).await.unwrap();
    store_conformance(move || store.clone()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_postgres_sink_meets_the_sink_contract() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::fresh_db(&admin).await;
    let first = PgSink::connect(&url, Some("conformance")).await.unwrap();
    let second = PgSink::connect(&url, Some("conformance")).await.unwrap();
    let lines = {
        let url = url.clone();
        move || {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(dump_lines(&url))
            })
            .unwrap()
        }
    };
    audit_sink_conformance(move || first.clone(), move || second.clone(), lines).await;
    assert_eq!(verify(&url, None, None).await.unwrap().records, 61);
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_versioned_and_safe_to_run_concurrently() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::fresh_db(&admin).await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { PgStore::connect(&url).await.map(|_| ()) }
            })
        })
        .collect();
    for s in starts {
        s.await.unwrap().unwrap();
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM signoff_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3], "each migration applied once");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_receiving_the_same_vote_count_it_once() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::fresh_db(&admin).await;
    let agent = gate(&url, "agent").await;
    let replica_a = gate(&url, "server-a").await;
    let replica_b = gate(&url, "server-b").await;
    let Submission::Pending { request_id } = agent.submit(export(1)).await.unwrap() else {
        panic!()
    };
    let mut tasks = Vec::new();
    for g in [
        replica_a.clone(),
        replica_b.clone(),
        replica_a.clone(),
        replica_b.clone(),
    ] {
        let id = request_id.clone();
        tasks.push(tokio::spawn(async move {
            g.vote(&id, Vote::approve("user:carol@example.com")).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let req = agent.request(&request_id).await.unwrap();
    assert_eq!(req.votes.len(), 1, "counted once");
    assert_eq!(req.status, RequestStatus::Pending);
    // the two final votes race: exactly one resolves, both count once
    let a = tokio::spawn({
        let (g, id) = (replica_a.clone(), request_id.clone());
        async move { g.vote(&id, Vote::approve("user:dan@example.com")).await }
    });
    let b = tokio::spawn({
        let (g, id) = (replica_b.clone(), request_id.clone());
        async move { g.vote(&id, Vote::approve("user:dan@example.com")).await }
    });
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let req = agent.request(&request_id).await.unwrap();
    assert_eq!((req.votes.len(), req.status), (2, RequestStatus::Approved));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vote_through_another_connection_wakes_the_waiting_agent_quickly() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::fresh_db(&admin).await;
    let agent = gate(&url, "agent").await;
    let server = gate(&url, "server").await;
    let waiting = tokio::spawn({
        let agent = agent.clone();
        async move { agent.require(export(2)).await }
    });
    let id = loop {
        if let Some(r) = server.store().get_by_action("act-2").await.unwrap() {
            break r.id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server
        .vote(&id, Vote::approve("user:carol@example.com"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    server
        .vote(&id, Vote::approve("user:dan@example.com"))
        .await
        .unwrap();
    let permit = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // woken by NOTIFY, well before the 500 ms fallback poll
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "took {:?}",
        started.elapsed()
    );
    permit.complete(Outcome::success()).await.unwrap();
    let report = verify(&url, None, None).await.unwrap();
    assert_eq!(report.streams.len(), 2, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_requests_survive_a_restart_and_resume_by_action_id() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    let url = common::fresh_db(&admin).await;
    let first = gate(&url, "agent").await;
    for n in 0..100 {
        first.submit(export(n)).await.unwrap();
    }
    drop(first);
    let server = gate(&url, "server").await;
    for r in server.pending().await.unwrap() {
        server
            .vote(&r.id, Vote::approve("user:carol@example.com"))
            .await
            .unwrap();
        server
            .vote(&r.id, Vote::approve("user:dan@example.com"))
            .await
            .unwrap();
    }
    let again = gate(&url, "agent").await;
    for n in 0..100 {
        again
            .require(export(n))
            .await
            .unwrap()
            .complete(Outcome::success())
            .await
            .unwrap();
    }
    let err = again.require(export(5)).await.unwrap_err();
    assert!(matches!(err, signoff::Error::AlreadyCompleted(_)), "{err}");
    assert!(verify(&url, None, None).await.is_ok());
}
