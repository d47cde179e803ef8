//! `signoff audit report` and `signoff audit export --format ocsf` over
//! trails written by real gates: the report's numbers agree with a count
//! done here from the raw JSON lines, a tampered copy shows its break first
//! in every format (exit 1), markup from the trail is inert in the HTML,
//! unreadable input exits 2 naming where, events the report does not
//! interpret are counted, grants and break-glass have their own lines, and
//! votes another process recorded in its own file are joined. The OCSF
//! lines are written to target/validators/ocsf/ for scripts/test to check
//! with the pydantic-ocsf models.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod report_trail;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_signoff");

fn signoff(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn lines(paths: &[PathBuf]) -> Vec<Value> {
    paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn report_json(paths: &[PathBuf], extra: &[&str]) -> (Value, Output, Duration) {
    let mut args = vec!["audit", "report"];
    args.extend(paths.iter().map(|p| s(p)));
    args.extend(["--format", "json"]);
    args.extend(extra);
    let started = Instant::now();
    let out = signoff(&args);
    let took = started.elapsed();
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&out)));
    (value, out, took)
}

fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {path}"))
}

/// What the report must say, counted here from the raw lines.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    decisions: u64,
    effects: BTreeMap<String, u64>,
    resolutions: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    votes: BTreeMap<(String, String), u64>,
    rules: BTreeMap<String, (u64, u64, u64)>,
    completions: BTreeMap<String, u64>,
    events: BTreeMap<String, u64>,
    checkpoints: u64,
    streams: HashSet<String>,
}

fn count(records: &[Value]) -> Counts {
    let mut c = Counts::default();
    let mut effect_of: HashMap<String, String> = HashMap::new();
    let mut first_resolution: HashMap<String, (String, String)> = HashMap::new();
    for r in records {
        let event = str_of(r, "event").unwrap().to_owned();
        *c.events.entry(event.clone()).or_default() += 1;
        c.streams.insert(str_of(r, "stream").unwrap().to_owned());
        match event.as_str() {
            "policy.decided" => {
                c.decisions += 1;
                let effect = str_of(r, "effect").unwrap().to_owned();
                *c.effects.entry(effect.clone()).or_default() += 1;
                let rule = str_of(r, "rule").unwrap_or("(none)").to_owned();
                let e = c.rules.entry(rule).or_default();
                match effect.as_str() {
                    "allow" => e.0 += 1,
                    "deny" => e.1 += 1,
                    _ => e.2 += 1,
                }
                effect_of.insert(str_of(r, "action_id").unwrap().to_owned(), effect);
            }
            "approval.resolved" => {
                let req = str_of(r, "request_id").unwrap().to_owned();
                let ts = str_of(r, "ts").unwrap().to_owned();
                let outcome = str_of(r, "outcome").unwrap().to_owned();
                let slot = first_resolution
                    .entry(req)
                    .or_insert((ts.clone(), outcome.clone()));
                if ts < slot.0 {
                    *slot = (ts, outcome);
                }
            }
            "approval.vote_rejected" => {
                *c.refusals
                    .entry(str_of(r, "outcome").unwrap().to_owned())
                    .or_default() += 1;
            }
            "approval.vote" => {
                *c.votes
                    .entry((
                        str_of(r, "voter").unwrap().to_owned(),
                        str_of(r, "verdict").unwrap().to_owned(),
                    ))
                    .or_default() += 1;
            }
            "action.completed" | "action.abandoned" => {
                *c.completions
                    .entry(str_of(r, "outcome").unwrap().to_owned())
                    .or_default() += 1;
            }
            "audit.checkpoint" => c.checkpoints += 1,
            _ => {}
        }
    }
    for (_, outcome) in first_resolution.into_values() {
        *c.resolutions.entry(outcome).or_default() += 1;
    }
    c
}

fn write_trail(dir: &Path, decisions: usize, streams: usize) -> (Vec<PathBuf>, String) {
    runtime().block_on(report_trail::write(dir, decisions, streams))
}

