//! Hostile inputs never panic: a 10 MB policy, 10,000-deep nesting in a
//! policy and in action args, invalid UTF-8, and JSON policies with errors
//! that still point at line and column.

#![allow(clippy::unwrap_used, reason = "test code")]

use serde_json::Value;
use signoff::{Action, Effect, Policy};

#[test]
fn a_ten_megabyte_policy_loads_or_fails_cleanly() {
    let mut text = String::from("[policy]\ndefault = \"deny\"\n");
    let mut i = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!(
            "[[rules]]\nid = \"r{i}\"\neffect = \"allow\"\nactions = [\"tool{i}.call\", \"svc{i}.*\"]\nresources = [\"s3://bucket/{i}/**\"]\n"
        ));
        if i % 100 == 7 {
            text.push_str(&format!("when = 'args.n < {i}'\n"));
        }
        i += 1;
    }
    let policy = Policy::from_toml_str(&text).unwrap();
    assert!(
        policy.rules().len() > 50_000,
        "{} rules",
        policy.rules().len()
    );
    let a = Action::new("tool77.call")
        .actor("agent:x")
        .resource("s3://bucket/77/x.csv")
        .args(serde_json::json!({"n": 1}));
    assert_eq!(policy.evaluate(&a).effect(), Effect::Allow);
    // and a 10 MB file of junk is an error, not a panic
    let junk = "= [ ] {".repeat(10 * 1024 * 1024 / 7);
    assert!(Policy::from_toml_str(&junk).is_err());
}

#[test]
fn deeply_nested_policy_values_are_an_error_not_a_crash() {
    let deep_toml = format!("x = {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let run = std::thread::Builder::new()
        .stack_size(8 * 1024 * 1024)
        .spawn(move || Policy::from_toml_str(&deep_toml).is_err())
        .unwrap();
    assert!(run.join().unwrap());
    let deep_json = format!(
        "{{\"rules\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(Policy::from_json_str(&deep_json).is_err());
}

#[test]
fn ten_thousand_deep_args_are_denied_as_invalid() {
    let policy = Policy::from_toml_str("[policy]\ndefault = \"allow\"").unwrap();
    let mut v = Value::Null;
    for _ in 0..10_000 {
        v = Value::Array(vec![v]);
    }
    let action = Action::new("x.y")
        .actor("agent:a")
        .args(serde_json::json!({}))
        .context(Value::Null);
    let eval = policy.evaluate(&action);
    assert_eq!(
        eval.effect(),
        Effect::Deny,
        "a non-object context is invalid"
    );
    let mut args = serde_json::Map::new();
    args.insert("deep".into(), v);
    let action = Action::new("x.y")
        .actor("agent:a")
        .args(Value::Object(args));
    let eval = policy.evaluate(&action);
    assert_eq!(eval.effect(), Effect::Deny);
    assert!(eval.reason().contains("nests deeper"), "{}", eval.reason());
    std::mem::forget(action);
}

#[test]
fn invalid_utf8_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, b"[policy]\nname = \"caf\xe9\"\n").unwrap();
    let err = Policy::from_file(&path).unwrap_err();
    let issue = &err.issues[0];
    assert_eq!((issue.line, issue.column), (2, 12));
    assert!(issue.to_string().contains("not valid UTF-8"), "{issue}");
}

#[test]
fn json_policy_errors_point_at_line_and_column() {
    let text = r#"{
  "policy": {"default": "deny"},
  "groups": {"ops": ["user:a@example.com"]},
  "rules": [
    {"id": "ok", "effect": "allow", "actions": ["db.query"]},
    {"id": "bad", "effect": "allow", "actions": ["db..x"]}
  ]
}"#;
    let err = Policy::from_json_str(text).unwrap_err();
    let issue = &err.issues[0];
    assert_eq!(issue.rule.as_deref(), Some("bad"));
    assert_eq!((issue.line, issue.column), (6, 50), "{issue}");
    assert_eq!(issue.field, "rules[1].actions[0]");
    let typo = r#"{"rules": [{"id": "x", "effect": "allow", "actionz": []}]}"#;
    let err = Policy::from_json_str(typo).unwrap_err();
    assert!(err.to_string().contains("unknown field `actionz`"), "{err}");
    assert_eq!(err.issues[0].line, 1);
}

#[test]
fn every_error_is_collected_not_just_the_first() {
    let text = r#"
[[rules]]
id = "a"
effect = "allow"
actions = ["a..b"]

[[rules]]
id = "a"
effect = "approve"
approvers = "nobody"
"#;
    let err = Policy::from_toml_str(text).unwrap_err();
    assert_eq!(err.issues.len(), 3, "{err}");
}
