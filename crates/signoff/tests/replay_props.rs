//! Replay never guesses (DESIGN §12): for random policies and actions,
//! with random fields redacted or left unrecorded, a replayed decision is
//! either exactly what the policy decides on the real action, or
//! undecidable; with nothing hidden it is always decided.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use proptest::prelude::*;
use serde_json::{Value, json};
use signoff::policy::replay::{Replayed, UnknownField};
use signoff::{Action, Policy};

/// Conditions reading args, context and the action in every shape the
/// reader knows: literal paths, computed keys, whole values, macros, `has`.
const CONDITIONS: &[&str] = &[
    "args.a > 10",
    "args.a <= 10",
    "args.b.c == 'x'",
    "args.b.c.startsWith('y')",
    "has(args.secret)",
    "args.secret == 'hunter2'",
    "size(args.secret) < 8",
    "args.items.exists(i, i == 1)",
    "args.items[0] == 2",
    "size(args) > 3",
    "args['a'] == 5",
    "context.t == 'T-1'",
    "has(context.t)",
    "env == 'prod' && args.a % 2 == 0",
    "actor.startsWith('agent:a')",
    "args.missing == 1",
];

const NAMES: &[&str] = &["db.query", "db.export", "sql.exec"];
const GLOBS: &[&str] = &["db.query", "db.*", "sql.exec", "**"];
const EFFECTS: &[&str] = &["allow", "deny", "approve"];

#[derive(Debug, Clone)]
struct RuleSpec {
    effect: usize,
    glob: usize,
    when: Option<usize>,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    (
        0..EFFECTS.len(),
        0..GLOBS.len(),
        prop::option::weighted(0.8, 0..CONDITIONS.len()),
    )
        .prop_map(|(effect, glob, when)| RuleSpec { effect, glob, when })
}

fn policy(rules: &[RuleSpec], default: usize) -> Policy {
    let mut text = format!(
        "[policy]\ndefault = \"{}\"\n{}[groups]\ng = [\"user:r@example.com\"]\n",
        EFFECTS[default],
        if EFFECTS[default] == "approve" {
            "approvers = \"g\"\n"
        } else {
            ""
        }
    );
    for (i, r) in rules.iter().enumerate() {
        text.push_str(&format!(
            "[[rules]]\nid = \"r{i}\"\neffect = \"{}\"\nactions = [\"{}\"]\n",
            EFFECTS[r.effect], GLOBS[r.glob]
        ));
        if let Some(w) = r.when {
            text.push_str(&format!(
                "when = \"{}\"\n",
                CONDITIONS[w].replace('"', "\\\"")
            ));
        }
        if EFFECTS[r.effect] == "approve" {
            text.push_str("approvers = \"g\"\n");
        }
    }
    Policy::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[derive(Debug, Clone)]
struct ActionSpec {
    name: usize,
    a: i64,
    c: String,
    secret: Option<String>,
    items: Vec<i64>,
    ticket: Option<String>,
    prod: bool,
    actor: usize,
}

fn action_spec() -> impl Strategy<Value = ActionSpec> {
    (
        0..NAMES.len(),
        -5i64..30,
        prop::sample::select(vec!["x", "y1", "z"]).prop_map(str::to_owned),
        prop::option::of(
            prop::sample::select(vec!["hunter2", "longerpassword", ""]).prop_map(str::to_owned),
        ),
        prop::collection::vec(0i64..4, 0..3),
        prop::option::of(prop::sample::select(vec!["T-1", "T-2"]).prop_map(str::to_owned)),
        any::<bool>(),
        0usize..2,
    )
        .prop_map(
            |(name, a, c, secret, items, ticket, prod, actor)| ActionSpec {
                name,
                a,
                c,
                secret,
                items,
                ticket,
                prod,
                actor,
            },
        )
}

fn build(s: &ActionSpec) -> Action {
    let mut args = json!({"a": s.a, "b": {"c": s.c}, "items": s.items});
    if let Some(secret) = &s.secret {
        args["secret"] = json!(secret);
    }
    let context = match &s.ticket {
        Some(t) => json!({"t": t}),
        None => json!({}),
    };
    Action::new(NAMES[s.name])
        .actor(["agent:a1", "agent:b2"][s.actor])
        .env(if s.prod { "prod" } else { "dev" })
        .args(args)
        .context(context)
}

/// What the trail may hide: redacted values at these paths, or the whole
/// context unrecorded.
#[derive(Debug, Clone, Copy)]
struct Hide {
    secret: bool,
    c: bool,
    item0: bool,
    ticket: bool,
    no_context: bool,
}

fn hide() -> impl Strategy<Value = Hide> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(secret, c, item0, ticket, no_context)| Hide {
            secret,
            c,
            item0,
            ticket,
            no_context,
        })
}

const REDACTED: &str =
    "redacted:k1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The action as the trail shows it, and what is unknown about it.
fn shown(action: &Action, h: Hide) -> (Action, Vec<UnknownField>) {
    let mut a = action.clone();
    let mut unknown = Vec::new();
    let mut redact = |value: Option<&mut Value>, var: &'static str, keys: &[&str]| {
        if let Some(v) = value {
            *v = json!(REDACTED);
            unknown.push(UnknownField {
                var,
                keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                why: "redacted",
            });
        }
    };
    if h.secret {
        redact(a.args.get_mut("secret"), "args", &["secret"]);
    }
    if h.c {
        redact(a.args.pointer_mut("/b/c"), "args", &["b", "c"]);
    }
    if h.item0 {
        redact(a.args.pointer_mut("/items/0"), "args", &["items", "0"]);
    }
    if h.no_context {
        a.context = json!({});
        unknown.push(UnknownField {
            var: "context",
            keys: Vec::new(),
            why: "unrecorded",
        });
    } else if h.ticket {
        redact(a.context.get_mut("t"), "context", &["t"]);
    }
    (a, unknown)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn a_replayed_decision_is_the_real_one_or_undecidable(
        rules in prop::collection::vec(rule(), 1..7),
        default in 0..EFFECTS.len(),
        spec in action_spec(),
        h in hide(),
    ) {
        let policy = policy(&rules, default);
        let action = build(&spec);
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let real = policy.evaluate_at(&action, now).decision();
        // nothing hidden: always decided, and decided right
        match policy.replay(&action, now, &[]) {
            Replayed::Decided(d) => {
                prop_assert_eq!(d.effect, real.effect);
                prop_assert_eq!(&d.rules, &real.rules);
            }
            Replayed::Undecidable { .. } => prop_assert!(false, "undecidable with nothing hidden"),
        }
        // hidden fields: right or undecidable, never a guess
        let (seen, unknown) = shown(&action, h);
        match policy.replay(&seen, now, &unknown) {
            Replayed::Decided(d) => {
                prop_assert_eq!(d.effect, real.effect, "guessed: {:?}", unknown);
                prop_assert_eq!(&d.rules, &real.rules, "guessed: {:?}", unknown);
            }
            Replayed::Undecidable { rules, fields } => {
                prop_assert!(!rules.is_empty() && !fields.is_empty());
                prop_assert!(!unknown.is_empty());
            }
        }
    }
}
