//! The core against the test vectors of `docs/audit-trail.md` §15: it seals
//! the documented records to the documented lines, redacts, digests and
//! checks the documented checkpoint as the document says, and writes
//! numbers as its table says (a `serde_json` upgrade that changed the
//! spelling of a double would fail here). `test_vectors.py` checks the same
//! vectors with the independent verifier, so the document is held to both.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::Path;

use serde_json::{Value, json};
use signoff::Policy;
use signoff::audit::{
    AuditRecord, checkpoint_message, signing_key_from_hex, verify_reader, verifying_key_to_hex,
};
use signoff::canonical::{digest, to_canonical};
use signoff::redact::RedactionKey;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit-trail.md"))
        .unwrap()
}

/// The body of the fenced block whose info string ends with `tag`.
fn block(doc: &str, tag: &str) -> Vec<String> {
    let mut lines = doc.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with("```") && l.ends_with(tag))
        .unwrap_or_else(|| panic!("docs/audit-trail.md has no block `{tag}`"));
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(str::to_owned)
        .collect()
}

/// The value after `name:` in the keys block.
fn key_line(doc: &str, name: &str) -> String {
    block(doc, "vector-keys")
        .iter()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no `{name}` in the keys block"))
}

fn records(doc: &str) -> Vec<(String, AuditRecord)> {
    block(doc, "vector-trail")
        .into_iter()
        .map(|line| {
            let r: AuditRecord = serde_json::from_str(&line).unwrap();
            (line, r)
        })
        .collect()
}

#[test]
fn the_core_seals_the_documented_records_to_the_documented_lines() {
    let doc = doc();
    let records = records(&doc);
    assert_eq!(records.len(), 3);
    for (line, mut r) in records {
        let documented = r.hash.clone();
        assert_eq!(r.to_line(), line, "the core writes this record differently");
        assert_eq!(r.hash, documented);
    }
}

#[test]
fn the_documented_checkpoint_verifies_with_the_key_of_the_documented_seed() {
    let doc = doc();
    let seed = signing_key_from_hex(&key_line(&doc, "checkpoint seed:")).unwrap();
    assert_eq!(
        verifying_key_to_hex(&seed.verifying_key()).trim(),
        key_line(&doc, "public key:")
    );
    let trail: String = block(&doc, "vector-trail")
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let report = verify_reader(trail.as_bytes(), Some(&seed.verifying_key()), None).unwrap();
    assert_eq!((report.records, report.signatures_verified), (3, 1));
    let records = records(&doc);
    let before = &records[1].1;
    assert_eq!(
        checkpoint_message("vector", 2, &before.hash),
        format!("signoff-checkpoint\nvector\n2\n{}", before.hash).into_bytes()
    );
}

#[test]
fn redaction_args_digest_and_policy_digest_are_computed_as_documented() {
    let doc = doc();
    let decided = &records(&doc)[0].1;
    let key = RedactionKey::from_secret(key_line(&doc, "redaction secret:").as_bytes());
    assert_eq!(key.id(), "k57a45097b5a8");
    let args = decided.args.as_ref().unwrap();
    assert_eq!(args["password"], key.seal(&json!("hunter2")));
    assert_eq!(decided.args_digest.as_deref(), Some(digest(args).as_str()));

    let policy = Policy::from_toml_str(&block(&doc, "vector-policy").join("\n")).unwrap();
    assert_eq!(decided.policy_digest.as_deref(), Some(policy.digest()));
    let normalized = doc
        .split("has the normalized form `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap();
    assert_eq!(to_canonical(&policy.to_json()), normalized);
}

#[test]
fn numbers_are_written_as_the_document_says() {
    let rows = block(&doc(), "vector-numbers");
    assert!(rows.len() > 10);
    for row in rows {
        let mut cells = row.split_whitespace();
        let (input, canonical) = (cells.next().unwrap(), cells.next().unwrap());
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(to_canonical(&value), canonical, "`{input}`");
    }
}
