//! Policy evaluation at 10, 100, 1,000 and 10,000 rules.
//!
//! The mix: 80% allow rules on distinct tools with a CEL condition on `env`
//! and a numeric argument, 10% allow rules with action and resource globs and
//! no condition, 10% deny rules. Three requests: one decided by a CEL rule,
//! one by a glob rule (no condition), one by a deny rule.
//!
//! With `--features cedar`, the same policy is written for Cedar, checked to
//! give the same decisions on these requests, and timed in the same run:
//! `cargo bench --bench policy_eval --features cedar`.
//!
//! Allocations per decision are counted by a wrapping global allocator and
//! printed before the timings.

#![allow(missing_docs, clippy::unwrap_used, reason = "bench harness code")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use signoff::{Action, Effect, Policy};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[allow(unsafe_code, reason = "a global allocator that counts calls to System")]
// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The TOML policy with `n` rules.
fn signoff_policy(n: usize) -> String {
    let mut out = String::from("[policy]\nname = \"bench\"\ndefault = \"deny\"\n");
    for i in 0..n {
        match i % 10 {
            0 => out.push_str(&format!(
                "[[rules]]\nid = \"deny-{i}\"\neffect = \"deny\"\nactions = [\"danger{i}.run\"]\n"
            )),
            1 => out.push_str(&format!(
                "[[rules]]\nid = \"glob-{i}\"\neffect = \"allow\"\nactions = [\"svc{i}.*\"]\nresources = [\"s3://bucket{i}/**\"]\n"
            )),
            _ => out.push_str(&format!(
                "[[rules]]\nid = \"tool-{i}\"\neffect = \"allow\"\nactions = [\"tool{i}.call\"]\nwhen = 'env == \"prod\" && args.rows <= 1000'\n"
            )),
        }
    }
    out
}

/// The three requests, as (label, action, expected effect).
fn requests(n: usize) -> Vec<(&'static str, Action, Effect)> {
    let last = |rem: usize| (0..n).rev().find(|i| i % 10 == rem).unwrap_or(0);
    let cel = last(2);
    let glob = last(1);
    let deny = last(0);
    vec![
        (
            "cel",
            Action::new(format!("tool{cel}.call"))
                .actor("agent:bench")
                .env("prod")
                .args(json!({"rows": 10, "table": "t", "format": "csv"})),
            Effect::Allow,
        ),
        (
            "glob",
            Action::new(format!("svc{glob}.read"))
                .actor("agent:bench")
                .resource(format!("s3://bucket{glob}/a/b.csv"))
                .args(json!({"rows": 10})),
            Effect::Allow,
        ),
        (
            "deny",
            Action::new(format!("danger{deny}.run"))
                .actor("agent:bench")
                .env("prod")
                .args(json!({"rows": 10})),
            Effect::Deny,
        ),
    ]
}

fn bench_policy(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_eval");
    for n in [10usize, 100, 1_000, 10_000] {
        let policy = Policy::from_toml_str(&signoff_policy(n)).unwrap();
        #[cfg(feature = "cedar")]
        let cedar = cedar_side::CedarBench::new(n);
        for (label, action, want) in requests(n) {
            assert_eq!(policy.evaluate(&action).effect(), want, "{label} at {n}");
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for _ in 0..1000 {
                black_box(policy.evaluate(black_box(&action)).effect());
            }
            let per = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / 1000.0;
            eprintln!("signoff {label} @ {n} rules: {per} allocations per decision");
            group.bench_with_input(
                BenchmarkId::new(format!("signoff/{label}"), n),
                &action,
                |b, a| b.iter(|| policy.evaluate(black_box(a)).effect()),
            );
            #[cfg(feature = "cedar")]
            {
                assert_eq!(cedar.decide(&action), want, "cedar {label} at {n}");
                group.bench_with_input(
                    BenchmarkId::new(format!("cedar/{label}"), n),
                    &action,
                    |b, a| b.iter(|| cedar.decide(black_box(a))),
                );
            }
        }
    }
    group.finish();
}

#[cfg(feature = "cedar")]
mod cedar_side {
    use std::str::FromStr;

    use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
    use signoff::{Action, Effect};

    pub struct CedarBench {
        policies: PolicySet,
        entities: Entities,
        authorizer: Authorizer,
    }

    impl CedarBench {
        pub fn new(n: usize) -> Self {
            let mut text = String::new();
            for i in 0..n {
                match i % 10 {
                    0 => text.push_str(&format!(
                        "forbid(principal, action == Action::\"danger{i}.run\", resource);\n"
                    )),
                    1 => text.push_str(&format!(
                        "permit(principal, action, resource) when {{ context.name like \"svc{i}.*\" && context has resource && context.resource like \"s3://bucket{i}/*\" }};\n"
                    )),
                    _ => text.push_str(&format!(
                        "permit(principal, action == Action::\"tool{i}.call\", resource) when {{ context has env && context.env == \"prod\" && context.args.rows <= 1000 }};\n"
                    )),
                }
            }
            CedarBench {
                policies: PolicySet::from_str(&text).unwrap(),
                entities: Entities::empty(),
                authorizer: Authorizer::new(),
            }
        }

        /// Builds the request from the action on every call, as an adapter would.
        pub fn decide(&self, a: &Action) -> Effect {
            let principal =
                EntityUid::from_str(&format!("Agent::{:?}", a.actor.as_deref().unwrap_or("")))
                    .unwrap();
            let action = EntityUid::from_str(&format!("Action::{:?}", a.name)).unwrap();
            let resource = EntityUid::from_str("Resource::\"r\"").unwrap();
            let mut ctx = serde_json::json!({"name": a.name, "args": a.args});
            if let Some(env) = &a.env {
                ctx["env"] = serde_json::json!(env);
            }
            if let Some(r) = &a.resource {
                ctx["resource"] = serde_json::json!(r);
            }
            let context = Context::from_json_value(ctx, None).unwrap();
            let request = Request::new(principal, action, resource, context, None).unwrap();
            match self
                .authorizer
                .is_authorized(&request, &self.policies, &self.entities)
                .decision()
            {
                Decision::Allow => Effect::Allow,
                Decision::Deny => Effect::Deny,
            }
        }
    }
}

criterion_group!(benches, bench_policy);
criterion_main!(benches);
