//! The in-memory store: the default, for one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{ApprovalStore, StoreError};
use crate::approval::{RequestStatus, StoredRequest};
use crate::grant::{Grant, Revocation};

/// Keeps requests in memory; lost when the process ends.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    requests: HashMap<String, (StoredRequest, Arc<Notify>)>,
    by_action: HashMap<String, String>,
    order: Vec<String>,
    beats: HashMap<String, chrono::DateTime<chrono::Utc>>,
    grants: Vec<Grant>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::new("memory", "store lock poisoned"))
    }
}

#[async_trait]
impl ApprovalStore for MemoryStore {
    async fn create(&self, mut request: StoredRequest) -> Result<StoredRequest, StoreError> {
        let mut s = self.lock()?;
        let action_id = request.action.id.clone().unwrap_or_default();
        if let Some(existing) = s
            .by_action
            .get(&action_id)
            .and_then(|id| s.requests.get(id))
        {
            return Ok(existing.0.clone());
        }
        if s.requests.contains_key(&request.id) {
            return Err(StoreError::new(
                "memory",
                format!("request id `{}` exists", request.id),
            ));
        }
        request.version = 1;
        s.by_action.insert(action_id, request.id.clone());
        s.order.push(request.id.clone());
        s.requests.insert(
            request.id.clone(),
            (request.clone(), Arc::new(Notify::new())),
        );
        Ok(request)
    }

    async fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        Ok(self.lock()?.requests.get(id).map(|(r, _)| r.clone()))
    }

    async fn get_by_action(&self, action_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let s = self.lock()?;
        Ok(s.by_action
            .get(action_id)
            .and_then(|id| s.requests.get(id))
            .map(|(r, _)| r.clone()))
    }

    async fn list(&self, status: Option<RequestStatus>) -> Result<Vec<StoredRequest>, StoreError> {
        let s = self.lock()?;
        Ok(s.order
            .iter()
            .filter_map(|id| s.requests.get(id))
            .map(|(r, _)| r)
            .filter(|r| status.is_none_or(|st| r.status == st))
            .cloned()
            .collect())
    }

    async fn update(&self, request: &StoredRequest) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        let Some((current, notify)) = s.requests.get_mut(&request.id) else {
            return Err(StoreError::new(
                "memory",
                format!("no request `{}`", request.id),
            ));
        };
        if current.version + 1 != request.version {
            return Ok(false);
        }
        *current = request.clone();
        notify.notify_waiters();
        Ok(true)
    }

    async fn wait_change(&self, id: &str, version: u64) -> Result<(), StoreError> {
        let notify = {
            let s = self.lock()?;
            match s.requests.get(id) {
                Some((r, _)) if r.version > version => return Ok(()),
                Some((_, n)) => Arc::clone(n),
                None => return Err(StoreError::new("memory", format!("no request `{id}`"))),
            }
        };
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // re-check after registering, so an update in between is not missed
        if self
            .lock()?
            .requests
            .get(id)
            .is_some_and(|(r, _)| r.version > version)
        {
            return Ok(());
        }
        notified.await;
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn beat(&self, who: &str, at: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        self.lock()?.beats.insert(who.to_owned(), at);
        Ok(())
    }

    async fn latest_beat(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(self.lock()?.beats.values().max().copied())
    }

    async fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        if s.grants.iter().any(|g| g.id == grant.id) {
            return Err(StoreError::new(
                "memory",
                format!("grant id `{}` exists", grant.id),
            ));
        }
        s.grants.push(grant.clone());
        Ok(())
    }

    async fn grants_by_key(&self, key: &str) -> Result<Vec<Grant>, StoreError> {
        Ok(self
            .lock()?
            .grants
            .iter()
            .filter(|g| g.key == key)
            .cloned()
            .collect())
    }

    async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        Ok(self.lock()?.grants.clone())
    }

    async fn revoke_grant(
        &self,
        id: &str,
        revocation: Revocation,
    ) -> Result<Option<Grant>, StoreError> {
        let mut s = self.lock()?;
        Ok(s.grants.iter_mut().find(|g| g.id == id).map(|g| {
            if g.revoked.is_none() {
                g.revoked = Some(revocation);
            }
            g.clone()
        }))
    }
}
