//! Policy tests (DESIGN §12): TOML files of `[[test]]` cases, each an action
//! and the decision a policy must reach for it.
//!
//! ```toml
//! [[test]]
//! name = "bulk exports from prod need two data owners"
//! expect = "approve"                 # allow | approve | deny
//! rules = ["prod-export"]            # optional: exactly the deciding rules
//! now = "2026-03-02T10:00:00Z"       # optional: what conditions see as `now`
//! [test.action]                      # the fields of an action (DESIGN §2)
//! name = "db.export"
//! actor = "agent:billing-bot"
//! resource = "postgres://prod/customers"
//! env = "prod"
//! args = { rows = 50000 }
//! ```
//!
//! [`TestFile::from_file`] loads and validates a file (errors carry file,
//! line and column like policy errors); [`run`] decides every case and
//! returns a [`TestReport`] with each result, the trace of the rules that
//! mattered on a failure, and which rules no case exercised.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::load::{Locate, PolicyError, PolicyIssue, Seg, TomlSource, line_col};
use super::{Effect, Policy, RuleTrace};
use crate::action::Action;

/// A loaded test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// Where it came from, when read from a file.
    pub file: Option<String>,
    /// Its cases, in file order.
    pub cases: Vec<TestCase>,
}

/// One `[[test]]` case.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Its name, unique in the file.
    pub name: String,
    /// The action decided.
    pub action: Action,
    /// The effect the policy must reach.
    pub expect: Effect,
    /// When given, exactly these rules must decide (in any order).
    pub rules: Option<Vec<String>>,
    /// What conditions see as `now`.
    pub now: Option<DateTime<Utc>>,
    /// 1-based line of the case in its file (0 when unknown).
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    test: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    action: Action,
    expect: String,
    #[serde(default)]
    rules: Option<Vec<String>>,
    #[serde(default)]
    now: Option<toml::Value>,
}

impl TestFile {
    /// Reads and validates a TOML test file; errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::single(Some(&name), format!("cannot read test file: {e}")))?;
        Self::from_toml_str(&text, Some(&name))
    }

    /// Parses and validates a TOML test text. `file` names it in errors.
    pub fn from_toml_str(text: &str, file: Option<&str>) -> Result<Self, PolicyError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            PolicyError {
                issues: vec![PolicyIssue {
                    file: file.map(str::to_owned),
                    line,
                    column,
                    rule: None,
                    field: String::new(),
                    message: e.message().trim_end().to_owned(),
                }],
            }
        })?;
        let source = TomlSource::new(text);
        let mut issues = Vec::new();
        let mut issue = |path: &[Seg<'_>], field: String, message: String| {
            let (line, column) = source.locate(path).unwrap_or((0, 0));
            issues.push(PolicyIssue {
                file: file.map(str::to_owned),
                line,
                column,
                rule: None,
                field,
                message,
            });
        };
        if raw.test.is_empty() {
            issue(
                &[],
                String::new(),
                "no `[[test]]` cases: a test file needs at least one".to_owned(),
            );
        }
        let mut names = HashSet::new();
        let mut cases = Vec::with_capacity(raw.test.len());
        for (i, case) in raw.test.into_iter().enumerate() {
            let at = |key: &'static str| [Seg::Key("test"), Seg::Index(i), Seg::Key(key)];
            let field = |key: &str| format!("test[{i}].{key}");
            if case.name.trim().is_empty() {
                issue(&at("name"), field("name"), "`name` is empty".to_owned());
            } else if !names.insert(case.name.clone()) {
                issue(
                    &at("name"),
                    field("name"),
                    format!("test `{}` is defined twice", case.name),
                );
            }
            let expect = match case.expect.as_str() {
                "allow" => Some(Effect::Allow),
                "approve" => Some(Effect::Approve),
                "deny" => Some(Effect::Deny),
                other => {
                    issue(
                        &at("expect"),
                        field("expect"),
                        format!("`expect` is `{other}`; it must be allow, approve or deny"),
                    );
                    None
                }
            };
            let now = match &case.now {
                None => None,
                Some(toml::Value::String(s)) => match super::parse_timestamp(s) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        issue(&at("now"), field("now"), format!("`now`: {e}"));
                        None
                    }
                },
                Some(toml::Value::Datetime(d)) => match super::parse_timestamp(&d.to_string()) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        issue(
                            &at("now"),
                            field("now"),
                            format!(
                                "`now` `{d}` needs a date, a time and an offset (e.g. `2026-03-02T10:00:00Z`)"
                            ),
                        );
                        None
                    }
                },
                Some(other) => {
                    issue(
                        &at("now"),
                        field("now"),
                        format!(
                            "`now` must be an RFC 3339 timestamp, not a {}",
                            other.type_str()
                        ),
                    );
                    None
                }
            };
            for (key, value) in [
                ("args", &case.action.args),
                ("context", &case.action.context),
            ] {
                if !value.is_object() {
                    issue(
                        &[
                            Seg::Key("test"),
                            Seg::Index(i),
                            Seg::Key("action"),
                            Seg::Key(key),
                        ],
                        format!("test[{i}].action.{key}"),
                        format!("`action.{key}` must be a table, not `{value}`"),
                    );
                }
            }
            if let Some(rules) = &case.rules {
                let mut seen = HashSet::new();
                for (j, r) in rules.iter().enumerate() {
                    if !seen.insert(r.as_str()) {
                        issue(
                            &[
                                Seg::Key("test"),
                                Seg::Index(i),
                                Seg::Key("rules"),
                                Seg::Index(j),
                            ],
                            format!("test[{i}].rules[{j}]"),
                            format!("rule `{r}` is listed twice"),
                        );
                    }
                }
            }
            let (line, _) = source
                .locate(&[Seg::Key("test"), Seg::Index(i)])
                .unwrap_or((0, 0));
            if let Some(expect) = expect {
                cases.push(TestCase {
                    name: case.name,
                    action: case.action,
                    expect,
                    rules: case.rules,
                    now,
                    line,
                });
            }
        }
        if issues.is_empty() {
            Ok(TestFile {
                file: file.map(str::to_owned),
                cases,
            })
        } else {
            Err(PolicyError { issues })
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Its file, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its line (0 when unknown).
    pub line: usize,
    /// Whether the policy decided as expected.
    pub passed: bool,
    /// The expected effect.
    pub expect: Effect,
    /// The expected deciding rules, when the case names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_rules: Option<Vec<String>>,
    /// The effect reached.
    pub effect: Effect,
    /// The deciding rules.
    pub rules: Vec<String>,
    /// The decision's reason.
    pub reason: String,
    /// What is wrong with the case itself (a rule id the policy lacks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// On a failure: the trace of the rules that matter (deciding, expected,
    /// erroring, and those of the expected effect).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<RuleTrace>,
}

