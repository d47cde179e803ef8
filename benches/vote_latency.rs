//! From the vote POST (HTTP, through the approval server) to the waiting
//! `require` in the agent returning its permit. Prints p50 and p99 over
//! 1,000 votes, then lets criterion time the same round trip.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    reason = "bench harness code"
)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use signoff::{Action, Gate, Outcome, Policy, Queue};
use signoff_server::ServerConfig;

const POLICY: &str = r#"
[groups]
owners = ["user:carol@example.com"]
[[rules]]
id = "export"
effect = "approve"
actions = ["db.export"]
approvers = "owners"
"#;

struct Setup {
    gate: Gate,
    url: String,
    client: reqwest::Client,
}

async fn setup() -> Setup {
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY).unwrap())
        .approver(Queue)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = ServerConfig::default().with_token("user:carol@example.com", "carol");
    tokio::spawn(signoff_server::serve(gate.clone(), config, listener));
    Setup {
        gate,
        url,
        client: reqwest::Client::new(),
    }
}

/// One round: a pending request with an agent waiting on it, then the vote.
async fn round(s: &Setup, n: u64) -> Duration {
    let action = Action::new("db.export")
        .id(format!("bench-{n}"))
        .actor("agent:bench")
        .args(json!({"rows": n}));
    let signoff::Submission::Pending { request_id } = s.gate.submit(action).await.unwrap() else {
        panic!("not pending")
    };
    let waiter = tokio::spawn({
        let gate = s.gate.clone();
        let id = request_id.clone();
        async move { gate.resume(&id).await }
    });
    // let the waiter reach its wait
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_micros(200)).await;
    let start = Instant::now();
    let r = s
        .client
        .post(format!("{}/v1/requests/{request_id}/votes", s.url))
        .bearer_auth("carol")
        .json(&json!({"verdict": "approve"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let permit = waiter.await.unwrap().unwrap();
    let took = start.elapsed();
    permit.complete(Outcome::success()).await.unwrap();
    took
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(setup());
    let mut samples: Vec<Duration> = rt.block_on(async {
        for i in 0..50 {
            round(&s, 1_000_000 + i).await;
        }
        let mut out = Vec::with_capacity(1000);
        for i in 0..1000 {
            out.push(round(&s, i).await);
        }
        out
    });
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    eprintln!(
        "vote POST -> require returns, 1000 votes: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1]
    );
    let mut n = 2_000_000u64;
    c.bench_function("vote_to_permit", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    total += round(&s, n).await;
                }
                total
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
