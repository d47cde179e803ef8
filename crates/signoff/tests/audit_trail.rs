#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
//! The audit trail end to end (DESIGN.md §6): the JSONL sink passes the sink
//! contract in every durability mode; `verify_file` finds edited, removed,
//! reordered and inserted records and names the first bad `seq`; signed
//! checkpoints expose truncation and full rewrites; a torn final line is cut
//! and recorded on open while a corrupt one refuses to open; a failing sink
//! fails closed and stays failed; concurrent appends keep one valid chain.
//! With a public key, a trail (or a stream) without a signed checkpoint fails,
//! and records after the last checkpoint are reported as unsigned.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signoff::audit::{
    AuditError, AuditLog, AuditRecord, AuditSink, CheckpointConfig, Durability, Event,
    ExportedCheckpoint, JsonlSink, VerifyFailure, generate_signing_key, verify_file, verify_reader,
};
use tempfile::TempDir;

const STREAM: &str = "audit-trail-test";

/// The `i`th test record (1-based): its action names it, so a record's
/// position can be read back from the file.
fn record(i: usize) -> AuditRecord {
    let mut r = AuditRecord::new(Event::PolicyDecided);
    r.action = Some(format!("tool-{i:02}"));
    r.action_id = Some(format!("act-{i:02}"));
    r.actor = Some("agent:bot".to_owned());
    r.args = Some(json!({"i": i, "table": "users"}));
    r.effect = Some("allow".to_owned());
    r
}

/// Writes `n` records, one append each, through an [`AuditLog`] over a
/// group-commit JSONL sink at `path`.
async fn write_log(path: &Path, n: usize, checkpoint: Option<CheckpointConfig>) {
    let sink: Arc<dyn AuditSink> = Arc::new(JsonlSink::open(path).unwrap());
    let log = AuditLog::new(vec![sink], Some(STREAM.to_owned()), checkpoint);
    for i in 1..=n {
        log.append(vec![record(i)]).await.unwrap();
    }
    log.flush().await.unwrap();
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn parse(line: &str) -> AuditRecord {
    serde_json::from_str(line).unwrap()
}

/// A 20-record log, and its lines.
async fn twenty_record_log() -> (TempDir, PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 20, None).await;
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 20);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(parse(line).seq, i as u64 + 1);
    }
    (dir, path, lines)
}

/// A fresh copy of `lines`, edited by `edit`, written next to the original.
fn tampered(dir: &TempDir, lines: &[String], edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let mut copy = lines.to_vec();
    edit(&mut copy);
    let path = dir.path().join("tampered.jsonl");
    write_lines(&path, &copy);
    path
}

fn failure(path: &Path) -> VerifyFailure {
    verify_file(path, None, None).expect_err("the tampered log must not verify")
}

fn assert_reason(failure: &VerifyFailure, needle: &str) {
    assert!(
        failure.reason.contains(needle),
        "expected a reason mentioning `{needle}`, got: {failure}"
    );
}

// ---------------------------------------------------------------- conformance

#[cfg(feature = "testkit")]
async fn jsonl_conformance(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (p1, p2, p3) = (path.clone(), path.clone(), path.clone());
    signoff::testkit::audit_sink_conformance(
        move || JsonlSink::open_with(&p1, durability).unwrap(),
        move || JsonlSink::open_with(&p2, durability).unwrap(),
        move || read_lines(&p3),
    )
    .await;
    // what the suite left behind is a valid trail on disk, too
    let report = verify_file(&path, None, None).unwrap();
    assert_eq!(report.records, 61);
}

#[cfg(feature = "testkit")]
#[tokio::test]
async fn the_jsonl_sink_passes_the_sink_contract_with_every_record_durability() {
    jsonl_conformance(Durability::EveryRecord).await;
}

#[cfg(feature = "testkit")]
#[tokio::test]
async fn the_jsonl_sink_passes_the_sink_contract_with_group_durability() {
    jsonl_conformance(Durability::Group).await;
}

#[cfg(feature = "testkit")]
#[tokio::test]
async fn the_jsonl_sink_passes_the_sink_contract_with_os_buffered_durability() {
    jsonl_conformance(Durability::OsBuffered).await;
}

