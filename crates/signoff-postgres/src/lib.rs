#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod sink;
mod store;
mod tls;

pub use sink::{PgSink, dump_lines, verify};
pub use store::PgStore;

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::{Client, Connection, Socket};

use crate::config::{Roots, Target, Tls};
use crate::tls::{MakeRustls, RustlsStream};

/// The schema, one migration per entry; applied in order, once.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE signoff_requests (
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
     );",
    "CREATE TABLE signoff_heartbeats (who TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL);",
    // grants (DESIGN §13)
    "CREATE TABLE signoff_grants (
        pos     BIGSERIAL PRIMARY KEY,
        id      TEXT NOT NULL UNIQUE,
        key     TEXT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE,
        body    TEXT NOT NULL
     );
     CREATE INDEX signoff_grants_key ON signoff_grants (key);",
];

/// Where and how to connect: the parsed URL and its TLS setup, built once
/// (the CA file is read when the store or sink is created).
#[derive(Clone)]
struct Endpoint {
    target: Arc<Target>,
    tls: MakeRustls,
}

impl Endpoint {
    fn new(url: &str) -> Result<Self, String> {
        let target = config::parse(url)?;
        Ok(Endpoint {
            tls: MakeRustls::new(&target.tls)?,
            target: Arc::new(target),
        })
    }

    /// `postgres://user@host:port/db`, never a password.
    fn name(&self) -> &str {
        &self.target.name
    }

    /// A new connection; the caller drives the returned connection.
    async fn open(&self) -> Result<(Client, Connection<Socket, RustlsStream>), String> {
        self.target
            .pg
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.connect_error(&e))
    }

    /// A new connection whose connection task runs in the background.
    async fn client(&self) -> Result<Client, String> {
        let (client, connection) = self.open().await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn connect_error(&self, e: &tokio_postgres::Error) -> String {
        let (mode, roots, cert) = match (&self.target.tls, tls::certificate_error(e)) {
            (Tls::VerifyCa(roots), Some(cert)) => ("verify-ca", roots, cert),
            (Tls::VerifyFull(roots), Some(cert)) => ("verify-full", roots, cert),
            _ => return format!("cannot connect: {}", error_text(e)),
        };
        let roots = match roots {
            Roots::File(path) => format!("the CA in `{}`", path.display()),
            Roots::Builtin => {
                "the built-in public roots (set `sslrootcert` to your CA file)".to_owned()
            }
        };
        format!(
            "cannot connect: the server's certificate is not trusted (`sslmode={mode}`, checked against {roots}): {cert}"
        )
    }
}

/// Connects to `url` and runs the connection task in the background;
/// errors start with the URL, password left out.
async fn connect(url: &str) -> Result<Client, String> {
    let endpoint = Endpoint::new(url).map_err(|e| format!("`{}`: {e}", display_url(url)))?;
    endpoint
        .client()
        .await
        .map_err(|e| format!("`{}`: {e}", endpoint.name()))
}

/// The error and its causes (tokio-postgres shows only its kind, such as
/// `db error`, in `Display`).
fn error_text(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Applies the migrations not yet applied.
async fn migrate(client: &mut Client) -> Result<(), String> {
    let tx = client.transaction().await.map_err(|e| error_text(&e))?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7274836148); \
         CREATE TABLE IF NOT EXISTS signoff_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
    )
    .await
    .map_err(|e| error_text(&e))?;
    let done: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM signoff_migrations",
            &[],
        )
        .await
        .map_err(|e| error_text(&e))?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if version <= done {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migration {version}: {}", error_text(&e)))?;
        tx.execute(
            "INSERT INTO signoff_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(|e| error_text(&e))?;
    }
    tx.commit().await.map_err(|e| error_text(&e))
}

/// A connection that is re-established when lost.
#[derive(Clone)]
struct Pool {
    endpoint: Endpoint,
    client: Arc<Mutex<Option<Client>>>,
    name: String,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// `postgres://user@host:port/db` for messages, never a password (and a
/// placeholder for a URL that does not parse).
fn display_url(url: &str) -> String {
    config::display_name(url).unwrap_or_else(|| "postgres://…".to_owned())
}

impl Pool {
    async fn open(endpoint: Endpoint) -> Result<Self, String> {
        let mut client = endpoint.client().await?;
        migrate(&mut client).await?;
        Ok(Pool {
            name: endpoint.name().to_owned(),
            endpoint,
            client: Arc::new(Mutex::new(Some(client))),
        })
    }

    /// The live client, reconnecting if the last one was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, String> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            *guard = Some(self.endpoint.client().await?);
        }
        Ok(guard)
    }
}
