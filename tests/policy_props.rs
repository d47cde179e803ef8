//! Property: the indexed evaluator (`Policy::evaluate`) always agrees with
//! the plain linear evaluator (`Policy::explain`, which checks every rule in
//! order) on effect and deciding rules, over random policies and actions.

#![allow(clippy::unwrap_used, reason = "test code")]

use proptest::prelude::*;
use serde_json::json;
use signoff::{Action, Policy};

const SEGMENTS: &[&str] = &[
    "db",
    "iam",
    "fs",
    "query",
    "export",
    "role",
    "grant",
    "x",
    "\u{e9}t\u{e9}",
];
const CONDITIONS: &[&str] = &[
    "args.n > 3",
    "args.n <= 3",
    "env == \"prod\"",
    "args.missing > 1",
    "has(args.n) && args.n % 2 == 0",
    "\"pii\" in context.labels",
    "actor.startsWith(\"agent:\")",
];

fn segment_glob() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(SEGMENTS).prop_map(str::to_owned),
        1 => Just("*".to_owned()),
        1 => Just("**".to_owned()),
        1 => proptest::sample::select(SEGMENTS).prop_map(|s| format!("{}*", s.chars().next().unwrap())),
        1 => proptest::sample::select(SEGMENTS).prop_map(|s| format!("*{}", s.chars().last().unwrap())),
    ]
}

fn action_glob() -> impl Strategy<Value = String> {
    proptest::collection::vec(segment_glob(), 1..4).prop_map(|s| s.join("."))
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[derive(Debug, Clone)]
struct RuleSpec {
    effect: &'static str,
    actions: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    actors: Option<Vec<String>>,
    env: Option<Vec<String>>,
    when: Option<&'static str>,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    (
        proptest::sample::select(&["allow", "deny", "approve"][..]),
        proptest::option::weighted(0.85, proptest::collection::vec(action_glob(), 1..3)),
        proptest::option::weighted(
            0.2,
            proptest::collection::vec(
                proptest::sample::select(&["s3://b/*", "s3://b/**", "s3://*/x", "pg://prod/t"][..])
                    .prop_map(str::to_owned),
                1..3,
            ),
        ),
        proptest::option::weighted(
            0.2,
            proptest::collection::vec(
                proptest::sample::select(&["agent:*", "agent:bot", "user:*", "service:ci"][..])
                    .prop_map(str::to_owned),
                1..3,
            ),
        ),
        proptest::option::weighted(
            0.3,
            proptest::collection::vec(
                proptest::sample::select(&["prod", "dev"][..]).prop_map(str::to_owned),
                1..3,
            ),
        ),
        proptest::option::weighted(0.4, proptest::sample::select(CONDITIONS)),
    )
        .prop_map(|(effect, actions, resources, actors, env, when)| RuleSpec {
            effect,
            actions,
            resources,
            actors,
            env,
            when,
        })
}

fn policy_text(rules: &[RuleSpec], default: &str) -> String {
    let mut t = format!(
        "[policy]\ndefault = {default:?}\napprovers = \"g\"\n[groups]\ng = [\"user:a@example.com\"]\n"
    );
    if default != "approve" {
        t = t.replace("approvers = \"g\"\n", "");
    }
    for (i, r) in rules.iter().enumerate() {
        t.push_str(&format!(
            "[[rules]]\nid = \"r{i}\"\neffect = {:?}\n",
            r.effect
        ));
        if let Some(a) = &r.actions {
            t.push_str(&format!("actions = {}\n", toml_list(a)));
        }
        if let Some(a) = &r.resources {
            t.push_str(&format!("resources = {}\n", toml_list(a)));
        }
        if let Some(a) = &r.actors {
            t.push_str(&format!("actors = {}\n", toml_list(a)));
        }
        if let Some(a) = &r.env {
            t.push_str(&format!("env = {}\n", toml_list(a)));
        }
        if let Some(w) = r.when {
            t.push_str(&format!("when = '{w}'\n"));
        }
        if r.effect == "approve" {
            t.push_str("approvers = \"g\"\n");
        }
    }
    t
}

fn action() -> impl Strategy<Value = Action> {
    (
        proptest::collection::vec(proptest::sample::select(SEGMENTS), 1..4),
        proptest::option::of(proptest::sample::select(&["prod", "dev", "staging"][..])),
        proptest::option::of(proptest::sample::select(
            &["s3://b/x", "s3://b/y/z", "pg://prod/t"][..],
        )),
        proptest::sample::select(
            &[
                "agent:bot",
                "agent:other",
                "service:ci",
                "user:a@example.com",
            ][..],
        ),
        proptest::option::of(0i64..8),
        any::<bool>(),
    )
        .prop_map(|(name, env, resource, actor, n, pii)| {
            let mut a = Action::new(name.join(".")).actor(actor);
            if let Some(e) = env {
                a = a.env(e);
            }
            if let Some(r) = resource {
                a = a.resource(r);
            }
            if let Some(n) = n {
                a = a.args(json!({"n": n}));
            }
            if pii {
                a = a.context(json!({"labels": ["pii"]}));
            }
            a
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_indexed_evaluator_agrees_with_the_linear_one(
        rules in proptest::collection::vec(rule(), 0..25),
        default in proptest::sample::select(&["allow", "deny", "approve"][..]),
        actions in proptest::collection::vec(action(), 1..12),
    ) {
        let text = policy_text(&rules, default);
        let policy = Policy::from_toml_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        for a in &actions {
            let fast = policy.evaluate(a);
            let slow = policy.explain(a).decision;
            prop_assert_eq!(fast.effect(), slow.effect, "{:?}\n{}", a, text);
            prop_assert_eq!(fast.rule_ids(), slow.rules.iter().map(String::as_str).collect::<Vec<_>>(), "{:?}\n{}", a, text);
        }
    }
}
