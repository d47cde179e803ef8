//! `SqliteSink`: the audit trail in a SQLite table, and its verification.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use signoff::audit::{
    AuditError, AuditSink, ChainHead, ExportedCheckpoint, GENESIS, SealedRecord, VerifyFailure,
    VerifyReport, verify_reader,
};

use crate::Db;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signoff_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO signoff_meta (key, value) VALUES ('audit_schema', '1');
CREATE TABLE IF NOT EXISTS signoff_audit (
    pos    INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    line   TEXT NOT NULL,
    UNIQUE (stream, seq)
);
";

/// Audit records in a SQLite table, one chain per writer stream.
#[derive(Debug, Clone)]
pub struct SqliteSink {
    db: Db,
    stream: Option<String>,
}

impl SqliteSink {
    /// Opens the trail in `path`. A writer starts a new stream, unless
    /// `continue_stream` names one to carry on (a restarted writer).
    pub fn open(path: impl AsRef<Path>, continue_stream: Option<&str>) -> Result<Self, AuditError> {
        let path = path.as_ref();
        let db = Db::open(path, SCHEMA).map_err(AuditError::Open)?;
        Ok(SqliteSink {
            db,
            stream: continue_stream.map(str::to_owned),
        })
    }
}

#[async_trait]
impl AuditSink for SqliteSink {
    async fn head(&self) -> Result<ChainHead, AuditError> {
        let Some(stream) = self.stream.clone() else {
            return Ok(ChainHead {
                stream: None,
                seq: 0,
                hash: GENESIS.to_owned(),
                recovered: None,
            });
        };
        let last = self
            .db
            .run({
                let stream = stream.clone();
                move |c| {
                    c.query_row(
                        "SELECT seq, line FROM signoff_audit WHERE stream = ?1 ORDER BY seq DESC LIMIT 1",
                        params![stream],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                    )
                    .optional()
                }
            })
            .await
            .map_err(AuditError::Open)?;
        Ok(match last {
            None => ChainHead {
                stream: Some(stream),
                seq: 0,
                hash: GENESIS.to_owned(),
                recovered: None,
            },
            Some((seq, line)) => {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| AuditError::Open(format!("the last record is corrupt: {e}")))?;
                ChainHead {
                    stream: Some(stream),
                    seq: u64::try_from(seq).unwrap_or(0),
                    hash: v["hash"].as_str().unwrap_or(GENESIS).to_owned(),
                    recovered: None,
                }
            }
        })
    }

    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError> {
        let rows: Vec<(String, i64, String)> = records
            .iter()
            .map(|r| {
                (
                    r.record.stream.clone(),
                    i64::try_from(r.record.seq).unwrap_or(i64::MAX),
                    r.line.clone(),
                )
            })
            .collect();
        self.db
            .run(move |c| {
                let tx = c.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT INTO signoff_audit (stream, seq, line) VALUES (?1, ?2, ?3)",
                    )?;
                    for (stream, seq, line) in &rows {
                        stmt.execute(params![stream, seq, line])?;
                    }
                }
                tx.commit()
            })
            .await
            .map_err(AuditError::Write)
    }

    fn describe(&self) -> String {
        self.db.name.clone()
    }
}

/// Verifies the trail in a SQLite file, every stream, in write order.
pub fn verify(
    path: &Path,
    key: Option<&signoff::audit::VerifyingKey>,
    expect: Option<&ExportedCheckpoint>,
) -> Result<VerifyReport, VerifyFailure> {
    let fail = |reason: String| VerifyFailure {
        seq: None,
        line: 0,
        reason,
    };
    if !path.exists() {
        return Err(fail(format!("`{}` does not exist", path.display())));
    }
    let conn = crate::open(path).map_err(fail)?;
    let mut text = Vec::new();
    {
        let mut stmt = conn
            .prepare("SELECT line FROM signoff_audit ORDER BY pos")
            .map_err(|e| fail(e.to_string()))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| fail(e.to_string()))?;
        for row in rows {
            text.extend_from_slice(row.map_err(|e| fail(e.to_string()))?.as_bytes());
            text.push(b'\n');
        }
    }
    verify_reader(text.as_slice(), key, expect)
}

/// The trail's lines in write order (for tools and tests).
pub fn dump_lines(path: &Path) -> Result<Vec<String>, String> {
    let conn = crate::open(path)?;
    let mut stmt = conn
        .prepare("SELECT line FROM signoff_audit ORDER BY pos")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| e.to_string())?;
    rows.map(|r| r.map_err(|e| e.to_string())).collect()
}

/// Rewrites text inside the record at `seq` (every stream): only for tamper tests.
#[doc(hidden)]
pub fn tamper_for_tests(path: &Path, seq: i64, from: &str, to: &str) -> Result<usize, String> {
    let conn = crate::open(path)?;
    conn.execute(
        "UPDATE signoff_audit SET line = replace(line, ?1, ?2) WHERE seq = ?3",
        params![from, to, seq],
    )
    .map_err(|e| e.to_string())
}
