//! Durable decisions per second with 64 concurrent callers, for the JSONL
//! sink (group commit), SQLite and PostgreSQL (`SIGNOFF_TEST_DATABASE_URL`,
//! set by scripts/test's cluster or by hand); and resume latency after a
//! restart: a new gate on the same store picking up an approved request by
//! action id.
#![allow(missing_docs, clippy::unwrap_used, reason = "bench harness code")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signoff::{
    Action, ApprovalStore, AuditSink, Gate, JsonlSink, Outcome, Policy, Queue, Submission, Vote,
};

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com"]
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
"#;

fn gate(store: Option<Arc<dyn ApprovalStore>>, sink: Arc<dyn AuditSink>) -> Gate {
    let mut b = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .audit_arc(sink);
    if let Some(s) = store {
        b = b.store_arc(s);
    }
    b.build().unwrap()
}

async fn fresh_pg(admin: &str, tag: &str) -> String {
    let name = format!("signoff_bench_{tag}_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = std::env::var("SIGNOFF_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let mut backends: Vec<(&str, Gate, Restart)> = Vec::new();
    {
        let path = dir.path().join("a.jsonl");
        let g = gate(None, Arc::new(JsonlSink::open(&path).unwrap()));
        backends.push(("jsonl-group", g, Box::new(unreachable_restart)));
    }
    {
        let path = dir.path().join("s.db");
        let store: Arc<dyn ApprovalStore> =
            Arc::new(signoff_sqlite::SqliteStore::open(&path).unwrap());
        let g = gate(
            Some(store),
            Arc::new(signoff_sqlite::SqliteSink::open(&path, Some("bench")).unwrap()),
        );
        let p = path.clone();
        backends.push((
            "sqlite",
            g,
            Box::new(move || {
                let store: Arc<dyn ApprovalStore> =
                    Arc::new(signoff_sqlite::SqliteStore::open(&p).unwrap());
                gate(
                    Some(store),
                    Arc::new(signoff_sqlite::SqliteSink::open(&p, Some("restarted")).unwrap()),
                )
            }),
        ));
    }
    if let Some(admin) = &pg {
        let url = rt.block_on(fresh_pg(admin, "stores"));
        let (g, u2) = rt.block_on(async {
            let store: Arc<dyn ApprovalStore> =
                Arc::new(signoff_postgres::PgStore::connect(&url).await.unwrap());
            let sink = Arc::new(
                signoff_postgres::PgSink::connect(&url, Some("bench"))
                    .await
                    .unwrap(),
            );
            (gate(Some(store), sink), url.clone())
        });
        let handle = rt.handle().clone();
        backends.push((
            "postgres",
            g,
            Box::new(move || {
                let u = u2.clone();
                tokio::task::block_in_place(|| {
                    handle.block_on(async {
                        let store: Arc<dyn ApprovalStore> =
                            Arc::new(signoff_postgres::PgStore::connect(&u).await.unwrap());
                        gate(
                            Some(store),
                            Arc::new(
                                signoff_postgres::PgSink::connect(&u, Some("restarted"))
                                    .await
                                    .unwrap(),
                            ),
                        )
                    })
                })
            }),
        ));
    } else {
        eprintln!("SIGNOFF_TEST_DATABASE_URL is not set: PostgreSQL is not measured");
    }
    let mut group = c.benchmark_group("durable_decisions");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, g, _) in &backends {
        group.bench_function(BenchmarkId::new(*name, 64), |b| {
            b.iter_custom(|iters| {
                let g = g.clone();
                rt.block_on(async move {
                    let per = iters.div_ceil(64);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..64)
                        .map(|_| {
                            let g = g.clone();
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    let p = g
                                        .require(Action::new("db.query").actor("agent:bench"))
                                        .await
                                        .unwrap();
                                    p.complete(Outcome::success()).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start.elapsed().mul_f64(iters as f64 / (per * 64) as f64)
                })
            })
        });
    }
    group.finish();
    // resume after restart: an approved request picked up by a new gate
    for (name, g, restart) in &backends {
        if *name == "jsonl-group" {
            continue;
        }
        let mut samples = Vec::new();
        for n in 0..50 {
            let id = format!("resume-{name}-{n}");
            let request_id = rt.block_on(async {
                let Submission::Pending { request_id } = g
                    .submit(
                        Action::new("db.export")
                            .id(&id)
                            .actor("agent:bench")
                            .args(json!({"n": n})),
                    )
                    .await
                    .unwrap()
                else {
                    unreachable!()
                };
                g.vote(&request_id, Vote::approve("user:carol@example.com"))
                    .await
                    .unwrap();
                request_id
            });
            let fresh = rt.block_on(async { tokio::task::block_in_place(restart) });
            let started = Instant::now();
            rt.block_on(async {
                let p = fresh
                    .require(
                        Action::new("db.export")
                            .id(&id)
                            .actor("agent:bench")
                            .args(json!({"n": n})),
                    )
                    .await
                    .unwrap();
                assert_eq!(p.request_id(), Some(request_id.as_str()));
                p.complete(Outcome::success()).await.unwrap();
            });
            samples.push(started.elapsed());
        }
        samples.sort();
        eprintln!(
            "{name}: resume after restart p50 {:?}, p99 {:?}",
            samples[25], samples[49]
        );
    }
}

/// Builds a new gate on the same store: a restarted process.
type Restart = Box<dyn Fn() -> Gate>;

fn unreachable_restart() -> Gate {
    unreachable!("the JSONL sink keeps no approval store")
}

criterion_group!(benches, bench);
criterion_main!(benches);
