//! Backends that fail, for fail-closed tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;

use crate::approval::{ApprovalRequest, RequestStatus, StoredRequest};
use crate::approver::{Approver, ApproverError, VoteSender};
use crate::audit::{AuditError, AuditSink, ChainHead, GENESIS, SealedRecord};
use crate::store::{ApprovalStore, MemoryStore, StoreError};

/// An audit sink that accepts `ok_batches` batches, then fails every append
/// (a full disk, say). Accepted lines are kept for inspection.
#[derive(Debug, Clone, Default)]
pub struct FailingSink {
    ok_batches: Arc<AtomicU64>,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FailingSink {
    /// Fails from the first append.
    pub fn new() -> Self {
        Self::after(0)
    }

    /// Fails after `n` successful batches.
    pub fn after(n: u64) -> Self {
        FailingSink {
            ok_batches: Arc::new(AtomicU64::new(n)),
            lines: Arc::default(),
        }
    }

    /// The lines accepted before failing.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl AuditSink for FailingSink {
    async fn head(&self) -> Result<ChainHead, AuditError> {
        Ok(ChainHead {
            stream: None,
            seq: 0,
            hash: GENESIS.to_owned(),
            recovered: None,
        })
    }

    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError> {
        let left = self.ok_batches.load(Ordering::SeqCst);
        if left == 0 {
            return Err(AuditError::Write(
                "No space left on device (os error 28)".into(),
            ));
        }
        self.ok_batches.store(left - 1, Ordering::SeqCst);
        if let Ok(mut l) = self.lines.lock() {
            l.extend(records.iter().map(|r| r.line.clone()));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "failing".to_owned()
    }
}

/// A store that works until `fail()` is called, then errors on everything
/// (a database outage).
#[derive(Debug, Clone, Default)]
pub struct FailingStore {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
}

impl FailingStore {
    /// A working store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that is down from the start.
    pub fn down() -> Self {
        let s = Self::default();
        s.fail();
        s
    }

    /// Takes the store down.
    pub fn fail(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::new("failing", "connection refused"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ApprovalStore for FailingStore {
    async fn create(&self, request: StoredRequest) -> Result<StoredRequest, StoreError> {
        self.check()?;
        self.inner.create(request).await
    }
    async fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn get_by_action(&self, action_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        self.check()?;
        self.inner.get_by_action(action_id).await
    }
    async fn list(&self, status: Option<RequestStatus>) -> Result<Vec<StoredRequest>, StoreError> {
        self.check()?;
        self.inner.list(status).await
    }
    async fn update(&self, request: &StoredRequest) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.update(request).await
    }
    async fn wait_change(&self, id: &str, version: u64) -> Result<(), StoreError> {
        self.check()?;
        // wake up now and then so an outage during the wait is noticed
        tokio::select! {
            r = self.inner.wait_change(id, version) => r,
            () = tokio::time::sleep(std::time::Duration::from_millis(20)) => Ok(()),
        }
    }
    fn describe(&self) -> String {
        "failing".to_owned()
    }
    async fn put_grant(&self, grant: &crate::grant::Grant) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_grant(grant).await
    }
    async fn grants_by_key(&self, key: &str) -> Result<Vec<crate::grant::Grant>, StoreError> {
        self.check()?;
        self.inner.grants_by_key(key).await
    }
    async fn list_grants(&self) -> Result<Vec<crate::grant::Grant>, StoreError> {
        self.check()?;
        self.inner.list_grants().await
    }
    async fn revoke_grant(
        &self,
        id: &str,
        revocation: crate::grant::Revocation,
    ) -> Result<Option<crate::grant::Grant>, StoreError> {
        self.check()?;
        self.inner.revoke_grant(id, revocation).await
    }
}

/// An approver whose `review` fails (Slack is down, say).
#[derive(Debug, Clone, Default)]
pub struct FailingApprover;

#[async_trait]
impl Approver for FailingApprover {
    async fn review(&self, _: ApprovalRequest, _: VoteSender) -> Result<(), ApproverError> {
        Err(ApproverError::new("chat.postMessage answered 500"))
    }
}

/// An approver that presents the request and never votes.
#[derive(Debug, Clone, Default)]
pub struct SilentApprover;

#[async_trait]
impl Approver for SilentApprover {
    async fn review(&self, _: ApprovalRequest, _: VoteSender) -> Result<(), ApproverError> {
        Ok(())
    }
}
