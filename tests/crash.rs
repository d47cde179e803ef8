//! A writer process killed with SIGKILL 20 times during about 100k audit
//! appends, for the JSONL and SQLite sinks: every decision whose `require`
//! returned is in the trail, and the trail verifies after recovery.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use signoff::AuditRecord;

fn agent_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/crash-… → target/debug/examples/signoff_agent
    let debug = exe.parent().and_then(Path::parent).unwrap();
    let bin = debug.join("examples").join("signoff_agent");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "--example", "signoff_agent"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

/// Runs the writer until it acknowledged `target` decisions, then SIGKILLs
/// it mid-write. Returns the acknowledged action ids.
fn run_and_kill(config: &Path, target: usize) -> Vec<String> {
    let mut child = Command::new(agent_bin())
        .args(["append", "--config"])
        .arg(config)
        .args(["--tasks", "32"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut acked = Vec::with_capacity(target);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < target {
        match lines.next() {
            Some(Ok(line)) => acked.push(line),
            _ => panic!("the writer stopped early after {} decisions", acked.len()),
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no flush
    let _ = child.wait();
    // lines already in the pipe were acknowledged before the kill
    for line in lines.map_while(Result::ok) {
        acked.push(line);
    }
    acked
}

fn decided_ids(records: &[AuditRecord]) -> HashSet<String> {
    records
        .iter()
        .filter(|r| r.event == Some(signoff::Event::PolicyDecided))
        .filter_map(|r| r.action_id.clone())
        .collect()
}

fn crash_twenty_times(audit: &str, read: impl Fn(&Path) -> (Vec<AuditRecord>, u64)) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[[rules]]\nid = \"reads\"\neffect = \"allow\"\nactions = [\"db.query\"]\n",
    )
    .unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!("policy = \"policy.toml\"\naudit = [\"{audit}\"]\nstream = \"crash\"\ndurability = \"group\"\n"),
    )
    .unwrap();
    let mut acked: Vec<String> = Vec::new();
    let mut seed = 0x2545_f491_u64;
    for _ in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let target = 1500 + (seed % 1000) as usize;
        acked.extend(run_and_kill(&config, target));
    }
    let (records, verified) = read(dir.path());
    let present = decided_ids(&records);
    let missing: Vec<&String> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged decisions missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    // about 1,500 to 2,500 decisions per run, two records each (DESIGN §15)
    assert!(
        verified >= 60_000,
        "only {verified} records written across the 20 kills"
    );
    eprintln!(
        "{audit}: {} acknowledged decisions, {verified} records, all present, trail verifies",
        acked.len()
    );
}

#[test]
fn a_jsonl_writer_killed_twenty_times_loses_no_acknowledged_record() {
    crash_twenty_times("jsonl:trail.jsonl", |dir| {
        let path = dir.join("trail.jsonl");
        // recovery: opening the log cuts a torn final line and records it
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sink = signoff::JsonlSink::open(&path).unwrap();
            let log = signoff::AuditLog::new(vec![std::sync::Arc::new(sink)], None, None);
            log.append(vec![AuditRecord::new(signoff::Event::AuditCheckpoint)])
                .await
                .unwrap();
        });
        let report = signoff::audit::verify_file(&path, None, None).unwrap();
        let records = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records, report.records)
    });
}

#[test]
fn a_sqlite_writer_killed_twenty_times_loses_no_acknowledged_record() {
    crash_twenty_times("sqlite:trail.db", |dir| {
        let path = dir.join("trail.db");
        let report = signoff_sqlite::verify(&path, None, None).unwrap();
        let records = signoff_sqlite::dump_lines(&path)
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records, report.records)
    });
}
