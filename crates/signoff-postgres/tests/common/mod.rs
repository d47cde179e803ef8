//! Shared by the PostgreSQL tests: a fresh database per test.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::sync::atomic::{AtomicU32, Ordering};

/// The cluster's URL, or `None` outside CI (where the tests then say they
/// did not run). Under `CI=true` a missing database fails the test.
pub fn admin_url() -> Option<String> {
    match std::env::var("SIGNOFF_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "SIGNOFF_TEST_DATABASE_URL is not set (scripts/test starts a cluster and sets it)"
            )
        }
        _ => {
            eprintln!("SIGNOFF_TEST_DATABASE_URL is not set: this PostgreSQL test did not run");
            None
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_db(admin: &str) -> String {
    let name = format!(
        "signoff_t_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}
