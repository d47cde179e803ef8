//! `signoff audit keygen` and `signoff audit verify --pubkey`: a key made by
//! keygen signs a gate's trail (JSONL or SQLite); with the key, a trail or
//! stream without a signed checkpoint fails (exit 1) and records after the
//! last checkpoint are a warning; without a key or exported checkpoint the
//! output says that deleting the newest records is undetectable.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use signoff::audit::{AuditSink, CheckpointConfig, CheckpointKeySource};
use signoff::{Action, Gate, JsonlSink, Outcome, Policy, Queue};

const BIN: &str = env!("CARGO_BIN_EXE_signoff");

fn signoff(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `signoff audit keygen --out DIR/checkpoint.key`; returns (secret, public) paths.
fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("checkpoint.key");
    let out = signoff(&["audit", "keygen", "--out", s(&key)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (key, dir.join("checkpoint.key.pub"))
}

/// Runs `n` allowed actions through a gate writing to `sink`, signing with
/// the key in `key_file` (checkpoints only on close), then closes it.
fn write_trail(sink: Arc<dyn AuditSink>, key_file: Option<&Path>, n: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let policy = Policy::from_toml_str("[policy]\ndefault = \"allow\"\n").unwrap();
        let mut b = Gate::builder()
            .policy(policy)
            .approver(Queue)
            .audit_arc(sink);
        if let Some(path) = key_file {
            let key = CheckpointKeySource::File(path.to_owned()).load().unwrap();
            b = b.checkpoints(CheckpointConfig {
                every_records: 1_000_000,
                every: Duration::from_secs(3600),
                ..CheckpointConfig::new(key)
            });
        }
        let gate = b.build().unwrap();
        for _ in 0..n {
            let permit = gate
                .require(Action::new("db.read").actor("agent:bot"))
                .await
                .unwrap();
            permit.complete(Outcome::success()).await.unwrap();
        }
        gate.close().await.unwrap();
    });
}

fn jsonl(path: &Path) -> Arc<dyn AuditSink> {
    Arc::new(JsonlSink::open(path).unwrap())
}

