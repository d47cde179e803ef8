//! Every card fits what Teams takes whatever the request holds, and keeps
//! what a reviewer decides on. Writes the webhook body for a normal, an
//! oversized and a worst-case request to `target/validators/teams/`, where
//! `tests/validators/adaptive_card.mjs` checks them with the Adaptive Cards
//! SDK's own parser (scripts/test).
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::path::PathBuf;

use serde_json::{Value, json};
use signoff::ApprovalRequest;
use signoff_teams::card::{PAYLOAD_BUDGET, PAYLOAD_LIMIT, approval_card, message, validate};

const PAGE: &str = "https://approvals.example.com";
const ID: &str = "01980000-0000-7000-8000-000000000001";

fn digest() -> String {
    format!("blake3:{}", "ab".repeat(32))
}

#[derive(Clone, Copy, PartialEq)]
enum Size {
    Normal,
    /// A 20 KB justification, 500-key args, a 2,500-character resource, a
    /// long rule reason.
    Oversized,
    /// Every text huge, made of what costs most in JSON: quotes, control
    /// characters (six bytes each escaped) and four-byte characters.
    Worst,
}

fn request(size: Size) -> ApprovalRequest {
    let long = |seed: &str, n: usize| -> String { seed.chars().cycle().take(n).collect() };
    let text = |normal: &str, seed: &str, n: usize| match size {
        Size::Normal => normal.to_owned(),
        Size::Oversized => long(seed, n),
        Size::Worst => long("\"\u{1}😀", 30_000),
    };
    let args: serde_json::Map<String, Value> = match size {
        Size::Normal => [("rows".to_owned(), json!(5))].into_iter().collect(),
        _ => (0..500)
            .map(|i| {
                let value = if size == Size::Worst {
                    long("\"\u{1}😀", 200)
                } else {
                    format!("value {i} \"quoted\" {}", "x".repeat(20))
                };
                (format!("field_{i:03}"), json!(value))
            })
            .collect(),
    };
    let big = size != Size::Normal;
    serde_json::from_value(json!({
        "id": ID, "action_id": "a-1",
        "action": text("db.export", "db.export.", 300),
        "actor": text("agent:bot", "agent:bot-", 2500),
        "on_behalf_of": text("user:alice@example.com", "user:alice@example.com ", 2500),
        "resource": text("postgres://prod/customers", "postgres://prod/customers/", 2500),
        "env": text("prod", "prod-", 2500),
        "args": args,
        "justification": text("churn report", "Quarterly churn & revenue export for \"finance\" — ", 20_000),
        "context": {}, "args_digest": digest(),
        "rules": if big { (0..40).map(|i| format!("rule-{i}-{}", "r".repeat(60))).collect::<Vec<_>>() } else { vec!["export".to_owned()] },
        "reason": text("bulk export", "bulk export of production data ", 6000),
        "risk": "high",
        "requirements": if big {
            (0..30).map(|i| json!({"group": format!("group-{i}-{}", "g".repeat(80)), "min": 2})).collect::<Vec<_>>()
        } else {
            vec![json!({"group": "owners", "min": 1})]
        },
        "allow_edit": false, "status": "pending", "votes": [],
        "created_at": "2026-11-21T00:00:00Z", "expires_at": "2026-11-21T01:00:00Z"
    }))
    .unwrap()
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/validators/teams")
}

#[test]
fn every_card_fits_what_teams_takes_and_is_written_for_the_validator() {
    let dir = out_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, size) in [
        ("normal", Size::Normal),
        ("oversized", Size::Oversized),
        ("worst", Size::Worst),
    ] {
        let card = approval_card(&request(size), PAGE);
        validate(&card).unwrap_or_else(|e| panic!("{name}: {e}"));
        let body = serde_json::to_vec(&message(card)).unwrap();
        assert!(
            body.len() <= PAYLOAD_BUDGET && PAYLOAD_BUDGET < PAYLOAD_LIMIT,
            "{name}: {} bytes",
            body.len()
        );
        std::fs::write(dir.join(format!("{name}.json")), &body).unwrap();
    }
}

#[test]
fn an_oversized_card_keeps_what_a_reviewer_decides_on() {
    let card = approval_card(&request(Size::Oversized), PAGE);
    let facts: Vec<(String, String)> = card["body"][1]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["title"].as_str().unwrap().to_owned(),
                f["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let fact = |t: &str| facts.iter().find(|(k, _)| k == t).unwrap().1.clone();
    let link = format!("{PAGE}/requests/{ID}");
    let marker =
        format!("… (truncated, see the full request on the approval page: [{link}]({link}))");
    for (title, start) in [
        ("Actor", "agent:bot-agent:bot-"),
        ("On behalf of", "user:alice@example.com user"),
        ("Resource", "postgres://prod/customers/postgres"),
        ("Env", "prod-prod-"),
        ("Why", "bulk export of production data bulk"),
        ("Needs", "2 of group-0-"),
        ("Justification", "Quarterly churn & revenue export"),
    ] {
        let value = fact(title);
        assert!(value.starts_with(start), "{title}: {value}");
        assert!(value.ends_with(&marker), "{title} says it was cut: {value}");
    }
    assert_eq!(fact("Risk"), "high");
    assert_eq!(fact("Expires"), "2026-11-21T01:00:00+00:00");
    let heading = card["body"][2]["text"].as_str().unwrap();
    assert!(heading.contains(&digest()), "{heading}");
    let args = card["body"][3]["text"].as_str().unwrap();
    assert!(args.starts_with("{\n  \"field_000\"") && args.ends_with(&marker));
    let urls: Vec<&str> = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, [link.as_str(), link.as_str()]);
    // a normal request is not cut at all
    let normal = approval_card(&request(Size::Normal), PAGE).to_string();
    assert!(!normal.contains("truncated"), "{normal}");
}
