//! The audit trail: hash-chained records of every request, decision, vote and
//! outcome, written durably before any permit is returned, and verifiable.
//!
//! The format is specified in `docs/audit-trail.md` (fields, events, the
//! canonical JSON, the hashed bytes, checkpoints, verification), precisely
//! enough to verify a trail without this crate; `docs/verify_trail.py` is an
//! independent verifier written from it, held to the same verdicts by
//! `tests/verifier`.

mod checkpoint;
mod jsonl;
mod log;
mod record;
mod sink;
mod verify;

pub use checkpoint::{
    CheckpointKeySource, checkpoint_message, generate_signing_key, signing_key_from_hex,
    signing_key_to_hex, verifying_key_from_hex, verifying_key_to_hex,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use jsonl::JsonlSink;
pub use log::{AuditLog, CheckpointConfig};
pub use record::{AuditRecord, Event, GENESIS, line_hash};
pub use sink::{AuditError, AuditSink, ChainHead, SealedRecord};
pub use verify::{ExportedCheckpoint, VerifyFailure, VerifyReport, verify_file, verify_reader};

use serde_json::Value;

/// When a record counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// fsync after every record.
    EveryRecord,
    /// fsync once per batch of records gathered while the previous batch
    /// synced (group commit). The default.
    #[default]
    Group,
    /// Written to the OS, not synced: survives a process crash, not a power cut.
    OsBuffered,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "every-record" => Ok(Durability::EveryRecord),
            "group" => Ok(Durability::Group),
            "os-buffered" => Ok(Durability::OsBuffered),
            other => Err(format!(
                "unknown durability `{other}` (expected `every-record`, `group` or `os-buffered`)"
            )),
        }
    }
}

/// Replaces each `args.`/`context.` path in `paths` that starts with `prefix`
/// by the digest of its value, in a copy of `value`.
pub fn redact(value: &Value, prefix: &str, paths: &[String]) -> Value {
    let mut out = value.clone();
    for path in paths {
        let Some(rest) = path.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let mut parts = rest.split('.').peekable();
        let mut cur = &mut out;
        while let Some(part) = parts.next() {
            let Some(map) = cur.as_object_mut() else {
                break;
            };
            if parts.peek().is_none() {
                if let Some(v) = map.get_mut(part) {
                    *v = Value::String(format!("redacted:{}", crate::canonical::digest(v)));
                }
                break;
            }
            match map.get_mut(part) {
                Some(next) => cur = next,
                None => break,
            }
        }
    }
    out
}
