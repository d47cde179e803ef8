//! `PgSink`: the audit trail in PostgreSQL, one chain per writer stream.

use async_trait::async_trait;
use signoff::audit::{
    AuditError, AuditSink, ChainHead, ExportedCheckpoint, GENESIS, SealedRecord, VerifyFailure,
    VerifyReport, VerifyingKey, verify_reader,
};

use crate::{Endpoint, Pool};

/// Audit records in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSink {
    pool: Pool,
    stream: Option<String>,
}

impl PgSink {
    /// Connects (and migrates). A writer starts a new stream, unless
    /// `continue_stream` names one to carry on.
    pub async fn connect(url: &str, continue_stream: Option<&str>) -> Result<Self, AuditError> {
        let endpoint = Endpoint::new(url)
            .map_err(|e| AuditError::Open(format!("`{}`: {e}", crate::display_url(url))))?;
        let name = endpoint.name().to_owned();
        Ok(PgSink {
            pool: Pool::open(endpoint)
                .await
                .map_err(|e| AuditError::Open(format!("`{name}`: {e}")))?,
            stream: continue_stream.map(str::to_owned),
        })
    }
}

#[async_trait]
impl AuditSink for PgSink {
    async fn head(&self) -> Result<ChainHead, AuditError> {
        let empty = ChainHead {
            stream: self.stream.clone(),
            seq: 0,
            hash: GENESIS.to_owned(),
            recovered: None,
        };
        let Some(stream) = &self.stream else {
            return Ok(empty);
        };
        let guard = self.pool.client().await.map_err(AuditError::Open)?;
        let client = guard
            .as_ref()
            .ok_or_else(|| AuditError::Open("no connection".into()))?;
        let row = client
            .query_opt(
                "SELECT seq, line FROM signoff_audit WHERE stream = $1 ORDER BY seq DESC LIMIT 1",
                &[stream],
            )
            .await
            .map_err(|e| AuditError::Open(e.to_string()))?;
        let Some(row) = row else { return Ok(empty) };
        let seq: i64 = row.get(0);
        let line: String = row.get(1);
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| AuditError::Open(format!("the last record is corrupt: {e}")))?;
        Ok(ChainHead {
            seq: u64::try_from(seq).unwrap_or(0),
            hash: v["hash"].as_str().unwrap_or(GENESIS).to_owned(),
            ..empty
        })
    }

    async fn append(&self, records: &[SealedRecord]) -> Result<(), AuditError> {
        let mut guard = self.pool.client().await.map_err(AuditError::Write)?;
        let client = guard
            .as_mut()
            .ok_or_else(|| AuditError::Write("no connection".into()))?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| AuditError::Write(e.to_string()))?;
        let insert = tx
            .prepare("INSERT INTO signoff_audit (stream, seq, line) VALUES ($1, $2, $3)")
            .await
            .map_err(|e| AuditError::Write(e.to_string()))?;
        for r in records {
            let seq = i64::try_from(r.record.seq).unwrap_or(i64::MAX);
            tx.execute(&insert, &[&r.record.stream, &seq, &r.line])
                .await
                .map_err(|e| AuditError::Write(e.to_string()))?;
        }
        tx.commit()
            .await
            .map_err(|e| AuditError::Write(e.to_string()))
    }

    fn describe(&self) -> String {
        self.pool.name.clone()
    }
}

/// The trail's lines in write order.
pub async fn dump_lines(url: &str) -> Result<Vec<String>, String> {
    let client = crate::connect(url).await?;
    let rows = client
        .query("SELECT line FROM signoff_audit ORDER BY pos", &[])
        .await
        .map_err(|e| crate::error_text(&e))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Verifies the trail in the database: every stream, in write order.
pub async fn verify(
    url: &str,
    key: Option<&VerifyingKey>,
    expect: Option<&ExportedCheckpoint>,
) -> Result<VerifyReport, VerifyFailure> {
    let lines = dump_lines(url).await.map_err(|reason| VerifyFailure {
        seq: None,
        line: 0,
        reason,
    })?;
    let mut text = Vec::new();
    for l in lines {
        text.extend_from_slice(l.as_bytes());
        text.push(b'\n');
    }
    verify_reader(text.as_slice(), key, expect)
}