#[test]
fn keygen_writes_a_private_key_file_and_a_public_key_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("checkpoint.key");
    let out = signoff(&["audit", "keygen", "--out", s(&key)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let secret = std::fs::read_to_string(&key).unwrap();
    let public = std::fs::read_to_string(dir.path().join("checkpoint.key.pub")).unwrap();
    // one line of 64 hex characters each; the public key is also on stdout
    for text in [&secret, &public] {
        assert_eq!(text.len(), 65, "{text:?}");
        assert!(text.trim().chars().all(|c| c.is_ascii_hexdigit()) && text.ends_with('\n'));
    }
    assert_eq!(stdout(&out), public);
    let loaded = CheckpointKeySource::File(key.clone()).load().unwrap();
    assert_eq!(
        signoff::audit::verifying_key_from_hex(&public).unwrap(),
        loaded.verifying_key()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secret key is private: {mode:o}");
    }

    // a second run refuses, leaving both files as they were
    let again = signoff(&["audit", "keygen", "--out", s(&key)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists (use --force"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), secret);

    // --force replaces it with a new private key; --pub puts the public key elsewhere
    let other_pub = dir.path().join("elsewhere.pub");
    let forced = signoff(&[
        "audit",
        "keygen",
        "--out",
        s(&key),
        "--pub",
        s(&other_pub),
        "--force",
    ]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert_ne!(std::fs::read_to_string(&key).unwrap(), secret);
    assert_eq!(
        std::fs::read_to_string(&other_pub).unwrap(),
        stdout(&forced)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "still private after --force: {mode:o}");
    }
    // the public key never goes into the secret key's file
    let same = signoff(&[
        "audit",
        "keygen",
        "--out",
        s(&key),
        "--pub",
        s(&key),
        "--force",
    ]);
    assert_eq!(same.status.code(), Some(2));
}

#[test]
fn a_trail_signed_with_a_keygen_key_verifies_with_its_public_key_and_a_cut_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let trail = dir.path().join("audit.jsonl");
    write_trail(jsonl(&trail), Some(&key), 3);

    let ok = signoff(&["audit", "verify", s(&trail), "--pubkey", s(&public)]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let text = stdout(&ok);
    assert!(text.contains("1 signature(s) verified"), "{text}");
    assert!(!text.contains("warning"), "close signed the head: {text}");

    // the same public key given inline as hex
    let hex = std::fs::read_to_string(&public).unwrap();
    let inline = signoff(&["audit", "verify", s(&trail), "--pubkey", hex.trim()]);
    assert_eq!(inline.status.code(), Some(0), "{}", stdout(&inline));

    // the newest records cut, the checkpoint with them: the chain is still
    // consistent, so only the key can tell
    let text = std::fs::read_to_string(&trail).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.last().unwrap().contains("\"audit.checkpoint\""));
    let cut = dir.path().join("cut.jsonl");
    std::fs::write(&cut, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let unkeyed = signoff(&["audit", "verify", s(&cut)]);
    assert_eq!(unkeyed.status.code(), Some(0));
    let failed = signoff(&["audit", "verify", s(&cut), "--pubkey", s(&public)]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    assert!(
        stdout(&failed).contains("TAMPERED")
            && stdout(&failed).contains("no checkpoint signed by the given public key"),
        "{}",
        stdout(&failed)
    );

    // another key fails at the checkpoint
    let other = tempfile::tempdir().unwrap();
    let (_, other_public) = keygen(other.path());
    let wrong = signoff(&["audit", "verify", s(&trail), "--pubkey", s(&other_public)]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stdout(&wrong).contains("signature does not verify"),
        "{}",
        stdout(&wrong)
    );
}

#[test]
fn verify_with_a_key_fails_a_trail_without_any_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (_key, public) = keygen(dir.path());
    let trail = dir.path().join("audit.jsonl");
    write_trail(jsonl(&trail), None, 2);
    let out = signoff(&["audit", "verify", s(&trail), "--pubkey", s(&public)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the trail has no checkpoint signed by the given public key"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn records_after_the_last_checkpoint_are_a_warning_naming_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let trail = dir.path().join("audit.jsonl");
    write_trail(jsonl(&trail), Some(&key), 2);
    // a later writer without the key continues the same stream
    write_trail(jsonl(&trail), None, 1);
    let text = std::fs::read_to_string(&trail).unwrap();
    let after = text
        .lines()
        .rev()
        .take_while(|l| !l.contains("\"audit.checkpoint\""))
        .count();
    assert!(after > 0);
    let out = signoff(&["audit", "verify", s(&trail), "--pubkey", s(&public)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "{after} record(s) after the last checkpoint are not covered by a signature"
        )),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_without_a_key_or_checkpoint_says_a_cut_at_the_end_is_undetectable() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let trail = dir.path().join("audit.jsonl");
    write_trail(jsonl(&trail), Some(&key), 2);
    let bare = signoff(&["audit", "verify", s(&trail)]);
    assert_eq!(bare.status.code(), Some(0));
    assert!(
        stdout(&bare).contains(
            "without --pubkey or --checkpoint, deleting the newest records (or rewriting the whole trail) is undetectable"
        ),
        "{}",
        stdout(&bare)
    );
    for with in [
        signoff(&["audit", "verify", s(&trail), "--pubkey", s(&public)]),
        {
            let exported = signoff(&["audit", "checkpoint", s(&trail)]);
            assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
            let cp = dir.path().join("cp.json");
            std::fs::write(&cp, stdout(&exported)).unwrap();
            signoff(&["audit", "verify", s(&trail), "--checkpoint", s(&cp)])
        },
    ] {
        assert_eq!(with.status.code(), Some(0), "{}", stdout(&with));
        assert!(!stdout(&with).contains("undetectable"), "{}", stdout(&with));
    }
}

#[test]
fn a_sqlite_trail_is_held_to_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path());
    let signed = dir.path().join("signed.db");
    let sink = signoff_sqlite::SqliteSink::open(&signed, Some("agent-1")).unwrap();
    write_trail(Arc::new(sink), Some(&key), 2);
    let target = format!("sqlite:{}", signed.display());
    let ok = signoff(&["audit", "verify", &target, "--pubkey", s(&public)]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(
        stdout(&ok).contains("1 signature(s) verified"),
        "{}",
        stdout(&ok)
    );
    let exported = signoff(&["audit", "checkpoint", &target]);
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    assert!(
        stdout(&exported).contains("\"stream\":\"agent-1\""),
        "{}",
        stdout(&exported)
    );

    // a second stream in the same database, written without the key
    let sink = signoff_sqlite::SqliteSink::open(&signed, Some("agent-2")).unwrap();
    write_trail(Arc::new(sink), None, 1);
    let failed = signoff(&["audit", "verify", &target, "--pubkey", s(&public)]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    assert!(
        stdout(&failed)
            .contains("stream `agent-2` has no checkpoint signed by the given public key"),
        "{}",
        stdout(&failed)
    );
    let bare = signoff(&["audit", "verify", &target]);
    assert_eq!(bare.status.code(), Some(0));
    assert!(stdout(&bare).contains("undetectable"), "{}", stdout(&bare));
}
