//! The database stopped mid-run: `require` fails closed with a clear error,
//! and works again once it is back. Stops and starts the test cluster, so it
//! runs in its own test binary (one test).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use signoff::{Action, Gate, Outcome, Policy, Queue};
use signoff_postgres::{PgSink, PgStore};

fn pg_ctl(verb: &str) {
    let Ok(ctl) = std::env::var("SIGNOFF_TEST_PG_CTL") else {
        panic!(
            "SIGNOFF_TEST_PG_CTL is not set: the outage test needs the test cluster of scripts/test"
        );
    };
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{ctl} {verb} > /dev/null"))
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {verb} failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_fails_closed_and_recovers() {
    let Some(admin) = common::admin_url() else {
        return;
    };
    if std::env::var("SIGNOFF_TEST_PG_CTL").is_err() && std::env::var("CI").is_err() {
        eprintln!("SIGNOFF_TEST_PG_CTL is not set: the outage test did not run");
        return;
    }
    let url = common::fresh_db(&admin).await;
    let gate = Gate::builder()
        .policy(Policy::from_toml_str("[groups]\no = [\"user:c@example.com\"]\n[[rules]]\nid = \"r\"\neffect = \"allow\"\nactions = [\"db.query\"]\n[[rules]]\nid = \"x\"\neffect = \"approve\"\nactions = [\"db.export\"]\napprovers = \"o\"\n").unwrap())
        .approver(Queue)
        .store(PgStore::connect(&url).await.unwrap())
        .audit(PgSink::connect(&url, Some("outage")).await.unwrap())
        .build()
        .unwrap();
    let query = || Action::new("db.query").actor("agent:bot");
    gate.require(query())
        .await
        .unwrap()
        .complete(Outcome::success())
        .await
        .unwrap();
    pg_ctl("stop -m fast");
    let down = gate.require(query()).await;
    let store_down = gate
        .require(
            Action::new("db.export")
                .actor("agent:bot")
                .args(json!({"n": 1})),
        )
        .await;
    pg_ctl("start");
    let err = down.expect_err("no permit while the database is down");
    assert!(matches!(err, signoff::Error::Audit(_)), "{err}");
    let err = store_down.expect_err("no permit while the database is down");
    assert!(
        matches!(err, signoff::Error::Audit(_) | signoff::Error::Store(_)),
        "{err}"
    );
    // the audit trail stays closed after a failed write (its chain lost a batch);
    // a new gate on the recovered database works again
    tokio::time::sleep(Duration::from_millis(200)).await;
    let recovered = Gate::builder()
        .policy(gate.policy())
        .approver(Queue)
        .store(PgStore::connect(&url).await.unwrap())
        .audit(PgSink::connect(&url, None).await.unwrap())
        .build()
        .unwrap();
    recovered
        .require(query())
        .await
        .unwrap()
        .complete(Outcome::success())
        .await
        .unwrap();
    // and the store, which keeps no chain, reconnects by itself
    let r = gate.store().list(None).await;
    assert!(r.is_ok(), "the store reconnects: {r:?}");
}
