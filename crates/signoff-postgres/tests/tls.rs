//! TLS against the test cluster, which serves a certificate for `localhost`
//! and 127.0.0.1 signed by the CA in `SIGNOFF_TEST_PG_CA` (scripts/pg-cluster).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant};

use signoff::ApprovalStore;
use signoff::audit::AuditSink;
use signoff_postgres::{PgSink, PgStore, dump_lines, verify};

/// A CA that signed nothing the cluster serves.
const UNRELATED_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/unrelated-ca.pem");
const PASSWORD: &str = "hunter2-not-for-logs";

/// The admin URL and the cluster's CA file, or `None` outside CI when the
/// test cluster is not there. Under `CI=true` a missing one fails the test.
fn cluster() -> Option<(String, String)> {
    let admin = common::admin_url()?;
    match std::env::var("SIGNOFF_TEST_PG_CA") {
        Ok(ca) if !ca.is_empty() => Some((admin, ca)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("SIGNOFF_TEST_PG_CA is not set (scripts/pg-cluster makes the CA and sets it)")
        }
        _ => {
            eprintln!("SIGNOFF_TEST_PG_CA is not set: this TLS test did not run");
            None
        }
    }
}

/// The port of a `postgres://user@host:port/db` URL.
fn port(url: &str) -> &str {
    let after_at = &url[url.rfind('@').unwrap() + 1..];
    let host_port = after_at.split('/').next().unwrap();
    host_port.rsplit_once(':').unwrap().1
}

/// The database name of a `postgres://.../db` URL.
fn db_name(url: &str) -> &str {
    url.rsplit_once('/').unwrap().1
}

/// `db` on `host` with `params`, and a password the server does not need
/// (trust) but an error message must never show.
fn url(db: &str, host: &str, params: &str) -> String {
    format!(
        "postgres://postgres:{PASSWORD}@{host}:{}/{}?{params}",
        port(db),
        db_name(db)
    )
}

