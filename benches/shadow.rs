//! The cost of a shadow policy on the allow path (DESIGN §12):
//! `require` + `complete` on an allow rule, OsBuffered JSONL, one caller,
//! without a shadow policy, with a candidate that agrees (evaluated, nothing
//! written) and with one that differs on every action (a `policy.shadow`
//! record each time).
#![allow(missing_docs, clippy::unwrap_used, reason = "bench harness code")]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signoff::audit::Durability;
use signoff::{Action, Gate, JsonlSink, Outcome, Policy};

const LIVE: &str = r#"
[policy]
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
when = 'env == "prod" && args.rows <= 1000'
"#;

/// Same decision as the live policy, by another rule set of the same shape.
const AGREES: &str = r#"
[policy]
default = "deny"
[[rules]]
id = "reads"
effect = "allow"
actions = ["db.query"]
when = 'env == "prod" && args.rows <= 5000'
[[rules]]
id = "no-drop"
effect = "deny"
actions = ["db.query"]
when = 'args.sql.matches("(?i)drop")'
"#;

/// Decides differently on every benchmarked action (another deciding rule).
const DIFFERS: &str = r#"
[policy]
default = "deny"
[[rules]]
id = "reads-v2"
effect = "allow"
actions = ["db.query"]
when = 'env == "prod" && args.rows <= 1000'
"#;

fn gate(dir: &tempfile::TempDir, name: &str, shadow: Option<&str>) -> Gate {
    let path = dir.path().join(format!("audit-{name}.jsonl"));
    let mut b = Gate::builder()
        .policy(Policy::from_toml_str(LIVE).unwrap())
        .audit(JsonlSink::open_with(path, Durability::OsBuffered).unwrap());
    if let Some(s) = shadow {
        b = b.shadow(Policy::from_toml_str(s).unwrap());
    }
    b.build().unwrap()
}

fn action() -> Action {
    Action::new("db.query")
        .actor("agent:bench")
        .env("prod")
        .args(json!({"rows": 10, "sql": "select * from invoices where id = 42"}))
}

fn bench_shadow(c: &mut Criterion) {
    let mut group = c.benchmark_group("shadow_allow");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, shadow) in [
        ("none", None),
        ("agrees", Some(AGREES)),
        ("differs", Some(DIFFERS)),
    ] {
        let g = gate(&dir, name, shadow);
        group.bench_function(BenchmarkId::new("OsBuffered", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let permit = g.require(action()).await.unwrap();
                        permit.complete(Outcome::success()).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_shadow);
criterion_main!(benches);
