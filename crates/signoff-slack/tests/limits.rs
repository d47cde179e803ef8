//! Every message fits Block Kit's limits whatever the request holds, and
//! keeps what a reviewer decides on. Writes each form (posted, updated
//! while pending, resolved four ways) of a normal and an oversized request
//! to `target/validators/slack/`, where `tests/validators/slack_blocks.py`
//! checks them with slack_sdk's own Block Kit models (scripts/test).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::PathBuf;

use serde_json::{Value, json};
use signoff::ApprovalRequest;
use signoff_slack::blocks::{button_value, post_body, update_body};
use signoff_slack::limits::{self, check_message};

const PAGE: &str = "https://approvals.example.com";
const ID: &str = "01980000-0000-7000-8000-000000000001";

fn digest() -> String {
    format!("blake3:{}", "ab".repeat(32))
}

/// A request as reviewers see it; `big` fills every text far past its limit.
fn request(big: bool, status: &str, votes: Value) -> ApprovalRequest {
    let long = |seed: &str, n: usize| -> String { seed.chars().cycle().take(n).collect() };
    let args: serde_json::Map<String, Value> = if big {
        (0..500)
            .map(|i| {
                (
                    format!("field_{i:03}"),
                    json!(format!("value <{i}> & \"quoted\" 😀 {}", "x".repeat(20))),
                )
            })
            .collect()
    } else {
        [
            ("rows".to_owned(), json!(50000)),
            (
                "password".to_owned(),
                json!("redacted:ephemeral-1:blake3:0f0f"),
            ),
        ]
        .into_iter()
        .collect()
    };
    let requirements: Vec<Value> = if big {
        (0..30)
            .map(|i| json!({"group": format!("group-{i}-{}", "g".repeat(80)), "min": 2}))
            .collect()
    } else {
        vec![json!({"group": "data-owners", "min": 2})]
    };
    serde_json::from_value(json!({
        "id": ID,
        "action_id": "a-1",
        "action": if big { long("db.export.", 300) } else { "db.export".to_owned() },
        "actor": if big { long("agent:billing-bot-", 2500) } else { "agent:billing-bot".to_owned() },
        "on_behalf_of": if big { long("user:alice@example.com ", 2500) } else { "user:alice@example.com".to_owned() },
        "resource": if big { long("postgres://prod/customers/", 2500) } else { "postgres://prod/customers".to_owned() },
        "env": if big { long("prod-", 2500) } else { "prod".to_owned() },
        "args": args,
        "justification": if big {
            long("Quarterly churn & revenue <export> for \"finance\" 😀 — ", 20_000)
        } else {
            "monthly churn report".to_owned()
        },
        "context": {},
        "args_digest": digest(),
        "rules": if big { (0..40).map(|i| format!("rule-{i}-{}", "r".repeat(60))).collect::<Vec<_>>() } else { vec!["prod-export".to_owned()] },
        "reason": if big { long("bulk export of production data & <more> ", 6000) } else { "bulk export of production data".to_owned() },
        "risk": "high",
        "requirements": requirements,
        "allow_edit": false,
        "status": status,
        "votes": votes,
        "created_at": "2026-11-21T00:00:00Z",
        "expires_at": "2026-11-21T01:00:00Z"
    }))
    .unwrap()
}

fn votes(big: bool, verdict: &str) -> Value {
    let n = if big { 40 } else { 1 };
    let comment = if big {
        "c".repeat(1000)
    } else {
        "ok for finance".to_owned()
    };
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"voter": format!("user:reviewer{i}@example.com"), "verdict": verdict,
                       "comment": comment, "current": true})
            })
            .collect(),
    )
}

/// Each form of the message for one request size, by file name.
fn forms(big: bool) -> Vec<(String, Value)> {
    let size = if big { "oversized" } else { "normal" };
    let upd = |r: &ApprovalRequest| update_body(r, "C123", "1700000000.000100", Some(PAGE));
    vec![
        (
            format!("{size}-posted"),
            post_body(
                &request(big, "pending", json!([])),
                "#approvals",
                Some(PAGE),
            ),
        ),
        (
            format!("{size}-updated-pending"),
            upd(&request(big, "pending", votes(big, "approve"))),
        ),
        (
            format!("{size}-resolved-approved"),
            upd(&request(big, "approved", votes(big, "approve"))),
        ),
        (
            format!("{size}-resolved-denied"),
            upd(&request(big, "denied", votes(big, "deny"))),
        ),
        (
            format!("{size}-resolved-expired"),
            upd(&request(big, "expired", json!([]))),
        ),
        (
            format!("{size}-resolved-cancelled"),
            upd(&request(big, "cancelled", json!([]))),
        ),
    ]
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/validators/slack")
}

/// Every text of the message, one string per block.
fn texts(body: &Value) -> String {
    body["blocks"].to_string()
}

#[test]
fn every_message_fits_block_kits_limits_and_is_written_for_the_validator() {
    let dir = out_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for big in [false, true] {
        for (name, body) in forms(big) {
            check_message(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            let notification = body["text"].as_str().unwrap();
            assert!(limits::len(notification) <= limits::FALLBACK_TEXT, "{name}");
            std::fs::write(
                dir.join(format!("{name}.json")),
                serde_json::to_string_pretty(&body).unwrap(),
            )
            .unwrap();
        }
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 12);
}

#[test]
fn an_oversized_request_keeps_what_a_reviewer_decides_on() {
    for (name, body) in forms(true) {
        let text = texts(&body);
        for needle in [
            "db.export.db.export",
            "agent:billing-bot-agent",
            "user:alice@example.com user",
            "postgres://prod/customers/postgres",
            "*Env*\\nprod-prod",
            "*Risk*\\nhigh",
            "2 of group-0-",
            "rule-0-",
            "bulk export of production data &amp; &lt;more&gt;",
            "<!date^1795222800^",
            "*Justification:* Quarterly churn &amp; revenue &lt;export&gt;",
            &digest(),
            "```{",
            "\\\"field_000\\\"",
            // cut texts say so and link to the whole request
            "(truncated, see the full request on the approval page: <https://approvals.example.com/requests/",
        ] {
            assert!(text.contains(needle), "{name} lacks {needle}: {text}");
        }
        let pending = name.contains("pending") || name.contains("posted");
        let buttons = body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions");
        if pending {
            let buttons = buttons.unwrap_or_else(|| panic!("{name} has no buttons"));
            let values: Vec<&str> = buttons["elements"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["value"].as_str())
                .collect();
            let value = format!("{ID}|{}", digest());
            assert_eq!(values, [value.as_str(), value.as_str()], "{name}");
        } else {
            assert!(buttons.is_none(), "{name}: no buttons once resolved");
            assert!(text.contains("*Resolved: "), "{name}");
        }
    }
}

#[test]
fn a_resolved_message_says_who_decided_and_why() {
    let forms: Vec<(String, Value)> = forms(false);
    let find = |n: &str| texts(&forms.iter().find(|(name, _)| name.ends_with(n)).unwrap().1);
    assert!(find("approved").contains("*Resolved: approved* by user:reviewer0@example.com"));
    let denied = find("denied");
    assert!(denied.contains("*Resolved: denied* by user:reviewer0@example.com — “ok for finance”"));
    assert!(find("expired").contains("*Resolved: expired*: no decision before <!date^"));
    assert!(find("cancelled").contains("*Resolved: cancelled*"));
    // nothing is cut in a normal request
    for (name, body) in &forms {
        assert!(!texts(body).contains("truncated"), "{name}");
    }
    assert_eq!(
        button_value(&request(false, "pending", json!([]))),
        format!("{ID}|{}", digest())
    );
}