// ------------------------------------------------------------------- tampering

#[tokio::test]
async fn an_untouched_log_verifies_with_all_twenty_records() {
    let (_dir, path, lines) = twenty_record_log().await;
    let report = verify_file(&path, None, None).unwrap();
    assert_eq!(report.records, 20);
    assert_eq!(report.checkpoints, 0);
    let last = parse(&lines[19]);
    assert_eq!(report.streams.get(STREAM), Some(&(20, last.hash)));
}

#[tokio::test]
async fn an_edited_field_is_reported_at_the_edited_records_seq() {
    let (dir, path, lines) = twenty_record_log().await;
    let bad = tampered(&dir, &lines, |l| {
        assert!(l[6].contains("\"tool-07\""));
        l[6] = l[6].replace("\"tool-07\"", "\"tool-70\"");
    });
    let f = failure(&bad);
    assert_eq!((f.seq, f.line), (Some(7), 7), "{f}");
    assert_reason(&f, "hash does not match");
    assert_reason(&f, "edited");
    // the original is untouched
    assert_eq!(verify_file(&path, None, None).unwrap().records, 20);
}

#[tokio::test]
async fn a_deleted_record_is_reported_as_missing_at_the_next_seq() {
    let (dir, _path, lines) = twenty_record_log().await;
    let bad = tampered(&dir, &lines, |l| {
        l.remove(6);
    });
    let f = failure(&bad);
    assert_eq!((f.seq, f.line), (Some(8), 7), "{f}");
    assert_reason(&f, "seq 8 follows seq 6: 1 record(s) missing");
}

#[tokio::test]
async fn swapped_records_are_reported_at_the_first_one_out_of_order() {
    let (dir, _path, lines) = twenty_record_log().await;
    let bad = tampered(&dir, &lines, |l| l.swap(6, 7));
    let f = failure(&bad);
    // line 7 now holds seq 8, right after seq 6
    assert_eq!((f.seq, f.line), (Some(8), 7), "{f}");
    assert_reason(&f, "follows seq 6");
}

#[tokio::test]
async fn an_inserted_record_chained_correctly_makes_the_original_seq_fail_as_a_repeat() {
    let (dir, _path, lines) = twenty_record_log().await;
    let seventh = parse(&lines[6]);
    let mut forged = record(8);
    forged.action = Some("forged".to_owned());
    forged.seq = 8;
    forged.stream.clone_from(&seventh.stream);
    forged.ts.clone_from(&seventh.ts);
    forged.prev.clone_from(&seventh.hash);
    let forged_line = forged.to_line();
    let bad = tampered(&dir, &lines, |l| l.insert(7, forged_line));
    let f = failure(&bad);
    // the forged line itself (line 8) is well formed; the original seq 8 on
    // line 9 is then a repeat
    assert_eq!((f.seq, f.line), (Some(8), 9), "{f}");
    assert_reason(&f, "seq 8 comes after seq 8");
    assert_reason(&f, "reordered, duplicated or inserted");
}

#[tokio::test]
async fn an_edited_record_with_a_recomputed_hash_breaks_the_chain_at_the_next_seq() {
    let (dir, _path, lines) = twenty_record_log().await;
    let mut seventh = parse(&lines[6]);
    let original_hash = seventh.hash.clone();
    seventh.action = Some("tool-70".to_owned());
    let resealed = seventh.to_line();
    assert_ne!(seventh.hash, original_hash);
    let bad = tampered(&dir, &lines, |l| l[6] = resealed);
    let f = failure(&bad);
    assert_eq!((f.seq, f.line), (Some(8), 8), "{f}");
    assert_reason(&f, "`prev` does not match the hash of seq 7");
    assert_reason(&f, "chain is broken");
}

#[tokio::test]
async fn a_deleted_first_record_is_reported_as_earlier_records_missing() {
    let (dir, _path, lines) = twenty_record_log().await;
    let bad = tampered(&dir, &lines, |l| {
        l.remove(0);
    });
    let f = failure(&bad);
    assert_eq!((f.seq, f.line), (Some(2), 1), "{f}");
    assert_reason(&f, &format!("stream `{STREAM}` starts at seq 2"));
    assert_reason(&f, "earlier records are missing");
}