/// How often tests exercised a rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCoverage {
    /// The rule id.
    pub rule: String,
    /// Its effect.
    pub effect: Effect,
    /// Cases in which it matched.
    pub matched: usize,
    /// Cases it decided (it was among the deciding rules).
    pub decided: usize,
}

/// The results of running test files against a policy.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// The policy's digest.
    pub policy_digest: String,
    /// Every case, in file order.
    pub results: Vec<CaseResult>,
    /// Every rule of the policy, in policy order.
    pub coverage: Vec<RuleCoverage>,
}

impl TestReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Whether every case passed.
    pub fn ok(&self) -> bool {
        self.failed() == 0
    }

    /// Rules that decided no case.
    pub fn uncovered(&self) -> impl Iterator<Item = &RuleCoverage> {
        self.coverage.iter().filter(|c| c.decided == 0)
    }

    /// The report as one JSON object: `results`, `coverage`, `uncovered`
    /// (rule ids), `passed`, `failed`, `policy_digest`.
    pub fn to_json(&self) -> Value {
        json!({
            "policy_digest": self.policy_digest,
            "passed": self.passed(),
            "failed": self.failed(),
            "results": self.results,
            "coverage": self.coverage,
            "uncovered": self.uncovered().map(|c| c.rule.as_str()).collect::<Vec<_>>(),
        })
    }

    /// The report as a test runner prints it: a line per case, a diff of
    /// expected and actual with the trace on each failure, the coverage
    /// when asked, and the summary line `N passed, M failed`.
    pub fn render(&self, coverage: bool) -> String {
        let mut out = String::new();
        for r in &self.results {
            let place = match (&r.file, r.line) {
                (Some(f), l) if l > 0 => format!("{f}:{l}"),
                (Some(f), _) => f.clone(),
                (None, l) if l > 0 => format!("line {l}"),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                out,
                "{} {}{}",
                if r.passed { "ok  " } else { "FAIL" },
                r.name,
                if place.is_empty() {
                    String::new()
                } else {
                    format!("  ({place})")
                }
            );
            if r.passed {
                continue;
            }
            for p in &r.problems {
                let _ = writeln!(out, "       problem: {p}");
            }
            let _ = writeln!(
                out,
                "       - expected: {}{}",
                r.expect,
                r.expect_rules
                    .as_ref()
                    .map(|rules| format!(" by {}", rule_list(rules)))
                    .unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "       + actual:   {} by {}",
                r.effect,
                if r.rules.is_empty() {
                    "the default".to_owned()
                } else {
                    rule_list(&r.rules)
                }
            );
            let _ = writeln!(out, "         reason:   {}", r.reason);
            if !r.trace.is_empty() {
                let _ = writeln!(out, "       trace:");
                for t in &r.trace {
                    let _ = writeln!(
                        out,
                        "         {} {:<20} {:<8} {}",
                        if t.matched { "+" } else { "-" },
                        t.rule,
                        t.effect.as_str(),
                        t.detail
                    );
                }
            }
        }
        if coverage {
            let decided = self.coverage.len() - self.uncovered().count();
            let _ = writeln!(
                out,
                "coverage: {decided} of {} rules decided a test",
                self.coverage.len()
            );
            for c in self.uncovered() {
                let _ = writeln!(
                    out,
                    "  not covered: `{}` ({}): {}",
                    c.rule,
                    c.effect,
                    if c.matched == 0 {
                        "no test matched it".to_owned()
                    } else {
                        format!("matched in {} test(s) but another rule decided", c.matched)
                    }
                );
            }
        }
        let _ = writeln!(out, "{} passed, {} failed", self.passed(), self.failed());
        out
    }
}

