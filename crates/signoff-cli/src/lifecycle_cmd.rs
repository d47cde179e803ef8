//! Changing a policy safely (DESIGN §12): `signoff test`, `signoff replay`
//! and `signoff audit shadow`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use signoff::policy::replay::{Replayed, recorded_action};
use signoff::policy::testing::TestFile;
use signoff::{AuditRecord, Event, Policy};

use crate::audit_cmd::read_records;
use crate::exit;

fn load_policy(path: &Path) -> Result<Policy, u8> {
    if !path.is_file() {
        eprintln!("{}: cannot read: no such file", path.display());
        return Err(exit::USAGE);
    }
    Policy::from_file(path).map_err(|e| {
        eprintln!("{e}");
        exit::DENIED
    })
}

/// `signoff test POLICY TESTS...`: exit 0 when every case passes, 1 when one
/// fails or a file does not load, 2 when a file cannot be read.
pub fn test(policy: &Path, tests: &[PathBuf], as_json: bool, coverage: bool) -> u8 {
    let policy = match load_policy(policy) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut files = Vec::new();
    let mut code = exit::OK;
    for path in tests {
        if !path.is_file() {
            eprintln!("{}: cannot read: no such file", path.display());
            code = exit::USAGE;
            continue;
        }
        match TestFile::from_file(path) {
            Ok(f) => files.push(f),
            Err(e) => {
                for issue in &e.issues {
                    eprintln!("{issue}");
                }
                if code == exit::OK {
                    code = exit::DENIED;
                }
            }
        }
    }
    if code != exit::OK {
        return code;
    }
    let report = signoff::policy::testing::run(&policy, &files);
    if as_json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render(coverage));
    }
    if report.ok() { exit::OK } else { exit::DENIED }
}

/// Reads every trail, in order; `Err` is the exit code (already reported).
fn read_trails(trails: &[PathBuf]) -> Result<Vec<AuditRecord>, u8> {
    let mut all = Vec::new();
    for t in trails {
        if !t.is_file() {
            eprintln!("{}: cannot read: no such file", t.display());
            return Err(exit::USAGE);
        }
        match read_records(t) {
            Ok(r) => all.extend(r),
            Err(e) => {
                eprintln!("{e}");
                return Err(exit::USAGE);
            }
        }
    }
    Ok(all)
}

fn transition(from: &str, to: &str) -> String {
    format!("{from} -> {to}")
}

