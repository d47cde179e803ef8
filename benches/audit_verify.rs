//! `verify_file` over a 100,000-record trail written by the gate's audit log.
#![allow(missing_docs, clippy::unwrap_used, reason = "bench harness code")]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signoff::audit::{AuditLog, AuditRecord, AuditSink, Durability, Event, JsonlSink, verify_file};

fn bench_verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sink: Arc<dyn AuditSink> =
            Arc::new(JsonlSink::open_with(&path, Durability::OsBuffered).unwrap());
        let log = AuditLog::new(vec![sink], Some("bench".into()), None);
        for i in 0..10_000u64 {
            let batch = (0..10)
                .map(|j| {
                    let mut r = AuditRecord::new(Event::PolicyDecided);
                    r.action_id = Some(format!("01a1ff5f-324c-73dc-a7a1-{:012}", i * 10 + j));
                    r.action = Some("db.export".into());
                    r.actor = Some("agent:billing-bot".into());
                    r.on_behalf_of = Some("user:alice@example.com".into());
                    r.resource = Some("postgres://prod/customers".into());
                    r.env = Some("prod".into());
                    r.args = Some(json!({"rows": i, "format": "csv", "table": "customers"}));
                    r.effect = Some("approve".into());
                    r.rule = Some("prod-export".into());
                    r.reason = Some("bulk export of production data".into());
                    r.policy_digest = Some(format!("blake3:{}", "ab".repeat(32)));
                    r.args_digest = Some(format!("blake3:{}", "cd".repeat(32)));
                    r
                })
                .collect();
            log.append(batch).await.unwrap();
        }
    });
    let bytes = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "trail: 100000 records, {bytes} bytes ({} bytes/record)",
        bytes / 100_000
    );
    let mut group = c.benchmark_group("audit_verify");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function("100k_records", |b| {
        b.iter(|| {
            let report = verify_file(&path, None, None).unwrap();
            assert_eq!(report.records, 100_000);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
