//! A decision a grant covers (DESIGN §13): `gate.require` + `complete` on an
//! approve rule whose grant is live, against the memory, SQLite and
//! PostgreSQL (when `SIGNOFF_TEST_DATABASE_URL` is set) stores. Every use
//! reads the store (no cache that could outlive a revoke), so this is the
//! price of that read plus the two records (`policy.decided`, `grant.used`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    reason = "bench harness code"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signoff::{
    Action, ApprovalStore, Gate, JsonlSink, MemoryStore, Outcome, Policy, Queue, Submission, Vote,
};

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
max_grant = "24h"
"#;

fn action() -> Action {
    Action::new("db.export")
        .actor("agent:bench")
        .resource("postgres://prod/customers")
        .env("prod")
        .args(json!({"rows": 10}))
}

/// A gate on `store` whose export rule has a live grant.
async fn granted(store: Arc<dyn ApprovalStore>, dir: &tempfile::TempDir, name: &str) -> Gate {
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .store_arc(store)
        .audit(JsonlSink::open(dir.path().join(format!("{name}.jsonl"))).unwrap())
        .build()
        .unwrap();
    let Submission::Pending { request_id } = gate.submit(action()).await.unwrap() else {
        panic!("expected a request")
    };
    gate.vote(
        &request_id,
        Vote::approve("user:carol@example.com").grant(Duration::from_secs(86_400)),
    )
    .await
    .unwrap();
    gate.resume(&request_id)
        .await
        .unwrap()
        .complete(Outcome::success())
        .await
        .unwrap();
    gate
}

fn bench_grants(c: &mut Criterion) {
    let mut group = c.benchmark_group("grant_used");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut stores: Vec<(&str, Arc<dyn ApprovalStore>)> =
        vec![("memory", Arc::new(MemoryStore::new()))];
    stores.push((
        "sqlite",
        Arc::new(signoff_sqlite::SqliteStore::open(dir.path().join("store.db")).unwrap()),
    ));
    if let Ok(url) = std::env::var("SIGNOFF_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        let store = rt
            .block_on(signoff_postgres::PgStore::connect(&url))
            .unwrap();
        stores.push(("postgres", Arc::new(store)));
    }
    for (name, store) in stores {
        let gate = rt.block_on(granted(store, &dir, name));
        group.bench_function(BenchmarkId::new(name, 1), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        match gate.submit(action()).await.unwrap() {
                            Submission::Permitted(p) => {
                                p.complete(Outcome::success()).await.unwrap()
                            }
                            Submission::Pending { .. } => panic!("the grant should cover it"),
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_grants);
criterion_main!(benches);
