#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod sink;
mod store;

pub use sink::{PgSink, dump_lines, verify};
pub use store::PgStore;

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

/// The schema, one migration per entry; applied in order, once.
const MIGRATIONS: &[&str] = &["CREATE TABLE signoff_requests (
        id         TEXT PRIMARY KEY,
        action_id  TEXT NOT NULL UNIQUE,
        status     TEXT NOT NULL,
        version    BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        body       TEXT NOT NULL
     );
     CREATE INDEX signoff_requests_status ON signoff_requests (status, created_at);
     CREATE TABLE signoff_audit (
        pos    BIGSERIAL PRIMARY KEY,
        stream TEXT NOT NULL,
        seq    BIGINT NOT NULL,
        line   TEXT NOT NULL,
        UNIQUE (stream, seq)
     );"];

/// Connects and runs the connection task in the background.
async fn connect(url: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Applies the migrations not yet applied.
async fn migrate(client: &mut Client) -> Result<(), String> {
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7274836148); \
         CREATE TABLE IF NOT EXISTS signoff_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
    )
    .await
    .map_err(|e| e.to_string())?;
    let done: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM signoff_migrations",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if version <= done {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migration {version}: {e}"))?;
        tx.execute(
            "INSERT INTO signoff_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

/// A connection that is re-established when lost.
#[derive(Clone)]
struct Pool {
    url: Arc<str>,
    client: Arc<Mutex<Option<Client>>>,
    name: String,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// `postgres://user@host:port/db`, without any password, for messages.
fn display_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…{}", &url[at..]),
        _ => url.to_owned(),
    }
}

impl Pool {
    async fn open(url: &str) -> Result<Self, String> {
        let mut client = connect(url).await?;
        migrate(&mut client).await?;
        Ok(Pool {
            url: url.into(),
            client: Arc::new(Mutex::new(Some(client))),
            name: display_url(url),
        })
    }

    /// The live client, reconnecting if the last one was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, String> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            *guard = Some(connect(&self.url).await?);
        }
        Ok(guard)
    }
}
