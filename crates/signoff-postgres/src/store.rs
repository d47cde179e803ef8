//! `PgStore`: the approval store in PostgreSQL, with LISTEN/NOTIFY wake-ups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signoff::{ApprovalStore, Grant, RequestStatus, Revocation, StoreError, StoredRequest};
use tokio::sync::{Notify, mpsc};
use tokio_postgres::AsyncMessage;

use crate::{Endpoint, Pool};

const CHANNEL: &str = "signoff_requests";
/// Waiters re-read at least this often, so a dropped listener never strands them.
const POLL: Duration = Duration::from_millis(500);

type Waiters = Arc<Mutex<HashMap<String, Arc<Notify>>>>;

/// Approval requests in PostgreSQL, shared by every process that connects.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
    waiters: Waiters,
}

impl PgStore {
    /// Connects, migrates the schema, and starts listening for changes.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let endpoint =
            Endpoint::new(url).map_err(|e| StoreError::new(crate::display_url(url), e))?;
        let pool = Pool::open(endpoint.clone())
            .await
            .map_err(|e| StoreError::new(endpoint.name(), e))?;
        let waiters: Waiters = Arc::default();
        tokio::spawn(listen(endpoint, Arc::downgrade(&waiters)));
        Ok(PgStore { pool, waiters })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::new(self.pool.name.clone(), e.to_string())
    }
}

