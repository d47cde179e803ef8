//! Malformed policies: each file in `tests/malformed/` has one error, and
//! `expected.jsonl` says where it is and what the message must say.

#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

use serde_json::Value;
use signoff::Policy;

#[test]
fn every_malformed_policy_is_rejected_at_the_right_place() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/malformed"));
    let text = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let want: Value = serde_json::from_str(line).unwrap();
        let file = want["file"].as_str().unwrap();
        count += 1;
        let err = match Policy::from_file(dir.join(file)) {
            Ok(_) => {
                failures.push(format!("{file}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        let issue = &err.issues[0];
        let line = want["line"].as_u64().unwrap() as usize;
        let column = want["column"].as_u64().unwrap() as usize;
        let rule = want["rule"].as_str();
        let contains = want["contains"].as_str().unwrap();
        let shown = issue.to_string();
        if issue.line != line
            || issue.column != column
            || issue.rule.as_deref() != rule
            || !shown.contains(contains)
            || !shown.contains(file)
        {
            failures.push(format!(
                "{file}: want {line}:{column} rule {rule:?} containing {contains:?}; got {shown} (rule {:?})",
                issue.rule
            ));
        }
        if err.issues.len() != 1 {
            failures.push(format!("{file}: {} issues: {err}", err.issues.len()));
        }
    }
    assert!(count >= 20, "only {count} malformed files");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