/// Whether each open connection to `db` is TLS, once there are `count` of them.
async fn ssl_of(admin: &str, db: &str, count: usize) -> Vec<bool> {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = client
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE a.datname = $1",
                &[&db_name(db)],
            )
            .await
            .unwrap();
        let ssl: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
        if ssl.len() >= count || Instant::now() > deadline {
            return ssl;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the crate's schema exists in `db` (it does once a connect succeeded).
async fn has_schema(db: &str) -> bool {
    let (client, conn) = tokio_postgres::connect(db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT to_regclass('signoff_requests') IS NOT NULL OR to_regclass('signoff_audit') IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_with_the_cluster_ca_is_tls_on_every_connection() {
    let Some((admin, ca)) = cluster() else {
        return;
    };
    let db = common::fresh_db(&admin).await;
    let url = url(
        &db,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let store = PgStore::connect(&url).await.unwrap();
    let sink = PgSink::connect(&url, Some("tls")).await.unwrap();
    assert!(store.list(None).await.unwrap().is_empty());
    assert_eq!(sink.head().await.unwrap().seq, 0);
    // the store's connection, its LISTEN connection and the sink's
    let ssl = ssl_of(&admin, &db, 3).await;
    assert_eq!(ssl, [true, true, true]);
    // the one-shot connections of `signoff audit verify`
    assert!(dump_lines(&url).await.unwrap().is_empty());
    assert!(verify(&url, None, None).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_accepts_localhost_and_127_0_0_1_as_the_certificate_names_both() {
    let Some((admin, ca)) = cluster() else {
        return;
    };
    let db = common::fresh_db(&admin).await;
    for host in ["localhost", "127.0.0.1"] {
        let url = url(&db, host, &format!("sslmode=verify-full&sslrootcert={ca}"));
        let sink = PgSink::connect(&url, None).await;
        assert!(sink.is_ok(), "{host}: {sink:?}");
    }
    // key=value form, the CA path quoted
    let kv = format!(
        "host=localhost port={} user=postgres dbname={} sslmode=verify-full sslrootcert='{ca}'",
        port(&db),
        db_name(&db)
    );
    let _store = PgStore::connect(&kv).await.unwrap();
    assert_eq!(ssl_of(&admin, &db, 2).await, [true, true]);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_rejects_a_name_the_certificate_lacks_and_verify_ca_accepts_it() {
    let Some((admin, ca)) = cluster() else {
        return;
    };
    let db = common::fresh_db(&admin).await;
    // `hostaddr` connects to the cluster; `host` is the name checked
    let params = |mode: &str| format!("hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={ca}");
    let err = PgStore::connect(&url(&db, "db.signoff.invalid", &params("verify-full")))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate is not trusted"), "{err}");
    assert!(err.contains("verify-full"), "{err}");
    assert!(err.contains("db.signoff.invalid"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(!has_schema(&db).await);

    let _store = PgStore::connect(&url(&db, "db.signoff.invalid", &params("verify-ca")))
        .await
        .unwrap();
    assert_eq!(ssl_of(&admin, &db, 2).await, [true, true]);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_with_a_wrong_ca_fails_with_a_certificate_error_and_stores_nothing() {
    let Some((admin, _)) = cluster() else {
        return;
    };
    let db = common::fresh_db(&admin).await;
    let url = url(
        &db,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={UNRELATED_CA}"),
    );
    let store = PgStore::connect(&url).await.unwrap_err().to_string();
    let sink = PgSink::connect(&url, None).await.unwrap_err().to_string();
    let dump = dump_lines(&url).await.unwrap_err();
    let verified = verify(&url, None, None).await.unwrap_err().reason;
    for err in [&store, &sink, &dump, &verified] {
        assert!(err.contains("certificate is not trusted"), "{err}");
        assert!(err.contains("UnknownIssuer"), "{err}");
        assert!(err.contains(UNRELATED_CA), "{err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
    assert!(!has_schema(&db).await, "nothing is stored");
    // a refused handshake's backend may take a moment to go away
    let mut left = ssl_of(&admin, &db, 0).await;
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = ssl_of(&admin, &db, 0).await;
    }
    assert!(left.is_empty(), "no connection is left: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn require_is_tls_and_disable_is_not() {
    let Some((admin, _)) = cluster() else {
        return;
    };
    let db = common::fresh_db(&admin).await;
    let required = PgStore::connect(&url(&db, "127.0.0.1", "sslmode=require"))
        .await
        .unwrap();
    assert_eq!(ssl_of(&admin, &db, 2).await, [true, true]);
    drop(required);

    let other = common::fresh_db(&admin).await;
    let _plain = PgStore::connect(&url(&other, "127.0.0.1", "sslmode=disable"))
        .await
        .unwrap();
    assert_eq!(ssl_of(&admin, &other, 2).await, [false, false]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_url_without_sslmode_uses_the_tls_the_server_offers() {
    let Some((admin, _)) = cluster() else {
        return;
    };
    let db = common::fresh_db(&admin).await;
    let _store = PgStore::connect(&url(&db, "127.0.0.1", "application_name=signoff-test"))
        .await
        .unwrap();
    assert_eq!(ssl_of(&admin, &db, 2).await, [true, true]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_ca_file_or_unknown_sslmode_fails_before_connecting() {
    // no server needed: these fail before any connection is tried
    let db = "postgres://postgres@127.0.0.1:1/none";
    let missing = "/nonexistent/signoff-ca.pem";
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    for (params, expect) in [
        (
            format!("sslmode=verify-full&sslrootcert={missing}"),
            missing,
        ),
        (
            format!("sslmode=verify-full&sslrootcert={not_pem}"),
            "holds no PEM certificate",
        ),
        (
            "sslmode=verify-everything".to_owned(),
            "`verify-everything`",
        ),
    ] {
        let url = url(db, "127.0.0.1", &params);
        let err = PgStore::connect(&url).await.unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
        assert!(!err.contains("cannot connect"), "{err}");
        assert!(!err.contains(PASSWORD), "{err}");
        let err = PgSink::connect(&url, None).await.unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
}
