//! Verifying a trail: every record's hash, every link, every sequence number,
//! every checkpoint signature, and optionally an exported checkpoint.
//!
//! What each check can see: hashes and links find any edited, removed,
//! reordered or inserted record *before the head*. Removing the newest records
//! (or rewriting the whole trail) leaves a consistent chain, so it is found
//! only with a public key (a rewrite breaks the signed checkpoints; with a key
//! every stream must hold at least one signed checkpoint, or verification
//! fails) or an exported checkpoint (the trail must still reach it). Records
//! after a stream's last checkpoint are reported by
//! [`VerifyReport::unsigned_tail`]: that is not a failure, since a gate keeps
//! writing between checkpoints, but cutting them is undetectable without an
//! exported checkpoint taken later.
//!
//! The algorithm, its order of checks and what each reports are specified in
//! `docs/audit-trail.md` §12–§13; `docs/verify_trail.py` implements them
//! independently and `tests/verifier` holds both to the same verdicts.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::checkpoint::checkpoint_message;
use super::record::{GENESIS, line_hash_matches};

/// A checkpoint exported from a trail and kept elsewhere (`docs/audit-trail.md` §9).
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
    /// Each stream's last checkpoint seq (a stream without one is absent).
    pub stream_checkpoints: BTreeMap<String, u64>,
}

impl VerifyReport {
    /// Per stream with any, the number of records after its last checkpoint
    /// (all its records when it has none): no signature covers them, so
    /// removing them from the end is detectable only against an exported
    /// checkpoint.
    pub fn unsigned_tail(&self) -> BTreeMap<&str, u64> {
        self.streams
            .iter()
            .map(|(stream, (last, _))| {
                let signed = self.stream_checkpoints.get(stream).copied().unwrap_or(0);
                (stream.as_str(), last.saturating_sub(signed))
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
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

/// What one line says about itself: parsed and hash-checked on its own,
/// so lines can be analysed in parallel before the chain is walked in order.
struct LineInfo<'a> {
    head: Head<'a>,
    hash_ok: bool,
}

fn analyze(line: &[u8]) -> Result<LineInfo<'_>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_owned())?;
    let head: Head<'_> =
        serde_json::from_str(text).map_err(|e| format!("not a valid audit record: {e}"))?;
    let hash_ok = line_hash_matches(text, head.prev, head.hash);
    Ok(LineInfo { head, hash_ok })
}

/// Analyses `lines` on two threads (the expensive part: parsing and hashing).
fn analyze_all<'a>(lines: &[&'a [u8]]) -> Vec<Result<LineInfo<'a>, String>> {
    if lines.len() < 512 {
        return lines.iter().map(|l| analyze(l)).collect();
    }
    let (first, second) = lines.split_at(lines.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| second.iter().map(|l| analyze(l)).collect::<Vec<_>>());
        let mut out: Vec<_> = first.iter().map(|l| analyze(l)).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            // cannot happen (analyze does not panic); fail closed if it does
            Err(_) => out.extend(
                second
                    .iter()
                    .map(|_| Err("verifier thread failed".to_owned())),
            ),
        }
        out
    })
}

/// Chain state while walking lines in order.
struct Walk<'k> {
    report: VerifyReport,
    key: Option<&'k VerifyingKey>,
    expect: Option<&'k ExportedCheckpoint>,
    expected_seen: bool,
    line_no: u64,
}

