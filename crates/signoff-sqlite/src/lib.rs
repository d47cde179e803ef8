#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod sink;
mod store;

pub use sink::{SqliteSink, dump_lines, tamper_for_tests, verify};
pub use store::SqliteStore;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// Opens `path` with the settings every signoff connection uses.
fn open(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok(conn)
}

/// A connection shared by the async callers, used on blocking threads.
#[derive(Clone)]
struct Db {
    conn: Arc<Mutex<Connection>>,
    name: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Db {
    fn open(path: &Path, schema: &str) -> Result<Self, String> {
        let conn = open(path)?;
        conn.execute_batch(schema)
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            name: format!("sqlite:{}", path.display()),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn run<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| "connection lock poisoned".to_owned())?;
            f(&mut c).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("database task failed: {e}"))?
    }
}