// ----------------------------------------------------------------- checkpoints

struct Checkpointed {
    dir: TempDir,
    path: PathBuf,
    lines: Vec<String>,
    key: ed25519_dalek::SigningKey,
    exported: ExportedCheckpoint,
}

/// 20 records with a checkpoint after every 5: checkpoints at seq 6, 12, 18
/// and 24 (each signs the record before it).
async fn checkpointed_log() -> Checkpointed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let config = CheckpointConfig {
        key: key.clone(),
        every_records: 5,
        every: Duration::from_secs(3600),
    };
    write_log(&path, 20, Some(config)).await;
    let lines = read_lines(&path);
    let report = verify_file(&path, Some(&key.verifying_key()), None).unwrap();
    let exported = report.last_checkpoint.expect("a checkpoint is exported");
    Checkpointed {
        dir,
        path,
        lines,
        key,
        exported,
    }
}

#[tokio::test]
async fn checkpoints_are_written_and_verify_with_the_matching_public_key() {
    let c = checkpointed_log().await;
    assert_eq!(c.lines.len(), 24, "20 records and 4 checkpoints");
    let checkpoint_seqs: Vec<u64> = c
        .lines
        .iter()
        .map(|l| parse(l))
        .filter(|r| r.event == Some(Event::AuditCheckpoint))
        .map(|r| {
            assert!(r.signature.is_some(), "a checkpoint carries a signature");
            r.seq
        })
        .collect();
    assert_eq!(checkpoint_seqs, [6, 12, 18, 24]);

    let report = verify_file(&c.path, Some(&c.key.verifying_key()), None).unwrap();
    assert_eq!(report.records, 24);
    assert_eq!(report.checkpoints, 4);
    assert_eq!(report.signatures_verified, 4);
    let last = parse(&c.lines[23]);
    assert_eq!(
        report.last_checkpoint,
        Some(ExportedCheckpoint {
            stream: STREAM.to_owned(),
            seq: 24,
            hash: last.hash,
        })
    );
    // and against its own exported checkpoint
    assert!(verify_file(&c.path, Some(&c.key.verifying_key()), Some(&c.exported)).is_ok());
}

#[tokio::test]
async fn a_different_public_key_fails_at_the_first_checkpoint() {
    let c = checkpointed_log().await;
    let other = generate_signing_key().unwrap().verifying_key();
    let f = verify_file(&c.path, Some(&other), None).unwrap_err();
    assert_eq!((f.seq, f.line), (Some(6), 6), "{f}");
    assert_reason(&f, "signature does not verify");
}

#[tokio::test]
async fn truncation_before_the_last_checkpoint_fails_against_the_exported_checkpoint() {
    let c = checkpointed_log().await;
    assert_eq!(c.exported.seq, 24);
    let truncated = tampered(&c.dir, &c.lines, |l| l.truncate(20));
    // on its own the shorter trail looks fine, signatures included...
    let report = verify_file(&truncated, Some(&c.key.verifying_key()), None).unwrap();
    assert_eq!((report.records, report.signatures_verified), (20, 3));
    // ...but not against the checkpoint exported before the cut
    let f = verify_file(&truncated, Some(&c.key.verifying_key()), Some(&c.exported)).unwrap_err();
    assert_eq!(f.seq, Some(24), "{f}");
    assert_reason(&f, "the trail ends at seq 20");
    assert_reason(&f, "records were removed from the end");
}