impl Walk<'_> {
    fn step(&mut self, info: Result<LineInfo<'_>, String>) -> Result<(), VerifyFailure> {
        self.line_no += 1;
        let line = self.line_no;
        let fail = |seq: Option<u64>, reason: String| VerifyFailure { seq, line, reason };
        let info = info.map_err(|reason| fail(None, reason))?;
        let head = info.head;
        let seq = Some(head.seq);
        let (last_seq, last_hash) = self
            .report
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
        if !info.hash_ok {
            return Err(fail(
                seq,
                "hash does not match the record's content: the record was edited".into(),
            ));
        }
        if head.event == "audit.checkpoint" {
            self.report.checkpoints += 1;
            if let Some(key) = self.key {
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
                self.report.signatures_verified += 1;
            }
            match self.report.stream_checkpoints.get_mut(head.stream.as_ref()) {
                Some(at) => *at = head.seq,
                None => {
                    self.report
                        .stream_checkpoints
                        .insert(head.stream.to_string(), head.seq);
                }
            }
            self.report.last_checkpoint = Some(ExportedCheckpoint {
                stream: head.stream.to_string(),
                seq: head.seq,
                hash: head.hash.to_owned(),
            });
        }
        if let Some(cp) = self.expect
            && cp.stream == head.stream.as_ref()
            && cp.seq == head.seq
        {
            if cp.hash != head.hash {
                return Err(fail(
                    seq,
                    "record differs from the exported checkpoint: the trail was rewritten".into(),
                ));
            }
            self.expected_seen = true;
        }
        self.report.records += 1;
        match self.report.streams.get_mut(head.stream.as_ref()) {
            Some(last) => {
                last.0 = head.seq;
                last.1.clear();
                last.1.push_str(head.hash);
            }
            None => {
                self.report
                    .streams
                    .insert(head.stream.to_string(), (head.seq, head.hash.to_owned()));
            }
        }
        Ok(())
    }
}

/// Verifies JSON lines from any reader: every hash, every link, every
/// sequence number, every checkpoint signature (with `key`, which also
/// requires every stream to hold at least one checkpoint signed by it), and
/// that the trail still holds an exported checkpoint (`expect`).
pub fn verify_reader<R: Read>(
    mut reader: R,
    key: Option<&VerifyingKey>,
    expect: Option<&ExportedCheckpoint>,
) -> Result<VerifyReport, VerifyFailure> {
    const CHUNK: usize = 8 << 20;
    let mut walk = Walk {
        report: VerifyReport::default(),
        key,
        expect,
        expected_seen: false,
        line_no: 0,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let mut eof = false;
    while !eof {
        // fill the buffer up to CHUNK bytes
        let start = buf.len();
        // room for a chunk, and always some more for a line longer than one
        buf.resize(start.max(CHUNK) + (64 << 10), 0);
        let mut filled = start;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(VerifyFailure {
                        seq: None,
                        line: walk.line_no + 1,
                        reason: format!("read error: {e}"),
                    });
                }
            }
        }
        buf.truncate(filled);
        let complete = match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if eof => 0,
            // a single line longer than the chunk: read more
            None => continue,
        };
        walk.report.bytes += complete as u64;
        let lines: Vec<&[u8]> = buf[..complete].split(|b| *b == b'\n').collect();
        // `split` yields an empty piece after the final newline
        let lines = &lines[..lines.len().saturating_sub(1)];
        for info in analyze_all(lines) {
            walk.step(info)?;
        }
        buf.drain(..complete);
    }
    if !buf.is_empty() {
        walk.report.bytes += buf.len() as u64;
        return Err(VerifyFailure {
            seq: None,
            line: walk.line_no + 1,
            reason: "torn final line (no newline): the writer crashed mid-record; opening the log cuts it".into(),
        });
    }
    if let Some(cp) = expect
        && !walk.expected_seen
    {
        let last = walk.report.streams.get(&cp.stream).map_or(0, |(s, _)| *s);
        return Err(VerifyFailure {
            seq: Some(cp.seq),
            line: walk.line_no,
            reason: format!(
                "the trail ends at seq {last} but the exported checkpoint is at seq {}: records were removed from the end",
                cp.seq
            ),
        });
    }
    if key.is_some() {
        require_signed_checkpoints(&walk.report, walk.line_no)?;
    }
    Ok(walk.report)
}

/// With a public key, a trail must carry signatures: a stream without a
/// signed checkpoint could be rewritten or cut with nothing to show for it.
fn require_signed_checkpoints(report: &VerifyReport, line: u64) -> Result<(), VerifyFailure> {
    let fail = |reason: String| VerifyFailure {
        seq: None,
        line,
        reason,
    };
    if report.stream_checkpoints.is_empty() {
        return Err(fail(format!(
            "the trail has no checkpoint signed by the given public key: none of its {} record(s) is covered by a signature (is the gate configured with the matching checkpoint key?)",
            report.records
        )));
    }
    match report
        .streams
        .iter()
        .find(|(stream, _)| !report.stream_checkpoints.contains_key(*stream))
    {
        Some((stream, (last, _))) => Err(fail(format!(
            "stream `{stream}` has no checkpoint signed by the given public key: none of its {last} record(s) is covered by a signature"
        ))),
        None => Ok(()),
    }
}
