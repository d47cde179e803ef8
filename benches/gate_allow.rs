//! `gate.require` + `permit.complete` on an allow rule with the JSONL sink,
//! from 1 and 64 concurrent callers, in each durability mode. Each decision
//! writes three records (requested, decided, completed), and the decision
//! record is durable in the configured mode before the permit is returned.
#![allow(missing_docs, clippy::unwrap_used, reason = "bench harness code")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signoff::audit::Durability;
use signoff::{Action, Gate, JsonlSink, Outcome, Policy};

const POLICY: &str = r#"
[policy]
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
when = 'env == "prod" && args.rows <= 1000'
"#;

fn gate(dir: &tempfile::TempDir, mode: Durability) -> Gate {
    let path = dir.path().join(format!("audit-{mode:?}.jsonl"));
    Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .audit(JsonlSink::open_with(path, mode).unwrap())
        .build()
        .unwrap()
}

fn action() -> Action {
    Action::new("db.query")
        .actor("agent:bench")
        .env("prod")
        .args(json!({"rows": 10, "sql": "select * from invoices where id = 42"}))
}

async fn one(gate: &Gate) {
    let permit = gate.require(action()).await.unwrap();
    permit.complete(Outcome::success()).await.unwrap();
}

fn bench_gate(c: &mut Criterion) {
    let mut group = c.benchmark_group("gate_allow");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for mode in [
        Durability::OsBuffered,
        Durability::Group,
        Durability::EveryRecord,
    ] {
        let dir = tempfile::tempdir().unwrap();
        // one caller: a current-thread runtime, as an agent's tool loop
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let g = gate(&dir, mode);
        group.bench_function(BenchmarkId::new(format!("{mode:?}"), 1), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        one(&g).await;
                    }
                    start.elapsed()
                })
            })
        });
        // 64 callers on the 2-core multi-thread runtime
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let g = Arc::new(gate(&dir, mode));
        group.bench_function(BenchmarkId::new(format!("{mode:?}"), 64), |b| {
            b.iter_custom(|iters| {
                let g = Arc::clone(&g);
                rt.block_on(async move {
                    let per = iters.div_ceil(64);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..64)
                        .map(|_| {
                            let g = Arc::clone(&g);
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    one(&g).await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    // report time per requested iteration
                    start.elapsed().mul_f64(iters as f64 / (per * 64) as f64)
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gate);
criterion_main!(benches);