fn rule_list(rules: &[String]) -> String {
    let ids: Vec<String> = rules.iter().map(|r| format!("`{r}`")).collect();
    ids.join(", ")
}

/// Decides every case of `files` under `policy`.
pub fn run(policy: &Policy, files: &[TestFile]) -> TestReport {
    let known: HashSet<&str> = policy.rules().iter().map(|r| r.id()).collect();
    let mut coverage: Vec<RuleCoverage> = policy
        .rules()
        .iter()
        .map(|r| RuleCoverage {
            rule: r.id().to_owned(),
            effect: r.effect(),
            matched: 0,
            decided: 0,
        })
        .collect();
    let index: BTreeMap<&str, usize> = policy
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id(), i))
        .collect();
    let mut results = Vec::new();
    for file in files {
        for case in &file.cases {
            let explained = match case.now {
                Some(now) => policy.explain_at(&case.action, now),
                None => policy.explain(&case.action),
            };
            let d = &explained.decision;
            for t in &explained.trace {
                if t.matched
                    && let Some(&i) = index.get(t.rule.as_str())
                    && let Some(c) = coverage.get_mut(i)
                {
                    c.matched += 1;
                }
            }
            for r in &d.rules {
                if let Some(&i) = index.get(r.as_str())
                    && let Some(c) = coverage.get_mut(i)
                {
                    c.decided += 1;
                }
            }
            let problems: Vec<String> = case
                .rules
                .iter()
                .flatten()
                .filter(|r| !known.contains(r.as_str()))
                .map(|r| format!("rule `{r}` is not in the policy"))
                .collect();
            let rules_ok = case.rules.as_ref().is_none_or(|want| {
                let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
                let mut got: Vec<&str> = d.rules.iter().map(String::as_str).collect();
                want.sort_unstable();
                got.sort_unstable();
                want == got
            });
            let passed = problems.is_empty() && d.effect == case.expect && rules_ok;
            let trace = if passed {
                Vec::new()
            } else {
                let wanted: HashSet<&str> = case
                    .rules
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .chain(d.rules.iter().map(String::as_str))
                    .collect();
                explained
                    .trace
                    .iter()
                    .filter(|t| {
                        wanted.contains(t.rule.as_str())
                            || t.error.is_some()
                            || t.matched
                            || (case.rules.is_none() && t.effect == case.expect)
                    })
                    .cloned()
                    .collect()
            };
            results.push(CaseResult {
                name: case.name.clone(),
                file: file.file.clone(),
                line: case.line,
                passed,
                expect: case.expect,
                expect_rules: case.rules.clone(),
                effect: d.effect,
                rules: d.rules.clone(),
                reason: d.reason.clone(),
                problems,
                trace,
            });
        }
    }
    TestReport {
        policy_digest: policy.digest().to_owned(),
        results,
        coverage,
    }
}

