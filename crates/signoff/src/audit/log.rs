//! The audit log: seals records into each sink's chain and makes them durable
//! with group commit.
//!
//! Sealing (seq, prev, hash) happens under a short lock, so records enter the
//! chain in one order. Durability is a separate step: whoever needs a record
//! durable runs a flush in a spawned task (so a dropped caller never leaves a
//! half-written batch behind); a flush takes every record sealed so far, so
//! while one batch is being synced the next one gathers — one fsync serves
//! many callers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};

use super::checkpoint::checkpoint_message;
use super::record::{AuditRecord, Event, GENESIS};
use super::sink::{AuditError, AuditSink, ChainHead, SealedRecord};

/// When to write signed checkpoints (`docs/audit-trail.md` §8). A checkpoint
/// is written after `every_records` records, when a write comes `every` after
/// the last checkpoint, and on [`AuditLog::flush`] (so `Gate::close`) when
/// records were written since the last one: a gate closed cleanly leaves its
/// trail's head signed.
#[derive(Clone)]
pub struct CheckpointConfig {
    /// The signing key.
    pub key: SigningKey,
    /// A checkpoint after this many records.
    pub every_records: u64,
    /// A checkpoint when this much time passed since the last one (checked
    /// when records are written).
    pub every: Duration,
}

impl CheckpointConfig {
    /// Records between checkpoints unless set otherwise.
    pub const DEFAULT_EVERY_RECORDS: u64 = 1000;
    /// Time between checkpoints unless set otherwise.
    pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);

    /// Checkpoints signed with `key`, every 1000 records or every minute.
    ///
    /// ```
    /// use signoff::audit::{CheckpointConfig, CheckpointKeySource, generate_signing_key};
    /// let config = CheckpointConfig::new(generate_signing_key().unwrap());
    /// assert_eq!(config.every_records, 1000);
    /// // from a key file or variable, failing when it is missing:
    /// let source = CheckpointKeySource::File("/no/such/checkpoint.key".into());
    /// assert!(source.load().map(CheckpointConfig::new).is_err());
    /// ```
    pub fn new(key: SigningKey) -> Self {
        CheckpointConfig {
            key,
            every_records: Self::DEFAULT_EVERY_RECORDS,
            every: Self::DEFAULT_EVERY,
        }
    }
}

impl std::fmt::Debug for CheckpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointConfig")
            .field("key", &"<secret>")
            .field("every_records", &self.every_records)
            .field("every", &self.every)
            .finish()
    }
}

/// How long a record that need not wait may sit before it is written,
/// when no other write carries it.
const DEFERRED_WRITE: Duration = Duration::from_millis(10);

/// The gate's audit trail: one chain per sink.
#[derive(Clone, Default)]
pub struct AuditLog {
    writers: Arc<Vec<Arc<ChainWriter>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.writers.iter().map(|w| w.sink.describe()))
            .finish()
    }
}

/// The stream name a writer of a file another live writer also appends to
/// takes: `NAME-PID`, then `NAME-PID-2`, ... for more such writers in one
/// process, so no two chains of a file share a name.
fn shared_stream_name(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    match N.fetch_add(1, Ordering::Relaxed) {
        0 => format!("{name}-{}", std::process::id()),
        n => format!("{name}-{}-{}", std::process::id(), n + 1),
    }
}

struct ChainWriter {
    sink: Arc<dyn AuditSink>,
    stream_name: Option<String>,
    checkpoint: Option<CheckpointConfig>,
    state: Mutex<ChainState>,
    /// Woken whenever `durable` advances or the writer is poisoned.
    flushed: tokio::sync::Notify,
    durable: AtomicU64,
    /// A deferred write is scheduled (see `defer_write`).
    deferred: std::sync::atomic::AtomicBool,
    poisoned: OnceLock<String>,
    init: tokio::sync::OnceCell<()>,
}

struct ChainState {
    stream: String,
    seq: u64,
    prev: String,
    pending: Vec<SealedRecord>,
    /// Whether a flusher task is running.
    flushing: bool,
    since_checkpoint: u64,
    last_checkpoint: Instant,
}