/// Keeps a LISTEN connection open, reconnecting when it drops, and wakes
/// this process's waiters on every notification. Ends with the store.
async fn listen(endpoint: Endpoint, waiters: Weak<Mutex<HashMap<String, Arc<Notify>>>>) {
    loop {
        if waiters.strong_count() == 0 {
            return;
        }
        if let Ok((client, mut connection)) = endpoint.open().await {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let pump = tokio::spawn(async move {
                while let Some(Ok(message)) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    if let AsyncMessage::Notification(n) = message
                        && tx.send(n.payload().to_owned()).is_err()
                    {
                        return;
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                // after (re)connecting, wake everyone: changes may have been missed
                wake_all(&waiters);
                while let Some(id) = rx.recv().await {
                    let Some(map) = waiters.upgrade() else { return };
                    if let Ok(map) = map.lock()
                        && let Some(n) = map.get(&id)
                    {
                        n.notify_waiters();
                    }
                }
            }
            pump.abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn wake_all(waiters: &Weak<Mutex<HashMap<String, Arc<Notify>>>>) {
    if let Some(map) = waiters.upgrade()
        && let Ok(map) = map.lock()
    {
        for n in map.values() {
            n.notify_waiters();
        }
    }
}

fn decode(body: &str) -> Result<StoredRequest, String> {
    serde_json::from_str(body).map_err(|e| format!("a stored request does not parse: {e}"))
}

fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl ApprovalStore for PgStore {
    async fn create(&self, mut request: StoredRequest) -> Result<StoredRequest, StoreError> {
        request.version = 1;
        let body = serde_json::to_string(&request).map_err(|e| self.err(e))?;
        let action_id = request.action.id.clone().unwrap_or_default();
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        client
            .execute(
                "INSERT INTO signoff_requests (id, action_id, status, version, created_at, body)
                 VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (action_id) DO NOTHING",
                &[
                    &request.id,
                    &action_id,
                    &request.status.as_str(),
                    &request.created_at.to_rfc3339(),
                    &body,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        let row = client
            .query_one(
                "SELECT body FROM signoff_requests WHERE action_id = $1",
                &[&action_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        decode(row.get(0)).map_err(|e| self.err(e))
    }

    async fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let row = client
            .query_opt("SELECT body FROM signoff_requests WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| decode(r.get(0)))
            .transpose()
            .map_err(|e| self.err(e))
    }

    async fn get_by_action(&self, action_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let row = client
            .query_opt(
                "SELECT body FROM signoff_requests WHERE action_id = $1",
                &[&action_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| decode(r.get(0)))
            .transpose()
            .map_err(|e| self.err(e))
    }

    async fn list(&self, status: Option<RequestStatus>) -> Result<Vec<StoredRequest>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let status = status.map(RequestStatus::as_str);
        let rows = client
            .query(
                "SELECT body FROM signoff_requests WHERE $1::text IS NULL OR status = $1
                 ORDER BY created_at, id",
                &[&status],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode(r.get(0)).map_err(|e| self.err(e)))
            .collect()
    }

    async fn update(&self, request: &StoredRequest) -> Result<bool, StoreError> {
        let body = serde_json::to_string(request).map_err(|e| self.err(e))?;
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let n = client
            .execute(
                "UPDATE signoff_requests SET body = $1, status = $2, version = $3
                 WHERE id = $4 AND version = $5",
                &[
                    &body,
                    &request.status.as_str(),
                    &version(request.version),
                    &request.id,
                    &(version(request.version) - 1),
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        if n == 1 {
            // best effort: waiters also poll
            let _ = client
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &request.id])
                .await;
        }
        Ok(n == 1)
    }

    async fn wait_change(&self, id: &str, version: u64) -> Result<(), StoreError> {
        let notify = {
            let mut map = self
                .waiters
                .lock()
                .map_err(|_| self.err("waiter map poisoned"))?;
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
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(POLL) => {}
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.pool.name.clone()
    }

    async fn beat(&self, who: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let micros = at.timestamp_micros() as f64 / 1e6;
        client
            .execute(
                "INSERT INTO signoff_heartbeats (who, at) VALUES ($1, to_timestamp($2))
                 ON CONFLICT (who) DO UPDATE SET at = excluded.at",
                &[&who, &micros],
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    async fn latest_beat(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let row = client
            .query_one(
                "SELECT (EXTRACT(EPOCH FROM MAX(at)) * 1000000)::BIGINT FROM signoff_heartbeats",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let micros: Option<i64> = row.get(0);
        Ok(micros.and_then(DateTime::from_timestamp_micros))
    }

    async fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let body = serde_json::to_string(grant).map_err(|e| self.err(e))?;
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        client
            .execute(
                "INSERT INTO signoff_grants (id, key, revoked, body) VALUES ($1, $2, FALSE, $3)",
                &[&grant.id, &grant.key, &body],
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    async fn grants_by_key(&self, key: &str) -> Result<Vec<Grant>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let rows = client
            .query(
                "SELECT body FROM signoff_grants WHERE key = $1 ORDER BY pos",
                &[&key],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode_grant(r.get(0)).map_err(|e| self.err(e)))
            .collect()
    }

    async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let rows = client
            .query("SELECT body FROM signoff_grants ORDER BY pos", &[])
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode_grant(r.get(0)).map_err(|e| self.err(e)))
            .collect()
    }

    async fn revoke_grant(
        &self,
        id: &str,
        revocation: Revocation,
    ) -> Result<Option<Grant>, StoreError> {
        let guard = self.pool.client().await.map_err(|e| self.err(e))?;
        let client = guard.as_ref().ok_or_else(|| self.err("no connection"))?;
        let Some(row) = client
            .query_opt("SELECT body FROM signoff_grants WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let mut grant = decode_grant(row.get(0)).map_err(|e| self.err(e))?;
        if grant.revoked.is_some() {
            return Ok(Some(grant));
        }
        grant.revoked = Some(revocation);
        let body = serde_json::to_string(&grant).map_err(|e| self.err(e))?;
        // only the first revoke writes: a concurrent one keeps its own
        let n = client
            .execute(
                "UPDATE signoff_grants SET body = $1, revoked = TRUE WHERE id = $2 AND NOT revoked",
                &[&body, &id],
            )
            .await
            .map_err(|e| self.err(e))?;
        if n == 1 {
            return Ok(Some(grant));
        }
        let row = client
            .query_one("SELECT body FROM signoff_grants WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?;
        decode_grant(row.get(0)).map(Some).map_err(|e| self.err(e))
    }
}

fn decode_grant(body: &str) -> Result<Grant, String> {
    serde_json::from_str(body).map_err(|e| format!("a stored grant does not parse: {e}"))
}