impl Policy {
    /// Runs the TOML test files at `paths` against this policy (see
    /// [`crate::policy::testing`]). A file that does not load is an error.
    pub fn test_files<P: AsRef<Path>>(&self, paths: &[P]) -> Result<TestReport, PolicyError> {
        let mut files = Vec::with_capacity(paths.len());
        let mut issues = Vec::new();
        for p in paths {
            match TestFile::from_file(p) {
                Ok(f) => files.push(f),
                Err(e) => issues.extend(e.issues),
            }
        }
        if issues.is_empty() {
            Ok(run(self, &files))
        } else {
            Err(PolicyError { issues })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
        [policy]
        default = "deny"
        [groups]
        owners = ["user:carol@example.com", "user:dan@example.com"]
        [[rules]]
        id = "reads"
        effect = "allow"
        actions = ["db.query"]
        [[rules]]
        id = "no-drop"
        effect = "deny"
        actions = ["sql.exec"]
        when = 'args.sql.matches("(?i)drop")'
        [[rules]]
        id = "export"
        effect = "approve"
        actions = ["db.export"]
        approvers = "owners"
        [[rules]]
        id = "never"
        effect = "allow"
        actions = ["nothing.*"]
    "#;

    #[test]
    fn cases_pass_fail_and_cover() {
        let policy = Policy::from_toml_str(POLICY).unwrap();
        let file = TestFile::from_toml_str(
            r#"
[[test]]
name = "reads"
expect = "allow"
action = { name = "db.query", actor = "agent:a" }

[[test]]
name = "drop is denied"
expect = "deny"
rules = ["no-drop"]
action = { name = "sql.exec", actor = "agent:a", args = { sql = "DROP TABLE x" } }

[[test]]
name = "wrong on purpose"
expect = "allow"
rules = ["export"]
[test.action]
name = "db.export"
actor = "agent:a"
"#,
            Some("t.toml"),
        )
        .unwrap();
        assert_eq!(file.cases[2].line, 13);
        let report = run(&policy, &[file]);
        assert_eq!((report.passed(), report.failed()), (2, 1));
        let bad = &report.results[2];
        assert_eq!(bad.effect, Effect::Approve);
        assert!(bad.trace.iter().any(|t| t.rule == "export" && t.matched));
        let text = report.render(true);
        assert!(
            text.contains("FAIL wrong on purpose  (t.toml:13)"),
            "{text}"
        );
        assert!(text.contains("- expected: allow by `export`"), "{text}");
        assert!(text.contains("+ actual:   approve by `export`"), "{text}");
        assert!(
            text.contains("not covered: `never` (allow): no test matched it"),
            "{text}"
        );
        assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");
        let uncovered: Vec<&str> = report.uncovered().map(|c| c.rule.as_str()).collect();
        assert_eq!(uncovered, ["never"]);
    }

    #[test]
    fn malformed_files_are_located() {
        let err = |text: &str| {
            TestFile::from_toml_str(text, Some("t.toml"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("[[test]]\nname = \"a\"\nexpect = \"maybe\"\naction = { name = \"x\" }\n"),
            "t.toml:3:10: `expect` is `maybe`; it must be allow, approve or deny"
        );
        let e = err("[[test]]\nname = \"a\"\nexpect = \"allow\"\nacton = { name = \"x\" }\n");
        assert!(e.starts_with("t.toml:4:1: unknown field `acton`"), "{e}");
        let e =
            err("[[test]]\nname = \"a\"\nexpect = \"allow\"\naction = { name = \"x\", nme = 1 }\n");
        assert!(e.starts_with("t.toml:4:"), "{e}");
        assert!(e.contains("unknown field `nme`"), "{e}");
        let e = err(
            "[[test]]\nname = \"a\"\nexpect = \"allow\"\nnow = \"yesterday\"\naction = { name = \"x\" }\n",
        );
        assert!(
            e.starts_with("t.toml:4:7: `now`: `yesterday` is not an RFC 3339"),
            "{e}"
        );
        let twice = "[[test]]\nname = \"a\"\nexpect = \"allow\"\naction = { name = \"x\" }\n";
        let e = err(&format!("{twice}{twice}"));
        assert_eq!(e, "t.toml:6:8: test `a` is defined twice");
        assert_eq!(
            err(""),
            "t.toml:1:1: no `[[test]]` cases: a test file needs at least one"
        );
        let e = err("[[test]]\nname = \"a\"\nexpect = \"allow\"\n");
        assert!(e.contains("missing field `action`"), "{e}");
    }

    #[test]
    fn now_and_unknown_rules() {
        let policy = Policy::from_toml_str(
            r#"
            [[rules]]
            id = "office-hours"
            effect = "allow"
            actions = ["deploy"]
            when = "now.getHours() >= 9 && now.getHours() < 17"
            "#,
        )
        .unwrap();
        let file = TestFile::from_toml_str(
            r#"
[[test]]
name = "in hours"
expect = "allow"
now = 2026-03-02T10:00:00Z
action = { name = "deploy", actor = "agent:a" }
[[test]]
name = "at night"
expect = "deny"
now = "2026-03-02T22:00:00Z"
action = { name = "deploy", actor = "agent:a" }
[[test]]
name = "typo"
expect = "deny"
rules = ["ofice-hours"]
now = "2026-03-02T22:00:00Z"
action = { name = "deploy", actor = "agent:a" }
"#,
            None,
        )
        .unwrap();
        let report = run(&policy, &[file]);
        assert!(report.results[0].passed && report.results[1].passed);
        assert_eq!(
            report.results[2].problems,
            ["rule `ofice-hours` is not in the policy"]
        );
    }
}