#[tokio::test]
async fn a_full_rewrite_fails_against_the_exported_checkpoint_and_the_public_key() {
    let c = checkpointed_log().await;
    // re-chain every record with new content and recomputed hashes
    let mut prev = signoff::audit::GENESIS.to_owned();
    let rewritten: Vec<String> = c
        .lines
        .iter()
        .map(|l| {
            let mut r = parse(l);
            if r.event != Some(Event::AuditCheckpoint) {
                r.action = Some(format!("rewritten-{}", r.seq));
            }
            r.prev.clone_from(&prev);
            let line = r.to_line();
            prev.clone_from(&r.hash);
            line
        })
        .collect();
    let path = tampered(&c.dir, &rewritten, |_| {});

    // the rewrite is internally consistent: hashes and links alone pass
    assert_eq!(verify_file(&path, None, None).unwrap().records, 24);

    let f = verify_file(&path, None, Some(&c.exported)).unwrap_err();
    assert_eq!((f.seq, f.line), (Some(24), 24), "{f}");
    assert_reason(&f, "differs from the exported checkpoint");

    // the first checkpoint signed (seq 5, old hash); seq 5's hash changed
    let f = verify_file(&path, Some(&c.key.verifying_key()), None).unwrap_err();
    assert_eq!((f.seq, f.line), (Some(6), 6), "{f}");
    assert_reason(&f, "signature does not verify");
}

#[tokio::test]
async fn a_stream_name_that_needs_escaping_verifies_with_its_checkpoints() {
    // `GateBuilder::stream` takes any name; the line escapes it, and verify
    // must read it back (it used to demand a borrowable, escape-free string)
    let stream = "host\\worker \"a\"\t1";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let config = CheckpointConfig {
        key: key.clone(),
        every_records: 2,
        every: Duration::from_secs(3600),
    };
    let sink: Arc<dyn AuditSink> = Arc::new(JsonlSink::open(&path).unwrap());
    let log = AuditLog::new(vec![sink], Some(stream.to_owned()), Some(config));
    for i in 1..=4 {
        log.append(vec![record(i)]).await.unwrap();
    }
    let report = verify_file(&path, Some(&key.verifying_key()), None).unwrap();
    assert_eq!((report.records, report.signatures_verified), (6, 2));
    assert_eq!(report.streams.get(stream).map(|s| s.0), Some(6));
    let exported = report.last_checkpoint.unwrap();
    assert_eq!((exported.stream.as_str(), exported.seq), (stream, 6));
    assert!(verify_file(&path, Some(&key.verifying_key()), Some(&exported)).is_ok());

    // and an edit is still found at its seq
    let lines = read_lines(&path);
    let bad = tampered(&dir, &lines, |l| l[3] = l[3].replace("tool-03", "tool-30"));
    let f = failure(&bad);
    assert_eq!(f.seq, Some(4), "{f}");
    assert_reason(&f, "edited");
}

// ------------------------------------------------- coverage by a signed key

/// Checkpoints only on flush (the record and time thresholds are far away).
fn on_flush_only(key: &ed25519_dalek::SigningKey) -> CheckpointConfig {
    CheckpointConfig {
        every_records: 1_000_000,
        every: Duration::from_secs(3600),
        ..CheckpointConfig::new(key.clone())
    }
}

#[tokio::test]
async fn a_public_key_fails_a_trail_that_has_no_checkpoint_at_all() {
    let (_dir, path, _lines) = twenty_record_log().await;
    let key = generate_signing_key().unwrap().verifying_key();
    let f = verify_file(&path, Some(&key), None).unwrap_err();
    assert_eq!((f.seq, f.line), (None, 20), "{f}");
    assert_reason(&f, "no checkpoint signed by the given public key");
    assert_reason(&f, "none of its 20 record(s) is covered by a signature");
    // without a key the same trail passes: the chain alone cannot tell
    assert!(verify_file(&path, None, None).is_ok());
}

#[test]
fn a_public_key_fails_an_empty_trail() {
    let key = generate_signing_key().unwrap().verifying_key();
    let f = verify_reader(&b""[..], Some(&key), None).unwrap_err();
    assert_reason(&f, "no checkpoint signed by the given public key");
}

