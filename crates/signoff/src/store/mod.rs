//! The [`ApprovalStore`] trait: pending requests and votes, shared by every
//! gate and server that uses the same store.

mod memory;

pub use memory::MemoryStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::approval::{RequestStatus, StoredRequest};
use crate::grant::{Grant, Revocation};

/// Why the store failed. The gate fails closed on any of these.
#[derive(Debug, Clone, thiserror::Error)]
#[error("approval store `{store}` failed: {message}")]
pub struct StoreError {
    /// Which store.
    pub store: String,
    /// What went wrong.
    pub message: String,
}

impl StoreError {
    /// A new error for `store`.
    pub fn new(store: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError {
            store: store.into(),
            message: message.into(),
        }
    }
}

/// Keeps approval requests. The store only stores: every vote rule is
/// enforced by the gate, which reads a request, decides, and writes it back
/// with [`ApprovalStore::update`], a compare-and-swap on `version` — so two
/// processes voting at once can neither double-count nor both resolve.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Inserts `request` (version 1). If a request for the same action id
    /// already exists, stores nothing and returns the existing one.
    async fn create(&self, request: StoredRequest) -> Result<StoredRequest, StoreError>;

    /// The request with this id.
    async fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError>;

    /// The request for this action id.
    async fn get_by_action(&self, action_id: &str) -> Result<Option<StoredRequest>, StoreError>;

    /// Requests, optionally only those with `status`, oldest first.
    async fn list(&self, status: Option<RequestStatus>) -> Result<Vec<StoredRequest>, StoreError>;

    /// Replaces the stored request if its version is `request.version - 1`.
    /// Returns false (and changes nothing) when someone else updated first.
    async fn update(&self, request: &StoredRequest) -> Result<bool, StoreError>;

    /// Returns when the request may have moved past `version` (spurious
    /// wake-ups are allowed; callers re-read).
    async fn wait_change(&self, id: &str, version: u64) -> Result<(), StoreError>;

    /// A short name for errors (`memory`, `sqlite:/var/lib/signoff.db`).
    fn describe(&self) -> String;

    /// Records that `who` (a dispatcher replica) is alive now. Stores that
    /// cannot be shared between processes need not support it.
    async fn beat(&self, who: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let _ = (who, at);
        Err(StoreError::new(
            self.describe(),
            "this store keeps no dispatcher heartbeats",
        ))
    }

    /// The newest heartbeat of any dispatcher, if one ever beat.
    async fn latest_beat(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Err(StoreError::new(
            self.describe(),
            "this store keeps no dispatcher heartbeats",
        ))
    }

    /// Stores a new grant (DESIGN §13). Stores that keep no grants refuse,
    /// so approvals there simply carry none.
    async fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let _ = grant;
        Err(self.no_grants())
    }

    /// Every grant with this lookup key, revoked and expired ones included
    /// (the gate checks them). Read from the store on every call: a revoke
    /// in another process is seen at once.
    async fn grants_by_key(&self, key: &str) -> Result<Vec<Grant>, StoreError> {
        let _ = key;
        Err(self.no_grants())
    }

    /// Every grant, oldest first.
    async fn list_grants(&self) -> Result<Vec<Grant>, StoreError> {
        Err(self.no_grants())
    }

    /// Revokes a grant; the grant as stored afterwards (an earlier
    /// revocation is kept), or `None` when there is no such grant.
    async fn revoke_grant(
        &self,
        id: &str,
        revocation: Revocation,
    ) -> Result<Option<Grant>, StoreError> {
        let _ = (id, revocation);
        Err(self.no_grants())
    }

    /// The error of a store that keeps no grants.
    fn no_grants(&self) -> StoreError {
        StoreError::new(self.describe(), "this store keeps no grants")
    }
}