fn validators_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/validators/ocsf");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_report_over_ten_thousand_decisions_agrees_with_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, public) = write_trail(dir.path(), 10_000, 4);
    let records = lines(&paths);
    let want = count(&records);
    assert_eq!(want.decisions, 10_000);
    assert_eq!(want.streams.len(), 4);

    let (report, out, took) = report_json(&paths, &["--pubkey", &public]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    eprintln!("report over {} records: {took:?}", records.len());
    // the bench measures the release build; a debug build is slower
    let limit = if cfg!(debug_assertions) { 10 } else { 1 };
    assert!(
        took < Duration::from_secs(limit),
        "the report took {took:?}"
    );

    // verification first: everything read was checked, signatures included
    assert_eq!(report["schema"], "signoff.audit-report/1");
    assert_eq!(report["verification"]["ok"], true);
    assert_eq!(report["verification"]["signatures_checked"], true);
    assert_eq!(n(&report, "/verification/records"), records.len() as u64);
    assert_eq!(n(&report, "/verification/streams"), 4);
    assert_eq!(n(&report, "/verification/checkpoints"), want.checkpoints);
    assert_eq!(
        n(&report, "/verification/signatures_verified"),
        want.checkpoints
    );
    assert!(
        want.checkpoints >= 4 * 2,
        "every stream is signed more than once"
    );

    // decisions, effects, resolutions
    let sum = &report["summary"];
    assert_eq!(n(sum, "/decisions"), want.decisions);
    for effect in ["allow", "deny", "approve"] {
        assert_eq!(
            n(sum, &format!("/{effect}")),
            want.effects[effect],
            "{effect}"
        );
    }
    let res = |k: &str| want.resolutions.get(k).copied().unwrap_or(0);
    assert_eq!(n(sum, "/approved"), res("approved"));
    assert_eq!(n(sum, "/denied_by_reviewer"), res("denied"));
    assert_eq!(n(sum, "/expired"), res("expired"));
    assert_eq!(n(sum, "/cancelled"), res("cancelled"));
    assert_eq!(n(sum, "/unresolved"), 0);
    assert_eq!(
        report["timeouts"].as_array().unwrap().len() as u64,
        res("expired")
    );
    // and the mix that wrote them (independently of the trail)
    let of =
        |k: report_trail::Kind| (0..10_000).filter(|i| report_trail::kind(*i) == k).count() as u64;
    use report_trail::Kind as K;
    assert_eq!(res("expired"), of(K::TimedOut));
    assert_eq!(res("denied"), of(K::StaleThenDenied));
    assert_eq!(res("cancelled"), of(K::Cancelled));

    // refused votes by reason
    let refused: BTreeMap<String, u64> = report["refused_votes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["count"].as_u64().unwrap() > 0)
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(refused, want.refusals);
    assert_eq!(
        want.refusals["self_approval"],
        of(K::SelfApprovalThenApproved)
    );
    assert_eq!(
        want.refusals["not_eligible"],
        of(K::NotEligibleThenApproved)
    );
    assert_eq!(want.refusals["stale_args"], of(K::StaleThenDenied));
    assert_eq!(
        n(sum, "/refused_votes"),
        want.refusals.values().sum::<u64>()
    );

    // per approver
    for a in report["approvers"].as_array().unwrap() {
        let voter = a["voter"].as_str().unwrap().to_owned();
        let get = |v: &str| {
            want.votes
                .get(&(voter.clone(), v.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(a["approved"].as_u64().unwrap(), get("approve"), "{voter}");
        assert_eq!(a["denied"].as_u64().unwrap(), get("deny"), "{voter}");
    }
    let alice = report["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["voter"] == "user:alice@example.com")
        .unwrap();
    assert_eq!(
        alice["self_approvals"].as_u64().unwrap(),
        of(K::SelfApprovalThenApproved)
    );

    // per rule
    let rules: BTreeMap<String, (u64, u64, u64)> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_owned(),
                (
                    r["allow"].as_u64().unwrap(),
                    r["deny"].as_u64().unwrap(),
                    r["approve"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(rules, want.rules);
    let denials: u64 = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["denials"].as_u64().unwrap())
        .sum();
    assert_eq!(
        denials,
        want.effects["deny"] + res("denied") + res("expired")
    );

    // outcomes, times to decision, days, events
    let completions = |k: &str| want.completions.get(k).copied().unwrap_or(0);
    assert_eq!(n(sum, "/completed_success"), completions("success"));
    assert_eq!(n(sum, "/completed_failure"), completions("failure"));
    assert_eq!(n(sum, "/abandoned"), completions("abandoned"));
    assert!(sum["median_seconds_to_decision"].as_f64().unwrap() >= 0.0);
    let days: u64 = report["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["allow"].as_u64().unwrap()
                + d["deny"].as_u64().unwrap()
                + d["approve"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(days, want.decisions);
    let events: BTreeMap<String, u64> = serde_json::from_value(report["events"].clone()).unwrap();
    assert_eq!(events, want.events);
    // what the report does not interpret is listed, not dropped
    let interpreted = [
        "policy.decided",
        "action.requested",
        "approval.requested",
        "approval.vote",
        "approval.vote_rejected",
        "approval.resolved",
        "action.completed",
        "action.abandoned",
        "audit.recovered",
        "audit.checkpoint",
        "grant.used",
        "approval.break_glass",
    ];
    let other: BTreeMap<String, u64> = want
        .events
        .iter()
        .filter(|(e, _)| !interpreted.contains(&e.as_str()))
        .map(|(e, n)| (e.clone(), *n))
        .collect();
    assert!(other.contains_key("grant.created"));
    let reported: BTreeMap<String, u64> =
        serde_json::from_value(report["other_events"].clone()).unwrap();
    assert_eq!(reported, other);

    // every action once, with its approvers
    let actions = report["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 10_000);
    let ids: HashSet<&str> = actions
        .iter()
        .map(|a| a["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10_000);
    let export = actions.iter().find(|a| a["action"] == "db.export").unwrap();
    assert_eq!(
        export["approvers"],
        json!(["user:carol@example.com", "user:dan@example.com"])
    );
    assert_eq!(export["resolution"], "approved");
    assert!(export["seconds_to_decision"].as_f64().unwrap() >= 0.0);
    let self_tried = actions
        .iter()
        .find(|a| a["action"] == "sql.exec" && a["approvers"] == json!(["user:bob@example.com"]))
        .unwrap();
    assert_eq!(self_tried["resolution"], "approved");

    // the HTML shows the key numbers
    let html = signoff(&[
        "audit",
        "report",
        s(&paths[0]),
        s(&paths[1]),
        s(&paths[2]),
        s(&paths[3]),
        "--pubkey",
        &public,
    ]);
    assert_eq!(html.status.code(), Some(0));
    let html = stdout(&html);
    assert!(html.contains("The audit trail is intact"));
    assert!(
        html.contains(
            "<span class=\"n\">10,000</span><span class=\"l\">privileged actions decided"
        )
    );
    assert!(html.contains(&format!(
        "{} checkpoint signature(s) verified",
        want.checkpoints
    )));

    // CSV: one row per action
    let out = dir.path().join("report.csv");
    let csv = signoff(&[
        "audit",
        "report",
        s(&paths[0]),
        s(&paths[1]),
        s(&paths[2]),
        s(&paths[3]),
        "--format",
        "csv",
        "-o",
        s(&out),
    ]);
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 10_001);
    assert!(rows[0].starts_with("decided_at,action_id,stream,action,"));
    let approve_rows = rows.iter().filter(|r| r.contains(",approve,")).count() as u64;
    assert_eq!(approve_rows, want.effects["approve"]);

    // OCSF: one event per record but checkpoints
    let mut args = vec!["audit", "export"];
    args.extend(paths.iter().map(|p| s(p)));
    args.extend(["--format", "ocsf"]);
    let ocsf = signoff(&args);
    assert_eq!(ocsf.status.code(), Some(0), "{}", stderr(&ocsf));
    let text = stdout(&ocsf);
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len() as u64, records.len() as u64 - want.checkpoints);
    let hashes: HashSet<&str> = records.iter().map(|r| str_of(r, "hash").unwrap()).collect();
    for e in &events {
        assert_eq!(e["class_uid"], 6003);
        assert_eq!(e["category_uid"], 6);
        assert_eq!(
            e["type_uid"],
            6003 * 100 + e["activity_id"].as_u64().unwrap()
        );
        assert!(hashes.contains(e["metadata"]["uid"].as_str().unwrap()));
        assert_eq!(e["metadata"]["product"]["name"], "signoff");
    }
    let decided: Vec<&Value> = events
        .iter()
        .filter(|e| e["activity_name"] == "policy.decided")
        .collect();
    assert_eq!(decided.len() as u64, want.decisions);
    let denied = decided.iter().filter(|e| e["status_id"] == 2).count() as u64;
    assert_eq!(denied, want.effects["deny"]);
    let self_approvals = events
        .iter()
        .filter(|e| e["status_code"] == "self_approval" && e["severity_id"] == 4)
        .count() as u64;
    assert_eq!(self_approvals, of(K::SelfApprovalThenApproved));
    // a sample of every kind for the OCSF validator (scripts/test)
    let mut sample: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &events {
        let key = format!("{}/{}", e["activity_name"], e["status_code"]);
        let v = sample.entry(key).or_default();
        if v.len() < 5 {
            v.push(e);
        }
    }
    let sample: String = sample
        .values()
        .flatten()
        .map(|e| format!("{e}\n"))
        .collect();
    std::fs::write(validators_dir().join("report.jsonl"), sample).unwrap();
}

/// Changes one byte-level detail of line `line` (1-based) of `path`.
fn tamper(path: &Path, line: usize, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(
        lines[line - 1].contains(from),
        "line {line}: {}",
        lines[line - 1]
    );
    lines[line - 1] = lines[line - 1].replacen(from, to, 1);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_tampered_trail_is_reported_with_its_break_first_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_trail(dir.path(), 200, 2);
    // a denial quietly turned into an allowance, in the second file
    let text = std::fs::read_to_string(&paths[1]).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("\"effect\":\"deny\""))
        .unwrap()
        + 1;
    tamper(
        &paths[1],
        line,
        "\"effect\":\"deny\"",
        "\"effect\":\"allow\"",
    );
    let broken = s(&paths[1]).to_owned();

    let (report, out, _) = report_json(&paths, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{broken}:{line}: TAMPERED")),
        "{}",
        stderr(&out)
    );
    assert_eq!(report["verification"]["ok"], false);
    let b = &report["verification"]["breaks"][0];
    assert_eq!(b["path"], broken.as_str());
    assert_eq!(b["line"], line as u64);
    assert!(b["reason"].as_str().unwrap().contains("edited"), "{b}");
    assert_eq!(report["verification"]["files"][0]["ok"], true);
    assert_eq!(report["verification"]["files"][1]["ok"], false);
    let total = std::fs::read_to_string(&paths[1]).unwrap().lines().count() as u64;
    assert_eq!(n(&report, "/verification/files/1/records"), line as u64 - 1);
    assert_eq!(
        n(&report, "/verification/files/1/unverified_records"),
        total - (line as u64 - 1)
    );
    // the report is still complete
    assert_eq!(report["summary"]["decisions"], 200);

    let mut args = vec!["audit", "report", s(&paths[0]), s(&paths[1])];
    let html = signoff(&args);
    assert_eq!(html.status.code(), Some(1));
    let html = stdout(&html);
    let alarm = html
        .find("THE AUDIT TRAIL IS BROKEN")
        .expect("the break is shown");
    let summary = html.find("<h2>Summary</h2>").unwrap();
    assert!(alarm < summary, "the break comes before the numbers");
    assert!(html[alarm..summary].contains(&format!("line {line}")));
    assert!(html[alarm..summary].contains(&format!(
        "{} record(s) from there on are unverified",
        total - (line as u64 - 1)
    )));
    assert!(html.contains("broken at line"));

    args.extend(["--format", "csv"]);
    let csv = signoff(&args);
    assert_eq!(csv.status.code(), Some(1));
    assert!(stderr(&csv).contains(&format!("{broken}:{line}: TAMPERED")));
    assert_eq!(
        stdout(&csv).split("\r\n").filter(|l| !l.is_empty()).count(),
        201
    );

    let ocsf = signoff(&[
        "audit",
        "export",
        s(&paths[0]),
        s(&paths[1]),
        "--format",
        "ocsf",
    ]);
    assert_eq!(ocsf.status.code(), Some(1));
    assert!(stderr(&ocsf).contains(&format!("{broken}:{line}: TAMPERED")));
    assert!(!stdout(&ocsf).is_empty());

    // a removed record is a break too
    let text = std::fs::read_to_string(&paths[0]).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&paths[0], kept.join("\n") + "\n").unwrap();
    let (report, out, _) = report_json(&paths[..1], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["verification"]["breaks"][0]["line"], 5);
    assert!(
        report["verification"]["breaks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
}

#[test]
fn markup_from_the_trail_is_inert_in_the_html() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_trail(dir.path(), 40, 1);
    let raw = std::fs::read_to_string(&paths[0]).unwrap();
    assert!(
        raw.contains("<script>document.title"),
        "the fixture carries markup"
    );
    let out = signoff(&["audit", "report", s(&paths[0])]);
    assert_eq!(out.status.code(), Some(0));
    let html = stdout(&out);
    assert!(
        !html.to_lowercase().contains("<script"),
        "no script element at all"
    );
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(html.contains("Content-Security-Policy"));
    // the report never loads anything: no tag has a source or a link, the
    // CSS imports nothing (every `<` in trail text is escaped, so each one
    // here starts a real tag)
    let loading: Vec<&str> = html
        .split('<')
        .skip(1)
        .map(|t| &t[..t.find('>').unwrap_or(t.len())])
        .filter(|t| t.contains("src=") || t.contains("href=") || t.contains("url("))
        .collect();
    assert!(loading.is_empty(), "{loading:?}");
    assert!(!html.contains("url(") && !html.contains("@import"));
}

#[test]
fn csv_cells_that_look_like_formulas_are_defused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    // a decision whose action name and actor an attacker chose
    let policy =
        signoff::Policy::from_toml_str("[policy]\nname = \"p\"\ndefault = \"allow\"").unwrap();
    runtime().block_on(async {
        let gate = signoff::Gate::builder()
            .policy(policy)
            .audit(signoff::JsonlSink::open(&path).unwrap())
            .build()
            .unwrap();
        let a = signoff::Action::new("=cmd.exec")
            .actor("agent:x")
            .resource("@SUM(1+1)*cmd|'/C,calc'!A0");
        gate.require(a)
            .await
            .unwrap()
            .complete(signoff::Outcome::success())
            .await
            .unwrap();
        gate.close().await.unwrap();
    });
    let out = signoff(&["audit", "report", s(&path), "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = stdout(&out);
    let row = csv.split("\r\n").nth(1).unwrap();
    assert!(row.contains(",\"'=cmd.exec\","), "{row}");
    assert!(row.contains(",\"'@SUM(1+1)*cmd|'/C,calc'!A0\","), "{row}");
}

#[test]
fn unreadable_input_exits_2_with_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let out = signoff(&["audit", "report", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!("{}: cannot read", missing.display())),
        "{}",
        stderr(&out)
    );
    let out = signoff(&["audit", "export", s(&missing), "--format", "ocsf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"));

    let trail = dir.path().join("t.jsonl");
    std::fs::write(&trail, "").unwrap();
    for (flag, value, says) in [
        (
            "--from",
            "last quarter",
            "--from: `last quarter` is not a date",
        ),
        ("--to", "2026-13-01", "--to: `2026-13-01` is not a date"),
    ] {
        let out = signoff(&["audit", "report", s(&trail), flag, value]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let out = signoff(&[
        "audit",
        "report",
        s(&trail),
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-01",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the period is empty"));
    let out = signoff(&["audit", "report", "sqlite:/tmp/x.db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the report reads JSONL trails"));
    let out = signoff(&["audit", "report", s(&trail), "--pubkey", "zz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("--pubkey:"), "{}", stderr(&out));
    // an empty trail is a valid, empty report
    let (report, out, _) = report_json(&[trail], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report["summary"]["decisions"], 0);
}

#[test]
fn the_period_selects_decisions_by_their_utc_time() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_trail(dir.path(), 60, 2);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (r, _, _) = report_json(&paths, &["--from", &today, "--to", &today]);
    assert_eq!(r["summary"]["decisions"], 60, "--to DAY includes that day");
    assert_eq!(r["period"]["from"], format!("{today}T00:00:00Z"));
    let (r, _, _) = report_json(&paths, &["--to", "2000-01-01"]);
    assert_eq!(r["summary"]["decisions"], 0);
    assert_eq!(r["actions"], json!([]));
    // an instant in the middle splits the decisions
    let records = lines(&paths);
    let mut times: Vec<&str> = records
        .iter()
        .filter(|r| r["event"] == "policy.decided")
        .map(|r| str_of(r, "ts").unwrap())
        .collect();
    times.sort_unstable();
    let cut = times[30];
    let before = times.iter().filter(|t| **t < cut).count() as u64;
    let (r, _, _) = report_json(&paths, &["--to", cut]);
    assert_eq!(r["summary"]["decisions"].as_u64().unwrap(), before);
    let (r, _, _) = report_json(&paths, &["--from", cut]);
    assert_eq!(r["summary"]["decisions"].as_u64().unwrap(), 60 - before);
}

/// Appends a well-chained record of any event name to `path`'s stream.
fn append_event(path: &Path, event: &str, fields: Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let prev = str_of(&last, "hash").unwrap().to_owned();
    let mut m: Map<String, Value> = fields.as_object().unwrap().clone();
    m.insert("event".into(), json!(event));
    m.insert("seq".into(), json!(last["seq"].as_u64().unwrap() + 1));
    m.insert("stream".into(), last["stream"].clone());
    m.insert("ts".into(), last["ts"].clone());
    m.insert("prev".into(), json!(prev));
    let placeholder = "f".repeat(64);
    m.insert("hash".into(), json!(placeholder));
    // serde_json's map is sorted: this is the canonical line
    let line = Value::Object(m).to_string();
    let hash = signoff::audit::line_hash(&line, &prev, &placeholder).unwrap();
    let line = line.replace(&placeholder, &hash);
    std::fs::write(path, format!("{text}{line}\n")).unwrap();
}

#[test]
fn events_this_version_does_not_know_are_counted_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_trail(dir.path(), 20, 1);
    append_event(
        &paths[0],
        "policy.someday",
        json!({"reason": "<b>new</b>", "action": "x"}),
    );
    append_event(&paths[0], "policy.someday", json!({}));
    let (r, out, _) = report_json(&paths, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(r["other_events"]["policy.someday"], 2);
    assert_eq!(r["events"]["policy.someday"], 2);
    assert_eq!(r["summary"]["decisions"], 20);
    let html = stdout(&signoff(&["audit", "report", s(&paths[0])]));
    assert!(html.contains("<code>policy.someday</code>"));
    let ocsf = stdout(&signoff(&[
        "audit",
        "export",
        s(&paths[0]),
        "--format",
        "ocsf",
    ]));
    let last: Value = serde_json::from_str(ocsf.lines().last().unwrap()).unwrap();
    assert_eq!(last["activity_name"], "policy.someday");
    assert_eq!(last["class_uid"], 6003);
}

#[test]
fn grants_and_break_glass_have_their_own_lines() {
    let dir = tempfile::tempdir().unwrap();
    // one gate, so later deploys find the grant an earlier one created
    let (paths, _) = write_trail(dir.path(), 400, 1);
    let records = lines(&paths);
    let used: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "grant.used")
        .collect();
    let glass = records
        .iter()
        .filter(|r| r["event"] == "approval.break_glass")
        .count() as u64;
    let granted_ids: HashSet<&str> = used
        .iter()
        .map(|r| str_of(r, "action_id").unwrap())
        .collect();
    assert!(
        !used.is_empty() && glass > 0,
        "the fixture uses grants and break-glass"
    );
    let (r, out, _) = report_json(&paths, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(n(&r, "/summary/grants_used"), used.len() as u64);
    assert_eq!(n(&r, "/summary/granted"), granted_ids.len() as u64);
    assert_eq!(n(&r, "/summary/break_glass"), glass);
    assert_eq!(n(&r, "/summary/unresolved"), 0);
    assert_eq!(n(&r, "/summary/not_requested"), 0);
    assert!(r["other_events"].get("grant.used").is_none());
    assert_eq!(
        r["other_events"]["grant.created"],
        r["events"]["grant.created"]
    );
    let granted = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["resolution"] == "granted")
        .unwrap();
    assert_eq!(granted["permitted"], true);
    assert_eq!(granted["approvers"], json!(["user:bob@example.com"]));
    assert_eq!(granted["grants"].as_array().unwrap().len(), 1);
    let broken_glass = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["break_glass"].is_string())
        .unwrap();
    assert!(
        broken_glass["break_glass"]
            .as_str()
            .unwrap()
            .starts_with("user:erin@example.com: outage")
    );
    assert_eq!(broken_glass["resolution"], "approved");
    let deploys = r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "deploys")
        .unwrap();
    assert_eq!(n(deploys, "/granted"), granted_ids.len() as u64);
    let html = stdout(&signoff(&["audit", "report", s(&paths[0])]));
    assert!(html.contains(&format!(
        "<span class=\"n\">{}</span><span class=\"l\">permitted by an earlier grant",
        granted_ids.len()
    )));
    assert!(html.contains(&format!(
        "<span class=\"n\">{glass}</span><span class=\"l\">break-glass approvals"
    )));
    assert!(html.contains("break-glass</strong> by user:erin@example.com: outage"));
}

#[test]
fn votes_another_process_recorded_are_joined_across_files() {
    // an agent's gate decides; the approval server's gate (sharing the
    // store, writing its own trail) records the votes and the resolution
    let dir = tempfile::tempdir().unwrap();
    let (agent_trail, server_trail) = (
        dir.path().join("agent.jsonl"),
        dir.path().join("server.jsonl"),
    );
    let policy = signoff::Policy::from_toml_str(report_trail::POLICY).unwrap();
    let store: std::sync::Arc<dyn signoff::ApprovalStore> =
        std::sync::Arc::new(signoff::MemoryStore::new());
    let request_id = runtime().block_on(async {
        let gate = |trail: &Path, stream: &str| {
            signoff::Gate::builder()
                .policy(policy.clone())
                .approver(signoff::Queue)
                .store_arc(store.clone())
                .audit(signoff::JsonlSink::open(trail).unwrap())
                .stream(stream)
                .build()
                .unwrap()
        };
        let (agent, server) = (gate(&agent_trail, "agent"), gate(&server_trail, "server"));
        let action = signoff::Action::new("db.export")
            .actor("agent:deploy-bot")
            .on_behalf_of("user:alice@example.com")
            .resource("postgres://prod/customers")
            .args(json!({"rows": 10}));
        let signoff::Submission::Pending { request_id } = agent.submit(action).await.unwrap()
        else {
            panic!("an export needs approval");
        };
        for voter in ["user:carol@example.com", "user:dan@example.com"] {
            server
                .vote(
                    &request_id,
                    signoff::Vote::approve(voter).channel("web").authenticated(),
                )
                .await
                .unwrap();
        }
        let permit = agent.resume(&request_id).await.unwrap();
        permit.complete(signoff::Outcome::success()).await.unwrap();
        agent.close().await.unwrap();
        server.close().await.unwrap();
        request_id
    });
    let server_lines = std::fs::read_to_string(&server_trail).unwrap();
    assert!(
        server_lines.contains("\"event\":\"approval.vote\""),
        "the votes are in the server's trail"
    );
    let (r, out, _) = report_json(&[agent_trail, server_trail], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(r["verification"]["streams"], 2);
    assert_eq!(r["summary"]["decisions"], 1);
    let a = &r["actions"][0];
    assert_eq!(a["request_id"], request_id.as_str());
    assert_eq!(
        a["approvers"],
        json!(["user:carol@example.com", "user:dan@example.com"])
    );
    assert_eq!(a["resolution"], "approved");
    assert_eq!(a["completion"], "success");
    assert!(a["seconds_to_decision"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["summary"]["approved"], 1);
}