#[tokio::test]
async fn a_public_key_fails_a_stream_without_a_signed_checkpoint_beside_a_signed_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_signing_key().unwrap();
    let (signed, unsigned) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    for (path, stream, checkpoint) in [
        (&signed, "agent-a", Some(on_flush_only(&key))),
        (&unsigned, "agent-b", None),
    ] {
        let sink: Arc<dyn AuditSink> = Arc::new(JsonlSink::open(path).unwrap());
        let log = AuditLog::new(vec![sink], Some(stream.to_owned()), checkpoint);
        for i in 1..=3 {
            log.append(vec![record(i)]).await.unwrap();
        }
        log.flush().await.unwrap();
    }
    // one trail holding both streams, as a shared SQLite or PostgreSQL sink does
    let mut both = std::fs::read(&signed).unwrap();
    both.extend(std::fs::read(&unsigned).unwrap());
    let report = verify_reader(both.as_slice(), None, None).unwrap();
    assert_eq!((report.records, report.checkpoints), (7, 1));
    let f = verify_reader(both.as_slice(), Some(&key.verifying_key()), None).unwrap_err();
    assert_reason(
        &f,
        "stream `agent-b` has no checkpoint signed by the given public key: none of its 3 record(s)",
    );
    // the signed stream alone passes
    let report = verify_file(&signed, Some(&key.verifying_key()), None).unwrap();
    assert_eq!(report.signatures_verified, 1);
}

#[tokio::test]
async fn records_after_the_last_checkpoint_are_reported_as_not_covered_by_a_signature() {
    let c = checkpointed_log().await;
    let report = verify_file(&c.path, Some(&c.key.verifying_key()), None).unwrap();
    assert!(report.unsigned_tail().is_empty(), "seq 24 is a checkpoint");
    assert_eq!(report.stream_checkpoints.get(STREAM), Some(&24));

    // records written after seq 24 that no checkpoint covers yet: a warning
    // in the report, not a failure
    let cut = tampered(&c.dir, &c.lines, |l| l.truncate(20));
    let report = verify_file(&cut, Some(&c.key.verifying_key()), None).unwrap();
    assert_eq!(report.stream_checkpoints.get(STREAM), Some(&18));
    assert_eq!(
        report.unsigned_tail(),
        std::collections::BTreeMap::from([(STREAM, 2)])
    );
    // without checkpoints every record is unsigned
    let (_dir, path, _lines) = twenty_record_log().await;
    let report = verify_file(&path, None, None).unwrap();
    assert_eq!(
        report.unsigned_tail(),
        std::collections::BTreeMap::from([(STREAM, 20)])
    );
}

#[tokio::test]
async fn flush_seals_the_head_with_a_checkpoint_once_and_only_after_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let key = generate_signing_key().unwrap();
    let sink: Arc<dyn AuditSink> = Arc::new(JsonlSink::open(&path).unwrap());
    let log = AuditLog::new(
        vec![sink],
        Some(STREAM.to_owned()),
        Some(on_flush_only(&key)),
    );
    for i in 1..=3 {
        log.append(vec![record(i)]).await.unwrap();
    }
    log.flush().await.unwrap();
    log.flush().await.unwrap();
    let events: Vec<Option<Event>> = read_lines(&path).iter().map(|l| parse(l).event).collect();
    assert_eq!(events.len(), 4, "3 records and one checkpoint: {events:?}");
    assert_eq!(events[3], Some(Event::AuditCheckpoint));
    log.append(vec![record(4)]).await.unwrap();
    log.flush().await.unwrap();
    let report = verify_file(&path, Some(&key.verifying_key()), None).unwrap();
    assert_eq!((report.records, report.signatures_verified), (6, 2));
    assert!(report.unsigned_tail().is_empty());
}

#[tokio::test]
async fn cutting_a_trail_below_its_only_checkpoint_fails_with_the_key_and_passes_without() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let key = generate_signing_key().unwrap();
    write_log(&path, 3, Some(on_flush_only(&key))).await;
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 4);
    assert!(verify_file(&path, Some(&key.verifying_key()), None).is_ok());

    // the newest record and the checkpoint after it removed
    let cut = tampered(&dir, &lines, |l| l.truncate(2));
    assert!(
        verify_file(&cut, None, None).is_ok(),
        "the chain alone cannot see a cut at the end"
    );
    let f = verify_file(&cut, Some(&key.verifying_key()), None).unwrap_err();
    assert_reason(&f, "no checkpoint signed by the given public key");
}

// ------------------------------------------------------------ torn and corrupt

