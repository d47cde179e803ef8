//! `SqliteStore`: the approval store in a SQLite file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use signoff::{ApprovalStore, Grant, RequestStatus, Revocation, StoreError, StoredRequest};
use tokio::sync::Notify;

use crate::Db;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signoff_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO signoff_meta (key, value) VALUES ('store_schema', '1');
CREATE TABLE IF NOT EXISTS signoff_requests (
    id         TEXT PRIMARY KEY,
    action_id  TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signoff_requests_status ON signoff_requests (status, created_at);
CREATE TABLE IF NOT EXISTS signoff_heartbeats (who TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signoff_grants (
    id      TEXT PRIMARY KEY,
    key     TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signoff_grants_key ON signoff_grants (key);
";

/// How often waiters re-read a request changed by another process.
const POLL: Duration = Duration::from_millis(100);

/// Approval requests in a SQLite file, shared by every process that opens it.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Db,
    local: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

fn status_name(s: RequestStatus) -> &'static str {
    s.as_str()
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let db = Db::open(path, SCHEMA)
            .map_err(|e| StoreError::new(format!("sqlite:{}", path.display()), e))?;
        Ok(SqliteStore {
            db,
            local: Arc::default(),
        })
    }

    fn err(&self, message: String) -> StoreError {
        StoreError::new(self.db.name.clone(), message)
    }

    fn notify(&self, id: &str) {
        if let Ok(map) = self.local.lock()
            && let Some(n) = map.get(id)
        {
            n.notify_waiters();
        }
    }
}

fn decode(body: &str) -> Result<StoredRequest, rusqlite::Error> {
    serde_json::from_str(body).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn encode(r: &StoredRequest) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| StoreError::new("sqlite", e.to_string()))
}

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn create(&self, mut request: StoredRequest) -> Result<StoredRequest, StoreError> {
        request.version = 1;
        let body = encode(&request)?;
        let action_id = request.action.id.clone().unwrap_or_default();
        let (id, status, created) = (
            request.id.clone(),
            status_name(request.status),
            request.created_at.to_rfc3339(),
        );
        self.db
            .run(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO signoff_requests (id, action_id, status, version, created_at, body)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5) ON CONFLICT(action_id) DO NOTHING",
                    params![id, action_id, status, created, body],
                )?;
                let stored: String = tx.query_row(
                    "SELECT body FROM signoff_requests WHERE action_id = ?1",
                    params![action_id],
                    |r| r.get(0),
                )?;
                tx.commit()?;
                decode(&stored)
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let id = id.to_owned();
        self.db
            .run(move |c| {
                c.query_row(
                    "SELECT body FROM signoff_requests WHERE id = ?1",
                    params![id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|b| decode(&b))
                .transpose()
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn get_by_action(&self, action_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let action_id = action_id.to_owned();
        self.db
            .run(move |c| {
                c.query_row(
                    "SELECT body FROM signoff_requests WHERE action_id = ?1",
                    params![action_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|b| decode(&b))
                .transpose()
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn list(&self, status: Option<RequestStatus>) -> Result<Vec<StoredRequest>, StoreError> {
        self.db
            .run(move |c| {
                let mut out = Vec::new();
                let sql = match status {
                    Some(_) => "SELECT body FROM signoff_requests WHERE status = ?1 ORDER BY created_at, rowid",
                    None => "SELECT body FROM signoff_requests WHERE ?1 IS NULL OR 1 ORDER BY created_at, rowid",
                };
                let mut stmt = c.prepare(sql)?;
                let rows = stmt.query_map(params![status.map(status_name)], |r| r.get::<_, String>(0))?;
                for row in rows {
                    out.push(decode(&row?)?);
                }
                Ok(out)
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn update(&self, request: &StoredRequest) -> Result<bool, StoreError> {
        let body = encode(request)?;
        let (id, status, version) = (
            request.id.clone(),
            status_name(request.status),
            request.version,
        );
        let changed = self
            .db
            .run(move |c| {
                let prior = i64::try_from(version).unwrap_or(i64::MAX) - 1;
                let n = c.execute(
                    "UPDATE signoff_requests SET body = ?1, status = ?2, version = ?3
                     WHERE id = ?4 AND version = ?5",
                    params![
                        body,
                        status,
                        i64::try_from(version).unwrap_or(i64::MAX),
                        id,
                        prior
                    ],
                )?;
                Ok(n == 1)
            })
            .await
            .map_err(|e| self.err(e))?;
        if changed {
            self.notify(&request.id);
        }
        Ok(changed)
    }

    async fn wait_change(&self, id: &str, version: u64) -> Result<(), StoreError> {
        let notify = {
            let mut map = self
                .local
                .lock()
                .map_err(|_| self.err("waiter map poisoned".into()))?;
            Arc::clone(map.entry(id.to_owned()).or_default())
        };
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match self.get(id).await? {
            Some(r) if r.version > version => return Ok(()),
            Some(_) => {}
            None => return Err(self.err(format!("no request `{id}`"))),
        }
        // woken at once by this process's updates; other processes' are seen by polling
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(POLL) => {}
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.db.name.clone()
    }

    async fn beat(&self, who: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let (who, at) = (
            who.to_owned(),
            at.to_rfc3339_opts(SecondsFormat::Micros, true),
        );
        self.db
            .run(move |c| {
                c.execute(
                    "INSERT INTO signoff_heartbeats (who, at) VALUES (?1, ?2)
                     ON CONFLICT (who) DO UPDATE SET at = excluded.at",
                    params![who, at],
                )
                .map(|_| ())
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn latest_beat(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let beats: Vec<String> = self
            .db
            .run(|c| {
                let mut stmt = c.prepare("SELECT at FROM signoff_heartbeats")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect()
            })
            .await
            .map_err(|e| self.err(e))?;
        Ok(beats
            .iter()
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .max())
    }

    async fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let body = serde_json::to_string(grant).map_err(|e| self.err(e.to_string()))?;
        let (id, key) = (grant.id.clone(), grant.key.clone());
        self.db
            .run(move |c| {
                c.execute(
                    "INSERT INTO signoff_grants (id, key, revoked, body) VALUES (?1, ?2, 0, ?3)",
                    params![id, key, body],
                )
                .map(|_| ())
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn grants_by_key(&self, key: &str) -> Result<Vec<Grant>, StoreError> {
        let key = key.to_owned();
        self.db
            .run(move |c| {
                let mut stmt =
                    c.prepare("SELECT body FROM signoff_grants WHERE key = ?1 ORDER BY rowid")?;
                let rows = stmt.query_map(params![key], |r| r.get::<_, String>(0))?;
                rows.map(|b| b.and_then(|b| decode_grant(&b))).collect()
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        self.db
            .run(|c| {
                let mut stmt = c.prepare("SELECT body FROM signoff_grants ORDER BY rowid")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.map(|b| b.and_then(|b| decode_grant(&b))).collect()
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn revoke_grant(
        &self,
        id: &str,
        revocation: Revocation,
    ) -> Result<Option<Grant>, StoreError> {
        let id = id.to_owned();
        self.db
            .run(move |c| {
                let tx = c.transaction()?;
                let Some(body) = tx
                    .query_row(
                        "SELECT body FROM signoff_grants WHERE id = ?1",
                        params![id],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()?
                else {
                    return Ok(None);
                };
                let mut grant = decode_grant(&body)?;
                if grant.revoked.is_none() {
                    grant.revoked = Some(revocation);
                    let body = serde_json::to_string(&grant)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    tx.execute(
                        "UPDATE signoff_grants SET body = ?1, revoked = 1 WHERE id = ?2",
                        params![body, id],
                    )?;
                }
                tx.commit()?;
                Ok(Some(grant))
            })
            .await
            .map_err(|e| self.err(e))
    }
}

fn decode_grant(body: &str) -> Result<Grant, rusqlite::Error> {
    serde_json::from_str(body).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}
