//! Property tests for the fail-closed promises: a lookalike of the requester
//! never counts as a reviewer, and no policy file or action makes loading,
//! evaluating or submitting panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use proptest::prelude::*;
use serde_json::{Value, json};
use signoff::testkit::SilentApprover;
use signoff::{Action, Error, Gate, Policy, RejectReason, Submission, Vote};

/// ASCII letters with a lookalike in other scripts or forms.
const LOOKALIKES: &[(char, &[char])] = &[
    ('a', &['\u{430}', '\u{ff41}']),
    ('c', &['\u{441}', '\u{ff43}']),
    ('e', &['\u{435}', '\u{ff45}']),
    ('i', &['\u{456}', '\u{ff49}']),
    ('o', &['\u{43e}', '\u{3bf}', '\u{ff4f}']),
    ('p', &['\u{440}', '\u{ff50}']),
    ('x', &['\u{445}', '\u{ff58}']),
    ('y', &['\u{443}', '\u{ff59}']),
    ('s', &['\u{455}', '\u{ff53}']),
    ('j', &['\u{458}', '\u{ff4a}']),
];

/// Characters a human cannot see (format, invisible, bidi) or that combine.
const HIDDEN: &[char] = &[
    '\u{200b}', '\u{200c}', '\u{200d}', '\u{00ad}', '\u{2060}', '\u{feff}', '\u{202e}', '\u{2066}',
    '\u{034f}', '\u{fe0f}', '\u{00a0}',
];

#[derive(Debug, Clone)]
enum Change {
    Lookalike(usize, usize),
    Upper(usize),
    Insert(usize, usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Change::Lookalike(i, j)),
        any::<usize>().prop_map(Change::Upper),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Change::Insert(i, j)),
    ]
}

/// `name` with the changes applied: a string a human reads as `name`.
fn disguise(name: &str, changes: &[Change]) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    for c in changes {
        match *c {
            Change::Lookalike(i, j) => {
                let positions: Vec<usize> = chars
                    .iter()
                    .enumerate()
                    .filter(|(_, ch)| LOOKALIKES.iter().any(|(a, _)| a == *ch))
                    .map(|(p, _)| p)
                    .collect();
                if positions.is_empty() {
                    continue;
                }
                let p = positions[i % positions.len()];
                let Some((_, alts)) = LOOKALIKES.iter().find(|(a, _)| *a == chars[p]) else {
                    continue;
                };
                chars[p] = alts[j % alts.len()];
            }
            Change::Upper(i) => {
                let p = i % chars.len();
                chars[p] = chars[p].to_ascii_uppercase();
            }
            Change::Insert(i, j) => {
                let p = 1 + i % chars.len();
                chars.insert(p, HIDDEN[j % HIDDEN.len()]);
            }
        }
    }
    chars.into_iter().collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn a_vote_by_a_lookalike_of_the_requester_is_never_counted(
        local in "[a-z]{3,10}",
        voter_changes in prop::collection::vec(change(), 1..4),
        requester_changes in prop::collection::vec(change(), 0..3),
        as_actor in any::<bool>(),
    ) {
        let base = format!("{local}@example.com");
        let voter = format!("user:{}", disguise(&base, &voter_changes));
        let requester = format!("user:{}", disguise(&base, &requester_changes));
        // the voter is a member of the approving group whenever it parses,
        // so nothing but the self-approval check can stop the vote
        let member = if signoff::Principal::parse(&voter).is_ok() { voter.clone() } else { "user:zed@example.com".into() };
        let policy = Policy::builder()
            .group("g", [member.as_str(), "user:zed@example.com"])
            .rule(signoff::RuleBuilder::approve("r").actions(["x.y"]).approvers("g"))
            .build()
            .unwrap();
        let gate = Gate::builder().policy(policy).approver(SilentApprover).build().unwrap();
        let mut action = Action::new("x.y").actor("agent:bot");
        action = if as_actor { action.actor(requester.clone()) } else { action.on_behalf_of(requester.clone()) };
        rt().block_on(async {
            let request_id = match gate.submit(action).await {
                Ok(Submission::Pending { request_id }) => request_id,
                // a requester with hidden characters is refused outright
                Err(Error::InvalidAction(_)) => return,
                other => panic!("unexpected {other:?}"),
            };
            match gate.vote(&request_id, Vote::approve(voter.clone())).await {
                Err(Error::VoteRejected(r)) => assert!(
                    matches!(r.reason, RejectReason::SelfApproval | RejectReason::InvalidVoter),
                    "{voter:?} vs {requester:?}: {:?}", r.reason
                ),
                other => panic!("{voter:?} counted on {requester:?}'s request: {other:?}"),
            }
        });
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "300000y",
            "1h",
            "0s",
            "18446744073709551615s",
            "9999999999999days",
            "-1m",
            "",
            "db.*",
            "**",
            "a/**",
            "user:x",
            "drop",
            "\u{200b}",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn cel() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(vec![
        "args.x",
        "args.sql",
        "1",
        "\"s\"",
        "now",
        "env",
        "actor",
        "context.a",
        "true",
        "[1, 2]",
        "args",
        "null",
        "1.5",
        "-9223372036854775808",
        "args.x / 0",
        "size(args)",
        "args.sql.matches(\"(\")",
        "timestamp(\"x\")",
        "duration(\"300000y\")",
        "args.l.all(v, v > 1)",
        "has(args.x)",
        "frobnicate(1)",
        "args.x.containz(1)",
        "int(args.x)",
        "now + duration(\"1h\")",
        "args[\"k\"]",
    ]);
    let op = prop::sample::select(vec![
        " && ", " || ", " == ", " < ", " + ", " * ", " in ", " % ", " - ", " >= ",
    ]);
    (atom.clone(), prop::collection::vec((op, atom), 0..4)).prop_map(|(first, rest)| {
        let mut s = first.to_owned();
        for (o, a) in rest {
            s.push_str(o);
            s.push_str(a);
        }
        s
    })
}