impl ChainState {
    /// Links `r` after the chain's last record, seals it and queues it.
    fn chain(&mut self, mut r: AuditRecord, ts: &str) {
        self.seq += 1;
        r.seq = self.seq;
        ts.clone_into(&mut r.ts);
        r.stream.clone_from(&self.stream);
        r.prev = std::mem::take(&mut self.prev);
        let line = r.to_line();
        self.prev.clone_from(&r.hash);
        self.pending.push(SealedRecord { record: r, line });
    }
}

impl AuditLog {
    /// A log writing to `sinks` (none: records go nowhere and nothing waits).
    pub fn new(
        sinks: Vec<Arc<dyn AuditSink>>,
        stream: Option<String>,
        checkpoint: Option<CheckpointConfig>,
    ) -> Self {
        let writers = sinks
            .into_iter()
            .map(|sink| {
                Arc::new(ChainWriter {
                    sink,
                    stream_name: stream.clone(),
                    checkpoint: checkpoint.clone(),
                    state: Mutex::new(ChainState {
                        stream: String::new(),
                        seq: 0,
                        prev: GENESIS.to_owned(),
                        pending: Vec::new(),
                        flushing: false,
                        since_checkpoint: 0,
                        last_checkpoint: Instant::now(),
                    }),
                    flushed: tokio::sync::Notify::new(),
                    durable: AtomicU64::new(0),
                    deferred: std::sync::atomic::AtomicBool::new(false),
                    poisoned: OnceLock::new(),
                    init: tokio::sync::OnceCell::new(),
                })
            })
            .collect();
        AuditLog {
            writers: Arc::new(writers),
        }
    }

    /// Whether any sink is configured.
    pub fn is_enabled(&self) -> bool {
        !self.writers.is_empty()
    }

    /// Appends `records` to every sink and returns once they are durable in
    /// each sink's mode. Any failure fails: the caller must not proceed.
    pub async fn append(&self, records: Vec<AuditRecord>) -> Result<(), AuditError> {
        self.append_with(records, true).await
    }

    /// Appends `records` and returns once they are queued in every chain,
    /// without waiting for them to be durable: they are written by the
    /// running flusher (or with the next write, within a few milliseconds,
    /// for sinks that write at once), and [`AuditLog::flush`] waits for
    /// them. For records whose loss in a crash loses no promise (an
    /// action's outcome, DESIGN §15), never for decisions. Any failure
    /// still fails.
    pub async fn append_queued(&self, records: Vec<AuditRecord>) -> Result<(), AuditError> {
        self.append_with(records, false).await
    }

    async fn append_with(&self, records: Vec<AuditRecord>, wait: bool) -> Result<(), AuditError> {
        let n = self.writers.len();
        let mut records = Some(records);
        for (i, w) in self.writers.iter().enumerate() {
            w.ensure_init().await?;
            // the last writer takes the vector itself; earlier ones a copy
            let batch = if i + 1 == n {
                records.take().unwrap_or_default()
            } else {
                records.clone().unwrap_or_default()
            };
            let ticket = w.seal(batch)?;
            if wait {
                w.wait_durable(ticket).await?;
            } else if w.durable.load(Ordering::Acquire) < ticket {
                if w.sink.writes_at_once() {
                    w.defer_write();
                } else if w.kick().is_err() {
                    // no runtime to write it later: write it now
                    w.wait_durable(ticket).await?;
                }
            }
        }
        Ok(())
    }

    /// Seals `records` now and flushes them in the background: for `Drop`
    /// paths (an abandoned permit) that cannot wait. Errors poison the log.
    pub fn append_detached(&self, records: Vec<AuditRecord>) {
        for w in self.writers.iter() {
            let sealed = if w.init.initialized() {
                w.seal(records.clone()).is_ok()
            } else {
                false
            };
            let w2 = Arc::clone(w);
            let records = records.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if sealed {
                        let _ = w2.flush_all().await;
                    } else if w2.ensure_init().await.is_ok()
                        && let Ok(t) = w2.seal(records)
                    {
                        let _ = w2.wait_durable(t).await;
                    }
                });
            } else if !sealed {
                w.poison("a record was dropped: no async runtime to write it".into());
            }
        }
    }

    /// Writes out everything sealed so far. With a checkpoint key, first
    /// seals a checkpoint over the head when records were written since the
    /// last one, so the newest records are covered by a signature.
    pub async fn flush(&self) -> Result<(), AuditError> {
        for w in self.writers.iter() {
            if w.init.initialized() {
                w.seal_with(Vec::new(), true)?;
                w.flush_all().await?;
            }
        }
        Ok(())
    }
}

