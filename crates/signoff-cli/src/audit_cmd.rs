//! `signoff audit verify|show|checkpoint`.

use std::collections::BTreeMap;
use std::path::Path;

use signoff::audit::{ExportedCheckpoint, verify_file, verifying_key_from_hex};
use signoff::{AuditRecord, Event};

use crate::exit;

/// Reads a key given inline as hex or as a file holding hex.
fn read_key(arg: &str) -> Result<String, String> {
    let path = Path::new(arg);
    if path.is_file() {
        std::fs::read_to_string(path).map_err(|e| format!("{arg}: cannot read: {e}"))
    } else {
        Ok(arg.to_owned())
    }
}

pub fn verify(log: &Path, pubkey: Option<&str>, checkpoint: Option<&Path>) -> u8 {
    // `log` may name a database: `sqlite:PATH` or `postgres://...`
    let text = log.to_str().unwrap_or_default();
    let postgres = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let sqlite = text.strip_prefix("sqlite:").map(Path::new);
    if !postgres && !sqlite.unwrap_or(log).is_file() {
        eprintln!("{}: cannot read: no such file", log.display());
        return exit::USAGE;
    }
    let key = match pubkey.map(read_key).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let key = match key.as_deref().map(verifying_key_from_hex).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("--pubkey: {e}");
            return exit::USAGE;
        }
    };
    let expect: Option<ExportedCheckpoint> = match checkpoint {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("{}: not a checkpoint: {e}", p.display());
                return exit::USAGE;
            }
        },
    };
    let result = if postgres {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(signoff_postgres::verify(
                text,
                key.as_ref(),
                expect.as_ref(),
            )),
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                return exit::USAGE;
            }
        }
    } else {
        match sqlite {
            Some(db) => signoff_sqlite::verify(db, key.as_ref(), expect.as_ref()),
            None => verify_file(log, key.as_ref(), expect.as_ref()),
        }
    };
    match result {
        Ok(report) => {
            println!(
                "{}: ok — {} records, {} bytes, {} stream(s), {} checkpoint(s){}",
                log.display(),
                report.records,
                report.bytes,
                report.streams.len(),
                report.checkpoints,
                if key.is_some() {
                    format!(", {} signature(s) verified", report.signatures_verified)
                } else {
                    String::new()
                }
            );
            for (stream, (seq, hash)) in &report.streams {
                println!("  stream {stream}: last seq {seq}, hash {hash}");
            }
            exit::OK
        }
        Err(failure) => {
            println!("{}: TAMPERED — {failure}", log.display());
            exit::DENIED
        }
    }
}

fn read_records(log: &Path) -> Result<Vec<AuditRecord>, String> {
    let text =
        std::fs::read_to_string(log).map_err(|e| format!("{}: cannot read: {e}", log.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{}:{}: not an audit record: {e}", log.display(), i + 1))
        })
        .collect()
}

pub fn checkpoint(log: &Path) -> u8 {
    match verify_file(log, None, None) {
        Ok(report) => match report.last_checkpoint {
            Some(cp) => {
                println!("{}", serde_json::json!(cp));
                exit::OK
            }
            None => {
                eprintln!(
                    "{}: no checkpoint yet (configure a signing key)",
                    log.display()
                );
                exit::DENIED
            }
        },
        Err(f) => {
            eprintln!("{}: TAMPERED — {f}", log.display());
            exit::DENIED
        }
    }
}

pub fn show(log: &Path, action: Option<&str>, as_json: bool) -> u8 {
    let records = match read_records(log) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    match action {
        Some(id) => {
            let story: Vec<&AuditRecord> = records
                .iter()
                .filter(|r| r.action_id.as_deref() == Some(id))
                .collect();
            if story.is_empty() {
                eprintln!("{}: no records for action `{id}`", log.display());
                return exit::DENIED;
            }
            if as_json {
                for r in story {
                    println!("{}", serde_json::json!(r));
                }
            } else {
                print_story(&story);
            }
        }
        None => {
            if as_json {
                for r in &records {
                    println!("{}", serde_json::json!(r));
                }
            } else {
                print_summary(&records);
            }
        }
    }
    exit::OK
}

/// One line per record of an action's story.
pub fn print_story(story: &[&AuditRecord]) {
    if let Some(first) = story.first() {
        println!(
            "action {} — {} by {}{}",
            first.action_id.as_deref().unwrap_or("?"),
            first.action.as_deref().unwrap_or("?"),
            first.actor.as_deref().unwrap_or("?"),
            first
                .on_behalf_of
                .as_deref()
                .map(|p| format!(" for {p}"))
                .unwrap_or_default()
        );
    }
    for r in story {
        println!("  {}", describe(r));
    }
}

/// A sentence for one record.
pub fn describe(r: &AuditRecord) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let what = match r.event {
        Some(Event::ActionRequested) => format!(
            "requested{}{} args {}",
            r.resource
                .as_deref()
                .map(|x| format!(" on {x}"))
                .unwrap_or_default(),
            r.env
                .as_deref()
                .map(|x| format!(" in {x}"))
                .unwrap_or_default(),
            r.args.as_ref().map(|a| a.to_string()).unwrap_or_default()
        ),
        Some(Event::PolicyDecided) => format!(
            "policy decided {}{}: {}{}",
            opt(&r.effect),
            r.rule
                .as_deref()
                .map(|x| format!(" (rule {x})"))
                .unwrap_or_default(),
            opt(&r.reason),
            r.error
                .as_deref()
                .map(|e| format!(" [{e}]"))
                .unwrap_or_default()
        ),
        Some(Event::ApprovalRequested) => format!("approval requested: {}", opt(&r.reason)),
        Some(Event::ApprovalVote) => format!(
            "{} voted {} via {}{}",
            opt(&r.voter),
            opt(&r.verdict),
            opt(&r.channel),
            r.comment
                .as_deref()
                .map(|c| format!(" — \"{c}\""))
                .unwrap_or_default()
        ),
        Some(Event::ApprovalVoteRejected) => format!(
            "vote by {} REJECTED ({}): {}",
            opt(&r.voter),
            opt(&r.outcome),
            opt(&r.reason)
        ),
        Some(Event::ApprovalResolved) => format!(
            "approval {}{}",
            opt(&r.outcome),
            r.reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        ),
        Some(Event::ActionCompleted) => format!(
            "completed: {}{}",
            opt(&r.outcome),
            r.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        Some(Event::ActionAbandoned) => "abandoned: the permit was dropped unused".to_owned(),
        Some(Event::AuditRecovered) => format!("audit log recovered: {}", opt(&r.error)),
        Some(Event::AuditCheckpoint) => "signed checkpoint".to_owned(),
        None => "?".to_owned(),
    };
    format!("#{:<4} {} {}", r.seq, r.ts, what)
}

fn print_summary(records: &[AuditRecord]) {
    let mut order: Vec<&str> = Vec::new();
    let mut by_action: BTreeMap<&str, Vec<&AuditRecord>> = BTreeMap::new();
    for r in records {
        match r.action_id.as_deref() {
            Some(id) => {
                if !by_action.contains_key(id) {
                    order.push(id);
                }
                by_action.entry(id).or_default().push(r);
            }
            None => println!("{}", describe(r)),
        }
    }
    for id in order {
        if let Some(story) = by_action.get(id) {
            print_story(story);
        }
    }
}