fn rule() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["allow", "deny", "approve"]),
        prop::collection::btree_map(
            prop::sample::select(vec![
                "actions",
                "resources",
                "actors",
                "env",
                "reason",
                "approvers",
                "min_approvals",
                "timeout",
                "on_timeout",
                "allow_edit",
                "redact",
                "risk",
                "channels",
            ]),
            json_value(),
            0..6,
        ),
        prop::option::of(cel()),
    )
        .prop_map(|(effect, fields, when)| {
            let mut m: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            m.insert("id".into(), json!("r"));
            m.insert("effect".into(), json!(effect));
            m.insert("actions".into(), json!(["**"]));
            if let Some(w) = when {
                m.insert("when".into(), json!(w));
            }
            Value::Object(m)
        })
}

fn action() -> impl Strategy<Value = Value> {
    (
        "[a-z.]{0,8}",
        prop::option::of(prop::sample::select(vec!["agent:a", "user:B", "x", "user:\u{200b}", ""])),
        json_value(),
        prop::option::of("[ -~]{0,8}"),
        prop::option::of(prop::sample::select(vec!["X1", "", "\u{0}"])),
    )
        .prop_map(|(name, actor, args, env, id)| {
            json!({"name": name, "actor": actor, "args": args, "env": env, "id": id})
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_policy_or_action_makes_load_evaluate_or_submit_panic(
        rules in prop::collection::vec(rule(), 1..4),
        header in prop::collection::btree_map(
            prop::sample::select(vec!["default", "timeout", "approvers", "redact", "redact_defaults", "min_approvals"]),
            json_value(), 0..3),
        actions in prop::collection::vec(action(), 1..4),
    ) {
        let mut rules = rules;
        for (i, r) in rules.iter_mut().enumerate() {
            r["id"] = json!(format!("r{i}"));
        }
        let doc = json!({
            "policy": header.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<serde_json::Map<_, _>>(),
            "groups": {"g": ["user:a@example.com", "user:b@example.com"]},
            "rules": rules,
        });
        let text = doc.to_string();
        let from_json = Policy::from_json_str(&text);
        // the same document as TOML, where it can be written as TOML
        if let Ok(toml_text) = toml::to_string(&doc) {
            let _ = Policy::from_toml_str(&toml_text);
        }
        let Ok(policy) = from_json else { return Ok(()); };
        let gate = Gate::builder().policy(policy.clone()).approver(SilentApprover).build().unwrap();
        rt().block_on(async {
            for a in &actions {
                let Ok(action) = serde_json::from_value::<Action>(a.clone()) else { continue };
                let _ = policy.evaluate(&action).decision();
                let _ = policy.explain(&action);
                let _ = gate.submit(action).await;
            }
        });
    }
}
