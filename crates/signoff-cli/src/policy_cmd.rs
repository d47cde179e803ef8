//! `signoff check` and `signoff explain`.

use std::io::Read;
use std::path::Path;

use serde_json::json;
use signoff::{Action, Effect, Explanation, Policy};

use crate::exit;

pub fn check(paths: &[impl AsRef<Path>]) -> u8 {
    let mut code = exit::OK;
    for path in paths {
        let path = path.as_ref();
        if !path.is_file() {
            eprintln!("{}: cannot read: no such file", path.display());
            code = exit::USAGE;
            continue;
        }
        match Policy::from_file(path) {
            Ok(p) => println!(
                "{}: ok ({} rules, default {}, {})",
                path.display(),
                p.rules().len(),
                p.default_effect(),
                p.digest()
            ),
            Err(e) => {
                for issue in &e.issues {
                    println!("{issue}");
                }
                if code == exit::OK {
                    code = exit::DENIED;
                }
            }
        }
    }
    code
}

fn read_action(path: &Path) -> Result<Action, String> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("<stdin>: cannot read: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{}: not a valid action: {e}", path.display()))
}

pub fn explain(policy: &Path, action: &Path, as_json: bool, now: Option<&str>) -> u8 {
    if !policy.is_file() {
        eprintln!("{}: cannot read: no such file", policy.display());
        return exit::USAGE;
    }
    let policy = match Policy::from_file(policy) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit::DENIED;
        }
    };
    let action = match read_action(action) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let explanation = match now {
        Some(text) => match chrono_parse(text) {
            Ok(t) => policy.explain_at(&action, t),
            Err(e) => {
                eprintln!("--now: {e}");
                return exit::USAGE;
            }
        },
        None => policy.explain(&action),
    };
    if as_json {
        print_json(&explanation);
    } else {
        print_text(&policy, &action, &explanation);
    }
    match explanation.decision.effect {
        Effect::Deny => exit::DENIED,
        Effect::Allow | Effect::Approve => exit::OK,
    }
}

fn chrono_parse(text: &str) -> Result<signoff::policy::Timestamp, String> {
    signoff::policy::parse_timestamp(text)
}

fn print_json(e: &Explanation) {
    let d = &e.decision;
    let out = json!({
        "effect": d.effect,
        "rules": d.rules,
        "reason": d.reason,
        "approval": d.approval,
        "policy_digest": d.policy_digest,
        "errors": d.errors,
        "invalid_action": d.invalid_action,
        "trace": e.trace,
    });
    println!("{out}");
}

fn print_text(policy: &Policy, action: &Action, e: &Explanation) {
    let d = &e.decision;
    println!("action:  {}", action.name);
    println!("effect:  {}", d.effect);
    if !d.rules.is_empty() {
        println!("rules:   {}", d.rules.join(", "));
    }
    println!("reason:  {}", d.reason);
    if let Some(a) = &d.approval {
        let reqs: Vec<String> = a
            .requirements
            .iter()
            .map(|r| format!("{} of `{}`", r.min, r.group))
            .collect();
        println!(
            "approval: {}; timeout {}; on timeout {}; edits {}{}",
            reqs.join(" + "),
            humantime_fmt(a.timeout),
            match a.on_timeout {
                signoff::OnTimeout::Deny => "deny",
                signoff::OnTimeout::Allow => "allow",
            },
            if a.allow_edit {
                "allowed"
            } else {
                "not allowed"
            },
            a.risk
                .map(|r| format!("; risk {}", r.as_str()))
                .unwrap_or_default()
        );
    }
    for err in &d.errors {
        println!("error:   rule `{}`: {}", err.rule, err.message);
    }
    println!(
        "policy:  {} {}",
        if policy.name().is_empty() {
            "(unnamed)"
        } else {
            policy.name()
        },
        d.policy_digest
    );
    if !e.trace.is_empty() {
        println!("trace:");
        for t in &e.trace {
            println!(
                "  {} {:<20} {:<8} {}",
                if t.matched { "+" } else { "-" },
                t.rule,
                t.effect.as_str(),
                t.detail
            );
        }
    }
}

fn humantime_fmt(d: std::time::Duration) -> String {
    signoff::policy::format_duration(d)
}