#[tokio::test]
async fn a_torn_final_line_is_cut_on_open_and_recorded_before_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 10, None).await;
    let original = read_lines(&path);
    assert_eq!(original.len(), 10);

    // a crash mid-write: half a line, no newline
    let half = &original[9][..original[9].len() / 2];
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(half.as_bytes()).unwrap();
    drop(f);

    let torn = verify_file(&path, None, None).unwrap_err();
    assert_eq!((torn.seq, torn.line), (None, 11), "{torn}");
    assert_reason(&torn, "torn final line");

    let sink = JsonlSink::open(&path).unwrap();
    let head = sink.head().await.unwrap();
    assert_eq!(head.seq, 10);
    assert_eq!(head.stream.as_deref(), Some(STREAM));
    assert!(head.recovered.is_some(), "opening reports the repair");
    let log = AuditLog::new(vec![Arc::new(sink)], None, None);
    let mut after = AuditRecord::new(Event::ActionCompleted);
    after.action = Some("after-recovery".to_owned());
    log.append(vec![after]).await.unwrap();

    let lines = read_lines(&path);
    assert_eq!(
        lines.len(),
        12,
        "10 originals, audit.recovered, the new record"
    );
    assert_eq!(
        lines[..10],
        original[..],
        "the complete records are kept as they were"
    );
    let recovered = parse(&lines[10]);
    assert_eq!(recovered.event, Some(Event::AuditRecovered));
    assert_eq!(recovered.seq, 11);
    assert_eq!(recovered.stream, STREAM);
    assert!(
        recovered
            .error
            .as_deref()
            .is_some_and(|e| e.contains("torn")),
        "the recovery says what was cut: {:?}",
        recovered.error
    );
    let next = parse(&lines[11]);
    assert_eq!(next.event, Some(Event::ActionCompleted));
    assert_eq!(next.seq, 12);
    assert_eq!(next.action.as_deref(), Some("after-recovery"));

    let report = verify_file(&path, None, None).unwrap();
    assert_eq!(report.records, 12);
    assert_eq!(report.streams.get(STREAM).map(|s| s.0), Some(12));
}

#[tokio::test]
async fn a_corrupt_complete_last_line_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 3, None).await;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"seq\":4,\"stream\":\"audit-trail-test\",\"garbage\n")
        .unwrap();
    drop(f);
    let before = std::fs::read(&path).unwrap();

    let err = JsonlSink::open(&path).unwrap_err();
    assert!(
        matches!(&err, AuditError::Open(msg) if msg.contains("the last record is corrupt")),
        "expected an open error naming the corrupt record, got {err:?}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a corrupt log is left as it is"
    );
}

// ----------------------------------------------------------------- fail closed

#[cfg(feature = "testkit")]
#[tokio::test]
async fn a_failing_sink_fails_the_append_and_every_later_one() {
    let sink = signoff::testkit::FailingSink::after(1);
    let log = AuditLog::new(vec![Arc::new(sink.clone())], Some(STREAM.to_owned()), None);

    log.append(vec![record(1)]).await.unwrap();
    let second = log.append(vec![record(2)]).await.unwrap_err();
    assert!(
        second.to_string().contains("No space left on device"),
        "the cause is reported: {second:?}"
    );
    let third = log.append(vec![record(3)]).await.unwrap_err();
    assert!(matches!(third, AuditError::Poisoned(_)), "{third:?}");
    assert!(log.flush().await.is_err(), "flush fails too once poisoned");
    assert_eq!(sink.lines().len(), 1, "only the first record was accepted");
}

