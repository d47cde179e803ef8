//! The [`AuditSink`] trait: where sealed records go.

use std::sync::Arc;

use async_trait::async_trait;

/// A sealed record: the record and its canonical line (no newline).
#[derive(Debug, Clone)]
pub struct SealedRecord {
    /// The record, with `seq`, `prev` and `hash` set.
    pub record: super::AuditRecord,
    /// Its canonical JSON line.
    pub line: String,
}

/// How far a sink's chain goes: where the next record continues from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainHead {
    /// The stream to continue; `None` for an empty sink (a new one is named).
    pub stream: Option<String>,
    /// Last sequence number written (0 when empty).
    pub seq: u64,
    /// Hash of the last record ([`super::GENESIS`] when empty).
    pub hash: String,
    /// Set when opening had to repair the log (a torn final line was cut):
    /// what was done. The log then records `audit.recovered`.
    pub recovered: Option<String>,
}

/// Why the audit trail could not be written or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// Writing or flushing failed; nothing after the last durable record was kept.
    #[error("audit write failed: {0}")]
    Write(String),
    /// The log could not be opened or is corrupt beyond a torn final line.
    #[error("audit log cannot be opened: {0}")]
    Open(String),
    /// An earlier failure stopped this trail; every later action fails closed.
    #[error("audit trail is stopped after an earlier failure: {0}")]
    Poisoned(String),
}

/// Receives sealed records, in chain order, and makes them durable.
///
/// One flusher calls `append` at a time, with consecutive records; a sink
/// returns only once the records are durable in its mode (or fails, and the
/// gate fails closed). Group commit happens above the sink: while one
/// `append` is in flight, later records queue up and arrive as one batch.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Where this sink's chain ends. Called once, before the first append.
    async fn head(&self) -> Result<ChainHead, AuditError>;

    /// Writes `records` durably, in order.
    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError>;

    /// A short name for errors and logs (`jsonl:/var/log/signoff.jsonl`).
    fn describe(&self) -> String;

    /// Writes `records` at once, without blocking for long (no fsync, no
    /// network), when this sink can; `None` when it cannot, and the records
    /// go through [`AuditSink::append`] on the flusher task instead. Lets a
    /// lone caller skip the task hop in `os-buffered` mode.
    fn append_now(&self, _records: &[SealedRecord]) -> Option<Result<(), AuditError>> {
        None
    }

    /// Whether [`AuditSink::append_now`] always writes (never returns
    /// `None`): records that need not wait may then ride along with the next
    /// write instead of costing one of their own.
    fn writes_at_once(&self) -> bool {
        false
    }

    /// Whether another live writer appends to the same place (a JSONL file
    /// whose lock another process holds): a configured stream name then
    /// gets this writer's process id appended, so two chains never share a
    /// name.
    fn shared_with_another_writer(&self) -> bool {
        false
    }
}

#[async_trait]
impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn append_now(&self, records: &[SealedRecord]) -> Option<Result<(), AuditError>> {
        (**self).append_now(records)
    }
    fn writes_at_once(&self) -> bool {
        (**self).writes_at_once()
    }
    fn shared_with_another_writer(&self) -> bool {
        (**self).shared_with_another_writer()
    }
    async fn head(&self) -> Result<ChainHead, AuditError> {
        (**self).head().await
    }
    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError> {
        (**self).append(records).await
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}
