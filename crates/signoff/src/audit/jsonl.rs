//! The JSONL audit sink: one canonical JSON record per line, hash-chained
//! (`docs/audit-trail.md` §11.1).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::sink::{AuditError, AuditSink, ChainHead, SealedRecord};
use super::{Durability, GENESIS};

/// Appends records to a JSON-lines file.
///
/// On open, a torn final line (a crash mid-write) is cut and reported, so the
/// log records `audit.recovered`; a corrupt complete last line refuses to
/// open. Durability: `every-record` fsyncs each record, `group` (default)
/// fsyncs each batch, `os-buffered` hands each batch to the OS unsynced.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    path: PathBuf,
    durability: Durability,
    file: Arc<Mutex<File>>,
    head: ChainHead,
    /// Another live process holds the file's lock (see `open_with`).
    shared: bool,
}

impl JsonlSink {
    /// Opens (creating if needed) the log at `path` with group durability.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        Self::open_with(path, Durability::Group)
    }

    /// Opens the log with the given durability. The writer holds an
    /// advisory lock on the file: when another live process already writes
    /// it (an approval server and its agents sharing one config file), this
    /// one appends a new stream of its own instead of continuing that
    /// writer's chain (see [`JsonlSink::open_new_stream`]).
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let err = |e: std::io::Error| AuditError::Open(format!("`{shown}`: {e}"));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            // held for the sink's life; a file system without advisory locks
            // (some network mounts) cannot tell, and is written as before
            Ok(()) | Err(std::fs::TryLockError::Error(_)) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                drop(file);
                let mut sink = Self::open_new_stream(path, durability)?;
                sink.shared = true;
                return Ok(sink);
            }
        }
        let head = recover_tail(&mut file, &shown)?;
        Ok(JsonlSink {
            path,
            durability,
            file: Arc::new(Mutex::new(file)),
            head,
            shared: false,
        })
    }

    /// Opens the log to append a new, separate stream (its own chain from
    /// seq 1), without touching what other writers put there: for a process
    /// forked from one already writing this file. Verification follows each
    /// stream on its own.
    pub fn open_new_stream(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| AuditError::Open(format!("`{shown}`: {e}")))?;
        Ok(JsonlSink {
            path,
            durability,
            file: Arc::new(Mutex::new(file)),
            head: ChainHead {
                stream: None,
                seq: 0,
                hash: GENESIS.to_owned(),
                recovered: None,
            },
            shared: false,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the end of the file: cuts a torn final line, returns the chain head.
fn recover_tail(file: &mut File, shown: &str) -> Result<ChainHead, AuditError> {
    let io = |e: std::io::Error| AuditError::Open(format!("`{shown}`: {e}"));
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(ChainHead {
            stream: None,
            seq: 0,
            hash: GENESIS.to_owned(),
            recovered: None,
        });
    }
    // read backwards in growing windows until two newlines (or the start) are seen
    let mut window = 4096u64.min(len);
    let tail = loop {
        file.seek(SeekFrom::Start(len - window)).map_err(io)?;
        let mut buf = vec![0u8; window as usize];
        file.read_exact(&mut buf).map_err(io)?;
        let newlines = buf.iter().filter(|b| **b == b'\n').count();
        if newlines >= 2 || window == len {
            break buf;
        }
        window = (window * 4).min(len);
    };
    let tail_start = len - tail.len() as u64;
    let mut recovered = None;
    let mut complete_end = tail.len();
    if tail.last() != Some(&b'\n') {
        // torn: cut after the last newline
        let cut_at = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let keep = tail_start + cut_at as u64;
        file.set_len(keep).map_err(io)?;
        file.sync_all().map_err(io)?;
        recovered = Some(format!(
            "cut a torn final line of {} bytes at byte {keep}",
            len - keep
        ));
        complete_end = cut_at;
        if keep == 0 {
            return Ok(ChainHead {
                stream: None,
                seq: 0,
                hash: GENESIS.to_owned(),
                recovered,
            });
        }
    }
    let body = &tail[..complete_end];
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let last_start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let last = &body[last_start..];
    #[derive(serde::Deserialize)]
    struct Tail {
        seq: u64,
        stream: String,
        hash: String,
    }
    let t: Tail = serde_json::from_slice(last).map_err(|e| {
        AuditError::Open(format!(
            "`{shown}`: the last record is corrupt ({e}); run `signoff audit verify` on it"
        ))
    })?;
    Ok(ChainHead {
        stream: Some(t.stream),
        seq: t.seq,
        hash: t.hash,
        recovered,
    })
}

#[async_trait]
impl AuditSink for JsonlSink {
    async fn head(&self) -> Result<ChainHead, AuditError> {
        Ok(self.head.clone())
    }

    fn shared_with_another_writer(&self) -> bool {
        self.shared
    }

    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError> {
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.line.len() + 1).sum());
        let file = Arc::clone(&self.file);
        let durability = self.durability;
        let write = move |buf: &[u8]| -> Result<(), AuditError> {
            let mut f = file
                .lock()
                .map_err(|_| AuditError::Write("log file lock poisoned".into()))?;
            f.write_all(buf)
                .map_err(|e| AuditError::Write(e.to_string()))?;
            if durability != Durability::OsBuffered {
                f.sync_data()
                    .map_err(|e| AuditError::Write(e.to_string()))?;
            }
            Ok(())
        };
        match self.durability {
            Durability::OsBuffered => {
                for r in records {
                    buf.extend_from_slice(r.line.as_bytes());
                    buf.push(b'\n');
                }
                write(&buf)
            }
            Durability::Group => {
                for r in records {
                    buf.extend_from_slice(r.line.as_bytes());
                    buf.push(b'\n');
                }
                tokio::task::spawn_blocking(move || write(&buf))
                    .await
                    .map_err(|e| AuditError::Write(format!("writer task failed: {e}")))?
            }
            Durability::EveryRecord => {
                let lines: Vec<Vec<u8>> = records
                    .iter()
                    .map(|r| {
                        let mut l = r.line.clone().into_bytes();
                        l.push(b'\n');
                        l
                    })
                    .collect();
                tokio::task::spawn_blocking(move || lines.iter().try_for_each(|l| write(l)))
                    .await
                    .map_err(|e| AuditError::Write(format!("writer task failed: {e}")))?
            }
        }
    }

    fn describe(&self) -> String {
        format!("jsonl:{}", self.path.display())
    }

    fn writes_at_once(&self) -> bool {
        self.durability == Durability::OsBuffered
    }

    fn append_now(&self, records: &[SealedRecord]) -> Option<Result<(), AuditError>> {
        if self.durability != Durability::OsBuffered {
            return None;
        }
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.line.len() + 1).sum());
        for r in records {
            buf.extend_from_slice(r.line.as_bytes());
            buf.push(b'\n');
        }
        Some(match self.file.lock() {
            Ok(mut f) => f
                .write_all(&buf)
                .map_err(|e| AuditError::Write(e.to_string())),
            Err(_) => Err(AuditError::Write("log file lock poisoned".into())),
        })
    }
}
