//! The `signoff` binary: formats and exit codes of DESIGN §7.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn signoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_a_good_policy_and_prints_file_line_column_for_bad_ones() {
    let ok = signoff(&["check", "examples/policies/prod-agents.toml"]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(stdout(&ok).contains("ok (5 rules"));
    let bad = signoff(&["check", "tests/malformed/cel_syntax.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert!(
        out.starts_with("tests/malformed/cel_syntax.toml:12:8: rule `big-export`: "),
        "{out}"
    );
    let missing = signoff(&["check", "no/such/file.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn explain_json_has_the_documented_shape_and_exit_codes() {
    let o = signoff(&[
        "explain",
        "examples/policies/prod-agents.toml",
        "examples/policies/export.json",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "approve exits 0");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["effect"], "approve");
    assert_eq!(v["rules"], serde_json::json!(["prod-export"]));
    assert_eq!(v["approval"]["requirements"][0]["group"], "data-owners");
    assert_eq!(v["approval"]["requirements"][0]["min"], 2);
    assert!(v["policy_digest"].as_str().unwrap().starts_with("blake3:"));
    assert_eq!(v["trace"].as_array().unwrap().len(), 5);
    let denied = signoff(&[
        "explain",
        "examples/policies/prod-agents.toml",
        "examples/policies/drop-table.json",
    ]);
    assert_eq!(denied.status.code(), Some(1), "deny exits 1");
    assert!(stdout(&denied).contains("effect:  deny"));
    let unreadable = signoff(&["explain", "examples/policies/prod-agents.toml", "nope.json"]);
    assert_eq!(unreadable.status.code(), Some(2));
    let usage = signoff(&["explain"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn the_demo_runs_without_input_and_its_trail_verifies_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("demo.jsonl");
    let trail_s = trail.to_str().unwrap();
    let demo = signoff(&["demo", "--audit", trail_s]);
    assert_eq!(
        demo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let out = stdout(&demo);
    assert!(out.contains("vote rejected"), "{out}");
    assert!(out.contains("cannot vote on it"), "{out}");
    assert!(out.contains("hash chain intact"), "{out}");

    let verify = signoff(&["audit", "verify", trail_s]);
    assert_eq!(verify.status.code(), Some(0));

    let show = signoff(&["audit", "show", trail_s]);
    assert!(stdout(&show).contains("REJECTED (self_approval)"));

    // change one vote's voter: verify names that record's seq and exits 1
    let text = std::fs::read_to_string(&trail).unwrap();
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("\"event\":\"approval.vote\""))
        .unwrap();
    let seq: serde_json::Value = serde_json::from_str(line).unwrap();
    let seq = seq["seq"].as_u64().unwrap();
    let forged: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == n {
                l.replace("carol", "mallory")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&trail, forged.join("\n") + "\n").unwrap();
    let verify = signoff(&["audit", "verify", trail_s]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains(&format!("seq {seq},")),
        "{}",
        stdout(&verify)
    );
}