fn rules_of(r: Option<&str>) -> Vec<String> {
    r.map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `signoff replay --policy NEW TRAIL...`.
pub fn replay(
    policy: &Path,
    trails: &[PathBuf],
    as_json: bool,
    examples: usize,
    fail_on_change: bool,
) -> u8 {
    let policy = match load_policy(policy) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let records = match read_trails(trails) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut decisions = 0usize;
    let mut changed = 0usize;
    let mut transitions: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_rule: BTreeMap<String, [usize; 2]> = BTreeMap::new();
    let mut change_examples: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut undecidable = 0usize;
    let mut undecidable_rules: BTreeMap<String, usize> = BTreeMap::new();
    let mut undecidable_fields: BTreeMap<String, usize> = BTreeMap::new();
    let mut undecidable_examples = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.event == Some(Event::PolicyDecided))
    {
        let recorded = match recorded_action(r) {
            Ok(a) => a,
            Err(why) => {
                *skipped.entry(why).or_default() += 1;
                continue;
            }
        };
        decisions += 1;
        let old_effect = r.effect.as_deref().unwrap_or("?");
        let old_rules = rules_of(r.rule.as_deref());
        for rule in &old_rules {
            per_rule.entry(rule.clone()).or_default()[0] += 1;
        }
        match policy.replay(&recorded.action, recorded.now, &recorded.unknown) {
            Replayed::Undecidable { rules, fields } => {
                undecidable += 1;
                for rule in &rules {
                    *undecidable_rules.entry(rule.clone()).or_default() += 1;
                }
                for f in &fields {
                    *undecidable_fields.entry(f.clone()).or_default() += 1;
                }
                if undecidable_examples.len() < examples {
                    undecidable_examples.push(json!({
                        "action_id": r.action_id,
                        "action": r.action,
                        "old": {"effect": old_effect, "rules": old_rules},
                        "rules": rules,
                        "fields": fields,
                    }));
                }
            }
            Replayed::Decided(d) => {
                for rule in &d.rules {
                    per_rule.entry(rule.clone()).or_default()[1] += 1;
                }
                let key = transition(old_effect, d.effect.as_str());
                *transitions.entry(key.clone()).or_default() += 1;
                if old_effect != d.effect.as_str() || old_rules != d.rules {
                    changed += 1;
                    let list = change_examples.entry(key).or_default();
                    if list.len() < examples {
                        list.push(json!({
                            "action_id": r.action_id,
                            "action": r.action,
                            "old": {"effect": old_effect, "rules": old_rules},
                            "new": {"effect": d.effect, "rules": d.rules},
                        }));
                    }
                }
            }
        }
    }
    if as_json {
        let out = json!({
            "policy_digest": policy.digest(),
            "decisions": decisions,
            "changed": changed,
            "unchanged": decisions - changed - undecidable,
            "transitions": transitions,
            "rules": per_rule.iter().map(|(k, [before, after])| (k.clone(), json!({"before": before, "after": after}))).collect::<serde_json::Map<_, _>>(),
            "examples": change_examples,
            "undecidable": {
                "count": undecidable,
                "rules": undecidable_rules,
                "fields": undecidable_fields,
                "examples": undecidable_examples,
            },
            "skipped": skipped,
        });
        println!("{out}");
    } else {
        println!(
            "replayed {decisions} decisions under {} ({})",
            if policy.name().is_empty() {
                "the new policy"
            } else {
                policy.name()
            },
            policy.digest()
        );
        println!(
            "  unchanged {}, changed {changed}, undecidable {undecidable}",
            decisions - changed - undecidable
        );
        println!("old -> new effect:");
        for (k, n) in &transitions {
            println!("  {k:<20} {n}");
        }
        if !per_rule.is_empty() {
            println!("deciding rule          before    after");
            for (k, [before, after]) in &per_rule {
                println!("  {k:<20} {before:>6} {after:>8}");
            }
        }
        if changed > 0 {
            println!("changed decisions, for example:");
            for (k, list) in &change_examples {
                for e in list {
                    println!(
                        "  {k}: {} {} (was {} by [{}], now by [{}])",
                        e["action_id"].as_str().unwrap_or("?"),
                        e["action"].as_str().unwrap_or("?"),
                        e["old"]["effect"].as_str().unwrap_or("?"),
                        join(&e["old"]["rules"]),
                        join(&e["new"]["rules"]),
                    );
                }
            }
        }
        if undecidable > 0 {
            println!("undecidable (a condition reads a redacted or unrecorded field):");
            for (rule, n) in &undecidable_rules {
                println!("  rule `{rule}`: {n}");
            }
            for (field, n) in &undecidable_fields {
                println!("  field {field}: {n}");
            }
        }
        for (why, n) in &skipped {
            println!("skipped {n}: {why}");
        }
    }
    if fail_on_change && (changed > 0 || undecidable > 0) {
        exit::DENIED
    } else {
        exit::OK
    }
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `signoff audit shadow TRAIL...`: where a candidate policy would have
/// decided differently, from the `policy.shadow` records.
pub fn shadow(trails: &[PathBuf], as_json: bool, examples: usize) -> u8 {
    let records = match read_trails(trails) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // the live decision of each action, by (stream, action id)
    let mut live: BTreeMap<(&str, &str), &AuditRecord> = BTreeMap::new();
    let mut decisions = 0usize;
    let mut differ = 0usize;
    let mut transitions: BTreeMap<String, usize> = BTreeMap::new();
    let mut candidate_rules: BTreeMap<String, usize> = BTreeMap::new();
    let mut candidates: BTreeMap<String, usize> = BTreeMap::new();
    let mut samples: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in &records {
        match r.event {
            Some(Event::PolicyDecided) if r.args_digest.is_some() => {
                decisions += 1;
                if let Some(id) = r.action_id.as_deref() {
                    live.insert((r.stream.as_str(), id), r);
                }
            }
            Some(Event::PolicyShadow) => {
                differ += 1;
                let decided = r
                    .action_id
                    .as_deref()
                    .and_then(|id| live.get(&(r.stream.as_str(), id)));
                let live_effect = decided.and_then(|d| d.effect.as_deref()).unwrap_or("?");
                let key = transition(live_effect, r.effect.as_deref().unwrap_or("?"));
                *transitions.entry(key.clone()).or_default() += 1;
                for rule in rules_of(r.rule.as_deref()) {
                    *candidate_rules.entry(rule).or_default() += 1;
                }
                *candidates
                    .entry(r.policy_digest.clone().unwrap_or_default())
                    .or_default() += 1;
                let list = samples.entry(key).or_default();
                if list.len() < examples {
                    list.push(json!({
                        "action_id": r.action_id,
                        "action": r.action,
                        "live": {"effect": live_effect, "rules": rules_of(decided.and_then(|d| d.rule.as_deref()))},
                        "candidate": {"effect": r.effect, "rules": rules_of(r.rule.as_deref())},
                    }));
                }
            }
            _ => {}
        }
    }
    if as_json {
        println!(
            "{}",
            json!({
                "decisions": decisions,
                "differ": differ,
                "transitions": transitions,
                "candidate_rules": candidate_rules,
                "candidates": candidates,
                "examples": samples,
            })
        );
    } else {
        println!("{decisions} decisions, {differ} where the shadow policy decided differently");
        for (digest, n) in &candidates {
            println!("  candidate {digest}: {n}");
        }
        if differ > 0 {
            println!("live -> candidate effect:");
            for (k, n) in &transitions {
                println!("  {k:<20} {n}");
            }
            println!("candidate's deciding rules:");
            for (k, n) in &candidate_rules {
                println!("  {k:<20} {n}");
            }
            println!("for example:");
            for (k, list) in &samples {
                for e in list {
                    println!(
                        "  {k}: {} {} (live by [{}], candidate by [{}])",
                        e["action_id"].as_str().unwrap_or("?"),
                        e["action"].as_str().unwrap_or("?"),
                        join(&e["live"]["rules"]),
                        join(&e["candidate"]["rules"]),
                    );
                }
            }
        }
    }
    exit::OK
}
