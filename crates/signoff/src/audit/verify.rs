//! Verifying a trail: every record's hash, every link, every sequence number,
//! every checkpoint signature, and optionally an exported checkpoint.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::checkpoint::checkpoint_message;
use super::record::{GENESIS, line_hash};

/// A checkpoint exported from a trail and kept elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedCheckpoint {
    /// The stream.
    pub stream: String,
    /// The checkpoint record's seq.
    pub seq: u64,
    /// The checkpoint record's hash.
    pub hash: String,
}

/// What a successful verification saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Each stream's last (seq, hash).
    pub streams: BTreeMap<String, (u64, String)>,
    /// Checkpoints seen.
    pub checkpoints: u64,
    /// Checkpoint signatures verified against the public key.
    pub signatures_verified: u64,
    /// The last checkpoint seen, for export.
    pub last_checkpoint: Option<ExportedCheckpoint>,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}line {line}: {reason}", seq.map(|s| format!("seq {s}, ")).unwrap_or_default())]
pub struct VerifyFailure {
    /// The first bad record's seq, when it can be read.
    pub seq: Option<u64>,
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

#[derive(Deserialize)]
struct Head<'a> {
    seq: u64,
    // Borrowed when the line holds it verbatim, owned when it is escaped: a
    // stream name may contain `"`, `\` or control characters.
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    hash: &'a str,
    #[serde(borrow)]
    event: &'a str,
    #[serde(default, borrow)]
    signature: Option<&'a str>,
}

/// Verifies a JSONL trail file.
pub fn verify_file(
    path: &Path,
    key: Option<&VerifyingKey>,
    expect: Option<&ExportedCheckpoint>,
) -> Result<VerifyReport, VerifyFailure> {
    let file = std::fs::File::open(path).map_err(|e| VerifyFailure {
        seq: None,
        line: 0,
        reason: format!("cannot open `{}`: {e}", path.display()),
    })?;
    verify_reader(
        std::io::BufReader::with_capacity(1 << 20, file),
        key,
        expect,
    )
}

/// Verifies JSON lines from any reader.
pub fn verify_reader<R: BufRead>(
    mut reader: R,
    key: Option<&VerifyingKey>,
    expect: Option<&ExportedCheckpoint>,
) -> Result<VerifyReport, VerifyFailure> {
    let mut report = VerifyReport::default();
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    let mut expected_seen = false;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyFailure {
                seq: None,
                line: line_no + 1,
                reason: format!("read error: {e}"),
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        report.bytes += n as u64;
        let fail = |seq: Option<u64>, reason: String| VerifyFailure {
            seq,
            line: line_no,
            reason,
        };
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Err(fail(
                None,
                "torn final line (no newline): the writer crashed mid-record; opening the log cuts it".into(),
            ));
        };
        let text = std::str::from_utf8(body).map_err(|_| fail(None, "not UTF-8".into()))?;
        let head: Head<'_> = serde_json::from_str(text)
            .map_err(|e| fail(None, format!("not a valid audit record: {e}")))?;
        let seq = Some(head.seq);
        let (last_seq, last_hash) = report
            .streams
            .get(head.stream.as_ref())
            .map_or((0, GENESIS), |(s, h)| (*s, h.as_str()));
        if head.seq != last_seq + 1 {
            let reason = if last_seq == 0 {
                format!(
                    "stream `{}` starts at seq {}: earlier records are missing",
                    head.stream, head.seq
                )
            } else if head.seq <= last_seq {
                format!(
                    "seq {} comes after seq {last_seq}: records reordered, duplicated or inserted",
                    head.seq
                )
            } else {
                format!(
                    "seq {} follows seq {last_seq}: {} record(s) missing",
                    head.seq,
                    head.seq - last_seq - 1
                )
            };
            return Err(fail(seq, reason));
        }
        if head.prev != last_hash {
            return Err(fail(
                seq,
                format!(
                    "`prev` does not match the hash of seq {last_seq}: the chain is broken here"
                ),
            ));
        }
        match line_hash(text, head.prev, head.hash) {
            Some(h) if h == head.hash => {}
            _ => {
                return Err(fail(
                    seq,
                    "hash does not match the record's content: the record was edited".into(),
                ));
            }
        }
        if head.event == "audit.checkpoint" {
            report.checkpoints += 1;
            if let Some(key) = key {
                let sig = head
                    .signature
                    .and_then(|s| hex::decode(s).ok())
                    .and_then(|b| Signature::from_slice(&b).ok())
                    .ok_or_else(|| fail(seq, "checkpoint has no valid signature".into()))?;
                let message = checkpoint_message(&head.stream, last_seq, last_hash);
                key.verify_strict(&message, &sig).map_err(|_| {
                    fail(
                        seq,
                        "checkpoint signature does not verify with the given public key".into(),
                    )
                })?;
                report.signatures_verified += 1;
            }
            report.last_checkpoint = Some(ExportedCheckpoint {
                stream: head.stream.to_string(),
                seq: head.seq,
                hash: head.hash.to_owned(),
            });
        }
        if let Some(cp) = expect
            && cp.stream == head.stream.as_ref()
            && cp.seq == head.seq
        {
            if cp.hash != head.hash {
                return Err(fail(
                    seq,
                    "record differs from the exported checkpoint: the trail was rewritten".into(),
                ));
            }
            expected_seen = true;
        }
        report.records += 1;
        report
            .streams
            .insert(head.stream.to_string(), (head.seq, head.hash.to_owned()));
    }
    if let Some(cp) = expect
        && !expected_seen
    {
        let last = report.streams.get(&cp.stream).map_or(0, |(s, _)| *s);
        return Err(VerifyFailure {
            seq: Some(cp.seq),
            line: line_no,
            reason: format!(
                "the trail ends at seq {last} but the exported checkpoint is at seq {}: records were removed from the end",
                cp.seq
            ),
        });
    }
    Ok(report)
}