// ----------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_writers_produce_one_valid_chain_with_every_record() {
    const TASKS: usize = 64;
    const EACH: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let sink: Arc<dyn AuditSink> =
        Arc::new(JsonlSink::open_with(&path, Durability::Group).unwrap());
    let log = AuditLog::new(vec![sink], Some(STREAM.to_owned()), None);

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let mut r = AuditRecord::new(Event::ActionRequested);
                r.action = Some(format!("task-{t}"));
                r.args = Some(json!({"task": t, "i": i}));
                log.append(vec![r]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let lines = read_lines(&path);
    assert_eq!(lines.len(), TASKS * EACH, "3200 records and nothing else");
    let mut next = [0u64; TASKS];
    for (n, line) in lines.iter().enumerate() {
        let r = parse(line);
        assert_eq!(r.seq, n as u64 + 1);
        assert_eq!(r.event, Some(Event::ActionRequested));
        let args = r.args.unwrap();
        let t = usize::try_from(args["task"].as_u64().unwrap()).unwrap();
        // each task's appends are sequential, so they land in its order
        assert_eq!(args["i"].as_u64(), Some(next[t]), "task {t} out of order");
        next[t] += 1;
    }
    assert!(next.iter().all(|&n| n == EACH as u64));

    let report = verify_file(&path, None, None).unwrap();
    assert_eq!(report.records, 3200);
    assert_eq!(report.streams.get(STREAM).map(|s| s.0), Some(3200));
}

#[tokio::test]
async fn a_second_live_writer_of_a_jsonl_file_gets_a_stream_of_its_own() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("shared.jsonl");
    let first = signoff::JsonlSink::open_with(&path, signoff::Durability::Group).unwrap();
    // another process sharing the config opens the same file while the first is alive
    let second = signoff::JsonlSink::open_with(&path, signoff::Durability::Group).unwrap();
    let policy = signoff::Policy::from_toml_str("[policy]\ndefault = \"allow\"").unwrap();
    let a = signoff::Gate::builder()
        .policy(policy.clone())
        .audit(first)
        .build()
        .unwrap();
    let b = signoff::Gate::builder()
        .policy(policy)
        .audit(second)
        .build()
        .unwrap();
    for _ in 0..5 {
        for g in [&a, &b] {
            let p = g
                .require(signoff::Action::new("x.y").actor("agent:a"))
                .await
                .unwrap();
            p.complete(signoff::Outcome::success()).await.unwrap();
        }
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
    let report = signoff::audit::verify_file(&path, None, None).unwrap();
    assert_eq!(report.streams.len(), 2, "two chains, one per writer");
    assert_eq!(report.records, 20);
}

#[tokio::test]
async fn a_completion_is_written_soon_without_a_close() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a.jsonl");
    let sink = signoff::JsonlSink::open_with(&path, signoff::Durability::OsBuffered).unwrap();
    let gate = signoff::Gate::builder()
        .policy(signoff::Policy::from_toml_str("[policy]\ndefault = \"allow\"").unwrap())
        .audit(sink)
        .build()
        .unwrap();
    let p = gate
        .require(signoff::Action::new("x.y").actor("agent:a"))
        .await
        .unwrap();
    p.complete(signoff::Outcome::success()).await.unwrap();
    // queued, not yet written with the decision; a short timer writes it
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"event\":\"action.completed\""), "{text}");
}

/// Two live writers of one JSONL file configured with the same stream name
/// (a server and its agents sharing a config file) write two chains with
/// two names: the second takes `NAME-PID`, and the trail verifies.
#[tokio::test]
async fn two_live_writers_with_one_stream_name_get_two_chains() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("shared.jsonl");
    let policy = signoff::Policy::from_toml_str("[policy]\ndefault = \"allow\"\n").unwrap();
    let gate = |sink: JsonlSink| {
        signoff::Gate::builder()
            .policy(policy.clone())
            .audit(sink)
            .stream("agents")
            .build()
            .unwrap()
    };
    let first = gate(JsonlSink::open(&path).unwrap());
    let second = gate(JsonlSink::open(&path).unwrap());
    for i in 0..5 {
        for g in [&first, &second] {
            let permit = g
                .require(
                    signoff::Action::new("fs.read")
                        .actor("agent:a")
                        .args(json!({"i": i})),
                )
                .await
                .unwrap();
            permit.complete(signoff::Outcome::success()).await.unwrap();
        }
    }
    first.close().await.unwrap();
    second.close().await.unwrap();
    let report = verify_file(&path, None, None).unwrap();
    let names: Vec<&String> = report.streams.keys().collect();
    assert_eq!(
        names,
        [
            &"agents".to_owned(),
            &format!("agents-{}", std::process::id())
        ]
    );
}
