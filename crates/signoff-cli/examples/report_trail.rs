//! Writes a trail for the browser test of `signoff audit report`
//! (tests/browser/report.test.mjs) with real gates, through the same
//! generator as the report tests: `report_trail DIR DECISIONS STREAMS DAYS`.
//!
//! A real gate stamps the present, so with DAYS > 1 the records are then
//! re-dated to spread the decisions evenly over the last DAYS days (each
//! action's records by the same amount) and the
//! chain is sealed again, checkpoints re-signed: a fixture for a chart
//! with several days, still a valid trail. Prints `{"files": [...],
//! "pubkey": "HEX"}`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "fixture generator"
)]

#[path = "../tests/report_trail/mod.rs"]
mod report_trail;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use ed25519_dalek::Signer as _;
use signoff::audit::{AuditRecord, Event, GENESIS, SigningKey, checkpoint_message};

fn redate(path: &Path, days: i64, key: &SigningKey) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut records: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions = records
        .iter()
        .filter(|r| r.event == Some(Event::PolicyDecided))
        .count()
        .max(1) as i64;
    // the k-th decision moves back by DAYS - 1 - k * DAYS / decisions days;
    // every other record of an action by as much as its decision, so times
    // to decision stay as the gate measured them
    let mut moved: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut seen = 0;
    let mut back = days - 1;
    let mut prev = GENESIS.to_owned();
    let mut out = String::with_capacity(text.len());
    for r in &mut records {
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&r.ts)
            .unwrap()
            .with_timezone(&Utc);
        if r.event == Some(Event::PolicyDecided) {
            back = days - 1 - (seen * days / decisions);
            seen += 1;
        }
        let back = match &r.action_id {
            Some(id) => *moved.entry(id.clone()).or_insert(back),
            None => back,
        };
        r.ts = (at - TimeDelta::days(back)).to_rfc3339_opts(SecondsFormat::Micros, true);
        r.prev = prev.clone();
        if r.event == Some(Event::AuditCheckpoint) {
            let message = checkpoint_message(&r.stream, r.seq - 1, &prev);
            r.signature = Some(hex::encode(key.sign(&message).to_bytes()));
        }
        out.push_str(&r.to_line());
        out.push('\n');
        prev = r.hash.clone();
    }
    std::fs::write(path, out).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, decisions, streams, days] = args.as_slice() else {
        eprintln!("usage: report_trail DIR DECISIONS STREAMS DAYS");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = signoff::audit::generate_signing_key().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (files, public) = runtime.block_on(report_trail::write_signed(
        &dir,
        decisions.parse().unwrap(),
        streams.parse().unwrap(),
        key.clone(),
    ));
    let days: i64 = days.parse().unwrap();
    if days > 1 {
        for f in &files {
            redate(f, days, &key);
        }
    }
    println!("{}", serde_json::json!({"files": files, "pubkey": public}));
}
