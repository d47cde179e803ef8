//! `signoff audit verify|show|checkpoint|keygen`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use signoff::audit::{
    ExportedCheckpoint, VerifyFailure, VerifyReport, VerifyingKey, generate_signing_key,
    signing_key_to_hex, verify_file, verifying_key_from_hex, verifying_key_to_hex,
};
use signoff::{AuditRecord, Event};

use crate::exit;

/// Reads a key given inline as hex or as a file holding hex.
pub(crate) fn read_key(arg: &str) -> Result<String, String> {
    let path = Path::new(arg);
    if path.is_file() {
        std::fs::read_to_string(path).map_err(|e| format!("{arg}: cannot read: {e}"))
    } else {
        Ok(arg.to_owned())
    }
}

/// Verifies any trail kind through the shared verifier: a JSONL file,
/// `sqlite:PATH` or `postgres://...`. `Err` holds the exit code of a usage
/// error (already reported).
fn verify_trail(
    log: &Path,
    key: Option<&VerifyingKey>,
    expect: Option<&ExportedCheckpoint>,
) -> Result<Result<VerifyReport, VerifyFailure>, u8> {
    let text = log.to_str().unwrap_or_default();
    let postgres = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let sqlite = text.strip_prefix("sqlite:").map(Path::new);
    if !postgres && !sqlite.unwrap_or(log).is_file() {
        eprintln!("{}: cannot read: no such file", log.display());
        return Err(exit::USAGE);
    }
    if postgres {
        return match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => Ok(rt.block_on(signoff_postgres::verify(text, key, expect))),
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                Err(exit::USAGE)
            }
        };
    }
    Ok(match sqlite {
        Some(db) => signoff_sqlite::verify(db, key, expect),
        None => verify_file(log, key, expect),
    })
}

pub fn verify(log: &Path, pubkey: Option<&str>, checkpoint: Option<&Path>) -> u8 {
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
    let result = match verify_trail(log, key.as_ref(), expect.as_ref()) {
        Ok(r) => r,
        Err(code) => return code,
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
            print_coverage(&report, key.is_some(), expect.as_ref());
            exit::OK
        }
        Err(failure) => {
            println!("{}: TAMPERED — {failure}", log.display());
            exit::DENIED
        }
    }
}

/// What a passing verification could not see: the newest records, unless
/// a signature or an exported checkpoint covers them.
fn print_coverage(report: &VerifyReport, signed: bool, expect: Option<&ExportedCheckpoint>) {
    if signed {
        // a stream with no signed checkpoint fails; here every stream has one
        for (stream, n) in report.unsigned_tail() {
            println!(
                "  warning: stream {stream}: {n} record(s) after the last checkpoint are not covered by a signature (removing them is undetectable until a later checkpoint signs them)"
            );
        }
    }
    if let Some(cp) = expect {
        let last = report.streams.get(&cp.stream).map_or(0, |(s, _)| *s);
        if last > cp.seq && !signed {
            println!(
                "  warning: stream {}: {} record(s) after the exported checkpoint (seq {}) are not covered by it (removing them is undetectable without --pubkey or a later checkpoint)",
                cp.stream,
                last - cp.seq,
                cp.seq
            );
        }
    }
    if !signed && expect.is_none() {
        println!(
            "  warning: without --pubkey or --checkpoint, deleting the newest records (or rewriting the whole trail) is undetectable: only the records present were checked against each other"
        );
    }
}

/// `signoff audit keygen`: a new checkpoint signing key in `out` (mode 0600)
/// and its public key in `pub_path` (default `OUT.pub`), both as one line of
/// 64 hex characters. The public key is also printed on standard output.
pub fn keygen(out: &Path, pub_path: Option<&Path>, force: bool) -> u8 {
    let pub_path = pub_path.map_or_else(
        || {
            let mut p = out.as_os_str().to_owned();
            p.push(".pub");
            PathBuf::from(p)
        },
        Path::to_path_buf,
    );
    if pub_path == out {
        eprintln!(
            "{}: the public key cannot go to the secret key's file",
            out.display()
        );
        return exit::USAGE;
    }
    if !force {
        for p in [out, pub_path.as_path()] {
            if p.exists() {
                eprintln!(
                    "{}: already exists (use --force to replace it)",
                    p.display()
                );
                return exit::USAGE;
            }
        }
    }
    let key = match generate_signing_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return exit::USAGE;
        }
    };
    let public = verifying_key_to_hex(&key.verifying_key());
    if let Err(e) = write_key_file(out, &signing_key_to_hex(&key), true, force) {
        eprintln!("{}: cannot write: {e}", out.display());
        return exit::USAGE;
    }
    if let Err(e) = write_key_file(&pub_path, &public, false, force) {
        eprintln!("{}: cannot write: {e}", pub_path.display());
        return exit::USAGE;
    }
    eprintln!(
        "wrote the secret checkpoint key to {} (mode 0600; give it to the gate as a key file or env var, never inline)",
        out.display()
    );
    eprintln!(
        "wrote the public key to {} (check trails with `signoff audit verify LOG --pubkey {}`)",
        pub_path.display(),
        pub_path.display()
    );
    print!("{public}");
    exit::OK
}

/// Writes `text` to `path`: a new file, refusing an existing one unless
/// `force`; a secret one is created with mode 0600 (on Unix) and, when
/// replacing, written aside and renamed into place so it is never readable
/// with the old file's mode.
fn write_key_file(path: &Path, text: &str, secret: bool, force: bool) -> std::io::Result<()> {
    let create = |p: &Path| {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        o.open(p)
    };
    let write = |p: &Path| -> std::io::Result<()> {
        let mut f = create(p)?;
        let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
        if written.is_err() {
            let _ = std::fs::remove_file(p);
        }
        written
    };
    if !force {
        return write(path);
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".tmp-{}", std::process::id()));
    let aside = PathBuf::from(aside);
    let _ = std::fs::remove_file(&aside);
    write(&aside)?;
    std::fs::rename(&aside, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&aside);
    })
}

pub(crate) fn read_records(log: &Path) -> Result<Vec<AuditRecord>, String> {
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
    let result = match verify_trail(log, None, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match result {
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

/// What was asked: resource, env and args (a decision record carries the
/// action since DESIGN §15; older trails have a separate `action.requested`).
fn requested(r: &AuditRecord) -> String {
    let Some(args) = &r.args else {
        return String::new();
    };
    format!(
        "requested{}{} args {args}; ",
        r.resource
            .as_deref()
            .map(|x| format!(" on {x}"))
            .unwrap_or_default(),
        r.env
            .as_deref()
            .map(|x| format!(" in {x}"))
            .unwrap_or_default(),
    )
}

/// A sentence for one record.
pub fn describe(r: &AuditRecord) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let what = match r.event {
        Some(Event::ActionRequested) => requested(r).trim_end_matches("; ").to_owned(),
        Some(Event::PolicyDecided) => format!(
            "{}policy decided {}{}: {}{}",
            requested(r),
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
        Some(Event::PolicyShadow) => format!(
            "shadow policy would decide {}{}: {}",
            opt(&r.effect),
            r.rule
                .as_deref()
                .map(|x| format!(" (rule {x})"))
                .unwrap_or_default(),
            opt(&r.reason)
        ),
        Some(
            e @ (Event::GrantCreated
            | Event::GrantUsed
            | Event::GrantRevoked
            | Event::ApprovalBreakGlass
            | Event::ApprovalEscalated),
        ) => format!("{}: {}", e.as_str(), opt(&r.reason)),
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
