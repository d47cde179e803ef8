//! The shared case table: `tests/cases/cases.jsonl` over the policies in
//! `tests/cases/policies/`. The Python and Node suites run the same file.

#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use signoff::{Action, Policy};

fn parse_now(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn cases_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases"))
}

fn load_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(cases_dir().join("cases.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_case_in_the_table_gets_its_expected_decision() {
    let mut policies: HashMap<String, Policy> = HashMap::new();
    let cases = load_cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let file = case["policy"].as_str().unwrap();
        let policy = policies
            .entry(file.to_owned())
            .or_insert_with(|| Policy::from_file(cases_dir().join("policies").join(file)).unwrap());
        let action: Action = serde_json::from_value(case["action"].clone()).unwrap();
        let now = parse_now(case["now"].as_str().unwrap_or("2026-01-01T12:00:00Z"));
        let eval = policy.evaluate_at(&action, now);
        let want_effect = case["effect"].as_str().unwrap();
        let want_rules: Vec<&str> = case["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let invalid = case["invalid"].as_bool().unwrap_or(false);
        if eval.effect().as_str() != want_effect
            || eval.rule_ids() != want_rules
            || eval.invalid_action().is_some() != invalid
        {
            failures.push(format!(
                "{id}: want {want_effect} {want_rules:?} invalid={invalid}, got {} {:?} ({})",
                eval.effect(),
                eval.rule_ids(),
                eval.reason()
            ));
        }
        // the explained (linear) evaluator decides the same
        // (explain checks every rule, so it may report more condition errors)
        let mut explained = policy.explain_at(&action, now).decision;
        let mut decided = eval.decision();
        explained.errors.clear();
        decided.errors.clear();
        assert_eq!(explained, decided, "{id}: explain disagrees");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_same_policy_from_toml_and_json_has_the_same_digest_and_decisions() {
    for entry in std::fs::read_dir(cases_dir().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        let policy = Policy::from_file(&path).unwrap();
        let json = serde_json::to_string_pretty(&policy.to_json()).unwrap();
        let again = Policy::from_json_str(&json).unwrap();
        assert_eq!(policy.digest(), again.digest(), "{}", path.display());
    }
    let cases = load_cases();
    for case in &cases {
        let file = case["policy"].as_str().unwrap();
        let toml = Policy::from_file(cases_dir().join("policies").join(file)).unwrap();
        let json = Policy::from_json_str(&toml.to_json().to_string()).unwrap();
        let action: Action = serde_json::from_value(case["action"].clone()).unwrap();
        let now = parse_now(case["now"].as_str().unwrap_or("2026-01-01T12:00:00Z"));
        assert_eq!(
            toml.evaluate_at(&action, now).decision(),
            json.evaluate_at(&action, now).decision()
        );
    }
}
