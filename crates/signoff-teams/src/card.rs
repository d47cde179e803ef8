//! The Adaptive Card for a request, and its check against the version it
//! declares: element and action types, their required properties, and the
//! version each feature appeared in (from the Adaptive Cards schema).

use serde_json::{Value, json};
use signoff::ApprovalRequest;

/// The card: title, facts, args, and buttons to the approval page.
pub fn approval_card(r: &ApprovalRequest, page_url: &str) -> Value {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let needs: Vec<String> = r
        .requirements
        .iter()
        .map(|q| format!("{} of {}", q.min, q.group))
        .collect();
    let link = format!("{}/requests/{}", page_url.trim_end_matches('/'), r.id);
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": format!("Approval needed: {}", r.action), "style": "heading", "wrap": true},
            {"type": "FactSet", "facts": [
                {"title": "Actor", "value": dash(&r.actor)},
                {"title": "On behalf of", "value": dash(&r.on_behalf_of)},
                {"title": "Resource", "value": dash(&r.resource)},
                {"title": "Env", "value": dash(&r.env)},
                {"title": "Why", "value": format!("{} (rule {})", r.reason, r.rules.join(", "))},
                {"title": "Risk", "value": r.risk.map_or("-", |k| k.as_str())},
                {"title": "Needs", "value": needs.join(" + ")},
                {"title": "Justification", "value": dash(&r.justification)},
                {"title": "Expires", "value": r.expires_at.to_rfc3339()},
            ]},
            {"type": "TextBlock", "text": "Args", "weight": "Bolder"},
            {"type": "TextBlock", "text": serde_json::to_string_pretty(&r.args).unwrap_or_default(), "fontType": "Monospace", "wrap": true},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Approve", "url": link, "style": "positive"},
            {"type": "Action.OpenUrl", "title": "Deny", "url": link, "style": "destructive"},
        ],
    })
}

/// Version (major, minor) each element, action or property appeared in.
const INTRODUCED: &[(&str, (u32, u32))] = &[
    ("TextBlock", (1, 0)),
    ("FactSet", (1, 0)),
    ("Container", (1, 0)),
    ("ColumnSet", (1, 0)),
    ("Image", (1, 0)),
    ("Table", (1, 5)),
    ("Action.OpenUrl", (1, 0)),
    ("Action.Submit", (1, 0)),
    ("Action.Execute", (1, 4)),
    // properties
    ("Action.style", (1, 2)),
    ("TextBlock.style", (1, 5)),
    ("TextBlock.fontType", (1, 2)),
];

fn introduced(name: &str) -> Option<(u32, u32)> {
    INTRODUCED.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn need(version: (u32, u32), feature: &str, at: &str) -> Result<(), String> {
    match introduced(feature) {
        None => Err(format!(
            "{at}: `{feature}` is not an Adaptive Card element or action this check knows"
        )),
        Some(v) if v > version => Err(format!(
            "{at}: `{feature}` needs Adaptive Cards {}.{}, the card declares {}.{}",
            v.0, v.1, version.0, version.1
        )),
        Some(_) => Ok(()),
    }
}

fn string(v: &Value, key: &str, at: &str) -> Result<(), String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        _ => Err(format!("{at}: `{key}` must be a non-empty string")),
    }
}

/// Checks `card` against the version it declares.
pub fn validate(card: &Value) -> Result<(), String> {
    if card["type"] != "AdaptiveCard" {
        return Err("`type` must be \"AdaptiveCard\"".into());
    }
    let version = card["version"]
        .as_str()
        .and_then(parse_version)
        .filter(|v| *v >= (1, 0) && *v <= (1, 6))
        .ok_or("`version` must be \"1.0\" to \"1.6\"")?;
    let body = card["body"].as_array().ok_or("`body` must be an array")?;
    for (i, el) in body.iter().enumerate() {
        let at = format!("body[{i}]");
        let kind = el["type"]
            .as_str()
            .ok_or(format!("{at}: `type` is missing"))?;
        need(version, kind, &at)?;
        match kind {
            "TextBlock" => {
                string(el, "text", &at)?;
                for prop in ["style", "fontType"] {
                    if el.get(prop).is_some() {
                        need(version, &format!("TextBlock.{prop}"), &at)?;
                    }
                }
            }
            "FactSet" => {
                let facts = el["facts"]
                    .as_array()
                    .ok_or(format!("{at}: `facts` must be an array"))?;
                for (j, f) in facts.iter().enumerate() {
                    let at = format!("{at}.facts[{j}]");
                    string(f, "title", &at)?;
                    if !f["value"].is_string() {
                        return Err(format!("{at}: `value` must be a string"));
                    }
                }
            }
            _ => {}
        }
    }
    for (i, a) in card["actions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let at = format!("actions[{i}]");
        let kind = a["type"]
            .as_str()
            .ok_or(format!("{at}: `type` is missing"))?;
        need(version, kind, &at)?;
        string(a, "title", &at)?;
        if kind == "Action.OpenUrl" {
            string(a, "url", &at)?;
            let url = a["url"].as_str().unwrap_or_default();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("{at}: `url` must be http(s)"));
            }
        }
        if a.get("style").is_some() {
            need(version, "Action.style", &at)?;
            if !matches!(
                a["style"].as_str(),
                Some("default" | "positive" | "destructive")
            ) {
                return Err(format!(
                    "{at}: `style` must be default, positive or destructive"
                ));
            }
        }
    }
    Ok(())
}
