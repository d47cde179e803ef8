//! Changing a policy safely (DESIGN §12): `signoff test`, shadow policies
//! with `signoff audit shadow`, and `signoff replay`, each checked against
//! evaluating the policies directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use signoff::audit::{Durability, JsonlSink};
use signoff::{Action, AuditRecord, Effect, Event, Gate, Policy};

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const EXAMPLE: &str = "examples/policies/prod-agents.toml";

#[test]
fn the_example_policy_passes_its_tests_and_every_rule_is_covered() {
    let out = signoff(&[
        "test",
        EXAMPLE,
        "examples/policies/prod-agents.test.toml",
        "--coverage",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("coverage: 5 of 5 rules decided a test"),
        "{text}"
    );
    assert!(text.ends_with("12 passed, 0 failed\n"), "{text}");
    let out = signoff(&[
        "test",
        EXAMPLE,
        "examples/policies/prod-agents.test.toml",
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 12);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["uncovered"], json!([]));
}

#[test]
fn a_failing_case_shows_the_diff_and_the_trace_and_exits_1() {
    let out = signoff(&["test", EXAMPLE, "tests/policy-tests/failing.test.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = "\
ok   reads pass  (tests/policy-tests/failing.test.toml:2)
FAIL someone thinks small exports from prod need approval  (tests/policy-tests/failing.test.toml:7)
       - expected: approve by `prod-export`
       + actual:   allow by `small-exports`
         reason:   rule `small-exports` decided allow
       trace:
         - prod-export          approve  `when` `args.rows > 1000` is false
         + small-exports        allow    matched; `when` `args.rows <= 1000` is true
1 passed, 1 failed
";
    assert_eq!(text, expected);
    // a rule that no case exercised is listed
    let out = signoff(&[
        "test",
        EXAMPLE,
        "tests/policy-tests/failing.test.toml",
        "--coverage",
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["uncovered"],
        json!(["no-drop", "sql-writes", "prod-export"])
    );
    assert_eq!(report["results"][1]["passed"], false);
    assert_eq!(report["results"][1]["effect"], "allow");
}

#[test]
fn malformed_test_files_get_located_errors() {
    let cases = [
        (
            "bad-expect",
            "tests/policy-tests/bad-expect.test.toml:3:10: `expect` is `maybe`; it must be allow, approve or deny",
        ),
        (
            "unknown-key",
            "tests/policy-tests/unknown-key.test.toml:5:1: unknown field `rule`, expected one of `name`, `action`, `expect`, `rules`, `now`",
        ),
        (
            "bad-now",
            "tests/policy-tests/bad-now.test.toml:4:7: `now`: `last tuesday` is not an RFC 3339 timestamp",
        ),
        (
            "duplicate-name",
            "tests/policy-tests/duplicate-name.test.toml:7:8: test `x` is defined twice",
        ),
        (
            "args-not-table",
            "tests/policy-tests/args-not-table.test.toml:6:8: `action.args` must be a table, not `\"rows=5\"`",
        ),
        (
            "action-typo",
            "tests/policy-tests/action-typo.test.toml:4:31: unknown field `actr`",
        ),
        (
            "syntax",
            "tests/policy-tests/syntax.test.toml:4:29: unclosed inline table",
        ),
        (
            "missing-action",
            "tests/policy-tests/missing-action.test.toml:1:1: missing field `action`",
        ),
    ];
    for (name, want) in cases {
        let file = format!("tests/policy-tests/{name}.test.toml");
        let out = signoff(&["test", EXAMPLE, &file]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        assert!(err.starts_with(want), "{name}: {err}");
        assert!(stdout(&out).is_empty(), "{name}: nothing runs");
    }
    let out = signoff(&["test", EXAMPLE, "tests/policy-tests/nope.test.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The shared case table (tests/cases) written as one test file per policy:
/// `signoff test` reaches every expected decision.
#[test]
fn the_case_table_passes_as_policy_test_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = std::fs::read_to_string(root().join("tests/cases/cases.jsonl")).unwrap();
    let mut files: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
    for line in table.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let mut t = toml::Table::new();
        t.insert("name".into(), case["id"].as_str().unwrap().into());
        t.insert("expect".into(), case["effect"].as_str().unwrap().into());
        let rules: Vec<toml::Value> = case["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().into())
            .collect();
        t.insert("rules".into(), toml::Value::Array(rules));
        if let Some(now) = case["now"].as_str() {
            t.insert("now".into(), now.into());
        }
        let action: toml::Value =
            toml::Value::try_from(case["action"].clone()).expect("a TOML-able action");
        t.insert("action".into(), action);
        files
            .entry(case["policy"].as_str().unwrap().to_owned())
            .or_default()
            .push(toml::Value::Table(t));
    }
    let mut total = 0;
    for (policy, cases) in &files {
        let path = dir.path().join(format!("{policy}.test.toml"));
        let mut doc = toml::Table::new();
        total += cases.len();
        doc.insert("test".into(), toml::Value::Array(cases.clone()));
        std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
        let policy_path = format!("tests/cases/policies/{policy}");
        let out = signoff(&["test", &policy_path, path.to_str().unwrap(), "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{policy}: {}{}", stdout(&out), stderr(&out)));
        assert_eq!(out.status.code(), Some(0), "{policy}: {report:#}");
        assert_eq!(report["passed"], cases.len(), "{policy}");
    }
    assert!(total >= 160, "{total} cases");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn read_trail(path: &Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const LIVE: &str = r#"
[policy]
name = "live"
default = "deny"
[groups]
sre = ["user:alice@example.com", "user:bob@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "small-exports"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 1000"
[[rules]]
id = "big-exports"
effect = "approve"
actions = ["db.export"]
when = "args.rows > 1000"
approvers = "sre"
[[rules]]
id = "no-drop"
effect = "deny"
actions = ["sql.exec"]
when = 'args.sql.matches("(?i)drop")'
[[rules]]
id = "sql"
effect = "allow"
actions = ["sql.exec"]
"#;

/// The candidate: smaller exports need approval, SQL in prod needs it too,
/// and a login rule reads a secret (redacted in the trail by default).
const CANDIDATE: &str = r#"
[policy]
name = "candidate"
default = "deny"
[groups]
sre = ["user:alice@example.com", "user:bob@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "small-exports"
effect = "allow"
actions = ["db.export"]
when = "args.rows <= 100"
[[rules]]
id = "big-exports"
effect = "approve"
actions = ["db.export"]
when = "args.rows > 100"
approvers = "sre"
[[rules]]
id = "no-drop"
effect = "deny"
actions = ["sql.exec"]
when = 'args.sql.matches("(?i)drop")'
[[rules]]
id = "prod-sql"
effect = "approve"
actions = ["sql.exec"]
env = ["prod"]
approvers = "sre"
[[rules]]
id = "sql"
effect = "allow"
actions = ["sql.exec"]
[[rules]]
id = "weak-password"
effect = "deny"
actions = ["db.login"]
when = "size(args.password) < 8"
[[rules]]
id = "login"
effect = "allow"
actions = ["db.login"]
when = "context.ticket != ''"
"#;

/// A deterministic mix of actions: reads, exports of many sizes, SQL in
/// and out of prod (some dropping tables), logins with passwords, and
/// actions no rule knows.
fn actions(n: usize) -> Vec<Action> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let r = next();
            let env = if r % 3 == 0 { "prod" } else { "dev" };
            let base = |name: &str| {
                Action::new(name)
                    .actor(format!("agent:bot-{}", r % 5))
                    .env(env)
            };
            match i % 6 {
                0 => base("db.query").args(json!({"sql": "select 1"})),
                1 => base("db.export").args(json!({"rows": (r >> 8) % 5000})),
                2 => base("sql.exec").args(json!({
                    "sql": if r % 4 == 0 { "DROP TABLE t" } else { "update t set x = 1" }
                })),
                3 => base("db.login")
                    .args(json!({"user": "svc", "password": "x".repeat((r % 12) as usize)}))
                    .context(if r % 2 == 0 {
                        json!({"ticket": "T-1"})
                    } else {
                        json!({})
                    }),
                4 => base("db.export").args(json!({"rows": 100 + (r >> 8) % 2})),
                _ => base("iam.grant").args(json!({"role": "admin"})),
            }
        })
        .collect()
}

/// Writes a trail of decisions by a gate with `live`, `candidate` in
/// shadow when given; approve decisions find no approver (recorded, denied).
fn write_trail(path: &Path, live: &Policy, candidate: Option<&Policy>, actions: &[Action]) {
    runtime().block_on(async {
        let mut b = Gate::builder()
            .policy(live.clone())
            .audit(JsonlSink::open_with(path, Durability::OsBuffered).unwrap());
        if let Some(c) = candidate {
            b = b.shadow(c.clone());
        }
        let gate = b.build().unwrap();
        for a in actions {
            match gate.require(a.clone()).await {
                Ok(p) => p.complete(signoff::Outcome::success()).await.unwrap(),
                Err(signoff::Error::Denied(_) | signoff::Error::NoApprover { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        gate.close().await.unwrap();
    });
}

fn key(effect: Effect, rules: &[&str]) -> (String, Vec<String>) {
    (
        effect.as_str().to_owned(),
        rules.iter().map(|s| (*s).to_owned()).collect(),
    )
}

#[test]
fn a_shadow_policy_is_recorded_exactly_where_it_differs_and_the_live_one_decides() {
    let live = Policy::from_toml_str(LIVE).unwrap();
    let candidate = Policy::from_toml_str(CANDIDATE).unwrap();
    let actions = actions(10_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    write_trail(&path, &live, Some(&candidate), &actions);
    let records = read_trail(&path);

    // evaluated independently: where do the two policies differ?
    let mut transitions: BTreeMap<String, usize> = BTreeMap::new();
    for a in &actions {
        let l = live.evaluate(a);
        let c = candidate.evaluate(a);
        if key(l.effect(), &l.rule_ids()) != key(c.effect(), &c.rule_ids()) {
            *transitions
                .entry(format!("{} -> {}", l.effect(), c.effect()))
                .or_default() += 1;
        }
    }
    // every action has one decision, and the live policy made it
    let decided: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.event == Some(Event::PolicyDecided))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(decided.len(), actions.len());
    let mut shadow_count = 0;
    for (i, &at) in decided.iter().enumerate() {
        let r = &records[at];
        let a = &actions[i];
        let l = live.evaluate(a);
        let c = candidate.evaluate(a);
        assert_eq!(r.effect.as_deref(), Some(l.effect().as_str()));
        assert_eq!(r.policy_digest.as_deref(), Some(live.digest()));
        // the shadow record follows its decision, only where they differ
        let next = records.get(at + 1);
        let differs = key(l.effect(), &l.rule_ids()) != key(c.effect(), &c.rule_ids());
        match next.filter(|n| n.event == Some(Event::PolicyShadow)) {
            Some(s) => {
                assert!(differs, "a policy.shadow record where both agree: {a:?}");
                shadow_count += 1;
                assert_eq!(s.action_id, r.action_id);
                assert_eq!(s.effect.as_deref(), Some(c.effect().as_str()));
                let rules = c.rule_ids().join(",");
                assert_eq!(s.rule.as_deref().unwrap_or(""), rules);
                assert_eq!(s.policy_digest.as_deref(), Some(candidate.digest()));
            }
            None => assert!(!differs, "no policy.shadow record for {a:?}"),
        }
    }
    assert!(shadow_count > 1000, "{shadow_count}");

    // `signoff audit shadow` counts the same
    let out = signoff(&["audit", "shadow", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["decisions"], actions.len());
    assert_eq!(summary["differ"], shadow_count);
    assert_eq!(summary["transitions"], json!(transitions));
    let text = stdout(&signoff(&["audit", "shadow", path.to_str().unwrap()]));
    assert!(
        text.starts_with(&format!(
            "10000 decisions, {shadow_count} where the shadow policy decided differently"
        )),
        "{text}"
    );
    // `signoff audit show` tells the shadow record in words
    let show = stdout(&signoff(&["audit", "show", path.to_str().unwrap()]));
    assert!(show.contains("shadow policy would decide"), "{show:.2000}");
}

#[test]
fn replay_counts_what_evaluating_the_new_policy_directly_counts() {
    let live = Policy::from_toml_str(LIVE).unwrap();
    let candidate = Policy::from_toml_str(CANDIDATE).unwrap();
    let actions = actions(3_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    write_trail(&path, &live, None, &actions);
    let new_path = dir.path().join("candidate.toml");
    std::fs::write(&new_path, CANDIDATE).unwrap();

    // directly: the new policy on the original actions. A login's password
    // is redacted in the trail (a secret name), and the candidate's
    // `weak-password` deny rule reads it: those decisions are undecidable
    // (the deny would win over everything, so it always matters).
    let mut transitions: BTreeMap<String, usize> = BTreeMap::new();
    let (mut changed, mut undecidable) = (0usize, 0usize);
    for a in &actions {
        if a.name == "db.login" {
            undecidable += 1;
            continue;
        }
        let old = live.evaluate(a);
        let new = candidate.evaluate(a);
        *transitions
            .entry(format!("{} -> {}", old.effect(), new.effect()))
            .or_default() += 1;
        if key(old.effect(), &old.rule_ids()) != key(new.effect(), &new.rule_ids()) {
            changed += 1;
        }
    }
    let out = signoff(&[
        "replay",
        "--policy",
        new_path.to_str().unwrap(),
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["decisions"], actions.len());
    assert_eq!(report["transitions"], json!(transitions));
    assert_eq!(report["changed"], changed);
    assert_eq!(report["undecidable"]["count"], undecidable);
    assert_eq!(
        report["undecidable"]["rules"],
        json!({"weak-password": undecidable})
    );
    assert_eq!(
        report["undecidable"]["fields"],
        json!({"args.password (redacted)": undecidable})
    );
    assert!(changed > 100, "{changed}");
    // --fail-on-change turns a change into exit 1; the text names examples
    let out = signoff(&[
        "replay",
        "--policy",
        new_path.to_str().unwrap(),
        path.to_str().unwrap(),
        "--fail-on-change",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("undecidable (a condition reads a redacted or unrecorded field):"),
        "{text}"
    );
    assert!(text.contains("rule `weak-password`"), "{text}");
    assert!(text.contains("allow -> approve: "), "{text}");
    // the live policy replayed on its own trail changes nothing (the login
    // rule of the live policy reads nothing secret)
    let live_path = dir.path().join("live.toml");
    std::fs::write(&live_path, LIVE).unwrap();
    let out = signoff(&[
        "replay",
        "--policy",
        live_path.to_str().unwrap(),
        path.to_str().unwrap(),
        "--json",
        "--fail-on-change",
    ]);
    let same: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same["changed"], 0, "{same:#}");
    assert_eq!(same["undecidable"]["count"], 0);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_trail_without_context_makes_rules_reading_context_undecidable() {
    // a record as older versions wrote it: no `context` key
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("old.jsonl");
    let live = Policy::from_toml_str(LIVE).unwrap();
    let login = Action::new("db.login")
        .actor("agent:a")
        .args(json!({"user": "svc"}))
        .context(json!({"ticket": "T-1"}));
    write_trail(&trail, &live, None, &[login]);
    let text = std::fs::read_to_string(&trail).unwrap();
    let mut record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        record["context"],
        json!({"ticket": "T-1"}),
        "context is recorded"
    );
    record.as_object_mut().unwrap().remove("context");
    std::fs::write(&trail, format!("{record}\n")).unwrap();
    let new_path = dir.path().join("tickets.toml");
    std::fs::write(
        &new_path,
        "[[rules]]\nid = \"ticket\"\neffect = \"allow\"\nactions = [\"db.login\"]\nwhen = \"context.ticket != ''\"\n",
    )
    .unwrap();
    let out = signoff(&[
        "replay",
        "--policy",
        new_path.to_str().unwrap(),
        trail.to_str().unwrap(),
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["undecidable"]["count"], 1, "{report:#}");
    assert_eq!(
        report["undecidable"]["fields"],
        json!({"context (unrecorded)": 1})
    );
}