impl ChainWriter {
    fn poison(&self, why: String) {
        let _ = self.poisoned.set(why);
        self.flushed.notify_waiters();
    }

    fn check_poison(&self) -> Result<(), AuditError> {
        match self.poisoned.get() {
            Some(why) => Err(AuditError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    async fn ensure_init(self: &Arc<Self>) -> Result<(), AuditError> {
        if self.init.initialized() {
            return Ok(());
        }
        let this = Arc::clone(self);
        self.init
            .get_or_try_init(|| async move {
                let head: ChainHead = this.sink.head().await?;
                let recovered = {
                    let mut s = this
                        .state
                        .lock()
                        .map_err(|_| AuditError::Poisoned("audit state lock poisoned".into()))?;
                    s.stream = head
                        .stream
                        .clone()
                        .or_else(|| {
                            this.stream_name.as_ref().map(|name| {
                                if this.sink.shared_with_another_writer() {
                                    shared_stream_name(name)
                                } else {
                                    name.clone()
                                }
                            })
                        })
                        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                    s.seq = head.seq;
                    s.prev = head.hash.clone();
                    this.durable.store(head.seq, Ordering::Release);
                    head.recovered.clone()
                };
                if let Some(what) = recovered {
                    let mut r = AuditRecord::new(Event::AuditRecovered);
                    r.error = Some(what);
                    let t = this.seal(vec![r])?;
                    this.wait_durable(t).await?;
                }
                Ok::<(), AuditError>(())
            })
            .await?;
        Ok(())
    }

    /// Seals records into the chain; returns the seq to wait for.
    fn seal(&self, records: Vec<AuditRecord>) -> Result<u64, AuditError> {
        self.seal_with(records, false)
    }

    /// `seal`, then a checkpoint when one is due, or (with `checkpoint_now`)
    /// whenever records were sealed since the last one.
    fn seal_with(
        &self,
        records: Vec<AuditRecord>,
        checkpoint_now: bool,
    ) -> Result<u64, AuditError> {
        self.check_poison()?;
        let mut s = self
            .state
            .lock()
            .map_err(|_| AuditError::Poisoned("audit state lock poisoned".into()))?;
        // taken under the lock, so timestamps never go backwards along the chain
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for r in records {
            s.chain(r, &ts);
            s.since_checkpoint += 1;
        }
        if let Some(cp) = &self.checkpoint
            && s.since_checkpoint > 0
            && (checkpoint_now
                || s.since_checkpoint >= cp.every_records
                || s.last_checkpoint.elapsed() >= cp.every)
        {
            let message = checkpoint_message(&s.stream, s.seq, &s.prev);
            let mut r = AuditRecord::new(Event::AuditCheckpoint);
            r.signature = Some(hex::encode(cp.key.sign(&message).to_bytes()));
            s.chain(r, &ts);
            s.since_checkpoint = 0;
            s.last_checkpoint = Instant::now();
        }
        Ok(s.seq)
    }

    /// Writes the pending batch on the caller's own thread when no flusher
    /// runs and the sink can write at once. There is no await point between
    /// taking the batch and recording it durable, so a caller that stops
    /// waiting cannot leave it half written.
    fn try_write_inline(&self) -> Result<bool, AuditError> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| AuditError::Poisoned("audit state lock poisoned".into()))?;
        if s.flushing || s.pending.is_empty() {
            return Ok(false);
        }
        let Some(result) = self.sink.append_now(&s.pending) else {
            return Ok(false);
        };
        let last = s.pending.last().map_or(0, |r| r.record.seq);
        s.pending.clear();
        drop(s);
        match result {
            Ok(()) => {
                self.durable.fetch_max(last, Ordering::AcqRel);
                self.flushed.notify_waiters();
                Ok(true)
            }
            Err(e) => {
                self.poison(format!("{}: {e}", self.sink.describe()));
                Err(e)
            }
        }
    }

    async fn wait_durable(self: &Arc<Self>, ticket: u64) -> Result<(), AuditError> {
        loop {
            self.check_poison()?;
            if self.durable.load(Ordering::Acquire) >= ticket {
                return Ok(());
            }
            if self.try_write_inline()? && self.durable.load(Ordering::Acquire) >= ticket {
                return Ok(());
            }
            let notified = self.flushed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.check_poison()?;
            if self.durable.load(Ordering::Acquire) >= ticket {
                return Ok(());
            }
            self.kick()?;
            notified.await;
        }
    }

    /// Makes sure records left pending are written soon even if no other
    /// write comes: one short timer per chain, however many records wait.
    fn defer_write(self: &Arc<Self>) {
        if self.deferred.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    tokio::time::sleep(DEFERRED_WRITE).await;
                    this.deferred.store(false, Ordering::Release);
                    if !matches!(this.try_write_inline(), Ok(true)) {
                        let _ = this.kick();
                    }
                });
            }
            Err(_) => {
                this.deferred.store(false, Ordering::Release);
                let _ = this.try_write_inline();
            }
        }
    }

    /// Starts the flusher task unless one is running. The flusher owns the
    /// batch it writes, so a caller that stops waiting never leaves a batch
    /// half written; while it syncs, later records gather into the next batch.
    fn kick(self: &Arc<Self>) -> Result<(), AuditError> {
        {
            let mut s = self
                .state
                .lock()
                .map_err(|_| AuditError::Poisoned("audit state lock poisoned".into()))?;
            if s.flushing || s.pending.is_empty() {
                return Ok(());
            }
            s.flushing = true;
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            AuditError::Write("no async runtime to write the audit trail".to_owned())
        })?;
        let this = Arc::clone(self);
        handle.spawn(async move {
            let mut guard = FlushingGuard {
                writer: Arc::clone(&this),
                armed: true,
            };
            this.flush_loop().await;
            guard.armed = false;
        });
        Ok(())
    }

    /// Writes batches until none is left; clears `flushing` under the same
    /// lock that saw the queue empty, so exactly one flusher runs at a time.
    async fn flush_loop(&self) {
        loop {
            let batch = match self.state.lock() {
                Ok(mut s) if !s.pending.is_empty() => std::mem::take(&mut s.pending),
                Ok(mut s) => {
                    s.flushing = false;
                    return;
                }
                Err(_) => {
                    self.poison("audit state lock poisoned".into());
                    return;
                }
            };
            let Some(last) = batch.last().map(|r| r.record.seq) else {
                return;
            };
            match self.sink.append(&batch).await {
                Ok(()) => {
                    self.durable.fetch_max(last, Ordering::AcqRel);
                    self.flushed.notify_waiters();
                }
                Err(e) => {
                    self.poison(format!("{}: {e}", self.sink.describe()));
                    if let Ok(mut s) = self.state.lock() {
                        s.flushing = false;
                    }
                    return;
                }
            }
        }
    }

    async fn flush_all(self: &Arc<Self>) -> Result<(), AuditError> {
        let target = self
            .state
            .lock()
            .map_err(|_| AuditError::Poisoned("audit state lock poisoned".into()))?
            .seq;
        self.wait_durable(target).await
    }
}

/// Clears the `flushing` flag if the flusher is dropped mid-flight (its
/// runtime shut down), so a later writer can start a new one. The batch it
/// held is lost from this process, so the trail is poisoned: fail closed.
struct FlushingGuard {
    writer: Arc<ChainWriter>,
    armed: bool,
}

impl Drop for FlushingGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.writer
            .poison("the audit flusher was stopped mid-write (runtime shut down)".into());
        if let Ok(mut s) = self.writer.state.lock() {
            s.flushing = false;
        }
    }
}
